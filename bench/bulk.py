"""Benchmark: `make migrate` on 100,000 rows of the tutorial's table (part of `make bench`).

    python -m bench.bulk                     # 100,000 rows, the best of 2 runs
    python -m bench.bulk --rows 20000 --runs 1

ots_local runs as a subprocess on 127.0.0.1, in memory (as `make run` serves it, minus the
file). The tutorial's table is filled as its gen_code wrote it (not timed), then the migration
(tools.migrate, in this process, as `make migrate` runs it) copies every code into an empty
`codes` table: the time from the first read to the last write, in codes per second, against the
target of 10,000 codes/s. Printed as a table, saved as JSON under .local/bench/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from bench import report
from harness import ots_server, tables, tutorial
from tools import migrate

TARGET = 10_000  # codes per second


def measure(rows: int, runs: int) -> dict[str, float]:
    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    try:
        sdk = tables.client_for(server, timeout=30)
        tutorial.create(sdk)
        started = time.monotonic()
        tutorial.fill(sdk, rows, "2026-01-01 00:00:00", "2099-01-01 00:00:00", used_every=10)
        fill_s = time.monotonic() - started
        rates, cpu_rates = [], []
        pid = server.process.pid if server.process is not None else None
        for _ in range(runs):
            tables.recreate(sdk, tables.CODES)
            client = migrate.sdk_client(
                server.endpoint,
                server.access_key_id,
                server.access_key_secret,
                server.instance,
                None,
            )
            run = migrate.Migration(client, client)
            run.check()
            server_cpu = report.process_cpu_seconds(pid) if pid else None
            client_cpu = time.process_time()
            started = time.monotonic()
            counts = run.run()
            elapsed = time.monotonic() - started
            client_cpu = time.process_time() - client_cpu
            if pid and server_cpu is not None:
                server_cpu = (report.process_cpu_seconds(pid) or 0.0) - server_cpu
                # Two cores: the client and the server work in parallel; on an idle machine the
                # busier of the two (or half their sum) bounds the wall time from below.
                floor = max(client_cpu, server_cpu, (client_cpu + server_cpu) / 2)
                cpu_rates.append(rows / floor)
            if counts["written"] != rows:
                raise SystemExit(f"bench.bulk: {counts['written']} of {rows} codes written")
            rates.append(rows / elapsed)
        return {
            "rows": rows,
            "fill_s": fill_s,
            "best": max(rates),
            "median": statistics.median(rates),
            "cpu_bound": max(cpu_rates) if cpu_rates else 0.0,
        }
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bulk", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000, help="tutorial rows (100,000)")
    parser.add_argument("--runs", type=int, default=2, help="migrations of the same table (2)")
    parser.add_argument("--no-save", action="store_true", help="do not write .local/bench/")
    args = parser.parse_args(argv)
    machine = report.machine()
    print(f"machine: {report.describe(machine)}", flush=True)
    figures = measure(args.rows, args.runs)
    met = "yes" if figures["best"] >= TARGET else "NO"
    print(
        report.table(
            f"Migration of the tutorial's table (best and median of {args.runs}; Python "
            f"{sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f} at the end)",
            ["rows", "best", "median", "target", "met", "CPU bound (idle 2 cores)"],
            [
                [
                    f"{figures['rows']:,}",
                    f"{figures['best']:,.0f} codes/s",
                    f"{figures['median']:,.0f} codes/s",
                    f">= {TARGET:,}/s",
                    met,
                    f"{figures['cpu_bound']:,.0f} codes/s",
                ]
            ],
        )
    )
    if not args.no_save:
        print(f"raw figures: {report.shown(report.save('bulk', {'machine': machine, **figures}))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
