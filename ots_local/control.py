"""The control plane: `/__ots_local/*`, plain JSON over HTTP beside the API paths.

Routes: `health` (GET), `reset` (POST), `faults` (GET lists, POST adds, DELETE clears),
`settings` (GET, POST changes some), `indexes/sync` (POST applies delayed index updates).
Answers are `{"error": {"code": ..., "message": ...}}` with a 4xx for anything it cannot use.

Any web page the developer opens could otherwise reach this port: a cross-origin "simple" POST
(no preflight) would wipe the data or inject faults. So every control request that is not the
read-only health check must carry the server's control token (`X-OTS-Local-Token`), requests
that show a browser's marks (`Origin`, `Sec-Fetch-*`) are refused outright, and a request with
a body must declare it JSON (a simple cross-origin request cannot).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .faults import FaultSpecError
from .settings import SettingsError
from .transport import Response, http_response

if TYPE_CHECKING:
    from .app import OTSLocalApp

CONTROL_PREFIX = "/__ots_local/"
TOKEN_HEADER = "X-OTS-Local-Token"  # noqa: S105 (a header name)
# Routes anyone may read without the token (no effect, nothing secret).
OPEN_ROUTES = frozenset({("health", "GET")})
MAX_CLOCK_ADVANCE_MS = 10 * 366 * 86_400_000
_BROWSER_HEADERS = ("origin", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest")


def json_response(status: int, payload: Any) -> Response:
    body = json.dumps(payload).encode()
    return Response(http_response(status, [("Content-Type", "application/json")], body))


def parse_advance(spec: Any) -> int:
    """The milliseconds of `{"advance_ms": N}` (0 <= N <= 10 years); ValueError says why not."""
    if not isinstance(spec, dict) or set(spec) != {"advance_ms"}:
        raise ValueError('the clock takes {"advance_ms": N}, e.g. {"advance_ms": 86400000}')
    ms = spec["advance_ms"]
    if type(ms) is not int or not 0 <= ms <= MAX_CLOCK_ADVANCE_MS:
        raise ValueError(
            f"advance_ms must be an integer in [0, {MAX_CLOCK_ADVANCE_MS}], not {ms!r}"
        )
    return ms


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


class ControlPlane:
    """Routes control requests to one app's engine and faults."""

    def __init__(self, app: OTSLocalApp, token: str) -> None:
        if not token:
            raise ValueError("the control plane needs a non-empty token")
        self.app = app
        self.token = token.encode()
        self.routes: dict[str, dict[str, Callable[[bytes], Response]]] = {
            "health": {"GET": self._health},
            "reset": {"POST": self._reset},
            "faults": {"GET": self._list_faults, "POST": self._add_fault, "DELETE": self._clear},
            "clock": {"GET": self._clock, "POST": self._advance_clock},
            "settings": {"GET": self._settings, "POST": self._configure},
            "indexes/sync": {"POST": self._sync_indexes},
        }

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer `path` (below the prefix), e.g. `faults`; `headers` have lower-case names."""
        path = path.rstrip("/")
        refused = self._refuse(method, path, headers, body)
        if refused is not None:
            return refused
        methods = self.routes.get(path)
        if methods is None:
            return _error(404, "NotFound", f"no control endpoint {path!r}")
        action = methods.get(method)
        if action is None:
            message = f"{path} accepts {', '.join(methods)}, not {method}"
            return _error(405, "MethodNotAllowed", message)
        return action(body)

    def _refuse(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response | None:
        """The answer to a request that may not use the control plane, or None."""
        marks = [name for name in _BROWSER_HEADERS if name in headers]
        if marks:
            return _error(
                403,
                "BrowserRequestRefused",
                f"the ots_local control plane does not answer browsers (request has {marks[0]})",
            )
        if (path, method) not in OPEN_ROUTES:
            given = headers.get(TOKEN_HEADER.lower())
            if given is None:
                return _error(401, "MissingControlToken", f"{path} needs the {TOKEN_HEADER} header")
            if not hmac.compare_digest(given.encode(), self.token):
                return _error(403, "InvalidControlToken", f"wrong {TOKEN_HEADER}")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if (body or method in ("POST", "DELETE")) and content_type != "application/json":
            return _error(
                415,
                "UnsupportedMediaType",
                f"{method} {path} takes Content-Type: application/json,"
                f" not {content_type or 'none'}",
            )
        return None

    def _health(self, body: bytes) -> Response:
        return json_response(200, self.app.health())

    def _reset(self, body: bytes) -> Response:
        self.app.reset()
        return json_response(200, {"status": "ok"})

    def _list_faults(self, body: bytes) -> Response:
        faults = self.app.faults.active
        return json_response(200, {"faults": [fault.to_json() for fault in faults]})

    def _add_fault(self, body: bytes) -> Response:
        try:
            spec = json.loads(body or b"null")
        except ValueError as error:
            return _error(400, "InvalidJSON", f"body is not JSON: {error}")
        try:
            fault = self.app.faults.add(spec)
        except FaultSpecError as error:
            return _error(400, "InvalidFault", str(error))
        return json_response(200, fault.to_json())

    def _clock(self, body: bytes) -> Response:
        return json_response(200, self.app.clock())

    def _advance_clock(self, body: bytes) -> Response:
        try:
            spec = json.loads(body or b"null")
        except ValueError as error:
            return _error(400, "InvalidJSON", f"body is not JSON: {error}")
        try:
            ms = parse_advance(spec)
        except ValueError as error:
            return _error(400, "InvalidClock", str(error))
        return json_response(200, self.app.advance_clock(ms))

    def _settings(self, body: bytes) -> Response:
        return json_response(200, self.app.settings())

    def _configure(self, body: bytes) -> Response:
        try:
            spec = json.loads(body or b"null")
        except ValueError as error:
            return _error(400, "InvalidJSON", f"body is not JSON: {error}")
        try:
            return json_response(200, self.app.configure(spec))
        except SettingsError as error:
            return _error(400, "InvalidSettings", str(error))

    def _sync_indexes(self, body: bytes) -> Response:
        return json_response(200, self.app.sync_indexes())

    def _clear(self, body: bytes) -> Response:
        return json_response(200, {"cleared": self.app.faults.clear()})
