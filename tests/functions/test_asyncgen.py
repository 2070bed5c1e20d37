"""Big batches generated asynchronously (fccodes.asyncgen), through the real handlers: gen_code
answers 202 and queues the worker's first event, the real worker (`gen_chunk`) fans out and
writes chunks, GET /batches/{batch} shows progress until READY or FAILED.

FC's asynchronous invocation is played in process (tests/functions/asyncfc.py: the real worker
handler, FC's retry policy); tests/localdev/test_asyncgen.py runs the same through the local FC
invoke API. The store is the real SDK against ots_local, with its faults.
"""

import json

import batch_code
import gen_chunk
import pytest

import gen_code
import use_code
from fccodes import api, asyncgen, codes
from fccodes.fcinvoke import InvokeFailed

from .asyncfc import LocalQueue
from .helpers import Clock
from .test_campaigns import apigw, call, error_code

SMALL = {"max_codes_per_request": 1000, "chunk_size": 400, "gen_worker": "fc-codes/gen_chunk"}
T0 = 1796054400000  # 2026-12-01T00:00:00+08:00


@pytest.fixture
def fc(wiring):
    """The in-process FC queue, installed as the functions' dispatcher (small limits)."""
    queue = LocalQueue(wiring.context.credentials)
    wiring.install(dispatcher=queue.dispatcher, **SMALL)
    return queue


def start(context, count, **params):
    params["count"] = count
    return call(gen_code, apigw("POST", "/codes", params), context)


def show(context, batch):
    return call(batch_code, apigw("GET", "/batches/" + batch, batch=batch), context)


def export(context, batch):
    """Every code of the batch through the CSV export, page after page."""
    found, cursor = [], None
    while True:
        query = {"limit": "5000"}
        if cursor:
            query["cursor"] = cursor
        path = "/batches/%s/codes" % batch
        event = apigw("GET", path, query=query, headers={"Accept": "text/csv"}, batch=batch)
        status, text, headers = call(batch_code, event, context)
        assert status == 200, text
        found += [line.split(",")[0] for line in text.splitlines()[1:]]
        cursor = headers.get("X-Next-Cursor")
        if not cursor:
            return found


def batch_rows(rows, batch):
    return {k: r for k, r in rows().items() if r.get("batch") == batch}


def test_a_big_batch_answers_202_and_is_written_by_the_workers(wiring, fc, rows):
    status, body, _ = start(wiring.context, 2150, batch="big", prefix="BGX", metadata={"a": 1})
    assert status == 202, body
    assert body["state"] == "GENERATING" and body["count"] == 2150 and body["replay"] is False
    assert body["generation"] == {
        "status": "GENERATING",
        "total": 2150,
        "written": 0,
        "chunks": 6,
        "chunks_written": 0,
        "reason": None,
        "finished_at": None,
        "cleanup_complete": None,
    }
    assert "codes" not in body and "seed" not in json.dumps(body)
    assert fc.sent == [{"batch": "big", "nonce": fc.sent[0]["nonce"], "from": 0, "to": 6}]
    assert rows() == {}
    fc.drain()
    # One root event fanned out into six chunks, each written once.
    assert len(fc.sent) == 7 and all(o[2] == "ok" for o in fc.outcomes)
    status, info, _ = show(wiring.context, "big")
    assert status == 200
    assert info["state"] == "ACTIVE"
    assert info["generation"]["status"] == "READY"
    assert info["generation"]["written"] == 2150 and info["generation"]["chunks_written"] == 6
    assert info["figures"]["unused"] == 2150
    stored = batch_rows(rows, "big")
    assert len(stored) == 2150
    assert all(codes.is_valid_key(k) and k.startswith("BGX") for k in stored)
    row = next(iter(stored.values()))
    assert row["metadata"] == '{"a":1}' and row["state"] == "UNUSED" and row["bshard"]
    exported = export(wiring.context, "big")
    assert len(exported) == len(set(exported)) == 2150
    assert {c.replace("-", "") for c in exported} == set(stored)


def test_progress_is_visible_while_the_chunks_are_written(wiring, fc):
    start(wiring.context, 2000, batch="halfway")
    fc.drain(limit=4)  # the root, then three of its five chunks
    _, info, _ = show(wiring.context, "halfway")
    assert info["state"] == "GENERATING" and info["figures"] is None
    assert info["generation"]["written"] == 1200
    assert info["generation"]["chunks_written"] == 3
    # Nobody can know its codes yet: the export waits for READY.
    event = apigw("GET", "/batches/halfway/codes", batch="halfway")
    assert error_code(call(batch_code, event, wiring.context)) == "BATCH_GENERATING"
    fc.drain()
    assert show(wiring.context, "halfway")[1]["generation"]["status"] == "READY"


def test_a_code_written_before_ready_redeems_like_any_other(wiring, fc, rows):
    """Decided: redemption does not look at the batch (that would cost a read per redemption);
    no one can hold such a code before READY (the export refuses, the seed never leaves)."""
    start(wiring.context, 1200, batch="early")
    fc.drain(limit=2)
    key = next(iter(batch_rows(rows, "early")))
    status, body, _ = call(use_code, apigw("POST", "/codes/x/redeem", {}, code=key), wiring.context)
    assert status == 200 and body["status"] == "USED"


@pytest.mark.slow  # seconds apiece: make test runs it, make test-quick leaves it out
def test_a_retried_chunk_neither_duplicates_nor_loses_codes(wiring, fc, ots, rows):
    """A chunk's attempt fails after writing part of it (the store busy past its budget),
    FC runs it again, and a duplicate delivery of another chunk runs twice: still exactly N."""
    wiring.install(dispatcher=fc.dispatcher, ots_timeout=0.3, **SMALL)
    fc.timeout = 3  # the attempt's budget: 2.7 s, of which writing may take 70%
    start(wiring.context, 2000, batch="retried")
    fc.drain(limit=1)  # the root: five chunk events queued
    fc.run_one()  # chunk 0, whole
    ots.add_fault("busy", api="BatchWriteRow", count=400)  # chunk 1: one request in, then busy
    fc.run_one()
    assert fc.outcomes[-1][2].startswith("raised")
    ots.clear_faults()
    assert 0 < len(batch_rows(rows, "retried")) < 800
    fc.send(fc.sent[3])  # a duplicate delivery of chunk 2's event
    fc.drain()
    assert [o for o in fc.outcomes if o[2] != "ok"] == [fc.outcomes[2]]
    _, info, _ = show(wiring.context, "retried")
    assert info["generation"]["status"] == "READY" and info["generation"]["written"] == 2000
    stored = batch_rows(rows, "retried")
    assert len(stored) == 2000
    assert len(set(export(wiring.context, "retried"))) == 2000


@pytest.mark.slow  # seconds apiece: make test runs it, make test-quick leaves it out
def test_a_chunk_that_fails_every_attempt_fails_the_batch_and_leaves_nothing(wiring, ots, rows):
    """Chunk 1's event meets a busy store on each of its four attempts: the last one fails the
    batch, and the cleanup (the same tree of events) deletes every chunk written."""
    doomed = []

    def store_busy_for_chunk_one(queued):
        event = json.loads(queued.event.decode("utf-8"))
        if (event["from"], event["to"]) == (1, 2) and not doomed:
            doomed.append(queued.request_id)
        if queued.request_id in doomed:
            # More than one attempt's requests can use: 2 requests of 200 rows, 8 tries each.
            ots.add_fault("busy", api="BatchWriteRow", count=16)
        else:
            ots.clear_faults()

    fc = LocalQueue(wiring.context.credentials, before=store_busy_for_chunk_one)
    wiring.install(dispatcher=fc.dispatcher, ots_timeout=0.3, **SMALL)
    fc.timeout = 2
    start(wiring.context, 2000, batch="doomed")
    fc.drain()
    assert [o[1:] for o in fc.outcomes if o[0] in doomed][-1] == (4, "ok")
    _, info, _ = show(wiring.context, "doomed")
    assert info["state"] == "FAILED", info
    assert info["figures"] is None
    generation = info["generation"]
    assert generation["status"] == "FAILED"
    assert "chunk 1 could not be written in 4 attempts" in generation["reason"]
    assert generation["cleanup_complete"] is True and generation["written"] == 0
    assert batch_rows(rows, "doomed") == {}
    event = apigw("GET", "/batches/doomed/codes", batch="doomed")
    answer = call(batch_code, event, wiring.context)
    assert answer[0] == 409 and error_code(answer) == "BATCH_FAILED"
    assert "chunk 1 could not be written" in answer[1]["error"]["message"]
    disable = apigw("POST", "/batches/doomed/disable", batch="doomed")
    assert error_code(call(batch_code, disable, wiring.context)) == "BATCH_FAILED"


def test_a_batch_past_its_deadline_fails_on_read_and_is_deleted(wiring, rows):
    """Events FC dropped without a word (or workers killed on every attempt): the first read
    after the deadline fails the batch and queues the deletion of what was written."""
    clock = Clock(T0)
    fc = LocalQueue(wiring.context.credentials)
    wiring.install(clock=clock, dispatcher=fc.dispatcher, gen_deadline=600, **SMALL)
    start(wiring.context, 2000, batch="late")
    fc.drain(limit=3)  # the root and two chunks
    assert fc.drop_pending() == 3
    _, info, _ = show(wiring.context, "late")
    assert info["state"] == "GENERATING" and info["generation"]["written"] == 800
    clock.now_ms += 600 * 1000
    _, info, _ = show(wiring.context, "late")
    assert info["state"] == "FAILED"
    assert info["generation"]["reason"] == (
        "not finished by its deadline: 2 of 5 chunks (800 of 2000 codes) were written"
    )
    assert info["generation"]["cleanup_complete"] is False
    fc.drain()
    _, info, _ = show(wiring.context, "late")
    assert info["generation"]["cleanup_complete"] is True
    assert batch_rows(rows, "late") == {}


def test_a_batch_whose_last_worker_died_before_saying_ready_is_ready_on_read(wiring, fc, sdk):
    """Every chunk marked written, the record still GENERATING (the worker that marked the last
    one died before it set READY, on every attempt): the next read sets READY; the deadline
    never fails such a batch."""
    start(wiring.context, 1200, batch="unsaid")
    fc.drain()
    from tablestore import Condition, Row, RowExistenceExpectation

    sdk.update_row(
        "batches",
        Row([("pk", "b:unsaid"), ("sk", "batch")], {"put": [("state", "GENERATING")]}),
        Condition(RowExistenceExpectation.EXPECT_EXIST),
    )
    _, info, _ = show(wiring.context, "unsaid")
    assert info["state"] == "ACTIVE" and info["generation"]["status"] == "READY"
    assert info["figures"]["unused"] == 1200


def test_a_stalled_cleanup_is_sent_again_by_a_later_read(wiring, rows):
    clock = Clock(T0)
    fc = LocalQueue(wiring.context.credentials)
    wiring.install(clock=clock, dispatcher=fc.dispatcher, gen_deadline=600, **SMALL)
    start(wiring.context, 1600, batch="stalled")
    fc.drain(limit=3)
    fc.drop_pending()
    clock.now_ms += 600 * 1000
    show(wiring.context, "stalled")  # fails it; its cleanup events are lost too
    fc.drop_pending()
    assert len(batch_rows(rows, "stalled")) == 800
    clock.now_ms += asyncgen.SWEEP_MS - 1
    show(wiring.context, "stalled")
    assert not fc.pending  # too early to send it again
    clock.now_ms += 1
    show(wiring.context, "stalled")
    show(wiring.context, "stalled")  # one read sends it
    fc.drain()
    assert len([e for e in fc.sent if (e["from"], e["to"]) == (0, 4)]) == 3
    assert show(wiring.context, "stalled")[1]["generation"]["cleanup_complete"] is True
    assert batch_rows(rows, "stalled") == {}


def test_an_attempt_that_finds_the_batch_failed_deletes_its_own_rows(wiring, rows, sdk):
    """A cleanup leaves a chunk whose lease is live to that attempt; the attempt checks the
    state after writing and deletes its rows itself."""
    clock = Clock(T0)
    fc = LocalQueue(wiring.context.credentials)
    wiring.install(clock=clock, dispatcher=fc.dispatcher, gen_deadline=600, **SMALL)
    start(wiring.context, 1200, batch="raced")
    fc.drain(limit=1)  # the root: chunks 0, 1 and 2 queued
    lease = "run:00001:someone:1"  # an attempt of chunk 1 is writing, elsewhere
    from tablestore import Condition, Row, RowExistenceExpectation

    sdk.put_row(
        "batches",
        Row([("pk", "b:raced"), ("sk", lease)], [("until", T0 + 3600 * 1000)]),
        Condition(RowExistenceExpectation.IGNORE),
    )
    fc.run_one()  # chunk 0 written
    clock.now_ms += 600 * 1000
    show(wiring.context, "raced")  # FAILED; the cleanup is queued behind chunk 1's event
    fc.drain()
    # Chunk 1's own event saw FAILED (nothing written); the cleanup deleted chunk 0 but left
    # chunk 1 to the live lease: not complete yet.
    _, info, _ = show(wiring.context, "raced")
    assert info["generation"]["cleanup_complete"] is False
    assert batch_rows(rows, "raced") == {}
    # The other attempt ends: releases its lease, sees FAILED, deletes its chunk, marks it.
    service = wiring.install(clock=clock, dispatcher=fc.dispatcher, **SMALL).session(
        wiring.context.credentials
    )
    record = service.batches.get("b:raced", "batch")
    service._release("raced", lease, _deadline())
    service._clean_chunk("raced", record, 1, lease, _deadline())
    assert show(wiring.context, "raced")[1]["generation"]["cleanup_complete"] is True


def _deadline():
    from fccodes.retry import Deadline

    return Deadline(10, request_timeout=1.0)


def test_an_idempotent_retry_of_a_big_generate_gets_its_state(wiring, fc):
    once = {"Idempotency-Key": "big-order-000000001"}
    first = call(gen_code, apigw("POST", "/codes", {"count": 1500}, headers=once), wiring.context)
    assert first[0] == 202
    again = call(gen_code, apigw("POST", "/codes", {"count": 1500}, headers=once), wiring.context)
    assert again[0] == 202 and again[1]["replay"] is True
    assert again[1]["batch"] == first[1]["batch"]
    fc.drain()
    done = call(gen_code, apigw("POST", "/codes", {"count": 1500}, headers=once), wiring.context)
    assert done[0] == 202 and done[1]["generation"]["status"] == "READY"
    assert len(fc.sent) == 1 + 4  # one batch started, its four chunks


def test_bad_input_and_missing_async_are_4xx(wiring, fc):
    too_many = start(wiring.context, api.MAX_CODES_PER_BATCH + 1)
    assert too_many[0] == 400 and error_code(too_many) == "INVALID_REQUEST"
    assert too_many[1]["error"]["message"] == "count: must be an integer from 1 to 10000000"
    wiring.install(dispatcher=fc.dispatcher, max_codes_per_batch=5000, **SMALL)
    assert start(wiring.context, 5001)[1]["error"]["message"] == (
        "count: must be an integer from 1 to 5000"
    )
    wiring.install(max_codes_per_request=1000)  # no GEN_WORKER: no asynchronous generation
    answer = start(wiring.context, 1001)
    assert answer[0] == 400
    assert answer[1]["error"]["message"] == (
        "count: must be an integer from 1 to 1000; bigger batches are generated asynchronously, "
        "which this deployment does not offer (GEN_WORKER is not set)"
    )
    assert fc.sent == []


def test_a_worker_fc_will_not_invoke_is_a_503_and_leaves_no_batch(wiring, fc, rows):
    fc.refuse = InvokeFailed("FC refused", reason="FC 403: SignatureNotMatch", retryable=False)
    status, body, headers = start(wiring.context, 1500, batch="refused")
    assert status == 503 and body["error"]["code"] == "WORKER_UNAVAILABLE"
    assert "Retry-After" not in headers
    fc.refuse = None
    assert start(wiring.context, 1500, batch="refused")[0] == 202  # the label is free again


def test_without_an_endpoint_the_worker_cannot_be_reached(wiring, rows):
    """The real dispatcher: no INVOKE_ENDPOINT and a context without account or region."""
    wiring.install(**SMALL)
    wiring.context.account_id = None
    status, body, _ = start(wiring.context, 1500, batch="nowhere")
    assert status == 503 and body["error"]["code"] == "WORKER_UNAVAILABLE"
    assert "INVOKE_ENDPOINT" in body["error"]["message"]
    assert show(wiring.context, "nowhere")[0] == 404


def test_stale_and_malformed_events_do_nothing(wiring, fc, rows, log_lines):
    start(wiring.context, 1200, batch="fresh")
    stale = {"batch": "fresh", "nonce": "0" * 16, "from": 0, "to": 1}
    answer = json.loads(gen_chunk.handler(json.dumps(stale).encode(), wiring.context))
    assert answer == {"batch": "fresh", "result": "stale"}
    backwards = b'{"batch": "x", "nonce": "n", "from": 2, "to": 1}'
    for bad in (b"not json", b'{"batch": "fresh"}', backwards):
        assert "error" in json.loads(gen_chunk.handler(bad, wiring.context))
    assert rows() == {}
    logged = [line for line in log_lines() if line["operation"] == "gen_chunk"]
    assert [line["outcome"] for line in logged] == ["ok"] + ["INVALID_REQUEST"] * 3


def test_the_seed_never_leaves_the_functions(wiring, fc, sdk, log_lines):
    start(wiring.context, 1200, batch="secret")
    fc.drain()
    record = sdk.get_row("batches", [("pk", "b:secret"), ("sk", "batch")], max_version=1)[1]
    seed = dict((c[0], c[1]) for c in record.attribute_columns)["seed"]
    seen = json.dumps(show(wiring.context, "secret")[1]) + json.dumps(log_lines())
    seen += json.dumps(fc.sent)
    assert seed not in seen
