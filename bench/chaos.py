"""`make chaos`: races, store faults, a server crash and fuzzed events; non-zero on any violation.

    python -m bench.chaos                 # the full drill, a few minutes
    python -m bench.chaos --quick         # the reduced drill `make test` runs (under a minute)
    python -m bench.chaos --seed 7 --only races faults

Every part calls the real handlers in this process with FC-shaped events and context, against the
local Tablestore server (`ots_local`) started as a subprocess on 127.0.0.1:

- races: T threads redeem each of C codes, all in the same order (single-use, then
  `max_uses = 5`); successes per code must equal `max_uses` exactly, as must the stored `uses`.
- faults: generate calls under random fault schedules of the server (busy, timeout, dropped
  before / after applying, latency); every call must end all-or-nothing: no returned code missing
  from the store (lost), no stored row that no successful caller holds (phantom).
- crash: the server keeps its data in a file and is killed with SIGKILL during a redeem load,
  then restarted on the same file: every acknowledged redemption must be there, no code that
  nobody tried may be used, and each caller that got no answer must succeed on retrying.
- fuzz: generated hostile events per handler (bench.fuzz): no status 500, no malformed error, no
  leaked traceback or internal name.
- migrate: `make migrate` (tools.migrate, a subprocess) on a table filled as the tutorial's
  gen_code did, SIGKILLed part-way several times, then run to the end: every tutorial code must
  be in fc-codes exactly once, with its state, and nothing else.
- campaigns: a batch disable racing T redeeming threads (no success of a redemption that started
  after disable returned); `per_user_limit = 1` with T threads of one user over 50 codes
  (exactly one success); rollbacks racing redemptions (`uses` never below 0 nor above
  `max_uses`, the log agreeing); a paged export while codes are redeemed and the store fails
  at random (every code exactly once); the batch figures after concurrent redemptions (equal to
  the rows).
- async: a batch generated asynchronously through the whole local stack (`python -m localdev
  run`: gen_code, the local FC API's queue and retries, the worker instances) while the store
  fails at random and worker instances are killed (SIGKILL) mid-chunk: it must end READY with
  exactly the codes asked for (stored, and exported once each), or FAILED with none left
  behind; never READY with a code missing, never a state that goes back.

Counts are printed as a table and written as JSON under .local/bench/.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import admin_code
import batch_code

import del_code
import gen_code
import query_code
import use_code
from bench import asyncgen, fuzz, report
from fccodes import app
from fccodes.settings import Settings
from harness import ots_server, tables, tutorial
from harness.fc import FCContext, server_credentials

TABLE = tables.CODES
ROOT = Path(__file__).resolve().parent.parent
HANDLERS = (
    ("generate", gen_code),
    ("redeem", use_code),
    ("query", query_code),
    ("delete", del_code),
    *(
        (name, admin_code if "{code}" in path else batch_code)
        for name, (_, path, _) in fuzz.CAMPAIGN.items()
    ),
)


@dataclass
class Sizes:
    race_threads: int = 64
    race_codes: int = 1000
    fault_calls: int = 100
    fault_max_codes: int = 1000
    crash_cycles: int = 3
    crash_codes: int = 3000
    crash_threads: int = 8
    fuzz_events: int = 10000  # per handler
    migrate_rows: int = 60000
    migrate_kills: int = 3
    campaign_codes: int = 3000  # in the batch that is disabled, and in the exported one
    async_codes: int = 200000  # the batch generated asynchronously
    async_chunk: int = 10000  # GEN_CHUNK_SIZE (the template's)
    async_kills: int = 3  # worker instances killed mid-chunk


FULL = Sizes()
QUICK = Sizes(
    race_threads=16,
    race_codes=60,
    fault_calls=12,
    fault_max_codes=400,
    crash_cycles=1,
    crash_codes=600,
    crash_threads=4,
    fuzz_events=800,
    migrate_rows=3000,
    migrate_kills=1,
    campaign_codes=400,
    async_codes=20000,
    async_chunk=2000,
    async_kills=1,
)
PARTS = ("races", "faults", "crash", "fuzz", "migrate", "campaigns", "async")
FUNCTION_LOG = "chaos-functions.log"


@dataclass
class Check:
    """One line of the report: a count, and for a violation count the value it must have."""

    part: str
    name: str
    value: int
    must_be: int | None = None  # None: informational

    @property
    def ok(self) -> bool:
        return self.must_be is None or self.value == self.must_be


@dataclass
class Result:
    """Everything a chaos run counted, and the details of its first violations."""

    seed: int
    checks: list[Check] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # details of the first violations
    details: dict[str, Any] = field(default_factory=dict)  # more counts, for the JSON only
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, name: str, value: int, must_be: int | None = None) -> None:
        self.checks.append(Check(part, name, value, must_be))

    def example(self, text: str) -> None:
        if len(self.examples) < 20:
            self.examples.append(text)

    @property
    def violations(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def text(self) -> str:
        rows = [
            [
                c.part,
                c.name,
                f"{c.value:,}",
                "" if c.must_be is None else f"{c.must_be:,}",
                "" if c.must_be is None else ("ok" if c.ok else "VIOLATION"),
            ]
            for c in self.checks
        ]
        parts = ", ".join(f"{p} {s:.1f} s" for p, s in self.seconds.items())
        out = report.table(
            f"Chaos (seed {self.seed}; {parts})", ["part", "count", "value", "must be", ""], rows
        )
        if self.examples:
            out += "\n" + "\n".join("  " + e for e in self.examples)
        return out


# --- the set-up every part shares --------------------------------------------------------------
class Harness:
    """The local server, an SDK client on it, and the handlers' Runtime aimed at it."""

    def __init__(self, server: ots_server.OTSServer) -> None:
        self.server = server
        self.sdk = tables.client_for(server, timeout=30)

    def context(self, timeout: float = 30) -> FCContext:
        return FCContext(
            request_id="bench", credentials=server_credentials(self.server), timeout=timeout
        )

    def install(self, **settings: Any) -> None:
        """Configure the handlers as FC would from the environment (plus `settings`)."""
        app.configure(app.Runtime(Settings(self.server.endpoint, self.server.instance, **settings)))

    def fresh_table(self) -> None:
        self.server.reset()
        tables.create_service_tables(self.sdk, TABLE)

    def rows(self, columns: list[str]) -> dict[str, dict[str, Any]]:
        """{key: {column: value}} of the whole table (a scan: checks only)."""
        found: dict[str, dict[str, Any]] = tables.scan(self.sdk, TABLE, columns)
        return found


def invoke(module: Any, params: dict[str, Any], context: FCContext) -> dict[str, Any]:
    """A direct invocation, as the console or an SDK makes it: JSON bytes in, JSON body out."""
    body: dict[str, Any] = json.loads(module.handler(json.dumps(params).encode(), context))
    return body


def generate(harness: Harness, count: int, **params: Any) -> list[str]:
    codes: list[str] = []
    while len(codes) < count:
        step = min(count - len(codes), 10000)
        body = invoke(gen_code, {"count": step, **params}, harness.context())
        if body.get("count") != step:
            raise RuntimeError(f"could not generate the codes to test with: {body}")
        codes += body["codes"]
    return codes


def key(code: str) -> str:
    return code.replace("-", "")


# --- races ---------------------------------------------------------------------------------------
RACE_KINDS = ((1, "single-use"), (5, "max_uses=5"))


def races(harness: Harness, sizes: Sizes, rng: random.Random, result: Result) -> None:
    """Every thread redeems every code, all in the same order: each code is raced by all."""
    harness.fresh_table()
    harness.install()
    per_kind = sizes.race_codes // len(RACE_KINDS)
    batches = [generate(harness, per_kind, max_uses=max_uses) for max_uses, _ in RACE_KINDS]
    # Interleaved, so that both kinds are raced at the same time.
    plan = [
        (code, max_uses, label)
        for row in zip(*batches, strict=True)
        for code, (max_uses, label) in zip(row, RACE_KINDS, strict=True)
    ]
    outcomes: list[Counter[str]] = [Counter() for _ in plan]
    lock = threading.Lock()
    start = threading.Barrier(sizes.race_threads)

    def racer(number: int) -> None:
        context = harness.context()
        mine: list[tuple[int, str]] = []
        start.wait()
        for i, (code, _, _) in enumerate(plan):
            body = invoke(use_code, {"code": code, "user_id": f"racer-{number}"}, context)
            if "error" in body:
                mine.append((i, body["error"]["code"]))
            else:
                mine.append((i, "replay" if body["replay"] else "ok"))
        with lock:
            for i, outcome in mine:
                outcomes[i][outcome] += 1

    threads = [
        threading.Thread(target=racer, args=(n,), daemon=True) for n in range(sizes.race_threads)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = harness.rows(["uses", "state"])
    for max_uses, label in RACE_KINDS:
        over = under = mismatched = 0
        totals: Counter[str] = Counter()
        codes = 0
        for (code, kind_max_uses, _), outcome in zip(plan, outcomes, strict=True):
            if kind_max_uses != max_uses:
                continue
            codes += 1
            totals.update(outcome)
            successes = outcome["ok"]
            over += max(0, successes - max_uses)
            under += successes < max_uses
            row = stored.get(key(code), {})
            if (row.get("uses"), row.get("state")) != (successes, "USED"):
                mismatched += 1
                result.example(f"races {label}: {code} answered {dict(outcome)}, stored {row}")
        attempts = sum(totals.values())
        name = f"{label} ({codes} codes)"
        result.add("races", f"{name}: attempts by {sizes.race_threads} threads", attempts)
        result.add("races", f"{name}: successes", totals["ok"], codes * max_uses)
        result.add("races", f"{name}: over-redemptions", over, 0)
        result.add("races", f"{name}: codes short of max_uses", under, 0)
        result.add("races", f"{name}: stored uses != successes", mismatched, 0)
        result.add("races", f"{name}: replays for another user", totals["replay"], 0)
        result.add("races", f"{name}: CODE_ALREADY_USED", totals["CODE_ALREADY_USED"])
        others = attempts - totals["ok"] - totals["replay"] - totals["CODE_ALREADY_USED"]
        result.add("races", f"{name}: other answers (contention 503)", others)


# --- faults --------------------------------------------------------------------------------------
FAULT_KINDS = ("busy", "timeout", "drop_before", "drop_after", "latency")
FAULT_APIS = (None, "BatchWriteRow", "BatchWriteRow", "BatchGetRow")
OTS_TIMEOUT = 1.0  # seconds per store request in this part: latency faults stay well below it
MAX_LATENCY_MS = 200  # x 3 faults at most: 0.6 s < OTS_TIMEOUT
# A call may spend 90% of the function's timeout (3.6 s), writing for 60% of that (2.16 s); the
# store recovers after at most 2.6 s, so a failed call has a healthy store for 1 s to clean up.
# (An outage that outlasts the whole call leaves rows the call names: cleanup_complete=false,
# the contract's best effort. That is documented, not drilled.)
FUNCTION_TIMEOUT = 4
MAX_OUTAGE = 2.6


def fault_schedule(rng: random.Random) -> tuple[list[dict[str, Any]], float]:
    """1-3 random faults (kind, API or all, a count or a probability), and how long they last."""
    schedule = []
    for _ in range(rng.randint(1, 3)):
        fault: dict[str, Any] = {"kind": rng.choice(FAULT_KINDS)}
        api = rng.choice(FAULT_APIS)
        if api:
            fault["api"] = api
        if rng.random() < 0.4:
            fault["count"] = rng.randint(1, 15)
        else:
            fault["probability"] = round(rng.uniform(0.02, 0.95), 2)
        if fault["kind"] == "latency":
            fault["latency_ms"] = rng.randint(1, MAX_LATENCY_MS)
        schedule.append(fault)
    return schedule, round(rng.uniform(0.05, MAX_OUTAGE), 2)


def faults(harness: Harness, sizes: Sizes, rng: random.Random, result: Result) -> None:
    harness.fresh_table()
    harness.install(ots_timeout=OTS_TIMEOUT)
    context = harness.context(FUNCTION_TIMEOUT)
    calls = []
    fired: list[int] = []
    for i in range(sizes.fault_calls):
        schedule, outage = fault_schedule(rng)
        # Log-uniform: as many one-request calls as calls of several parallel chunks.
        count = round(10 ** rng.uniform(0, math.log10(sizes.fault_max_codes)))
        batch = f"chaos-{i}"
        ended: list[bool] = []

        def end_outage(ended: list[bool] = ended) -> None:
            fired.append(sum(f["fired"] for f in harness.server.faults()["faults"]))
            harness.server.clear_faults()
            ended.append(True)

        for fault in schedule:
            harness.server.add_fault(**fault)
        timer = threading.Timer(outage, end_outage)
        timer.start()
        body = invoke(gen_code, {"count": count, "batch": batch}, context)
        timer.cancel()
        timer.join()
        if not ended:  # the call was over before the outage
            end_outage()
        calls.append((batch, count, schedule, body))
    tally = tally_generate_calls(calls, harness.rows(["batch", "nonce"]))
    for line in tally.pop("examples"):
        result.example(line)
    result.add("faults", "generate calls", len(calls))
    result.add("faults", "succeeded", tally["succeeded"])
    result.add("faults", "failed with STORE_UNAVAILABLE", tally["failed"])
    result.add("faults", "...of which said cleanup incomplete", tally["incomplete"])
    result.add("faults", "faults fired (not counting expired ones)", sum(fired))
    result.add("faults", "codes returned", tally["returned"])
    result.add("faults", "rows stored", tally["stored"])
    result.add("faults", "other answers", tally["wrong"], 0)
    result.add("faults", "lost (returned, not stored)", tally["lost"], 0)
    result.add("faults", "phantoms (stored, held by no caller)", tally["phantoms"], 0)


def tally_generate_calls(
    calls: list[tuple[str, int, Any, dict[str, Any]]], stored: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Account for generate calls (batch, count, schedule, body) against the stored rows.

    A success must return `count` distinct codes, each stored under its batch; a failure must be
    STORE_UNAVAILABLE. Lost: returned but not stored. Phantom: stored but returned by no success
    (a failed call's row, or nobody's).
    """
    held: dict[str, str] = {}  # key -> batch of the successful call that returned it
    tally: dict[str, Any] = dict.fromkeys(("succeeded", "failed", "incomplete", "wrong", "lost"), 0)
    examples = []
    said_incomplete = set()
    for batch, count, schedule, body in calls:
        if "codes" in body and body.get("count") == count == len(set(body["codes"])):
            tally["succeeded"] += 1
            for code in body["codes"]:
                held[key(code)] = batch
                if stored.get(key(code), {}).get("batch") != batch:
                    tally["lost"] += 1
                    examples.append(f"faults: {batch} returned {code}, not stored; {schedule}")
        elif body.get("error", {}).get("code") == "STORE_UNAVAILABLE":
            tally["failed"] += 1
            if body["error"].get("cleanup_complete") is False:
                tally["incomplete"] += 1
                said_incomplete.add(batch)
        else:
            tally["wrong"] += 1
            examples.append(f"faults: {batch} answered {json.dumps(body)[:300]}")
    phantoms = [k for k in stored if k not in held]
    for k in phantoms[:5]:
        owner = stored[k].get("batch")
        note = " (the call said cleanup incomplete)" if owner in said_incomplete else ""
        examples.append(f"faults: phantom row {k} of {owner}{note}")
    tally.update(
        returned=len(held), stored=len(stored), phantoms=len(phantoms), examples=examples[:10]
    )
    return tally


# --- crash ---------------------------------------------------------------------------------------
def crash(sizes: Sizes, rng: random.Random, result: Result) -> None:
    folder = tempfile.mkdtemp(prefix="fc-codes-chaos-")
    data = f"{folder}/ots.sqlite3"
    server = ots_server.start(use_real=False, data_file=data, extra_args=["--quiet"])
    try:
        harness = Harness(server)
        harness.fresh_table()
        harness.install(ots_timeout=OTS_TIMEOUT)
        codes = generate(harness, sizes.crash_codes)
        rng.shuffle(codes)
        acknowledged: dict[str, str] = {}  # code -> user, answered success
        unanswered: dict[str, str] = {}  # code -> user, sent but no success seen
        lost = retry_failed = 0
        per_cycle = len(codes) // sizes.crash_cycles
        for cycle in range(sizes.crash_cycles):
            todo = codes[cycle * per_cycle : (cycle + 1) * per_cycle]
            acked, sent = redeem_until_killed(harness, todo, sizes.crash_threads, rng, cycle)
            server = ots_server.start(use_real=False, data_file=data, extra_args=["--quiet"])
            harness = Harness(server)
            harness.install(ots_timeout=OTS_TIMEOUT)
            rows = harness.rows(["state", "redeemed_by"])
            for code, user in acked.items():
                if rows.get(key(code), {}).get("redeemed_by") != user:
                    lost += 1
                    result.example(f"crash: acknowledged {code} for {user}: {rows.get(key(code))}")
            acknowledged.update(acked)
            # A caller that got no answer retries with the same user_id: it must succeed.
            context = harness.context()
            for code, user in sent.items():
                if code in acked:
                    continue
                body = invoke(use_code, {"code": code, "user_id": user}, context)
                if "error" in body:
                    retry_failed += 1
                    result.example(f"crash: retry of {code} by {user}: {body['error']}")
                else:
                    acknowledged[code] = user
                    unanswered[code] = user
        rows = harness.rows(["state", "redeemed_by"])
        tried = set(acknowledged) | set(unanswered)
        stray = [c for c in codes if rows.get(key(c), {}).get("state") == "USED" and c not in tried]
        result.add("crash", "server kills (SIGKILL)", sizes.crash_cycles)
        result.add(
            "crash", "redemptions acknowledged before a kill", len(acknowledged) - len(unanswered)
        )
        result.add("crash", "acknowledged but not stored after restart", lost, 0)
        result.add(
            "crash", "unanswered at the kill, retried after restart", len(unanswered) + retry_failed
        )
        result.add("crash", "...of which failed on retry", retry_failed, 0)
        result.add("crash", "codes used that nobody redeemed", len(stray), 0)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def redeem_until_killed(
    harness: Harness, codes: list[str], threads: int, rng: random.Random, cycle: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Redeem `codes` from several threads; SIGKILL the server part-way. (acked, sent)."""
    lock = threading.Lock()
    queue = list(reversed(codes))
    acked: dict[str, str] = {}
    sent: dict[str, str] = {}
    started = threading.Event()
    process = harness.server.process

    def alive() -> bool:  # once the server is killed, the load stops
        return process is not None and process.poll() is None

    def load(number: int) -> None:
        context = harness.context(timeout=3)  # the calls hitting a dead server give up in 2.7 s
        while True:
            with lock:
                if not queue or not alive():
                    return
                code = queue.pop()
                user = f"crash-{cycle}-{number}"
                sent[code] = user
            started.set()
            body = invoke(use_code, {"code": code, "user_id": user}, context)
            if "error" not in body:
                with lock:
                    acked[code] = user

    workers = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    started.wait(30)
    time.sleep(rng.uniform(0.2, 0.6))  # mid-load: well before the queue runs dry
    harness.server.kill()
    for worker in workers:
        worker.join(60)
    return acked, sent


# --- fuzz ----------------------------------------------------------------------------------------
FUZZ_MAX_CODES = 50  # MAX_CODES_PER_REQUEST here: valid generate events stay cheap


def fuzzing(harness: Harness, sizes: Sizes, rng: random.Random, result: Result) -> None:
    harness.fresh_table()
    harness.install()
    # Real codes for the events to name: they reach the store and change state as they go.
    known = generate(harness, 200) + generate(harness, 20, max_uses=3, prefix="FZ")
    known += generate(harness, 10, valid_until="2000-01-01T00:00:00Z", valid_from=0)
    known += generate(harness, 20, batch=fuzz.BATCHES[0], per_user_limit=1, metadata={"p": 1})
    harness.install(max_codes_per_request=FUZZ_MAX_CODES)
    context = harness.context()
    for operation, module in HANDLERS:
        counts: Counter[str] = Counter()
        for _ in range(sizes.fuzz_events):
            sent = fuzz.event(rng, operation, known)
            try:
                answer = module.handler(sent, context)
            except Exception as exc:  # the handler itself must never raise
                problems = [f"raised {type(exc).__name__}: {exc}"]
            else:
                problems = fuzz.check(operation, sent, answer)
                counts[_outcome(answer)] += 1
            for problem in problems:
                kind = problem.split(":")[0].split(" (")[0]
                counts["problem: " + kind] += 1
            if problems:
                result.example(f"fuzz {operation}: {problems[0][:200]} <- {_show(sent)}")
        result.add("fuzz", f"{operation}: events", sizes.fuzz_events)
        answers = {k: v for k, v in sorted(counts.items()) if not k.startswith("problem: ")}
        result.details[f"fuzz {operation} answers"] = answers
        result.add("fuzz", f"{operation}: successes among them", answers.get("success", 0))
        found = {k: v for k, v in counts.items() if k.startswith("problem: ")}
        status_500, leaks = _count(found, "status 500"), _count(found, "leaks")
        result.add("fuzz", f"{operation}: status 500", status_500, 0)
        result.add("fuzz", f"{operation}: leaks", leaks, 0)
        others = sum(found.values()) - status_500 - leaks
        result.add("fuzz", f"{operation}: other contract breaks", others, 0)


def _count(problems: dict[str, int], prefix: str) -> int:
    return sum(v for k, v in problems.items() if k.startswith("problem: " + prefix))


def _outcome(answer: Any) -> str:
    try:
        body = json.loads(answer)
        if "statusCode" in body:
            body = json.loads(body["body"])
        return body["error"]["code"] if "error" in body else "success"
    except (ValueError, KeyError, TypeError):
        return "unparsed"


def _show(sent: Any) -> str:
    text = repr(sent)
    return text if len(text) <= 160 else text[:160] + f"... ({len(text)} chars)"


# --- migrate ---------------------------------------------------------------------------------
def migrate_killed(harness: Harness, sizes: Sizes, rng: random.Random, result: Result) -> None:
    """The migration killed part-way (SIGKILL) `migrate_kills` times, then run to the end."""
    harness.fresh_table()
    tutorial.create(harness.sdk)
    written = tutorial.fill(
        harness.sdk, sizes.migrate_rows, "2026-01-01 00:00:00", "2099-01-01 00:00:00", used_every=7
    )
    folder = Path(tempfile.mkdtemp(prefix="fc-codes-chaos-migrate-"))
    server = harness.server
    env = dict(
        os.environ,
        OTS_ENDPOINT=server.endpoint,
        OTS_INSTANCE=server.instance,
        ALIBABA_CLOUD_ACCESS_KEY_ID=server.access_key_id,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=server.access_key_secret,
    )
    page = str(max(100, sizes.migrate_rows // 20))  # a checkpoint every 5% of the table
    command = [sys.executable, "-m", "tools.migrate", "--data-dir", str(folder), "--no-count"]
    command += ["--page-rows", page]
    checkpoint = folder / f"migrate-{server.instance}-{tutorial.TABLE}.json"
    kills = 0
    try:
        for _ in range(sizes.migrate_kills):
            proc = subprocess.Popen(  # noqa: S603 (our own interpreter)
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # Kill it somewhere after its first saved page, at a random moment.
            deadline = time.monotonic() + 120
            while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.05))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        partial = len(harness.rows(["state"]))
        final = subprocess.run(  # noqa: S603 (our own interpreter)
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        rows = harness.rows(["state", "nonce"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    expected = {"=" + uuid: status for uuid, status in written.items()}
    missing = [k for k in expected if k not in rows]
    extra = [k for k in rows if k not in expected]
    wrong = [
        k
        for k, status in expected.items()
        if k in rows and rows[k]["state"] != ("USED" if status == "ACTIVED" else "UNUSED")
    ]
    for what, keys in (("missing", missing), ("extra", extra), ("wrong state", wrong)):
        for k in keys[:3]:
            result.example(f"migrate: {what} {k}: {rows.get(k)}")
    if final.returncode != 0:
        result.example(f"migrate: the last run exited {final.returncode}: {final.stderr[-300:]}")
    result.add("migrate", "tutorial codes", len(expected))
    result.add("migrate", "runs killed (SIGKILL) part-way", kills)
    result.add("migrate", "codes in fc-codes after the kills", partial)
    result.add("migrate", "last run's exit status", final.returncode, 0)
    result.add("migrate", "tutorial codes missing in fc-codes", len(missing), 0)
    result.add("migrate", "rows in fc-codes that are no tutorial code", len(extra), 0)
    result.add("migrate", "codes with another state than the tutorial's", len(wrong), 0)
    result.details["migrate_summary"] = final.stdout.strip()


# --- main ----------------------------------------------------------------------------------------
# --- campaigns -----------------------------------------------------------------------------------
def threads_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """work(n) on `count` threads released at once; the results in order."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        start.wait()
        results[n] = work(n)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def campaigns(harness: Harness, sizes: Sizes, rng: random.Random, result: Result) -> None:
    harness.fresh_table()
    harness.install(gen_concurrency=8)
    threads = sizes.race_threads
    disable_race(harness, sizes, threads, result)
    per_user_race(harness, threads, result)
    rollback_race(harness, threads, rng, result)
    export_under_fire(harness, sizes, rng, result)


def disable_race(harness: Harness, sizes: Sizes, threads: int, result: Result) -> None:
    codes = generate(harness, sizes.campaign_codes, batch="flash")
    disabled_at: list[float] = []
    stop = threading.Event()

    def redeemer(n: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        context = harness.context()
        for code in codes[n::threads]:
            if stop.is_set():
                break
            began = time.monotonic()
            body = invoke(use_code, {"code": code, "user_id": f"u{n}"}, context)
            late = bool(disabled_at) and began > disabled_at[0]
            ok = "error" not in body
            seen["late success" if ok and late else "ok" if ok else body["error"]["code"]] += 1
        return seen

    def disable() -> None:
        time.sleep(0.05)
        body = invoke(batch_code, {"action": "disable", "batch": "flash"}, harness.context(60))
        if body.get("state") == "DISABLED":
            disabled_at.append(time.monotonic())
        time.sleep(0.2)
        stop.set()

    switch = threading.Thread(target=disable, daemon=True)
    switch.start()
    totals: Counter[str] = Counter()
    for seen in threads_together(threads, redeemer):
        totals.update(seen)
    switch.join()
    result.add(
        "campaigns", f"disable racing {threads} threads: disable answered", len(disabled_at), 1
    )
    result.add("campaigns", "...successes before it returned", totals["ok"])
    result.add("campaigns", "...CODE_DISABLED", totals["CODE_DISABLED"])
    result.add(
        "campaigns", "...successes that started after it returned", totals["late success"], 0
    )


def per_user_race(harness: Harness, threads: int, result: Result) -> None:
    codes = generate(harness, 50, batch="one-each", per_user_limit=1)

    def greedy(n: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        context = harness.context()
        for code in codes[n % len(codes) :] + codes[: n % len(codes)]:
            body = invoke(use_code, {"code": code, "user_id": "greedy"}, context)
            if "error" in body:
                seen[body["error"]["code"]] += 1
            else:
                seen["replay" if body["replay"] else "ok"] += 1
        return seen

    totals: Counter[str] = Counter()
    for seen in threads_together(threads, greedy):
        totals.update(seen)
    rows = harness.rows(["uses", "batch"]).values()
    used = sum(1 for row in rows if row.get("batch") == "one-each" and row.get("uses"))
    name = f"per_user_limit=1, {threads} threads of one user over 50 codes"
    result.add("campaigns", f"{name}: successes", totals["ok"], 1)
    result.add("campaigns", "...codes stored as used", used, 1)
    result.add("campaigns", "...USER_LIMIT_REACHED", totals["USER_LIMIT_REACHED"])


def rollback_race(harness: Harness, threads: int, rng: random.Random, result: Result) -> None:
    code = generate(harness, 1, batch="undo", max_uses=5)[0]
    out_of_bounds = disagree = 0

    def actor(n: int) -> list[Any]:
        context = harness.context()
        answers = []
        for _ in range(10):
            user = f"u{rng.randint(0, 9)}"
            if n % 2:
                answers.append(invoke(use_code, {"code": code, "user_id": user}, context))
            else:
                params = {"action": "rollback", "code": code, "user_id": user}
                answers.append(invoke(admin_code, params, context))
        return answers

    answers = [a for batch in threads_together(threads, actor) for a in batch]
    for answer in answers:
        if "uses" in answer and not 0 <= answer["uses"] <= 5:
            out_of_bounds += 1
    row = harness.rows(["uses", "log"])[key(code)]
    if len(json.loads(row.get("log", "[]"))) != row["uses"]:
        disagree += 1
        result.example(f"campaigns rollback: stored {row}")
    result.add(
        "campaigns",
        f"rollbacks racing redemptions ({len(answers)} calls): uses out of [0, 5]",
        out_of_bounds,
        0,
    )
    result.add("campaigns", "...stored uses != redemptions in the log", disagree, 0)
    result.add("campaigns", "...stored uses at the end", row["uses"])


def export_under_fire(harness: Harness, sizes: Sizes, rng: random.Random, result: Result) -> None:
    codes = generate(harness, sizes.campaign_codes, batch="export")
    stop = threading.Event()
    redeemed: list[str] = []

    def redeem_load() -> None:
        context = harness.context()
        for code in rng.sample(codes, len(codes)):
            if stop.is_set():
                return
            if "error" not in invoke(use_code, {"code": code, "user_id": "load"}, context):
                redeemed.append(code)

    load = threading.Thread(target=redeem_load, daemon=True)
    load.start()
    harness.server.add_fault("busy", api="GetRange", probability=0.2)
    harness.server.add_fault("timeout", api="GetRange", probability=0.05)
    listed: Counter[str] = Counter()
    refused = pages = 0
    cursor = None
    context = harness.context(60)
    while True:
        params: dict[str, Any] = {"action": "codes", "batch": "export", "limit": 97}
        if cursor:
            params["cursor"] = cursor
        body = invoke(batch_code, params, context)
        if "error" in body:  # the store failed beyond retries: the same page again
            refused += 1
            continue
        pages += 1
        listed.update(item["code"] for item in body["codes"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    harness.server.clear_faults()
    stop.set()
    load.join()
    harness.server.control("POST", "indexes/sync")
    twice = sum(1 for n in listed.values() if n > 1)
    missing = len(set(codes) - set(listed))
    result.add(
        "campaigns", f"export of {len(codes)} codes while redeeming, GetRange failing: pages", pages
    )
    result.add("campaigns", "...pages refused (503) and asked again", refused)
    result.add("campaigns", "...codes missing", missing, 0)
    result.add("campaigns", "...codes listed twice", twice, 0)
    figures = invoke(batch_code, {"action": "show", "batch": "export"}, context)["figures"]
    stored = [
        row for k, row in harness.rows(["batch", "uses"]).items() if row.get("batch") == "export"
    ]
    used = sum(1 for row in stored if row.get("uses"))
    result.add(
        "campaigns",
        f"...figures after {len(redeemed)} concurrent redemptions: used",
        figures["used"],
        used,
    )
    result.add("campaigns", "...figures: redemptions", figures["redemptions"], used)
    result.add("campaigns", "...figures: unused", figures["unused"], len(codes) - used)


# --- async: a big batch through the local stack, under faults and kills -----------------------
# Random store faults while the batch is generated: every request type the worker sends.
ASYNC_FAULTS = (
    ("busy", "BatchWriteRow", 0.04),
    ("timeout", "BatchWriteRow", 0.02),
    ("drop_before", "BatchWriteRow", 0.02),
    ("drop_after", "BatchWriteRow", 0.03),
    ("drop_after", "BatchGetRow", 0.05),
    ("busy", "GetRow", 0.03),
    ("busy", "PutRow", 0.03),
    ("drop_after", "PutRow", 0.03),
    ("busy", "UpdateRow", 0.03),
    ("busy", "GetRange", 0.03),
)
ASYNC_LABEL = "chaos-async"


def async_batch(sizes: Sizes, rng: random.Random, result: Result) -> None:
    folder = tempfile.mkdtemp(prefix="fc-codes-chaos-async-")
    # A worker attempt that the store keeps failing gives up after 0.9 x 20 s (the template's
    # 120 s would make four such attempts last six minutes); retries 0.1 s apart.
    stack = asyncgen.Stack(
        f"{folder}/data",
        env={"GEN_CHUNK_SIZE": str(sizes.async_chunk)},
        properties={"gen_chunk": {"Timeout": 20}},
        extra_args=("--async-retry-delay", "0.1"),
    )
    total = sizes.async_codes
    try:
        for kind, api, probability in ASYNC_FAULTS:
            stack.ots_control(
                "POST", "faults", {"kind": kind, "api": api, "probability": probability}
            )
        status, body = stack.json("POST", "/codes", {"count": total, "batch": ASYNC_LABEL})
        if status != 202:
            raise RuntimeError(f"chaos async: generate answered {status}: {body}")
        history, kills = watch_async(stack, sizes, total, rng)
        fired = sum(f.get("fired", 0) for f in stack.ots_control("GET", "faults")["faults"])
        stack.ots_control("DELETE", "faults")
        final = history[-1]
        stored = [
            k
            for k, row in tables.scan(stack.sdk(), TABLE, ["batch"]).items()
            if row.get("batch") == ASYNC_LABEL
        ]
        exported: list[str] = []
        if final[0] == "READY":
            exported = async_export(stack)
        retries = sum(1 for line in stack.lines if "FC API async gen_chunk failed" in line)
    finally:
        stack.stop()
        shutil.rmtree(folder, ignore_errors=True)
    ready, failed = final[0] == "READY", final[0] == "FAILED" and final[2]
    result.add("async", f"codes asked for (chunks of {sizes.async_chunk:,})", total)
    result.add("async", "store faults injected (requests failed or dropped)", fired)
    result.add("async", "worker instances killed mid-chunk (SIGKILL)", kills)
    result.add("async", "worker attempts that failed and FC ran again", retries)
    result.add("async", f"ended READY ({int(ready)}) or FAILED and deleted ({int(failed)})", 1, 1)
    result.add(
        "async",
        "answers showing READY with a code missing",
        sum(1 for s, written, _ in history if s == "READY" and written != total),
        0,
    )
    order = {"GENERATING": 0, "READY": 1, "FAILED": 1}
    backwards = sum(1 for a, b in itertools.pairwise(history) if order[b[0]] < order[a[0]])
    result.add("async", "answers whose state went back", backwards, 0)
    if ready:
        result.add("async", "READY: codes stored", len(stored), total)
        result.add("async", "READY: codes exported", len(exported), total)
        result.add("async", "READY: distinct codes exported", len(set(exported)), total)
    else:
        result.add("async", "FAILED: codes left behind", len(stored), 0)
        result.example(f"async: the batch FAILED: {final}")
    result.details["async"] = {
        "history": history[-20:],
        "kills": kills,
        "retries": retries,
        "faults": fired,
    }


def watch_async(
    stack: asyncgen.Stack, sizes: Sizes, total: int, rng: random.Random
) -> tuple[list[tuple[str, int, bool]], int]:
    """Poll the batch until READY, or FAILED and deleted, killing worker instances on the way;
    the (generation status, written, cleanup complete) seen, and how many were killed."""
    history: list[tuple[str, int, bool]] = []
    kills = 0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status, info = stack.json("GET", f"/batches/{ASYNC_LABEL}")
        if status != 200:  # the store failing the read: a 503, never a wrong answer
            time.sleep(0.2)
            continue
        generation = info["generation"]
        history.append(
            (generation["status"], generation["written"], bool(generation["cleanup_complete"]))
        )
        if generation["status"] == "READY" or generation["cleanup_complete"]:
            return history, kills
        # Kills spread over the generation: the next one once that share of codes is written.
        if kills < sizes.async_kills and generation["written"] >= total * kills // (
            sizes.async_kills + 1
        ):
            busy = busiest(stack.pids("gen_chunk"))
            if busy is not None:
                os.kill(busy, signal.SIGKILL)
                kills += 1
        time.sleep(0.3 + rng.random() * 0.2)
    history.append(("TIMEOUT", history[-1][1] if history else 0, False))
    return history, kills


def busiest(pids: list[int]) -> int | None:
    """The instance using the most CPU over 0.2 s (one writing a chunk), None if all are idle."""
    before = {pid: report.process_cpu_seconds(pid) or 0.0 for pid in pids}
    time.sleep(0.2)
    used = {pid: (report.process_cpu_seconds(pid) or 0.0) - before[pid] for pid in pids}
    best = max(used, key=lambda pid: used[pid], default=None)
    return best if best is not None and used[best] > 0 else None


def async_export(stack: asyncgen.Stack) -> list[str]:
    """Every code of the batch through the CSV export (pages of 5,000), retrying a page that the
    store failed."""
    codes: list[str] = []
    cursor = None
    headers = dict(asyncgen.ADMIN, Accept="text/csv")
    while True:
        path = f"/batches/{ASYNC_LABEL}/codes?limit=5000" + (f"&cursor={cursor}" if cursor else "")
        status, raw, head = stack.request("GET", path, headers=headers)
        if status != 200:
            raise RuntimeError(f"chaos async: the export answered {status}: {raw[:200]!r}")
        codes += [line.split(",", 1)[0] for line in raw.decode("utf-8").splitlines()[1:]]
        cursor = head.get("X-Next-Cursor")
        if not cursor:
            return codes


def run(
    sizes: Sizes, seed: int, parts: tuple[str, ...] = PARTS, log: Callable[[str], None] = print
) -> Result:
    """Run the chosen parts; the Result says what happened. Restores the handlers' Runtime."""
    result = Result(seed)
    rng = random.Random(seed)  # noqa: S311 (reproducible chaos, not secrets)
    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    try:
        harness = Harness(server)
        for part in parts:
            log(f"chaos: {part} ...")
            began = time.monotonic()
            if part == "races":
                races(harness, sizes, rng, result)
            elif part == "faults":
                faults(harness, sizes, rng, result)
            elif part == "crash":
                crash(sizes, rng, result)
            elif part == "fuzz":
                fuzzing(harness, sizes, rng, result)
            elif part == "migrate":
                migrate_killed(harness, sizes, rng, result)
            elif part == "campaigns":
                campaigns(harness, sizes, rng, result)
            elif part == "async":
                async_batch(sizes, rng, result)
            result.seconds[part] = time.monotonic() - began
    finally:
        server.stop()
        app.configure(None)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="the reduced drill (under a minute)")
    parser.add_argument("--seed", type=int, help="random seed (default: from the clock, printed)")
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    parser.add_argument("--no-save", action="store_true", help="do not write .local/bench/")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    sizes = QUICK if args.quick else FULL
    machine = report.machine()
    print(f"machine: {report.describe(machine)}", flush=True)
    # The functions log one line per invocation (tens of thousands here): to a file, not stdout.
    lines: logging.Handler = logging.NullHandler()
    if not args.no_save:
        report.RESULTS.mkdir(parents=True, exist_ok=True)
        lines = logging.FileHandler(report.RESULTS / FUNCTION_LOG, mode="w", encoding="utf-8")
        print(f"function log lines: {report.shown(report.RESULTS / FUNCTION_LOG)}")
    logging.getLogger().addHandler(lines)
    result = run(sizes, seed, tuple(args.only or PARTS), log=lambda line: print(line, flush=True))
    print()
    print(result.text())
    if not args.no_save:
        data = {
            "machine": machine,
            "seed": seed,
            "sizes": sizes.__dict__,
            "seconds": result.seconds,
            "checks": [c.__dict__ for c in result.checks],
            "details": result.details,
            "examples": result.examples,
        }
        print(f"\nraw counts: {report.shown(report.save('chaos', data))}")
    if result.violations:
        print(f"\n{len(result.violations)} VIOLATION(S)", file=sys.stderr)
        return 1
    print("\nno violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
