"""`python -m tools.codes`: the campaign admin's command line, over the HTTP API.

    python -m tools.codes generate --count 1000 --prefix GFT --batch winter --metadata '{"a": 1}'
    python -m tools.codes generate --count 1000000 --batch launch --wait --out launch.txt
                                                             # big: generated asynchronously
    python -m tools.codes show winter
    python -m tools.codes export winter --out winter.csv     # every code, CSV, a progress bar
    python -m tools.codes disable winter                     # enable winter
    python -m tools.codes disable-code GFT-XXXX-...          # enable-code
    python -m tools.codes rollback GFT-XXXX-... --user player-42   # or --redemption ID
    python -m tools.codes redemptions GFT-XXXX-...
    python -m tools.codes setup                              # a deployment's tables and index

Where it talks to comes from the environment, never from the command line (so keys stay out of
shell history and process lists), and no key is ever printed:

- `FCCODES_URL`: the API's base URL; default `http://127.0.0.1:8080` (`make run`).
- `FCCODES_APP_KEY`: the app key for the admin routes. Against `make run` it may be left out:
  the local key is read from `.local/app-key` (or `$FCCODES_DATA/app-key`).
- `FCCODES_APP_SECRET`: with a deployment's API Gateway, the App's secret: every call is then
  signed (API Gateway's APP authentication, tools/gateway_client.py), not just keyed.

`setup` creates what template.yml and s.yaml cannot declare, with the SDK: the `batches` table
and the codes table's predefined columns and batch index (functions/fccodes/schema.json), from
`OTS_ENDPOINT`, `OTS_INSTANCE`, `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (docs/deploy.md).

Exit status: 0 done, 1 the API refused (its error code and message are printed), 2 usage or
configuration errors. docs/functions.md describes every route this calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tools.gateway_client import sign

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "http://127.0.0.1:8080"
APP_KEY_HEADER = "X-Ca-Key"
PAGE = 5000  # codes per export page: the API's largest


class CliError(Exception):
    """A problem to report in one line; `status` is the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


class Api:
    """The HTTP API at `url`, admin calls carrying the app key."""

    def __init__(self, url: str, app_key: str, app_secret: str = "", timeout: float = 90.0):
        self.url = url.rstrip("/")
        self.app_key = app_key
        self.app_secret = app_secret
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Api({self.url!r}, keys=<hidden>)"

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body bytes); CliError if unreachable."""
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        if not url.startswith(("http://", "https://")):
            raise CliError(f"FCCODES_URL must be an http(s) URL, not {self.url!r}")
        sent = {"Accept": "application/json"}
        if data is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        if self.app_secret:  # a deployment: API Gateway's App signature
            sent = sign(method, path, data or b"", self.app_key, self.app_secret, sent, query)
        else:
            sent[APP_KEY_HEADER] = self.app_key
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (checked)
        for name, value in sent.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _lower(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, _lower(exc.headers), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise CliError(f"cannot reach {self.url}: {exc}") from None

    def json(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The JSON answer of a successful call; CliError(status 1) naming the API's error."""
        status, _, raw = self.call(method, path, body, **kw)
        try:
            answer = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise CliError(f"{method} {path}: HTTP {status}, not JSON", 1) from None
        if status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            code, message = error.get("code", f"HTTP {status}"), error.get("message", "")
            raise CliError(f"{code}: {message}", 1)
        return answer


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()} if headers else {}


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def api_from_env(environ: dict[str, str]) -> Api:
    url = environ.get("FCCODES_URL", "").strip() or DEFAULT_URL
    key = environ.get("FCCODES_APP_KEY", "").strip()
    if not key:
        data = Path(environ.get("FCCODES_DATA", "").strip() or ROOT / ".local")
        try:
            key = (data / "app-key").read_text(encoding="utf-8").strip()
        except OSError:
            key = ""
    if not key:
        raise CliError(
            "no app key: set FCCODES_APP_KEY (or run `make run` once, which makes .local/app-key)"
        )
    return Api(url, key, environ.get("FCCODES_APP_SECRET", "").strip())


# --- commands -----------------------------------------------------------------------------------
def generate(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
    body: dict[str, Any] = {"count": args.count}
    for name in ("prefix", "batch", "valid_from", "valid_until", "max_uses", "customer"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.per_user_limit is not None:
        body["per_user_limit"] = args.per_user_limit
    if args.metadata is not None:
        try:
            body["metadata"] = json.loads(args.metadata)
        except ValueError as exc:
            raise CliError(f"--metadata is not JSON: {exc}") from None
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    answer = api.json("POST", "/codes", body, headers=headers)
    if "codes" not in answer:  # above MAX_CODES_PER_REQUEST: generated asynchronously (202)
        generated_later(api, args, answer, out)
        return
    codes = answer.pop("codes")
    target = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115
    try:
        for code in codes:
            print(code, file=target or out)
    finally:
        if target:
            target.close()
    note = " (an earlier call's batch: same idempotency key)" if answer.get("replay") else ""
    print(
        f"batch {answer['batch']}: {answer['count']} codes{note}"
        + (f", written to {args.out}" if args.out else ""),
        file=sys.stderr,
    )


def generated_later(api: Api, args: argparse.Namespace, answer: Any, out: IO[str]) -> None:
    """A batch generated asynchronously: say so, or with --wait follow its progress until it is
    READY, then write its codes (one per line, like a small batch's) to --out or stdout."""
    batch = answer["batch"]
    total = answer["generation"]["total"]
    note = " (an earlier call's batch: same idempotency key)" if answer.get("replay") else ""
    print(f"batch {batch}: {total:,} codes, generated asynchronously{note}", file=sys.stderr)
    if not args.wait:
        print(
            f"follow it: python -m tools.codes show {batch}; once READY: "
            f"python -m tools.codes export {batch} --out {batch}.csv "
            "(or generate again with --wait)",
            file=sys.stderr,
        )
        return
    progress = Progress(total, sys.stderr)
    generation = answer["generation"]
    while generation["status"] == "GENERATING":
        time.sleep(args.poll)
        generation = api.json("GET", f"/batches/{quote(batch)}")["generation"]
        progress.update(generation["written"])
    progress.finish(generation["written"])
    if generation["status"] != "READY":
        raise CliError(f"batch {batch} FAILED: {generation['reason']}", 1)
    target = open(args.out, "w", encoding="utf-8") if args.out else out  # noqa: SIM115
    done = 0
    try:
        for lines in pages(api, batch, None, args.page):
            for line in lines[1:]:
                target.write(line.split(",", 1)[0] + "\n")
                done += 1
    finally:
        if target is not out:
            target.close()
    print(
        f"batch {batch}: {done:,} codes" + (f", written to {args.out}" if args.out else ""),
        file=sys.stderr,
    )


def show(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
    info = api.json("GET", f"/batches/{quote(args.batch)}")
    figures = info.pop("figures")
    width = max(len(k) for k in info)
    for name, value in info.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
        print(f"{name:<{width}}  {'-' if shown is None else shown}", file=out)
    if figures is None:  # a big batch still generated (or failed): its `generation` says
        return
    print(
        "figures" + " " * (width - 5) + "  ".join(f"{k} {v:,}" for k, v in figures.items()),
        file=out,
    )


def pages(api: Api, batch: str, status: str | None, page: int) -> Iterator[list[str]]:
    """The lines of every CSV page of a batch, header included, following the cursors."""
    cursor = None
    while True:
        query = {"limit": str(page)}
        if status:
            query["status"] = status
        if cursor:
            query["cursor"] = cursor
        code, headers, raw = api.call(
            "GET", f"/batches/{quote(batch)}/codes", query=query, headers={"Accept": "text/csv"}
        )
        if code != 200:
            try:
                error = json.loads(raw.decode("utf-8"))["error"]
                message = f"{error['code']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {code}"
            raise CliError(message, 1)
        yield raw.decode("utf-8").splitlines()
        cursor = headers.get("x-next-cursor")
        if not cursor:
            return


class Progress:
    """A one-line progress bar on a terminal (stderr); silent elsewhere but for the summary."""

    def __init__(self, total: int, stream: IO[str], clock: Callable[[], float] = time.monotonic):
        self.total = max(total, 1)
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.live = hasattr(stream, "isatty") and stream.isatty()

    def update(self, done: int) -> None:
        if not self.live:
            return
        share = min(done / self.total, 1.0)
        bar = "#" * int(share * 30)
        rate = done / max(self.clock() - self.started, 1e-6)
        self.stream.write(f"\r[{bar:<30}] {done:,}/{self.total:,} codes  {rate:,.0f}/s")
        self.stream.flush()

    def finish(self, done: int) -> None:
        seconds = self.clock() - self.started
        if self.live:
            self.stream.write("\n")
        self.stream.write(
            f"{done:,} codes in {seconds:.1f} s ({done / max(seconds, 1e-6):,.0f}/s)\n"
        )


def export(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
    info = api.json("GET", f"/batches/{quote(args.batch)}")
    progress = Progress(info.get("count", 0), sys.stderr)
    target = open(args.out, "w", encoding="utf-8", newline="") if args.out else out  # noqa: SIM115
    done = 0
    try:
        for n, lines in enumerate(pages(api, args.batch, args.status, args.page)):
            body = lines if n == 0 else lines[1:]  # one header row for the whole file
            for line in body:
                target.write(line + "\n")
            done += len(lines) - 1
            progress.update(done)
    finally:
        if target is not out:
            target.close()
    progress.finish(done)
    if args.status is None and done != info.get("count", done):
        print(
            f"note: the batch was generated with {info['count']:,} codes and {done:,} were "
            "listed (codes deleted since, or the index not caught up yet: docs/functions.md)",
            file=sys.stderr,
        )


def switch_batch(state: str) -> Callable[[Api, argparse.Namespace, IO[str]], None]:
    def run(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
        answer = api.json("POST", f"/batches/{quote(args.batch)}/{state}")
        print(f"batch {answer['batch']}: {answer['state']}", file=out)

    return run


def switch_code(state: str) -> Callable[[Api, argparse.Namespace, IO[str]], None]:
    def run(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
        answer = api.json("POST", f"/codes/{quote(args.code)}/{state}")
        print(f"{answer['code']}: {answer['status']}", file=out)

    return run


def rollback(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
    body = {"user_id": args.user} if args.user else {"redemption_id": args.redemption}
    answer = api.json("POST", f"/codes/{quote(args.code)}/rollback", body)
    what = "rolled back" if answer["rolled_back"] else "nothing to roll back"
    print(
        f"{answer['code']}: {what}; uses {answer['uses']}/{answer['max_uses']}, {answer['status']}",
        file=out,
    )


def redemptions(api: Api, args: argparse.Namespace, out: IO[str]) -> None:
    cursor = None
    while True:
        query = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
        answer = api.json("GET", f"/codes/{quote(args.code)}/redemptions", query=query)
        for item in answer["redemptions"]:
            print(
                f"{item['redeemed_at']}  {item['user_id'] or '-'}  {item['redemption_id']}",
                file=out,
            )
        cursor = answer["next_cursor"]
        if not cursor:
            return


def setup(environ: dict[str, str], out: IO[str]) -> None:
    """Create the batches table and the codes table with its index where they are missing."""
    from harness import tables  # noqa: PLC0415 (the SDK: only this command needs it)

    missing = [
        name
        for name in (
            "OTS_ENDPOINT",
            "OTS_INSTANCE",
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        )
        if not environ.get(name, "").strip()
    ]
    if missing:
        raise CliError("setup needs " + ", ".join(missing) + " in the environment")
    sdk = tables.client(
        environ["OTS_ENDPOINT"],
        environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        environ["OTS_INSTANCE"],
    )
    codes = environ.get("CODES_TABLE", "").strip() or tables.CODES
    batches = environ.get("BATCHES_TABLE", "").strip() or tables.BATCHES
    created = tables.create_service_tables(sdk, codes, batches, exist_ok=True)
    index = tables.index_name(codes)
    if codes not in created:
        described = sdk.describe_table(codes)
        if index not in [i.index_name for i in described.secondary_indexes or []]:
            raise CliError(
                f"table {codes} exists without its index {index}: add the predefined columns of "
                "functions/fccodes/schema.json and the index in the Tablestore console "
                "(docs/deploy.md), then run setup again"
            )
    print("created: " + (", ".join(created) if created else "nothing (all there)"), file=out)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.codes",
        description="Campaign admin: generate, show, export, disable/enable, roll back. "
        "FCCODES_URL and FCCODES_APP_KEY from the environment.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate a batch of codes (codes to stdout or --out)")
    g.add_argument("--count", type=int, required=True)
    g.add_argument("--prefix")
    g.add_argument("--batch", help="the batch's label (default: generated)")
    g.add_argument("--valid-from", dest="valid_from")
    g.add_argument("--valid-until", dest="valid_until")
    g.add_argument("--max-uses", dest="max_uses", type=int)
    g.add_argument("--metadata", help="a JSON object of at most 2 KiB")
    g.add_argument("--customer", help="the only user_id that may redeem the codes")
    g.add_argument("--per-user-limit", dest="per_user_limit", type=int)
    g.add_argument(
        "--idempotency-key", dest="idempotency_key", help="retry-safe: same key, same batch"
    )
    g.add_argument("--out", help="write the codes to this file")
    g.add_argument(
        "--wait",
        action="store_true",
        help="a big batch (generated asynchronously): follow it until READY, then write its codes",
    )
    g.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    g.add_argument("--page", type=int, default=PAGE, help=argparse.SUPPRESS)
    s = sub.add_parser("show", help="a batch: parameters, state and figures")
    s.add_argument("batch")
    e = sub.add_parser("export", help="every code of a batch as CSV (stdout or --out)")
    e.add_argument("batch")
    e.add_argument("--out")
    e.add_argument("--status", choices=["UNUSED", "USED", "EXPIRED", "NOT_YET_VALID", "DISABLED"])
    e.add_argument("--page", type=int, default=PAGE, help=argparse.SUPPRESS)
    for name in ("disable", "enable"):
        c = sub.add_parser(name, help=f"{name} a whole batch")
        c.add_argument("batch")
        c = sub.add_parser(f"{name}-code", help=f"{name} one code")
        c.add_argument("code")
    r = sub.add_parser("rollback", help="roll back one redemption of a code")
    r.add_argument("code")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the user_id whose redemption to undo")
    who.add_argument("--redemption", help="the redemption_id redeem answered")
    d = sub.add_parser("redemptions", help="who redeemed a code and when, newest first")
    d.add_argument("code")
    sub.add_parser("setup", help="create the batches table and the batch index (a deployment)")
    return p


COMMANDS: dict[str, Callable[[Api, argparse.Namespace, IO[str]], None]] = {
    "generate": generate,
    "show": show,
    "export": export,
    "disable": switch_batch("disable"),
    "enable": switch_batch("enable"),
    "disable-code": switch_code("disable"),
    "enable-code": switch_code("enable"),
    "rollback": rollback,
    "redemptions": redemptions,
}


def main(
    argv: list[str] | None = None, environ: dict[str, str] | None = None, out: IO[str] | None = None
) -> int:
    args = parser().parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    out = out or sys.stdout
    try:
        if args.command == "setup":
            setup(env, out)
        else:
            COMMANDS[args.command](api_from_env(env), args, out)
    except CliError as exc:
        print(f"codes: {exc}", file=sys.stderr)
        return exc.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
