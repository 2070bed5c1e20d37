"""The measuring side of `make bench`, run inside each FC runtime's interpreter.

`bench.perf` starts `<runtime python> -m bench.worker` with `functions/` on PYTHONPATH and the
function's configuration in the environment (OTS_ENDPOINT, OTS_INSTANCE, CODES_TABLE and the
ALIBABA_CLOUD_ACCESS_KEY_* pair), the way FC configures the function. The worker reads one JSON
command per line on stdin and answers each with one JSON line on stdout; the store latency is
set by the driver (the local server's `latency` fault) between commands, so every figure of one
runtime comes from one process with warm connections, like a warm FC instance.

What it measures, each through the real SDK of this runtime against the same local server:

- `gen_handler`: the real `gen_code` handler, one invocation for `count` codes.
- `gen_rowloop` and `gen_batches`: the original tutorial's approaches, re-implemented as
  baselines: one PutRow per code in a loop, and BatchWriteRow of 200 rows one request after the
  other. Same rows as the handler writes (same columns, `EXPECT_NOT_EXIST`), so only the
  approach differs.
- `encode`: the SDK's own encoding of those BatchWriteRow requests, nothing sent.
- `gen_memory`: peak Python allocations (tracemalloc) of one handler invocation.
- `redeem`: the real `use_code` handler, or the very UpdateRow its fast path sends issued
  directly with the SDK ("bare"), from 1 or N threads (an FC instance with instance concurrency
  runs concurrent invocations as threads of one process), with the process's CPU time. With
  `start_at`, the calls begin at that wall-clock time: the driver starts N worker processes at
  once that way, one client each, as FC runs N concurrent invocations of a function with the
  default instance concurrency of 1 (N instances). `take_codes` and `add_codes` move prepared
  codes from the worker that made them to those client processes.

Python 3.6 compatible (FC's python3 runtime ships tablestore 5.1.0); no third-party imports but
the SDK.
"""

import json
import logging
import os
import sys
import threading
import time

# The function's log line is part of an invocation's cost: format and write it, but to nowhere
# (before importing the handlers: fccodes.log only adds a stdout handler when the root has none).
logging.getLogger().addHandler(logging.StreamHandler(open(os.devnull, "w")))  # noqa: SIM115

import tablestore  # noqa: E402
from tablestore import (  # noqa: E402
    BatchWriteRowRequest,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    OTSClient,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchWriteRowItem,
)
from tablestore.retry import NoRetryPolicy  # noqa: E402

import gen_code  # noqa: E402
import use_code  # noqa: E402
from fccodes import app, codes, port  # noqa: E402
from harness import tables  # noqa: E402
from harness.fc import Attributes, FCContext  # noqa: E402

TABLE = os.environ.get("CODES_TABLE", "codes")
BATCH = 200  # rows per BatchWriteRow: the service's limit, and the tutorial's batch size
CODE_LENGTH = 15


# The baselines get what fc-codes does for its own client (fccodes.store): a logger with a level
# above DEBUG, without which the SDK renders every request and response as text for a debug line.
# Otherwise the ratios would measure that, not the approach.
SDK_LOGGER = "bench.sdk"
logging.getLogger(SDK_LOGGER).addHandler(logging.NullHandler())
logging.getLogger(SDK_LOGGER).propagate = False
logging.getLogger(SDK_LOGGER).setLevel(logging.CRITICAL)


def _client():
    return OTSClient(
        os.environ["OTS_ENDPOINT"],
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
        os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        os.environ["OTS_INSTANCE"],
        retry_policy=NoRetryPolicy(),
        socket_timeout=30,
        max_connection=64,
        logger_name=SDK_LOGGER,
    )


class Worker(object):
    def __init__(self):
        self.client = _client()
        credentials = Attributes(
            access_key_id=os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"],
            access_key_secret=os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
            security_token="",
        )
        self.context = FCContext(request_id="bench", credentials=credentials, timeout=300)
        self.pool = []  # codes generated for the redemption measurements (display form)
        gen_code.initializer(self.context)  # as FC does once per instance

    # --- set-up ---------------------------------------------------------------------------------
    def info(self):
        encoder = sys.modules.get("tablestore.encoder")
        native = bool(getattr(encoder, "NATIVE_ENCODER_AVAILABLE", False))
        return {
            "python": "%d.%d.%d" % sys.version_info[:3],
            "tablestore": getattr(tablestore, "__version__", "?"),
            "codec": "native C++" if native else "pure Python",
        }

    def fresh_table(self):
        """Empty service tables: every measurement starts from the same state."""
        tables.recreate_service_tables(self.client, TABLE)
        return {}

    # --- generation -----------------------------------------------------------------------------
    def gen_handler(self, count):
        event = json.dumps({"count": count}).encode("utf-8")
        started, cpu = time.perf_counter(), time.process_time()
        body = json.loads(gen_code.handler(event, self.context))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if body.get("count") != count:
            raise RuntimeError("gen_code failed: %s" % json.dumps(body)[:500])
        return {"seconds": seconds, "cpu": cpu}

    def gen_rowloop(self, count):
        rows = _rows(count)
        condition = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
        started = time.perf_counter()
        for row in rows:
            self.client.put_row(TABLE, row, condition)
        return {"seconds": time.perf_counter() - started}

    def gen_batches(self, count):
        rows = _rows(count)
        started = time.perf_counter()
        for request in _batch_requests(rows):
            response = self.client.batch_write_row(request)
            failed = response.get_failed_of_put()
            if failed:
                raise RuntimeError("BatchWriteRow failed rows: %s" % failed[0].error_code)
        return {"seconds": time.perf_counter() - started}

    def encode(self, count):
        """Seconds the SDK spends turning `count` rows into BatchWriteRow bodies."""
        requests = list(_batch_requests(_rows(count)))
        encoder = self.client.protocol.encoder
        started = time.perf_counter()
        for request in requests:
            encoder.encode_request("BatchWriteRow", request).SerializeToString()
        return {"seconds": time.perf_counter() - started}

    def gen_memory(self, count):
        import tracemalloc  # noqa: PLC0415 (only here: tracing slows everything down)

        event = json.dumps({"count": count}).encode("utf-8")
        tracemalloc.start()
        try:
            body = json.loads(gen_code.handler(event, self.context))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        if body.get("count") != count:
            raise RuntimeError("gen_code failed: %s" % json.dumps(body)[:500])
        return {"peak_bytes": peak}

    # --- redemption -----------------------------------------------------------------------------
    def prepare_codes(self, count):
        """Fresh single-use codes for the redemption measurements (each redeemed once)."""
        while count > 0:
            step = min(count, 10000)
            event = json.dumps({"count": step}).encode("utf-8")
            body = json.loads(gen_code.handler(event, self.context))
            if body.get("count") != step:
                raise RuntimeError("gen_code failed: %s" % json.dumps(body)[:500])
            self.pool.extend(body["codes"])
            count -= step
        return {"pool": len(self.pool)}

    def take_codes(self, count):
        """`count` prepared codes, removed from this worker's pool (for another worker)."""
        if len(self.pool) < count:
            raise RuntimeError("not enough prepared codes")
        taken = self.pool[-count:]
        del self.pool[-count:]
        return {"codes": taken}

    def add_codes(self, codes):
        """Prepared codes from another worker, to redeem here."""
        self.pool.extend(codes)
        return {"pool": len(self.pool)}

    def redeem(self, mode, clients, per_client, start_at=None):
        """Latencies of `clients` threads redeeming `per_client` fresh codes each, all at once
        (at the wall-clock time `start_at` if given: other processes start with them)."""
        if len(self.pool) < clients * per_client:
            raise RuntimeError("not enough prepared codes")
        codes_by_client = []
        for _ in range(clients):
            codes_by_client.append(self.pool[-per_client:])
            del self.pool[-per_client:]
        # What a caller has in hand before the call (FC hands the handler the event's bytes);
        # only the call itself is timed, and its answer is checked afterwards.
        work = []  # type: list  # per client: the arguments of each call
        if mode == "handler":
            call, check = self._redeem_handler, _redeem_answer
            work = [
                [
                    json.dumps({"code": code, "user_id": "bench-%d-%d" % (n, i)}).encode("utf-8")
                    for i, code in enumerate(codes)
                ]
                for n, codes in enumerate(codes_by_client)
            ]
        else:
            call, check = self._redeem_bare, _no_answer
            work = [
                [(code.replace("-", ""), "bench-%d-%d" % (n, i)) for i, code in enumerate(codes)]
                for n, codes in enumerate(codes_by_client)
            ]
        latencies = []
        failures = []
        lock = threading.Lock()
        start = threading.Barrier(clients + 1)

        def client(calls):
            own, answers = [], []
            start.wait()
            for args in calls:
                began = time.perf_counter()
                try:
                    answers.append(call(args))
                except Exception as exc:  # counted: the driver stops with the first one
                    answers.append(exc)
                own.append(time.perf_counter() - began)
            errors = [error for error in map(check, answers) if error]
            with lock:
                latencies.extend(own)
                failures.extend(errors)

        threads = [threading.Thread(target=client, args=(calls,)) for calls in work]
        for thread in threads:
            thread.start()
        if start_at is not None:
            time.sleep(max(0.0, start_at - time.time()))
        start.wait()
        started = time.time()  # wall clock: comparable between the driver's client processes
        began, cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.join()
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        if failures:
            raise RuntimeError("%d redemptions failed, e.g. %s" % (len(failures), failures[0]))
        return {
            "latencies": latencies,
            "wall": wall,
            "cpu": cpu,
            "started": started,
            "ended": started + wall,
        }

    def own_cost(self, calls, rounds):
        """Microseconds of the handler's own code per redemption, warm: the real `use_code`
        handler over a store that answers at once (an implementation of `fccodes.port.Store`),
        best of `rounds` rounds of `calls` calls. Nothing is sent; the store is put back after.
        """
        rt = app.runtime()
        events = [
            json.dumps(
                {"code": codes.display(codes.make_key("", os.urandom, 15)), "user_id": "own-%d" % i}
            ).encode("utf-8")
            for i in range(calls)
        ]
        saved, rt.store = rt.store, _InstantStore()
        try:
            best = float("inf")
            for _ in range(rounds):
                began = time.perf_counter()
                for event in events:
                    use_code.handler(event, self.context)
                best = min(best, (time.perf_counter() - began) / calls)
            answer = json.loads(use_code.handler(events[0], self.context))
        finally:
            rt.store = saved
        if answer.get("status") != "USED":
            raise RuntimeError("own_cost: the handler did not redeem: %s" % json.dumps(answer))
        return {"us": best * 1e6}

    def _redeem_handler(self, event):
        return use_code.handler(event, self.context)

    def _redeem_bare(self, args):
        """The handler's fast-path UpdateRow, sent directly: same row, condition and columns."""
        key, user = args
        now = int(time.time() * 1000)
        put = [
            ("redeem_tx", os.urandom(8).hex()),
            ("redeemed_at", now),
            ("redeemed_by", user),
            ("state", "USED"),
            ("uses", 1),
        ]
        both = CompositeColumnCondition(LogicalOperator.AND)
        # In the order fccodes.service states them: the single-use checks, the campaign checks
        # (no metadata, no per-user limit, not disabled, no customer but this user), the prefix.
        for column, value, comparator, if_missing in (
            ("state", "UNUSED", ComparatorType.EQUAL, False),
            ("max_uses", 1, ComparatorType.EQUAL, False),
            ("metadata", "", ComparatorType.EQUAL, True),
            ("per_user_limit", 0, ComparatorType.EQUAL, True),
            ("valid_from", now, ComparatorType.LESS_EQUAL, False),
            ("valid_until", now, ComparatorType.GREATER_THAN, True),
            ("disabled", 1, ComparatorType.NOT_EQUAL, True),
            ("batch_disabled", 1, ComparatorType.NOT_EQUAL, True),
            ("customer", user, ComparatorType.EQUAL, True),
            ("prefix", "", ComparatorType.EQUAL, True),
        ):
            both.add_sub_condition(
                SingleColumnCondition(column, value, comparator, pass_if_missing=if_missing)
            )
        condition = Condition(RowExistenceExpectation.EXPECT_EXIST, both)
        return self.client.update_row(TABLE, Row([("code", key)], {"put": put}), condition)


class _InstantStore(port.Store):
    """A codes table that answers at once: every conditional update succeeds."""

    def signed(self, credentials):
        return self

    def update_if(self, key, put, expect, delete=()):
        return True


def _redeem_answer(answer):
    """None for a successful redemption, else what went wrong."""
    if isinstance(answer, Exception):
        return "%s: %s" % (type(answer).__name__, answer)
    body = json.loads(answer)
    return answer[:300] if "error" in body else None


def _no_answer(answer):
    """The bare UpdateRow raises when it fails."""
    if isinstance(answer, Exception):
        return "%s: %s" % (type(answer).__name__, answer)
    return None


def _rows(count):
    """`count` new rows shaped like the ones `gen_code` writes (without prefix and end)."""
    now = int(time.time() * 1000)
    nonce = os.urandom(8).hex()
    attributes = [
        ("batch", "bench"),
        ("created_at", now),
        ("max_uses", 1),
        ("nonce", nonce),
        ("state", "UNUSED"),
        ("uses", 0),
        ("valid_from", now),
    ]
    return [
        Row([("code", codes.make_key("", os.urandom, CODE_LENGTH))], attributes)
        for _ in range(count)
    ]


def _batch_requests(rows):
    condition = Condition(RowExistenceExpectation.EXPECT_NOT_EXIST)
    for start in range(0, len(rows), BATCH):
        request = BatchWriteRowRequest()
        items = [PutRowItem(row, condition) for row in rows[start : start + BATCH]]
        request.add(TableInBatchWriteRowItem(TABLE, items))
        yield request


def main():
    # Answers go to the real stdout; anything else printed by accident goes to stderr.
    out = sys.stdout
    sys.stdout = sys.stderr
    worker = Worker()
    for line in sys.stdin:
        command = json.loads(line)
        operation = command.pop("op")
        if operation == "quit":
            break
        try:
            result = getattr(worker, operation)(**command)
            answer = {"ok": True, "result": result}
        except Exception as exc:  # reported to the driver, which stops with the message
            answer = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
