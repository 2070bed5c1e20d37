"""Benchmark: exporting a batch of codes through a global secondary index of ots_local.

    make bench-ots-index                 # or: .venv/bin/python bench/ots_index_bench.py
    python bench/ots_index_bench.py --rows 20000 --runs 1

ots_local runs as a subprocess on 127.0.0.1, in memory. A codes table (fc-codes' shape: a
unique code key, the batch, status, uses, validity) with a global index on `batch` that
carries the status columns is loaded through BatchWriteRow, then the whole batch is read
back from the index with GetRange pages of 5,000 rows, the way an export lists a batch.
Prints the load rate and the best and median of `--runs` full reads, in rows per second,
with the load average (the figures move with whatever else the machine runs).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import ots_server  # noqa: E402 (after the repo root is on sys.path)

BATCH = "20261130T000000Z-ABCD"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the batch")
    parser.add_argument("--runs", type=int, default=3, help="full reads of the batch")
    parser.add_argument("--page", type=int, default=5000, help="GetRange limit")
    args = parser.parse_args(argv)

    from tablestore import (  # noqa: PLC0415 (after the arguments are fine)
        INF_MAX,
        INF_MIN,
        BatchWriteRowRequest,
        CapacityUnit,
        Condition,
        OTSClient,
        PutRowItem,
        ReservedThroughput,
        Row,
        SecondaryIndexMeta,
        TableInBatchWriteRowItem,
        TableMeta,
        TableOptions,
    )
    from tablestore.retry import NoRetryPolicy  # noqa: PLC0415

    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    try:
        client = OTSClient(
            server.endpoint,
            server.access_key_id,
            server.access_key_secret,
            server.instance,
            retry_policy=NoRetryPolicy(),
            socket_timeout=60,
        )
        defined = [("batch", "STRING"), ("status", "STRING"), ("uses", "INTEGER")]
        defined.append(("valid_until", "INTEGER"))
        client.create_table(
            TableMeta("codes", [("code", "STRING")], defined),
            TableOptions(),
            ReservedThroughput(CapacityUnit(0, 0)),
            [SecondaryIndexMeta("codes_by_batch", ["batch"], ["status", "uses", "valid_until"])],
        )
        started = time.perf_counter()
        for first in range(0, args.rows, 200):
            request = BatchWriteRowRequest()
            items = [
                PutRowItem(
                    Row(
                        [("code", f"BETA-{i:08d}-WYF7-4VX2")],
                        [
                            ("batch", BATCH),
                            ("status", "UNUSED"),
                            ("uses", 0),
                            ("valid_until", 1_830_000_000_000),
                            ("max_uses", 1),
                        ],
                    ),
                    Condition("IGNORE"),
                )
                for i in range(first, min(first + 200, args.rows))
            ]
            request.add(TableInBatchWriteRowItem("codes", items))
            client.batch_write_row(request)
        load = args.rows / (time.perf_counter() - started)
        print(f"load: {args.rows:,} rows with one global index, {load:,.0f} rows/s", flush=True)

        rates = []
        for run in range(args.runs):
            start = [("batch", BATCH), ("code", INF_MIN)]
            end = [("batch", BATCH), ("code", INF_MAX)]
            read = 0
            started = time.perf_counter()
            while True:
                _, next_pk, rows, _ = client.get_range(
                    "codes_by_batch", "FORWARD", start, end, limit=args.page, max_version=1
                )
                read += len(rows)
                if not next_pk:
                    break
                start = next_pk
            elapsed = time.perf_counter() - started
            assert read == args.rows, (read, args.rows)
            rates.append(read / elapsed)
            print(f"run {run + 1}: {read:,} rows in {elapsed:.2f} s, {read / elapsed:,.0f} rows/s")
        print(
            f"GetRange on the index, pages of {args.page:,}: best {max(rates):,.0f} rows/s,"
            f" median {statistics.median(rates):,.0f} (Python {platform.python_version()},"
            f" server and client on this machine, load average {os.getloadavg()[0]:.1f})"
        )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
