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
from .keys import decode_key, encode_key, key_range
from .limits import MAX_TABLES, RANGE_MAX_BYTES, RANGE_MAX_ROWS
from .plainbuffer import AUTO_INCREMENT, Row
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


@dataclass
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

    def __init__(self, storage: Storage, clock: Callable[[], int] = now_ms) -> None:
        self.storage = storage
        self.clock = clock
        self.tables: dict[str, Table] = {}
        for name, table_id, meta in storage.tables():
            self.tables[name] = Table(TableMeta.from_json(meta), table_id)

    # --- table operations ---------------------------------------------------------------------
    def table(self, name: str) -> Table:
        """The table called `name`; ObjectNotExist if there is none."""
        table = self.tables.get(name)
        if table is None:
            raise errors.ObjectNotExist()
        return table

    def create_table(self, meta: TableMeta) -> None:
        check_table_meta(meta)
        if meta.name in self.tables:
            raise errors.ObjectAlreadyExist()
        if len(self.tables) >= MAX_TABLES:
            raise errors.QuotaExhausted()
        now = self.clock()
        meta.created_ms = meta.last_increase_ms = now
        table_id = self.storage.create_table(meta.name, meta.to_json())
        self.tables[meta.name] = Table(meta, table_id)

    def delete_table(self, name: str) -> None:
        table = self.table(name)
        self.storage.drop_table(name, table.id)
        del self.tables[name]

    def list_tables(self) -> list[str]:
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
        return updated

    def reset(self) -> None:
        """Drop every table."""
        self.storage.drop_all()
        self.tables.clear()

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

        Issues at most one writing statement (after any read), so a single write is atomic and
        durable without a surrounding transaction. Raises ObjectNotExist, InvalidPK,
        ParameterInvalid, ConditionCheckFail.
        """
        table = self.table(table_name)
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
        if op == OP_PUT and condition.predicate is None and existence != EXPECT_EXIST:
            # A PUT replaces the row whatever it held: no need to read it first, unless
            # EXPECT_NOT_EXIST must tell an expired row (TTL) from a live one.
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
                apply_updates(new, cells, now)
                trim(new, meta.max_versions)
            else:
                new = None
            if new:
                storage.put(table.id, key, new)
            elif stored is not None:
                storage.delete(table.id, key)

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
        return WriteResult(read_cu, capacity_units(row.size), returned)

    # --- reads --------------------------------------------------------------------------------
    def get_row(
        self, table_name: str, primary_key: Sequence[tuple[str, Any]], spec: ReadSpec
    ) -> tuple[ReadRow | None, int]:
        """Read one row; returns it (None if absent or filtered out) and the read CU."""
        table = self.table(table_name)
        meta = table.meta
        values = check_pk(meta, primary_key, write=False)
        stored = self.storage.get(table.id, encode_key(values, meta.pk_types))
        if stored is None:
            return None, 1
        row = select(
            meta, list(zip(meta.pk_names, values, strict=True)), stored, spec, self.clock()
        )
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
        table = self.table(table_name)
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
        rows: list[ReadRow] = []
        size = scanned = 0
        next_key = None
        names = meta.pk_names
        scan = self.storage.scan(table.id, keys, backward, RANGE_MAX_ROWS + 1)
        try:
            for key, stored in scan:
                if len(rows) >= limit or scanned >= RANGE_MAX_ROWS or size >= RANGE_MAX_BYTES:
                    next_key = key
                    break
                scanned += 1
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
