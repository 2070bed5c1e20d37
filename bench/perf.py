"""`make bench`: fc-codes' figures per FC runtime, each beside the naive approach it replaces.

    python -m bench                      # everything, a few minutes
    python -m bench --runtimes 3.12      # one runtime
    python -m bench --quick              # tiny sizes: proves the bench works; no figures

One local Tablestore server (`ots_local`, in memory, under this interpreter) serves every
runtime; each runtime's interpreter runs `bench.worker`, which calls the real handlers and the
real SDK of that runtime (Python 3.6 + tablestore 5.1.0, 3.10 + 5.4.1, 3.12 + 6.x). Store
latency is the server's `latency` fault. Loopback only. Ratios are measured within one run, so a
noisy machine slows both sides alike; the absolute figures are this machine's.

Printed tables (docs/bench.md explains every column) and the raw figures as JSON under
.local/bench/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import report
from fccodes import api
from harness import ots_server

ROOT = report.ROOT
# The FC runtimes' virtualenvs, as `make test` builds them; the newest runtime is this
# interpreter (the dev venv: Python 3.12 with tablestore 6.x and its native codec).
RUNTIME_VENVS = (("3.6", ".venv-py36"), ("3.10", ".venv-py310"))
HANDLERS = api.FUNCTIONS  # the handler modules, as the API declares them

# Targets from the issue: generate >= 50x the per-row loop at 5 ms and >= 3x the sequential
# batches at 20 ms; redeem <= 1.3x the bare UpdateRow; handler import <= 1.15x `import tablestore`.
ROWLOOP_TARGET = (5, 50.0)
BATCHES_TARGET = (20, 3.0)
REDEEM_TARGET = 1.3
COLD_TARGET = 1.15


@dataclass
class Sizes:
    """How much to measure; `QUICK` only proves the bench runs."""

    codes: int = 10000
    latencies: tuple[int, ...] = (0, 5, 20)
    rowloop_sample: dict[int, int] = field(default_factory=lambda: {0: 1000, 5: 400})
    repeat: int = 3
    single_client: int = 100  # redemptions per round, one client
    clients: int = 16
    per_client: int = 10  # redemptions per client per round, N clients
    # Handler and bare alternate, round after round: short rounds, so that a machine whose load
    # drifts (a shared one) weighs on both alike.
    rounds: int = 8
    own_calls: int = 250  # the handler's own code, warm: rounds of this many calls
    own_rounds: int = 40
    cold_repeat: int = 9


FULL = Sizes()
QUICK = Sizes(
    codes=400,
    latencies=(0, 5, 20),
    rowloop_sample={0: 40, 5: 20},
    repeat=1,
    single_client=20,
    clients=4,
    per_client=5,
    rounds=1,
    own_calls=20,
    own_rounds=2,
    cold_repeat=1,
)


class WorkerError(RuntimeError):
    """A command failed inside a runtime's worker; the message carries its error and stderr."""


class Worker:
    """A `bench.worker` process in one runtime's interpreter, driven line by line."""

    def __init__(self, python: Path, server: ots_server.OTSServer) -> None:
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "functions")]),
            OTS_ENDPOINT=server.endpoint,
            OTS_INSTANCE=server.instance,
            CODES_TABLE="codes",
            ALIBABA_CLOUD_ACCESS_KEY_ID=server.access_key_id,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=server.access_key_secret,
        )
        self.stderr: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreters)
            [str(python), "-m", "bench.worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        answer: dict[str, Any] = (
            json.loads(line) if line else {"ok": False, "error": "the worker exited"}
        )
        if not answer["ok"]:
            self.stderr.seek(0)
            raise WorkerError(f"{op}: {answer['error']}\n{self.stderr.read()[-3000:]}")
        return dict(answer["result"])

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.stderr.close()


# --- measurements ------------------------------------------------------------------------------
def set_latency(server: ots_server.OTSServer, ms: int) -> None:
    server.clear_faults()
    if ms:
        server.add_fault("latency", latency_ms=ms)


def server_cpu(server: ots_server.OTSServer) -> float | None:
    assert server.process is not None
    return report.process_cpu_seconds(server.process.pid)


def timed_on_server(server: ots_server.OTSServer, run: Any) -> tuple[dict[str, Any], float | None]:
    """run() and the server's CPU seconds during it (None where /proc is unavailable)."""
    before = server_cpu(server)
    result = run()
    after = server_cpu(server)
    return result, None if before is None or after is None else after - before


def measure_generation(w: Worker, server: ots_server.OTSServer, sizes: Sizes) -> dict[str, Any]:
    n = sizes.codes
    # Warm up: connections, lazily imported modules, the server's code paths.
    w.call("fresh_table")
    w.call("gen_handler", count=min(n, 400))
    w.call("gen_batches", count=min(n, 400))
    w.call("gen_rowloop", count=20)
    encode = [w.call("encode", count=n)["seconds"] for _ in range(sizes.repeat)]
    by_latency: dict[str, Any] = {}
    for ms in sizes.latencies:
        set_latency(server, ms)
        handler, handler_cpu, handler_server, batches, batches_server = [], [], [], [], []
        for _ in range(sizes.repeat):  # alternate, so drift in the machine's load hits both
            w.call("fresh_table")
            result, cpu = timed_on_server(server, lambda: w.call("gen_handler", count=n))
            handler.append(result["seconds"])
            handler_cpu.append(result["cpu"])
            handler_server.append(cpu)
            w.call("fresh_table")
            result, cpu = timed_on_server(server, lambda: w.call("gen_batches", count=n))
            batches.append(result["seconds"])
            batches_server.append(cpu)
        entry: dict[str, Any] = {
            "handler_s": handler,
            "handler_client_cpu_s": handler_cpu,
            "handler_server_cpu_s": handler_server,
            "batches_s": batches,
            "batches_server_cpu_s": batches_server,
        }
        sample = sizes.rowloop_sample.get(ms)
        if sample:
            w.call("fresh_table")
            seconds = w.call("gen_rowloop", count=sample)["seconds"]
            entry["rowloop_sample"] = sample
            entry["rowloop_sample_s"] = seconds
            entry["rowloop_s"] = seconds / sample * n  # scaled to the same number of codes
        by_latency[str(ms)] = entry
    set_latency(server, 0)
    w.call("fresh_table")
    memory = w.call("gen_memory", count=n)["peak_bytes"]
    server_times = [t for t in by_latency["0"]["batches_server_cpu_s"] if t is not None]
    floor = None
    if server_times:
        floor = {
            "encode_s": statistics.median(encode),
            "server_s": statistics.median(server_times),
        }
        floor["total_s"] = floor["encode_s"] + floor["server_s"]
    return {
        "codes": n,
        "encode_s": encode,
        "latency_ms": by_latency,
        "floor": floor,
        "peak_python_bytes": memory,
    }


def measure_redemption(w: Worker, server: ots_server.OTSServer, sizes: Sizes) -> dict[str, Any]:
    set_latency(server, 0)
    w.call("fresh_table")
    shapes = ((1, sizes.single_client), (sizes.clients, sizes.per_client))
    needed = sizes.rounds * 2 * sum(c * k for c, k in shapes) + 10
    w.call("prepare_codes", count=needed)
    w.call("redeem", mode="handler", clients=1, per_client=5)  # warm up both paths
    w.call("redeem", mode="bare", clients=1, per_client=5)
    samples: dict[str, dict[str, Any]] = {}
    for clients, per_client in shapes:
        for mode in ("handler", "bare"):
            samples[f"{mode}/{clients}"] = {"latencies": [], "wall": 0.0, "cpu": 0.0}
        for _ in range(sizes.rounds):
            for mode in ("handler", "bare"):
                result = w.call("redeem", mode=mode, clients=clients, per_client=per_client)
                into = samples[f"{mode}/{clients}"]
                into["latencies"].extend(result["latencies"])
                into["wall"] += result["wall"]
                into["cpu"] += result["cpu"]
    own = w.call("own_cost", calls=sizes.own_calls, rounds=sizes.own_rounds)
    summary: dict[str, Any] = {"own_us": own["us"]}
    for key, sample in samples.items():
        latencies = sorted(sample["latencies"])
        summary[key] = {
            "n": len(latencies),
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "ops_per_s": len(latencies) / sample["wall"],
            "cpu_us": sample["cpu"] / len(latencies) * 1e6,  # the client process's, per call
        }
    return summary


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


# In a fresh process: `import tablestore` alone, then the handler module on top of it. Their sum
# is the handler's cold import (the SDK is the first thing it imports), and the two parts come
# from the same process, so a machine that is busier for one process than another does not
# skew the ratio.
IMPORT_PROBE = (
    "import time\n"
    "c0 = time.process_time()\n"
    "import tablestore\n"
    "c1 = time.process_time()\n"
    "import {module}\n"
    "print(c1 - c0, time.process_time() - c0)\n"
)


def measure_cold_start(python: Path, sizes: Sizes) -> dict[str, Any]:
    """Import CPU time of each handler module vs `import tablestore`, in fresh processes.

    FC's code directory is read-only and our package ships no bytecode, so `functions/` is
    copied without __pycache__ and imported with PYTHONDONTWRITEBYTECODE=1: it is compiled on
    every cold start, as on FC. The SDK keeps the bytecode pip compiled when installing it.
    """
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in HANDLERS}
    with tempfile.TemporaryDirectory(prefix="fc-codes-cold-") as package:
        code = Path(package) / "code"
        shutil.copytree(
            ROOT / "functions", code, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(code))
        for _ in range(sizes.cold_repeat):
            for module in HANDLERS:  # round-robin: load drift hits every module alike
                out = subprocess.run(  # noqa: S603 (our own interpreters)
                    [str(python), "-c", IMPORT_PROBE.format(module=module)],
                    cwd=package,
                    env=env,
                    check=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                ).stdout.split()
                runs[module].append((float(out[0]), float(out[1])))
    return {
        module: {
            "tablestore_ms": statistics.median(t for t, _ in pairs) * 1000,
            "module_ms": statistics.median(m for _, m in pairs) * 1000,
            "ratio": statistics.median(m / t for t, m in pairs),
            "runs": len(pairs),
        }
        for module, pairs in runs.items()
    }


# --- tables ------------------------------------------------------------------------------------
def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def generation_rows(name: str, info: dict[str, Any], g: dict[str, Any]) -> list[list[Any]]:
    rows = []
    floor = g["floor"]
    floor_text = _s(floor["total_s"]) if floor else "n/a"
    for ms, entry in g["latency_ms"].items():
        handler = statistics.median(entry["handler_s"])
        baselines = []
        if "rowloop_s" in entry:
            baselines.append(("per-row PutRow loop", entry["rowloop_s"], ROWLOOP_TARGET, True))
        baselines.append(
            ("sequential batches", statistics.median(entry["batches_s"]), BATCHES_TARGET, False)
        )
        for label, baseline, (target_ms, target), scaled in baselines:
            ratio = baseline / handler
            has_target = int(ms) == target_ms
            rows.append(
                [
                    runtime_label(name, info),
                    f"{ms} ms",
                    _s(handler),
                    label,
                    _s(baseline) + ("*" if scaled else ""),
                    _ratio(ratio),
                    f">={target:g}x" if has_target else "",
                    _met(ratio >= target) if has_target else "",
                    floor_text,
                    _ratio(baseline / floor["total_s"]) if floor else "",
                ]
            )
    return rows


def runtime_label(name: str, info: dict[str, Any]) -> str:
    codec = "native" if info["codec"].startswith("native") else "pure-Py"
    return f"{info['python']} / {info['tablestore']} {codec}"


# Which tables each part of the bench fills (--only measures some parts).
PARTS = ("generation", "redemption", "cold_start")


def print_tables(results: dict[str, Any], sizes: Sizes) -> list[str]:
    runtimes = results["runtimes"]
    measured = [part for part in PARTS if all(part in r for r in runtimes.values())]
    out: list[str] = []
    rows: list[list[Any]]
    if "generation" in measured:
        rows = []
        for name, r in runtimes.items():
            rows += generation_rows(name, r["info"], r["generation"])
        out.append(
            report.table(
                f"Generation: {sizes.codes:,} codes in one gen_code call vs the tutorial's "
                f"approaches (median of {sizes.repeat}; * = timed on a sample, scaled)",
                [
                    "runtime (Python / tablestore)",
                    "latency",
                    "gen_code",
                    "baseline",
                    "baseline time",
                    "ratio",
                    "target",
                    "met",
                    "CPU floor",
                    "baseline/floor",
                ],
                rows,
            )
        )
    if "generation" in measured:
        rows = []
        for name, r in runtimes.items():
            g = r["generation"]
            floor = g["floor"] or {}
            zero = g["latency_ms"]["0"]
            rows.append(
                [
                    runtime_label(name, r["info"]),
                    _s(floor["encode_s"]) if floor else "n/a",
                    _s(floor["server_s"]) if floor else "n/a",
                    _s(floor["total_s"]) if floor else "n/a",
                    _s(statistics.median(zero["handler_s"])),
                    _s(statistics.median(zero["handler_client_cpu_s"])),
                    f"{g['peak_python_bytes'] / 2**20:.1f} MiB",
                ]
            )
        out.append(
            report.table(
                f"CPU floor for {sizes.codes:,} codes at 0 ms, and the handler's peak memory",
                [
                    "runtime (Python / tablestore)",
                    "SDK encode",
                    "server CPU",
                    "floor",
                    "gen_code wall",
                    "gen_code client CPU",
                    "peak Python memory",
                ],
                rows,
            )
        )
    if "redemption" in measured:
        rows = []
        for name, r in runtimes.items():
            red = r["redemption"]
            for clients in (1, sizes.clients):
                h, b = red[f"handler/{clients}"], red[f"bare/{clients}"]
                for metric, hv, bv, ratio, has_target in (
                    ("p50", h["p50_ms"], b["p50_ms"], h["p50_ms"] / b["p50_ms"], True),
                    ("p99", h["p99_ms"], b["p99_ms"], h["p99_ms"] / b["p99_ms"], False),
                    (
                        "ops/s",
                        h["ops_per_s"],
                        b["ops_per_s"],
                        b["ops_per_s"] / h["ops_per_s"],
                        True,
                    ),
                    ("CPU/call", h["cpu_us"], b["cpu_us"], h["cpu_us"] / b["cpu_us"], False),
                ):
                    unit = {"ops/s": "", "CPU/call": " us"}.get(metric, " ms")
                    rows.append(
                        [
                            runtime_label(name, r["info"]),
                            clients,
                            metric,
                            f"{hv:.{2 if unit == ' ms' else 0}f}{unit}",
                            f"{bv:.{2 if unit == ' ms' else 0}f}{unit}",
                            _ratio(ratio),
                            f"<={REDEEM_TARGET:g}x" if has_target else "",
                            _met(ratio <= REDEEM_TARGET) if has_target else "",
                        ]
                    )
            if "own_us" in red:  # the handler's own code, warm; ratio: its share of bare CPU
                own, bare_cpu = red["own_us"], red["bare/1"]["cpu_us"]
                rows.append(
                    [
                        runtime_label(name, r["info"]),
                        "",
                        "code, warm",
                        f"{own:.0f} us",
                        "",
                        f"{own / bare_cpu:.0%}",
                        "",
                        "",
                    ]
                )
        out.append(
            report.table(
                "Redemption: use_code vs the same conditional UpdateRow sent with the bare SDK "
                "(ratio = cost of the handler: latency, or throughput inverted; `code, warm`: "
                "the handler's own code per call over a store that answers at once, as a share "
                "of the bare call's CPU)",
                [
                    "runtime (Python / tablestore)",
                    "clients",
                    "metric",
                    "use_code",
                    "bare",
                    "ratio",
                    "target",
                    "met",
                ],
                rows,
            )
        )
    if "cold_start" in measured:
        rows = []
        for name, r in runtimes.items():
            for module, cold in r["cold_start"].items():
                rows.append(
                    [
                        runtime_label(name, r["info"]),
                        f"import {module}",
                        f"{cold['module_ms']:.0f} ms",
                        f"{cold['tablestore_ms']:.0f} ms",
                        _ratio(cold["ratio"]),
                        f"<={COLD_TARGET:g}x",
                        _met(cold["ratio"] <= COLD_TARGET),
                    ]
                )
        out.append(
            report.table(
                "Cold start: a handler's import in a fresh process, functions/ without bytecode, "
                f"vs its `import tablestore` (CPU ms, medians of {sizes.cold_repeat} processes)",
                [
                    "runtime (Python / tablestore)",
                    "module",
                    "import",
                    "tablestore",
                    "ratio",
                    "target",
                    "met",
                ],
                rows,
            )
        )
    return out


# --- main --------------------------------------------------------------------------------------
def available_runtimes(wanted: list[str] | None) -> tuple[list[tuple[str, Path]], list[str]]:
    """(name, python) of each runtime to measure, and notes on those that are not built."""
    runtimes = [(name, ROOT / venv / "bin" / "python") for name, venv in RUNTIME_VENVS]
    runtimes.append(("%d.%d" % sys.version_info[:2], Path(sys.executable)))
    found, missing = [], []
    for name, python in runtimes:
        if wanted and name not in wanted:
            continue
        if python.exists():
            found.append((name, python))
        else:
            target = "make test-py" + name.replace(".", "")
            missing.append(f"Python {name} ({python.parent.parent.name} not built: {target})")
    return found, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check the bench works")
    parser.add_argument("--runtimes", nargs="+", metavar="X.Y", help="e.g. 3.6 3.12 (default: all)")
    parser.add_argument("--no-save", action="store_true", help="do not write .local/bench/")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        metavar="PART",
        help="measure only these parts: %s (default: all)" % ", ".join(PARTS),
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    runtimes, missing = available_runtimes(args.runtimes)
    for note in missing:
        print(f"SKIPPED {note}", flush=True)
    if not runtimes:
        print("no runtime to measure", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"machine": report.machine(), "sizes": sizes.__dict__, "runtimes": {}}
    print(f"machine: {report.describe(results['machine'])}", flush=True)
    server = ots_server.start(use_real=False, extra_args=["--quiet"], python=sys.executable)
    try:
        results["server"] = {"python": sys.version.split()[0], "endpoint": server.endpoint}
        for name, python in runtimes:
            worker = Worker(python, server)
            try:
                info = worker.call("info")
                print(
                    f"measuring {runtime_label(name, info)} ({info['codec']} codec) ...", flush=True
                )
                entry: dict[str, Any] = {"info": info, "seconds": {}}
                for part, measure in (
                    ("generation", measure_generation),
                    ("redemption", measure_redemption),
                ):
                    if part not in args.only:
                        continue
                    began = time.monotonic()
                    entry[part] = measure(worker, server, sizes)
                    entry["seconds"][part] = round(time.monotonic() - began, 1)
            finally:
                worker.close()
            if "cold_start" in args.only:
                began = time.monotonic()
                entry["cold_start"] = measure_cold_start(python, sizes)
                entry["seconds"]["cold_start"] = round(time.monotonic() - began, 1)
            results["runtimes"][name] = entry
    finally:
        server.stop()
    tables = print_tables(results, sizes)
    print()
    print("\n\n".join(tables))
    if missing:
        print("\nnot measured: " + "; ".join(missing))
    if not args.no_save:
        print(f"\nraw figures: {report.shown(report.save('bench', results))}")
    return 0
