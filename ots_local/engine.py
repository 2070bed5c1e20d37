"""The engine: one Tablestore instance's tables and rows, reads and writes.

Wire-free: `api.py` decodes requests into these calls and encodes their results. Every method
runs on the server's single data thread, so a conditional write (read, check, write) is atomic.
Row semantics live in `rows.py`, table metadata in `tables.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from . import errors
from .filters import Predicate
from .indexes import (
    Index,
    IndexMeta,
    check_index_meta,
    check_index_ttl,
    index_row_visible,
)
from .keys import decode_key, encode_key, key_range
from .limits import CU_BYTES, MAX_TABLES, RANGE_MAX_BYTES, RANGE_MAX_ROWS
from .memstore import MemoryStorage
from .plainbuffer import AUTO_INCREMENT, INF_MAX, INF_MIN, Row
from .rows import (
    BACKWARD,
    EXPECT_EXIST,
    EXPECT_IGNORE,
    EXPECT_NOT_EXIST,
    OP_DELETE,
    OP_PUT,
    OP_UPDATE,
    RT_AFTER_MODIFY,
    RT_NONE,
    RT_PK,
    ReadRow,
    ReadSpec,
    apply_updates,
    capacity_units,
    purge,
    put_version,
    select,
    trim,
    visible,
)
from .storage import Columns, Storage
from .tables import Table, TableMeta, check_options, check_pk, check_reserved, check_table_meta

_EXPECT_NAMES = {
    EXPECT_IGNORE: "IGNORE",
    EXPECT_EXIST: "EXPECT_EXIST",
    EXPECT_NOT_EXIST: "EXPECT_NOT_EXIST",
}

UPDATE_NOT_ALLOWED = "UpdateRow is not allowed on this table: its allow_update option is false."


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class WriteCondition:
    """A write's row existence expectation and optional column condition."""

    existence: int = EXPECT_IGNORE
    predicate: Predicate | None = None


@dataclass
class WriteResult:
    """Capacity consumed by a write and the row to return (RT_PK / RT_AFTER_MODIFY)."""

    read_cu: int
    write_cu: int
    row: ReadRow | None


class Engine:
    """One Tablestore instance's tables and rows, backed by a Storage."""

    def __init__(self, storage: Storage | MemoryStorage, clock: Callable[[], int] = now_ms) -> None:
        self.storage = storage
        self.clock = clock
        self.tables: dict[str, Table] = {}
        self.indexes: dict[str, Index] = {}
        for name, table_id, meta in storage.tables():
            self.tables[name] = Table(TableMeta.from_json(meta), table_id)
        for name, index_id, base, index_meta in storage.indexes():
            table = self.tables[base]
            live = Index(IndexMeta.from_json(index_meta), index_id, table.meta)
            if not storage.index_layout_current(index_id):
                # Written by an earlier ots_local: made again from the table's rows.
                storage.recreate_index_store(index_id)
                with storage.transaction():
                    self._index_existing_rows(table, live)
            table.indexes.append(live)
            self.indexes[name] = live
        # Global index updates still queued (a restart keeps them), and their delay.
        self.pending = storage.pending_count()
        self._next_due: int | None = None  # when the queue's head is due (None: look it up)
        self.index_delay_ms = 0

    # --- table operations ---------------------------------------------------------------------
    def table(self, name: str) -> Table:
        """The data table called `name`; ObjectNotExist if there is none."""
        table = self.tables.get(name)
        if table is None:
            raise errors.ObjectNotExist()
        return table

    def writable(self, name: str) -> Table:
        """The data table a write goes to; index tables are read-only."""
        table = self.tables.get(name)
        if table is None:
            if name in self.indexes:
                raise errors.ParameterInvalid(f"Index table {name} is read-only.")
            raise errors.ObjectNotExist()
        return table

    def readable(self, name: str) -> Table | Index:
        """The data table or index table a read goes to; ObjectNotExist if there is none."""
        table = self.tables.get(name)
        if table is not None:
            return table
        index = self.indexes.get(name)
        if index is None:
            raise errors.ObjectNotExist()
        return index

    def _check_new_name(self, name: str, count: int) -> None:
        """A new table or index name: free in the instance, within the table quota."""
        if name in self.tables or name in self.indexes:
            raise errors.ObjectAlreadyExist()
        if len(self.tables) + len(self.indexes) + count > MAX_TABLES:
            raise errors.QuotaExhausted()

    def create_table(self, meta: TableMeta, indexes: Sequence[IndexMeta] = ()) -> None:
        """Create a data table and its indexes (CreateTable with index_metas)."""
        check_table_meta(meta)
        for i, index in enumerate(indexes):
            check_index_meta(index, meta, i)
            if index.name == meta.name or any(other.name == index.name for other in indexes[:i]):
                raise errors.ObjectAlreadyExist()
        self._check_new_name(meta.name, 1 + len(indexes))
        for index in indexes:
            self._check_new_name(index.name, 0)
        now = self.clock()
        meta.created_ms = meta.last_increase_ms = now
        with self.storage.transaction():
            table = Table(meta, self.storage.create_table(meta.name, meta.to_json()))
            for index in indexes:
                table.indexes.append(self._add_index(index, meta))
        self.tables[meta.name] = table
        for live in table.indexes:
            self.indexes[live.meta.name] = live

    def _add_index(self, index: IndexMeta, base: TableMeta) -> Index:
        index_id = self.storage.create_index(index.name, base.name, index.to_json())
        return Index(index, index_id, base)

    def create_index(self, table_name: str, index: IndexMeta, include_base_data: bool) -> None:
        """Add an index to a data table; with `include_base_data` its rows are indexed now."""
        table = self.table(table_name)
        check_index_meta(index, table.meta, len(table.indexes))
        self._check_new_name(index.name, 1)
        storage = self.storage
        with storage.transaction():
            live = self._add_index(index, table.meta)
            if include_base_data:
                # Updates still queued for the other indexes do not concern this one: it
                # starts from the rows as they are now.
                self._index_existing_rows(table, live)
        table.indexes.append(live)
        self.indexes[index.name] = live

    def _index_existing_rows(self, table: Table, live: Index) -> None:
        """Put the index rows of every row of the table (in the caller's transaction)."""
        types = table.meta.pk_types
        everything = key_range([INF_MIN] * len(types), [INF_MAX] * len(types), types, False)
        assert everything is not None
        made = (
            live.entry(decode_key(key, types), stored)
            for key, stored in self.storage.scan(table.id, everything, False, 2**62)
        )
        self.storage.put_index_rows(live.id, (entry for entry in made if entry is not None))

    def delete_index(self, table_name: str, index_name: str) -> None:
        """Drop one index of a data table (DropIndex)."""
        table = self.table(table_name)
        live = self.indexes.get(index_name)
        if live is None or live.base_name != table_name:
            raise errors.ObjectNotExist(f"Index {index_name} does not exist.")
        self.storage.drop_index(index_name, live.id)
        table.indexes.remove(live)
        del self.indexes[index_name]
        self.pending = self.storage.pending_count()
        self._next_due = None

    def delete_table(self, name: str) -> None:
        """Drop a data table and its indexes."""
        table = self.table(name)
        self.storage.drop_table(name, table.id)
        for live in table.indexes:
            del self.indexes[live.meta.name]
        del self.tables[name]
        self.pending = self.storage.pending_count()
        self._next_due = None

    def list_tables(self) -> list[str]:
        """The data tables' names (index tables are not listed)."""
        return sorted(self.tables)

    def update_table(
        self,
        name: str,
        reserved: tuple[int, int] | None,
        options: dict[str, Any] | None,
    ) -> TableMeta:
        """Change reserved throughput and/or table options (keys as TableMeta fields)."""
        table = self.table(name)
        if reserved is None and not options:
            raise errors.ParameterInvalid("No parameter is specified in table options.")
        meta = table.meta
        updated = TableMeta(**asdict(meta))
        updated.defined_columns = list(meta.defined_columns)
        if options:
            for key, value in options.items():
                setattr(updated, key, value)
        check_options(updated)
        if table.indexes:
            if updated.max_versions != 1:
                raise errors.ParameterInvalid(
                    f"Max versions of table {name} must be 1 when it has index, now is"
                    f" {updated.max_versions}."
                )
            check_index_ttl(updated.time_to_live, updated.allow_update)
        if reserved is not None:
            read, write = reserved
            check_reserved(read, write)
            now = self.clock()
            if read > meta.read_cu or write > meta.write_cu:
                updated.last_increase_ms = now
            if read < meta.read_cu or write < meta.write_cu:
                updated.last_decrease_ms = now
            updated.read_cu, updated.write_cu = read, write
        self.storage.update_table_meta(name, updated.to_json())
        table.meta = updated
        # The index tables follow the data table's time-to-live.
        table.indexes = [Index(live.index_meta, live.id, updated) for live in table.indexes]
        for live in table.indexes:
            self.indexes[live.meta.name] = live
        return updated

    def reset(self) -> None:
        """Drop every table and index, and go back to the default settings."""
        self.storage.drop_all()
        self.tables.clear()
        self.indexes.clear()
        self.pending = 0
        self._next_due = None
        self.index_delay_ms = 0

    # --- index maintenance --------------------------------------------------------------------
    def set_index_delay(self, delay_ms: int) -> None:
        """Delay global index updates by `delay_ms` from now on (0: apply with the write)."""
        if delay_ms == 0 and self.pending:
            self.sync_indexes()
        self.index_delay_ms = delay_ms

    def sync_indexes(self) -> int:
        """Apply every queued global index update now; returns how many there were."""
        if not self.pending:
            return 0
        applied = self.storage.apply_pending(None)
        self.pending = 0
        self._next_due = None
        return applied

    def _apply_due(self) -> None:
        """Apply the queued index updates that are due (before an index table is read)."""
        if not self.pending:
            return
        now = self.clock()
        if self._next_due is None:
            self._next_due = self.storage.next_due()
        if self._next_due is not None and self._next_due <= now:
            self.pending -= self.storage.apply_pending(now)
            self._next_due = self.storage.next_due()

    def _update_indexes(
        self,
        indexes: list[Index],
        values: list[Any],
        old: Columns | None,
        new: Columns | None,
        now: int,
    ) -> None:
        """Bring a data row's index rows in line with its new content (in the write's
        transaction): local indexes and global ones without delay at once, delayed global
        ones through the queue, which keeps their order."""
        storage = self.storage
        delay = self.index_delay_ms
        if not delay and self.pending:
            self.sync_indexes()  # the queue goes first: updates keep their order
        for live in indexes:
            before = live.entry(values, old)
            after = live.entry(values, new)
            if before == after:
                continue
            del_key = None if before is None else before[0]
            put_key, put_row = (None, None) if after is None else after
            if delay and not live.index_meta.local:
                storage.queue_index_update(live.id, now + delay, del_key, put_key, put_row)
                self.pending += 1
                continue
            if del_key is not None and del_key != put_key:
                storage.delete(live.id, del_key)
            if put_key is not None and put_row is not None:
                storage.put_index_row(live.id, put_key, put_row)

    # --- writes -------------------------------------------------------------------------------
    def write(
        self,
        table_name: str,
        op: int,
        row: Row,
        condition: WriteCondition,
        return_type: int = RT_NONE,
        return_columns: Sequence[str] = (),
    ) -> WriteResult:
        """Apply one PutRow / UpdateRow / DeleteRow (`check_write_shape` passed before).

        On a table without indexes this issues at most one writing statement (after any
        read), so a single write is atomic and durable without a surrounding transaction; with
        indexes, the row and its index rows (or queued index updates) commit together.
        Raises ObjectNotExist, InvalidPK, ParameterInvalid, ConditionCheckFail.
        """
        table = self.tables.get(table_name) or self.writable(table_name)
        if not table.indexes:
            return self._write(table, op, row, condition, return_type, return_columns)
        with self.storage.transaction():
            return self._write(table, op, row, condition, return_type, return_columns)

    def _write(
        self,
        table: Table,
        op: int,
        row: Row,
        condition: WriteCondition,
        return_type: int,
        return_columns: Sequence[str],
    ) -> WriteResult:
        meta = table.meta
        if op == OP_UPDATE and meta.allow_update is False:
            # The service's message is not documented; code and status are its usual ones.
            raise errors.ParameterInvalid(UPDATE_NOT_ALLOWED)
        values = check_pk(meta, row.primary_key, write=True)
        auto = meta.auto_increment
        if auto is not None and values[auto] is AUTO_INCREMENT:
            if op == OP_DELETE:
                raise errors.ParameterInvalid("Invalid row to delete which with pk auto increment.")
            if condition.existence != EXPECT_IGNORE:
                raise errors.ParameterInvalid(
                    f"Invalid expect:{_EXPECT_NAMES.get(condition.existence)}"
                    " when modify row with pk auto increment."
                )
            if condition.predicate is not None:
                raise errors.ParameterInvalid(
                    "Can't set condition when modify row with pk auto increment."
                )
            values[auto] = table.next_auto_increment()
        pk_names = meta.pk_names
        now = self.clock()
        cells = row.cells
        deviation = meta.deviation * 1000
        # One pass over the cells: primary key name clashes, explicit versions within the
        # table's max deviation (and time-to-live), and, for PUT, the new row itself.
        lowest = now - deviation
        if meta.time_to_live > 0:
            lowest = max(lowest, now - meta.time_to_live * 1000)
        put: Columns = {}
        for name, value, cell_op, given_ts in cells:
            if name in pk_names:
                raise errors.ParameterInvalid(
                    f"Duplicated attribute column name with primary key column: {name}."
                )
            if given_ts is None:
                ts = now
            elif cell_op is None and not lowest <= given_ts < now + deviation:
                raise errors.ParameterInvalid(f"Invalid timestamp. Cell:{name}.")
            else:
                ts = given_ts
            if op == OP_PUT:
                versions = put.get(name)
                if versions is None:
                    put[name] = [(ts, value)]
                else:
                    put_version(versions, ts, value)
                    del versions[meta.max_versions :]

        key = encode_key(values, meta.pk_types)
        storage = self.storage
        existence = condition.existence
        indexes = table.indexes
        if (
            op == OP_PUT
            and condition.predicate is None
            and existence != EXPECT_EXIST
            and (existence == EXPECT_NOT_EXIST or not indexes)
        ):
            # A PUT replaces the row whatever it held: no need to read it first, unless
            # EXPECT_NOT_EXIST must tell an expired row (TTL) from a live one, or the
            # old row's index rows must go (a PUT IGNORE on a table with indexes).
            stored = None
            if existence == EXPECT_IGNORE:
                storage.put(table.id, key, put)
                read_cu = 0
            elif meta.time_to_live == -1:
                if not storage.insert(table.id, key, put):
                    raise errors.ConditionCheckFail()
                read_cu = 1
            else:
                stored = storage.get(table.id, key)
                if stored and visible(stored, meta, now) is not None:
                    raise errors.ConditionCheckFail()
                storage.put(table.id, key, put)
                read_cu = 1
            new: Columns | None = put
            if indexes:
                self._update_indexes(indexes, values, stored, new, now)
        else:
            stored = storage.get(table.id, key)
            if existence != EXPECT_IGNORE or condition.predicate is not None:
                current = visible(stored, meta, now) if stored else None
                if (existence == EXPECT_EXIST and current is None) or (
                    existence == EXPECT_NOT_EXIST and current is not None
                ):
                    raise errors.ConditionCheckFail()
                if condition.predicate is not None and not condition.predicate(current or {}):
                    raise errors.ConditionCheckFail()
                read_cu = 1
            else:
                read_cu = 0
            if op == OP_PUT:
                new = put
            elif op == OP_UPDATE:
                new = purge(stored, meta, now) if stored else {}
                if indexes and new is stored:
                    # The update works in place: the index rows need the old row as it was.
                    new = {name: list(versions) for name, versions in new.items()}
                apply_updates(new, cells, now)
                trim(new, meta.max_versions)
            else:
                new = None
            if new:
                storage.put(table.id, key, new)
            elif stored is not None:
                storage.delete(table.id, key)
            if indexes:
                self._update_indexes(indexes, values, stored, new, now)

        returned = None
        if return_type == RT_PK:
            returned = ReadRow(list(zip(pk_names, values, strict=True)), [], 0)
        elif return_type == RT_AFTER_MODIFY:
            after = [
                (name, new[name][0][1], new[name][0][0])
                for name in sorted(set(return_columns))
                if new and name in new
            ]
            returned = ReadRow(list(zip(pk_names, values, strict=True)), after, 0)
        return WriteResult(read_cu, max(1, -(-row.size // CU_BYTES)), returned)  # capacity_units

    # --- reads --------------------------------------------------------------------------------
    def get_row(
        self, table_name: str, primary_key: Sequence[tuple[str, Any]], spec: ReadSpec
    ) -> tuple[ReadRow | None, int]:
        """Read one row; returns it (None if absent or filtered out) and the read CU."""
        table = self.readable(table_name)
        meta = table.meta
        values = check_pk(meta, primary_key, write=False)
        now = self.clock()
        if isinstance(table, Index):
            self._apply_due()
        stored = self.storage.get(table.id, encode_key(values, meta.pk_types))
        if stored is None:
            return None, 1
        if isinstance(table, Index) and not index_row_visible(stored, table.floor(now)):
            return None, 1
        row = select(meta, list(zip(meta.pk_names, values, strict=True)), stored, spec, now)
        return row, capacity_units(row.size) if row else 1

    def get_range(
        self,
        table_name: str,
        direction: int,
        start: Sequence[tuple[str, Any]],
        end: Sequence[tuple[str, Any]],
        limit: int | None,
        spec: ReadSpec,
    ) -> tuple[list[ReadRow], list[tuple[str, Any]] | None, int]:
        """Read a page of rows in [start, end); returns rows, the next start pk and read CU."""
        table = self.readable(table_name)
        meta = table.meta
        types = meta.pk_types
        backward = direction == BACKWARD
        keys = key_range(
            check_pk(meta, start, write=False),
            check_pk(meta, end, write=False),
            types,
            backward,
        )
        if keys is None:
            if backward:
                raise errors.ParameterInvalid("Begin key must more than end key in BACKWARD")
            raise errors.ParameterInvalid("Begin key must less than end key in FORWARD")
        if keys.empty:
            return [], None, 1
        limit = RANGE_MAX_ROWS if limit is None else min(limit, RANGE_MAX_ROWS)
        now = self.clock()
        is_index = isinstance(table, Index)
        if is_index:
            self._apply_due()
        floor = table.floor(now) if isinstance(table, Index) else None
        rows: list[ReadRow] = []
        size = scanned = 0
        next_key = None
        names = meta.pk_names
        if is_index and spec.whole_rows():
            # An index row read whole is ready-made (`storage.IndexRow`).
            bodies = self.storage.scan_bodies(table.id, keys, backward, RANGE_MAX_ROWS + 1, floor)
            try:
                for key, row_size, body in bodies:
                    if len(rows) >= limit or size >= RANGE_MAX_BYTES:
                        next_key = key
                        break
                    rows.append(ReadRow([], [], row_size, body))
                    size += row_size
            finally:
                bodies.close()  # type: ignore[attr-defined]
        else:
            scan = self.storage.scan(table.id, keys, backward, RANGE_MAX_ROWS + 1)
            try:
                for key, stored in scan:
                    if len(rows) >= limit or scanned >= RANGE_MAX_ROWS or size >= RANGE_MAX_BYTES:
                        next_key = key
                        break
                    scanned += 1
                    if is_index and not index_row_visible(stored, floor):
                        continue
                    pk = list(zip(names, decode_key(key, types), strict=True))
                    row = select(meta, pk, stored, spec, now)
                    if row is not None:
                        rows.append(row)
                        size += row.size
            finally:
                scan.close()  # type: ignore[attr-defined]
        next_pk = None
        if next_key is not None:
            next_pk = list(zip(names, decode_key(next_key, types), strict=True))
        return rows, next_pk, capacity_units(size)
