"""The HTTP transport: a small HTTP/1.1 server on the event loop (`loop.py`), in front of an app.

One event loop thread owns all data: each request is parsed and handed to the app
synchronously in the socket's reader callback, which makes every conditional write atomic
without locks. Only an answer the app defers (`Deferred`, e.g. an injected latency) waits on a
timer of the loop, so it never blocks other clients. Each answer goes out in one `send`, Nagle
is off and connections are kept alive: the SDK (urllib3) otherwise pays ~40 ms per request to
Nagle + delayed ACK.

HTTP support is what Tablestore clients need: `Content-Length` bodies (no chunked requests),
keep-alive, pipelining, `Connection: close`.
"""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Callable
from typing import Protocol

from . import errors
from .limits import MAX_BODY, MAX_HEAD
from .loop import EventLoop, Timer

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

# Header names as sent -> as looked up (stripped, lower case): clients repeat the same few.
_HEADER_NAMES: dict[str, str] = {}
_MAX_HEADER_NAMES = 512

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


class Deferred:
    """An answer that must wait: `run()` gives it `delay` seconds from now, unless the
    connection goes first: then `cancel()` is called instead."""

    __slots__ = ("cancel", "delay", "run")

    def __init__(
        self, delay: float, run: Callable[[], Response], cancel: Callable[[], object]
    ) -> None:
        self.delay = delay
        self.run = run
        self.cancel = cancel


class App(Protocol):
    """What the transport serves: one answer per request (`app.OTSLocalApp`)."""

    endpoint: str

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response | Deferred:
        """The answer, or a `Deferred` one when it must wait."""

    def reject(self, status_error: errors.OTSError) -> Response:
        """The answer to a request that could not be read (the connection then closes)."""


class Connection:
    """One client connection: parses requests in order and writes each answer in one go.

    Plain non-blocking socket calls from the loop's reader callback: no per-request objects
    beyond the request itself and its answer.
    """

    __slots__ = (
        "app",
        "buffer",
        "close_when_sent",
        "deferred",
        "fd",
        "loop",
        "partial",
        "pending",
        "server",
        "sock",
        "timer",
        "waiting",
    )

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.app = server.app
        self.loop = server.loop
        self.sock: socket.socket | None = sock
        self.fd = sock.fileno()
        self.buffer = bytearray()
        self.pending = b""  # answer bytes the socket did not take yet
        self.close_when_sent = False
        self.waiting = False  # an answer is deferred; later requests wait their turn
        self.timer: Timer | None = None
        self.deferred: Deferred | None = None
        self.partial: tuple[int, int, str, str, dict[str, str], bool] | None = None
        self.loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is None:
            return
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        sock.close()
        self.server.connections.discard(self)
        if self.timer is not None and self.deferred is not None:
            self.timer.cancel()
            self.timer = None
            self.deferred.cancel()

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
            self.loop.remove_writer(self.fd)
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
                self.loop.add_writer(self.fd, self._writable)
        if response.action == CLOSE:
            if self.pending:
                self.close_when_sent = True
                self.loop.remove_reader(self.fd)
            else:
                self.close()
            return False
        return not self.pending  # a slow reader: parse its next request once this is out

    def _process(self) -> None:
        buffer = self.buffer
        while self.sock is not None and not self.waiting and not self.pending:
            # A head may arrive before its body: keep it parsed while the body is on the way
            # rather than parse it again.
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
                self.deferred = result
                self.timer = self.loop.call_later(
                    result.delay, functools.partial(self._resume, result, keep_alive)
                )

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
        names = _HEADER_NAMES
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                self._fail(errors.ParameterInvalid("Malformed HTTP header."))
                return None
            key = names.get(name)
            if key is None:
                key = name.strip().lower()
                if len(names) < _MAX_HEADER_NAMES:
                    names[name] = key
            headers[key] = value.strip()
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

    def _resume(self, deferred: Deferred, keep_alive: bool) -> None:
        self.timer = None
        self.deferred = None
        self.waiting = False
        if self.sock is None:  # closed meanwhile: `close` cancelled it already
            return
        response = deferred.run()
        if not keep_alive and response.action == KEEP:
            response.action = CLOSE
        if self._send(response):
            self._process()


class Server:
    """The listening socket and its connections, on an event loop."""

    def __init__(self, app: App, loop: EventLoop) -> None:
        self.app = app
        self.loop = loop
        self.connections: set[Connection] = set()
        self.listener: socket.socket | None = None
        self.host = ""
        self.port = 0

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, host: str, port: int) -> None:
        """Listen (OSError if it cannot); connections are served once the loop runs."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=1024)
        listener.setblocking(False)
        self.listener = listener
        self.loop.add_reader(listener.fileno(), self._accept)
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
                # The listener stays readable: accept again in a second, not in a busy loop.
                self.loop.remove_reader(listener.fileno())
                self.loop.call_later(1.0, self._resume_accepting)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections.add(Connection(self, sock))

    def _resume_accepting(self) -> None:
        if self.listener is not None:
            self.loop.add_reader(self.listener.fileno(), self._accept)

    def stop(self) -> None:
        """Stop listening and close every connection (on the loop's thread)."""
        listener, self.listener = self.listener, None
        if listener is not None:
            self.loop.remove_reader(listener.fileno())
            listener.close()
        for connection in list(self.connections):
            connection.close()
