"""CreateTable, ListTable, DescribeTable, UpdateTable, DeleteTable through the real SDK."""

from __future__ import annotations

import pytest
from tablestore import (
    PK_AUTO_INCR,
    CapacityUnit,
    OTSClientError,
    ReservedThroughput,
    Row,
    TableMeta,
    TableOptions,
)

from .util import ots_error


def test_created_tables_are_listed_and_described_as_created(client, tables):
    name = tables.create(
        [("gid", "INTEGER"), ("uid", "STRING"), ("raw", "BINARY")],
        max_versions=3,
        time_to_live=86400 * 30,
        deviation=600,
    )
    assert name in client.list_table()
    described = client.describe_table(name)
    assert described.table_meta.table_name == name
    assert described.table_meta.schema_of_primary_key == [
        ("gid", "INTEGER"),
        ("uid", "STRING"),
        ("raw", "BINARY"),
    ]
    options = described.table_options
    assert (options.time_to_live, options.max_version, options.max_time_deviation) == (
        86400 * 30,
        3,
        600,
    )
    assert described.reserved_throughput_details.capacity_unit.read == 0
    assert described.reserved_throughput_details.last_increase_time > 0


def test_default_table_options_are_the_sdk_defaults(client, tables):
    name = tables.create()
    options = client.describe_table(name).table_options
    assert (options.time_to_live, options.max_version, options.max_time_deviation) == (
        -1,
        1,
        86400,
    )
    assert options.allow_update is True


def test_an_existing_table_cannot_be_created_again(client, tables):
    name = tables.create()
    with ots_error(409, "OTSObjectAlreadyExist", "Requested table already exists."):
        tables.create(name=name)


@pytest.mark.parametrize("call", ["describe_table", "delete_table"])
def test_a_missing_table_is_404(client, call):
    with ots_error(404, "OTSObjectNotExist", "Requested table does not exist."):
        getattr(client, call)("no_such_table")


def test_a_deleted_table_is_gone_with_its_rows(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("v", 1)]))
    client.delete_table(name)
    assert name not in client.list_table()
    tables.create(name=name)
    assert client.get_row(name, [("pk", "a")], max_version=1)[1] is None


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "The number of primary key columns must be in range: [1, 4]."),
        (
            [(f"p{i}", "STRING") for i in range(5)],
            "The number of primary key columns must be in range: [1, 4].",
        ),
        ([("PK0", "STRING"), ("PK0", "INTEGER")], "Duplicated primary key name: 'PK0'."),
        ([("bad-name", "STRING")], "Invalid column name: 'bad-name'."),
        ([("a", "INTEGER", PK_AUTO_INCR)], "First primary key can't be auto increment, table: x."),
        (
            [("a", "STRING"), ("b", "STRING", PK_AUTO_INCR)],
            "AUTO_INCREMENT primary key must be integer.",
        ),
    ],
)
def test_bad_schemas_are_rejected(client, schema, message):
    with ots_error(400, "OTSParameterInvalid", message):
        client.create_table(
            TableMeta("x", schema), TableOptions(), ReservedThroughput(CapacityUnit(0, 0))
        )
    assert "x" not in client.list_table()


def test_boolean_primary_keys_are_rejected_by_the_service(client):
    with ots_error(400, "OTSParameterInvalid", "BOOLEAN is an invalid type for the primary key."):
        client.create_table(
            TableMeta("x", [("a", "BOOLEAN")]),
            TableOptions(),
            ReservedThroughput(CapacityUnit(0, 0)),
        )


@pytest.mark.parametrize("name", ["1abc", "a-b", "", "x" * 256, "名字"])
def test_bad_table_names_are_rejected(client, name):
    with ots_error(400, "OTSParameterInvalid", f"Invalid table name: '{name}'."):
        client.create_table(
            TableMeta(name, [("pk", "STRING")]),
            TableOptions(),
            ReservedThroughput(CapacityUnit(0, 0)),
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (TableOptions(0, 1, 86400), "TimeToLive cannot be 0 or less than -1."),
        (TableOptions(-2, 1, 86400), "TimeToLive cannot be 0 or less than -1."),
        (TableOptions(-1, 0, 86400), "The maximum versions cannot be less than or equal to 0."),
    ],
)
def test_bad_table_options_are_rejected(client, options, message):
    with ots_error(400, "OTSParameterInvalid", message):
        client.create_table(
            TableMeta("x", [("pk", "STRING")]), options, ReservedThroughput(CapacityUnit(0, 0))
        )


def test_update_table_changes_options_and_throughput(client, tables):
    name = tables.create()
    response = client.update_table(name, TableOptions(3600, 5, 100))
    assert (response.table_options.time_to_live, response.table_options.max_version) == (3600, 5)
    client.update_table(name, reserved_throughput=ReservedThroughput(CapacityUnit(10, 20)))
    described = client.describe_table(name)
    assert (described.table_options.time_to_live, described.table_options.max_version) == (
        3600,
        5,
    )
    assert described.table_options.max_time_deviation == 100
    unit = described.reserved_throughput_details.capacity_unit
    assert (unit.read, unit.write) == (10, 20)


def test_update_table_of_a_missing_table_is_404(client):
    with ots_error(404, "OTSObjectNotExist"):
        client.update_table("no_such_table", TableOptions(3600, 5, 100))


def test_the_sdk_rejects_unknown_types_before_sending(client):
    with pytest.raises(OTSClientError):
        client.create_table(
            TableMeta("x", [("a", "DOUBLE")]),
            TableOptions(),
            ReservedThroughput(CapacityUnit(0, 0)),
        )


def test_tables_are_limited_to_64_per_instance(local, client):
    created = []
    for i in range(64):
        name = f"quota_{i}"
        client.create_table(
            TableMeta(name, [("pk", "STRING")]),
            TableOptions(),
            ReservedThroughput(CapacityUnit(0, 0)),
        )
        created.append(name)
    with ots_error(403, "OTSQuotaExhausted", "Number of tables exceeded the quota."):
        client.create_table(
            TableMeta("one_too_many", [("pk", "STRING")]),
            TableOptions(),
            ReservedThroughput(CapacityUnit(0, 0)),
        )
    assert sorted(client.list_table()) == sorted(created)


def test_a_table_without_search_indexes_lists_none(client, tables):
    # The SDK's own test clean-up lists a table's search indexes before deleting it.
    name = tables.create()
    assert client.list_search_index(name) == []
