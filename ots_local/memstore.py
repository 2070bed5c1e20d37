"""In-memory storage (no `--data` file): `storage.Storage`'s interface on dicts.

A row store (a table's or an index's) is a dict from the storage key (`keys.encode_key`) to
the row's columns serialized with `marshal`, as a data file keeps them, plus the same keys in
order (`SortedKeys`) for range reads; an index store also keeps each row's expiry timestamp,
size and ready-made PlainBuffer body (`storage.IndexRow`). The catalog (tables, indexes, the
queue of delayed index updates) is plain Python data.

Why not SQLite's in-memory database, which a data file uses: one conditional PutRow cost the
server 40 us more CPU through it (a statement's transaction, journal and B-tree, with the
machine's caches gone cold between two requests of one client; docs/ots_local.md,
"Performance"), a third of the whole request.

Like `Storage`, it belongs to one thread (the server's event loop). `transaction()` keeps an
undo list: a block that raises puts back every row, store and catalog entry it changed.
"""

from __future__ import annotations

import gc
import marshal
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .keys import KeyRange
from .storage import Columns, IndexRow

_CHUNK = 512  # SortedKeys splits a chunk grown past twice this

# Collections of the oldest generation, for a process that holds a store: one in this many of
# the middle generation's (Python's default is 10). The stored rows hold no reference cycles,
# yet every full collection walks them all (each key in `SortedKeys`' lists, each row's extra
# tuple), so with Python's default the server's CPU per written row grew with the table: 0.54 s
# per 10,000 rows written at 100,000 rows, 0.95 s at 1,200,000 (BatchWriteRows of 200 into
# the codes table and its index); with this, 0.43 s and 0.52 s, within a few percent of no
# cyclic collector at all. Younger generations are collected as usual.
FULL_COLLECTION_EVERY = 1000


def hold_full_collections() -> None:
    """Set this process's collector for a big store (FULL_COLLECTION_EVERY). Called by the
    server's command line (`python -m ots_local`), which owns its process; an `OTSLocal`
    embedded in someone else's process (a test run, the local stack) leaves their collector
    alone."""
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, FULL_COLLECTION_EVERY)


class SortedKeys:
    """Byte strings in order, as sorted chunks of at most 2 * _CHUNK: adding or removing one
    costs two bisections and a short list move, whatever the number of keys."""

    __slots__ = ("_chunks", "_firsts")

    def __init__(self) -> None:
        self._chunks: list[list[bytes]] = []
        self._firsts: list[bytes] = []  # each chunk's first (smallest) key

    def add(self, key: bytes) -> None:
        """Add a key that is not there yet."""
        chunks, firsts = self._chunks, self._firsts
        if not chunks:
            chunks.append([key])
            firsts.append(key)
            return
        i = bisect_right(firsts, key) - 1
        if i < 0:
            i = 0
            firsts[0] = key
        chunk = chunks[i]
        insort(chunk, key)
        if len(chunk) > 2 * _CHUNK:
            tail = chunk[_CHUNK:]
            del chunk[_CHUNK:]
            chunks.insert(i + 1, tail)
            firsts.insert(i + 1, tail[0])

    def remove(self, key: bytes) -> None:
        """Remove a key that is there."""
        chunks, firsts = self._chunks, self._firsts
        i = bisect_right(firsts, key) - 1
        chunk = chunks[i]
        j = bisect_left(chunk, key)
        del chunk[j]
        if not chunk:
            del chunks[i]
            del firsts[i]
        elif j == 0:
            firsts[i] = chunk[0]

    def clear(self) -> None:
        self._chunks.clear()
        self._firsts.clear()

    def between(self, keys: KeyRange, backward: bool) -> Iterator[bytes]:
        """The keys within `keys`' bounds, ascending (descending if `backward`); the store
        must not change while this is read."""
        chunks, firsts = self._chunks, self._firsts
        lower, upper = keys.lower, keys.upper
        if not backward:
            i = j = 0
            if lower is not None:
                i = max(bisect_right(firsts, lower) - 1, 0)
                if i < len(chunks):
                    find = bisect_left if keys.lower_inclusive else bisect_right
                    j = find(chunks[i], lower)
            upper_inclusive = keys.upper_inclusive
            for chunk in chunks[i:]:
                for key in chunk[j:] if j else chunk:
                    if upper is not None and (
                        key > upper or (key == upper and not upper_inclusive)
                    ):
                        return
                    yield key
                j = 0
            return
        i = len(chunks) - 1
        if upper is None:
            j = len(chunks[i]) if chunks else 0
        else:
            i = bisect_right(firsts, upper) - 1
            if i < 0:
                return
            find = bisect_right if keys.upper_inclusive else bisect_left
            j = find(chunks[i], upper)
        lower_inclusive = keys.lower_inclusive
        while i >= 0:
            chunk = chunks[i]
            for n in range(j - 1, -1, -1):
                key = chunk[n]
                if lower is not None and (key < lower or (key == lower and not lower_inclusive)):
                    return
                yield key
            i -= 1
            if i >= 0:
                j = len(chunks[i])


class _Store:
    """One row store: key -> marshal'd columns, the keys in order, and for an index store
    key -> (ts, size, body)."""

    __slots__ = ("extras", "keys", "rows")

    def __init__(self, index: bool) -> None:
        self.rows: dict[bytes, bytes] = {}
        self.keys = SortedKeys()
        self.extras: dict[bytes, tuple[int, int, bytes]] | None = {} if index else None


# A queued index update: (index id, due ms, key to delete, key to put, its row as stored).
_Pending = tuple[int, int, bytes | None, bytes | None, tuple[bytes, int, int, bytes] | None]


class MemoryStorage:
    """Tables and rows in this process's memory. Keys are bytes, rows are column dicts."""

    path = None

    def __init__(self) -> None:
        self._stores: dict[int, _Store] = {}
        self._tables: dict[str, tuple[int, str]] = {}  # name -> (id, meta JSON)
        self._indexes: dict[str, tuple[int, str, str]] = {}  # name -> (id, base, meta JSON)
        self._pending: deque[_Pending] = deque()
        self._undo: list[Callable[[], object]] | None = None  # set inside a transaction

    # --- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction: if it raises, everything it changed is put back
        (nested blocks join the outer one)."""
        if self._undo is not None:
            yield
            return
        undo: list[Callable[[], object]] = []
        self._undo = undo
        try:
            yield
        except BaseException:
            self._undo = None  # putting back is not itself undone
            for step in reversed(undo):
                step()
            raise
        finally:
            self._undo = None

    def _on_undo(self, step: Callable[[], object]) -> None:
        if self._undo is not None:
            self._undo.append(step)

    # --- tables -------------------------------------------------------------------------------
    def tables(self) -> list[tuple[str, int, str]]:
        """Every stored table as (name, id, meta JSON)."""
        return [(name, table_id, meta) for name, (table_id, meta) in sorted(self._tables.items())]

    def _new_store(self, index: bool) -> int:
        store_id = max(self._stores, default=0) + 1
        self._stores[store_id] = _Store(index)
        self._on_undo(lambda: self._stores.pop(store_id, None))
        return store_id

    def _set_catalog(self, catalog: dict[str, Any], name: str, entry: object) -> None:
        """Set (entry) or remove (None) a catalog entry, undoably."""
        old = catalog.get(name)
        if entry is None:
            catalog.pop(name, None)
        else:
            catalog[name] = entry
        if old is None:
            self._on_undo(lambda: catalog.pop(name, None))
        else:
            self._on_undo(lambda: catalog.__setitem__(name, old))

    def _drop_store(self, store_id: int) -> None:
        store = self._stores.pop(store_id, None)
        if store is not None:
            self._on_undo(lambda: self._stores.__setitem__(store_id, store))

    def create_table(self, name: str, meta: str) -> int:
        """Create a table's row store and record its metadata; returns its id."""
        with self.transaction():
            table_id = self._new_store(index=False)
            self._set_catalog(self._tables, name, (table_id, meta))
        return table_id

    # --- indexes ------------------------------------------------------------------------------
    def indexes(self) -> list[tuple[str, int, str, str]]:
        """Every stored index as (name, id, data table name, meta JSON), oldest first."""
        entries = [(name, *entry) for name, entry in self._indexes.items()]
        return sorted(entries, key=lambda entry: entry[1])

    def create_index(self, name: str, base: str, meta: str) -> int:
        """Create an index's row store and record it; returns its id."""
        with self.transaction():
            index_id = self._new_store(index=True)
            self._set_catalog(self._indexes, name, (index_id, base, meta))
        return index_id

    def index_layout_current(self, index_id: int) -> bool:
        """Always: memory holds no index of an earlier version."""
        return True

    def recreate_index_store(self, index_id: int) -> None:
        """Replace an index store by an empty one (same id), and forget its queued changes."""
        with self.transaction():
            self._drop_store(index_id)
            self._stores[index_id] = _Store(index=True)
            self._forget_pending(index_id)

    def _forget_pending(self, index_id: int) -> None:
        before = self._pending
        self._pending = deque(entry for entry in before if entry[0] != index_id)
        self._on_undo(lambda: setattr(self, "_pending", before))

    def drop_index(self, name: str, index_id: int) -> None:
        """Drop an index, its rows and its pending updates."""
        with self.transaction():
            self._drop_store(index_id)
            self._set_catalog(self._indexes, name, None)
            self._forget_pending(index_id)

    def queue_index_update(
        self,
        index_id: int,
        due: int,
        del_key: bytes | None,
        put_key: bytes | None,
        put_row: IndexRow | None,
    ) -> None:
        """Queue one index change (delete a row, put a row, or both) to apply at `due` ms."""
        value = None
        if put_row is not None:
            value = (marshal.dumps(put_row.columns), put_row.ts, put_row.size, put_row.body)
        self._pending.append((index_id, due, del_key, put_key, value))
        self._on_undo(self._pending.pop)

    def pending_count(self) -> int:
        return len(self._pending)

    def next_due(self) -> int | None:
        """When the oldest queued index change is due (None: the queue is empty)."""
        return self._pending[0][1] if self._pending else None

    def apply_pending(self, now: int | None) -> int:
        """Apply queued index changes in order, up to the first not due at `now` (None: all).

        Returns how many were applied; they leave the queue in the same transaction.
        """
        applied = 0
        with self.transaction():
            pending = self._pending
            while pending and (now is None or pending[0][1] <= now):
                entry = pending.popleft()
                self._on_undo(lambda entry=entry: pending.appendleft(entry))  # type: ignore[misc]
                index_id, _, del_key, put_key, value = entry
                store = self._stores.get(index_id)
                if store is not None:
                    if del_key is not None and del_key != put_key:
                        self._remove(store, del_key)
                    if put_key is not None and value is not None:
                        self._set(store, put_key, value[0], value[1:])
                applied += 1
        return applied

    def update_table_meta(self, name: str, meta: str) -> None:
        with self.transaction():
            table_id, _ = self._tables[name]
            self._set_catalog(self._tables, name, (table_id, meta))

    def drop_table(self, name: str, table_id: int) -> None:
        """Drop a table, its rows and its indexes."""
        with self.transaction():
            for index_name, index_id, base, _ in self.indexes():
                if base == name:
                    self.drop_index(index_name, index_id)
            self._drop_store(table_id)
            self._set_catalog(self._tables, name, None)

    def drop_all(self) -> None:
        """Delete every table and row (the control plane's reset; never in a transaction)."""
        self._stores.clear()
        self._tables.clear()
        self._indexes.clear()
        self._pending.clear()

    # --- rows ---------------------------------------------------------------------------------
    def _set(
        self, store: _Store, key: bytes, value: bytes, extra: tuple[int, int, bytes] | None = None
    ) -> None:
        """Store a row (an index store's with its extra), undoably."""
        rows = store.rows
        old = rows.get(key)
        rows[key] = value
        extras = store.extras
        old_extra = None
        if extras is not None:
            old_extra = extras.get(key)
            extras[key] = extra  # type: ignore[assignment]
        if old is None:
            store.keys.add(key)
            if self._undo is not None:
                self._undo.append(lambda: self._remove(store, key))
        elif self._undo is not None:
            self._undo.append(lambda: self._set(store, key, old, old_extra))

    def _remove(self, store: _Store, key: bytes) -> None:
        """Remove a row if it is there, undoably."""
        old = store.rows.pop(key, None)
        if old is None:
            return
        store.keys.remove(key)
        old_extra = store.extras.pop(key) if store.extras is not None else None
        if self._undo is not None:
            self._undo.append(lambda: self._set(store, key, old, old_extra))

    def get(self, table_id: int, key: bytes) -> Columns | None:
        value = self._stores[table_id].rows.get(key)
        return None if value is None else marshal.loads(value)  # noqa: S302 (our own data)

    def put(self, table_id: int, key: bytes, columns: Columns) -> None:
        self._set(self._stores[table_id], key, marshal.dumps(columns))

    def insert(self, table_id: int, key: bytes, columns: Columns) -> bool:
        """Store a row only if its key is free; True if it was stored."""
        store = self._stores[table_id]
        rows = store.rows
        if key in rows:
            return False
        if self._undo is None and store.extras is None:  # `_set` of a new row, inlined
            rows[key] = marshal.dumps(columns)
            store.keys.add(key)
        else:
            self._set(store, key, marshal.dumps(columns))
        return True

    def delete(self, table_id: int, key: bytes) -> None:
        self._remove(self._stores[table_id], key)

    def put_index_rows(self, index_id: int, rows: Iterable[tuple[bytes, IndexRow]]) -> None:
        store = self._stores[index_id]
        dumps = marshal.dumps
        for key, row in rows:
            self._set(store, key, dumps(row.columns), (row.ts, row.size, row.body))

    def put_index_row(self, index_id: int, key: bytes, row: IndexRow) -> None:
        self.put_index_rows(index_id, [(key, row)])

    def scan_bodies(
        self, index_id: int, keys: KeyRange, backward: bool, limit: int, floor: int | None
    ) -> Iterator[tuple[bytes, int, bytes]]:
        """Like `scan` over an index store, for whole-row reads: (key, size, body) of up to
        `limit` rows not expired at `floor`."""
        store = self._stores[index_id]
        extras = store.extras
        assert extras is not None
        if limit <= 0:
            return
        for key in store.keys.between(keys, backward):
            ts, size, body = extras[key]
            if floor is not None and ts <= floor:
                continue
            yield key, size, body
            limit -= 1
            if not limit:
                return

    def scan(
        self, table_id: int, keys: KeyRange, backward: bool, limit: int
    ) -> Iterator[tuple[bytes, Columns]]:
        """Up to `limit` rows with keys between the bounds (None: unbounded), in key order."""
        store = self._stores[table_id]
        rows = store.rows
        loads = marshal.loads  # our own data
        if limit <= 0:
            return
        for key in store.keys.between(keys, backward):
            yield key, loads(rows[key])
            limit -= 1
            if not limit:
                return

    def count_rows(self, table_id: int) -> int:
        return len(self._stores[table_id].rows)

    def close(self) -> None:
        self.drop_all()
