"""Store faults, injected through ots_local's control plane: nothing lost, nothing left behind.

A generate call either returns every code, all stored, or STORE_UNAVAILABLE with no row of the
call left behind (or, if cleanup itself ran out of time, says so and leaves only rows that
carry its nonce). Redemption under a dropped answer counts exactly once.
"""

import json

import pytest

import gen_code
import use_code

from .helpers import EVENT_BODY, EVENT_CODE, FCContext, ScriptedRandom, server_credentials

EVENT_KEY = EVENT_CODE.replace("-", "")


def generate(context, count=1000, **fields):
    params = {"count": count}
    params.update(fields)
    return json.loads(gen_code.handler(json.dumps(params).encode("utf-8"), context))


def keys_of(body):
    return sorted(code.replace("-", "") for code in body["codes"])


@pytest.mark.parametrize("kind", ["busy", "timeout", "drop_before", "drop_after"])
def test_generate_rides_out_a_few_faults(kind, wiring, ots, rows):
    ots.add_fault(kind, api="BatchWriteRow", count=3)
    body = generate(wiring.context)
    assert body["count"] == 1000
    assert len(set(body["codes"])) == 1000
    stored = rows()
    assert sorted(stored) == keys_of(body)
    assert len({row["nonce"] for row in stored.values()}) == 1
    assert ots.faults()["faults"] == []  # all three fired


def test_every_write_applied_but_never_answered(wiring, ots, rows):
    """drop_after on every BatchWriteRow: each row is confirmed by reading it back."""
    ots.add_fault("drop_after", api="BatchWriteRow")
    body = generate(wiring.context, count=450)
    assert body["count"] == 450
    assert sorted(rows()) == keys_of(body)


def test_a_collision_after_an_unanswered_write_is_still_told_apart(wiring, ots, rows):
    """One key is someone else's, and our first write of the chunk was dropped after applying.

    The retry then sees two kinds of "row exists": ours (nonce matches: keep) and theirs
    (another nonce: a collision, drawn again). The other code is never overwritten.
    """
    other_body = "HX2B9M4QK7TD3SW"
    wiring.install(random_bytes=ScriptedRandom(other_body))
    theirs = generate(wiring.context, count=1, batch="theirs")
    their_key = keys_of(theirs)[0]
    their_row = rows()[their_key]

    wiring.install(random_bytes=ScriptedRandom(EVENT_BODY, other_body))
    ots.add_fault("drop_after", api="BatchWriteRow", count=1)
    body = generate(wiring.context, count=5, batch="ours")
    assert body["count"] == 5
    assert EVENT_CODE in body["codes"]
    assert their_key not in keys_of(body)
    stored = rows()
    assert stored[their_key] == their_row
    assert sorted(k for k, row in stored.items() if row["batch"] == "ours") == keys_of(body)


def test_random_faults_never_break_all_or_nothing(wiring, ots, rows):
    for kind in ("busy", "timeout", "drop_before", "drop_after"):
        ots.add_fault(kind, api="BatchWriteRow", probability=0.08)
    ots.add_fault("drop_after", api="BatchGetRow", probability=0.2)
    outcomes = set()
    for _ in range(3):
        before = set(rows())
        body = generate(wiring.context, count=600)
        added = sorted(set(rows()) - before)
        if "error" in body:
            assert body["error"]["code"] == "STORE_UNAVAILABLE"
            assert body["error"]["cleanup_complete"] is True
            assert added == []
        else:
            assert added == keys_of(body)
        outcomes.add("error" in body)
    assert outcomes  # each round checked one of the two allowed outcomes


@pytest.mark.slow  # seconds of store latency or a whole stack: make test runs it
def test_a_failed_batch_removes_what_it_wrote(wiring, ots, rows):
    """Writes get slow; the chunks that cannot start in time fail the call; cleanup is fast.

    Concurrency 2, 6 chunks, 1200 ms per write for the first 4 writes: two rounds end at
    2.4 s, past the write budget (60% of 0.9 x 4 s = 2.16 s), so the third round never starts,
    and the cleanup keeps 1.2 s for its deletes even on a slow runtime (Python 3.6 encodes a row
    in ~0.35 ms) on a busy machine.
    """
    wiring.install(gen_concurrency=2)
    ots.add_fault("latency", api="BatchWriteRow", count=4, latency_ms=1200)
    body = generate(FCContext(credentials=server_credentials(ots), timeout=4), count=1200)
    assert body["error"]["code"] == "STORE_UNAVAILABLE"
    assert body["error"]["cleanup_complete"] is True
    assert body["error"]["message"] == (
        "the code store is unavailable: no codes were generated "
        "(nothing of this call was left behind); retry later"
    )
    assert rows() == {}


@pytest.mark.slow  # seconds of store latency or a whole stack: make test runs it
def test_cleanup_that_runs_out_of_time_says_so(wiring, ots, rows):
    """Every BatchWriteRow (deletes too) takes 1.5 s: only part of the cleanup could fit.

    Timeout 5 s leaves 4.5 s, 2.7 s of it for writes. Concurrency 4, 12 chunks: the first round
    is answered at 1.5 s, the second starts before 2.7 s and is answered at 3.0 s, the third
    never starts. Cleanup then has 8 chunks (two rounds of 1.5 s) and 1.5 s left. The margins
    (over a second each) keep this true on a slow runtime on a busy machine. Deletes still
    sleeping in the server land later, so the rows are counted once everything has settled.
    """
    wiring.install(gen_concurrency=4)
    ots.add_fault("latency", api="BatchWriteRow", latency_ms=1500)
    body = generate(FCContext(credentials=server_credentials(ots), timeout=5), count=2400)
    error = body["error"]
    assert error["code"] == "STORE_UNAVAILABLE"
    assert error["cleanup_complete"] is False
    assert "cleanup is incomplete" in error["message"]
    ots.clear_faults()
    ots.wait_until_no_request_is_delayed()  # the deletes still sleeping in the server land
    left = rows()
    assert 0 < len(left) < 2400
    nonces = {row["nonce"] for row in left.values()}
    assert len(nonces) == 1
    assert nonces.pop() in error["message"]  # operators can find and remove them


def test_a_broken_random_source_fails_cleanly(wiring, rows):
    """An unexpected error mid-batch (here: a random source that repeats) still cleans up."""
    wiring.install(random_bytes=lambda n: b"\x01" * n)
    body = generate(wiring.context, count=2)
    assert body["error"]["code"] == "INTERNAL"
    assert rows() == {}


def test_redeem_whose_answer_is_lost_counts_once(wiring, ots, rows):
    wiring.install(random_bytes=ScriptedRandom(EVENT_BODY))
    generate(wiring.context, count=1)
    ots.add_fault("drop_after", api="UpdateRow", count=1)
    body = json.loads(use_code.handler(json.dumps({"code": EVENT_CODE}), wiring.context))
    assert (body["status"], body["uses"], body["replay"]) == ("USED", 1, False)
    assert rows()[EVENT_KEY]["uses"] == 1


def test_multi_use_redeem_whose_answer_is_lost_counts_once(wiring, ots, rows):
    wiring.install(random_bytes=ScriptedRandom(EVENT_BODY))
    generate(wiring.context, count=1, max_uses=3)
    redeem = json.dumps({"code": EVENT_CODE}).encode("utf-8")
    json.loads(use_code.handler(redeem, wiring.context))
    ots.add_fault("drop_after", api="UpdateRow", count=2)  # the fast path, then the CAS
    body = json.loads(use_code.handler(redeem, wiring.context))
    assert (body["uses"], body["replay"]) == (2, False)
    assert rows()[EVENT_KEY]["uses"] == 2


def test_redeem_rides_out_busy_and_timeout(wiring, ots, rows):
    wiring.install(random_bytes=ScriptedRandom(EVENT_BODY))
    generate(wiring.context, count=1)
    ots.add_fault("busy", api="UpdateRow", count=1)
    ots.add_fault("timeout", api="UpdateRow", count=1)
    ots.add_fault("drop_before", api="UpdateRow", count=1)
    body = json.loads(use_code.handler(json.dumps({"code": EVENT_CODE}), wiring.context))
    assert (body["status"], body["uses"]) == ("USED", 1)
