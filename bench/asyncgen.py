"""Benchmark: a batch of 1,000,000 codes generated asynchronously through the local stack
(part of `make bench`).

    python -m bench.asyncgen                      # 1,000,000 codes (a few minutes)
    python -m bench.asyncgen --count 200000
    python -m bench.asyncgen --quick              # 30,000 codes: proves the bench runs

`python -m localdev run` (what `make run` starts: the real template.yml, its settings, file-backed
ots_local, local FC instances behind the local API Gateway and FC API) runs as a subprocess on a
fresh data directory. In the same run, against the same stack:

1. the synchronous generator: POST /codes of MAX_CODES_PER_REQUEST (10,000) codes, one call
   after the other (`--sync-calls`, half of them before the batches below and half after, on a
   table then holding them: a write costs ots_local more in a bigger table, and the big batch
   grows it from empty to `--count` rows): codes/s of one gen_code call;
2. a small asynchronous batch (30,000): the worker instances' peak memory after it;
3. the big batch: POST /codes of `--count` codes (202), GET /batches/{batch} every second until
   READY: codes/s from the batch's `created_at` to its `generation.finished_at` (the functions'
   own clock: the poll's period and the figures the READY answer computes are left out), the
   progress seen, the workers' peak memory again (flat in the batch size: a chunk is 10,000
   codes, whatever the batch);
4. the CSV export of the big batch (GET /batches/{batch}/codes, pages of 5,000): every code
   exactly once.

The ratio of (3) to (1) is the figure (goal >= 0.8x: the fan-out adds little). CPU seconds are
taken from /proc for the stack's process (gateway, FC API, ots_local) and the function
instances, to say where the time goes. Printed as tables, saved as JSON under .local/bench/.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench import report
from harness import process, tables

READY_RE = re.compile(r"^localdev ready: url=(\S+) ots=(\S+)")
APP_KEY = "bench-app-key"
ADMIN = {"X-Ca-Key": APP_KEY, "Content-Type": "application/json"}
SYNC_COUNT = 10000  # MAX_CODES_PER_REQUEST in template.yml
SMALL = 30000
TARGET = 0.8


class Stack:
    """`python -m localdev run` on a fresh data directory, as `make run` starts it: the real
    template.yml, or a copy of it with `env` set in every function's environment and
    `properties` ({function: {property: value}}) set on functions (bench.chaos)."""

    def __init__(
        self,
        data_dir: str,
        runtime: str | None = None,
        max_instances: int = 4,
        env: dict[str, str] | None = None,
        properties: dict[str, dict[str, Any]] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "localdev",
            "run",
            "--port",
            "0",
            "--data-dir",
            data_dir,
            "--app-key",
            APP_KEY,
            "--no-throttle",
            "--no-function-logs",
            "--max-instances",
            str(max_instances),
            *extra_args,
        ]
        if env or properties:
            folder = str(Path(data_dir).parent)
            cmd += ["--template", str(template_copy(folder, env or {}, properties or {}))]
        if runtime:
            cmd += ["--runtime", runtime]
        self.proc, match, self.lines = process.start_and_wait(cmd, READY_RE, "localdev", 120)
        self.url, self.ots_endpoint = match.group(1), match.group(2)

    def banner(self, pattern: str) -> str:
        """The first group of `pattern` in the stack's banner lines."""
        for line in list(self.lines):
            found = re.search(pattern, line)
            if found:
                return found.group(1)
        raise RuntimeError(f"the stack's banner has no {pattern!r}")

    def ots_control(self, method: str, path: str, payload: Any = None) -> Any:
        """The stack's ots_local control plane (faults), with the token its banner prints."""
        token = self.banner(r"X-OTS-Local-Token: (\S+)")
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        url = f"{self.ots_endpoint}/__ots_local/{path}"
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (ours, local)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-OTS-Local-Token", token)
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw else None

    def sdk(self) -> Any:
        """A plain SDK client on the stack's Tablestore (the local keys its banner prints)."""
        key_id = self.banner(r"access key id (\S+),")
        secret = self.banner(r"secret (\S+)\)")
        instance = self.banner(r"\(instance (\S+), data")
        return tables.client(self.ots_endpoint, key_id, secret, instance, timeout=60)

    def request(self, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        # The stack's own address (http://127.0.0.1:port), from its ready line.
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        for key, value in (headers or ADMIN).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:  # noqa: S310
                return resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, raw, _ = self.request(method, path, body)
        return status, json.loads(raw)

    def pids(self, function: str) -> list[int]:
        _, health = self.json("GET", "/__localdev/health")
        return list(health["functions"].get(function, {}).get("instances", []))

    def stop(self) -> None:
        process.stop(self.proc, lambda p: p.send_signal(signal.SIGINT), 60)


def template_copy(folder: str, env: dict[str, str], properties: dict[str, dict[str, Any]]) -> Path:
    """template.yml in `folder` (its CodeUri aimed at the repository's functions/), with `env`
    in every function's environment and `properties` set on functions."""
    raw = yaml.safe_load((report.ROOT / "template.yml").read_text(encoding="utf-8"))
    for resource in raw["Resources"].values():
        for name, child in resource.items():
            if isinstance(child, dict) and child.get("Type") == "Aliyun::Serverless::Function":
                props = child["Properties"]
                props["CodeUri"] = str(report.ROOT / "functions")
                props["EnvironmentVariables"] = {**props["EnvironmentVariables"], **env}
                props.update(properties.get(name, {}))
    path = Path(folder) / "template.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def cpu(pids: list[int]) -> float:
    return sum(report.process_cpu_seconds(pid) or 0.0 for pid in pids)


def peak_rss_mib(pids: list[int]) -> float:
    """The largest peak resident set (VmHWM) among `pids`, MiB."""
    peak = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak / 1024


class Tally:
    """CPU seconds of the stack's process and of one function's instances over a span."""

    def __init__(self, stack: Stack, function: str) -> None:
        self.stack, self.function = stack, function
        self.start_stack = report.process_cpu_seconds(stack.proc.pid) or 0.0
        self.start_fn = {
            pid: report.process_cpu_seconds(pid) or 0.0 for pid in stack.pids(function)
        }
        self.started = time.monotonic()

    def end(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.started
        stack_cpu = (report.process_cpu_seconds(self.stack.proc.pid) or 0.0) - self.start_stack
        fn_cpu = 0.0
        for pid in self.stack.pids(self.function):
            fn_cpu += (report.process_cpu_seconds(pid) or 0.0) - self.start_fn.get(pid, 0.0)
        return {"wall_s": elapsed, "stack_cpu_s": stack_cpu, "function_cpu_s": fn_cpu}


def sync_rate(stack: Stack, calls: int) -> dict[str, Any]:
    tally = Tally(stack, "gen_code")
    for _ in range(calls):
        status, body = stack.json("POST", "/codes", {"count": SYNC_COUNT})
        if status != 201 or body["count"] != SYNC_COUNT:
            raise SystemExit(f"bench.asyncgen: a synchronous generate answered {status}")
    spent = tally.end()
    codes = calls * SYNC_COUNT
    return {"codes": codes, "rate": codes / spent["wall_s"], **spent}


def combined(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The synchronous figures of both halves together (and each half's rate)."""
    out = {k: before[k] + after[k] for k in ("codes", "wall_s", "stack_cpu_s", "function_cpu_s")}
    out["rate"] = out["codes"] / out["wall_s"]
    out["rate_before"], out["rate_after"] = before["rate"], after["rate"]
    return out


def async_batch(stack: Stack, count: int, label: str, watch: bool) -> dict[str, Any]:
    tally = Tally(stack, "gen_chunk")
    started = time.monotonic()
    status, body = stack.json("POST", "/codes", {"count": count, "batch": label})
    answered = time.monotonic() - started
    if status != 202:
        raise SystemExit(f"bench.asyncgen: the big generate answered {status}: {body}")
    seen = []
    while True:
        time.sleep(1.0 if watch else 0.25)
        _, info = stack.json("GET", f"/batches/{label}")
        generation = info["generation"]
        elapsed = time.monotonic() - started
        seen.append((round(elapsed, 1), generation["written"]))
        if watch:
            print(
                f"  {elapsed:6.1f} s  {generation['status']:<10} "
                f"{generation['written']:>10,} of {generation['total']:,} codes",
                flush=True,
            )
        if generation["status"] != "GENERATING":
            break
    if generation["status"] != "READY":
        raise SystemExit(f"bench.asyncgen: the batch ended {generation['status']}: {info}")
    spent = tally.end()
    # From the batch's creation to the moment the last chunk made it READY, as the functions
    # recorded them (the same clock): neither the poll's period nor the figures that the
    # READY answer computes (a scan of the whole batch index) count.
    generated_s = (
        datetime.fromisoformat(generation["finished_at"])
        - datetime.fromisoformat(info["created_at"])
    ).total_seconds()
    return {
        "codes": count,
        "rate": count / generated_s,
        "generated_s": generated_s,
        "answered_s": answered,
        "chunks": generation["chunks"],
        "progress": seen,
        "worker_peak_rss_mib": peak_rss_mib(stack.pids("gen_chunk")),
        **spent,
    }


def export(stack: Stack, label: str, count: int) -> dict[str, Any]:
    started = time.monotonic()
    cursor, seen, rows = None, set(), 0
    headers = dict(ADMIN, Accept="text/csv")
    while True:
        path = f"/batches/{label}/codes?limit=5000" + (f"&cursor={cursor}" if cursor else "")
        status, raw, head = stack.request("GET", path, headers=headers)
        if status != 200:
            raise SystemExit(f"bench.asyncgen: the export answered {status}: {raw[:300]!r}")
        for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
            seen.add(row["code"])
            rows += 1
        cursor = head.get("X-Next-Cursor")
        if not cursor:
            break
    elapsed = time.monotonic() - started
    if rows != count or len(seen) != count:
        raise SystemExit(f"bench.asyncgen: exported {rows} rows, {len(seen)} distinct, of {count}")
    return {"codes": rows, "distinct": len(seen), "wall_s": elapsed, "rate": rows / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.asyncgen", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--count", type=int, default=1_000_000, help="the big batch (1,000,000)")
    parser.add_argument("--sync-calls", type=int, default=10, help="synchronous calls (10)")
    parser.add_argument("--runtime", help="the functions' FC runtime (python3, python3.10)")
    parser.add_argument(
        "--max-instances", type=int, default=4, help="instances per function (4, as make run)"
    )
    parser.add_argument("--quick", action="store_true", help="30,000 codes: proves it runs")
    parser.add_argument("--no-export", action="store_true", help="skip the export")
    parser.add_argument("--no-save", action="store_true", help="do not write .local/bench/")
    args = parser.parse_args(argv)
    count, sync_calls = (SMALL, 2) if args.quick else (args.count, args.sync_calls)
    machine = report.machine()
    print(f"machine: {report.describe(machine)}", flush=True)
    data_dir = tempfile.mkdtemp(prefix="fc-codes-bench-async-")
    stack = Stack(f"{data_dir}/data", args.runtime, args.max_instances)
    try:
        print(f"local stack at {stack.url}; synchronous generator ({sync_calls} x 10,000)...")
        stack.json("POST", "/codes", {"count": 100})  # warm: the instance and its client
        before = sync_rate(stack, (sync_calls + 1) // 2)
        small = async_batch(stack, SMALL, "bench-small", watch=False)
        print(f"asynchronous batch of {count:,} codes:", flush=True)
        big = small if args.quick else async_batch(stack, count, "bench-big", watch=True)
        after = sync_rate(stack, sync_calls // 2)
        sync = combined(before, after)
        label = "bench-small" if args.quick else "bench-big"
        exported = None if args.no_export else export(stack, label, count)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    ratio = big["rate"] / sync["rate"]
    load = os.getloadavg()[0]

    def per_10k(part: dict[str, Any], key: str) -> str:
        return f"{part[key] / part['codes'] * 10000:.2f} s"

    rows = [
        [
            f"synchronous, {sync_calls} x 10,000",
            f"{sync['rate']:,.0f}/s",
            "1.00x",
            per_10k(sync, "function_cpu_s"),
            per_10k(sync, "stack_cpu_s"),
            "",
        ],
        [
            f"asynchronous, {SMALL:,}",
            f"{small['rate']:,.0f}/s",
            f"{small['rate'] / sync['rate']:.2f}x",
            per_10k(small, "function_cpu_s"),
            per_10k(small, "stack_cpu_s"),
            f"{small['worker_peak_rss_mib']:.0f} MiB",
        ],
    ]
    if not args.quick:
        rows.append(
            [
                f"asynchronous, {count:,}",
                f"{big['rate']:,.0f}/s",
                f"{ratio:.2f}x",
                per_10k(big, "function_cpu_s"),
                per_10k(big, "stack_cpu_s"),
                f"{big['worker_peak_rss_mib']:.0f} MiB",
            ]
        )
    print(
        report.table(
            f"Generation through the local stack (Python {sys.version.split()[0]} stack, "
            f"load average {load:.2f} at the end; target >= {TARGET}x)",
            [
                "run",
                "codes/s",
                "vs sync",
                "function CPU / 10k",
                "stack CPU / 10k",
                "worker peak RSS",
            ],
            rows,
        )
    )
    print(
        f"202 answered in {big['answered_s'] * 1000:.0f} ms; {big['chunks']} chunks; "
        f"target {'met' if ratio >= TARGET else 'MISSED'} ({ratio:.2f}x)"
    )
    if exported:
        print(
            f"export: {exported['codes']:,} codes, {exported['distinct']:,} distinct, "
            f"in {exported['wall_s']:.1f} s ({exported['rate']:,.0f} codes/s)"
        )
    if not args.no_save:
        figures = {
            "machine": machine,
            "sync": sync,
            "small": small,
            "big": big,
            "ratio": ratio,
            "export": exported,
            "load_average_end": load,
        }
        print(f"raw figures: {report.shown(report.save('asyncgen', figures))}")
    print(
        f"synchronous before the batches {sync['rate_before']:,.0f}/s, "
        f"after {sync['rate_after']:,.0f}/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
