"""Benchmark: exporting a batch of codes through a global secondary index of ots_local.

    make bench-ots-index                 # or: .venv/bin/python bench/ots_index_bench.py
    python bench/ots_index_bench.py --rows 20000 --runs 1

ots_local runs as a subprocess on 127.0.0.1, in memory. A codes table (fc-codes' shape: a
unique code key, the batch, status, uses, validity) with a global index on `batch` that
carries the status columns is loaded through BatchWriteRow, then the whole batch is read
back from the index with GetRange pages of 5,000 rows, the way an export lists a batch.
Prints the load rate and the best and median of `--runs` full reads, in rows per second,
with the load average (the figures move with whatever else the machine runs), then the CPU
time per row of the client and of the server (Linux /proc), which a busy machine does not
change much: their sum bounds the rate on an idle machine.
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the batch")
    parser.add_argument("--runs", type=int, default=3, help="full reads of the batch")
    parser.add_argument("--page", type=int, default=5000, help="GetRange limit")
    parser.add_argument(
        "--pure-python",
        action="store_true",
        help="the SDK's pure-Python codec instead of its native one (as on FC's runtimes)",
    )
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
            enable_native=not args.pure_python,
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
        cpu_per_row = []  # (client, server) CPU seconds per row
        for run in range(args.runs):
            start = [("batch", BATCH), ("code", INF_MIN)]
            end = [("batch", BATCH), ("code", INF_MAX)]
            read = 0
            client_cpu = time.process_time()
            server_cpu = _cpu_seconds(server.process.pid)
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
            cpu_per_row.append(
                (
                    (time.process_time() - client_cpu) / read,
                    (_cpu_seconds(server.process.pid) - server_cpu) / read,
                )
            )
            assert read == args.rows, (read, args.rows)
            rates.append(read / elapsed)
            print(f"run {run + 1}: {read:,} rows in {elapsed:.2f} s, {read / elapsed:,.0f} rows/s")
        print(
            f"GetRange on the index, pages of {args.page:,}: best {max(rates):,.0f} rows/s,"
            f" median {statistics.median(rates):,.0f} (Python {platform.python_version()}, SDK"
            f" {'pure-Python' if args.pure_python else 'native'} codec,"
            f" server and client on this machine, load average {os.getloadavg()[0]:.1f})"
        )
        client_us = statistics.median(c for c, _ in cpu_per_row) * 1e6
        server_us = statistics.median(s for _, s in cpu_per_row) * 1e6
        print(
            f"CPU per row (median): client {client_us:.1f} us + server {server_us:.1f} us;"
            f" one request at a time on an idle machine: {1e6 / (client_us + server_us):,.0f}"
            " rows/s"
        )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
