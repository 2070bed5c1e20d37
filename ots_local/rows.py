"""Versioned rows: their columns and versions, time-to-live, and what a read selects.

Wire-free and table-free: the engine (`engine.py`) hands these helpers a table's metadata and
a stored row. Semantics (docs/ots_local.md, "What is supported"):

- A row is its attribute columns, each a list of versions `(timestamp_ms, value)`, newest
  first, at most `max_versions` of them; a row with no column left does not exist.
- PUT replaces the whole row; UPDATE puts versions, deletes one version or a whole column, or
  increments an INTEGER column; DELETE removes the row.
- Versions older than the table's time-to-live are invisible (and purged on the next write).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import errors
from .filters import ColumnPagination, CompiledFilter
from .limits import CU_BYTES, INT64_MAX, INT64_MIN
from .plainbuffer import OP_DELETE_ALL_VERSIONS, OP_DELETE_ONE_VERSION, Cell, type_name
from .storage import Columns
from .tables import TableMeta

# protobuf enum values the engine speaks
EXPECT_IGNORE, EXPECT_EXIST, EXPECT_NOT_EXIST = 0, 1, 2
OP_PUT, OP_UPDATE, OP_DELETE = 1, 2, 3
RT_NONE, RT_PK, RT_AFTER_MODIFY = 0, 1, 2
FORWARD, BACKWARD = 0, 1


def value_size(value: Any) -> int:
    """A value's size for capacity units and size limits (INTEGER/DOUBLE 8, BOOLEAN 1)."""
    cls = value.__class__
    if cls is str:
        return len(value.encode())
    if cls is bytes:
        return len(value)
    if cls is bool:
        return 1
    return 8


def capacity_units(size: int) -> int:
    """Capacity units for `size` bytes: one per started 4 KB, at least one."""
    return max(1, -(-size // CU_BYTES))


@dataclass
class ReadSpec:
    """What a read returns: columns, versions, filter (GetRow, BatchGetRow, GetRange)."""

    columns_to_get: Sequence[str] = ()
    max_versions: int | None = None
    time_range: tuple[int, int] | None = None  # [start, end) in ms
    filter: CompiledFilter | None = None
    start_column: str | None = None
    end_column: str | None = None

    def whole_rows(self) -> bool:
        """True if the read returns rows whole: no projection, filter or time range."""
        return (
            self.filter is None
            and not self.columns_to_get
            and self.time_range is None
            and self.start_column is None
            and self.end_column is None
        )


@dataclass
class ReadRow:
    """A row as returned to the client: pk pairs and `(name, value, timestamp)` cells, or
    only its PlainBuffer row body when that is ready-made (an index row read whole)."""

    primary_key: list[tuple[str, Any]]
    cells: list[tuple[str, Any, int]]
    size: int
    body: bytes | None = None


def put_version(versions: list[tuple[int, Any]], ts: int, value: Any) -> None:
    """Insert a version keeping newest-first order; a version with the same ts is replaced."""
    for i, (existing, _) in enumerate(versions):
        if existing == ts:
            versions[i] = (ts, value)
            return
        if existing < ts:
            versions.insert(i, (ts, value))
            return
    versions.append((ts, value))


def trim(columns: Columns, max_versions: int) -> None:
    """Keep at most `max_versions` versions of every column (the newest)."""
    for versions in columns.values():
        if len(versions) > max_versions:
            del versions[max_versions:]


def apply_updates(columns: Columns, cells: Iterable[Cell], now: int) -> None:
    for name, value, op, ts in cells:
        if op is None:
            put_version(columns.setdefault(name, []), now if ts is None else ts, value)
        elif op == OP_DELETE_ALL_VERSIONS:
            columns.pop(name, None)
        elif op == OP_DELETE_ONE_VERSION:
            versions = columns.get(name)
            if versions:
                versions[:] = [version for version in versions if version[0] != ts]
                if not versions:
                    del columns[name]
        else:  # OP_INCREMENT
            versions = columns.get(name)
            base = 0
            if versions:
                base = versions[0][1]
                if base.__class__ is not int:
                    raise errors.ParameterInvalid(
                        f"Can not increment column {name}: its value is {type_name(base)},"
                        " not VT_INTEGER."
                    )
            result = base + value
            if not INT64_MIN <= result <= INT64_MAX:
                raise errors.ParameterInvalid(f"Increment of column {name} overflows int64.")
            put_version(columns.setdefault(name, []), now, result)


def ttl_floor(meta: TableMeta, now: int) -> int | None:
    return now - meta.time_to_live * 1000 if meta.time_to_live > 0 else None


def purge(stored: Columns, meta: TableMeta, now: int) -> Columns:
    """The stored columns without expired versions (the base of an update)."""
    floor = ttl_floor(meta, now)
    if floor is None:
        return stored
    purged = {}
    for name, versions in stored.items():
        kept = [version for version in versions if version[0] > floor]
        if kept:
            purged[name] = kept
    return purged


def visible(stored: Columns, meta: TableMeta, now: int) -> Columns | None:
    """What a condition sees: live versions within max_versions; None if the row is gone."""
    floor = ttl_floor(meta, now)
    limit = meta.max_versions
    visible = {}
    for name, versions in stored.items():
        kept = versions[:limit]
        if floor is not None:
            kept = [version for version in kept if version[0] > floor]
        if kept:
            visible[name] = kept
    return visible or None


def pk_size(primary_key: Iterable[tuple[str, Any]]) -> int:
    return sum(len(name) + value_size(value) for name, value in primary_key)


def select(
    meta: TableMeta,
    primary_key: list[tuple[str, Any]],
    stored: Columns,
    spec: ReadSpec,
    now: int,
) -> ReadRow | None:
    """Apply a read's versions, filter and projection to a stored row."""
    floor = ttl_floor(meta, now)
    table_limit = meta.max_versions
    read_limit = min(spec.max_versions or table_limit, table_limit)
    time_range = spec.time_range
    selected: Columns
    if floor is None and time_range is None:
        # The common read: every column's newest versions, nothing expires.
        selected = {name: versions[:read_limit] for name, versions in stored.items()}
    else:
        low = floor + 1 if floor is not None else 0
        start, end = time_range if time_range is not None else (0, INT64_MAX)
        low = max(low, start)
        selected = {}
        for name, versions in stored.items():
            kept = [version for version in versions[:table_limit] if low <= version[0] < end]
            if kept:
                selected[name] = kept[:read_limit]
        if not selected:
            return None
    row_filter = spec.filter
    if (
        row_filter is not None
        and row_filter.predicate is not None
        and not row_filter.predicate(selected)
    ):
        return None
    # With columns_to_get, a row is returned when it has one of the named columns (attribute or
    # primary key), and then always with its whole primary key, as the service does.
    wanted = spec.columns_to_get
    if wanted:
        wanted_set = set(wanted)
        names = sorted(name for name in selected if name in wanted_set)
        pk_named = any(pair[0] in wanted_set for pair in primary_key)
    else:
        names = sorted(selected)
        pk_named = True
    if spec.start_column is not None:
        names = [name for name in names if name >= spec.start_column]
    if spec.end_column is not None:
        names = [name for name in names if name < spec.end_column]
    if row_filter is not None and row_filter.pagination is not None:
        page: ColumnPagination = row_filter.pagination
        names = names[page.offset : page.offset + page.limit]
    if not names and not pk_named:
        return None
    pk = primary_key
    cells = [(name, value, ts) for name in names for ts, value in selected[name]]
    return ReadRow(pk, cells, row_size(pk, cells))


def row_size(pk: list[tuple[str, Any]], cells: list[tuple[str, Any, int]]) -> int:
    """A returned row's size: its names and values (what reads count and limit)."""
    size = pk_size(pk)
    for name, value, _ in cells:
        cls = value.__class__
        size += len(name) + (
            len(value) if cls is bytes or (cls is str and value.isascii()) else value_size(value)
        )
    return size
