"""Row existence and column conditions on writes; the same filters on reads."""

from __future__ import annotations

import time

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    LogicalOperator,
    Row,
    SingleColumnCondition,
    TableInBatchGetRowItem,
)

from .util import columns, ots_error

EQ, NE = ComparatorType.EQUAL, ComparatorType.NOT_EQUAL
GT, GE = ComparatorType.GREATER_THAN, ComparatorType.GREATER_EQUAL
LT, LE = ComparatorType.LESS_THAN, ComparatorType.LESS_EQUAL
PK = [("pk", "a")]


def single(column, value, comparator, pass_if_missing=True, latest_version_only=True):
    return SingleColumnCondition(column, value, comparator, pass_if_missing, latest_version_only)


def composite(operator, *subs):
    condition = CompositeColumnCondition(operator)
    for sub in subs:
        condition.add_sub_condition(sub)
    return condition


def write_ok(client, name, condition, op="update"):
    """Try a conditional write of x=99; True if it was applied."""
    try:
        if op == "put":
            client.put_row(name, Row(PK, [("x", 99)]), condition)
        elif op == "update":
            client.update_row(name, Row(PK, {"put": [("x", 99)]}), condition)
        else:
            client.delete_row(name, Row(PK), condition)
    except Exception as error:
        assert error.get_error_code() == "OTSConditionCheckFail", error
        assert error.get_http_status() == 403
        assert error.get_error_message() == "Condition check failed."
        return False
    return True


@pytest.fixture
def name(tables):
    return tables.create(max_versions=3)


@pytest.mark.parametrize("op", ["put", "update", "delete"])
def test_row_existence_expectations(client, name, op):
    assert not write_ok(client, name, Condition("EXPECT_EXIST"), op)
    assert client.get_row(name, PK, max_version=1)[1] is None
    if op != "delete":
        assert write_ok(client, name, Condition("EXPECT_NOT_EXIST"), op)
        assert not write_ok(client, name, Condition("EXPECT_NOT_EXIST"), op)
        assert write_ok(client, name, Condition("EXPECT_EXIST"), op)
    assert write_ok(client, name, Condition("IGNORE"), op)


def test_a_failed_condition_writes_nothing(client, name):
    client.put_row(name, Row(PK, [("x", 1), ("y", 2)]))
    assert not write_ok(client, name, Condition("EXPECT_NOT_EXIST"), "put")
    assert not write_ok(client, name, Condition("IGNORE", single("x", 2, EQ)), "delete")
    assert columns(client.get_row(name, PK, max_version=1)[1]) == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    ("comparator", "operand", "expected"),
    [
        (EQ, 10, True),
        (EQ, 11, False),
        (NE, 11, True),
        (NE, 10, False),
        (GT, 9, True),
        (GT, 10, False),
        (GE, 10, True),
        (GE, 11, False),
        (LT, 11, True),
        (LT, 10, False),
        (LE, 10, True),
        (LE, 9, False),
    ],
)
def test_single_column_comparators_on_integers(client, name, comparator, operand, expected):
    client.put_row(name, Row(PK, [("n", 10)]))
    assert write_ok(client, name, Condition("IGNORE", single("n", operand, comparator))) is expected


@pytest.mark.parametrize(
    ("stored", "comparator", "operand", "expected"),
    [
        ("abc", LT, "abd", True),
        ("abc", GT, "ab", True),
        ("é", GT, "z", True),  # UTF-8 byte order: 0xC3 > 'z'
        (bytearray(b"\x01"), LT, bytearray(b"\xff"), True),
        (1.5, GT, 1.25, True),
        (False, LT, True, True),
        (True, EQ, True, True),
        # Different types never compare: only NOT_EQUAL holds.
        (10, EQ, "10", False),
        (10, NE, "10", True),
        (10, GT, 1.5, False),
        (True, EQ, 1, False),
    ],
)
def test_single_column_comparisons_by_type(client, name, stored, comparator, operand, expected):
    client.put_row(name, Row(PK, [("v", stored)]))
    assert write_ok(client, name, Condition("IGNORE", single("v", operand, comparator))) is expected


@pytest.mark.parametrize("pass_if_missing", [True, False])
def test_pass_if_missing_decides_for_a_missing_column(client, name, pass_if_missing):
    client.put_row(name, Row(PK, [("other", 1)]))
    condition = Condition("IGNORE", single("v", 1, EQ, pass_if_missing=pass_if_missing))
    assert write_ok(client, name, condition) is pass_if_missing


def test_a_missing_row_has_every_column_missing(client, name):
    assert not write_ok(client, name, Condition("IGNORE", single("v", 1, EQ, False)))
    assert write_ok(client, name, Condition("IGNORE", single("v", 1, EQ, True)))


def test_latest_version_only_or_any_version(client, name):
    base = int(time.time() * 1000) - 10_000
    client.update_row(name, Row(PK, {"put": [("v", 1, base), ("v", 2, base + 1)]}), None)
    assert not write_ok(client, name, Condition("IGNORE", single("v", 1, EQ)))
    # the write above failed, so both versions are still there
    assert write_ok(
        client, name, Condition("IGNORE", single("v", 1, EQ, latest_version_only=False))
    )


def test_composite_conditions_nest(client, name):
    client.put_row(name, Row(PK, [("index", 0), ("addr", "china")]))
    index_is_0 = single("index", 0, EQ)
    addr_is_china = single("addr", "china", EQ)
    addr_not_china = single("addr", "china", NE)
    cases = [
        (composite(LogicalOperator.AND, index_is_0, addr_is_china), True),
        (composite(LogicalOperator.AND, index_is_0, addr_not_china), False),
        (composite(LogicalOperator.OR, addr_not_china, index_is_0), True),
        (
            composite(
                LogicalOperator.NOT, composite(LogicalOperator.AND, index_is_0, addr_is_china)
            ),
            False,
        ),
        (
            composite(
                LogicalOperator.AND,
                composite(LogicalOperator.NOT, addr_not_china),
                composite(LogicalOperator.OR, single("index", 5, GT), index_is_0),
                single("index", 10, LT),
            ),
            True,
        ),
    ]
    for condition, expected in cases:
        # keep the row as it was: the test writes "index" only through the condition's outcome
        assert write_ok(client, name, Condition("EXPECT_EXIST", condition)) is expected


def test_existence_and_column_condition_must_both_hold(client, name):
    client.put_row(name, Row(PK, [("n", 1)]))
    assert not write_ok(client, name, Condition("EXPECT_NOT_EXIST", single("n", 1, EQ)))
    assert write_ok(client, name, Condition("EXPECT_EXIST", single("n", 1, EQ)))


def test_not_needs_exactly_one_sub_condition(client, name):
    condition = composite(LogicalOperator.NOT, single("a", 1, EQ), single("b", 1, EQ))
    with ots_error(
        400, "OTSParameterInvalid", "Invalid NOT operator: the number of sub-filters must be 1."
    ):
        client.put_row(name, Row(PK, [("x", 1)]), Condition("IGNORE", condition))


def test_and_needs_two_sub_conditions(client, name):
    condition = composite(LogicalOperator.AND, single("a", 1, EQ))
    with ots_error(
        400,
        "OTSParameterInvalid",
        "Invalid AND/OR operator: the number of sub-filters must be 2.",
    ):
        client.put_row(name, Row(PK, [("x", 1)]), Condition("IGNORE", condition))


# --- the same filters on reads ----------------------------------------------------------------
@pytest.fixture
def people(client, name):
    for key, age, city in [("a", 20, "x"), ("b", 30, "y"), ("c", 40, "x"), ("d", 50, None)]:
        cells = [("age", age)] + ([("city", city)] if city else [])
        client.put_row(name, Row([("pk", key)], cells))
    return name


def test_get_row_filter_hides_a_row_that_does_not_match(client, people):
    assert client.get_row(
        people, [("pk", "a")], column_filter=single("age", 20, EQ), max_version=1
    )[1]
    assert (
        client.get_row(people, [("pk", "a")], column_filter=single("age", 21, EQ), max_version=1)[1]
        is None
    )


def test_get_range_filter_skips_rows(client, people):
    city_x = single("city", "x", EQ, pass_if_missing=False)
    rows = client.get_range(
        people, "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], column_filter=city_x, max_version=1
    )[2]
    assert [row.primary_key[0][1] for row in rows] == ["a", "c"]
    over_25_or_no_city = composite(
        LogicalOperator.OR, single("age", 25, GT), single("city", "", NE, pass_if_missing=False)
    )
    rows = client.get_range(
        people,
        "FORWARD",
        [("pk", INF_MIN)],
        [("pk", INF_MAX)],
        column_filter=composite(LogicalOperator.NOT, over_25_or_no_city),
        max_version=1,
    )[2]
    assert rows == []


def test_batch_get_row_filter(client, people):
    request = BatchGetRowRequest()
    request.add(
        TableInBatchGetRowItem(
            people,
            [[("pk", "a")], [("pk", "b")], [("pk", "d")]],
            column_filter=single("age", 30, GE),
            max_version=1,
        )
    )
    rows = client.batch_get_row(request).get_result_by_table(people)
    assert [row.is_ok for row in rows] == [True, True, True]
    assert [row.row and row.row.primary_key[0][1] for row in rows] == [None, "b", "d"]
