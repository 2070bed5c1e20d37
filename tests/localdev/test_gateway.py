"""The local API Gateway and FC invoke API over real HTTP, in front of the probe function.

The stack runs in-process here (the same `Stack` that `python -m localdev run` starts), over the
probe template of tests/localdev/helpers.py, so the event shapes, the routing and the error
answers are checked exactly; tests/localdev/test_stack.py drives the product's own functions
through a `make run`-style subprocess.
"""

import base64
import json
import threading
import time
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import fc2
import pytest

from localdev.instances import Stopped
from localdev.server import LocalServer
from localdev.store import LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET
from tests.localdev.helpers import start_probe_stack

APP_KEY = "probe-app-key"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_probe_stack(tmp_path_factory.mktemp("gateway"), APP_KEY)
    yield running
    running.stop()


def call(stack, method, path, body=None, headers=None):
    req = Request(stack.url + path, data=body, method=method)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except HTTPError as e:
        return e.code, e.headers, e.read()


def error_of(status_headers_body):
    status, headers, data = status_headers_body
    body = json.loads(data)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["request_id"] == headers["X-Ca-Request-Id"]
    assert headers["Content-Type"].startswith("application/json")
    return status, body["error"]["code"], body["error"]["message"]


def test_a_get_becomes_the_api_gateway_event_and_the_envelope_the_response(stack):
    status, headers, data = call(
        stack, "GET", "/things/a%20b?x=1&x=2&empty=", headers={"X-Custom": "kept"}
    )
    assert status == 200
    assert headers["X-Probe"] == "yes"
    info = json.loads(data)
    assert info["function"][0] == "plain"
    assert info["event_type"] == "bytes"
    event = info["event"]
    assert event["path"] == "/things/a b"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"name": "a b"}
    assert event["queryParameters"] == {"x": "1", "empty": ""}
    assert event["headers"]["X-Custom"] == "kept"
    # One request id: the response header, the event's header and the function's context.
    assert event["headers"]["X-Ca-Request-Id"] == headers["X-Ca-Request-Id"] == info["request_id"]
    assert (event["body"], event["isBase64Encoded"]) == ("", False)
    assert set(event) == {
        "path",
        "httpMethod",
        "headers",
        "queryParameters",
        "pathParameters",
        "body",
        "isBase64Encoded",
    }


def test_a_body_arrives_base64_encoded_as_api_gateway_sends_it(stack):
    raw = b'{"count": 3, "note": "\xe2\x9c\x93"}'
    status, _, data = call(
        stack,
        "POST",
        "/things/x",
        body=raw,
        headers={"X-Ca-Key": APP_KEY, "Content-Type": "application/json"},
    )
    assert status == 200
    event = json.loads(data)["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_an_app_route_needs_the_local_app_key(stack):
    assert error_of(call(stack, "POST", "/things/x", body=b"{}"))[:2] == (401, "UNAUTHORIZED")
    wrong = call(stack, "POST", "/things/x", body=b"{}", headers={"X-Ca-Key": "nope"})
    status, code, message = error_of(wrong)
    assert (status, code) == (401, "UNAUTHORIZED")
    assert APP_KEY not in message
    assert wrong[1]["X-Ca-Error-Message"] == "Invalid AppKey"


def test_a_literal_segment_wins_over_a_parameter(stack):
    status, _, data = call(stack, "GET", "/things/special")
    assert status == 200
    assert json.loads(data)["function"][0] == "probe"


def test_unknown_paths_are_json_404_and_wrong_methods_json_405(stack):
    assert error_of(call(stack, "GET", "/nothing/here"))[:2] == (404, "NOT_FOUND")
    assert error_of(call(stack, "GET", "/things"))[:2] == (404, "NOT_FOUND")
    answer = call(stack, "DELETE", "/things/x")
    assert error_of(answer)[:2] == (405, "METHOD_NOT_ALLOWED")
    assert answer[1]["Allow"] == "GET, POST"


def test_the_functions_status_passes_through(stack):
    status, _, _ = call(stack, "GET", "/things/x?status=418")
    assert status == 418


def test_a_failing_function_is_a_502_that_leaks_nothing(stack):
    status, code, message = error_of(call(stack, "GET", "/things/special?action=raise"))
    assert (status, code) == (502, "BAD_GATEWAY")
    assert "boom" not in message and "Traceback" not in message
    status, code, message = error_of(call(stack, "GET", "/things/special?action=bad-envelope"))
    assert (status, code) == (502, "BAD_GATEWAY")
    assert "invalid API Gateway response" in message


def test_a_function_past_its_timeout_is_a_504(stack):
    status, code, _ = error_of(call(stack, "GET", "/things/special?action=sleep&seconds=3"))
    assert (status, code) == (504, "GATEWAY_TIMEOUT")


def test_one_log_line_per_request(stack):
    _, headers, _ = call(stack, "GET", "/nothing/logged")
    request_id = headers["X-Ca-Request-Id"]
    mine = [line for line in stack.lines if request_id in line]
    assert mine == [f"GET /nothing/l****d -> - 404 {mine[0].split(' 404 ')[1]}"]
    assert mine[0].endswith(f"[{request_id}]")


def test_path_parameters_are_masked_in_the_log(stack):
    """Path parameters may be secrets (fc-codes' codes are): the log shows a quarter each end."""
    _, headers, _ = call(stack, "GET", "/things/ABCD1234EFGH5678")
    request_id = headers["X-Ca-Request-Id"]
    mine = [line for line in stack.lines if request_id in line]
    assert mine[0].startswith("GET /things/ABCD****5678 -> ")
    assert "ABCD1234EFGH5678" not in "\n".join(stack.lines)


# --- the FC invoke API, through the real aliyun-fc2 client -------------------------------------
def client(stack, key_id=LOCAL_ACCESS_KEY_ID, secret=LOCAL_ACCESS_KEY_SECRET, token=""):
    return fc2.Client(
        endpoint=stack.url,
        accessKeyID=key_id,
        accessKeySecret=secret,
        securityToken=token,
        Timeout=30,
    )


def fc_error(call_it):
    with pytest.raises(fc2.FcError) as caught:
        call_it()
    e = caught.value
    return e.status_code, json.loads(e.message)


def test_invoke_function_passes_the_payload_and_returns_the_result(stack):
    resp = client(stack, token="sts").invoke_function(
        "probe-svc", "plain", payload=b'{"hello": 1}', headers={"x-fc-log-type": "Tail"}
    )
    info = json.loads(resp.data)
    assert base64.b64decode(info["event_b64"]) == b'{"hello": 1}'
    assert resp.headers["X-Fc-Request-Id"] == info["request_id"]
    assert "probe stdout" in base64.b64decode(resp.headers["X-Fc-Log-Result"]).decode()
    assert float(resp.headers["X-Fc-Max-Memory-Usage"]) > 1
    qualified = client(stack).invoke_function("probe-svc.LATEST", "plain", payload=b"{}")
    assert json.loads(qualified.data)["function"][0] == "plain"


def test_a_function_error_is_a_200_with_x_fc_error_type(stack):
    status, body = fc_error(
        lambda: client(stack).invoke_function("probe-svc", "plain", payload=b'{"action":"raise"}')
    )
    assert status == 200
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "boom on purpose")


@pytest.mark.parametrize(
    ("service", "function", "status", "code", "message"),
    [
        ("nope", "plain", 404, "ServiceNotFound", "service 'nope' does not exist"),
        ("probe-svc", "nope", 404, "FunctionNotFound", "function 'nope' does not exist"),
        (
            "probe-svc.prod",
            "plain",
            404,
            "AliasNotFound",
            "alias 'prod' of service 'probe-svc' does not exist",
        ),
        (
            "probe-svc.3",
            "plain",
            404,
            "VersionNotFound",
            "version '3' of service 'probe-svc' does not exist",
        ),
    ],
)
def test_unknown_services_and_functions_get_fcs_errors(
    stack, service, function, status, code, message
):
    got = fc_error(lambda: client(stack).invoke_function(service, function, payload=b"{}"))
    assert got[0] == status
    assert (got[1]["ErrorCode"], got[1]["ErrorMessage"]) == (code, message)


def test_requests_are_signature_checked(stack):
    status, body = fc_error(
        lambda: client(stack, secret="wrong").invoke_function("probe-svc", "plain", payload=b"{}")
    )
    assert (status, body["ErrorCode"]) == (403, "SignatureNotMatch")
    status, body = fc_error(
        lambda: client(stack, key_id="other").invoke_function("probe-svc", "plain", payload=b"{}")
    )
    assert (status, body["ErrorCode"], body["ErrorMessage"]) == (
        403,
        "InvalidAccessKeyID",
        "invalid access key ID 'other'",
    )
    path = "/2016-08-15/services/probe-svc/functions/plain/invocations"
    status, _, data = call(stack, "POST", path, body=b"{}")
    assert status == 400
    assert json.loads(data)["ErrorCode"] == "MissingRequiredHeader"


def test_other_fc_api_paths_are_not_supported(stack):
    fc = client(stack)
    path = "/2016-08-15/services/probe-svc"
    headers = fc._build_common_headers("GET", path, {})
    status, _, data = call(stack, "GET", path, headers=headers)
    assert (status, json.loads(data)["ErrorCode"]) == (400, "PathNotSupported")


def test_an_async_invocation_is_accepted_then_runs(stack):
    resp = client(stack).invoke_function(
        "probe-svc", "plain", payload=b"{}", headers={"x-fc-invocation-type": "Async"}
    )
    request_id = resp.headers["X-Fc-Request-Id"]
    assert resp.data == b""
    deadline = time.monotonic() + 10
    while not any(f"async plain done (attempt 1/4) [{request_id}]" in line for line in stack.lines):
        assert time.monotonic() < deadline, "the async call never ran"
        time.sleep(0.05)


def test_health_lists_the_live_instances(stack):
    call(stack, "GET", "/things/x")
    status, _, data = call(stack, "GET", "/__localdev/health")
    assert status == 200
    health = json.loads(data)
    assert health["status"] == "ok"
    assert health["functions"]["plain"]["instances"]


def test_a_failure_of_the_stack_itself_is_a_json_error_not_a_traceback():
    def broken(request):
        if request.path == "/stopping":
            raise Stopped("the local stack is stopping")
        raise KeyError("secret detail")

    logged = []
    server = LocalServer(("127.0.0.1", 0), broken, broken, dict, logged.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        local = type("S", (), {"url": server.url})
        status, _, data = call(local, "GET", "/anything")
        assert status == 500
        assert json.loads(data)["error"]["code"] == "INTERNAL"
        assert b"secret detail" not in data
        assert "KeyError: 'secret detail'" in logged[0]
        status, _, data = call(local, "GET", "/stopping")
        assert (status, json.loads(data)["error"]["code"]) == (503, "STOPPING")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
