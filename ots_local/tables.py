"""Tables: what CreateTable stores, its checks, and a primary key's check against a schema."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .keys import PK_BINARY, PK_INTEGER, PK_STRING
from .limits import (
    DEFAULT_DEVIATION,
    MAX_DEFINED_COLUMNS,
    MAX_DEVIATION,
    MAX_NAME_LENGTH,
    MAX_PK_COLUMNS,
)
from .plainbuffer import AUTO_INCREMENT, INF_MAX, INF_MIN, type_name

if TYPE_CHECKING:
    from .indexes import Index

PK_TYPE_NAMES = {PK_INTEGER: "VT_INTEGER", PK_STRING: "VT_STRING", PK_BINARY: "VT_BLOB"}
PK_PYTHON_TYPES = {PK_INTEGER: int, PK_STRING: str, PK_BINARY: bytes}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def valid_name(name: str) -> bool:
    """Table and column names: `[A-Za-z_][A-Za-z0-9_]*`, 1..255 bytes."""
    return 0 < len(name) <= MAX_NAME_LENGTH and _NAME_RE.match(name) is not None


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
    deviation: int = DEFAULT_DEVIATION
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
        self.indexes: list[Index] = []  # its secondary indexes, oldest first
        self._last_auto_increment = 0

    def next_auto_increment(self) -> int:
        """A unique, increasing value (microseconds since the epoch, bumped on collision)."""
        value = max(self._last_auto_increment + 1, time.time_ns() // 1000)
        self._last_auto_increment = value
        return value


def check_pk(meta: TableMeta, primary_key: Sequence[tuple[str, Any]], *, write: bool) -> list[Any]:
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
            and value.__class__ is not PK_PYTHON_TYPES[meta_type]
        ):
            raise errors.InvalidPK(
                f"Validate PK type fail. Input: {type_name(value)},"
                f" Meta: {PK_TYPE_NAMES[meta_type]}."
            )
        values.append(value)
    return values


def check_table_meta(meta: TableMeta) -> None:
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
    check_options(meta)
    check_reserved(meta.read_cu, meta.write_cu)


def check_options(meta: TableMeta) -> None:
    if meta.time_to_live == 0 or meta.time_to_live < -1:
        raise errors.ParameterInvalid("TimeToLive cannot be 0 or less than -1.")
    if meta.max_versions <= 0:
        raise errors.ParameterInvalid("The maximum versions cannot be less than or equal to 0.")
    if not 0 <= meta.deviation <= MAX_DEVIATION:
        raise errors.ParameterInvalid(
            "The maximum deviation must be in range [0, INT64_MAX/1000000]."
        )


def check_reserved(read: int, write: int) -> None:
    for value in (read, write):
        if value < 0:
            raise errors.ParameterInvalid(
                f"Invalid Capacity Unit:{value} . Capacity Unit must be nonnegative."
            )
