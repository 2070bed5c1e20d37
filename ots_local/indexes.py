"""Secondary indexes: their metadata and checks, and the index row of a data table row.

An index table's primary key is the index's primary key columns (primary key or predefined
columns of the data table) followed by the data table's primary key columns not among them,
in the data table's order. Its attribute columns are the predefined columns the index lists.
A data row missing any index primary key column (or holding a value of another type than
the predefined column's, or a key value over 1 KB) has no index row.

Index rows carry one hidden cell under the name `MARKER` (not a valid column name, never
returned): its timestamp is the oldest of the index primary key cells' timestamps (or the
newest cell of the row when the index key is the data table's primary key only), so an index
row expires with the data it was made of under the data table's time-to-live. The row is
also kept as a read of the whole row returns it (`storage.IndexRow`), encoded once when it is
written: exports page through index tables, and encoding is most of a read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import errors
from .keys import PK_BINARY, PK_INTEGER, PK_STRING, encode_key
from .limits import (
    MAX_INDEX_ATTRIBUTE_COLUMNS,
    MAX_INDEX_PK_COLUMNS,
    MAX_INDEXES_PER_TABLE,
    MAX_PK_VALUE_LENGTH,
)
from .plainbuffer import encode_row_body
from .rows import row_size, value_size
from .storage import Columns, IndexRow
from .tables import PK_PYTHON_TYPES, TableMeta, valid_name

MARKER = ""  # the hidden cell of an index row (see the module docstring)

# protobuf IndexType / IndexUpdateMode / DefinedColumnType values
IT_GLOBAL_INDEX, IT_LOCAL_INDEX = 0, 1
IUM_ASYNC_INDEX, IUM_SYNC_INDEX = 0, 1
_DEFINED_TO_PK = {1: PK_INTEGER, 4: PK_STRING, 7: PK_BINARY}  # DCT_INTEGER, DCT_STRING, DCT_BLOB


@dataclass
class IndexMeta:
    """What CreateIndex (or CreateTable's index_metas) stores and DescribeTable echoes."""

    name: str
    primary_key: list[str]
    defined_columns: list[str] = field(default_factory=list)
    index_type: int = IT_GLOBAL_INDEX
    update_mode: int = IUM_ASYNC_INDEX

    @property
    def local(self) -> bool:
        """A local index is updated with its data table's row, in the same transaction."""
        return self.index_type == IT_LOCAL_INDEX

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IndexMeta:
        return cls(**json.loads(text))


class Index:
    """A live index table: its metadata, storage id, data table, and read schema.

    `meta` is the index table's schema as a TableMeta, so reads treat it as any table.
    """

    def __init__(self, index_meta: IndexMeta, index_id: int, base: TableMeta) -> None:
        self.index_meta = index_meta
        self.id = index_id
        self.base_name = base.name
        defined = dict(base.defined_columns)
        names = list(index_meta.primary_key)
        names += [name for name in base.pk_names if name not in index_meta.primary_key]
        types = []
        # Where each index primary key value comes from: (data table pk position, "", None),
        # or (-1, column name, python type) for a column of the row.
        self.sources: list[tuple[int, str, type | None]] = []
        for name in names:
            if name in base.pk_names:
                position = base.pk_names.index(name)
                types.append(base.pk_types[position])
                self.sources.append((position, "", None))
            else:
                pk_type = _DEFINED_TO_PK[defined[name]]
                types.append(pk_type)
                self.sources.append((-1, name, PK_PYTHON_TYPES[pk_type]))
        self.attributes = list(index_meta.defined_columns)
        self.time_to_live = base.time_to_live
        # Expiry goes by the hidden cell (`visible`); the schema itself has no time-to-live.
        self.meta = TableMeta(
            name=index_meta.name,
            pk_names=names,
            pk_types=types,
            max_versions=1,
            deviation=base.deviation,
            created_ms=base.created_ms,
        )

    def floor(self, now: int) -> int | None:
        """Index rows whose hidden cell is at or below this timestamp have expired."""
        return now - self.time_to_live * 1000 if self.time_to_live > 0 else None

    def entry(
        self, pk_values: Sequence[Any], columns: Columns | None
    ) -> tuple[bytes, IndexRow] | None:
        """The index row (storage key, stored row) of a data row; None if it has none."""
        if not columns:
            return None
        values = []
        oldest = None
        for position, name, cls in self.sources:
            if position >= 0:
                values.append(pk_values[position])
                continue
            versions = columns.get(name)
            if not versions:
                return None
            ts, value = versions[0]
            if value.__class__ is not cls:
                return None
            if cls is not int and value_size(value) > MAX_PK_VALUE_LENGTH:
                return None
            values.append(value)
            oldest = ts if oldest is None or ts < oldest else oldest
        if oldest is None:
            oldest = max(versions[0][0] for versions in columns.values())
        row: Columns = {}
        cells = []
        for name in sorted(self.attributes):
            versions = columns.get(name)
            if versions:
                row[name] = versions[:1]
                ts, value = versions[0]
                cells.append((name, value, ts))
        row[MARKER] = [(oldest, None)]
        pk = list(zip(self.meta.pk_names, values, strict=True))
        indexed = IndexRow(row, oldest, row_size(pk, cells), encode_row_body(pk, cells))
        return encode_key(values, self.meta.pk_types), indexed


def check_index_meta(index: IndexMeta, base: TableMeta, existing: int) -> None:
    """The service's checks of a new index on `base`, which has `existing` indexes already."""
    if not valid_name(index.name):
        raise errors.ParameterInvalid(f"Invalid index name: '{index.name}'.")
    if base.max_versions != 1:
        raise errors.ParameterInvalid(
            f"Max versions of table {base.name} must be 1 when it has index, now is"
            f" {base.max_versions}."
        )
    check_index_ttl(base.time_to_live, base.allow_update)
    if existing >= MAX_INDEXES_PER_TABLE:
        raise errors.ParameterInvalid(
            f"Number of index per table exceeds the quota:{MAX_INDEXES_PER_TABLE}."
        )
    if not 1 <= len(index.primary_key) <= MAX_INDEX_PK_COLUMNS:
        raise errors.ParameterInvalid(
            f"The number of primary key columns must be in range: [1, {MAX_INDEX_PK_COLUMNS}]"
            " in index."
        )
    if len(index.defined_columns) > MAX_INDEX_ATTRIBUTE_COLUMNS:
        raise errors.ParameterInvalid(
            "The number of attribute columns must be in range:"
            f" [0, {MAX_INDEX_ATTRIBUTE_COLUMNS}] in index."
        )
    expected_mode = IUM_SYNC_INDEX if index.local else IUM_ASYNC_INDEX
    if index.index_type not in (IT_GLOBAL_INDEX, IT_LOCAL_INDEX):
        raise errors.ParameterInvalid(f"Invalid index type: {index.index_type}.")
    if index.update_mode != expected_mode:
        raise errors.ParameterInvalid(
            "Local index only supports sync index update mode."
            if index.local
            else "Global index only supports async index update mode."
        )
    defined = dict(base.defined_columns)
    seen: set[str] = set()
    for name in index.primary_key:
        if name in seen:
            raise errors.ParameterInvalid(f"Duplicated primary key name: '{name}' in index.")
        seen.add(name)
        if name in base.pk_names:
            continue
        if name not in defined:
            raise errors.ParameterInvalid(
                f"Column '{name}' of index {index.name} is neither a primary key column nor a"
                f" defined column of table {base.name}."
            )
        if defined[name] not in _DEFINED_TO_PK:
            raise errors.ParameterInvalid(
                f"Column '{name}' of index {index.name} cannot be a primary key column: only"
                " STRING, INTEGER and BINARY columns can."
            )
    if (
        base.auto_increment is not None
        and index.primary_key[0] == base.pk_names[base.auto_increment]
    ):
        raise errors.ParameterInvalid(
            "The first primary key column of an index cannot be an auto-increment column."
        )
    if index.local and index.primary_key[0] != base.pk_names[0]:
        raise errors.ParameterInvalid(
            "The first primary key column of a local index must be the first primary key"
            f" column of table {base.name}: {base.pk_names[0]}."
        )
    for name in index.defined_columns:
        if name in seen:
            raise errors.ParameterInvalid(f"Duplicated attribute column name: '{name}' in index.")
        seen.add(name)
        if name not in defined:
            raise errors.ParameterInvalid(
                f"Attribute column '{name}' of index {index.name} is not a defined column of"
                f" table {base.name}."
            )


def check_index_ttl(time_to_live: int, allow_update: bool | None) -> None:
    """A table with indexes and a time-to-live must refuse UpdateRow (`allow_update=False`)."""
    if time_to_live != -1 and allow_update is not False:
        raise errors.ParameterInvalid(
            "Don't support allow update operation on table with index and ttl"
        )


def index_row_visible(stored: Columns, floor: int | None) -> bool:
    """Take an index row's hidden cell out; False if the row has expired."""
    marker = stored.pop(MARKER)
    return floor is None or marker[0][0] > floor
