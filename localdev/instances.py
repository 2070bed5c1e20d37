"""Local Function Compute: each function runs in worker processes that behave like FC instances.

An instance is a `fc_worker.py` process with the function's environment (from template.yml,
OTS_ENDPOINT aimed at the local Tablestore), started under the chosen runtime's Python. It runs
the initializer once, then one invocation at a time, each with the event as raw bytes and a fresh
request id. Like FC, a function scales out: a call that finds no idle instance starts a new one
(a cold start) up to `max_instances`, then waits for one to be free.

Faults are FC's: an invocation that outlives the function's Timeout kills its instance and
answers "Function timed out"; an exception is `UnhandledInvocationError` with FC's error body
(errorMessage, errorType, stackTrace); a failing initializer is
`UnhandledInitializationError` and the instance is discarded; an instance that dies mid-call is
"Process exited unexpectedly". When the code under a function's CodeUri changes, idle instances
are retired, so the next call loads the new code (FC does the same on an update).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localdev import fc_worker
from localdev.project import LocalFunction, Project, local_env

WORKER = Path(fc_worker.__file__).resolve()
UNHANDLED = "UnhandledInvocationError"
UNHANDLED_INIT = "UnhandledInitializationError"
START_TIMEOUT_S = 30.0  # for the worker process itself to come up (before any initializer)
STOP_GRACE_S = 2.0
# Only these of the parent's variables reach a function: FC's environment is the template's.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class Identity:
    """Who the functions run as and where: what FC puts into the context and environment.

    The access key is one the local Tablestore server accepts; the security token stands in for
    the STS token of the service's role (FC always sends one when the service has a role).
    """

    access_key_id: str
    access_key_secret: str
    security_token: str
    region: str
    account_id: str


@dataclass
class Invocation:
    """The outcome of one call, as FC reports it."""

    function: str
    request_id: str
    payload: bytes  # the function's result, or FC's JSON error body when error_type is set
    error_type: str | None = None  # x-fc-error-type
    logs: str = ""  # what the function wrote (initializer's first, on a cold start)
    duration_ms: float = 0.0
    init_duration_ms: float | None = None  # set on a cold start
    memory_mb: float = 0.0
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def error_message(self) -> str:
        if self.ok:
            return ""
        try:
            return str(json.loads(self.payload).get("errorMessage", ""))
        except (ValueError, AttributeError):
            return self.payload.decode("utf-8", "replace")


class Stopped(RuntimeError):
    """The local FC is shutting down: no new invocation starts."""


class WorkerTimeout(Exception):
    """The worker did not answer in time."""


class WorkerExited(Exception):
    """The worker process ended (crashed, or was killed) before answering."""


class Instance:
    """One worker process serving one function; used by one caller at a time."""

    def __init__(self, fn: LocalFunction, python: str, env: dict[str, str]) -> None:
        self.fn = fn
        self.initialized = fn.initializer is None
        self.tablestore: str | None = None
        self.code_stamp = code_stamp(fn.code_dir)
        self.proc = subprocess.Popen(  # noqa: S603 (our worker, our interpreter)
            [python, "-I", str(WORKER), str(fn.code_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=fn.code_dir,
            env=env,
            # Its own session: a Ctrl-C in the terminal reaches the stack, which stops instances
            # in order, rather than interrupting a function in the middle of a call.
            start_new_session=True,
        )
        self.pid = self.proc.pid
        try:
            ready, _ = self._reply(time.monotonic() + START_TIMEOUT_S)
        except (WorkerTimeout, WorkerExited) as e:
            self.kill()
            stderr = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.stderr else ""
            raise WorkerExited(
                f"instance of {fn.name} did not start ({e}): {stderr.strip()}"
            ) from e
        if self.proc.stderr:  # the worker has pointed fd 2 at its log capture by now
            self.proc.stderr.close()
        self.python = str(ready.get("python"))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, meta: dict[str, Any], payload: bytes, timeout_s: float) -> tuple[dict, bytes]:
        """Send one request; raises WorkerTimeout (instance killed) or WorkerExited."""
        assert self.proc.stdin is not None
        try:
            fc_worker.write_message(self.proc.stdin.fileno(), meta, payload)
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise WorkerExited(str(e)) from e
        try:
            reply, result = self._reply(time.monotonic() + timeout_s)
        except WorkerTimeout:
            self.kill()
            raise
        except WorkerExited:
            self.kill()
            raise
        if reply.get("tablestore"):
            self.tablestore = reply["tablestore"]
        return reply, result

    def _reply(self, deadline: float) -> tuple[dict, bytes]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        buf = bytearray()
        header = fc_worker.HEADER
        while True:
            if len(buf) >= header.size:
                meta_size, payload_size = header.unpack_from(buf)
                end = header.size + meta_size + payload_size
                if len(buf) >= end:
                    meta = json.loads(bytes(buf[header.size : header.size + meta_size]))
                    return meta, bytes(buf[header.size + meta_size : end])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout()
            if not poller.poll(remaining * 1000):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise WorkerExited("the process exited")
            buf += chunk

    def peak_memory_mb(self) -> float:
        """The process's peak RSS so far, read from outside (for a call that never answered)."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError):
            pass
        return 0.0

    def kill(self, close_pipes: bool = True) -> None:
        """SIGKILL the instance and whatever it started (its process group), then reap it.

        Another thread may be waiting on this instance's reply: it then sees the end of the
        output, so only the thread that owns the instance closes the pipes.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait()
        if close_pipes:
            self._close_pipes()

    def stop(self) -> None:
        """End the instance: EOF on its input, a short grace, then SIGKILL."""
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(STOP_GRACE_S)
        self.kill()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()


def code_stamp(code_dir: Path) -> tuple[int, int]:
    """(number of files, newest mtime) of the code package: changes when the code does."""
    count, newest = 0, 0
    for dirpath, dirnames, filenames in os.walk(code_dir):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        for name in filenames:
            if name.endswith((".pyc", ".pyo")):
                continue
            try:
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime_ns)
            except OSError:
                continue
            count += 1
    return count, newest


def fc_error(message: str, error_type: str | None = None, stack: list | None = None) -> bytes:
    """FC's JSON error body."""
    body: dict[str, Any] = {"errorMessage": message}
    if error_type:
        body["errorType"] = error_type
    if stack is not None:
        body["stackTrace"] = stack
    return json.dumps(body).encode("utf-8")


class FunctionPool:
    """The instances of one function: reuse an idle one, else start one, else wait."""

    def __init__(
        self,
        fn: LocalFunction,
        python: str,
        env: dict[str, str],
        identity: Identity,
        max_instances: int,
        notify: Callable[[str], None],
    ) -> None:
        self.fn = fn
        self.python = python
        self.env = env
        self.identity = identity
        self.max_instances = max_instances
        self.notify = notify
        self.idle: list[Instance] = []
        self.count = 0  # live instances, busy or idle, including ones starting
        self.cond = threading.Condition()
        self.closed = False
        self.live: set[Instance] = set()  # every instance not yet stopped, busy or idle
        self.warming = 0  # instances being started ahead of traffic

    # --- instances ----------------------------------------------------------------------------
    def _acquire(self) -> Instance | None:
        """An idle instance, or None when the caller may start a new one (a slot is reserved)."""
        stamp = code_stamp(self.fn.code_dir)
        while True:
            with self.cond:
                if self.closed:
                    raise Stopped("the local stack is stopping")
                stale = [i for i in self.idle if i.code_stamp != stamp or not i.alive]
                for inst in stale:
                    self.idle.remove(inst)
                if not stale:
                    if self.idle:
                        return self.idle.pop()
                    # A warm-up under way is a local artifact, not a busy instance: wait for it
                    # rather than start a second one (FC would not have started the first).
                    if self.count < self.max_instances and not self.warming:
                        self.count += 1
                        return None
                    self.cond.wait()
                    continue
            # Outside the lock: stopping takes a few milliseconds per instance.
            if any(i.code_stamp != stamp for i in stale):
                self.notify(f"{self.fn.name}: code changed, retiring {len(stale)} idle instance(s)")
            for inst in stale:
                self._release(inst, keep=False)

    def _release(self, inst: Instance | None, keep: bool) -> None:
        with self.cond:
            if inst is not None and keep and inst.alive and not self.closed:
                self.idle.append(inst)
                self.cond.notify()
                return
        if inst is not None:
            inst.stop()
        with self.cond:
            self.count -= 1
            if inst is not None:
                self.live.discard(inst)
            self.cond.notify_all()

    def _start(self) -> Instance:
        started = time.monotonic()
        inst = Instance(self.fn, self.python, self.env)
        with self.cond:
            self.live.add(inst)
        self.notify(
            f"{self.fn.name}: instance started (pid {inst.pid}, Python {inst.python}, "
            f"{(time.monotonic() - started) * 1000:.0f} ms)"
        )
        return inst

    def context(self, request_id: str) -> dict[str, Any]:
        """The context FC passes, as the worker rebuilds it."""
        fn, ident = self.fn, self.identity
        return {
            "request_id": request_id,
            "credentials": {
                "access_key_id": ident.access_key_id,
                "access_key_secret": ident.access_key_secret,
                "security_token": ident.security_token,
            },
            "function": {
                "name": fn.name,
                "handler": fn.handler,
                "memory": fn.memory_mb,
                "timeout": fn.timeout_s,
                "initializer": fn.initializer,
                "initialization_timeout": fn.initializer_timeout_s,
            },
            "service": {
                "name": fn.service,
                "log_project": "",
                "log_store": "",
                "qualifier": "LATEST",
                "version_id": "",
            },
            "region": ident.region,
            "account_id": ident.account_id,
        }

    def _initialize(self, inst: Instance, result: Invocation) -> bool:
        """Run the initializer on a new instance; False (and `result` filled in) if it failed."""
        started = time.monotonic()
        meta = {
            "op": "init",
            "initializer": self.fn.initializer,
            "context": self.context(str(uuid.uuid4())),
        }
        try:
            reply, _ = inst.call(meta, b"", self.fn.initializer_timeout_s)
        except WorkerTimeout:
            result.error_type = UNHANDLED_INIT
            result.payload = fc_error(
                f"Function initialization timeout after {self.fn.initializer_timeout_s} seconds"
                f" (maxMemoryUsage: {inst.peak_memory_mb():.2f}MB)"
            )
            return False
        except WorkerExited:
            result.error_type = UNHANDLED_INIT
            result.payload = fc_error("Process exited unexpectedly during initialization")
            return False
        finally:
            result.init_duration_ms = (time.monotonic() - started) * 1000
        result.logs += reply.get("logs", "")
        if not reply["ok"]:
            error = reply["error"]
            result.error_type = UNHANDLED_INIT
            result.payload = fc_error(
                error["errorMessage"], error["errorType"], error.get("stackTrace")
            )
            return False
        inst.initialized = True
        return True

    # --- calls --------------------------------------------------------------------------------
    def invoke(self, event: bytes, request_id: str | None = None) -> Invocation:
        """Run one invocation on an instance of this function; never raises for its faults."""
        request_id = request_id or str(uuid.uuid4())
        result = Invocation(self.fn.name, request_id, b"")
        started = time.monotonic()
        inst = self._acquire()
        keep = False
        try:
            if inst is None:
                try:
                    inst = self._start()
                except WorkerExited as e:
                    result.error_type = UNHANDLED_INIT
                    result.payload = fc_error(str(e))
                    return result
                result.init_duration_ms = (time.monotonic() - started) * 1000
            result.pid = inst.pid
            if not inst.initialized and not self._initialize(inst, result):
                return result
            keep = self._call(inst, event, request_id, result)
            return result
        finally:
            self._release(inst, keep)

    def _call(self, inst: Instance, event: bytes, request_id: str, result: Invocation) -> bool:
        """The invocation proper; True if the instance may serve again."""
        meta = {"op": "invoke", "handler": self.fn.handler, "context": self.context(request_id)}
        started = time.monotonic()
        try:
            reply, payload = inst.call(meta, event, self.fn.timeout_s)
        except WorkerTimeout:
            result.duration_ms = (time.monotonic() - started) * 1000
            result.memory_mb = inst.peak_memory_mb()
            result.error_type = UNHANDLED
            result.payload = fc_error(
                f"Function timed out after {self.fn.timeout_s} seconds "
                f"(maxMemoryUsage: {result.memory_mb:.2f}MB)"
            )
            return False
        except WorkerExited:
            result.duration_ms = (time.monotonic() - started) * 1000
            result.error_type = UNHANDLED
            result.payload = fc_error(
                "Process exited unexpectedly before completing request "
                f"(duration: {result.duration_ms:.0f}ms, maxMemoryUsage: {result.memory_mb:.2f}MB)"
            )
            return False
        result.logs += reply.get("logs", "")
        result.duration_ms = float(reply["duration_ms"])
        result.memory_mb = float(reply["memory_kb"]) / 1024
        if reply["ok"]:
            result.payload = payload
        else:
            error = reply["error"]
            result.error_type = UNHANDLED
            result.payload = fc_error(
                error["errorMessage"], error["errorType"], error.get("stackTrace")
            )
        return True

    def warm(self) -> Invocation | None:
        """Start and initialize one instance ahead of traffic, if none exists yet.

        Returns the failed initialization (so it can be reported), else None.
        """
        with self.cond:
            if self.count or self.closed:
                return None
            self.count += 1
            self.warming += 1
        result = Invocation(self.fn.name, "", b"")
        inst: Instance | None = None
        keep = False
        try:
            inst = self._start()
            keep = inst.initialized or self._initialize(inst, result)
        except WorkerExited as e:
            result.error_type = UNHANDLED_INIT
            result.payload = fc_error(str(e))
        finally:
            self._release(inst, keep)
            with self.cond:
                self.warming -= 1
                self.cond.notify_all()  # callers that waited for it may now start their own
        if result.logs:
            self.notify(_indent(result.logs))
        return None if keep else result

    def close(self) -> None:
        """Stop every idle instance now, and busy ones as their calls end."""
        with self.cond:
            self.closed = True
            idle, self.idle = self.idle, []
            self.cond.notify_all()
        for inst in idle:
            self._release(inst, keep=False)

    def wait_closed(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for calls in flight, then kill what is still running."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            left = list(self.live)
        for inst in left:
            inst.kill(close_pipes=False)

    def pids(self) -> list[int]:
        with self.cond:
            return sorted(i.pid for i in self.live if i.alive)


def _indent(text: str) -> str:
    return "\n".join("  | " + line for line in text.rstrip("\n").splitlines())


class LocalFC:
    """The functions of a project, each with its pool of instances."""

    def __init__(
        self,
        project: Project,
        python: str,
        identity: Identity,
        ots_endpoint: str,
        max_instances: int = 4,
        notify: Callable[[str], None] | None = None,
        invoke_endpoint: str | None = None,
    ) -> None:
        self.project = project
        self.python = python
        self.identity = identity
        self.notify = notify or (lambda line: None)
        self.pools = {
            name: FunctionPool(
                fn,
                python,
                worker_env(fn, ots_endpoint, identity, invoke_endpoint),
                identity,
                max_instances,
                self.notify,
            )
            for name, fn in project.functions.items()
        }

    def invoke(self, function: str, event: bytes, request_id: str | None = None) -> Invocation:
        """Invoke `function` (ProjectError if the template has no such function)."""
        fn = self.project.function(function)
        return self.pools[fn.name].invoke(event, request_id)

    def warm(self) -> list[threading.Thread]:
        """Start one instance of every function in the background; failures are reported."""

        def warm_one(pool: FunctionPool) -> None:
            failed = pool.warm()
            if failed is not None:
                self.notify(
                    f"{pool.fn.name}: initializer failed: {failed.error_message} "
                    "(each call retries it)"
                )

        threads = [
            threading.Thread(target=warm_one, args=(pool,), daemon=True, name=f"warm-{name}")
            for name, pool in self.pools.items()
        ]
        for t in threads:
            t.start()
        return threads

    def close(self, timeout: float = 10.0) -> None:
        """Stop every instance; waits for calls in flight up to `timeout` seconds."""
        for pool in self.pools.values():
            pool.close()
        deadline = time.monotonic() + timeout
        for pool in self.pools.values():
            pool.wait_closed(max(0.0, deadline - time.monotonic()))

    def describe(self) -> dict[str, Any]:
        """Per function: its live instances' pids."""
        return {name: {"instances": pool.pids()} for name, pool in self.pools.items()}


def worker_env(
    fn: LocalFunction, ots_endpoint: str, identity: Identity, invoke_endpoint: str | None = None
) -> dict[str, str]:
    """A function's process environment: the template's variables, as on FC (the endpoints
    aimed at the local Tablestore and FC API: `project.local_env`).

    On FC the role's temporary key is also in ALIBABA_CLOUD_* variables (python3.12 has no
    `context.credentials`), so those are set too; PATH and the locale come from the parent.
    """
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": identity.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": identity.access_key_secret,
            "ALIBABA_CLOUD_SECURITY_TOKEN": identity.security_token,
        }
    )
    env.update(local_env(fn, ots_endpoint, invoke_endpoint))
    return env
