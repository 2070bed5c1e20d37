"""The HTTP transport: a small HTTP/1.1 server on an asyncio loop, in front of an app.

One event loop thread owns all data: each request is parsed and handed to the app
synchronously in the socket's reader callback, which makes every conditional write atomic
without locks. Only an answer the app delays (a coroutine, e.g. an injected latency) yields to
the loop, so it never blocks other clients. Each answer goes out in one `send`, Nagle is off
and connections are kept alive: the SDK (urllib3) otherwise pays ~40 ms per request to Nagle +
delayed ACK.

HTTP support is what Tablestore clients need: `Content-Length` bodies (no chunked requests),
keep-alive, pipelining, `Connection: close`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import Coroutine
from typing import Any, Protocol

from . import errors
from .limits import MAX_BODY, MAX_HEAD

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

logger = logging.getLogger("ots_local")

# What a handler asks the connection to do after (or instead of) answering.
KEEP, CLOSE, DROP = 0, 1, 2


class Response:
    """A complete HTTP response and what to do with the connection afterwards."""

    __slots__ = ("action", "data")

    def __init__(self, data: bytes, action: int = KEEP) -> None:
        self.data = data
        self.action = action


def http_response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"]
    head.extend(f"{name}: {value}\r\n" for name, value in headers)
    head.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(head).encode("latin-1") + body


class App(Protocol):
    """What the transport serves: one answer per request (`app.OTSLocalApp`)."""

    endpoint: str

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response | Coroutine[Any, Any, Response]:
        """The answer, or a coroutine producing it when it must wait."""

    def reject(self, status_error: errors.OTSError) -> Response:
        """The answer to a request that could not be read (the connection then closes)."""


class Connection:
    """One client connection: parses requests in order and writes each answer in one go.

    Plain non-blocking socket calls from loop reader callbacks: measured on the target machine,
    asyncio's transport/protocol layer costs ~30 us more per request (85 vs 55 us of server CPU
    for an empty answer), a fifth of a whole PutRow.
    """

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.app = server.app
        self.loop = server.loop
        self.sock: socket.socket | None = sock
        self.buffer = bytearray()
        self.pending = b""  # answer bytes the socket did not take yet
        self.close_when_sent = False
        self.waiting = False  # an answer is being delayed; later requests wait their turn
        self.task: asyncio.Task[Response] | None = None
        self.partial: tuple[int, int, str, str, dict[str, str], bool] | None = None
        self.loop.add_reader(sock, self._readable)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        self.loop.remove_reader(sock)
        if self.pending:
            self.loop.remove_writer(sock)
        sock.close()
        self.server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()

    def _readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            data = sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.buffer += data
        if not self.waiting:
            self._process()

    def _writable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        try:
            sent = sock.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.loop.remove_writer(sock)
            if self.close_when_sent:
                self.close()
            elif not self.waiting:
                self._process()

    def _fail(self, error: errors.OTSError) -> None:
        self._send(self.app.reject(error))

    def _send(self, response: Response) -> bool:
        """Write (or drop) a response; False when the connection cannot take the next one."""
        sock = self.sock
        if sock is None:
            return False
        if response.action == DROP:
            self.close()
            return False
        data = response.data
        if self.pending:
            self.pending += data
        else:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return False
            if sent < len(data):
                self.pending = data[sent:]
                self.loop.add_writer(sock, self._writable)
        if response.action == CLOSE:
            if self.pending:
                self.close_when_sent = True
                self.loop.remove_reader(sock)
            else:
                self.close()
            return False
        return not self.pending  # a slow reader: parse its next request once this is out

    def _process(self) -> None:
        buffer = self.buffer
        while self.sock is not None and not self.waiting and not self.pending:
            # urllib3 sends the head and the body in two packets: keep a parsed head while
            # its body is on the way rather than parse it again.
            request = self.partial or self._parse_head()
            if request is None:
                return
            head_size, total, method, path, headers, keep_alive = request
            if len(buffer) < total:
                if self.partial is None and headers.get("expect", "").lower() == "100-continue":
                    self._send(Response(b"HTTP/1.1 100 Continue\r\n\r\n"))  # e.g. curl
                self.partial = request
                return
            self.partial = None
            body = bytes(buffer[head_size:total])
            del buffer[:total]
            result = self.app.handle(method, path, headers, body)
            if isinstance(result, Response):
                if not keep_alive and result.action == KEEP:
                    result.action = CLOSE
                if not self._send(result):
                    return
            else:
                self.waiting = True
                self.task = self.loop.create_task(result)
                self.task.add_done_callback(functools.partial(self._resume, keep_alive=keep_alive))

    def _parse_head(self) -> tuple[int, int, str, str, dict[str, str], bool] | None:
        """The next request's head: (head size, total size, method, path, headers, keep-alive).

        None if it has not fully arrived, or if it is malformed (then answered and closed).
        """
        buffer = self.buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > MAX_HEAD:
                self._fail(errors.ParameterInvalid("The HTTP header is too large."))
            return None
        lines = buffer[:head_end].decode("latin-1").split("\r\n")
        request_line = lines[0].split(" ")
        if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
            self._fail(errors.ParameterInvalid("Malformed HTTP request line."))
            return None
        method, target, version = request_line
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                self._fail(errors.ParameterInvalid("Malformed HTTP header."))
                return None
            headers[name.strip().lower()] = value.strip()
        if "transfer-encoding" in headers:
            self._fail(errors.ParameterInvalid("Chunked request bodies are not supported."))
            return None
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self._fail(errors.ParameterInvalid("Invalid Content-Length."))
            return None
        if length > MAX_BODY:
            self._fail(errors.RequestBodyTooLarge())
            return None
        wish = headers.get("connection", "").lower()
        keep_alive = wish != "close" if version == "HTTP/1.1" else wish == "keep-alive"
        head_size = head_end + 4
        return head_size, head_size + length, method, target.split("?", 1)[0], headers, keep_alive

    def _resume(self, task: asyncio.Task[Response], *, keep_alive: bool) -> None:
        self.task = None
        self.waiting = False
        if task.cancelled():
            return
        response = task.result()
        if not keep_alive and response.action == KEEP:
            response.action = CLOSE
        if self._send(response):
            self._process()


class Server:
    """The listening socket and its connections, on the current event loop."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.connections: set[Connection] = set()
        self.listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.host = ""
        self.port = 0

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop serving this server (set by `start`)."""
        if self._loop is None:
            raise RuntimeError("the server is not started")
        return self._loop

    async def start(self, host: str, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=1024)
        listener.setblocking(False)
        self.listener = listener
        self.loop.add_reader(listener, self._accept)
        sockname = listener.getsockname()
        self.host, self.port = sockname[0], sockname[1]
        self.app.endpoint = self.endpoint

    def _accept(self) -> None:
        listener = self.listener
        while listener is not None:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. too many open files: keep serving the others
                logger.warning("ots_local: accept failed: %s", error)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections.add(Connection(self, sock))

    async def stop(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            self.loop.remove_reader(listener)
            listener.close()
        for connection in list(self.connections):
            connection.close()
