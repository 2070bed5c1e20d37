"""Column conditions and read filters (`table_store_filter.proto`), compiled to predicates.

The same `Filter` message is a write's column condition and a read's filter. A compiled
predicate takes a row's visible columns (`{name: [(timestamp, value), ...]}`, newest first) and
says whether the row passes.

Comparison rules: values of the same Tablestore type compare naturally (STRING by UTF-8 bytes,
which is Python's code-point order; BINARY bytewise; BOOLEAN false < true). Values of different
types are unequal and unordered: EQUAL and the orderings are false, NOT_EQUAL is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

from .errors import ParameterInvalid
from .limits import MAX_FILTER_COUNT, MAX_FILTER_DEPTH
from .plainbuffer import parse_variant
from .sdk import filter_pb2 as fpb

Columns = dict[str, list[tuple[int, Any]]]
Predicate = Callable[[Columns], bool]

_COMPARE: dict[int, Callable[[Any, Any], bool]] = {
    fpb.CT_EQUAL: lambda a, b: a == b,
    fpb.CT_NOT_EQUAL: lambda a, b: a != b,
    fpb.CT_GREATER_THAN: lambda a, b: a > b,
    fpb.CT_GREATER_EQUAL: lambda a, b: a >= b,
    fpb.CT_LESS_THAN: lambda a, b: a < b,
    fpb.CT_LESS_EQUAL: lambda a, b: a <= b,
}


class ColumnPagination:
    """A read filter that returns `limit` attribute columns from `offset` (wide rows)."""

    __slots__ = ("limit", "offset")

    def __init__(self, offset: int, limit: int) -> None:
        self.offset = offset
        self.limit = limit


class CompiledFilter:
    """A parsed filter: a row predicate, and/or a column pagination (reads only)."""

    __slots__ = ("pagination", "predicate")

    def __init__(self, predicate: Predicate | None, pagination: ColumnPagination | None) -> None:
        self.predicate = predicate
        self.pagination = pagination


def compile_filter(data: bytes, *, for_read: bool) -> CompiledFilter:
    """Parse a serialized `Filter`. Raises ParameterInvalid with the real service's messages."""
    counter = [0]
    message = _parse(fpb.Filter, data, "Deserialize filter failed.")
    if message.type == fpb.FT_COLUMN_PAGINATION:
        if not for_read:
            raise ParameterInvalid(f"Invalid type of filter: {message.type}.")
        page = _parse(
            fpb.ColumnPaginationFilter,
            message.filter,
            "Deserialize column pagination filter failed.",
        )
        if page.offset < 0:
            raise ParameterInvalid(
                "Offset in ColumnPaginationFilter must be greater than or equal to 0."
            )
        if page.limit <= 0:
            raise ParameterInvalid("Limit in ColumnPaginationFilter must be greater than 0.")
        return CompiledFilter(None, ColumnPagination(page.offset, page.limit))
    return CompiledFilter(_compile(message, counter, 0), None)


def _parse(cls: Any, data: bytes, error: str) -> Any:
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError:
        raise ParameterInvalid(error) from None
    if not message.IsInitialized():
        raise ParameterInvalid(error)
    return message


def _compile(message: Any, counter: list[int], depth: int) -> Predicate:
    counter[0] += 1
    if counter[0] > MAX_FILTER_COUNT or depth > MAX_FILTER_DEPTH:
        raise ParameterInvalid(f"The count of filter exceeds the max:{MAX_FILTER_COUNT}.")
    if message.type == fpb.FT_SINGLE_COLUMN_VALUE:
        single = _parse(
            fpb.SingleColumnValueFilter, message.filter, "Deserialize relation filter failed."
        )
        return _compile_single(single)
    if message.type == fpb.FT_COMPOSITE_COLUMN_VALUE:
        composite = _parse(
            fpb.CompositeColumnValueFilter, message.filter, "Deserialize composite filter failed."
        )
        subs = []
        for sub in composite.sub_filters:
            if sub.type == fpb.FT_COLUMN_PAGINATION:
                raise ParameterInvalid(f"Invalid type of sub-filter: {sub.type}.")
            subs.append(_compile(sub, counter, depth + 1))
        if composite.combinator == fpb.LO_NOT:
            if len(subs) != 1:
                raise ParameterInvalid("Invalid NOT operator: the number of sub-filters must be 1.")
            only = subs[0]
            return lambda columns: not only(columns)
        if len(subs) < 2:
            raise ParameterInvalid("Invalid AND/OR operator: the number of sub-filters must be 2.")
        if composite.combinator == fpb.LO_AND:
            return lambda columns: all(sub(columns) for sub in subs)
        return lambda columns: any(sub(columns) for sub in subs)
    raise ParameterInvalid(f"Invalid type of filter: {message.type}.")


def _compile_single(single: Any) -> Predicate:
    name = single.column_name
    comparator = single.comparator
    if comparator == fpb.CT_EXIST:
        return lambda columns: name in columns
    if comparator == fpb.CT_NOT_EXIST:
        return lambda columns: name not in columns
    compare = _COMPARE.get(comparator)
    if compare is None:
        raise ParameterInvalid(f"Invalid relation operator: {comparator}.")
    operand = parse_variant(single.column_value)
    operand_type = type(operand)
    if_missing = not single.filter_if_missing
    latest_only = single.latest_version_only
    transform = _transform(single) if single.HasField("value_trans_rule") else None
    # Different types never compare: only NOT_EQUAL holds between them.
    mismatch = comparator == fpb.CT_NOT_EQUAL

    def matches(value: Any) -> bool | None:
        if transform is not None:
            value = transform(value)
            if value is None:
                return None
        if type(value) is not operand_type:
            return mismatch
        return compare(value, operand)

    def predicate(columns: Columns) -> bool:
        versions = columns.get(name)
        if not versions:
            return if_missing
        if latest_only:
            versions = versions[:1]
        seen_value = False
        for _, value in versions:
            result = matches(value)
            if result is None:
                continue
            seen_value = True
            if result:
                return True
        return False if seen_value else if_missing

    return predicate


def _transform(single: Any) -> Callable[[Any], Any]:
    """SingleColumnRegexCondition: extract with a regex, then cast. None means no value."""
    rule = single.value_trans_rule
    try:
        pattern = re.compile(rule.regex)
    except re.error:
        raise ParameterInvalid(f"Invalid regex: {rule.regex}.") from None
    casts: dict[int, Callable[[str], Any]] = {
        fpb.VT_INTEGER: int,
        fpb.VT_DOUBLE: float,
        fpb.VT_STRING: str,
    }
    cast = casts.get(rule.cast_type if rule.HasField("cast_type") else fpb.VT_STRING)
    if cast is None:
        raise ParameterInvalid(f"Invalid cast type: {rule.cast_type}.")

    def transform(value: Any) -> Any:
        if not isinstance(value, str):
            return None
        found = pattern.search(value)
        if found is None:
            return None
        text = found.group(1) if pattern.groups else found.group(0)
        try:
            return cast(text)
        except ValueError:
            return None

    return transform
