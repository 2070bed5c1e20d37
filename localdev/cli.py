"""`python -m localdev run | invoke`: what `make run` and `make invoke` call.

    python -m localdev run [--port 8080] [--runtime python3] [--data-dir .local] ...
    python -m localdev invoke FUNCTION [EVENT_FILE | -] [--runtime python3] ...

Exit status: 0 ok; 1 the invocation failed (unhandled error, timeout) or the stack stopped on an
error; 2 a usage or configuration problem (the message says what to do).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from localdev.instances import Invocation, LocalFC
from localdev.project import ROOT, ProjectError, load_project, runtime_python
from localdev.stack import Stack, StackConfig, local_identity
from localdev.store import DataDir, StoreError, connect_or_start_store, ensure_tables
from tools.templates import FUN_TEMPLATE

_OUTPUT = threading.Lock()  # request threads print too: keep each entry whole


def _say(line: str) -> None:
    with _OUTPUT:
        print(line, flush=True)


def _err(line: str) -> None:
    with _OUTPUT:
        print(line, file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m localdev",
        description="Run fc-codes locally: API Gateway, Function Compute and Tablestore.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--template", type=Path, default=FUN_TEMPLATE, help="Funcraft template (template.yml)"
    )
    common.add_argument(
        "--data-dir", type=Path, default=ROOT / ".local", help="local data (default .local/)"
    )
    which = common.add_mutually_exclusive_group()
    which.add_argument(
        "--runtime",
        help="run functions on FC's runtime: python3 (Python 3.6, tablestore 5.1.0) or "
        "python3.10 (5.4.1); default: this virtualenv's Python",
    )
    which.add_argument("--python", help="run functions with this interpreter")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="serve the whole stack until Ctrl-C")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on")
    run.add_argument("--port", type=int, default=8080, help="HTTP port (0: any free port)")
    run.add_argument("--ots-port", type=int, default=0, help="Tablestore port (0: any free)")
    run.add_argument("--app-key", help="app key for admin routes (default: kept in --data-dir)")
    run.add_argument(
        "--max-instances", type=int, default=4, help="instances per function (default 4)"
    )
    run.add_argument("--no-warm", action="store_true", help="start instances on first call")
    run.add_argument(
        "--no-function-logs", action="store_true", help="do not print the functions' log lines"
    )
    run.add_argument(
        "--no-throttle",
        action="store_true",
        help="do not apply frontdoor.yml's throttling (e.g. for a fuzzer's hundreds of calls)",
    )
    run.add_argument(
        "--async-retry-delay",
        type=float,
        default=None,
        help="seconds before an async invocation's first retry (default 0.5, then doubling)",
    )

    invoke = sub.add_parser("invoke", parents=[common], help="run one function once")
    invoke.add_argument("function", help="function name in the template, e.g. gen_code")
    invoke.add_argument(
        "event", nargs="?", help="event file (default or '-': standard input)", default="-"
    )
    return p


def run(args: argparse.Namespace) -> int:
    config = StackConfig(
        template=args.template,
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        ots_port=args.ots_port,
        runtime=args.runtime,
        python=args.python,
        app_key=args.app_key,
        max_instances=max(1, args.max_instances),
        warm=not args.no_warm,
        function_logs=not args.no_function_logs,
        throttle=not args.no_throttle,
        async_retry_delay=args.async_retry_delay,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stack = Stack(config, _say)
    try:
        stack.start()
    except OSError as e:
        _err(f"localdev: cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        if args.port:
            _err("localdev: is `make run` already up? Otherwise pick a port: make run PORT=8081")
        return 2
    stop.wait()
    _say("stopping ...")
    stack.stop()
    _say("localdev stopped")
    return 0


def read_event(source: str) -> bytes:
    if source == "-":
        if sys.stdin.isatty():
            _err("reading the event from standard input (end with Ctrl-D)")
        return sys.stdin.buffer.read()
    return Path(source).read_bytes()


def invoke(args: argparse.Namespace) -> int:
    project = load_project(args.template)
    fn = project.function(args.function)
    try:
        event = read_event(args.event)
    except OSError as e:
        raise ProjectError(f"cannot read the event {args.event}: {e.strerror or e}") from e
    if args.python:
        python, runtime = args.python, args.python
    else:
        python, runtime = runtime_python(args.runtime)
    store = connect_or_start_store(DataDir(args.data_dir), project.instance)
    where = (
        f"the running local stack's Tablestore (pid {store.shared_with_pid})"
        if store.shared_with_pid
        else f"a local Tablestore on {store.endpoint} for this call"
    )
    _err(
        f"invoke {fn.name} ({fn.handler}, {fn.memory_mb} MB, {fn.timeout_s} s) on {runtime}; "
        f"data: {where}"
    )
    try:
        ensure_tables(store, project.tables)
        # With `make run` up, a big batch's worker is queued in its FC API (and runs there).
        state = DataDir(args.data_dir).read_state() if store.shared_with_pid else None
        invoke_endpoint = (state or {}).get("url")
        fc = LocalFC(
            project, python, local_identity(project), store.endpoint, 1, _err, invoke_endpoint
        )
        try:
            result = fc.invoke(fn.name, event)
        finally:
            fc.close()
    finally:
        store.close()
    report(result, fn.memory_mb)
    return 0 if result.ok else 1


def report(result: Invocation, memory_mb: int) -> None:
    """Logs, then the result (stdout), then the figures, as `fun local invoke` shows them."""
    _err(f"FC Invoke Start RequestId: {result.request_id}")
    if result.logs.strip():
        _err(result.logs.rstrip("\n"))
    _err(f"FC Invoke End RequestId: {result.request_id}")
    sys.stdout.buffer.write(result.payload + b"\n")
    sys.stdout.flush()
    figures = [f"Duration: {result.duration_ms:.2f} ms"]
    if result.init_duration_ms is not None:
        figures.append(f"Init Duration: {result.init_duration_ms:.2f} ms")
    figures += [
        f"Memory Size: {memory_mb} MB",
        f"Max Memory Used: {result.memory_mb:.2f} MB",
        f"RequestId: {result.request_id}",
    ]
    if result.error_type:
        figures.append(f"Error: {result.error_type}")
    _err("  ".join(figures))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args) if args.command == "run" else invoke(args)
    except (ProjectError, StoreError) as e:
        _err(f"localdev: {e}")
        return 2
