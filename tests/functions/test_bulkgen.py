"""Chunks of a big batch (fccodes.bulkgen) through the real store against ots_local: every
attempt of a chunk writes the same codes, so retries neither duplicate nor lose any."""

import os

import pytest

from fccodes import bulkgen, codes
from fccodes.errors import StoreUnavailable
from fccodes.retry import Deadline
from fccodes.settings import credentials_from

ATTRIBUTES = {"batch": "big", "state": "UNUSED", "valid_from": 1, "max_uses": 1, "uses": 0}


def store_of(wiring, **settings):
    runtime = wiring.install(**settings)
    return runtime.store.signed(credentials_from(wiring.context, {}))


def chunk(index=0, count=450, seed="00" * 32, prefix=""):
    return bulkgen.Chunk(seed, index, count, prefix, 15, ATTRIBUTES)


def deadline(seconds=20):
    return Deadline(seconds, request_timeout=1.0)


def nothing(_seconds):
    return None


def test_a_chunk_holds_exactly_its_count_of_valid_codes(wiring, rows):
    store = store_of(wiring)
    keys = bulkgen.write(store, chunk(count=450, prefix="BGX"), deadline(), nothing)
    stored = rows()
    assert len(stored) == 450 and sorted(keys) == sorted(stored)
    assert all(codes.is_valid_key(k) and k.startswith("BGX") for k in stored)
    assert {r["nonce"] for r in stored.values()} == {chunk().nonce}
    assert {r["batch"] for r in stored.values()} == {"big"}


def test_running_a_chunk_again_writes_nothing_new(wiring, rows):
    store = store_of(wiring)
    bulkgen.write(store, chunk(), deadline(), nothing)
    before = rows()
    assert sorted(bulkgen.write(store, chunk(), deadline(), nothing)) == sorted(before)
    assert rows() == before


def test_a_chunk_cut_short_then_retried_is_complete_without_duplicates(wiring, ots, rows):
    store = store_of(wiring, ots_timeout=0.5)
    ots.add_fault("busy", api="BatchWriteRow", count=1000)
    written = []
    with pytest.raises(StoreUnavailable):
        bulkgen.write(store, chunk(count=450), deadline(1.0), nothing, written.append)
    ots.clear_faults()
    ots.add_fault("drop_after", api="BatchWriteRow", count=1)  # applied, never answered
    assert len(bulkgen.write(store, chunk(count=450), deadline(), nothing)) == 450
    assert len(rows()) == 450


def test_requests_in_parallel_write_the_same_codes_with_their_own_attributes(wiring, ots, rows):
    """concurrency > 1 (GEN_CONCURRENCY in the worker), with faults: the same keys as one at a
    time, each row with its `own` attributes."""
    store = store_of(wiring, ots_timeout=0.5)
    ots.add_fault("drop_after", api="BatchWriteRow", count=2)
    ots.add_fault("busy", api="BatchWriteRow", count=2)
    shard = {"bshard": "s"}
    keys = bulkgen.write(store, chunk(count=1000), deadline(), nothing, None, lambda k: shard, 4)
    stored = rows()
    assert sorted(keys) == sorted(stored) and len(keys) == 1000
    assert sorted(keys) == sorted(chunk(count=1000).key(p) for p in range(1000))
    assert {r["bshard"] for r in stored.values()} == {"s"}


def test_chunks_and_seeds_draw_different_codes(wiring, rows):
    store = store_of(wiring)
    for index in range(3):
        bulkgen.write(store, chunk(index=index, count=300), deadline(), nothing)
    bulkgen.write(store, chunk(count=300, seed=os.urandom(32).hex()), deadline(), nothing)
    assert len(rows()) == 1200


def test_a_collision_takes_the_next_position_on_every_attempt(wiring, sdk, table, rows):
    store = store_of(wiring)
    mine = chunk(count=10)
    taken = mine.key(3)  # someone else's code sits where position 3 would go
    from tablestore import Condition, Row, RowExistenceExpectation

    sdk.put_row(
        table,
        Row([("code", taken)], [("nonce", "someone"), ("batch", "other")]),
        Condition(RowExistenceExpectation.IGNORE),
    )
    assert len(bulkgen.write(store, mine, deadline(), nothing)) == 10
    assert sorted(bulkgen.write(store, mine, deadline(), nothing)) == sorted(
        k for k, r in rows().items() if r["nonce"] == mine.nonce
    )
    stored = rows()
    assert len(stored) == 11 and stored[taken]["nonce"] == "someone"
    assert mine.key(10) in stored  # the replacement, the same on both attempts
    assert bulkgen.cleanup(store, mine, deadline(), nothing) == 10
    assert list(rows()) == [taken]  # only the other code is left


def test_cleanup_removes_a_partly_written_chunk(wiring, rows):
    store = store_of(wiring)
    bulkgen.write(store, chunk(count=250), deadline(), nothing)
    assert bulkgen.cleanup(store, chunk(count=700), deadline(), nothing) == 250
    assert rows() == {}


def test_split():
    assert bulkgen.split(25, 10) == [(0, 10), (1, 10), (2, 5)]
    assert bulkgen.split(10, 10) == [(0, 10)]
