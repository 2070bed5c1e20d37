"""The in-memory storage answers exactly as SQLite does, and its transactions roll back whole."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ots_local.keys import KeyRange
from ots_local.memstore import MemoryStorage, SortedKeys
from ots_local.storage import IndexRow, Storage

# Few distinct short keys: equal keys, neighbours and shared prefixes are likely.
keys = st.binary(max_size=3).map(lambda b: bytes(x % 4 for x in b))
bounds = st.builds(
    KeyRange,
    st.none() | keys,
    st.booleans(),
    st.none() | keys,
    st.booleans(),
)
columns = st.dictionaries(
    st.sampled_from(["a", "b"]), st.lists(st.tuples(st.integers(0, 9), st.integers()), max_size=2)
)
operations = st.lists(
    st.tuples(st.sampled_from(["put", "insert", "delete"]), keys, columns), max_size=40
)


def both():
    return MemoryStorage(), Storage(None)  # SQLite's in-memory database: the reference


def in_range(key, bound):
    if bound.lower is not None and (
        key < bound.lower or (key == bound.lower and not bound.lower_inclusive)
    ):
        return False
    return bound.upper is None or not (
        key > bound.upper or (key == bound.upper and not bound.upper_inclusive)
    )


@settings(max_examples=300, deadline=None)
@given(operations, st.lists(st.tuples(bounds, st.booleans(), st.integers(0, 5)), max_size=8))
def test_rows_and_ranges_match_sqlite(ops, reads):
    stores = both()
    ids = [store.create_table("t", "{}") for store in stores]
    for op, key, value in ops:
        results = []
        for store, table_id in zip(stores, ids, strict=True):
            if op == "put":
                results.append(store.put(table_id, key, value))
            elif op == "insert":
                results.append(store.insert(table_id, key, value))
            else:
                results.append(store.delete(table_id, key))
        assert results[0] == results[1]
    for bound, backward, limit in reads:
        memory, sqlite = (
            list(store.scan(table_id, bound, backward, limit))
            for store, table_id in zip(stores, ids, strict=True)
        )
        assert memory == sqlite
    assert stores[0].count_rows(ids[0]) == stores[1].count_rows(ids[1])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(keys, st.integers(0, 9)), max_size=30),
    bounds,
    st.booleans(),
    st.none() | st.integers(0, 9),
)
def test_index_bodies_match_sqlite(rows, bound, backward, floor):
    stores = both()
    ids = [store.create_index("i", "t", "{}") for store in stores]
    for key, ts in rows:
        for store, index_id in zip(stores, ids, strict=True):
            store.put_index_row(index_id, key, IndexRow({"c": [(ts, 1)]}, ts, len(key), key * 2))
    memory, sqlite = (
        list(store.scan_bodies(index_id, bound, backward, 50, floor))
        for store, index_id in zip(stores, ids, strict=True)
    )
    assert memory == sqlite


def test_sorted_keys_over_many_chunks():
    rng = random.Random(7)
    ordered = SortedKeys()
    present: set[bytes] = set()
    for _ in range(6000):  # far past one chunk: chunks split and empty
        key = bytes(rng.randrange(40) for _ in range(3))
        if key in present and rng.random() < 0.4:
            ordered.remove(key)
            present.remove(key)
        elif key not in present:
            ordered.add(key)
            present.add(key)
    everything = KeyRange(None, True, None, False)
    assert list(ordered.between(everything, False)) == sorted(present)
    assert list(ordered.between(everything, True)) == sorted(present, reverse=True)
    for _ in range(200):
        low, high = sorted(bytes(rng.randrange(40) for _ in range(2)) for _ in range(2))
        bound = KeyRange(low, rng.random() < 0.5, high, rng.random() < 0.5)
        expected = [key for key in sorted(present) if in_range(key, bound)]
        assert list(ordered.between(bound, False)) == expected
        assert list(ordered.between(bound, True)) == expected[::-1]


def test_a_failed_transaction_puts_everything_back():
    store = MemoryStorage()
    table_id = store.create_table("t", '{"v": 1}')
    index_id = store.create_index("i", "t", "{}")
    store.put(table_id, b"kept", {"a": [(1, 1)]})
    store.put(table_id, b"changed", {"a": [(1, 1)]})
    store.queue_index_update(index_id, 5, None, b"x", IndexRow({}, 1, 1, b"x"))
    with pytest.raises(RuntimeError), store.transaction():
        store.put(table_id, b"changed", {"a": [(2, 2)]})
        store.put(table_id, b"new", {"a": [(2, 2)]})
        store.delete(table_id, b"kept")
        store.update_table_meta("t", '{"v": 2}')
        store.create_table("u", "{}")
        store.queue_index_update(index_id, 6, b"x", None, None)
        store.apply_pending(None)
        store.drop_index("i", index_id)
        raise RuntimeError("a bug half-way")
    everything = KeyRange(None, True, None, False)
    assert list(store.scan(table_id, everything, False, 10)) == [
        (b"changed", {"a": [(1, 1)]}),
        (b"kept", {"a": [(1, 1)]}),
    ]
    assert store.tables() == [("t", table_id, '{"v": 1}')]
    assert store.indexes() == [("i", index_id, "t", "{}")]
    assert store.pending_count() == 1 and store.next_due() == 5
    assert list(store.scan_bodies(index_id, everything, False, 10, None)) == []
    assert store.apply_pending(None) == 1
    assert list(store.scan_bodies(index_id, everything, False, 10, None)) == [(b"x", 1, b"x")]
