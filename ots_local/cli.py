"""`python -m ots_local`: run the local Tablestore server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .control import TOKEN_HEADER
from .embedded import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_INSTANCE
from .storage import StorageError

CONTROL_TOKEN_ENV = "OTS_LOCAL_CONTROL_TOKEN"  # noqa: S105 (the variable's name)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ots_local",
        description="A local Tablestore (OTS) server that the real tablestore SDK talks to.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8800, help="port to listen on (0: any free port)"
    )
    parser.add_argument(
        "--instance", default=DEFAULT_INSTANCE, help="instance name clients must use"
    )
    parser.add_argument("--access-key-id", default=DEFAULT_ACCESS_KEY_ID)
    parser.add_argument("--access-key-secret", default=DEFAULT_ACCESS_KEY_SECRET)
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="keep tables and rows in this SQLite file (default: in memory)",
    )
    parser.add_argument(
        "--control-token",
        default=os.environ.get(CONTROL_TOKEN_ENV) or None,
        metavar="TOKEN",
        help=f"what control-plane requests must send in {TOKEN_HEADER}"
        f" (default: ${CONTROL_TOKEN_ENV}, else a random one, printed at start)",
    )
    parser.add_argument(
        "--index-delay-ms",
        type=int,
        default=0,
        metavar="MS",
        help="global secondary index updates become visible MS after their write (default 0)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log one line per request")
    return parser.parse_args(argv)


def _print(line: str) -> None:
    print(line, flush=True)


def serve(args: argparse.Namespace) -> int:
    # Imported here: the SDK's protobuf modules load only once the arguments are fine.
    from .app import OTSLocalApp  # noqa: PLC0415
    from .loop import EventLoop  # noqa: PLC0415
    from .memstore import hold_full_collections  # noqa: PLC0415
    from .settings import SettingsError  # noqa: PLC0415
    from .transport import Server  # noqa: PLC0415

    try:
        app = OTSLocalApp(
            args.instance,
            args.access_key_id,
            args.access_key_secret,
            args.data,
            None if args.quiet else _print,
            index_delay_ms=args.index_delay_ms,
            control_token=args.control_token,
        )
    except SettingsError as error:
        print(f"ots_local: --index-delay-ms: {error}", file=sys.stderr)
        return 2
    except (StorageError, OSError) as error:
        print(f"ots_local: cannot open --data {args.data}: {error}", file=sys.stderr)
        return 1
    hold_full_collections()
    loop = EventLoop()
    server = Server(app, loop)
    try:
        server.start(args.host, args.port)
    except OSError as error:
        print(f"ots_local: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        app.close()
        loop.close()
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: loop.stop())
    _print(f"ots_local ready: endpoint={server.endpoint} instance={args.instance}")
    _print(
        f"ots_local: access key id {args.access_key_id}, data "
        f"{args.data or 'in memory'}; stop with Ctrl-C"
    )
    _print(f"ots_local: control plane token {app.control_token} (header {TOKEN_HEADER})")
    loop.run_forever()
    server.stop()
    app.close()
    loop.close()
    _print("ots_local stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return serve(args)
