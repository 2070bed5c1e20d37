"""BatchWriteRow and BatchGetRow: per-row results and whole-request limits."""

from __future__ import annotations

import uuid

import pytest
from tablestore import (
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    CapacityUnit,
    ComparatorType,
    Condition,
    DeleteRowItem,
    PutRowItem,
    ReservedThroughput,
    Row,
    SecondaryIndexMeta,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
    UpdateRowItem,
)

from .util import columns, ots_error


def put(key, condition="IGNORE", **cells):
    return PutRowItem(Row([("pk", key)], list(cells.items()) or [("v", 1)]), Condition(condition))


def write(client, *table_items):
    request = BatchWriteRowRequest()
    for table_name, items in table_items:
        request.add(TableInBatchWriteRowItem(table_name, items))
    return client.batch_write_row(request)


def get(client, table_name, keys, **kwargs):
    kwargs.setdefault("max_version", 1)
    request = BatchGetRowRequest()
    request.add(TableInBatchGetRowItem(table_name, [[("pk", key)] for key in keys], **kwargs))
    return client.batch_get_row(request).get_result_by_table(table_name)


def test_batch_write_applies_puts_updates_and_deletes(client, tables):
    name = tables.create()
    write(client, (name, [put("a", v=1), put("b", v=2), put("c", v=3)]))
    response = write(
        client,
        (
            name,
            [
                UpdateRowItem(Row([("pk", "a")], {"put": [("w", 10)]}), Condition("EXPECT_EXIST")),
                DeleteRowItem(Row([("pk", "b")]), Condition("IGNORE")),
                put("d", "EXPECT_NOT_EXIST", v=4),
            ],
        ),
    )
    assert response.is_all_succeed()
    rows = get(client, name, ["a", "b", "c", "d"])
    assert [row.row and columns(row.row) for row in rows] == [
        {"v": 1, "w": 10},
        None,
        {"v": 3},
        {"v": 4},
    ]


def test_batch_write_rows_fail_one_by_one_with_their_own_error(client, tables):
    name = tables.create()
    write(client, (name, [put("taken")]))
    response = write(
        client,
        (
            name,
            [
                put("new1", "EXPECT_NOT_EXIST"),
                put("taken", "EXPECT_NOT_EXIST"),
                PutRowItem(Row([("wrong", "x")], [("v", 1)]), Condition("IGNORE")),
                put("new2", "EXPECT_NOT_EXIST"),
            ],
        ),
    )
    assert not response.is_all_succeed()
    results = response.get_put_by_table(name)
    assert [row.is_ok for row in results] == [True, False, False, True]
    assert (results[1].error_code, results[1].error_message) == (
        "OTSConditionCheckFail",
        "Condition check failed.",
    )
    assert (results[2].error_code, results[2].error_message) == (
        "OTSInvalidPK",
        "Validate PK name fail. Input: wrong, Meta: pk.",
    )
    assert [row.row is not None for row in get(client, name, ["new1", "new2"])] == [True, True]


def test_batch_write_column_conditions_report_capacity(client, tables):
    name = tables.create()
    write(client, (name, [put("a", n=1)]))
    condition = Condition("IGNORE", SingleColumnCondition("n", 1, ComparatorType.EQUAL))
    response = write(client, (name, [PutRowItem(Row([("pk", "a")], [("n", 2)]), condition)]))
    consumed = response.get_put_by_table(name)[0].consumed
    assert (consumed.read, consumed.write) == (1, 1)


def test_batch_write_to_several_tables(client, tables):
    first, second = tables.create(), tables.create()
    response = write(client, (first, [put("a")]), (second, [put("b"), put("c")]))
    assert response.is_all_succeed()
    assert len(response.get_put_by_table(second)) == 2


def test_batch_write_to_a_missing_table_fails_its_rows(client, tables):
    name = tables.create()
    response = write(client, (name, [put("a")]), ("missing_table", [put("b")]))
    assert response.get_put_by_table(name)[0].is_ok
    missing = response.get_put_by_table("missing_table")[0]
    assert (missing.is_ok, missing.error_code) == (False, "OTSObjectNotExist")


def test_the_same_row_may_appear_twice_in_a_batch(client, tables):
    name = tables.create()
    response = write(
        client,
        (name, [put("a", v=1), UpdateRowItem(Row([("pk", "a")], {"put": [("w", 2)]}), None)]),
    )
    assert response.is_all_succeed()
    assert columns(get(client, name, ["a"])[0].row) == {"v": 1, "w": 2}


def test_batch_write_of_200_rows_is_accepted_and_201_rejected(client, tables):
    name = tables.create()
    assert write(client, (name, [put(f"k{i}") for i in range(200)])).is_all_succeed()
    with ots_error(400, "OTSParameterInvalid", "Rows count exceeds the upper limit: 200."):
        write(client, (name, [put(f"k{i}") for i in range(201)]))


def test_batch_write_over_4_mb_is_rejected(client, tables):
    name = tables.create()
    blob = "x" * (1024 * 1024)
    rows = [put(f"k{i}", v=blob) for i in range(4)]  # 4 x (1 MB + names) > 4 MB
    with ots_error(400, "OTSParameterInvalid") as info:
        write(client, (name, rows))
    assert info.value.get_error_message().startswith(
        "The total data size of BatchWriteRow request exceeds the limit, limit size: 4194304,"
        " data size: "
    )
    assert get(client, name, ["k0"])[0].row is None


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "No operation is specified for table: '{name}'."),
        (
            [PutRowItem(Row([("pk", "a")], []), Condition("IGNORE"))],
            "Attribute column is missing.",
        ),
        (
            [PutRowItem(Row([("pk", INF_MIN)], [("v", 1)]), Condition("IGNORE"))],
            "VT_INF_MIN is an invalid type for the primary key.",
        ),
        (
            [PutRowItem(Row([("pk", "a")], [("bad name", 1)]), Condition("IGNORE"))],
            "Invalid column name: 'bad name'.",
        ),
    ],
)
def test_batch_write_shape_errors_fail_the_whole_request(client, tables, items, message):
    name = tables.create()
    with ots_error(400, "OTSParameterInvalid", message.format(name=name)):
        write(client, (name, [put("fine"), *items]) if items else (name, items))
    assert get(client, name, ["fine"])[0].row is None


def test_batch_write_without_tables_is_rejected(client):
    with ots_error(400, "OTSParameterInvalid", "No row is specified in BatchWriteRow."):
        client.batch_write_row(BatchWriteRowRequest())


def test_batch_get_returns_rows_in_request_order_with_missing_ones_empty(client, tables):
    name = tables.create()
    write(client, (name, [put("a", v=1), put("c", v=3)]))
    rows = get(client, name, ["c", "b", "a", "c"])
    assert [row.is_ok for row in rows] == [True] * 4
    assert [row.row and columns(row.row)["v"] for row in rows] == [3, None, 1, 3]
    assert all(row.consumed.read >= 1 for row in rows)


def test_batch_get_row_errors_are_per_row(client, tables):
    name = tables.create()
    request = BatchGetRowRequest()
    request.add(TableInBatchGetRowItem(name, [[("pk", "a")], [("other", "b")]], max_version=1))
    request.add(TableInBatchGetRowItem("missing_table", [[("pk", "a")]], max_version=1))
    response = client.batch_get_row(request)
    good, wrong_pk = response.get_result_by_table(name)
    assert good.is_ok
    assert (wrong_pk.is_ok, wrong_pk.error_code) == (False, "OTSInvalidPK")
    missing = response.get_result_by_table("missing_table")[0]
    assert (missing.is_ok, missing.error_code, missing.error_message) == (
        False,
        "OTSObjectNotExist",
        "Requested table does not exist.",
    )


def test_batch_get_of_100_rows_is_accepted_and_101_rejected(client, tables):
    name = tables.create()
    assert len(get(client, name, [f"k{i}" for i in range(100)])) == 100
    with ots_error(400, "OTSParameterInvalid", "Rows count exceeds the upper limit: 100."):
        get(client, name, [f"k{i}" for i in range(101)])


def test_batch_get_needs_a_version_condition(client, tables):
    # The SDK sends no max_versions for BatchGetRow unless asked: the service refuses that.
    name = tables.create()
    with ots_error(
        400, "OTSParameterInvalid", "No version condition is specified while querying row."
    ):
        get(client, name, ["a"], max_version=None)


def test_batch_get_without_tables_is_rejected(client):
    with ots_error(400, "OTSParameterInvalid", "No row specified in the request of BatchGetRow."):
        client.batch_get_row(BatchGetRowRequest())


def test_batch_get_columns_to_get(client, tables):
    name = tables.create()
    write(client, (name, [put("a", x=1, y=2)]))
    row = get(client, name, ["a"], columns_to_get=["y"])[0].row
    assert row.primary_key == [("pk", "a")]
    assert row.attribute_columns[0][:2] == ("y", 2)
    assert len(row.attribute_columns) == 1
    assert get(client, name, ["a"], columns_to_get=["nope"])[0].row is None


def test_a_table_with_secondary_indexes_takes_each_row_once_per_batch(client, tables):
    # The service refuses repeated rows on such a table (the Java SDK's writer avoids them).
    name = f"indexed_{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableMeta(name, [("pk", "STRING")], [("v", "INTEGER")]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
        [SecondaryIndexMeta(f"{name}_by_v", ["v"], [])],
    )
    tables.created.append(name)
    if not tables.is_local:
        tables._wait_until_loaded(name)
    with ots_error(400, "OTSParameterInvalid") as info:
        write(client, (name, [put("a", v=1), put("b", v=2), put("a", v=3)]))
    assert "twice" in info.value.get_error_message()
    assert [item.row for item in get(client, name, ["a", "b"])] == [None, None]
    assert write(client, (name, [put("a", v=1), put("b", v=2)])).is_all_succeed()
