"""Drills: the local stack against a hostile neighbour on the same machine.

Each test sends one kind of hostile input over a real socket on 127.0.0.1 and checks that it is
refused or handled: in the documented JSON error shape, with one escaped log line, within the
listener's limits (docs/localdev.md, "Limits of the listener"). The stack runs in-process over the
probe template of tests/localdev/helpers.py; the timeout and connection-limit drills use a bare
`LocalServer` with small limits so that they finish in well under a second each.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import select
import socket
import stat
import struct
import threading
import time
from collections import Counter
from email.utils import formatdate

import fc2
import pytest

from localdev.fc3api import FC3Api, Nonces
from localdev.fcapi import MAX_CLOCK_SKEW_S
from localdev.gateway import loggable_path, mask
from localdev.instances import Invocation, Stopped
from localdev.server import MAX_HEADER_BYTES, MAX_REQUEST_LINE, LocalServer
from localdev.store import LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET, DataDir
from localdev.web import json_response, loggable
from tests.localdev.helpers import start_probe_stack
from tools import fc3_client

APP_KEY = "hostile-app-key"
CODE = "ABCD1234EFGH5678"
INVOKE_PATH = "/2016-08-15/services/probe-svc/functions/plain/invocations"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_probe_stack(tmp_path_factory.mktemp("hostile"), APP_KEY)
    yield running
    running.stop()


def exchange(port, data, timeout=10.0):
    """Send raw bytes, parse the one answer: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status, resp.headers, resp.read()


def gateway_error(answer, status, code):
    """The gateway's documented error shape, with its request id in X-Ca-Request-Id."""
    got_status, headers, data = answer
    body = json.loads(data)
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["request_id"] == headers["X-Ca-Request-Id"]
    assert headers["Content-Type"].startswith("application/json")
    return body["error"]["message"]


def fc_error(answer, status, code):
    """The FC API's documented error shape, with its request id in X-Fc-Request-Id."""
    got_status, headers, data = answer
    body = json.loads(data)
    assert (got_status, body["ErrorCode"]) == (status, code), body
    assert set(body) == {"ErrorCode", "ErrorMessage"}
    assert headers["X-Fc-Request-Id"]
    assert headers["Content-Type"].startswith("application/json")
    return body["ErrorMessage"]


def lines_with(stack, text, count=1, timeout=5.0):
    """The log lines containing `text`, once there are `count` of them (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in list(stack.lines) if text in line]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


# --- 1. codes are masked after percent-decoding ------------------------------------------------
@pytest.mark.parametrize(
    "padded",
    [
        CODE + "%20" * 48,
        "%20" * 48 + CODE,
        "%20" * 24 + CODE + "%20" * 24,
        CODE[:8] + "%20" * 48 + CODE[8:],
        "%2D" * 30 + CODE + "%09" * 30,
    ],
)
def test_a_padded_code_is_masked_like_the_bare_code(stack, padded):
    for path in (f"/things/{padded}", f"/nothing/{padded}"):
        _, headers, _ = exchange(stack.port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        (line,) = lines_with(stack, headers["X-Ca-Request-Id"])
        assert "ABCD" in line and "5678" in line and "****" in line
        assert "1234" not in line and "EFGH" not in line, line


def test_mask_shows_a_quarter_of_the_letters_and_digits_at_most():
    assert mask(CODE) == "ABCD****5678"
    assert mask(" " * 40 + CODE + " " * 40) == "ABCD****5678"
    assert mask("BETA-WYF7-4VX2-QZHP-0KST") == "BETA-W****P-0KST"
    assert mask("ABC") == mask("   ") == "****"
    assert loggable_path("/codes/%41BCD", {"code": "ABCD"}) == "/codes/A****D"
    assert mask("A" * 100 + "B" * 100) == "AAAAAAAA****BBBBBBBB"  # at most 8 at each end


def test_a_long_path_or_method_is_cut_in_the_log(stack):
    long_path = "/" + "p" * 4000 + "/" + "s" * 4000
    answer = exchange(stack.port, f"GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    gateway_error(answer, 404, "NOT_FOUND")
    (line,) = lines_with(stack, answer[1]["X-Ca-Request-Id"])
    assert line.startswith("GET /" + "p" * 255 + "...[+")
    assert len(line) < 400
    answer = exchange(stack.port, b"M" * 5000 + b" /x HTTP/1.1\r\nHost: x\r\n\r\n")
    gateway_error(answer, 501, "NOT_IMPLEMENTED")
    (line,) = lines_with(stack, answer[1]["X-Ca-Request-Id"])
    assert line.startswith("M" * 32 + "...[+4968 chars] /x -> - 501 ") and len(line) < 700


# --- 3. the FC API checks the date window and the body's MD5 -----------------------------------
def signed(method, path, headers):
    """Headers signed by the real aliyun-fc2 client, with ours (date, content-md5) included."""
    client = fc2.Client(
        endpoint="http://127.0.0.1:1",
        accessKeyID=LOCAL_ACCESS_KEY_ID,
        accessKeySecret=LOCAL_ACCESS_KEY_SECRET,
    )
    return client._build_common_headers(method, path, headers)


def invoke_raw(stack, headers, body):
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    data = f"POST {INVOKE_PATH} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
    return exchange(stack.port, data + body)


def md5_b64(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324


@pytest.mark.parametrize(
    "date", ["Mon, 01 Jan 2001 00:00:00 GMT", "Fri, 31 Dec 2100 23:59:59 GMT", "future"]
)
def test_a_date_outside_fcs_15_minutes_is_refused_as_fc_refuses_it(stack, date):
    if date == "future":
        date = formatdate(time.time() + MAX_CLOCK_SKEW_S + 60, usegmt=True)
    answer = invoke_raw(stack, signed("POST", INVOKE_PATH, {"date": date}), b"{}")
    message = fc_error(answer, 403, "RequestTimeTooSkewed")
    assert message.startswith(f"the difference between the request time '{date}' and the current")
    assert message.endswith(" GMT' is too large")


def test_the_real_client_reads_the_refusals_error_code(stack):
    client = fc2.Client(
        endpoint=f"http://127.0.0.1:{stack.port}",
        accessKeyID=LOCAL_ACCESS_KEY_ID,
        accessKeySecret=LOCAL_ACCESS_KEY_SECRET,
    )
    old = {"date": "Mon, 01 Jan 2001 00:00:00 GMT"}  # signed by the client as it is
    with pytest.raises(fc2.FcError) as caught:
        client.invoke_function("probe-svc", "plain", payload=b"{}", headers=old)
    assert (caught.value.status_code, caught.value.err_code) == (403, "RequestTimeTooSkewed")
    wrong_md5 = {"content-md5": md5_b64(b"another body")}
    with pytest.raises(fc2.FcError) as caught:
        client.invoke_function("probe-svc", "plain", payload=b"{}", headers=wrong_md5)
    assert (caught.value.status_code, caught.value.err_code) == (400, "InvalidArgument")


@pytest.mark.parametrize("date", ["not a date", "Mon, 01 Jan 2001 00:00:00", "2026-11-30"])
def test_a_date_that_is_not_an_http_date_is_an_invalid_argument(stack, date):
    answer = invoke_raw(stack, signed("POST", INVOKE_PATH, {"date": date}), b"{}")
    assert repr(date) in fc_error(answer, 400, "InvalidArgument")


def test_a_date_within_the_window_is_accepted(stack):
    date = formatdate(time.time() - MAX_CLOCK_SKEW_S + 60, usegmt=True)
    status, _, data = invoke_raw(stack, signed("POST", INVOKE_PATH, {"date": date}), b"{}")
    assert status == 200, data
    assert json.loads(data)["function"][0] == "plain"


def test_a_content_md5_that_is_not_the_bodys_is_refused(stack):
    headers = signed("POST", INVOKE_PATH, {"content-md5": md5_b64(b'{"other": 1}')})
    message = fc_error(invoke_raw(stack, headers, b"{}"), 400, "InvalidArgument")
    assert message.startswith("Content-MD5 ") and md5_b64(b"{}") in message


def test_a_signed_request_with_its_body_swapped_is_refused(stack):
    body = b'{"action": "report"}'
    headers = signed("POST", INVOKE_PATH, {"content-md5": md5_b64(body)})
    assert invoke_raw(stack, headers, body)[0] == 200  # as signed: accepted
    fc_error(invoke_raw(stack, headers, b'{"action": "raise"}'), 400, "InvalidArgument")


def test_both_content_md5_encodings_in_use_are_accepted(stack):
    body = b'{"hello": 1}'
    node_sdk_form = base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()  # noqa: S324
    for md5 in (md5_b64(body), node_sdk_form):
        status, _, data = invoke_raw(stack, signed("POST", INVOKE_PATH, {"content-md5": md5}), body)
        assert status == 200, data
        assert base64.b64decode(json.loads(data)["event_b64"]) == body


# --- 4. hundreds of clients at once: none is reset ---------------------------------------------
def test_two_hundred_concurrent_clients_are_all_answered(stack):
    clients = 200
    barrier = threading.Barrier(clients)
    outcomes = []

    def client():
        barrier.wait(timeout=30)
        try:
            status, _, data = exchange(
                stack.port, b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            outcomes.append((status, json.loads(data)["error"]["code"]))
        except OSError as e:
            outcomes.append((type(e).__name__, str(e)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(outcomes) == {(404, "NOT_FOUND"): clients}
    assert time.monotonic() - started < 30


# --- 5. a request cannot forge a log line ------------------------------------------------------
def test_control_characters_in_a_path_are_escaped_in_the_log(stack):
    forged = "/nothing/x%0D%0AGET%20/codes%20-%3E%20query_code%20200%20%1B[31m"
    _, headers, _ = exchange(stack.port, f"GET {forged} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    (line,) = lines_with(stack, headers["X-Ca-Request-Id"])
    assert "\r" not in line and "\n" not in line and "\x1b" not in line
    assert not any(entry.startswith("GET /codes -> ") for entry in stack.lines)
    raw = b"GET /\x1b[2J\x07bell/x HTTP/1.1\r\nHost: x\r\n\r\n"  # raw bytes, not %-encoded
    _, headers, _ = exchange(stack.port, raw)
    (line,) = lines_with(stack, headers["X-Ca-Request-Id"])
    assert line.startswith("GET /\\x1b[2J\\x07bell/**** -> - 404 ")


def test_control_characters_reach_neither_the_fc_api_log_nor_a_method(stack):
    path = "/2016-08-15/services/x%0AFORGED%20LINE/functions/plain/invocations"
    answer = exchange(stack.port, f"POST {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode())
    fc_error(answer, 400, "MissingRequiredHeader")
    (line,) = lines_with(stack, answer[1]["X-Fc-Request-Id"])
    assert "x\\nFORGED LINE" in line and "\n" not in line
    answer = exchange(stack.port, b"G\x1bT /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    gateway_error(answer, 501, "NOT_IMPLEMENTED")
    (line,) = lines_with(stack, answer[1]["X-Ca-Request-Id"])
    assert line.startswith("G\\x1bT /nothing -> - 501 ")


def test_loggable_escapes_what_could_end_or_fake_a_line():
    assert loggable("/codes/ABC") == "/codes/ABC"
    assert loggable("a\r\nb\x1b\u2028\\") == "a\\r\\nb\\x1b\\u2028\\\\"
    assert loggable("x" * 300 + "\n", 256) == "x" * 256 + "...[+45 chars]"


# --- 6. a client that goes away early is one log line ------------------------------------------
def test_a_client_that_resets_mid_call_is_one_line_without_a_traceback(stack):
    sock = socket.create_connection(("127.0.0.1", stack.port))
    port = sock.getsockname()[1]
    sock.sendall(b"GET /things/special?action=sleep&seconds=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, not a polite close
    (line,) = lines_with(stack, f":{port} disconnected")
    assert line == f"client 127.0.0.1:{port} disconnected early (ConnectionResetError)" or (
        line.startswith(f"client 127.0.0.1:{port} disconnected early (")
    )
    assert not [entry for entry in stack.lines if "Traceback" in entry]


def test_a_client_that_closes_before_its_body_is_complete_is_one_line(stack):
    sock = socket.create_connection(("127.0.0.1", stack.port))
    port = sock.getsockname()[1]
    sock.sendall(b"POST /things/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    sock.close()
    found = lines_with(stack, f":{port} disconnected")
    assert found == [f"client 127.0.0.1:{port} disconnected before its request was complete"]
    assert not [entry for entry in stack.lines if "Traceback" in entry]


# --- 8. every answer is the documented JSON shape ----------------------------------------------
@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (f"GET /{'x' * MAX_REQUEST_LINE} HTTP/1.1\r\n\r\n".encode(), 414, "URI_TOO_LONG"),
        (
            b"GET /nothing HTTP/1.1\r\nX-Big: " + b"y" * 70000 + b"\r\n\r\n",
            431,
            "HEADERS_TOO_LARGE",
        ),
        (
            b"GET /nothing HTTP/1.1\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(101))
            + b"\r\n",
            431,
            "HEADERS_TOO_LARGE",
        ),
        (
            b"GET /nothing HTTP/1.1\r\n"
            + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 4000) for i in range(20))
            + b"\r\n",
            431,
            "HEADERS_TOO_LARGE",
        ),
        (b"BR\x01EW /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 501, "NOT_IMPLEMENTED"),
        (b"GET /nothing HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
        (b"GET /nothing\r\n", 505, "HTTP_VERSION_NOT_SUPPORTED"),
        (b"GET /nothing HTTP/1.1 extra\r\n\r\n", 400, "INVALID_REQUEST"),
        (b"GET /nothing HTTP/x.y\r\n\r\n", 400, "INVALID_REQUEST"),
        (b"POST /things/x HTTP/1.1\r\nContent-Length: ten\r\n\r\n", 400, "INVALID_REQUEST"),
        (
            b"POST /things/x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            b"POST /things/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "INVALID_REQUEST",
        ),
    ],
    ids=[
        "long-path",
        "long-header",
        "many-headers",
        "big-headers",
        "garbage-method",
        "http2",
        "http09",
        "bad-syntax",
        "bad-version",
        "bad-length",
        "huge-length",
        "bad-chunk",
    ],
)
def test_the_gateway_answers_malformed_requests_in_its_json_shape(
    stack, request_bytes, status, code
):
    answer = exchange(stack.port, request_bytes)
    gateway_error(answer, status, code)
    assert answer[1]["X-Ca-Error-Message"]
    assert answer[1]["Connection"] == "close"


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (
            f"POST {INVOKE_PATH}{'x' * MAX_REQUEST_LINE} HTTP/1.1\r\n\r\n".encode(),
            400,
            "InvalidArgument",
        ),
        (f"BREW {INVOKE_PATH} HTTP/1.1\r\n\r\n".encode(), 400, "PathNotSupported"),
        (f"POST {INVOKE_PATH} HTTP/2.0\r\n\r\n".encode(), 400, "InvalidArgument"),
        (
            f"POST {INVOKE_PATH} HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n".encode(),
            400,
            "EntityTooLarge",
        ),
    ],
    ids=["long-path", "unknown-method", "http2", "huge-length"],
)
def test_the_fc_api_answers_malformed_requests_in_its_json_shape(
    stack, request_bytes, status, code
):
    fc_error(exchange(stack.port, request_bytes), status, code)


def test_a_registered_method_no_route_uses_is_refused_by_the_api_of_its_path(stack):
    for method in ("TRACE", "QUERY"):
        answer = exchange(stack.port, f"{method} /things/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        gateway_error(answer, 405, "METHOD_NOT_ALLOWED")
        assert answer[1]["Allow"] == "GET, POST"
        answer = exchange(stack.port, f"{method} {INVOKE_PATH} HTTP/1.1\r\n\r\n".encode())
        message = fc_error(answer, 400, "PathNotSupported")
        assert message == f"'{method}' against '{INVOKE_PATH}' is not supported"


def test_a_method_outside_the_registry_is_refused_by_the_listener(stack):
    for method in ("BREW", "get"):
        answer = exchange(stack.port, f"{method} /things/x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        gateway_error(answer, 501, "NOT_IMPLEMENTED")


def test_header_limits_leave_room_for_real_requests(stack):
    headers = "".join(f"X-H{i}: {'v' * 500}\r\n" for i in range(60))  # ~30 KB of headers
    assert len(headers) < MAX_HEADER_BYTES
    answer = exchange(stack.port, f"GET /nothing HTTP/1.1\r\n{headers}\r\n".encode())
    gateway_error(answer, 404, "NOT_FOUND")


# --- 7. idle and slow clients, and a bound on connections --------------------------------------
@pytest.fixture
def small_server():
    """A bare listener with small limits, answering every request with a 200."""
    servers = []

    def start(answer=lambda request: json_response(200, {"ok": True}), **limits):
        logged = []
        server = LocalServer(("127.0.0.1", 0), answer, answer, dict, logged.append, **limits)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        server.logged = logged
        server.port = server.server_address[1]
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


def wait_for(fact, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not fact():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_an_idle_connection_is_closed_after_the_idle_timeout(small_server):
    server = small_server(idle_timeout=0.2, request_timeout=5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, nothing said
        assert 0.15 < time.monotonic() - started < 3
    wait_for(lambda: server.active == 0 and not server.deadlines)


def test_a_request_that_does_not_arrive_whole_in_time_is_a_408(small_server):
    server = small_server(idle_timeout=5, request_timeout=0.2)
    for partial in (
        b"GET /x HTTP/1.1\r\nHost: x\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\n{",
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(partial)
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            body = json.loads(resp.read())
            assert (resp.status, body["error"]["code"]) == (408, "REQUEST_TIMEOUT")
    # A keep-alive connection between requests is idle, not late: it gets the idle timeout.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            assert resp.status == 200 and json.loads(resp.read()) == {"ok": True}
            time.sleep(0.15)  # less than the idle timeout, more than the request timeout / 2


def test_a_client_dribbling_its_request_byte_by_byte_still_meets_the_deadline(small_server):
    """The deadline is for the whole request, not for each read: a byte every 50 ms (slowloris)
    does not keep the connection, and its thread, for longer than the request timeout."""
    server = small_server(idle_timeout=5, request_timeout=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        answered = b""
        for byte in b"GET /x HTTP/1.1\r\nX-Slow: " + b"z" * 200:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # the server closed the connection
            ready, _, _ = select.select([sock], [], [], 0.05)
            if ready:
                answered = sock.recv(4096)
                break
        assert answered.startswith(b"HTTP/1.1 408 "), answered
        assert time.monotonic() - started < 2
    wait_for(lambda: server.active == 0)


def test_connections_over_the_limit_get_a_503_and_threads_stay_bounded(small_server):
    server = small_server(max_connections=20, idle_timeout=30, request_timeout=30)
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(200)]
    try:
        # 180 are refused at once (readable: a 503, then end of file); 20 are held, each by a
        # thread of its own, and say nothing.
        refused, deadline = set(), time.monotonic() + 20
        while len(refused) < 180 and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in idle if s not in refused], [], [], 0.1)
            refused.update(ready)
        assert len(refused) == 180
        for sock in refused:
            assert sock.recv(4096).startswith(b"HTTP/1.1 503 ")
        wait_for(lambda: server.active == 20)
        assert threading.active_count() - threads_before <= 20
        answer = exchange(server.port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        message = gateway_error(answer, 503, "TOO_MANY_CONNECTIONS")
        assert "at most 20 connections" in message
        assert answer[1]["Retry-After"] == "1"

        def refusals_logged():
            counts = [re.match(r"refused (\d+) connection", line) for line in server.logged]
            return sum(int(m.group(1)) for m in counts if m)

        wait_for(lambda: refusals_logged() == 181)  # a few lines: at most one a second
        assert len(server.logged) <= 4
    finally:
        for sock in idle:
            sock.close()
    wait_for(lambda: server.active == 0 and not server.deadlines)
    assert exchange(server.port, b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200


def test_stopping_the_listener_ends_idle_connections_at_once(small_server):
    server = small_server(idle_timeout=30)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    wait_for(lambda: server.active == 1)
    started = time.monotonic()
    server.shutdown()
    server.server_close()  # joins the connection threads
    assert time.monotonic() - started < 2
    assert sock.recv(1) == b""
    sock.close()


def test_a_failure_of_the_stack_is_answered_in_the_shape_of_the_api_called(small_server):
    def broken(request):
        if "stopping" in request.path:
            raise Stopped("the local stack is stopping")
        raise KeyError("secret detail")

    server = small_server(broken)
    for path, status, code in [("/x", 500, "INTERNAL"), ("/stopping", 503, "STOPPING")]:
        answer = exchange(server.port, f"GET {path} HTTP/1.1\r\n\r\n".encode())
        assert "secret" not in gateway_error(answer, status, code)
    for path, status, code in [
        (INVOKE_PATH, 500, "InternalServerError"),
        (INVOKE_PATH + "/stopping", 503, "ServiceUnavailable"),
    ]:
        answer = exchange(server.port, f"POST {path} HTTP/1.1\r\n\r\n".encode())
        assert "secret" not in fc_error(answer, status, code)
    assert len([line for line in server.logged if "KeyError: 'secret detail'" in line]) == 2


def test_the_fc3_api_escapes_its_log_and_the_listener_answers_in_its_shape(small_server):
    logged = []
    fc3 = FC3Api(
        {"fc-codes-gen_code": "gen_code"},
        lambda function, payload, request_id: None,  # never reached: nothing here is signed
        LOCAL_ACCESS_KEY_ID,
        LOCAL_ACCESS_KEY_SECRET,
        lambda line, invocation: logged.append(line),
    )
    server = small_server(fc3_api=fc3.handle)
    path = "/2023-03-30/functions/x%0AFORGED%20LINE/invocations"
    status, _, data = exchange(server.port, f"POST {path} HTTP/1.1\r\n\r\n".encode())
    assert (status, json.loads(data)["Code"]) == (403, "SignatureNotMatch")
    assert logged == ["FC 3.0 API POST /2023-03-30/functions/x\\nFORGED LINE/invocations -> - 403"]
    status, headers, data = exchange(server.port, f"POST {path} HTTP/2.0\r\n\r\n".encode())
    body = json.loads(data)
    assert (status, set(body), body["Code"]) == (
        400,
        {"Code", "Message", "RequestId"},
        "InvalidArgument",
    )
    assert body["RequestId"] == headers["X-Fc-Request-Id"]


# --- 10b. the FC 3.0 API checks the x-acs-date window and refuses a replayed nonce -------------
FC3_PATH = "/2023-03-30/functions/fc-codes-probe/invocations"


@pytest.fixture
def fc3(small_server):
    """The FC 3.0 API on a bare listener; its one function answers the payload it was given."""
    invoked = []

    def invoke(function, payload, request_id):
        invoked.append(payload)
        return Invocation(function, request_id, payload)

    api = FC3Api({"fc-codes-probe": "probe"}, invoke, LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET)
    server = small_server(fc3_api=api.handle)
    server.invoked = invoked
    return server


def fc3_call(server, body, secret=LOCAL_ACCESS_KEY_SECRET, sent=None, **signing):
    """Sign with tools/fc3_client (the smoke test's signer); send `sent` (default: `body`)."""
    headers = fc3_client.sign(
        "POST", f"127.0.0.1:{server.port}", FC3_PATH, body, "InvokeFunction",
        LOCAL_ACCESS_KEY_ID, secret, **signing,
    )  # fmt: skip
    sent = body if sent is None else sent
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    data = f"POST {FC3_PATH} HTTP/1.1\r\n{head}Content-Length: {len(sent)}\r\n\r\n"
    status, answer_headers, answer = exchange(server.port, data.encode() + sent)
    if status == 200:
        return status, None, answer
    payload = json.loads(answer)
    assert set(payload) == {"Code", "Message", "RequestId"}
    assert payload["RequestId"] == answer_headers["X-Fc-Request-Id"]
    return status, payload["Code"], payload["Message"]


@pytest.mark.parametrize("when", ["2001", "2100", "16 minutes ago", "in 16 minutes"])
def test_an_fc3_request_dated_outside_15_minutes_is_refused(fc3, when):
    now = {
        "2001": 978307200.0,  # 2001-01-01T00:00:00Z
        "2100": 4102444800.0,  # 2100-01-01T00:00:00Z
        "16 minutes ago": time.time() - 16 * 60,
        "in 16 minutes": time.time() + 16 * 60,
    }[when]
    status, code, message = fc3_call(fc3, b"{}", now=now)
    assert (status, code) == (400, "InvalidTimeStamp.Expired")
    assert message.startswith("Specified time stamp or date value is expired")
    assert fc3.invoked == []


@pytest.mark.parametrize(
    "date",
    [
        "not a date",
        "Mon, 01 Jan 2001 00:00:00 GMT",  # FC 2.0's format, not V3's
        "2026-11-30T10:00:00.123Z",  # fractions of a second
        "2026-11-30T10:00:00+08:00",  # not UTC
        "2026-13-01T00:00:00Z",
    ],
)
def test_an_fc3_date_that_is_not_iso_8601_utc_is_a_format_error(fc3, date):
    status, code, message = fc3_call(fc3, b"{}", date=date)
    assert (status, code) == (400, "InvalidTimeStamp.Format")
    assert repr(date) in message
    assert fc3.invoked == []


def test_an_fc3_request_within_the_window_is_served(fc3):
    for offset in (-14 * 60, 14 * 60):
        status, _, answer = fc3_call(fc3, b'{"n": 1}', now=time.time() + offset)
        assert (status, answer) == (200, b'{"n": 1}')
    assert len(fc3.invoked) == 2


def test_a_replayed_fc3_request_is_refused_even_within_the_window(fc3):
    nonce = "6f1c2a9e0d4b4e5f8a7b3c2d1e0f9a8b"
    assert fc3_call(fc3, b'{"n": 1}', nonce=nonce)[0] == 200
    status, code, message = fc3_call(fc3, b'{"n": 1}', nonce=nonce)
    assert (status, code) == (400, "SignatureNonceUsed")
    assert message.startswith("Specified signature nonce was used already")
    # Signed anew over another body, the nonce is still spent.
    assert fc3_call(fc3, b'{"n": 2}', nonce=nonce)[:2] == (400, "SignatureNonceUsed")
    assert fc3.invoked == [b'{"n": 1}']
    assert fc3_call(fc3, b'{"n": 1}')[0] == 200  # a fresh nonce: served


def test_a_forged_fc3_request_does_not_spend_the_nonce_it_carries(fc3):
    nonce = "0123456789abcdef0123456789abcdef"
    forged = fc3_call(fc3, b"{}", secret="not-the-secret", nonce=nonce)
    assert forged[:2] == (403, "SignatureNotMatch")
    assert fc3_call(fc3, b"{}", nonce=nonce)[0] == 200


def test_a_signed_fc3_request_with_its_body_swapped_is_refused(fc3):
    status, code, _ = fc3_call(fc3, b'{"action": "report"}', sent=b'{"action": "raise"}')
    assert (status, code) == (400, "ContentSha256Mismatch")
    assert fc3.invoked == []


def test_nonces_are_kept_for_their_window_and_within_a_bound():
    nonces = Nonces(limit=3)
    signed_at = 1_000_000.0
    assert nonces.first_use("key", "a", signed_at, signed_at)
    assert not nonces.first_use("key", "a", signed_at, signed_at + 15 * 60 - 1)
    assert nonces.first_use("other-key", "a", signed_at, signed_at)  # per access key
    # Once its request's date is out of the window, a nonce is forgotten (the date refuses it).
    assert nonces.first_use("key", "a", signed_at, signed_at + 15 * 60 + 1)
    for nonce in "bcd":  # over the bound: the oldest go first
        assert nonces.first_use("key", nonce, signed_at + 60, signed_at + 60)
    assert len(nonces) == 3


# --- 11. what the stack writes under .local/ is the user's alone --------------------------------
def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_under_the_data_directory_are_private(stack, tmp_path):
    data_dir = stack.config.data_dir
    assert mode(data_dir) == 0o700
    assert mode(data_dir / "run.json") == 0o600
    assert mode(data_dir / "ots.lock") == 0o600
    fresh = DataDir(tmp_path / "fresh")
    key = fresh.app_key()
    assert mode(fresh.path / "app-key") == 0o600 and key.startswith("local-")
    old = DataDir(tmp_path / "old").ensure()
    (old.path / "app-key").write_text("local-old\n")
    os.chmod(old.path / "app-key", 0o644)
    assert old.app_key() == "local-old"
    assert mode(old.path / "app-key") == 0o600
