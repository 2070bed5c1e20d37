"""The Tablestore data model: tables, versioned rows, conditions, reads and writes.

Wire-free: `api.py` decodes requests into these calls and encodes their results. Every method
runs on the server's single data thread, so a conditional write (read, check, write) is atomic.

Row semantics (ots-protocol.md section 4):

- A row is its attribute columns, each a list of versions `(timestamp_ms, value)`, newest
  first, at most `max_versions` of them; a row with no column left does not exist.
- PUT replaces the whole row; UPDATE puts versions, deletes one version or a whole column, or
  increments an INTEGER column; DELETE removes the row.
- Versions older than the table's time-to-live are invisible (and purged on the next write).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import errors
from .filters import ColumnPagination, CompiledFilter, Predicate
from .keys import PK_BINARY, PK_INTEGER, PK_STRING, decode_key, encode_key, key_range
from .plainbuffer import (
    AUTO_INCREMENT,
    INF_MAX,
    INF_MIN,
    OP_DELETE_ALL_VERSIONS,
    OP_DELETE_ONE_VERSION,
    OP_INCREMENT,
    Cell,
    Row,
    Sentinel,
    type_name,
)
from .storage import Columns, Storage

# --- limits (ots-protocol.md section 4.5) ----------------------------------------------------
MAX_TABLES = 64
MAX_PK_COLUMNS = 4
MAX_NAME_LENGTH = 255
MAX_PK_VALUE_LENGTH = 1024
MAX_VALUE_LENGTH = 2 * 1024 * 1024
MAX_COLUMNS_PER_WRITE = 1024
MAX_COLUMNS_TO_GET = 128
MAX_DEFINED_COLUMNS = 32
MAX_ROW_REQUEST_SIZE = 4 * 1024 * 1024
RANGE_MAX_ROWS = 5000
RANGE_MAX_BYTES = 4 * 1024 * 1024
MAX_TIMESTAMP = (2**63 - 1) // 1000  # exclusive
MAX_DEVIATION = (2**63 - 1) // 1000000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
CU_BYTES = 4096

# protobuf enum values this module speaks
EXPECT_IGNORE, EXPECT_EXIST, EXPECT_NOT_EXIST = 0, 1, 2
OP_PUT, OP_UPDATE, OP_DELETE = 1, 2, 3
RT_NONE, RT_PK, RT_AFTER_MODIFY = 0, 1, 2
FORWARD, BACKWARD = 0, 1

PK_TYPE_NAMES = {PK_INTEGER: "VT_INTEGER", PK_STRING: "VT_STRING", PK_BINARY: "VT_BLOB"}
_PK_PYTHON_TYPES = {PK_INTEGER: int, PK_STRING: str, PK_BINARY: bytes}
_EXPECT_NAMES = {
    EXPECT_IGNORE: "IGNORE",
    EXPECT_EXIST: "EXPECT_EXIST",
    EXPECT_NOT_EXIST: "EXPECT_NOT_EXIST",
}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def valid_name(name: str) -> bool:
    """Table and column names: `[A-Za-z_][A-Za-z0-9_]*`, 1..255 bytes."""
    return 0 < len(name) <= MAX_NAME_LENGTH and _NAME_RE.match(name) is not None


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


# --- tables ----------------------------------------------------------------------------------
@dataclass
class TableMeta:
    """What CreateTable stores and DescribeTable echoes."""

    name: str
    pk_names: list[str]
    pk_types: list[int]
    auto_increment: int | None = None  # index of the AUTO_INCREMENT pk column
    defined_columns: list[tuple[str, int]] = field(default_factory=list)
    time_to_live: int = -1
    max_versions: int = 1
    deviation: int = 86400
    allow_update: bool | None = None
    read_cu: int = 0
    write_cu: int = 0
    created_ms: int = 0
    last_increase_ms: int = 0
    last_decrease_ms: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TableMeta:
        data = json.loads(text)
        data["defined_columns"] = [tuple(item) for item in data["defined_columns"]]
        return cls(**data)


class Table:
    """A live table: its metadata, storage id and auto-increment counter."""

    def __init__(self, meta: TableMeta, table_id: int) -> None:
        self.meta = meta
        self.id = table_id
        self._last_auto_increment = 0

    def next_auto_increment(self) -> int:
        """A unique, increasing value (microseconds since the epoch, bumped on collision)."""
        value = max(self._last_auto_increment + 1, time.time_ns() // 1000)
        self._last_auto_increment = value
        return value


@dataclass
class ReadSpec:
    """What a read returns: columns, versions, filter (GetRow, BatchGetRow, GetRange)."""

    columns_to_get: Sequence[str] = ()
    max_versions: int | None = None
    time_range: tuple[int, int] | None = None  # [start, end) in ms
    filter: CompiledFilter | None = None
    start_column: str | None = None
    end_column: str | None = None


@dataclass
class WriteCondition:
    """A write's row existence expectation and optional column condition."""

    existence: int = EXPECT_IGNORE
    predicate: Predicate | None = None


@dataclass
class ReadRow:
    """A row as returned to the client: pk pairs and `(name, value, timestamp)` cells."""

    primary_key: list[tuple[str, Any]]
    cells: list[tuple[str, Any, int]]
    size: int


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
        _check_table_meta(meta)
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
        _check_options(updated)
        if reserved is not None:
            read, write = reserved
            _check_reserved(read, write)
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

    # --- primary keys -------------------------------------------------------------------------
    @staticmethod
    def check_pk(
        meta: TableMeta, primary_key: Sequence[tuple[str, Any]], *, write: bool
    ) -> list[Any]:
        """Validate a primary key against the schema (OTSInvalidPK); returns its values.

        INF_MIN / INF_MAX are allowed in ranges (checked earlier for other requests);
        the AUTO_INCREMENT placeholder only in writes, in the table's auto-increment column.
        """
        if len(primary_key) != len(meta.pk_names):
            raise errors.InvalidPK(
                f"Validate PK size fail. Input: {len(primary_key)}, Meta: {len(meta.pk_names)}."
            )
        values = []
        for i, ((name, value), meta_name, meta_type) in enumerate(
            zip(primary_key, meta.pk_names, meta.pk_types, strict=True)
        ):
            if name != meta_name:
                raise errors.InvalidPK(f"Validate PK name fail. Input: {name}, Meta: {meta_name}.")
            if value is AUTO_INCREMENT:
                if not write:
                    raise errors.ParameterInvalid("PKAutoIncr can't be used for read operations.")
                if meta.auto_increment != i:
                    raise errors.InvalidPK(
                        f"Validate PK type fail. Input: VT_AUTO_INCREMENT,"
                        f" Meta: {PK_TYPE_NAMES[meta_type]}."
                    )
            elif (
                value is not INF_MIN
                and value is not INF_MAX
                and value.__class__ is not _PK_PYTHON_TYPES[meta_type]
            ):
                raise errors.InvalidPK(
                    f"Validate PK type fail. Input: {type_name(value)},"
                    f" Meta: {PK_TYPE_NAMES[meta_type]}."
                )
            values.append(value)
        return values

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
        values = self.check_pk(meta, row.primary_key, write=True)
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
                    _put_version(versions, ts, value)
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
                if stored and _visible(stored, meta, now) is not None:
                    raise errors.ConditionCheckFail()
                storage.put(table.id, key, put)
                read_cu = 1
            new: Columns | None = put
        else:
            stored = storage.get(table.id, key)
            if existence != EXPECT_IGNORE or condition.predicate is not None:
                current = _visible(stored, meta, now) if stored else None
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
                new = _purge(stored, meta, now) if stored else {}
                _apply_updates(new, cells, now)
                _trim(new, meta.max_versions)
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
        values = self.check_pk(meta, primary_key, write=False)
        stored = self.storage.get(table.id, encode_key(values, meta.pk_types))
        if stored is None:
            return None, 1
        row = _select(
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
            self.check_pk(meta, start, write=False),
            self.check_pk(meta, end, write=False),
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
                row = _select(meta, pk, stored, spec, now)
                if row is not None:
                    rows.append(row)
                    size += row.size
        finally:
            scan.close()  # type: ignore[attr-defined]
        next_pk = None
        if next_key is not None:
            next_pk = list(zip(names, decode_key(next_key, types), strict=True))
        return rows, next_pk, capacity_units(size)


# --- request shape checks (no table needed) ----------------------------------------------------
def check_range_pk(primary_key: Sequence[tuple[str, Any]]) -> None:
    """GetRange bounds: only value limits here (INF_MIN / INF_MAX are fine)."""
    for name, value in primary_key:
        _check_pk_value(name, value)


def check_read_pk(primary_key: Sequence[tuple[str, Any]]) -> None:
    """GetRow / BatchGetRow keys: no INF_MIN / INF_MAX, values within limits."""
    for name, value in primary_key:
        if value is INF_MIN or value is INF_MAX:
            raise errors.ParameterInvalid(
                f"{value.type_name} is an invalid type for the primary key."
            )
        _check_pk_value(name, value)


def _check_pk_value(name: str, value: Any) -> None:
    if value.__class__ is str or value.__class__ is bytes:
        length = value_size(value)
        if length > MAX_PK_VALUE_LENGTH:
            raise errors.ParameterInvalid(
                f"The length of primary key column: '{name}' exceeds the MaxLength:"
                f"{MAX_PK_VALUE_LENGTH} with CurrentLength:{length}."
            )
    elif value.__class__ is float:
        raise errors.ParameterInvalid("double can not be used as primary key.")


def check_write_shape(op: int, row: Row, api: str) -> int:
    """Request-level checks of one row change; returns its data size.

    In BatchWriteRow these fail the whole request (ParameterInvalid), unlike the schema
    checks in `Engine.write`, which fail only their row.
    """
    for name, value in row.primary_key:
        if value is INF_MIN or value is INF_MAX:
            raise errors.ParameterInvalid(
                f"{value.type_name} is an invalid type for the primary key."
            )
        _check_pk_value(name, value)
    cells = row.cells
    if op == OP_DELETE:
        if not row.delete_marker:
            raise errors.ParameterInvalid(
                "Invalid request of delete row: missing RowDeleteMarker in request."
            )
        if cells:
            raise errors.ParameterInvalid(
                "Invalid delete row request: unexpected cells in request."
            )
        return row.size
    if row.delete_marker:
        raise errors.ParameterInvalid(
            "Invalid request of put/update row: unexpected RowDeleteMarker in request."
        )
    if not cells:
        if op == OP_PUT:
            raise errors.ParameterInvalid("Attribute column is missing.")
        raise errors.ParameterInvalid("Invalid update row request: missing cells in request.")
    if len(cells) > MAX_COLUMNS_PER_WRITE:
        raise errors.ParameterInvalid(
            f"The number of attribute columns exceeds the limit, limit count:"
            f" {MAX_COLUMNS_PER_WRITE}, column count: {len(cells)}."
        )
    names_seen = _valid_names
    for name, value, cell_op, ts in cells:
        if name not in names_seen and not _remember_valid_name(name):
            raise errors.ParameterInvalid(f"Invalid column name: '{name}'.")
        cls = value.__class__
        if cell_op is None:
            if value is None:
                if op == OP_PUT:
                    raise errors.ParameterInvalid(
                        "Invalid request of put row: find cells without values."
                    )
                raise errors.ParameterInvalid(f"Invalid cell: {name}. Reason: missing value.")
        elif op == OP_PUT:
            raise errors.ParameterInvalid(
                f"OpType cannot be given for column name:{name} in PutRow."
            )
        else:
            _check_cell_op(name, value, cell_op, ts)
        if cls is str or cls is bytes:
            # A str of n characters has at least n and at most 4n UTF-8 bytes.
            if len(value) * (4 if cls is str else 1) > MAX_VALUE_LENGTH:
                length = value_size(value)
                if length > MAX_VALUE_LENGTH:
                    raise errors.ParameterInvalid(
                        f"The length of attribute column: '{name}' exceeds the MaxLength:"
                        f"{MAX_VALUE_LENGTH} with CurrentLength:{length}."
                    )
        elif cls is float:
            if math.isnan(value):
                raise errors.ParameterInvalid("NaN can't be set to double value.")
            if math.isinf(value):
                raise errors.ParameterInvalid("Infinity can't be set to double value.")
        elif isinstance(value, Sentinel):
            raise errors.ParameterInvalid(
                f"{value.type_name} is an invalid type for the attribute column."
            )
        if ts is not None and not 0 <= ts < MAX_TIMESTAMP:
            raise errors.ParameterInvalid("Timestamp must be in range [0, INT64_MAX/1000).")
    if row.size > MAX_ROW_REQUEST_SIZE and api in ("PutRow", "UpdateRow"):
        raise errors.ParameterInvalid(
            f"The total data size of {api} request exceeds the limit, limit size:"
            f" {MAX_ROW_REQUEST_SIZE}, data size: {row.size}."
        )
    return row.size


def _check_cell_op(name: str, value: Any, cell_op: int, ts: int | None) -> None:
    """The value and timestamp rules of an UpdateRow cell op."""
    if cell_op in (OP_DELETE_ONE_VERSION, OP_DELETE_ALL_VERSIONS):
        if value is not None:
            raise errors.ParameterInvalid(
                "Column value cannot be given when type is DELETE_ONE_VERSION,DELETE_ALL_VERSION."
            )
        if cell_op == OP_DELETE_ONE_VERSION and ts is None:
            raise errors.ParameterInvalid(
                "Timestamp must be given when type is DELETE_ONE_VERSION."
            )
        if cell_op == OP_DELETE_ALL_VERSIONS and ts is not None:
            raise errors.ParameterInvalid(
                "Timestamp cannot be given when type is DELETE_ALL_VERSION."
            )
    elif cell_op == OP_INCREMENT:
        if value.__class__ is not int:
            raise errors.ParameterInvalid(
                f"Increment value of column {name} must be INTEGER, not"
                f" {'nothing' if value is None else type_name(value)}."
            )
        if ts is not None:
            raise errors.ParameterInvalid("Timestamp cannot be given when type is INCREMENT.")
    else:
        raise errors.ParameterInvalid(f"Invalid op type of cell: {cell_op}.")


# Column names already found valid (they repeat across rows): checked once each.
_valid_names: set[str] = set()


def _remember_valid_name(name: str) -> bool:
    if not valid_name(name):
        return False
    if len(_valid_names) < 4096:
        _valid_names.add(name)
    return True


def check_read_spec(
    spec: ReadSpec, specific_time: int | None, has_range: bool, batch: bool
) -> None:
    """Version condition rules of GetRow / BatchGetRow / GetRange."""
    if len(spec.columns_to_get) > MAX_COLUMNS_TO_GET:
        raise errors.ParameterInvalid(
            f"The number of columns from the request exceeds the limit, limit count:"
            f" {MAX_COLUMNS_TO_GET}, column count: {len(spec.columns_to_get)}."
        )
    for name in spec.columns_to_get:
        if not valid_name(name):
            raise errors.ParameterInvalid(f"Invalid column name: '{name}'.")
    if specific_time is not None:
        if specific_time < 0:
            raise errors.ParameterInvalid("Specific timestamp cannot be less than 0.")
        if has_range and spec.max_versions is not None:
            raise errors.ParameterInvalid(
                "Specific timestamp, time range and max versions cannot be given at the same time."
            )
        if has_range:
            raise errors.ParameterInvalid(
                "Specific tiemstamp and time range cannot be given at the same time."
            )
        if spec.max_versions is not None:
            raise errors.ParameterInvalid(
                "Specific tiemstamp and max versions cannot be given at the same time."
            )
    if spec.max_versions is not None and spec.max_versions <= 0:
        raise errors.ParameterInvalid(
            f"Invalid max versions: {spec.max_versions}. Reason: Max versions must be positive."
        )
    if spec.max_versions is None and spec.time_range is None:
        if batch:
            raise errors.ParameterInvalid("No version condition is specified while querying row.")
        raise errors.ParameterInvalid("No version condition is specified.")
    if spec.time_range is not None:
        start, end = spec.time_range
        if start < 0 or end < 0:
            raise errors.ParameterInvalid("Timestamp must be in range [0, INT64_MAX/1000).")
        if start >= end:
            raise errors.ParameterInvalid(
                "Invalid time range: the start must be less than the end."
            )


# --- table meta checks -------------------------------------------------------------------------
def _check_table_meta(meta: TableMeta) -> None:
    if not valid_name(meta.name):
        raise errors.ParameterInvalid(f"Invalid table name: '{meta.name}'.")
    if not 1 <= len(meta.pk_names) <= MAX_PK_COLUMNS:
        raise errors.ParameterInvalid(
            f"The number of primary key columns must be in range: [1, {MAX_PK_COLUMNS}]."
        )
    seen: set[str] = set()
    for name, pk_type in zip(meta.pk_names, meta.pk_types, strict=True):
        if not valid_name(name):
            raise errors.ParameterInvalid(f"Invalid column name: '{name}'.")
        if name in seen:
            raise errors.ParameterInvalid(f"Duplicated primary key name: '{name}'.")
        seen.add(name)
        if pk_type not in PK_TYPE_NAMES:
            type_label = {5: "BOOLEAN"}.get(pk_type, str(pk_type))
            raise errors.ParameterInvalid(f"{type_label} is an invalid type for the primary key.")
    if meta.auto_increment is not None:
        if meta.pk_types[meta.auto_increment] != PK_INTEGER:
            raise errors.ParameterInvalid("AUTO_INCREMENT primary key must be integer.")
        if meta.auto_increment == 0:
            raise errors.ParameterInvalid(
                f"First primary key can't be auto increment, table: {meta.name}."
            )
    if len(meta.defined_columns) > MAX_DEFINED_COLUMNS:
        raise errors.ParameterInvalid(
            f"The number of defined columns must be in range: [0, {MAX_DEFINED_COLUMNS}]."
        )
    for name, _ in meta.defined_columns:
        if not valid_name(name):
            raise errors.ParameterInvalid(f"Invalid column name: '{name}'.")
        if name in seen:
            raise errors.ParameterInvalid(
                f"Duplicated attribute column name with primary key column: {name}."
            )
    _check_options(meta)
    _check_reserved(meta.read_cu, meta.write_cu)


def _check_options(meta: TableMeta) -> None:
    if meta.time_to_live == 0 or meta.time_to_live < -1:
        raise errors.ParameterInvalid("TimeToLive cannot be 0 or less than -1.")
    if meta.max_versions <= 0:
        raise errors.ParameterInvalid("The maximum versions cannot be less than or equal to 0.")
    if not 0 <= meta.deviation <= MAX_DEVIATION:
        raise errors.ParameterInvalid(
            "The maximum deviation must be in range [0, INT64_MAX/1000000]."
        )


def _check_reserved(read: int, write: int) -> None:
    for value in (read, write):
        if value < 0:
            raise errors.ParameterInvalid(
                f"Invalid Capacity Unit:{value} . Capacity Unit must be nonnegative."
            )


# --- row helpers -------------------------------------------------------------------------------
def _put_version(versions: list[tuple[int, Any]], ts: int, value: Any) -> None:
    """Insert a version keeping newest-first order; a version with the same ts is replaced."""
    for i, (existing, _) in enumerate(versions):
        if existing == ts:
            versions[i] = (ts, value)
            return
        if existing < ts:
            versions.insert(i, (ts, value))
            return
    versions.append((ts, value))


def _trim(columns: Columns, max_versions: int) -> None:
    """Keep at most `max_versions` versions of every column (the newest)."""
    for versions in columns.values():
        if len(versions) > max_versions:
            del versions[max_versions:]


def _apply_updates(columns: Columns, cells: Iterable[Cell], now: int) -> None:
    for name, value, op, ts in cells:
        if op is None:
            _put_version(columns.setdefault(name, []), now if ts is None else ts, value)
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
            _put_version(columns.setdefault(name, []), now, result)


def _ttl_floor(meta: TableMeta, now: int) -> int | None:
    return now - meta.time_to_live * 1000 if meta.time_to_live > 0 else None


def _purge(stored: Columns, meta: TableMeta, now: int) -> Columns:
    """The stored columns without expired versions (the base of an update)."""
    floor = _ttl_floor(meta, now)
    if floor is None:
        return stored
    purged = {}
    for name, versions in stored.items():
        kept = [version for version in versions if version[0] > floor]
        if kept:
            purged[name] = kept
    return purged


def _visible(stored: Columns, meta: TableMeta, now: int) -> Columns | None:
    """What a condition sees: live versions within max_versions; None if the row is gone."""
    floor = _ttl_floor(meta, now)
    limit = meta.max_versions
    visible = {}
    for name, versions in stored.items():
        kept = versions[:limit]
        if floor is not None:
            kept = [version for version in kept if version[0] > floor]
        if kept:
            visible[name] = kept
    return visible or None


def _pk_size(primary_key: Iterable[tuple[str, Any]]) -> int:
    return sum(len(name) + value_size(value) for name, value in primary_key)


def _select(
    meta: TableMeta,
    primary_key: list[tuple[str, Any]],
    stored: Columns,
    spec: ReadSpec,
    now: int,
) -> ReadRow | None:
    """Apply a read's versions, filter and projection to a stored row."""
    floor = _ttl_floor(meta, now)
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
    wanted = spec.columns_to_get
    if wanted:
        wanted_set = set(wanted)
        pk = [pair for pair in primary_key if pair[0] in wanted_set]
        names = sorted(name for name in selected if name in wanted_set)
    else:
        pk = primary_key
        names = sorted(selected)
    if spec.start_column is not None:
        names = [name for name in names if name >= spec.start_column]
    if spec.end_column is not None:
        names = [name for name in names if name < spec.end_column]
    if row_filter is not None and row_filter.pagination is not None:
        page: ColumnPagination = row_filter.pagination
        names = names[page.offset : page.offset + page.limit]
    if not names and not pk:
        return None
    cells = [(name, value, ts) for name in names for ts, value in selected[name]]
    size = _pk_size(pk)
    for name, value, _ in cells:
        cls = value.__class__
        size += len(name) + (
            len(value) if cls is bytes or (cls is str and value.isascii()) else value_size(value)
        )
    return ReadRow(pk, cells, size)
