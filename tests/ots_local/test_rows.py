"""PutRow, GetRow, UpdateRow, DeleteRow semantics through the real SDK."""

from __future__ import annotations

import time

import pytest
from tablestore import (
    INF_MAX,
    PK_AUTO_INCR,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    ReservedThroughput,
    ReturnType,
    Row,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
    UpdateRowItem,
)

from .util import columns, ots_error

ALL_TYPES = [
    ("s", "héllo wörld"),
    ("i", -(2**63)),
    ("big", 2**63 - 1),
    ("d", -1.25e-300),
    ("t", True),
    ("f", False),
    ("b", bytearray(b"\x00\x01\xff")),
    ("empty", ""),
]


def now_ms():
    return int(time.time() * 1000)


@pytest.mark.parametrize("native", [True, False], ids=["sdk-native-codec", "sdk-python-codec"])
def test_every_value_type_round_trips(ots, tables, native):
    from .conftest import make_client

    client = make_client(ots, enable_native=native)
    name = tables.create([("pk", "STRING"), ("n", "INTEGER"), ("raw", "BINARY")])
    pk = [("pk", "ключ"), ("n", -5), ("raw", bytearray(b"\x00\xfe"))]
    consumed, returned = client.put_row(name, Row(pk, ALL_TYPES))
    assert returned is None
    assert consumed.write >= 1
    _, row, _ = client.get_row(name, pk, max_version=1)
    assert row.primary_key == pk
    assert sorted((n, v) for n, v, _ in row.attribute_columns) == sorted(ALL_TYPES)
    for _, _, ts in row.attribute_columns:
        assert abs(ts - now_ms()) < 60_000
    # Every returned type is the SDK's decoding of the stored one.
    types = {name: type(value) for name, value, _ in row.attribute_columns}
    assert types == {"s": str, "i": int, "big": int, "d": float, "t": bool, "f": bool} | {
        "b": bytearray,
        "empty": str,
    }


def test_a_missing_row_reads_as_none_and_costs_one_read_unit(client, tables):
    name = tables.create()
    consumed, row, _ = client.get_row(name, [("pk", "nope")], max_version=1)
    assert row is None
    assert (consumed.read, consumed.write) == (1, 0)


def test_put_replaces_the_whole_row(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("x", 1), ("y", 2)]))
    client.put_row(name, Row([("pk", "a")], [("z", 3)]))
    assert columns(client.get_row(name, [("pk", "a")], max_version=1)[1]) == {"z": 3}


def test_update_puts_deletes_and_increments_columns(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("x", 1), ("y", 2), ("n", 10)]))
    client.update_row(
        name,
        Row(
            [("pk", "a")],
            {"put": [("z", "new")], "delete_all": ["y"], "increment": [("n", 5), ("m", -3)]},
        ),
        Condition("IGNORE"),
    )
    row = client.get_row(name, [("pk", "a")], max_version=1)[1]
    assert columns(row) == {"x": 1, "z": "new", "n": 15, "m": -3}


def test_update_creates_a_missing_row(client, tables):
    name = tables.create()
    client.update_row(name, Row([("pk", "a")], {"put": [("x", 1)]}), Condition("IGNORE"))
    assert columns(client.get_row(name, [("pk", "a")], max_version=1)[1]) == {"x": 1}


def test_deleting_the_last_column_deletes_the_row(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("x", 1)]))
    client.update_row(name, Row([("pk", "a")], {"delete_all": ["x"]}), Condition("IGNORE"))
    assert client.get_row(name, [("pk", "a")], max_version=1)[1] is None
    with ots_error(403, "OTSConditionCheckFail"):
        client.update_row(name, Row([("pk", "a")], {"put": [("x", 1)]}), Condition("EXPECT_EXIST"))


def test_delete_row_removes_it_and_deleting_a_missing_row_succeeds(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("x", 1)]))
    consumed, _ = client.delete_row(name, Row([("pk", "a")]), Condition("IGNORE"))
    assert consumed.write == 1
    assert client.get_row(name, [("pk", "a")], max_version=1)[1] is None
    client.delete_row(name, Row([("pk", "a")]), Condition("IGNORE"))


def test_versions_are_kept_up_to_max_versions_newest_first(client, tables):
    name = tables.create(max_versions=3)
    base = now_ms() - 10_000
    for i in range(5):
        client.update_row(name, Row([("pk", "a")], {"put": [("v", i, base + i)]}), None)
    row = client.get_row(name, [("pk", "a")], max_version=10)[1]
    assert [(v, ts) for _, v, ts in row.attribute_columns] == [
        (4, base + 4),
        (3, base + 3),
        (2, base + 2),
    ]
    row = client.get_row(name, [("pk", "a")], max_version=2)[1]
    assert [v for _, v, _ in row.attribute_columns] == [4, 3]


def test_time_range_and_specific_time_select_versions(client, tables):
    name = tables.create(max_versions=5)
    base = now_ms() - 10_000
    for i in range(4):
        client.update_row(name, Row([("pk", "a")], {"put": [("v", i, base + i)]}), None)
    row = client.get_row(name, [("pk", "a")], max_version=5, time_range=(base + 1, base + 3))[1]
    assert [v for _, v, _ in row.attribute_columns] == [2, 1]
    # The SDK sends max_versions=1 unless told otherwise: a time range alone yields one version.
    row = client.get_row(name, [("pk", "a")], time_range=(base + 1, base + 3))[1]
    assert [v for _, v, _ in row.attribute_columns] == [2]
    row = client.get_row(name, [("pk", "a")], max_version=None, time_range=base + 2)[1]
    assert [v for _, v, _ in row.attribute_columns] == [2]
    with ots_error(
        400,
        "OTSParameterInvalid",
        "Specific tiemstamp and max versions cannot be given at the same time.",
    ):
        client.get_row(name, [("pk", "a")], time_range=base + 2)
    row = client.get_row(name, [("pk", "a")], time_range=(base + 100, base + 200))[1]
    assert row is None


def test_delete_one_version_removes_exactly_that_version(client, tables):
    name = tables.create(max_versions=5)
    base = now_ms() - 10_000
    for i in range(3):
        client.update_row(name, Row([("pk", "a")], {"put": [("v", i, base + i)]}), None)
    client.update_row(name, Row([("pk", "a")], {"delete": [("v", None, base + 1)]}), None)
    row = client.get_row(name, [("pk", "a")], max_version=5)[1]
    assert [ts for _, _, ts in row.attribute_columns] == [base + 2, base]


def test_columns_to_get_selects_columns_and_returns_the_whole_primary_key(client, tables):
    # The service answers the whole primary key whenever the row is returned (the SDK's own
    # test_columns_to_get_semantics), and no row when none of the named columns exists.
    name = tables.create([("pk", "STRING"), ("n", "INTEGER")])
    pk = [("pk", "a"), ("n", 1)]
    client.put_row(name, Row(pk, [("x", 1), ("y", 2), ("z", 3)]))
    row = client.get_row(name, pk, ["y", "x"], max_version=1)[1]
    assert row.primary_key == pk
    assert [n for n, _, _ in row.attribute_columns] == ["x", "y"]
    row = client.get_row(name, pk, ["n", "z"], max_version=1)[1]
    assert row.primary_key == pk
    assert columns(row) == {"z": 3}
    row = client.get_row(name, pk, ["n"], max_version=1)[1]
    assert (row.primary_key, row.attribute_columns) == (pk, [])
    assert client.get_row(name, pk, ["nope"], max_version=1)[1] is None


def test_start_and_end_column_select_a_column_range(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [(c, 1) for c in "abcde"]))
    row = client.get_row(name, [("pk", "a")], max_version=1, start_column="b", end_column="d")[1]
    assert [n for n, _, _ in row.attribute_columns] == ["b", "c"]


def test_return_type_pk_returns_the_primary_key(client, tables):
    name = tables.create([("pk", "STRING"), ("n", "INTEGER")])
    pk = [("pk", "a"), ("n", 7)]
    _, returned = client.put_row(name, Row(pk, [("x", 1)]), return_type=ReturnType.RT_PK)
    assert returned.primary_key == pk
    _, returned = client.update_row(
        name, Row(pk, {"put": [("x", 2)]}), None, return_type=ReturnType.RT_PK
    )
    assert returned.primary_key == pk
    _, returned = client.delete_row(name, Row(pk), None, return_type=ReturnType.RT_PK)
    assert returned.primary_key == pk


def test_auto_increment_primary_keys_are_assigned_and_returned(client):
    client.create_table(
        TableMeta("auto", [("part", "STRING"), ("seq", "INTEGER", PK_AUTO_INCR)]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
    )
    try:
        seen = []
        for _ in range(3):
            _, returned = client.put_row(
                "auto",
                Row([("part", "p"), ("seq", PK_AUTO_INCR)], [("x", 1)]),
                return_type=ReturnType.RT_PK,
            )
            assert returned.primary_key[0] == ("part", "p")
            seen.append(returned.primary_key[1][1])
        assert seen == sorted(set(seen))
        rows = client.get_range(
            "auto",
            "FORWARD",
            [("part", "p"), ("seq", 0)],
            [("part", "p"), ("seq", INF_MAX)],
            max_version=1,
        )[2]
        assert [row.primary_key[1][1] for row in rows] == seen
        assert client.describe_table("auto").table_meta.schema_of_primary_key[1][2] == PK_AUTO_INCR
        with ots_error(400, "OTSParameterInvalid", "PKAutoIncr can't be used for read operations."):
            client.get_row("auto", [("part", "p"), ("seq", PK_AUTO_INCR)], max_version=1)
        with ots_error(
            400,
            "OTSParameterInvalid",
            "Can't set condition when modify row with pk auto increment.",
        ):
            from tablestore import ComparatorType, SingleColumnCondition

            client.put_row(
                "auto",
                Row([("part", "p"), ("seq", PK_AUTO_INCR)], [("x", 1)]),
                Condition("IGNORE", SingleColumnCondition("x", 1, ComparatorType.EQUAL)),
            )
    finally:
        client.delete_table("auto")


def test_ttl_hides_expired_versions(client, tables):
    name = tables.create(time_to_live=86400 * 2, deviation=86400 * 3)
    old = now_ms() - 86400 * 1000 * 2 - 5_000  # older than the TTL...
    with ots_error(400, "OTSParameterInvalid", "Invalid timestamp. Cell:v."):
        client.put_row(name, Row([("pk", "a")], [("v", 1, old)]))  # ...so it cannot be written
    almost = now_ms() - 86400 * 1000 * 2 + 2_000
    client.put_row(name, Row([("pk", "a")], [("v", 1, almost), ("w", 2)]))
    assert columns(client.get_row(name, [("pk", "a")], max_version=1)[1]) == {"v": 1, "w": 2}


def test_explicit_timestamps_must_be_within_the_max_deviation(client, tables):
    name = tables.create(deviation=60)
    with ots_error(400, "OTSParameterInvalid", "Invalid timestamp. Cell:v."):
        client.put_row(name, Row([("pk", "a")], [("v", 1, now_ms() - 120_000)]))
    client.put_row(name, Row([("pk", "a")], [("v", 1, now_ms() - 30_000)]))


def test_increment_of_a_non_integer_column_is_rejected(client, tables):
    name = tables.create()
    client.put_row(name, Row([("pk", "a")], [("s", "text")]))
    with ots_error(400, "OTSParameterInvalid"):
        client.update_row(name, Row([("pk", "a")], {"increment": [("s", 1)]}), None)
    assert columns(client.get_row(name, [("pk", "a")], max_version=1)[1]) == {"s": "text"}


def test_an_expired_row_does_not_exist_for_conditions(local, client, tables):
    # A day's TTL (the service's minimum), expired by moving the server's data clock ahead.
    name = tables.create(time_to_live=86400)
    client.put_row(name, Row([("pk", "a")], [("v", 1)]))
    with ots_error(403, "OTSConditionCheckFail"):
        client.put_row(name, Row([("pk", "a")], [("v", 2)]), Condition("EXPECT_NOT_EXIST"))
    local.advance_clock(86_400_000 - 1_000)
    assert columns(client.get_row(name, [("pk", "a")], max_version=1)[1]) == {"v": 1}
    assert local.advance_clock(2_000)["offset_ms"] == 86_401_000
    assert client.get_row(name, [("pk", "a")], max_version=1)[1] is None
    client.put_row(name, Row([("pk", "a")], [("v", 3)]), Condition("EXPECT_NOT_EXIST"))
    assert columns(client.get_row(name, [("pk", "a")], max_version=1)[1]) == {"v": 3}


def test_an_unknown_transaction_id_is_rejected(client, tables):
    name = tables.create()
    with ots_error(400, "OTSParameterInvalid", "TransactionID is invalid."):
        client.put_row(name, Row([("pk", "a")], [("v", 1)]), None, None, "no such transaction")
    with ots_error(400, "OTSParameterInvalid", "TransactionID is invalid."):
        client.get_row(name, [("pk", "a")], max_version=1, transaction_id="no such transaction")


def test_allow_update_false_refuses_update_row_but_not_put_or_delete(client, tables):
    name = tables.create()
    client.update_table(name, TableOptions(allow_update=False))
    assert client.describe_table(name).table_options.allow_update is False
    pk = [("pk", "a")]
    with ots_error(400, "OTSParameterInvalid"):
        client.update_row(name, Row(pk, {"put": [("v", 1)]}), None)
    assert client.get_row(name, pk, max_version=1)[1] is None
    client.put_row(name, Row(pk, [("v", 2)]))
    request = BatchWriteRowRequest()
    request.add(TableInBatchWriteRowItem(name, [UpdateRowItem(Row(pk, {"put": [("v", 3)]}), None)]))
    refused = client.batch_write_row(request).get_update_by_table(name)[0]
    assert (refused.is_ok, refused.error_code) == (False, "OTSParameterInvalid")
    assert columns(client.get_row(name, pk, max_version=1)[1]) == {"v": 2}
    client.delete_row(name, Row(pk), None)
    client.update_table(name, TableOptions(allow_update=True))
    client.update_row(name, Row(pk, {"put": [("v", 4)]}), None)
    assert columns(client.get_row(name, pk, max_version=1)[1]) == {"v": 4}
