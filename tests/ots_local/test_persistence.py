"""`--data FILE`: everything survives a restart, and every acknowledged write survives kill -9."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import urllib3
from tablestore import (
    BatchGetRowRequest,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    OTSServiceError,
    PutRowItem,
    ReservedThroughput,
    Row,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)

from harness import ots_server
from ots_local import OTSLocal

from .conftest import make_client
from .util import columns

ROOT = Path(__file__).resolve().parents[2]


def create(client, name, schema, options=None):
    client.create_table(
        TableMeta(name, schema), options or TableOptions(), ReservedThroughput(CapacityUnit(0, 0))
    )


def read_keys(client, name, keys):
    """{key: columns or None}, through BatchGetRow in chunks of 100."""
    found = {}
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        request = BatchGetRowRequest()
        request.add(TableInBatchGetRowItem(name, [[("pk", k)] for k in chunk], max_version=1))
        for key, item in zip(
            chunk, client.batch_get_row(request).get_result_by_table(name), strict=True
        ):
            assert item.is_ok
            found[key] = item.row and columns(item.row)
    return found


def test_tables_and_rows_survive_a_restart(tmp_path):
    data = tmp_path / "ots.sqlite3"
    server = ots_server.start(data_file=data, use_real=False)
    try:
        client = make_client(server)
        create(client, "codes", [("code", "STRING")], TableOptions(-1, 3, 3600))
        create(client, "other", [("a", "INTEGER"), ("b", "BINARY")])
        client.put_row("codes", Row([("code", "A")], [("state", "UNUSED"), ("uses", 0)]))
        client.update_row("codes", Row([("code", "A")], {"increment": [("uses", 1)]}), None)
        request = BatchWriteRowRequest()
        request.add(
            TableInBatchWriteRowItem(
                "other",
                [
                    PutRowItem(
                        Row([("a", i), ("b", bytearray([i]))], [("v", i * 1.5)]),
                        Condition("IGNORE"),
                    )
                    for i in range(100)
                ],
            )
        )
        assert client.batch_write_row(request).is_all_succeed()
    finally:
        server.stop()
    assert server.process.returncode == 0

    again = ots_server.start(data_file=data, use_real=False)
    try:
        client = make_client(again)
        assert sorted(client.list_table()) == ["codes", "other"]
        described = client.describe_table("codes")
        assert described.table_options.max_version == 3
        assert described.table_options.max_time_deviation == 3600
        row = client.get_row("codes", [("code", "A")], max_version=1)[1]
        assert columns(row) == {"state": "UNUSED", "uses": 1}
        row = client.get_row("other", [("a", 42), ("b", bytearray([42]))], max_version=1)[1]
        assert columns(row) == {"v": 63.0}
    finally:
        again.stop()


def test_every_acknowledged_write_survives_kill_9(tmp_path):
    data = tmp_path / "ots.sqlite3"
    server = ots_server.start(data_file=data, use_real=False, extra_args=["--quiet"])
    create(make_client(server), "load", [("pk", "STRING")])
    acknowledged: list[list[str]] = [[] for _ in range(4)]
    stop = threading.Event()

    def writer(n):
        client = make_client(server, socket_timeout=5)
        i = 0
        while not stop.is_set():
            key = f"w{n}-{i}"
            try:
                client.put_row(
                    "load", Row([("pk", key)], [("v", i)]), Condition("EXPECT_NOT_EXIST")
                )
            except (OTSServiceError, urllib3.exceptions.HTTPError, OSError):
                return  # the server is gone
            acknowledged[n].append(key)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acknowledged)) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the load has really run
    server.kill()  # SIGKILL in the middle of the load
    stop.set()
    for thread in threads:
        thread.join(10)
    keys = [key for keys in acknowledged for key in keys]
    assert len(keys) >= 200  # the load really ran

    with sqlite3.connect(data) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = ots_server.start(data_file=data, use_real=False, extra_args=["--quiet"])
    try:
        found = read_keys(make_client(again), "load", keys)
        lost = [key for key, row in found.items() if row is None]
        assert lost == []
    finally:
        again.stop()


def test_in_process_data_files_reopen(tmp_path):
    data = str(tmp_path / "embedded.sqlite3")
    with OTSLocal(data=data) as ots:
        client = ots.client()
        create(client, "t", [("pk", "STRING")])
        client.put_row("t", Row([("pk", "a")], [("v", "kept")]))
    with OTSLocal(data=data) as ots:
        assert columns(ots.client().get_row("t", [("pk", "a")], max_version=1)[1]) == {"v": "kept"}
        assert ots.health()["data"] == data
        ots.reset()
    with OTSLocal(data=data) as ots:
        assert ots.client().list_table() == ()


def test_the_data_file_and_its_companions_are_owner_only(tmp_path):
    data = tmp_path / "private.sqlite3"
    previous = os.umask(0o022)  # the usual umask, which would leave them world-readable
    try:
        with OTSLocal(data=str(data)) as ots:
            client = ots.client()
            create(client, "t", [("pk", "STRING")])
            client.put_row("t", Row([("pk", "a")], [("v", "secret")]))
            files = [data, *(Path(f"{data}{suffix}") for suffix in ("-wal", "-shm", ".lock"))]
            assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {
                f.name: 0o600 for f in files
            }
    finally:
        os.umask(previous)


def test_one_server_per_data_file(tmp_path):
    """A second server on the same file would keep its own table list: it is refused."""
    data = str(tmp_path / "shared.sqlite3")
    with OTSLocal(data=data) as first:
        with pytest.raises(Exception, match="in use by another ots_local server"):
            OTSLocal(data=data).start()
        result = subprocess.run(
            [sys.executable, "-m", "ots_local", "--port", "0", "--data", data],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 1
        assert "in use by another ots_local server (one server per data file)" in result.stderr
        create(first.client(), "t", [("pk", "STRING")])  # the first one is unaffected
    with OTSLocal(data=data) as again:  # free once the first has stopped
        assert again.client().list_table() == ("t",)


def test_a_file_that_is_not_ots_local_data_is_refused(tmp_path):
    data = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(data) as connection:
        connection.execute("CREATE TABLE something (x)")
    result = subprocess.run(
        [sys.executable, "-m", "ots_local", "--port", "0", "--data", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot open --data" in result.stderr
    assert "not an ots_local data file" in result.stderr
    with pytest.raises(Exception, match="not an ots_local data file"):
        OTSLocal(data=str(data)).start()


def test_a_corrupted_row_is_a_500_that_leaks_nothing_and_the_server_goes_on(tmp_path):
    data = str(tmp_path / "corrupt.sqlite3")
    logged: list[str] = []
    with OTSLocal(data=data, log=logged.append) as ots:
        client = ots.client()
        create(client, "t", [("pk", "STRING")])
        client.put_row("t", Row([("pk", "bad")], [("v", 1)]))
        client.put_row("t", Row([("pk", "good")], [("v", 2)]))
        with sqlite3.connect(data) as connection:  # damage one stored row behind its back
            (table,) = connection.execute(
                "SELECT name FROM sqlite_master WHERE name LIKE 't%'"
            ).fetchone()
            connection.execute(
                f"UPDATE {table} SET v = x'00' WHERE v = (SELECT MIN(v) FROM {table})"  # noqa: S608
            )
        failures = 0
        for key in ("bad", "good"):
            try:
                client.get_row("t", [("pk", key)], max_version=1)
            except OTSServiceError as error:
                failures += 1
                assert (
                    error.get_http_status(),
                    error.get_error_code(),
                    error.get_error_message(),
                ) == (
                    500,
                    "OTSInternalServerError",
                    "Internal server error.",
                )
        assert failures == 1
        assert any("Traceback" in line for line in logged)
        assert client.list_table() == ("t",)
