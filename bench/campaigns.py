"""`make bench`, campaigns: export, figures, disable, and what a redemption costs with the new
checks, on this interpreter (Python 3.12, tablestore 6.x), against one local Tablestore server.

    python -m bench.campaigns            # a 100,000-code batch (a few minutes, mostly generating)
    python -m bench.campaigns --quick    # tiny sizes: proves the bench works; no figures

The handlers are the real ones (direct invokes, and API Gateway events for the CSV export); the
bare side of each redemption ratio is the same requests sent with the plain SDK client, one
after the other (docs/bench.md names them). The requests a redemption sends are counted by a
counting subclass of the SDK client, injected through the edge's ClientFactory. Ratios are
measured in one run; absolute figures are this machine's. JSON under .local/bench/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))

import admin_code  # noqa: E402,F401  (imported here so cold imports are not timed)
import batch_code  # noqa: E402
from tablestore import (  # noqa: E402
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    OTSClient,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
)

import gen_code  # noqa: E402
import use_code  # noqa: E402
from bench import report  # noqa: E402
from fccodes import app  # noqa: E402
from fccodes.settings import Settings  # noqa: E402
from harness import ots_server, tables  # noqa: E402
from harness.fc import FCContext, server_credentials  # noqa: E402

EXPORT_TARGET = 50000  # codes/s
FIGURES_TARGET = 1.0  # seconds
REDEEM_TARGET = 1.3
SENT: list[str] = []


class CountingClient(OTSClient):
    """The real SDK client, noting every API request it sends."""

    def _request_helper(self, api_name, *args, **kwargs):
        SENT.append(api_name)
        return OTSClient._request_helper(self, api_name, *args, **kwargs)


def invoke(module: Any, event: dict[str, Any], ctx: FCContext) -> Any:
    return json.loads(module.handler(json.dumps(event).encode("utf-8"), ctx))


def csv_page(batch: str, cursor: str | None, limit: int) -> dict[str, Any]:
    query = {"limit": str(limit)}
    if cursor:
        query["cursor"] = cursor
    return {
        "path": f"/batches/{batch}/codes",
        "httpMethod": "GET",
        "headers": {"Accept": "text/csv"},
        "queryParameters": query,
        "pathParameters": {"batch": batch},
        "body": "",
        "isBase64Encoded": False,
    }


def export(batch: str, ctx: FCContext, limit: int = 5000) -> dict[str, Any]:
    """Every CSV page of a batch: codes, seconds, pages, the largest Python peak of one page."""
    codes, pages, peak, cursor = 0, 0, 0, None
    seconds = 0.0
    while True:
        tracemalloc.start()
        started = time.perf_counter()
        out = invoke(batch_code, csv_page(batch, cursor, limit), ctx)
        seconds += time.perf_counter() - started
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        codes += out["body"].count("\n") - 1
        pages += 1
        cursor = out["headers"].get("X-Next-Cursor")
        if not cursor:
            break
    return {"codes": codes, "seconds": seconds, "pages": pages, "page_peak_bytes": peak}


def export_untraced(batch: str, ctx: FCContext, limit: int = 5000) -> dict[str, Any]:
    """The same walk without tracemalloc (it slows Python down): the throughput figure."""
    codes, cursor = 0, None
    started = time.perf_counter()
    while True:
        out = invoke(batch_code, csv_page(batch, cursor, limit), ctx)
        codes += out["body"].count("\n") - 1
        cursor = out["headers"].get("X-Next-Cursor")
        if not cursor:
            break
    seconds = time.perf_counter() - started
    return {"codes": codes, "seconds": seconds, "codes_per_s": codes / seconds}


def bare_update(sdk: OTSClient, key: str, expect: list[tuple[str, Any, Any, bool]]) -> None:
    """A conditional UpdateRow like redeem's, with the plain SDK."""
    both = CompositeColumnCondition(LogicalOperator.AND)
    for column, op, value, missing in expect:
        both.add_sub_condition(SingleColumnCondition(column, value, op, pass_if_missing=missing))
    put = {"put": [("state", "USED"), ("uses", 1), ("redeemed_at", int(time.time() * 1000))]}
    sdk.update_row(
        "codes", Row([("code", key)], put), Condition(RowExistenceExpectation.EXPECT_EXIST, both)
    )


FAST_CONDITION = [
    ("state", ComparatorType.EQUAL, "UNUSED", False),
    ("max_uses", ComparatorType.EQUAL, 1, False),
    ("valid_from", ComparatorType.LESS_EQUAL, 2**62, False),
    ("disabled", ComparatorType.NOT_EQUAL, 1, True),
    ("batch_disabled", ComparatorType.NOT_EQUAL, 1, True),
    ("customer", ComparatorType.EQUAL, "c", True),
]


def bare(kind: str, sdk: OTSClient, key: str, n: int) -> None:
    """The requests the same guarantees need, sent with the plain SDK client."""
    if kind == "plain":
        bare_update(sdk, key, FAST_CONDITION)
        return
    sdk.get_row("codes", [("code", key)], max_version=1)
    if kind == "per_user_limit":
        sdk.put_row(
            "batches",
            Row([("pk", f"u:bare{n}:b"), ("sk", "0000")], [("code", key)]),
            Condition(RowExistenceExpectation.EXPECT_NOT_EXIST),
        )
    bare_update(
        sdk, key, [("uses", ComparatorType.EQUAL, 0, False), FAST_CONDITION[0], FAST_CONDITION[3]]
    )


def redemption_costs(ctx: FCContext, sdk: OTSClient, n: int) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {
        "plain": {"prefix": "PNN", "customer": "c"},
        "metadata": {"prefix": "MTA", "metadata": {"pack": "gold"}},
        "per_user_limit": {"prefix": "QTY", "per_user_limit": 1},
    }
    results = {}
    for kind, params in kinds.items():
        mine = invoke(gen_code, dict(params, count=n + 1, batch=f"r-{kind}"), ctx)["codes"]
        theirs = invoke(gen_code, dict(params, count=n, batch=f"b-{kind}"), ctx)["codes"]
        invoke(use_code, {"code": mine.pop(), "user_id": "c"}, ctx)  # warm the instance's hint
        handler_s, bare_s, requests = [], [], []
        for i, (code, other) in enumerate(zip(mine, theirs, strict=True)):
            user = "c" if kind == "plain" else f"user-{i}"
            del SENT[:]
            started = time.perf_counter()
            answer = invoke(use_code, {"code": code, "user_id": user}, ctx)
            handler_s.append(time.perf_counter() - started)
            assert "error" not in answer, answer
            requests.append(len(SENT))
            key = other.replace("-", "")
            started = time.perf_counter()
            bare(kind, sdk, key, i)
            bare_s.append(time.perf_counter() - started)
        handler_p50, bare_p50 = statistics.median(handler_s), statistics.median(bare_s)
        results[kind] = {
            "n": n,
            "requests": max(requests),
            "handler_p50_ms": handler_p50 * 1000,
            "bare_p50_ms": bare_p50 * 1000,
            "ratio": handler_p50 / bare_p50,
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.campaigns", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no meaningful figures")
    parser.add_argument("--codes", type=int, default=100000, help="codes in the big batch")
    args = parser.parse_args(argv)
    big = 2000 if args.quick else args.codes
    small = max(big // 10, 500)
    redemptions = 20 if args.quick else 300
    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    try:
        sdk = tables.client_for(server, timeout=60)
        tables.create_service_tables(sdk)
        settings = Settings(
            server.endpoint,
            server.instance,
            max_codes_per_request=max(big, 10000),
            gen_concurrency=8,
            ots_timeout=60,
        )
        factory = app.ClientFactory(
            settings.ots_endpoint, settings.ots_instance, 60, client_class=CountingClient
        )
        app.configure(app.Runtime(settings, factory=factory))
        ctx = FCContext(credentials=server_credentials(server), timeout=3600)
        started = time.perf_counter()
        made = invoke(gen_code, {"count": big, "batch": "big"}, ctx)
        generate_s = time.perf_counter() - started
        assert made.get("count") == big, made
        invoke(gen_code, {"count": small, "batch": "small"}, ctx)
        server.control("POST", "indexes/sync")
        for code in made["codes"][: big // 100]:  # 1% redeemed: figures have something to count
            invoke(use_code, {"code": code, "user_id": "u"}, ctx)
        figures_s = []
        for _ in range(3):
            started = time.perf_counter()
            info = invoke(batch_code, {"action": "show", "batch": "big"}, ctx)
            figures_s.append(time.perf_counter() - started)
        assert info["figures"]["used"] == big // 100, info
        throughput = export_untraced("big", ctx)
        memory_big = export("big", ctx)
        memory_small = export("small", ctx)
        assert throughput["codes"] == big and memory_small["codes"] == small
        started = time.perf_counter()
        invoke(batch_code, {"action": "disable", "batch": "big"}, ctx)
        disable_s = time.perf_counter() - started
        started = time.perf_counter()
        invoke(batch_code, {"action": "enable", "batch": "big"}, ctx)
        enable_s = time.perf_counter() - started
        costs = redemption_costs(ctx, sdk, redemptions)
    finally:
        app.configure(None)
        server.stop()
    results = {
        "codes": big,
        "generate_s": generate_s,
        "figures_s": figures_s,
        "export": throughput,
        "export_page_peak_bytes": {
            "big": memory_big["page_peak_bytes"],
            "small": memory_small["page_peak_bytes"],
        },
        "disable_s": disable_s,
        "enable_s": enable_s,
        "redemption": costs,
    }
    print_tables(results, args.quick)
    report.RESULTS.mkdir(parents=True, exist_ok=True)
    (report.RESULTS / "campaigns-latest.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


def print_tables(r: dict[str, Any], quick: bool) -> None:
    note = "  (--quick: sizes too small to mean anything)" if quick else ""
    big, small = r["export_page_peak_bytes"]["big"], r["export_page_peak_bytes"]["small"]
    print(f"Campaigns: a {r['codes']:,}-code batch, Python {sys.version.split()[0]}{note}")
    rate = r["export"]["codes_per_s"]
    met = "met" if rate >= EXPORT_TARGET else "MISSED"
    print(
        f"  export, CSV pages of 5,000   {rate:,.0f} codes/s ({r['export']['seconds']:.2f} s)"
        f"   target >= {EXPORT_TARGET:,}: {met}"
    )
    print(
        f"  peak Python memory per page  {big / 1e6:.1f} MB ({r['codes']:,} codes), "
        f"{small / 1e6:.1f} MB (a batch a tenth as large)"
    )
    best = min(r["figures_s"])
    met = "met" if best <= FIGURES_TARGET else "MISSED"
    print(
        f"  figures (GET /batches/{{b}})  best {best:.2f} s, median "
        f"{statistics.median(r['figures_s']):.2f} s   target <= {FIGURES_TARGET} s: {met}"
    )
    print(f"  disable / enable             {r['disable_s']:.1f} s / {r['enable_s']:.1f} s")
    print(f"  generate (for the record)    {r['generate_s']:.1f} s")
    print("Redemption with the new checks: handler vs the same requests with the bare SDK (p50)")
    for kind, c in r["redemption"].items():
        met = "met" if c["ratio"] <= REDEEM_TARGET else "MISSED"
        print(
            f"  {kind:<15} {c['requests']} requests  {c['handler_p50_ms']:.2f} ms vs "
            f"{c['bare_p50_ms']:.2f} ms  {c['ratio']:.2f}x   target <= {REDEEM_TARGET}x: {met}"
        )


if __name__ == "__main__":
    sys.exit(main())
