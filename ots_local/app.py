"""The OTS application: authenticates API requests, applies faults, runs the API, and signs
the answers the way the SDK checks them; control requests go to the control plane.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import logging
import secrets
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import errors
from .api import API
from .auth import Authenticator
from .control import CONTROL_PREFIX, ControlPlane
from .engine import Engine
from .faults import Faults
from .memstore import MemoryStorage
from .sdk import pb2 as pb
from .settings import check_settings
from .storage import Storage
from .transport import CLOSE, DROP, KEEP, REASONS, Deferred, Response

logger = logging.getLogger("ots_local")

# The base64 MD5 of small answers seen before: most answers repeat (PutRow's is a few bytes).
_BODY_MD5: dict[bytes, str] = {}
_MD5_CACHED_BODY = 64


def _b64(digest: bytes) -> str:
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def _status_line(status: int) -> str:
    return f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"


_STATUS_LINES = {status: _status_line(status) for status in REASONS}
_CRLF = "\r\n"


class OTSLocalApp:
    """Routes requests: `/__ots_local/*` to the control plane, anything else to the API."""

    def __init__(
        self,
        instance: str,
        access_key_id: str,
        access_key_secret: str,
        data: str | None = None,
        log: Callable[[str], None] | None = None,
        index_delay_ms: int = 0,
        control_token: str | None = None,
    ) -> None:
        """`index_delay_ms`: the setting's value at start and after `reset` (SettingsError)."""
        self.defaults = check_settings({"index_delay_ms": index_delay_ms})
        self.instance = instance
        self.data = data
        self.storage = MemoryStorage() if data is None else Storage(data)
        # The data's clock (versions, TTL) runs this far ahead of the real one: the control
        # plane advances it, so expiry can be tested without waiting.
        self.clock_offset_ms = 0
        self.engine = Engine(self.storage, clock=self._data_now_ms)
        self.engine.set_index_delay(index_delay_ms)
        self.api = API(self.engine)
        self.auth = Authenticator(access_key_id, access_key_secret, instance)
        self.faults = Faults(frozenset(self.api.handlers))
        self.control_token = control_token or secrets.token_hex(16)
        self.control = ControlPlane(self, self.control_token)
        self.log = log
        self.delayed = 0  # requests held by a latency fault right now
        self.endpoint = ""
        self._request_prefix = f"{time.time_ns() // 1000:x}"[-10:]
        self._request_count = 0
        self._date_second = -1
        self._date_text = ""

    def close(self) -> None:
        self.storage.close()

    def _data_now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_offset_ms  # engine.now_ms, inlined

    def advance_clock(self, ms: int) -> dict[str, int]:
        """Move the data's clock `ms` milliseconds ahead (the real clock is untouched)."""
        self.clock_offset_ms += ms
        return self.clock()

    def clock(self) -> dict[str, int]:
        return {"offset_ms": self.clock_offset_ms, "now_ms": self._data_now_ms()}

    # --- helpers ------------------------------------------------------------------------------
    def _date(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date_text = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(second))
        return self._date_text

    def _ots_response(
        self, api: str, status: int, body: bytes, key: bytes | None, close: bool = False
    ) -> Response:
        """An API response with the headers the SDK checks, signed when `key` is known."""
        self._request_count += 1
        md5 = _BODY_MD5.get(body)
        if md5 is None:
            md5 = _b64(hashlib.md5(body).digest())  # noqa: S324 (the protocol's)
            if len(body) <= _MD5_CACHED_BODY:  # e.g. every PutRow answer: a few bytes, alike
                if len(_BODY_MD5) >= 256:
                    _BODY_MD5.clear()
                _BODY_MD5[body] = md5
        date = self._date()
        request_id = f"{self._request_prefix}-{self._request_count:08x}"
        authorization = ""
        if key is not None:
            # The x-ots-* headers in name order are the signature's canonical string.
            canonical = (
                f"x-ots-contentmd5:{md5}\nx-ots-contenttype:protocol buffer\n"
                f"x-ots-date:{date}\nx-ots-requestid:{request_id}"
            )
            authorization = f"authorization: {self.auth.authorization(api, canonical, key)}\r\n"
        head = (
            f"{_STATUS_LINES.get(status) or _status_line(status)}"
            f"x-ots-contentmd5:{md5}\r\nx-ots-contenttype:protocol buffer\r\n"
            f"x-ots-date:{date}\r\nx-ots-requestid:{request_id}\r\n{authorization}"
            f"{'Connection: close' + _CRLF if close else ''}Content-Length: {len(body)}\r\n\r\n"
        )
        return Response(head.encode("latin-1") + body, CLOSE if close else KEEP)

    def _error(
        self, api: str, error: errors.OTSError, key: bytes | None, close: bool = False
    ) -> Response:
        body = pb.Error(code=error.code, message=error.message).SerializeToString()
        # AuthFailed is never signed: the client would check it with a key we rejected.
        if isinstance(error, errors.AuthFailed):
            key = None
        return self._ots_response(api, error.http_status, body, key, close)

    def _log(self, method: str, path: str, status: int, started: float, note: str = "") -> None:
        if self.log is not None:
            elapsed = (time.perf_counter() - started) * 1000
            self.log(f"{method} {path} {status}{' ' + note if note else ''} {elapsed:.2f}ms")

    # --- requests -----------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response | Deferred:
        """Answer one request; a `Deferred` answer when it must wait (latency fault)."""
        started = time.perf_counter()
        if path.startswith(CONTROL_PREFIX):
            response = self.control.handle(method, path[len(CONTROL_PREFIX) :], headers, body)
            self._log(method, path, int(response.data[9:12]), started)
            return response
        api = path.rstrip("/").rsplit("/", 1)[-1]
        if method != "POST":
            return self._finish(method, path, started, api, errors.MethodNotAllowed(), None)
        try:
            key = self.auth.verify(api, headers, body)
        except errors.OTSError as error:
            return self._finish(method, path, started, api, error, None)
        handler = self.api.handlers.get(api)
        if handler is None:
            return self._finish(method, path, started, api, self.api.unsupported(api), key)
        if not self.faults.active:
            return self._run(method, path, started, api, handler, body, key, None)
        latency, fault = self.faults.pick(api)
        run = functools.partial(self._run, method, path, started, api, handler, body, key, fault)
        return self._delayed(latency, run) if latency else run()

    def _delayed(self, latency_ms: float, run: Callable[[], Response]) -> Deferred:
        # Counted while held, so tests can wait for "the request is being delayed" (health).
        # A request whose connection closes meanwhile is never applied.
        self.delayed += 1

        def release() -> None:
            self.delayed -= 1

        def answer() -> Response:
            release()
            return run()

        return Deferred(latency_ms / 1000, answer, release)

    def _run(
        self,
        method: str,
        path: str,
        started: float,
        api: str,
        handler: Callable[[bytes], bytes],
        body: bytes,
        key: bytes,
        fault: Any,
    ) -> Response:
        kind = fault.kind if fault is not None else None
        if kind == "drop_before":
            self._log(method, path, 0, started, "dropped (fault drop_before)")
            return Response(b"", DROP)
        if kind == "busy":
            return self._finish(method, path, started, api, errors.ServerBusy(), key, "busy")
        if kind == "timeout":
            return self._finish(
                method, path, started, api, errors.OperationTimeout(), key, "timeout"
            )
        try:
            payload = handler(body)
        except errors.OTSError as error:
            response = self._finish(method, path, started, api, error, key)
        except Exception:
            logger.exception("ots_local: %s failed", api)
            if self.log is not None:
                self.log(traceback.format_exc().rstrip())
            response = self._finish(method, path, started, api, errors.InternalServerError(), key)
        else:
            response = self._ots_response(api, 200, payload, key)
            if self.log is not None:
                self._log(method, path, 200, started)
        if kind == "drop_after":
            self._log(method, path, 0, started, "dropped after applying (fault drop_after)")
            return Response(b"", DROP)
        return response

    def _finish(
        self,
        method: str,
        path: str,
        started: float,
        api: str,
        error: errors.OTSError,
        key: bytes | None,
        fault: str = "",
    ) -> Response:
        note = f"{error.code} {error.message}" + (f" (fault {fault})" if fault else "")
        self._log(method, path, error.http_status, started, note)
        return self._error(api, error, key)

    def reject(self, status_error: errors.OTSError) -> Response:
        """An error answered before the request could be read (then the connection closes)."""
        return self._error("", status_error, None, close=True)

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "instance": self.instance,
            "endpoint": self.endpoint,
            "data": self.data,
            "tables": len(self.engine.tables),
            "indexes": len(self.engine.indexes),
            "pending_index_updates": self.engine.pending,
            "faults": len(self.faults.active),
            "delayed": self.delayed,
            "clock_offset_ms": self.clock_offset_ms,
        }

    def settings(self) -> dict[str, Any]:
        """The current settings (see `ots_local.settings`)."""
        return {"index_delay_ms": self.engine.index_delay_ms}

    def configure(self, spec: Any) -> dict[str, Any]:
        """Change some settings; returns them all. Raises SettingsError."""
        checked = check_settings(spec)
        if "index_delay_ms" in checked:
            self.engine.set_index_delay(checked["index_delay_ms"])
        return self.settings()

    def sync_indexes(self) -> dict[str, Any]:
        """Apply every delayed index update now: `{"applied": N}`."""
        return {"applied": self.engine.sync_indexes()}

    def reset(self) -> None:
        """Drop every table and row, clear the faults, restore the start settings."""
        self.engine.reset()
        self.faults.clear()
        self.clock_offset_ms = 0
        self.configure(self.defaults)
