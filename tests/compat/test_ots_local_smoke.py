# -*- coding: utf-8 -*-
"""ots_local with FC's runtimes as clients: Python 3.6 + tablestore 5.1.0 (python3) and
Python 3.10 + tablestore 5.4.1 (python3.10). Python 3.6 syntax on purpose.

`make test-py36` / `make test-py310` run this file; the server is `python -m ots_local` under
the dev venv's Python, started by harness/ots_server.py. With OTS_TEST_* set, the same
tests run against that real instance, and the ones needing the control plane skip.
"""

import time
import uuid

import pytest
import urllib3
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    CapacityUnit,
    ComparatorType,
    Condition,
    OTSClient,
    OTSServiceError,
    PutRowItem,
    ReservedThroughput,
    Row,
    SecondaryIndexMeta,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)
from tablestore.retry import NoRetryPolicy

from harness import ots_server

CONTROL_PLANE_SKIP = "needs the ots_local control plane; OTS_TEST_* points at a real instance"


@pytest.fixture(scope="module")
def server():
    handle = ots_server.start(instance="compat")
    yield handle
    handle.stop()


def make_client(server, **kwargs):
    kwargs.setdefault("retry_policy", NoRetryPolicy())
    kwargs.setdefault("socket_timeout", 10)
    return OTSClient(
        server.endpoint, server.access_key_id, server.access_key_secret, server.instance, **kwargs
    )


@pytest.fixture
def client(server):
    return make_client(server)


@pytest.fixture
def table(server, client):
    name = "compat_" + uuid.uuid4().hex[:8]
    client.create_table(
        TableMeta(name, [("pk", "STRING"), ("n", "INTEGER")]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
    )
    if not server.is_local:
        # A real table answers OTSTableNotReady / OTSPartitionUnavailable while it loads.
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get_row(name, [("pk", "x"), ("n", 0)], max_version=1)
                break
            except OTSServiceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    yield name
    client.delete_table(name)


@pytest.fixture
def local(server):
    if not server.is_local:
        pytest.skip(CONTROL_PLANE_SKIP)
    server.clear_faults()
    yield server
    server.clear_faults()


def columns(row):
    return dict((name, value) for name, value, _ in row.attribute_columns)


def test_rows_round_trip_with_every_type(client, table):
    pk = [("pk", "clé"), ("n", 1)]
    cells = [
        ("s", "héllo"),
        ("i", -(2**63)),
        ("d", 2.5),
        ("t", True),
        ("b", bytearray(b"\x00\xff")),
    ]
    client.put_row(table, Row(pk, cells), Condition("EXPECT_NOT_EXIST"))
    _, row, _ = client.get_row(table, pk, max_version=1)
    assert row.primary_key == pk
    assert columns(row) == dict(cells)


def test_update_with_increment_delete_and_conditions(client, table):
    pk = [("pk", "a"), ("n", 1)]
    client.put_row(table, Row(pk, [("uses", 0), ("state", "UNUSED"), ("x", 1)]))
    unused = Condition(
        "EXPECT_EXIST", SingleColumnCondition("state", "UNUSED", ComparatorType.EQUAL)
    )
    client.update_row(
        table,
        Row(pk, {"put": [("state", "USED")], "increment": [("uses", 1)], "delete_all": ["x"]}),
        unused,
    )
    assert columns(client.get_row(table, pk, max_version=1)[1]) == {"state": "USED", "uses": 1}
    with pytest.raises(OTSServiceError) as info:
        client.update_row(table, Row(pk, {"put": [("state", "USED")]}), unused)
    error = info.value
    assert (error.get_http_status(), error.get_error_code(), error.get_error_message()) == (
        403,
        "OTSConditionCheckFail",
        "Condition check failed.",
    )
    client.delete_row(table, Row(pk), Condition("EXPECT_EXIST"))
    assert client.get_row(table, pk, max_version=1)[1] is None


def test_batches_and_range_paging(client, table):
    request = BatchWriteRowRequest()
    items = [
        PutRowItem(Row([("pk", "r"), ("n", i)], [("v", i)]), Condition("EXPECT_NOT_EXIST"))
        for i in range(150)
    ]
    request.add(TableInBatchWriteRowItem(table, items))
    assert client.batch_write_row(request).is_all_succeed()

    request = BatchGetRowRequest()
    request.add(
        TableInBatchGetRowItem(
            table, [[("pk", "r"), ("n", 7)], [("pk", "x"), ("n", 0)]], max_version=1
        )
    )
    found = client.batch_get_row(request).get_result_by_table(table)
    assert [item.is_ok for item in found] == [True, True]
    assert columns(found[0].row) == {"v": 7}
    assert found[1].row is None

    start, seen = [("pk", INF_MIN), ("n", INF_MIN)], []
    while start:
        _, start, rows, _ = client.get_range(
            table, "FORWARD", start, [("pk", INF_MAX), ("n", INF_MAX)], limit=40, max_version=1
        )
        seen.extend(row.primary_key[1][1] for row in rows)
    assert seen == list(range(150))


def test_a_wrong_secret_is_rejected(server):
    bad = OTSClient(
        server.endpoint,
        server.access_key_id,
        "wrong-secret",
        server.instance,
        retry_policy=NoRetryPolicy(),
    )
    with pytest.raises(OTSServiceError) as info:
        bad.list_table()
    assert (info.value.get_http_status(), info.value.get_error_code()) == (403, "OTSAuthFailed")


def test_busy_fault_is_a_503(local, client, table):
    local.add_fault("busy", api="PutRow", count=1)
    with pytest.raises(OTSServiceError) as info:
        client.put_row(table, Row([("pk", "a"), ("n", 1)], [("v", 1)]))
    assert (info.value.get_http_status(), info.value.get_error_code()) == (503, "OTSServerBusy")
    client.put_row(table, Row([("pk", "a"), ("n", 1)], [("v", 1)]))


def test_drop_after_applies_without_answering(local, client, table):
    local.add_fault("drop_after", api="PutRow", count=1)
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.put_row(table, Row([("pk", "d"), ("n", 1)], [("v", 1)]))
    assert client.get_row(table, [("pk", "d"), ("n", 1)], max_version=1)[1] is not None


def index_rows(client, index):
    start = [("batch", INF_MIN), ("code", INF_MIN)]
    end = [("batch", INF_MAX), ("code", INF_MAX)]
    rows = client.get_range(index, "FORWARD", start, end, max_version=1)[2]
    return [([value for _, value in row.primary_key], columns(row)) for row in rows]


def until(fact, timeout=10.0):
    """A global index is asynchronous on the real service: wait for the fact."""
    deadline = time.time() + timeout
    while True:
        value = fact()
        if value or time.time() > deadline:
            return value
        time.sleep(0.05)


def test_secondary_indexes_with_the_runtime_sdk(server, client):
    name = "compat_" + uuid.uuid4().hex[:8]
    index = name + "_by_batch"
    client.create_table(
        TableMeta(name, [("code", "STRING")], [("batch", "STRING"), ("status", "STRING")]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
        [SecondaryIndexMeta(index, ["batch"], ["status"])],
    )
    try:
        if not server.is_local:
            time.sleep(5)
        described = client.describe_table(name).secondary_indexes
        assert [(i.index_name, i.primary_key_names, i.defined_column_names) for i in described] == [
            (index, ["batch"], ["status"])
        ]
        client.put_row(name, Row([("code", "B")], [("batch", "b1"), ("status", "UNUSED")]))
        client.put_row(name, Row([("code", "A")], [("batch", "b1"), ("status", "USED")]))
        client.put_row(name, Row([("code", "C")], [("status", "UNUSED")]))
        expected = [(["b1", "A"], {"status": "USED"}), (["b1", "B"], {"status": "UNUSED"})]
        assert until(lambda: index_rows(client, index) == expected)
        client.delete_secondary_index(name, index)
        assert client.describe_table(name).secondary_indexes == []
    finally:
        client.delete_table(name)


def test_a_delayed_global_index_with_the_runtime_sdk(local, client):
    name = "compat_" + uuid.uuid4().hex[:8]
    index = name + "_by_batch"
    client.create_table(
        TableMeta(name, [("code", "STRING")], [("batch", "STRING")]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
        [SecondaryIndexMeta(index, ["batch"], [])],
    )
    try:
        assert local.configure(index_delay_ms=600000) == {"index_delay_ms": 600000}
        client.put_row(name, Row([("code", "A")], [("batch", "b1")]))
        assert index_rows(client, index) == []  # stale: the update waits
        assert local.health()["pending_index_updates"] == 1
        assert local.sync_indexes() == {"applied": 1}
        assert index_rows(client, index) == [(["b1", "A"], {})]
    finally:
        local.configure(index_delay_ms=0)
        client.delete_table(name)
