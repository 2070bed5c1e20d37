"""`make migrate`: the original tutorial's table brought into fc-codes, every code exactly once.

Reads the tutorial's table (`code`, primary key `uuid`, columns `start`, `end`, `status`) page by
page and writes each code into the `codes` table as an imported code (its uuid exactly as
issued; `fccodes.legacy` maps the row): UNACTIVED -> unused, ACTIVED -> used, `start <= now <=
end` -> the validity window with the same meaning. Every write is conditional (`EXPECT_NOT_EXIST`),
so a second run adds nothing; a code that is already there and was ACTIVED in the tutorial since
is marked used (never the other way round). After each page the position is saved in a
checkpoint file, so a run that was killed resumes where it stopped; a finished run removes it.

The source table's schema is checked before anything is written: another primary key, or rows
without the tutorial's columns, stop the run with exit status 2. docs/functions.md ("Migrating
from the tutorial") has the cut-over for a live system.

    python -m tools.migrate [--table code] [--instance NAME] [--target codes] [--batch tutorial]
    python -m tools.migrate --fill 100000     # a tutorial-shaped table to try it on (local only)

Locally (no OTS_ENDPOINT in the environment) it works on `make run`'s data (`--data-dir`,
default .local): the running stack's Tablestore, or its own on the same data file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    Direction,
    LogicalOperator,
    OTSClient,
    OTSServiceError,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchWriteRowItem,
    UpdateRowItem,
)
from tablestore.retry import NoRetryPolicy

from fccodes import legacy
from harness import tutorial
from localdev.project import load_project
from localdev.store import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_ACCESS_KEY_SECRET,
    DataDir,
    connect_or_start_store,
    ensure_tables,
)

ROOT = Path(__file__).resolve().parent.parent
PAGE_ROWS = 5000  # rows per GetRange (Tablestore answers at most 5,000)
WRITE_ROWS = 200  # rows per BatchWriteRow (Tablestore's limit)
CONCURRENCY = 8  # BatchWriteRow requests in flight
ATTEMPTS = 8  # per BatchWriteRow, with backoff from 50 ms doubling to 2 s
SAMPLE_BAD = 10  # bad rows named in the summary


class SchemaError(Exception):
    """The source is not the tutorial's table (or the target is missing): nothing was written."""


class Counts:
    """What one run did, thread-safe."""

    FIELDS = ("read", "written", "existing", "marked_used", "bad", "failed")

    def __init__(self, **start: int) -> None:
        self.lock = threading.Lock()
        self.values = {name: int(start.get(name, 0)) for name in self.FIELDS}

    def add(self, **deltas: int) -> None:
        with self.lock:
            for name, delta in deltas.items():
                self.values[name] += delta

    def __getitem__(self, name: str) -> int:
        with self.lock:
            return self.values[name]


SDK_LOGGER = "fccodes.migrate.sdk"
# The SDK logs every failed request (a missing table included) at ERROR; the migration says what
# went wrong in its own words.
logging.getLogger(SDK_LOGGER).addHandler(logging.NullHandler())
logging.getLogger(SDK_LOGGER).propagate = False


def sdk_client(endpoint: str, key_id: str, secret: str, instance: str, token: str | None) -> Any:
    return OTSClient(
        endpoint,
        key_id,
        secret,
        instance,
        sts_token=token or None,
        retry_policy=NoRetryPolicy(),  # ours below: a failure is retried, then counted
        socket_timeout=30,
        max_connection=2 * CONCURRENCY,
        logger_name=SDK_LOGGER,
    )


class Migration:
    """One run: `source` and `target` are SDK clients (they may be the same instance)."""

    def __init__(
        self,
        source: Any,
        target: Any,
        source_table: str = tutorial.TABLE,
        target_table: str = "codes",
        batch: str = legacy.DEFAULT_BATCH,
        checkpoint: Path | None = None,
        progress: Callable[[Counts, int | None, float], None] | None = None,
        clock: Callable[[], float] = time.time,
        page_rows: int = PAGE_ROWS,
    ) -> None:
        self.source = source
        self.target = target
        self.source_table = source_table
        self.target_table = target_table
        self.batch = batch
        self.checkpoint = checkpoint
        self.progress = progress or (lambda counts, total, elapsed: None)
        self.now_ms = int(clock() * 1000)
        self.page_rows = page_rows
        self.bad: list[str] = []
        self.resumed_from: str | None = None

    # --- checks -------------------------------------------------------------------------------
    def check(self) -> None:
        """SchemaError unless the source is the tutorial's table and the target exists."""
        for table, what in ((self.source_table, "source"), (self.target_table, "target")):
            client = self.source if what == "source" else self.target
            try:
                described = client.describe_table(table)
            except OTSServiceError as exc:
                if exc.code == "OTSObjectNotExist":
                    raise SchemaError(f"the {what} table {table!r} does not exist") from None
                raise
            keys = [tuple(column[:2]) for column in described.table_meta.schema_of_primary_key]
            expected = [
                tuple(c) for c in (tutorial.KEY if what == "source" else (("code", "STRING"),))
            ]
            if keys != expected:
                raise SchemaError(
                    f"the {what} table {table!r} has the primary key {keys}, not {expected}"
                    + (": it is not the tutorial's table" if what == "source" else "")
                )
        # The tutorial's columns: the first page must map cleanly, or nothing is written.
        _, page = self._page(self._start(), limit=100)
        for row in page:
            try:
                self._map(row)
            except legacy.BadRow as exc:
                raise SchemaError(
                    f"the source table {self.source_table!r} is not in the tutorial's shape: "
                    f"row uuid={row.primary_key[0][1]!r}: {exc}"
                ) from None

    def count(self) -> int:
        """How many rows the source has (a scan of its primary keys, for the progress bar)."""
        total = 0
        start: Any = [(legacy.SOURCE_KEY, INF_MIN)]
        while start is not None:
            _, start, page, _ = self.source.get_range(
                self.source_table,
                Direction.FORWARD,
                start,
                [(legacy.SOURCE_KEY, INF_MAX)],
                columns_to_get=[legacy.SOURCE_KEY],
                max_version=1,
            )
            total += len(page)
        return total

    # --- the run ------------------------------------------------------------------------------
    def run(self, total: int | None = None) -> Counts:
        started = time.monotonic()
        saved = self._load_checkpoint()
        counts = Counts(**saved.get("counts", {}))
        start = self._start(saved.get("next"))
        if saved:
            self.resumed_from = saved.get("next")
        with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="migrate") as pool:
            reader = _Prefetch(self._page, start)
            for next_start, page in reader:
                mapped = []
                for row in page:
                    uuid = row.primary_key[0][1]
                    try:
                        mapped.append((*self._map(row), row))
                    except legacy.BadRow as exc:
                        counts.add(bad=1)
                        if len(self.bad) < SAMPLE_BAD:
                            self.bad.append(f"uuid={uuid!r}: {exc}")
                counts.add(read=len(page))
                chunks = [mapped[i : i + WRITE_ROWS] for i in range(0, len(mapped), WRITE_ROWS)]
                for result in pool.map(self._write, chunks):
                    counts.add(**result)
                self._save_checkpoint(next_start, counts)
                self.progress(counts, total, time.monotonic() - started)
        self._clear_checkpoint()
        return counts

    def _start(self, saved: str | None = None) -> list:
        return [(legacy.SOURCE_KEY, saved if saved is not None else INF_MIN)]

    def _page(self, start: list, limit: int | None = None) -> tuple[list | None, list]:
        _, next_start, page, _ = _retry(
            lambda: self.source.get_range(
                self.source_table,
                Direction.FORWARD,
                start,
                [(legacy.SOURCE_KEY, INF_MAX)],
                # Every column: with a column list, rows holding none of them would be skipped
                # silently instead of reported as not in the tutorial's shape.
                columns_to_get=None,
                limit=limit or self.page_rows,
                max_version=1,
            )
        )
        return next_start, page

    def _map(self, row: Any) -> tuple[str, dict]:
        columns = {c[0]: c[1] for c in row.attribute_columns}
        return legacy.row_of(row.primary_key[0][1], columns, self.batch, self.now_ms)

    def _write(self, chunk: list) -> dict[str, int]:
        """Insert each row if absent; mark used the existing ones the tutorial shows ACTIVED."""
        result = {"written": 0, "existing": 0, "marked_used": 0, "failed": 0}
        insert = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
        pending = chunk
        activated = []
        for attempt in range(ATTEMPTS):
            items = [
                PutRowItem(Row([("code", key)], sorted(attrs.items())), insert)
                for key, attrs, _ in pending
            ]
            outcomes = self._batch(items)
            if outcomes is None:  # the whole request failed: try it again
                _sleep(attempt)
                continue
            retry = []
            for entry, outcome in zip(pending, outcomes, strict=True):
                if outcome == "ok":
                    result["written"] += 1
                elif outcome == "exists":
                    result["existing"] += 1
                    if entry[1]["state"] == "USED":
                        activated.append(entry)
                else:
                    retry.append(entry)
            pending = retry
            if not pending:
                break
            _sleep(attempt)
        result["failed"] += len(pending)
        if activated:
            marked, failed = self._mark_used(activated)
            result["marked_used"] += marked
            result["failed"] += failed
        return result

    def _mark_used(self, entries: list) -> tuple[int, int]:
        # Only a row the migration wrote, and only while it is unused there: a code redeemed in
        # fc-codes after the cut-over stays as it is.
        both = CompositeColumnCondition(LogicalOperator.AND)
        both.add_sub_condition(
            SingleColumnCondition("nonce", legacy.MIGRATED_BY, ComparatorType.EQUAL)
        )
        both.add_sub_condition(SingleColumnCondition("state", "UNUSED", ComparatorType.EQUAL))
        condition = Condition(RowExistenceExpectation.EXPECT_EXIST, both)
        marked = 0
        pending = entries
        for attempt in range(ATTEMPTS):
            items = [
                UpdateRowItem(
                    Row(
                        [("code", key)],
                        {
                            "put": [
                                ("state", "USED"),
                                ("uses", 1),
                                ("redeemed_at", self.now_ms),
                            ]
                        },
                    ),
                    condition,
                )
                for key, _, _ in pending
            ]
            outcomes = self._batch(items, update=True)
            if outcomes is None:
                _sleep(attempt)
                continue
            marked += outcomes.count("ok")
            pending = [e for e, o in zip(pending, outcomes, strict=True) if o == "failed"]
            if not pending:
                break
            _sleep(attempt)
        return marked, len(pending)

    def _batch(self, items: list, update: bool = False) -> list[str] | None:
        """Outcomes per item ('ok', 'exists' = condition failed, 'failed'); None if the request
        itself failed."""
        request = BatchWriteRowRequest()
        request.add(TableInBatchWriteRowItem(self.target_table, items))
        try:
            response = self.target.batch_write_row(request)
        except Exception:  # transport or service failure: retried by the caller
            return None
        by_table = response.table_of_update if update else response.table_of_put
        results = by_table.get(self.target_table) or []
        if len(results) != len(items):
            return None
        outcomes = []
        for item in results:
            if item.is_ok:
                outcomes.append("ok")
            elif item.error_code == "OTSConditionCheckFail":
                outcomes.append("exists")
            else:
                outcomes.append("failed")
        return outcomes

    # --- checkpoint ---------------------------------------------------------------------------
    def _load_checkpoint(self) -> dict[str, Any]:
        if self.checkpoint is None or not self.checkpoint.exists():
            return {}
        saved = json.loads(self.checkpoint.read_text(encoding="utf-8"))
        if (saved.get("source"), saved.get("target")) != (self.source_table, self.target_table):
            return {}
        return saved

    def _save_checkpoint(self, next_start: list | None, counts: Counts) -> None:
        if self.checkpoint is None or next_start is None:
            return
        state = {
            "source": self.source_table,
            "target": self.target_table,
            "next": next_start[0][1],
            "counts": dict(counts.values),
        }
        tmp = self.checkpoint.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        tmp.replace(self.checkpoint)  # atomic: a crash leaves the old or the new one

    def _clear_checkpoint(self) -> None:
        if self.checkpoint is not None and self.checkpoint.exists():
            self.checkpoint.unlink()


class _Prefetch:
    """Pages of the source, the next one read while the current one is written."""

    def __init__(self, read: Callable[[list], tuple[list | None, list]], start: list) -> None:
        self.read = read
        self.start = start

    def __iter__(self) -> Iterator[tuple[list | None, list]]:
        with ThreadPoolExecutor(1, thread_name_prefix="migrate-read") as reader:
            future: Future[tuple[list | None, list]] | None = reader.submit(self.read, self.start)
            while future is not None:
                next_start, page = future.result()
                future = reader.submit(self.read, next_start) if next_start else None
                yield next_start, page


def _retry(call: Callable[[], Any]) -> Any:
    for attempt in range(ATTEMPTS):
        try:
            return call()
        except Exception:
            if attempt == ATTEMPTS - 1:
                raise
            _sleep(attempt)
    raise AssertionError("unreachable")


def _sleep(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2**attempt))


# --- command line -------------------------------------------------------------------------------
def progress_printer(stream: Any = sys.stderr) -> Callable[[Counts, int | None, float], None]:
    """A progress bar on a terminal (redrawn), else a line at most every 2 s."""
    last = [0.0]

    def show(counts: Counts, total: int | None, elapsed: float) -> None:
        read = counts["read"]
        rate = read / elapsed if elapsed > 0 else 0.0
        if total:
            done = min(1.0, read / total)
            bar = "#" * int(done * 30) + "-" * (30 - int(done * 30))
            text = f"migrate [{bar}] {read:,}/{total:,} rows {done:4.0%} {rate:,.0f}/s"
        else:
            text = f"migrate {read:,} rows {rate:,.0f}/s"
        if stream.isatty():
            stream.write("\r" + text)
            stream.flush()
        elif time.monotonic() - last[0] >= 2.0 or (total and read >= total):
            last[0] = time.monotonic()
            stream.write(text + "\n")
            stream.flush()

    return show


def summary(counts: Counts, elapsed: float, resumed_from: str | None) -> str:
    rate = counts["read"] / elapsed if elapsed > 0 else 0.0
    line = (
        f"migrate: {counts['read']:,} rows read, {counts['written']:,} codes written, "
        f"{counts['existing']:,} already there ({counts['marked_used']:,} of them marked used), "
        f"{counts['bad']:,} bad rows, {counts['failed']:,} not written (store errors) "
        f"in {elapsed:.1f} s ({rate:,.0f} rows/s)"
    )
    if resumed_from is not None:
        line += "; resumed from the checkpoint (counts include the run before)"
    return line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tools.migrate",
        description="Bring the original tutorial's code table into fc-codes (docs/functions.md).",
    )
    p.add_argument("--table", default=tutorial.TABLE, help="the tutorial's table (default code)")
    p.add_argument(
        "--instance",
        help="the tutorial's Tablestore instance (default: the configured one, OTS_INSTANCE or "
        "the template's)",
    )
    p.add_argument("--source-endpoint", help="the tutorial's instance endpoint (production)")
    p.add_argument("--target", default="codes", help="fc-codes' table (default codes)")
    p.add_argument("--batch", default=legacy.DEFAULT_BATCH, help="batch label (default tutorial)")
    p.add_argument("--data-dir", type=Path, default=ROOT / ".local", help="local data (.local)")
    p.add_argument("--template", type=Path, default=ROOT / "template.yml")
    p.add_argument("--restart", action="store_true", help="ignore a checkpoint, start over")
    p.add_argument("--no-count", action="store_true", help="skip counting rows for the bar")
    p.add_argument(
        "--page-rows", type=int, default=PAGE_ROWS, help="rows per page and checkpoint (5000)"
    )
    p.add_argument(
        "--fill",
        type=int,
        metavar="N",
        help="instead: (re)create the tutorial's table locally with N codes, as its gen_code "
        "wrote them (every 10th ACTIVED), to try the migration on",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    environ = os.environ
    store = None
    try:
        if environ.get("OTS_ENDPOINT"):
            if args.fill is not None:
                print(
                    "migrate: --fill works on the local stack only (unset OTS_ENDPOINT)",
                    file=sys.stderr,
                )
                return 2
            target_endpoint = environ["OTS_ENDPOINT"].rstrip("/")
            target_instance = environ.get("OTS_INSTANCE") or load_project(args.template).instance
            key_id = environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
            secret = environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
            token = environ.get("ALIBABA_CLOUD_SECURITY_TOKEN")
            if not key_id or not secret:
                print(
                    "migrate: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                    file=sys.stderr,
                )
                return 2
            source_instance = args.instance or target_instance
            source_endpoint = args.source_endpoint or _endpoint_of(
                target_endpoint, target_instance, source_instance
            )
            checkpoint_dir = args.data_dir
        else:
            project = load_project(args.template)
            if args.instance and args.instance != project.instance:
                print(
                    f"migrate: the local Tablestore serves one instance, {project.instance!r}: "
                    f"create the tutorial's table there (--fill does)",
                    file=sys.stderr,
                )
                return 2
            store = connect_or_start_store(DataDir(args.data_dir), project.instance)
            ensure_tables(store, project.tables)
            target_endpoint = source_endpoint = store.endpoint
            target_instance = source_instance = project.instance
            key_id, secret, token = LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET, None
            checkpoint_dir = args.data_dir
        target = sdk_client(target_endpoint, key_id, secret, target_instance, token)
        source = (
            target
            if (source_endpoint, source_instance) == (target_endpoint, target_instance)
            else sdk_client(source_endpoint, key_id, secret, source_instance, token)
        )
        if args.fill is not None:
            tutorial.create(source, args.table)
            started = time.monotonic()
            written = tutorial.fill(
                source, args.fill, "2026-01-01 00:00:00", "2099-12-31 23:59:59", args.table, 10
            )
            print(
                f"migrate --fill: table {args.table!r} holds {len(written):,} tutorial codes "
                f"({sum(s == 'ACTIVED' for s in written.values()):,} ACTIVED) "
                f"in {time.monotonic() - started:.1f} s"
            )
            return 0
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = checkpoint_dir / f"migrate-{source_instance}-{args.table}.json"
        if args.restart and checkpoint.exists():
            checkpoint.unlink()
        migration = Migration(
            source,
            target,
            args.table,
            args.target,
            args.batch,
            checkpoint,
            progress=progress_printer(),
            page_rows=max(1, min(PAGE_ROWS, args.page_rows)),
        )
        try:
            migration.check()
        except SchemaError as exc:
            print(f"migrate: {exc}; nothing was written", file=sys.stderr)
            return 2
        total = None if args.no_count else migration.count()
        started = time.monotonic()
        counts = migration.run(total)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        print(summary(counts, time.monotonic() - started, migration.resumed_from))
        for line in migration.bad:
            print(f"  bad row {line}", file=sys.stderr)
        return 1 if counts["bad"] or counts["failed"] else 0
    finally:
        if store is not None:
            store.close()


def _endpoint_of(endpoint: str, instance: str, other: str) -> str:
    """The endpoint of instance `other` in the same region: its name replaces the host's first
    label (`https://fccodes.cn-hangzhou.ots.aliyuncs.com` -> `https://code-ots.cn-...`)."""
    if other == instance:
        return endpoint
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    first, _, rest = host.partition(".")
    if first != instance or not rest:
        raise SystemExit(
            f"migrate: cannot derive the endpoint of instance {other!r} from {endpoint!r}: "
            "give --source-endpoint"
        )
    return urlunsplit(parts._replace(netloc=f"{other}.{rest}"))


if __name__ == "__main__":
    sys.exit(main())
