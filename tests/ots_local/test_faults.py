"""Fault injection through the Python API and the HTTP control plane."""

from __future__ import annotations

import threading
import time

import pytest
import urllib3
from tablestore import Condition, OTSServiceError, Row
from tablestore.plainbuffer.plain_buffer_builder import PlainBufferBuilder
from tablestore.protobuf import table_store_pb2 as pb
from tablestore.retry import DefaultRetryPolicy

from ots_local.control import TOKEN_HEADER
from ots_local.faults import FaultSpecError

from .conftest import make_client
from .test_auth import signed_request
from .test_http import connect, raw
from .util import control, ots_error

PK = [("pk", "a")]


def stored(client, name):
    return client.get_row(name, PK, max_version=1)[1] is not None


@pytest.fixture
def name(local, tables):
    return tables.create()


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [("busy", "OTSServerBusy", "Server is busy."), ("timeout", "OTSTimeout", "Operation timeout.")],
)
def test_busy_and_timeout_answer_503_without_applying(local, client, name, kind, code, message):
    local.add_fault(kind, api="PutRow", count=1)
    with ots_error(503, code, message):
        client.put_row(name, Row(PK, [("v", 1)]))
    assert not stored(client, name)
    client.put_row(name, Row(PK, [("v", 1)]))  # the fault was used up
    assert stored(client, name)
    assert local.faults() == {"faults": []}


def test_drop_before_closes_the_connection_without_applying(local, client, name):
    local.add_fault("drop_before", api="PutRow", count=1)
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.put_row(name, Row(PK, [("v", 1)]))
    assert not stored(client, name)


def test_drop_after_applies_the_write_but_never_answers(local, client, name):
    local.add_fault("drop_after", api="UpdateRow", count=1)
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.update_row(name, Row(PK, {"put": [("v", 1)]}), Condition("EXPECT_NOT_EXIST"))
    assert stored(client, name)
    # A naive retry now fails its condition, although the first attempt succeeded.
    with ots_error(403, "OTSConditionCheckFail"):
        client.update_row(name, Row(PK, {"put": [("v", 1)]}), Condition("EXPECT_NOT_EXIST"))


def test_latency_delays_one_client_without_blocking_the_others(local, client, name):
    local.add_fault("latency", api="GetRow", latency_ms=400, count=1)
    slow_done = []

    def slow_read():
        started = time.monotonic()
        make_client(local).get_row(name, PK, max_version=1)
        slow_done.append(time.monotonic() - started)

    reader = threading.Thread(target=slow_read)
    reader.start()
    wait_until(lambda: local.health()["delayed"] == 1)  # the read is held by the fault now
    started = time.monotonic()
    client.put_row(name, Row(PK, [("v", 1)]))
    client.list_table()
    assert time.monotonic() - started < 0.3
    assert not slow_done
    reader.join(5)
    assert slow_done[0] >= 0.4


def test_a_request_whose_client_hangs_up_during_its_latency_is_never_applied(local, client, name):
    local.add_fault("latency", api="PutRow", latency_ms=300, count=1)
    request = pb.PutRowRequest(
        table_name=name, row=bytes(PlainBufferBuilder.serialize_for_put_row(PK, [("v", 1)]))
    )
    request.condition.row_existence = pb.IGNORE
    headers, body = signed_request(local, api="PutRow", body=request.SerializeToString())
    with connect(local) as sock:
        sock.sendall(raw(headers, body, api="PutRow"))
        wait_until(lambda: local.health()["delayed"] == 1)
    wait_until(lambda: local.health()["delayed"] == 0)  # released when the client went
    time.sleep(0.4)  # past the latency: the write would have run by now
    assert not stored(client, name)
    client.put_row(name, Row(PK, [("v", 2)]))  # the server goes on serving
    assert stored(client, name)


def test_a_fault_only_hits_its_api_and_count(local, client, name):
    local.add_fault("busy", api="DeleteRow", count=2)
    client.put_row(name, Row(PK, [("v", 1)]))  # PutRow is not affected
    for _ in range(2):
        with ots_error(503, "OTSServerBusy"):
            client.delete_row(name, Row(PK), None)
    client.delete_row(name, Row(PK), None)
    assert not stored(client, name)


def test_a_fault_without_count_lasts_until_cleared(local, client, name):
    fault = local.add_fault("busy")
    assert fault["kind"] == "busy" and fault["count"] is None
    for _ in range(3):
        with ots_error(503, "OTSServerBusy"):
            client.list_table()
    assert local.faults()["faults"][0]["fired"] == 3
    assert local.clear_faults() == {"cleared": 1}
    client.list_table()


@pytest.mark.parametrize(("probability", "failures"), [(0, 0), (1, 5)])
def test_probability_zero_never_fires_and_one_always_does(local, client, probability, failures):
    local.add_fault("busy", probability=probability)
    failed = 0
    for _ in range(5):
        try:
            client.list_table()
        except OTSServiceError:
            failed += 1
    assert failed == failures


def test_a_probabilistic_fault_fires_on_a_share_of_requests(local, client):
    local.add_fault("busy", probability=0.5)
    failed = 0
    for _ in range(200):
        try:
            client.list_table()
        except OTSServiceError:
            failed += 1
    assert 40 < failed < 160  # p(outside) ~ 1e-17


def test_the_sdk_retry_policy_rides_out_a_busy_server(local, name):
    local.add_fault("busy", api="PutRow", count=1)
    retrying = make_client(local, retry_policy=DefaultRetryPolicy())
    retrying.put_row(name, Row(PK, [("v", 1)]))
    assert stored(retrying, name)


def test_the_http_control_plane_adds_lists_and_clears_faults(local, client):
    status, fault = control(
        local, "POST", "faults", {"kind": "timeout", "api": "ListTable", "count": 1}
    )
    assert status == 200
    assert fault == {
        "id": fault["id"],
        "kind": "timeout",
        "api": "ListTable",
        "count": 1,
        "probability": None,
        "latency_ms": None,
        "fired": 0,
    }
    assert control(local, "GET", "faults") == (200, {"faults": [fault]})
    with ots_error(503, "OTSTimeout"):
        client.list_table()
    control(local, "POST", "faults", {"kind": "busy"})
    assert control(local, "DELETE", "faults") == (200, {"cleared": 1})
    assert client.list_table() == ()


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "explode"},
        {"kind": "busy", "api": "NoSuchApi"},
        {"kind": "busy", "count": 0},
        {"kind": "busy", "probability": 1.5},
        {"kind": "latency"},
        {"kind": "busy", "latency_ms": 5},
        {"kind": "busy", "typo": 1},
        ["busy"],
    ],
)
def test_bad_fault_descriptions_are_400_with_a_reason(local, payload):
    status, body = control(local, "POST", "faults", payload)
    assert status == 400
    assert body["error"]["code"] == "InvalidFault" and body["error"]["message"]
    if isinstance(payload, dict) and "typo" not in payload:
        with pytest.raises(FaultSpecError):
            local.add_fault(**payload)
    assert local.faults() == {"faults": []}


def test_a_non_json_fault_body_is_400(local):
    status, body = control(local, "POST", "faults", body=b"{nope")
    assert (status, body["error"]["code"]) == (400, "InvalidJSON")


def test_health_and_reset(local, client, name):
    local.add_fault("busy", api="GetRow")
    status, health = control(local, "GET", "health")
    assert status == 200
    assert health["status"] == "ok"
    assert (health["instance"], health["tables"], health["faults"]) == (local.instance, 1, 1)
    assert health["endpoint"] == local.endpoint
    assert health["delayed"] == 0
    assert control(local, "POST", "reset") == (200, {"status": "ok"})
    assert client.list_table() == ()
    assert local.health()["faults"] == 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "nothing", 404), ("GET", "reset", 405), ("PUT", "faults", 405)],
)
def test_unknown_control_endpoints_and_methods(local, method, path, status):
    code, body = control(local, method, path)
    assert code == status
    assert body["error"]["message"]


def wait_until(fact, timeout=5.0):
    """Poll `fact()` (every 5 ms) until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not fact():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.005)


def test_control_requests_without_the_token_are_refused(local, client):
    json_only = {"Content-Type": "application/json"}
    assert control(local, "POST", "reset", headers=json_only)[0] == 401
    status, body = control(local, "POST", "faults", {"kind": "busy"}, headers=json_only)
    assert (status, body["error"]["code"]) == (401, "MissingControlToken")
    assert TOKEN_HEADER in body["error"]["message"]
    wrong = {**json_only, TOKEN_HEADER: "not-the-token"}
    status, body = control(local, "DELETE", "faults", headers=wrong)
    assert (status, body["error"]["code"]) == (403, "InvalidControlToken")
    assert control(local, "GET", "faults", headers=wrong)[0] == 403
    assert local.faults() == {"faults": []}
    # Health is read-only and open: launchers probe it.
    assert control(local, "GET", "health", headers={})[0] == 200


@pytest.mark.parametrize(
    "browser",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Mode": "no-cors"},
    ],
)
def test_browser_requests_are_refused_even_with_the_token(local, client, tables, browser):
    name = tables.create()
    headers = {"Content-Type": "application/json", TOKEN_HEADER: local.control_token, **browser}
    for method, path in (("POST", "reset"), ("POST", "faults"), ("GET", "health")):
        status, body = control(local, method, path, {"kind": "busy"}, headers=headers)
        assert (status, body["error"]["code"]) == (403, "BrowserRequestRefused")
    assert client.list_table() == (name,)
    assert local.faults() == {"faults": []}


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_control_writes_must_be_json(local, client, tables, content_type):
    # What a cross-origin "simple" request (no preflight) may send is never JSON.
    name = tables.create()
    headers = {TOKEN_HEADER: local.control_token}
    if content_type:
        headers["Content-Type"] = content_type
    status, body = control(local, "POST", "reset", body=b"{}", headers=headers)
    assert (status, body["error"]["code"]) == (415, "UnsupportedMediaType")
    status, _ = control(local, "POST", "faults", body=b'{"kind": "busy"}', headers=headers)
    assert status == 415
    assert client.list_table() == (name,)
    assert local.faults() == {"faults": []}


def test_the_data_clock_advances_through_the_control_plane_and_reset_restores_it(local):
    status, clock = control(local, "GET", "clock")
    assert (status, clock["offset_ms"]) == (200, 0)
    assert abs(clock["now_ms"] - time.time() * 1000) < 5_000
    status, clock = control(local, "POST", "clock", {"advance_ms": 86_400_000})
    assert (status, clock["offset_ms"]) == (200, 86_400_000)
    assert local.health()["clock_offset_ms"] == 86_400_000
    for bad in ({"advance_ms": -1}, {"advance_ms": 1.5}, {"advance": 5}, [5]):
        status, body = control(local, "POST", "clock", bad)
        assert (status, body["error"]["code"]) == (400, "InvalidClock")
    with pytest.raises(ValueError, match="advance_ms"):
        local.advance_clock(-5)
    json_only = {"Content-Type": "application/json"}
    assert control(local, "POST", "clock", {"advance_ms": 1}, headers=json_only)[0] == 401
    control(local, "POST", "reset")
    assert local.health()["clock_offset_ms"] == 0
