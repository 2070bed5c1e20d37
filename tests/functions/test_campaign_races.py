"""Campaign races through the real handlers (reduced drills; `make chaos` runs the big ones):
per-user limits under a thundering user, a batch disable racing redemptions, rollbacks racing
redemptions."""

import json
import threading
import time

import admin_code
import batch_code

import gen_code
import use_code

THREADS = 16


def invoke(module, event, context):
    return json.loads(module.handler(json.dumps(event).encode("utf-8"), context))


def generate(context, **params):
    body = invoke(gen_code, params, context)
    assert "codes" in body, body
    return body


def run_threads(count, work):
    """work(i) on `count` threads released together; returns the results in order."""
    start = threading.Barrier(count)
    results = [None] * count

    def run(i):
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_per_user_limit_one_user_many_threads_many_codes_exactly_one_success(wiring, rows):
    codes = generate(wiring.context, count=10, per_user_limit=1, batch="one-each")["codes"]
    results = run_threads(
        THREADS,
        lambda i: invoke(
            use_code, {"code": codes[i % len(codes)], "user_id": "greedy"}, wiring.context
        ),
    )
    wins = [r for r in results if "error" not in r and not r["replay"]]
    assert len(wins) == 1, results
    refused = {r["error"]["code"] for r in results if "error" in r}
    assert refused <= {"USER_LIMIT_REACHED"}
    used = [key for key, row in rows().items() if row.get("uses")]
    assert len(used) == 1


def test_no_redemption_that_starts_after_a_batch_disable_returned_succeeds(wiring):
    codes = generate(wiring.context, count=400, batch="flash")["codes"]
    disabled_at = []
    stop = threading.Event()
    late_successes = []

    def redeem_loop(i):
        n = i
        while not stop.is_set() and n < len(codes):
            started = time.monotonic()
            result = invoke(use_code, {"code": codes[n], "user_id": "u%d" % i}, wiring.context)
            if "error" not in result and disabled_at and started > disabled_at[0]:
                late_successes.append(result)
            n += THREADS
        return n

    def disable():
        time.sleep(0.02)
        body = invoke(batch_code, {"action": "disable", "batch": "flash"}, wiring.context)
        assert body["state"] == "DISABLED", body
        disabled_at.append(time.monotonic())
        time.sleep(0.1)
        stop.set()

    switch = threading.Thread(target=disable)
    switch.start()
    run_threads(THREADS, redeem_loop)
    switch.join(60)
    assert disabled_at and late_successes == []


def test_rollbacks_racing_redemptions_keep_uses_within_bounds(wiring, rows):
    code = generate(wiring.context, count=1, max_uses=3)["codes"][0]
    key = code.replace("-", "")

    def work(i):
        if i % 2:
            return invoke(use_code, {"code": code, "user_id": "u%d" % (i % 6)}, wiring.context)
        return invoke(
            admin_code,
            {"action": "rollback", "code": code, "user_id": "u%d" % ((i + 1) % 6)},
            wiring.context,
        )

    for _ in range(3):
        for result in run_threads(THREADS, work):
            if "uses" in result:
                assert 0 <= result["uses"] <= 3, result
            else:
                assert result["error"]["code"] in ("CODE_ALREADY_USED", "STORE_UNAVAILABLE"), result
        row = rows()[key]
        assert 0 <= row["uses"] <= 3
        log = json.loads(row.get("log", "[]"))
        assert len(log) == row["uses"]  # the log names exactly the redemptions that count
