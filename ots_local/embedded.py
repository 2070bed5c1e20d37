"""`OTSLocal`: the server in a background thread of this process, for tests.

    from ots_local import OTSLocal

    with OTSLocal() as ots:
        client = ots.client()          # a tablestore.OTSClient aimed at it
        ...
        ots.add_fault("busy", api="PutRow", count=1)

The server's event loop thread owns the data; the control methods (`reset`, `add_fault`, ...)
run on that thread too, so they are safe to call from any thread, between or during requests.
Their results have the same JSON shapes as the HTTP control plane's.
"""

from __future__ import annotations

import concurrent.futures
import secrets
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from .app import OTSLocalApp
from .control import parse_advance
from .loop import EventLoop
from .transport import Server

DEFAULT_INSTANCE = "ots-local"
DEFAULT_ACCESS_KEY_ID = "ots-local-access-key-id"
DEFAULT_ACCESS_KEY_SECRET = "ots-local-access-key-secret"  # noqa: S105 (a local fake key)

T = TypeVar("T")


class OTSLocal:
    """A local Tablestore server running in a daemon thread of this process."""

    def __init__(
        self,
        instance: str = DEFAULT_INSTANCE,
        data: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key_id: str = DEFAULT_ACCESS_KEY_ID,
        access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET,
        log: Callable[[str], None] | None = None,
        index_delay_ms: int = 0,
        control_token: str | None = None,
    ) -> None:
        """`data`: a SQLite file to keep everything in (None: in memory). `port=0`: any free
        port. `log` receives one line per request (None: silent). `index_delay_ms`: the
        global secondary index delay at start and after `reset` (see `configure`).
        `control_token`: what HTTP control requests must send in `X-OTS-Local-Token` (None: a
        random one, in `self.control_token`; this object's own control methods need none)."""
        self.instance = instance
        self.control_token = control_token or secrets.token_hex(16)
        self.data = data
        self.host = host
        self.port = port
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.log = log
        self.index_delay_ms = index_delay_ms
        self.endpoint = ""
        self.is_local = True
        self._loop: EventLoop | None = None
        self._thread: threading.Thread | None = None
        self._app: OTSLocalApp | None = None
        self._server: Server | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> OTSLocal:
        """Start serving; returns once the endpoint accepts connections."""
        if self._thread is not None:
            raise RuntimeError("OTSLocal is already started")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name=f"ots_local-{self.instance}", daemon=True
        )
        self._thread.start()
        try:
            started.result(timeout=30)
        except BaseException:
            self._thread.join(5)
            self._thread = None
            raise
        return self

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = EventLoop()
        self._loop = loop
        try:
            self._app = OTSLocalApp(
                self.instance,
                self.access_key_id,
                self.access_key_secret,
                self.data,
                self.log,
                index_delay_ms=self.index_delay_ms,
                control_token=self.control_token,
            )
            self._server = Server(self._app, loop)
            self._server.start(self.host, self.port)
        except BaseException as error:
            if self._app is not None:
                self._app.close()
            loop.close()
            started.set_exception(error)
            return
        self.port = self._server.port
        self.endpoint = self._server.endpoint
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            self._server.stop()
            self._app.close()
            loop.close()

    def stop(self) -> None:
        """Stop serving and close the data (a file keeps everything for the next start)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.stop()
        thread.join(30)
        self._thread = None
        self._loop = None

    def __enter__(self) -> OTSLocal:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- clients ------------------------------------------------------------------------------
    def client(self, **kwargs: Any) -> Any:
        """A `tablestore.OTSClient` aimed at this server.

        Keyword arguments go to OTSClient. Unless given, the client does not retry
        (`NoRetryPolicy`: the SDK's default retries a 503 for ~40 s) and times out after 10 s.
        """
        from tablestore import OTSClient  # noqa: PLC0415 (after .sdk quieted its import)
        from tablestore.retry import NoRetryPolicy  # noqa: PLC0415

        if not self.endpoint:
            raise RuntimeError("OTSLocal is not started")
        kwargs.setdefault("retry_policy", NoRetryPolicy())
        kwargs.setdefault("socket_timeout", 10)
        return OTSClient(
            self.endpoint, self.access_key_id, self.access_key_secret, self.instance, **kwargs
        )

    # --- control (runs on the server's thread) ------------------------------------------------
    def _call(self, function: Callable[[OTSLocalApp], T]) -> T:
        loop, app = self._loop, self._app
        if loop is None or app is None or self._thread is None:
            raise RuntimeError("OTSLocal is not started")

        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(function(app))
            except BaseException as error:
                future.set_exception(error)

        loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    def health(self) -> dict[str, Any]:
        """`{"status": "ok", "instance": ..., "tables": N, ...}`"""
        return self._call(lambda app: app.health())

    def apis(self) -> list[str]:
        """The Tablestore API names this server implements (any other answers "Unsupported")."""
        return self._call(lambda app: sorted(app.api.handlers))

    def reset(self) -> dict[str, Any]:
        """Drop every table and row, clear the faults, restore the start settings."""
        self._call(lambda app: app.reset())
        return {"status": "ok"}

    def add_fault(
        self,
        kind: str,
        api: str | None = None,
        count: int | None = None,
        probability: float | None = None,
        latency_ms: float | None = None,
    ) -> dict[str, Any]:
        """Inject a fault (see `ots_local.faults`); returns its description.

        Raises `ots_local.faults.FaultSpecError` for an invalid one.
        """
        spec: dict[str, Any] = {"kind": kind}
        for name, value in (
            ("api", api),
            ("count", count),
            ("probability", probability),
            ("latency_ms", latency_ms),
        ):
            if value is not None:
                spec[name] = value
        return self._call(lambda app: app.faults.add(spec).to_json())

    def advance_clock(self, ms: int) -> dict[str, int]:
        """Move the data's clock `ms` ms ahead (versions, TTL): expiry without waiting.

        Returns `{"offset_ms": total, "now_ms": the data's time}`; `reset()` sets it back.
        Raises ValueError for a negative or absurd `ms`.
        """
        milliseconds = parse_advance({"advance_ms": ms})
        return self._call(lambda app: app.advance_clock(milliseconds))

    def faults(self) -> dict[str, Any]:
        """`{"faults": [...]}`: the active faults."""
        return self._call(lambda app: {"faults": [f.to_json() for f in app.faults.active]})

    def configure(self, index_delay_ms: int | None = None) -> dict[str, Any]:
        """Change settings (see `ots_local.settings`); returns them all.

        `index_delay_ms`: global secondary index updates become visible to index reads this
        long after their write (0, the default and what `reset` restores: with the write).
        Raises `ots_local.settings.SettingsError` for an invalid value.
        """
        spec = {} if index_delay_ms is None else {"index_delay_ms": index_delay_ms}
        return self._call(lambda app: app.configure(spec))

    def settings(self) -> dict[str, Any]:
        """`{"index_delay_ms": N}`: the current settings."""
        return self._call(lambda app: app.settings())

    def sync_indexes(self) -> dict[str, Any]:
        """Apply every delayed index update now: `{"applied": N}`."""
        return self._call(lambda app: app.sync_indexes())

    def clear_faults(self) -> dict[str, Any]:
        """Remove every fault: `{"cleared": N}`."""
        return self._call(lambda app: {"cleared": app.faults.clear()})
