"""`python -m ots_local` as a subprocess: the ready line, the SDK over loopback, the control plane
over HTTP (harness/ots_server.py), logging, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    CapacityUnit,
    Condition,
    PutRowItem,
    ReservedThroughput,
    Row,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)

from harness import ots_server

from .conftest import make_client
from .util import ots_error

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli():
    server = ots_server.start(instance="cli-test", use_real=False)
    yield server
    server.stop()


@pytest.fixture
def fresh(cli):
    cli.reset()
    return cli


def test_the_ready_line_names_endpoint_and_instance(cli):
    assert cli.output[0] == f"ots_local ready: endpoint={cli.endpoint} instance=cli-test"
    assert cli.health()["status"] == "ok"


def test_the_sdk_works_over_loopback(fresh):
    client = make_client(fresh)
    client.create_table(
        TableMeta("t", [("pk", "STRING")]), TableOptions(), ReservedThroughput(CapacityUnit(0, 0))
    )
    request = BatchWriteRowRequest()
    request.add(
        TableInBatchWriteRowItem(
            "t",
            [
                PutRowItem(Row([("pk", f"k{i}")], [("v", i)]), Condition("IGNORE"))
                for i in range(50)
            ],
        )
    )
    assert client.batch_write_row(request).is_all_succeed()
    rows = client.get_range("t", "FORWARD", [("pk", INF_MIN)], [("pk", INF_MAX)], max_version=1)[2]
    assert len(rows) == 50
    fresh.add_fault("busy", api="GetRow", count=1)
    with ots_error(503, "OTSServerBusy", "Server is busy."):
        client.get_row("t", [("pk", "k1")], max_version=1)
    assert client.get_row("t", [("pk", "k1")], max_version=1)[1].attribute_columns[0][1] == 1


def test_one_log_line_per_request(fresh):
    make_client(fresh).list_table()
    with ots_error(404, "OTSObjectNotExist"):
        make_client(fresh).describe_table("nope")
    expected = [
        "POST /ListTable 200",
        "POST /DescribeTable 404 OTSObjectNotExist Requested table does not exist.",
    ]
    # The server writes its line after answering, and a thread reads the pipe: wait for it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logged = "\n".join(fresh.output)
        if all(line in logged for line in expected):
            break
        time.sleep(0.02)
    for line in expected:
        assert line in logged


def test_sigterm_stops_cleanly_with_exit_status_0():
    server = ots_server.start(instance="short-lived", use_real=False)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(10) == 0


def test_sigint_stops_cleanly_with_exit_status_0():
    server = ots_server.start(instance="short-lived", use_real=False)
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(10) == 0


def test_a_busy_port_is_reported_and_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "ots_local", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_an_invalid_index_delay_is_reported_and_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "ots_local", "--port", "0", "--index-delay-ms", "-5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "ots_local: --index-delay-ms: index_delay_ms must be an integer in [0, 600000], not -5\n"
    )


def test_help_lists_the_flags():
    result = subprocess.run(
        [sys.executable, "-m", "ots_local", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    for flag in (
        "--host",
        "--port",
        "--instance",
        "--access-key-id",
        "--access-key-secret",
        "--index-delay-ms",
        "--data",
        "--control-token",
    ):
        assert flag in result.stdout


def test_the_control_token_is_printed_and_required(cli):
    assert f"ots_local: control plane token {cli.control_token} (header X-OTS-Local-Token)" in (
        cli.output
    )
    assert cli.reset() == {"status": "ok"}
    impostor = ots_server.OTSServer(
        cli.endpoint, cli.instance, "", "", process=cli.process, control_token="guessed"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        impostor.reset()
    assert info.value.code == 403


def test_without_a_flag_the_token_comes_from_the_environment_or_is_random():
    env = {**os.environ, "OTS_LOCAL_CONTROL_TOKEN": "from-the-environment"}
    lines = []
    for environ in (env, {k: v for k, v in env.items() if k != "OTS_LOCAL_CONTROL_TOKEN"}):
        with subprocess.Popen(
            [sys.executable, "-m", "ots_local", "--port", "0"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            lines.append([proc.stdout.readline() for _ in range(3)][2].strip())
            proc.terminate()
    assert (
        lines[0] == "ots_local: control plane token from-the-environment (header X-OTS-Local-Token)"
    )
    random_token = lines[1].split()[4]
    assert len(random_token) == 32 and random_token != "from-the-environment"
