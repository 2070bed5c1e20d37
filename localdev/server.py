"""One HTTP listener for the local stack: the FC API under /2016-08-15/, the gateway elsewhere.

Both share a port so that one URL serves curl (API Gateway routes) and fc2 clients (the FC
endpoint). `GET /__localdev/health` describes the stack (functions and their live instances).
HTTP/1.1 with keep-alive, one thread per open connection.

A neighbour on the same machine may be careless or hostile, so the listener has limits
(docs/localdev.md, "Limits of the listener"): a deep accept queue (hundreds of clients connecting
at once wait instead of being refused), at most `max_connections` connections served at once
(one thread each; one more is answered 503 and closed), an idle connection is closed after
`idle_timeout` seconds, and a request must arrive whole within `request_timeout` seconds of its
first byte (else 408). Whatever http.server would answer with an HTML page (a request line or
headers too long, a method outside the HTTP registry, HTTP/0.9 or 2.0) is answered in the
documented JSON error shape of the API the path belongs to (a registered method it does not serve
is that API's to refuse), and a client that goes away early costs one log line.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localdev import fcapi
from localdev.gateway import REQUEST_ID_HEADER, GatewayError, error_response, loggable_path
from localdev.instances import Stopped
from localdev.web import (
    LOGGED_METHOD_MAX,
    LOGGED_PATH_MAX,
    Request,
    Response,
    json_response,
    loggable,
)

CONTROL_PREFIX = "/__localdev/"
FC3_PREFIX = "/2023-03-30/"  # localdev.fc3api.PREFIX
MAX_BODY = 64 * 1024 * 1024  # read limit for any request (the APIs enforce their own, lower)
MAX_REQUEST_LINE = 8 * 1024  # "GET /path?query HTTP/1.1": longer is a 414
MAX_HEADER_BYTES = 64 * 1024  # all header lines together: more is a 431 (at most 100 lines)
LISTEN_BACKLOG = 1024  # connections the kernel queues until accepted (capped by somaxconn)
MAX_CONNECTIONS = 256  # connections served at once, one thread each
IDLE_TIMEOUT = 15.0  # seconds a connection may wait before (or between) requests
REQUEST_TIMEOUT = 10.0  # seconds from a request's first byte to its last
SOCKET_TIMEOUT = 30.0  # any one blocked read or write (a client that stops reading our answer)

# Our own answers in each API's error shape: status -> (code, API Gateway's X-Ca-Error-Message)
# for the gateway, and status -> (status, ErrorCode) for the FC API (FC answers most request
# errors with 400; an entity too large is its 400 EntityTooLarge).
GATEWAY_ERRORS = {
    400: ("INVALID_REQUEST", "Invalid Request"),
    404: ("NOT_FOUND", "Invalid Url"),
    408: ("REQUEST_TIMEOUT", "Request Timeout"),
    413: ("PAYLOAD_TOO_LARGE", "Request Body Too Large"),
    414: ("URI_TOO_LONG", "Request Url Too Long"),
    431: ("HEADERS_TOO_LARGE", "Request Headers Too Large"),
    500: ("INTERNAL", "Internal Error"),
    501: ("NOT_IMPLEMENTED", "Invalid Method"),
    503: ("TOO_MANY_CONNECTIONS", "Too Many Connections"),
    505: ("HTTP_VERSION_NOT_SUPPORTED", "Invalid HTTP Version"),
}
FC_ERRORS = {
    408: (408, "RequestTimeout"),
    413: (400, "EntityTooLarge"),
    500: (500, "InternalServerError"),
    501: (400, "PathNotSupported"),
    503: (503, "ServiceUnavailable"),
}
# A client that resets or closes its connection while we read or answer: one log line each.
DISCONNECTS = (ConnectionError, TimeoutError)


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client closed the connection before its request was complete."""


def error_answer(
    path: str, status: int, message: str, request_id: str, code: str | None = None
) -> Response:
    """The listener's own error answer in the shape of the API that `path` belongs to.

    `code` overrides the gateway's code for `status` (503 is also STOPPING).
    """
    if path.startswith(fcapi.PREFIX):
        fc_status, fc_code = FC_ERRORS.get(status, (400, "InvalidArgument"))
        response = json_response(fc_status, {"ErrorCode": fc_code, "ErrorMessage": message})
        response.headers.append(("X-Fc-Request-Id", request_id))
    elif path.startswith(FC3_PREFIX):  # FC 3.0's shape (localdev/fc3api.py): the same codes
        fc_status, fc_code = FC_ERRORS.get(status, (400, "InvalidArgument"))
        body = {"Code": fc_code, "Message": message, "RequestId": request_id}
        response = json_response(fc_status, body)
        response.headers.append(("X-Fc-Request-Id", request_id))
    else:
        default, gateway_message = GATEWAY_ERRORS.get(
            status, ("INVALID_REQUEST", "Invalid Request")
        )
        error = GatewayError(status, code or default, message, gateway_message)
        response = error_response(error, request_id)
        response.headers.append((REQUEST_ID_HEADER, request_id))
    return response


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localdev"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    sys_version = ""
    timeout = SOCKET_TIMEOUT  # StreamRequestHandler applies it to the socket
    server: LocalServer
    timed_out = False  # set by the server's reaper when a deadline passed

    def handle_one_request(self) -> None:
        """http.server's loop step with our limits: idle and request deadlines, line lengths."""
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"
        self.requestline = ""
        self.server.watch(self, self.server.idle_timeout)
        assert isinstance(self.rfile, io.BufferedReader)  # rbufsize -1: buffered, so it can peek
        try:
            first = self.rfile.peek(1)  # waits for the first byte without consuming it
        except TimeoutError:
            first = b""
        if not first or self.timed_out:
            self.close_connection = True  # closed by the client, or idle for too long
            return
        self.server.watch(self, self.server.request_timeout)
        self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
        if len(self.raw_requestline) > MAX_REQUEST_LINE:
            self.send_error(414, f"the request line is over {MAX_REQUEST_LINE} bytes")
            return
        words = self.raw_requestline.split()
        if len(words) == 2:  # "GET /path": HTTP/0.9, which has no headers to wait for
            self.command, self.path = (word.decode("latin-1") for word in words)
            self.send_error(505, "HTTP/0.9 is not supported: send HTTP/1.0 or HTTP/1.1")
            return
        if not self.parse_request():
            return  # parse_request answered (send_error)
        header_bytes = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if header_bytes > MAX_HEADER_BYTES:
            self.send_error(431, f"the request headers are over {MAX_HEADER_BYTES} bytes")
            return
        method = getattr(self, "do_" + self.command, None)
        if method is None:
            self.send_error(501, f"method {self.command!r} is not supported")
            return
        method()
        self.wfile.flush()

    def finish(self) -> None:
        self.server.unwatch(self)  # the connection is done: no deadline may touch it any more
        super().finish()

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except BodyTooLarge:
            self.send_error(413, f"request body is over {MAX_BODY} bytes")
            return
        except ClientGone:
            if self.timed_out:  # our reaper ended the read: the client was too slow
                self.send_error(408)
                return
            self.close_connection = True
            self.server.note_disconnect(self.client_address, "before its request was complete")
            return
        except ValueError:
            self.send_error(400, "malformed HTTP body (Content-Length or chunked encoding)")
            return
        if self.server.unwatch(self):
            self.send_error(408)
            return
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers=list(self.headers.items()),
            body=body,
            client=self.client_address[0],
        )
        self._send(self.server.dispatch(request))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
    # Methods in the IANA registry (QUERY is the newest) that no route uses: the gateway's JSON
    # 405 with Allow, as for any known method a path does not serve. Unknown ones stay a 501.
    do_TRACE = do_CONNECT = do_QUERY = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line.endswith(b"\n"):
                    raise ClientGone() if not line or self.timed_out else ValueError("chunk size")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size < 0:
                    raise ValueError("negative chunk size")
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise BodyTooLarge()
                chunks.append(self._read_exactly(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY:
            raise BodyTooLarge()
        return self._read_exactly(length) if length else b""

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) < size:
            raise ClientGone()
        return data

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        names = set()
        for key, value in response.headers:
            names.add(key.lower())
            self.send_header(key, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)
        self.wfile.flush()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Any error the listener answers itself: JSON in the API's shape, never HTML."""
        if self.server.unwatch(self) or code == 408:  # the deadline passed mid-request
            code = 408
            message = f"the request did not arrive whole within {self.server.request_timeout:g} s"
        status = HTTPStatus(code)
        text = message or status.phrase
        if code == 505 and message and message.startswith("Invalid HTTP version"):
            text = f"{message}: send HTTP/1.0 or HTTP/1.1"
        # What http.server could not parse is sent as HTTP/1.1 (an HTTP/0.9 answer has no head).
        self.request_version = "HTTP/1.1"
        path = self.path if isinstance(self.path, str) else ""
        if not path and self.raw_requestline:
            parts = self.raw_requestline.split(b" ")
            path = parts[1].decode("latin-1") if len(parts) > 1 else ""
        request_id = str(uuid.uuid4())
        self.close_connection = True
        response = error_answer(path.partition("?")[0], code, text, request_id)
        response.headers.append(("Connection", "close"))
        self._send(response)
        method = loggable(self.command or "-", LOGGED_METHOD_MAX)
        logged_path = loggable_path(path.partition("?")[0], None)
        self.server.on_error(
            f"{method} {logged_path} -> - {code} ({loggable(text, LOGGED_PATH_MAX)}) [{request_id}]"
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the gateway and the FC API log one line per request themselves."""


class LocalServer(ThreadingHTTPServer):
    """Routes each request to the FC API, the control endpoint or the gateway."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        gateway: Callable[[Request], Response],
        fc_api: Callable[[Request], Response],
        health: Callable[[], dict[str, Any]],
        on_error: Callable[[str], None] = print,
        pages: Callable[[Request], Response | None] | None = None,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        fc3_api: Callable[[Request], Response] | None = None,
    ) -> None:
        self.gateway = gateway
        self.fc_api = fc_api
        self.fc3_api = fc3_api  # FC 3.0's InvokeFunction (localdev/fc3api.py), if served
        self.health = health
        self.on_error = on_error
        self.pages = pages  # the document, the reference and the console (localdev.portal)
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.lock = threading.Lock()
        self.active = 0  # connections with a thread
        self.deadlines: dict[Handler, float] = {}  # connections waiting for (part of) a request
        self.refused = 0  # connections refused since the last log line about it
        self.refused_logged_at = 0.0
        self.closing = threading.Event()
        self.reaper = threading.Thread(target=self._reap, name="http-reaper", daemon=True)
        super().__init__(address, Handler)  # binds: a busy port raises here (and server_close)
        self.reaper.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- connections: a bounded number of threads, deadlines for slow or idle clients ---------
    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            full = self.active >= self.max_connections
            if not full:
                self.active += 1
        if full:
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self.lock:
                self.active -= 1
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.active -= 1

    def _refuse(self, sock: socket.socket) -> None:
        """Over max_connections: a 503 and close, from the accepting thread, never blocking."""
        response = error_answer(
            "/",
            503,
            f"the local stack serves at most {self.max_connections} connections at once; retry",
            str(uuid.uuid4()),
        )
        head = f"HTTP/1.1 503 {HTTPStatus(503).phrase}\r\n" + "".join(
            f"{key}: {value}\r\n" for key, value in response.headers
        )
        head += (
            f"Retry-After: 1\r\nConnection: close\r\nContent-Length: {len(response.body)}\r\n\r\n"
        )
        try:
            sock.setblocking(False)
            sock.send(head.encode("latin-1") + response.body)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # what the client already sent: unread, close would reset
                pass
        except OSError:
            pass
        finally:
            self.shutdown_request(sock)
        with self.lock:
            self.refused += 1  # the reaper logs them, one line a second at most

    def _log_refusals(self, now: float) -> None:
        with self.lock:
            if not self.refused or now - self.refused_logged_at < 1.0:
                return
            count, self.refused, self.refused_logged_at = self.refused, 0, now
        self.on_error(
            f"refused {count} connection(s) with 503: {self.max_connections} were open "
            "(the listener's limit)"
        )

    def watch(self, handler: Handler, seconds: float) -> None:
        """Close `handler`'s connection for reading unless it is unwatched within `seconds`."""
        with self.lock:
            closing = self.closing.is_set()
            if not closing:
                self.deadlines[handler] = time.monotonic() + seconds
        if closing:  # the reaper is gone: this connection ends now
            handler.timed_out = True
            _stop_reading(handler)

    def unwatch(self, handler: Handler) -> bool:
        """Stop watching; True if the deadline had already passed (the request is incomplete)."""
        with self.lock:
            self.deadlines.pop(handler, None)
        return handler.timed_out

    def _reap(self) -> None:
        while True:
            closing = self.closing.wait(0.1)
            now = float("inf") if closing else time.monotonic()
            with self.lock:
                late = [h for h, deadline in self.deadlines.items() if deadline <= now]
                for handler in late:
                    del self.deadlines[handler]
                    handler.timed_out = True
            for handler in late:
                _stop_reading(handler)
            self._log_refusals(now)  # when closing: now is infinity, so the last count is logged
            if closing:
                return

    def server_close(self) -> None:
        """Stop listening; connections waiting for a request end now, then their threads."""
        self.closing.set()
        if self.reaper.is_alive():
            self.reaper.join()
        super().server_close()

    def note_disconnect(self, client_address: Any, when: str) -> None:
        host, port = client_address[:2]
        self.on_error(f"client {host}:{port} disconnected {when}")

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is one line; anything else is a bug of ours: its trace."""
        error = sys.exc_info()[1]
        if isinstance(error, DISCONNECTS):
            self.note_disconnect(client_address, f"early ({type(error).__name__})")
        else:
            self.on_error(traceback.format_exc())

    # --- requests -----------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """The answer to one request; an unexpected failure is a JSON 500 and a logged trace."""
        try:
            return self._dispatch(request)
        except Stopped as e:
            return error_answer(request.path, 503, str(e), str(uuid.uuid4()), "STOPPING")
        except Exception:
            self.on_error(traceback.format_exc())
            message = "internal error of the local stack (see its log)"
            return error_answer(request.path, 500, message, str(uuid.uuid4()))

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith(fcapi.PREFIX):
            return self.fc_api(request)
        if self.fc3_api is not None and request.path.startswith(FC3_PREFIX):
            return self.fc3_api(request)
        if request.path.startswith(CONTROL_PREFIX):
            if request.path == CONTROL_PREFIX + "health" and request.method == "GET":
                return Response(
                    200,
                    json.dumps(self.health()).encode("utf-8"),
                    [("Content-Type", "application/json")],
                )
            return error_answer(request.path, 404, "unknown control path", str(uuid.uuid4()))
        page = self.pages(request) if self.pages is not None else None
        return page if page is not None else self.gateway(request)


def _stop_reading(handler: Handler) -> None:
    """The handler's reads end (end of file); writing still works, so it can answer 408."""
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RD)
