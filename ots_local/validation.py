"""Request shape checks that need no table: primary key values, row changes, read specs.

In BatchWriteRow these fail the whole request (ParameterInvalid), unlike the schema checks
of the engine, which fail only their row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import errors
from .limits import (
    MAX_COLUMNS_PER_WRITE,
    MAX_COLUMNS_TO_GET,
    MAX_PK_VALUE_LENGTH,
    MAX_ROW_REQUEST_SIZE,
    MAX_TIMESTAMP,
    MAX_VALUE_LENGTH,
)
from .plainbuffer import (
    INF_MAX,
    INF_MIN,
    OP_DELETE_ALL_VERSIONS,
    OP_DELETE_ONE_VERSION,
    OP_INCREMENT,
    Row,
    Sentinel,
    type_name,
)
from .rows import OP_DELETE, OP_PUT, ReadSpec, value_size
from .tables import valid_name


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
    cls = value.__class__
    if cls is str or cls is bytes:
        # A str of n characters has at most 4n UTF-8 bytes: most keys need no count.
        if len(value) * 4 <= MAX_PK_VALUE_LENGTH:
            return
        length = value_size(value)
        if length > MAX_PK_VALUE_LENGTH:
            raise errors.ParameterInvalid(
                f"The length of primary key column: '{name}' exceeds the MaxLength:"
                f"{MAX_PK_VALUE_LENGTH} with CurrentLength:{length}."
            )
    elif cls is float:
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
