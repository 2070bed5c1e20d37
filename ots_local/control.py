"""The control plane: `/__ots_local/*`, plain JSON over HTTP beside the API paths.

Routes: `health` (GET), `reset` (POST), `faults` (GET lists, POST adds, DELETE clears),
`settings` (GET, POST changes some), `indexes/sync` (POST applies delayed index updates).
Answers are `{"error": {"code": ..., "message": ...}}` with a 4xx for anything it cannot use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .faults import FaultSpecError
from .settings import SettingsError
from .transport import Response, http_response

if TYPE_CHECKING:
    from .app import OTSLocalApp

CONTROL_PREFIX = "/__ots_local/"


def json_response(status: int, payload: Any) -> Response:
    body = json.dumps(payload).encode()
    return Response(http_response(status, [("Content-Type", "application/json")], body))


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


class ControlPlane:
    """Routes control requests to one app's engine and faults."""

    def __init__(self, app: OTSLocalApp) -> None:
        self.app = app
        self.routes: dict[str, dict[str, Callable[[bytes], Response]]] = {
            "health": {"GET": self._health},
            "reset": {"POST": self._reset},
            "faults": {"GET": self._list_faults, "POST": self._add_fault, "DELETE": self._clear},
            "settings": {"GET": self._settings, "POST": self._configure},
            "indexes/sync": {"POST": self._sync_indexes},
        }

    def handle(self, method: str, path: str, body: bytes) -> Response:
        """Answer `path` (below the prefix), e.g. `faults`."""
        path = path.rstrip("/")
        methods = self.routes.get(path)
        if methods is None:
            return _error(404, "NotFound", f"no control endpoint {path!r}")
        action = methods.get(method)
        if action is None:
            message = f"{path} accepts {', '.join(methods)}, not {method}"
            return _error(405, "MethodNotAllowed", message)
        return action(body)

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
