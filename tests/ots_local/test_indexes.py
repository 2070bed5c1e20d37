"""Secondary indexes: CreateIndex / DropIndex / CreateTable with indexes, reads of index tables,
index maintenance on every write path, the service's limits, and the delay of global indexes
(`index_delay_ms`) that lets a test see a stale index.

These tests read a global index right after writing, which only ots_local's default (no
delay) makes deterministic, and use fixed table names: against a real instance (OTS_TEST_*)
they skip; tests/compat has an index test that waits for the real service's index.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from tablestore import (
    INF_MAX,
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
    SecondaryIndexType,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
    UpdateRowItem,
)

from harness import ots_server
from ots_local import OTSLocal
from ots_local.settings import SettingsError

from .conftest import make_client
from .util import columns, control, ots_error


@pytest.fixture(autouse=True)
def _local_only(local):
    """Every test here needs ots_local (see the module docstring)."""


DEFINED = [("batch", "STRING"), ("status", "STRING"), ("uses", "INTEGER"), ("note", "STRING")]
BY_BATCH = SecondaryIndexMeta("codes_by_batch", ["batch"], ["status", "uses"])


def create_codes(client, name="codes", indexes=(), options=None, defined=DEFINED):
    client.create_table(
        TableMeta(name, [("code", "STRING")], list(defined)),
        options or TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
        list(indexes),
    )


def put(client, code, table="codes", **attributes):
    client.put_row(table, Row([("code", code)], list(attributes.items())))


PK_OF = {"codes": ["code"], "codes_by_batch": ["batch", "code"]}
KEY = PK_OF["codes_by_batch"]


def scan(client, table, **kwargs):
    """Every row of a table through GetRange pages: [((pk values...), {columns})]."""
    start = [(name, INF_MIN) for name in PK_OF[table]]
    end = [(name, INF_MAX) for name in PK_OF[table]]
    rows = []
    while True:
        _, next_pk, page, _ = client.get_range(
            table, "FORWARD", start, end, max_version=1, **kwargs
        )
        rows += [(tuple(value for _, value in row.primary_key), columns(row)) for row in page]
        if not next_pk:
            return rows
        start = next_pk


def until(predicate, timeout=3.0):
    """Wait for a fact (polling every 20 ms); the fact's last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# --- schema --------------------------------------------------------------------------------
def test_create_table_with_an_index_and_describe_it(client):
    local_index = SecondaryIndexMeta(
        "codes_local", ["code", "status"], ["uses"], SecondaryIndexType.LOCAL_INDEX
    )
    create_codes(client, indexes=[BY_BATCH, local_index])
    described = client.describe_table("codes")
    got = [
        (i.index_name, i.primary_key_names, i.defined_column_names, i.index_type)
        for i in described.secondary_indexes
    ]
    assert got == [
        ("codes_by_batch", ["batch"], ["status", "uses"], SecondaryIndexType.GLOBAL_INDEX),
        ("codes_local", ["code", "status"], ["uses"], SecondaryIndexType.LOCAL_INDEX),
    ]
    assert client.list_table() == ("codes",)  # index tables are not listed


def test_create_and_drop_an_index_on_an_existing_table(client):
    create_codes(client)
    put(client, "A", batch="b1", status="UNUSED", uses=0)
    client.create_secondary_index("codes", BY_BATCH, False)
    assert scan(client, "codes_by_batch") == []  # without base data, old rows are not indexed
    put(client, "B", batch="b1", status="UNUSED", uses=0)
    assert scan(client, "codes_by_batch") == [(("b1", "B"), {"status": "UNUSED", "uses": 0})]

    client.delete_secondary_index("codes", "codes_by_batch")
    assert client.describe_table("codes").secondary_indexes == []
    with ots_error(404, "OTSObjectNotExist"):
        client.get_row("codes_by_batch", [("batch", "b1"), ("code", "B")], max_version=1)
    with ots_error(404, "OTSObjectNotExist"):
        client.delete_secondary_index("codes", "codes_by_batch")


def test_include_base_data_indexes_the_rows_already_there(client):
    create_codes(client)
    put(client, "A", batch="b2", status="USED", uses=1)
    put(client, "B", batch="b1", status="UNUSED", uses=0)
    put(client, "C", status="UNUSED")  # no batch: not indexed
    client.create_secondary_index("codes", BY_BATCH, True)
    assert scan(client, "codes_by_batch") == [
        (("b1", "B"), {"status": "UNUSED", "uses": 0}),
        (("b2", "A"), {"status": "USED", "uses": 1}),
    ]


def test_deleting_the_table_deletes_its_indexes(client):
    create_codes(client, indexes=[BY_BATCH])
    client.delete_table("codes")
    with ots_error(404, "OTSObjectNotExist"):
        client.get_row("codes_by_batch", [("batch", "b"), ("code", "c")], max_version=1)
    create_codes(client, indexes=[BY_BATCH])  # the name is free again


# --- reads and maintenance -------------------------------------------------------------------
def test_index_pk_is_the_index_columns_then_the_rest_of_the_table_pk(client):
    client.create_table(
        TableMeta("orders", [("shop", "STRING"), ("id", "INTEGER")], [("user", "STRING")]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
        [SecondaryIndexMeta("by_user", ["user", "shop"], [])],
    )
    client.put_row("orders", Row([("shop", "s1"), ("id", 7)], [("user", "u1")]))
    _, row, _ = client.get_row(
        "by_user", [("user", "u1"), ("shop", "s1"), ("id", 7)], max_version=1
    )
    assert row.primary_key == [("user", "u1"), ("shop", "s1"), ("id", 7)]
    assert row.attribute_columns == []
    with ots_error(400, "OTSInvalidPK", "Validate PK size fail. Input: 2, Meta: 3."):
        client.get_row("by_user", [("user", "u1"), ("shop", "s1")], max_version=1)


def test_every_write_path_keeps_the_index_in_line(client):
    create_codes(client, indexes=[BY_BATCH])
    put(client, "A", batch="b1", status="UNUSED", uses=0, note="n")
    put(client, "B", batch="b1", status="UNUSED", uses=0)
    put(client, "C", status="UNUSED")  # no batch: no index row
    assert scan(client, "codes_by_batch") == [
        (("b1", "A"), {"status": "UNUSED", "uses": 0}),  # only the index's attributes
        (("b1", "B"), {"status": "UNUSED", "uses": 0}),
    ]
    # UpdateRow of an attribute, of the index column (the row moves), delete of the column
    client.update_row("codes", Row([("code", "A")], {"put": [("status", "USED")]}), None)
    client.update_row("codes", Row([("code", "B")], {"put": [("batch", "b2")]}), None)
    client.update_row("codes", Row([("code", "C")], {"put": [("batch", "b0")]}), None)
    client.update_row("codes", Row([("code", "A")], {"increment": [("uses", 1)]}), None)
    assert scan(client, "codes_by_batch") == [
        (("b0", "C"), {"status": "UNUSED"}),
        (("b1", "A"), {"status": "USED", "uses": 1}),
        (("b2", "B"), {"status": "UNUSED", "uses": 0}),
    ]
    client.update_row("codes", Row([("code", "C")], {"delete_all": ["batch"]}), None)
    client.delete_row("codes", Row([("code", "A")]), None)
    put(client, "B", batch="b3", status="USED")  # PutRow replaces the row, and its index row
    assert scan(client, "codes_by_batch") == [(("b3", "B"), {"status": "USED"})]


def test_batch_write_and_conditional_writes_maintain_the_index(client):
    create_codes(client, indexes=[BY_BATCH])
    request = BatchWriteRowRequest()
    request.add(
        TableInBatchWriteRowItem(
            "codes",
            [
                PutRowItem(
                    Row([("code", f"K{i}")], [("batch", "b"), ("uses", i)]), Condition("IGNORE")
                )
                for i in range(3)
            ]
            + [
                # fails its condition: its index row must not appear
                UpdateRowItem(
                    Row([("code", "missing")], {"put": [("batch", "b")]}),
                    Condition("EXPECT_EXIST"),
                )
            ],
        )
    )
    results = client.batch_write_row(request).get_put()[0]
    assert [item.is_ok for item in results] == [True, True, True]
    request = BatchWriteRowRequest()
    request.add(
        TableInBatchWriteRowItem(
            "codes",
            [
                DeleteRowItem(Row([("code", "K0")]), Condition("IGNORE")),
                UpdateRowItem(
                    Row([("code", "K1")], {"put": [("batch", "c")]}), Condition("EXPECT_EXIST")
                ),
            ],
        )
    )
    client.batch_write_row(request)
    with ots_error(403, "OTSConditionCheckFail"):
        client.put_row(
            "codes", Row([("code", "K2")], [("batch", "z")]), Condition("EXPECT_NOT_EXIST")
        )
    client.put_row("codes", Row([("code", "K3")], [("batch", "a")]), Condition("EXPECT_NOT_EXIST"))
    assert scan(client, "codes_by_batch") == [
        (("a", "K3"), {}),
        (("b", "K2"), {"uses": 2}),
        (("c", "K1"), {"uses": 1}),
    ]


def test_index_tables_answer_get_row_and_batch_get_row(client):
    create_codes(client, indexes=[BY_BATCH])
    put(client, "A", batch="b1", status="UNUSED", uses=0)
    _, row, _ = client.get_row(
        "codes_by_batch", [("batch", "b1"), ("code", "A")], columns_to_get=["status"], max_version=1
    )
    assert columns(row) == {"status": "UNUSED"}
    request = BatchGetRowRequest()
    request.add(
        TableInBatchGetRowItem(
            "codes_by_batch",
            [[("batch", "b1"), ("code", "A")], [("batch", "b1"), ("code", "Z")]],
            max_version=1,
        )
    )
    items = client.batch_get_row(request).get_result_by_table("codes_by_batch")
    assert [item.is_ok for item in items] == [True, True]
    assert columns(items[0].row) == {"status": "UNUSED", "uses": 0}
    assert items[1].row is None


def test_index_tables_are_read_only(client):
    create_codes(client, indexes=[BY_BATCH])
    message = "Index table codes_by_batch is read-only."
    with ots_error(400, "OTSParameterInvalid", message):
        client.put_row("codes_by_batch", Row([("batch", "b"), ("code", "A")], [("status", "X")]))
    with ots_error(400, "OTSParameterInvalid", message):
        client.delete_row("codes_by_batch", Row([("batch", "b"), ("code", "A")]), None)
    request = BatchWriteRowRequest()
    request.add(
        TableInBatchWriteRowItem(
            "codes_by_batch",
            [PutRowItem(Row([("batch", "b"), ("code", "A")], [("s", 1)]), Condition("IGNORE"))],
        )
    )
    succeeded, failed = client.batch_write_row(request).get_put()
    assert succeeded == []
    item = failed[0]
    assert (item.is_ok, item.error_code, item.error_message) == (
        False,
        "OTSParameterInvalid",
        message,
    )


def test_rows_whose_index_column_has_another_type_are_not_indexed(client):
    create_codes(client, indexes=[BY_BATCH])
    put(client, "A", batch=42)
    put(client, "B", batch="b" * 1025)  # over the 1 KB of a primary key value
    put(client, "C", batch="ok")
    assert scan(client, "codes_by_batch") == [(("ok", "C"), {})]


def test_index_rows_expire_with_the_table_time_to_live(client):
    create_codes(client, indexes=[BY_BATCH], options=TableOptions(86400, 1, 86400, False))
    now = int(time.time() * 1000)
    # Written 600 ms before it reaches the table's time-to-live (room for a busy machine to
    # accept the write and show both rows first): the row and its index row expire together.
    almost_expired = now - 86400 * 1000 + 600
    client.put_row(
        "codes",
        Row([("code", "old")], [("batch", "b", almost_expired), ("uses", 1, almost_expired)]),
    )
    put(client, "new", batch="b", uses=2)
    assert [pk for pk, _ in scan(client, "codes_by_batch")] == [("b", "new"), ("b", "old")]
    assert until(lambda: len(scan(client, "codes_by_batch")) == 1, timeout=5.0)
    assert scan(client, "codes_by_batch") == [(("b", "new"), {"uses": 2})]
    assert scan(client, "codes_by_batch", columns_to_get=[*KEY, "uses"]) == [
        (("b", "new"), {"uses": 2})
    ]
    assert (
        client.get_row("codes_by_batch", [("batch", "b"), ("code", "old")], max_version=1)[1]
        is None
    )
    assert client.get_row("codes", [("code", "old")], max_version=1)[1] is None


def test_filters_and_projections_on_index_reads(client):
    create_codes(client, indexes=[BY_BATCH])
    for i, status in enumerate(["UNUSED", "USED", "UNUSED"]):
        put(client, f"K{i}", batch="b", status=status, uses=i)
    unused = SingleColumnCondition("status", "UNUSED", ComparatorType.EQUAL)
    assert scan(client, "codes_by_batch", column_filter=unused, columns_to_get=[*KEY, "uses"]) == [
        (("b", "K0"), {"uses": 0}),
        (("b", "K2"), {"uses": 2}),
    ]
    pages = client.get_range(
        "codes_by_batch",
        "BACKWARD",
        [("batch", INF_MAX), ("code", INF_MAX)],
        [("batch", INF_MIN), ("code", INF_MIN)],
        limit=2,
        max_version=1,
    )
    assert [row.primary_key[1][1] for row in pages[2]] == ["K2", "K1"]
    assert pages[1] == [("batch", "b"), ("code", "K0")]


# --- the service's rules ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("index", "message"),
    [
        (
            SecondaryIndexMeta("i", [], ["status"]),
            "The number of primary key columns must be in range: [1, 4] in index.",
        ),
        (
            SecondaryIndexMeta("i", ["batch", "status", "uses", "note", "code"], []),
            "The number of primary key columns must be in range: [1, 4] in index.",
        ),
        (
            SecondaryIndexMeta("i", ["nope"], []),
            "Column 'nope' of index i is neither a primary key column nor a defined column of"
            " table codes.",
        ),
        (
            SecondaryIndexMeta("i", ["batch"], ["nope"]),
            "Attribute column 'nope' of index i is not a defined column of table codes.",
        ),
        (
            SecondaryIndexMeta("i", ["batch", "code"], [], SecondaryIndexType.LOCAL_INDEX),
            "The first primary key column of a local index must be the first primary key column"
            " of table codes: code.",
        ),
        (SecondaryIndexMeta("bad-name", ["batch"], []), "Invalid index name: 'bad-name'."),
    ],
)
def test_invalid_indexes_are_refused(client, index, message):
    create_codes(client)
    with ots_error(400, "OTSParameterInvalid", message):
        client.create_secondary_index("codes", index, False)
    with ots_error(400, "OTSParameterInvalid", message.replace("table codes", "table other")):
        create_codes(client, name="other", indexes=[index])
    assert client.list_table() == ("codes",)


def test_at_most_five_indexes_and_thirty_two_attributes(client):
    defined = [(f"d{i}", "STRING") for i in range(32)] + [("x", "STRING")]
    with ots_error(
        400, "OTSParameterInvalid", "The number of defined columns must be in range: [0, 32]."
    ):
        create_codes(client, defined=defined)
    create_codes(client, defined=defined[:32])
    for i in range(5):
        client.create_secondary_index("codes", SecondaryIndexMeta(f"i{i}", [f"d{i}"], []), False)
    with ots_error(400, "OTSParameterInvalid", "Number of index per table exceeds the quota:5."):
        client.create_secondary_index("codes", SecondaryIndexMeta("i5", ["d5"], []), False)
    client.delete_secondary_index("codes", "i0")
    with ots_error(
        400,
        "OTSParameterInvalid",
        "The number of attribute columns must be in range: [0, 32] in index.",
    ):
        client.create_secondary_index(
            "codes",
            SecondaryIndexMeta("big", ["code"], [f"d{i}" for i in range(32)] + ["d0"]),
            False,
        )


def test_indexes_need_one_version_and_no_updates_with_a_time_to_live(client):
    with ots_error(
        400,
        "OTSParameterInvalid",
        "Don't support allow update operation on table with index and ttl",
    ):
        create_codes(client, indexes=[BY_BATCH], options=TableOptions(86400, 1))
    create_codes(client, options=TableOptions(-1, 2))
    with ots_error(400, "OTSParameterInvalid"):
        client.create_secondary_index("codes", BY_BATCH, False)
    create_codes(client, name="ttl", options=TableOptions(86400, 1, 86400, False))
    client.create_secondary_index("ttl", SecondaryIndexMeta("ttl_by_batch", ["batch"], []), False)
    with ots_error(
        400,
        "OTSParameterInvalid",
        "Don't support allow update operation on table with index and ttl",
    ):
        client.update_table("ttl", TableOptions(time_to_live=3600, allow_update=True))
    client.update_table("ttl", TableOptions(time_to_live=-1, allow_update=True))


def test_index_names_share_the_table_namespace(client):
    create_codes(client, indexes=[BY_BATCH])
    with ots_error(409, "OTSObjectAlreadyExist"):
        create_codes(client, name="codes_by_batch")
    with ots_error(409, "OTSObjectAlreadyExist"):
        client.create_secondary_index("codes", SecondaryIndexMeta("codes", ["batch"], []), False)
    twice = [SecondaryIndexMeta("dup", ["batch"], []), SecondaryIndexMeta("dup", ["status"], [])]
    for indexes, name in (([SecondaryIndexMeta("other", ["batch"], [])], "other"), (twice, "t2")):
        with ots_error(409, "OTSObjectAlreadyExist"):
            create_codes(client, name=name, indexes=indexes)
    assert client.list_table() == ("codes",)


# --- eventual consistency --------------------------------------------------------------------
def test_a_delayed_global_index_is_stale_then_catches_up(local, client):
    create_codes(client, indexes=[BY_BATCH])
    put(client, "A", batch="b1", status="UNUSED")
    local.configure(index_delay_ms=700)  # long enough for a busy machine to look before it
    client.update_row(
        "codes", Row([("code", "A")], {"put": [("status", "USED"), ("batch", "b2")]}), None
    )
    # The data table has the new row at once; the index still shows the old one.
    assert columns(client.get_row("codes", [("code", "A")], max_version=1)[1])["status"] == "USED"
    assert scan(client, "codes_by_batch") == [(("b1", "A"), {"status": "UNUSED"})]
    assert local.health()["pending_index_updates"] == 1
    assert until(
        lambda: scan(client, "codes_by_batch") == [(("b2", "A"), {"status": "USED"})], timeout=5.0
    )
    assert local.health()["pending_index_updates"] == 0


def test_sync_indexes_applies_delayed_updates_at_once_and_keeps_their_order(local, client):
    create_codes(client, indexes=[BY_BATCH])
    local.configure(index_delay_ms=60_000)
    put(client, "A", batch="b1")
    client.update_row("codes", Row([("code", "A")], {"put": [("batch", "b2")]}), None)
    put(client, "B", batch="b1")
    client.delete_row("codes", Row([("code", "B")]), None)
    assert scan(client, "codes_by_batch") == []
    assert local.sync_indexes() == {"applied": 4}
    assert scan(client, "codes_by_batch") == [(("b2", "A"), {})]
    # Back to no delay: queued updates go first, then the write's own.
    put(client, "C", batch="b0")
    local.configure(index_delay_ms=0)
    assert scan(client, "codes_by_batch") == [(("b0", "C"), {}), (("b2", "A"), {})]


def test_local_indexes_are_never_delayed(local, client):
    local_index = SecondaryIndexMeta(
        "codes_local", ["code", "batch"], [], SecondaryIndexType.LOCAL_INDEX
    )
    create_codes(client, indexes=[local_index, BY_BATCH])
    local.configure(index_delay_ms=60_000)
    put(client, "A", batch="b1")
    _, rows = client.get_range(
        "codes_local",
        "FORWARD",
        [("code", INF_MIN), ("batch", INF_MIN)],
        [("code", INF_MAX), ("batch", INF_MAX)],
        max_version=1,
    )[1:3]
    assert [row.primary_key for row in rows] == [[("code", "A"), ("batch", "b1")]]
    assert scan(client, "codes_by_batch") == []


def test_reset_restores_the_start_delay(local):
    local.configure(index_delay_ms=500)
    assert local.settings() == {"index_delay_ms": 500}
    local.reset()
    assert local.settings() == {"index_delay_ms": 0}
    with pytest.raises(SettingsError, match="index_delay_ms must be an integer"):
        local.configure(index_delay_ms=-1)


def test_the_http_control_plane_sets_the_delay_and_syncs(local, client):
    create_codes(client, indexes=[BY_BATCH])
    assert control(local, "POST", "settings", {"index_delay_ms": 60_000}) == (
        200,
        {"index_delay_ms": 60_000},
    )
    assert control(local, "GET", "settings") == (200, {"index_delay_ms": 60_000})
    put(client, "A", batch="b1")
    assert scan(client, "codes_by_batch") == []
    assert control(local, "POST", "indexes/sync") == (200, {"applied": 1})
    assert scan(client, "codes_by_batch") == [(("b1", "A"), {})]
    status, body = control(local, "POST", "settings", {"index_delay": 1})
    assert (status, body["error"]["code"]) == (400, "InvalidSettings")
    assert "unknown setting" in body["error"]["message"]


# --- persistence -----------------------------------------------------------------------------
def test_a_pending_index_update_survives_a_restart(tmp_path):
    data = str(tmp_path / "ots.sqlite3")
    with OTSLocal(data=data, index_delay_ms=60_000) as ots:
        client = ots.client()
        create_codes(client, indexes=[BY_BATCH])
        put(client, "A", batch="b1", status="UNUSED")
        assert scan(client, "codes_by_batch") == []
        assert ots.health()["pending_index_updates"] == 1
    with OTSLocal(data=data, index_delay_ms=60_000) as ots:
        client = ots.client()
        assert ots.health()["pending_index_updates"] == 1
        assert scan(client, "codes_by_batch") == []
        assert client.describe_table("codes").secondary_indexes[0].index_name == "codes_by_batch"
    # Restarted without a delay, the server applies what was queued.
    with OTSLocal(data=data) as ots:
        client = make_client(ots)
        assert ots.health()["pending_index_updates"] == 0
        assert scan(client, "codes_by_batch") == [(("b1", "A"), {"status": "UNUSED"})]


@pytest.mark.slow
def test_acknowledged_writes_and_their_index_rows_survive_kill_9(tmp_path):
    """A data row and its index row (or its queued index update) commit together."""
    data = tmp_path / "ots.sqlite3"
    server = ots_server.start(data_file=data, use_real=False, extra_args=["--quiet"])
    client = make_client(server)
    create_codes(client, indexes=[BY_BATCH])
    for i in range(20):
        put(client, f"now{i}", batch="b1", status="UNUSED")
    assert server.control("POST", "settings", {"index_delay_ms": 600_000})["index_delay_ms"]
    for i in range(20):
        put(client, f"later{i}", batch="b2", status="UNUSED")
    client.update_row("codes", Row([("code", "now0")], {"put": [("batch", "b2")]}), None)
    server.kill()  # SIGKILL: no chance to apply anything
    again = ots_server.start(data_file=data, use_real=False, extra_args=["--quiet"])
    try:
        rows = scan(make_client(again), "codes_by_batch")
        by_batch = {"b1": set(), "b2": set()}
        for (batch, code), _ in rows:
            by_batch[batch].add(code)
        assert by_batch["b1"] == {f"now{i}" for i in range(1, 20)}
        assert by_batch["b2"] == {f"later{i}" for i in range(20)} | {"now0"}
    finally:
        again.stop()


def test_an_index_store_of_an_older_layout_is_made_again_from_the_table(tmp_path):
    data = str(tmp_path / "ots.sqlite3")
    with OTSLocal(data=data) as ots:
        client = ots.client()
        create_codes(client, indexes=[BY_BATCH])
        put(client, "A", batch="b1", status="UNUSED")
        put(client, "B", batch="b2", status="USED")
    # An earlier ots_local kept index rows as plain rows (key, columns) only.
    with sqlite3.connect(data) as connection:
        (index_id,) = connection.execute("SELECT id FROM ots_indexes").fetchone()
        connection.execute(f"DROP TABLE t{index_id}")
        connection.execute(f"CREATE TABLE t{index_id} (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
    with OTSLocal(data=data) as ots:
        assert scan(ots.client(), "codes_by_batch") == [
            (("b1", "A"), {"status": "UNUSED"}),
            (("b2", "B"), {"status": "USED"}),
        ]
