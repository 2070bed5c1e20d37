"""One HTTP listener for the local stack: the FC API under /2016-08-15/, the gateway elsewhere.

Both share a port so that one URL serves curl (API Gateway routes) and fc2 clients (the FC
endpoint). `GET /__localdev/health` describes the stack (functions and their live instances).
HTTP/1.1 with keep-alive, one thread per connection.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localdev import fcapi
from localdev.instances import Stopped
from localdev.web import Request, Response, json_response

CONTROL_PREFIX = "/__localdev/"
MAX_BODY = 64 * 1024 * 1024  # read limit for any request (the APIs enforce their own, lower)


class BodyTooLarge(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localdev"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    sys_version = ""
    server: LocalServer

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except BodyTooLarge:
            self._send(_error(413, "PAYLOAD_TOO_LARGE", "request body is too large"))
            self.close_connection = True
            return
        except (ValueError, OSError):
            self._send(_error(400, "INVALID_REQUEST", "malformed HTTP body"))
            self.close_connection = True
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

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, or one nobody has heard of) is the gateway's to refuse with
        # 405 and an Allow header, like API Gateway does, not http.server's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise BodyTooLarge()
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY:
            raise BodyTooLarge()
        return self.rfile.read(length) if length else b""

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

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the gateway and the FC API log one line per request themselves."""


class LocalServer(ThreadingHTTPServer):
    """Routes each request to the FC API, the control endpoint or the gateway."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        gateway: Callable[[Request], Response],
        fc_api: Callable[[Request], Response],
        health: Callable[[], dict[str, Any]],
        on_error: Callable[[str], None] = print,
        pages: Callable[[Request], Response | None] | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.gateway = gateway
        self.fc_api = fc_api
        self.health = health
        self.on_error = on_error
        self.pages = pages  # the document, the reference and the console (localdev.portal)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def dispatch(self, request: Request) -> Response:
        """The answer to one request; an unexpected failure is a JSON 500 and a logged trace."""
        try:
            return self._dispatch(request)
        except Stopped as e:
            return _error(503, "STOPPING", str(e))
        except Exception:
            self.on_error(traceback.format_exc())
            return _error(500, "INTERNAL", "internal error of the local stack (see its log)")

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith(fcapi.PREFIX):
            return self.fc_api(request)
        if request.path.startswith(CONTROL_PREFIX):
            if request.path == CONTROL_PREFIX + "health" and request.method == "GET":
                return Response(
                    200,
                    json.dumps(self.health()).encode("utf-8"),
                    [("Content-Type", "application/json")],
                )
            return _error(404, "NOT_FOUND", "unknown control path")
        page = self.pages(request) if self.pages is not None else None
        return page if page is not None else self.gateway(request)


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message, "request_id": ""}})
