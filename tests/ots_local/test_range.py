"""GetRange: order, directions, INF_MIN / INF_MAX, limits and paging."""

from __future__ import annotations

import itertools

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    ComparatorType,
    Condition,
    PutRowItem,
    Row,
    SingleColumnCondition,
    TableInBatchWriteRowItem,
)

from .util import ots_error

SCHEMA = [("a", "STRING"), ("b", "INTEGER"), ("c", "BINARY")]
A_VALUES = ["", "a", "ab", "b", "é"]
B_VALUES = [-(2**63), -1, 0, 1, 2**63 - 1]
C_VALUES = [bytearray(b""), bytearray(b"\x00"), bytearray(b"\x00\x00"), bytearray(b"\xff")]


def sort_key(pk):
    """Tablestore order: STRING by UTF-8 bytes, INTEGER signed, BINARY bytewise."""
    return tuple(v.encode() if isinstance(v, str) else v for _, v in pk)


def put_all(client, name, keys):
    for start in range(0, len(keys), 200):
        request = BatchWriteRowRequest()
        items = [
            PutRowItem(Row(pk, [("v", 1)]), Condition("IGNORE")) for pk in keys[start : start + 200]
        ]
        request.add(TableInBatchWriteRowItem(name, items))
        assert client.batch_write_row(request).is_all_succeed()


def read_all(client, name, direction, start, end, **kwargs):
    """Every row of the range, following next_start_primary_key; returns (pks, pages)."""
    kwargs.setdefault("max_version", 1)
    pks, pages = [], 0
    while True:
        _, next_start, rows, _ = client.get_range(name, direction, start, end, **kwargs)
        pages += 1
        pks.extend(row.primary_key for row in rows)
        if next_start is None:
            return pks, pages
        start = next_start


@pytest.fixture
def grid(client, tables):
    name = tables.create(SCHEMA)
    keys = [
        [("a", a), ("b", b), ("c", c)]
        for a, b, c in itertools.product(A_VALUES, B_VALUES, C_VALUES)
    ]
    put_all(client, name, keys)
    return name, sorted(keys, key=sort_key)


def test_full_scans_are_in_tablestore_order_both_ways(client, grid):
    name, ordered = grid
    low = [("a", INF_MIN), ("b", INF_MIN), ("c", INF_MIN)]
    high = [("a", INF_MAX), ("b", INF_MAX), ("c", INF_MAX)]
    assert read_all(client, name, "FORWARD", low, high)[0] == ordered
    assert read_all(client, name, "BACKWARD", high, low)[0] == ordered[::-1]


BOUNDS = [
    [("a", "a"), ("b", INF_MIN), ("c", INF_MIN)],
    [("a", "a"), ("b", INF_MAX), ("c", INF_MAX)],
    [("a", "ab"), ("b", 0), ("c", INF_MAX)],
    [("a", "ab"), ("b", 0), ("c", bytearray(b"\x00"))],
    [("a", "b"), ("b", -1), ("c", INF_MIN)],
    [("a", INF_MIN), ("b", 5), ("c", bytearray(b"zz"))],
    [("a", "é"), ("b", 2**63 - 1), ("c", bytearray(b"\xff"))],
    [("a", INF_MAX), ("b", INF_MIN), ("c", INF_MIN)],
]


def point(pk):
    """A bound as a comparable tuple: INF_MIN < any value < INF_MAX, decided column by column."""
    out = []
    for _, value in pk:
        if value is INF_MIN:
            out.append((0, b""))
            break
        if value is INF_MAX:
            out.append((2, b""))
            break
        out.append((1, value.encode() if isinstance(value, str) else value))
    return tuple(out)


def row_point(pk):
    return tuple((1, v.encode() if isinstance(v, str) else v) for _, v in pk)


@pytest.mark.parametrize(("start", "end"), list(itertools.permutations(BOUNDS, 2)))
def test_ranges_with_inf_bounds_match_a_brute_force_scan(client, grid, start, end):
    name, ordered = grid
    if point(start) < point(end):
        expected = [pk for pk in ordered if point(start) <= row_point(pk) < point(end)]
        assert read_all(client, name, "FORWARD", start, end)[0] == expected
        with ots_error(400, "OTSParameterInvalid", "Begin key must more than end key in BACKWARD"):
            client.get_range(name, "BACKWARD", start, end, max_version=1)
    else:
        expected = [pk for pk in ordered if point(end) < row_point(pk) <= point(start)]
        assert read_all(client, name, "BACKWARD", start, end)[0] == expected[::-1]
        with ots_error(400, "OTSParameterInvalid", "Begin key must less than end key in FORWARD"):
            client.get_range(name, "FORWARD", start, end, max_version=1)


def test_equal_bounds_are_rejected(client, tables):
    name = tables.create([("pk", "INTEGER")])
    with ots_error(400, "OTSParameterInvalid", "Begin key must less than end key in FORWARD"):
        client.get_range(name, "FORWARD", [("pk", 1)], [("pk", 1)], max_version=1)


def test_limit_pages_the_range(client, tables):
    name = tables.create([("pk", "INTEGER")])
    put_all(client, name, [[("pk", i)] for i in range(10)])
    _, next_start, rows, _ = client.get_range(
        name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], limit=4, max_version=1
    )
    assert [row.primary_key[0][1] for row in rows] == [0, 1, 2, 3]
    assert next_start == [("pk", 4)]
    pks, pages = read_all(client, name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], limit=4)
    assert [pk[0][1] for pk in pks] == list(range(10))
    assert pages == 3


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_must_be_positive(client, tables, limit):
    name = tables.create([("pk", "INTEGER")])
    with ots_error(400, "OTSParameterInvalid", "The limit must be greater than 0."):
        client.get_range(
            name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], limit=limit, max_version=1
        )


def test_a_page_holds_at_most_5000_rows(client, tables):
    name = tables.create([("pk", "INTEGER")])
    put_all(client, name, [[("pk", i)] for i in range(5003)])
    _, next_start, rows, _ = client.get_range(
        name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], max_version=1
    )
    assert len(rows) == 5000
    assert next_start == [("pk", 5000)]
    pks, pages = read_all(client, name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)])
    assert (len(pks), pages) == (5003, 2)


def test_filtered_out_rows_still_count_as_scanned(client, tables):
    name = tables.create([("pk", "INTEGER")])
    keys = [[("pk", i)] for i in range(5010)]
    for start in range(0, len(keys), 200):
        request = BatchWriteRowRequest()
        items = [
            PutRowItem(Row(pk, [("keep", pk[0][1] >= 5005)]), Condition("IGNORE"))
            for pk in keys[start : start + 200]
        ]
        request.add(TableInBatchWriteRowItem(name, items))
        client.batch_write_row(request)
    keep = SingleColumnCondition("keep", True, ComparatorType.EQUAL)
    _, next_start, rows, _ = client.get_range(
        name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], column_filter=keep, max_version=1
    )
    assert (rows, next_start) == ([], [("pk", 5000)])  # an empty page, but not the end
    pks, _ = read_all(
        client, name, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], column_filter=keep
    )
    assert [pk[0][1] for pk in pks] == [5005, 5006, 5007, 5008, 5009]


def test_range_bounds_are_validated_against_the_schema(client, tables):
    name = tables.create([("pk", "INTEGER")])
    with ots_error(
        400, "OTSInvalidPK", "Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER."
    ):
        client.get_range(name, "FORWARD", [("pk", "a")], [("pk", INF_MAX)], max_version=1)
    with ots_error(400, "OTSInvalidPK", "Validate PK size fail. Input: 2, Meta: 1."):
        client.get_range(
            name, "FORWARD", [("pk", 1), ("x", 1)], [("pk", INF_MAX), ("x", INF_MAX)], max_version=1
        )


def test_a_range_after_the_largest_possible_key_is_valid_and_empty(client, tables):
    name = tables.create([("a", "INTEGER"), ("b", "INTEGER")])
    put_all(client, name, [[("a", 2**63 - 1), ("b", 2**63 - 1)], [("a", 0), ("b", 0)]])
    after_max = [("a", 2**63 - 1), ("b", INF_MAX)]
    everything_after = [("a", INF_MAX), ("b", INF_MAX)]
    assert read_all(client, name, "FORWARD", after_max, everything_after)[0] == []
    assert read_all(client, name, "BACKWARD", everything_after, after_max)[0] == []
    last = read_all(client, name, "BACKWARD", after_max, [("a", INF_MIN), ("b", INF_MIN)])[0]
    assert [pk[0][1] for pk in last] == [2**63 - 1, 0]


def test_columns_to_get_returns_whole_primary_keys_of_rows_having_a_named_column(client, tables):
    name = tables.create([("a", "STRING"), ("b", "INTEGER")])
    client.put_row(name, Row([("a", "x"), ("b", 1)], [("v", 1), ("w", 2)]))
    client.put_row(name, Row([("a", "y"), ("b", 2)], [("w", 3)]))
    start, end = [("a", INF_MIN), ("b", INF_MIN)], [("a", INF_MAX), ("b", INF_MAX)]
    rows = client.get_range(name, "FORWARD", start, end, ["v"], max_version=1)[2]
    assert [(row.primary_key, row.attribute_columns) for row in rows] == [
        ([("a", "x"), ("b", 1)], [("v", 1, rows[0].attribute_columns[0][2])])
    ]
    rows = client.get_range(name, "FORWARD", start, end, ["b"], max_version=1)[2]
    assert [(row.primary_key, row.attribute_columns) for row in rows] == [
        ([("a", "x"), ("b", 1)], []),
        ([("a", "y"), ("b", 2)], []),
    ]
    assert client.get_range(name, "FORWARD", start, end, ["nope"], max_version=1)[2] == []
