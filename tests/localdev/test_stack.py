"""`make run` end to end: the product's functions behind the local stack, over real HTTP.

One stack per module, started as `make run` starts it (`python -m localdev run`, a subprocess,
free ports), on a copy of template.yml that declares one extra route: the new route is served
with no code change. Then the walk of a code through its life over the API Gateway routes, the
gateway's own answers, and the same walk through the FC invoke API with the real `aliyun-fc2`
client (tools/smoke.py, unchanged).
"""

import io
import json
import re
import time
from contextlib import redirect_stdout

import pytest

from tests.localdev.helpers import copy_template
from tests.support import localdev_stack
from tools import smoke

APP_KEY = "stack-test-app-key"
ADMIN = {"X-Ca-Key": APP_KEY, "Content-Type": "application/json"}
PUBLIC = {"Content-Type": "application/json"}
# Added to the temporary template only: a second way to check a code.
EXTRA_ROUTE = {
    "/v2/codes/[code]": {
        "get": {
            "x-aliyun-apigateway-api-name": "query_code_v2",
            "x-aliyun-apigateway-auth-type": "ANONYMOUS",
            "x-aliyun-apigateway-fc": {
                "arn": "acs:fc:::services/${fc-codes.Arn}/functions/${query_code.Arn}/",
                "timeout": 10000,
            },
        }
    }
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("stack")
    template = copy_template(base, EXTRA_ROUTE)
    running = localdev_stack.start(template, base / "data", app_key=APP_KEY)
    yield running
    assert running.stop() == 0, "\n".join(running.output)


def wait_for_lines(stack, text, count, timeout=10):
    """The stack's output lines containing `text`, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in list(stack.output) if text in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def answer(resp, status):
    body = resp.json()
    assert resp.status == status, body
    return body


def error(resp, status, code):
    body = answer(resp, status)
    assert body["error"]["code"] == code, body
    assert body["error"]["request_id"] == resp.headers["X-Ca-Request-Id"]
    return body["error"]


def test_a_code_through_its_whole_life(stack):
    generated = answer(
        stack.request("POST", "/codes", json.dumps({"count": 3, "batch": "e2e"}), ADMIN), 201
    )
    assert generated["batch"] == "e2e"
    assert len(generated["codes"]) == 3
    code = generated["codes"][0]

    info = answer(stack.request("GET", f"/codes/{code}"), 200)
    assert (info["code"], info["status"], info["uses"]) == (code, "UNUSED", 0)

    redeem = json.dumps({"user_id": "player-1"})
    used = answer(stack.request("POST", f"/codes/{code}/redeem", redeem, PUBLIC), 200)
    assert (used["status"], used["replay"]) == ("USED", False)

    again = json.dumps({"user_id": "player-2"})
    error(stack.request("POST", f"/codes/{code}/redeem", again, PUBLIC), 409, "CODE_ALREADY_USED")

    deleted = answer(stack.request("DELETE", f"/codes/{code}", headers={"X-Ca-Key": APP_KEY}), 200)
    assert deleted == {"code": code, "deleted": True}

    error(stack.request("GET", f"/codes/{code}"), 404, "CODE_NOT_FOUND")


def test_a_csv_file_imported_then_its_codes_redeemed_as_written(stack):
    csv_file = "code\nGIFT-card 0001\nGIFT-card 0002\nGIFT-card 0001\n"
    headers = {"X-Ca-Key": APP_KEY, "Content-Type": "text/csv"}
    path = "/batches/cards%202026/import?valid_until=2099-01-01T00:00:00Z&max_uses=2"
    report = answer(stack.request("POST", path, csv_file, headers), 200)
    assert (report["batch"], report["stored"], report["repeated"]) == ("cards 2026", 2, 1)
    assert report["max_uses"] == 2
    redeem = json.dumps({"user_id": "player-9"})
    used = answer(stack.request("POST", "/codes/GIFT-card%200002/redeem", redeem, PUBLIC), 200)
    assert (used["code"], used["uses"], used["max_uses"]) == ("GIFT-card 0002", 1, 2)
    info = answer(stack.request("GET", "/codes/GIFT-card%200001"), 200)
    assert (info["batch"], info["status"]) == ("cards 2026", "UNUSED")
    error(stack.request("GET", "/codes/gift-card%200001"), 400, "INVALID_CODE")
    bad = answer(stack.request("POST", "/batches/x/import", "A\n\nB\n", headers), 400)
    assert bad["error"]["message"] == "line 2: is empty; one code per line"


def test_a_route_added_to_the_template_is_served_without_code_changes(stack):
    code = answer(stack.request("POST", "/codes", '{"count": 1}', ADMIN), 201)["codes"][0]
    info = answer(stack.request("GET", f"/v2/codes/{code}"), 200)
    assert (info["code"], info["status"]) == (code, "UNUSED")
    # The copy's own routes still need what they needed.
    assert stack.request("POST", "/v2/codes/" + code).status == 405


def test_admin_routes_need_the_app_key(stack):
    error(stack.request("POST", "/codes", '{"count": 1}', PUBLIC), 401, "UNAUTHORIZED")
    wrong = {"X-Ca-Key": "not-the-key"}
    error(stack.request("DELETE", "/codes/ABCD-EFGH-JKMN-PQRS", headers=wrong), 401, "UNAUTHORIZED")


def test_unknown_paths_and_wrong_methods(stack):
    error(stack.request("GET", "/nothing"), 404, "NOT_FOUND")
    resp = stack.request("PUT", "/codes/ABCD-EFGH-JKMN-PQRS")
    error(resp, 405, "METHOD_NOT_ALLOWED")
    assert resp.headers["Allow"] == "DELETE, GET"


def test_a_body_that_is_not_json_gets_the_documented_400(stack):
    resp = stack.request("POST", "/codes", "count=3", ADMIN)
    err = error(resp, 400, "INVALID_REQUEST")
    assert "JSON" in err["message"]


def test_the_smoke_tool_passes_against_the_local_fc_api_unchanged(stack):
    env = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": localdev_stack.LOCAL_ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": localdev_stack.LOCAL_ACCESS_KEY_SECRET,
        "FC_ENDPOINT": stack.url,
    }
    out = io.StringIO()
    with redirect_stdout(out):
        status = smoke.main([], env=env)
    lines = out.getvalue().splitlines()
    assert status == 0, lines
    assert [line.split(":")[0] for line in lines[1:-1]] == [
        "ok   generate",
        "ok   query",
        "ok   redeem",
        "ok   redeem again",
        "ok   batch figures",
        "ok   disable batch",
        "ok   rollback",
        "ok   delete",
        "ok   query deleted",
        "ok   cleanup",
    ]
    assert lines[-1] == "smoke: passed"


def test_the_stack_logs_one_line_per_request_with_the_functions_own_line(stack):
    resp = stack.request("GET", "/codes/ABCD")
    request_id = resp.headers["X-Ca-Request-Id"]
    mine = wait_for_lines(stack, request_id, 2)
    assert mine[0].startswith("GET /codes/A****D -> query_code 400 ")  # the code is masked
    # The function's structured line follows, indented, with the same request id.
    assert len(mine) == 2 and mine[1].startswith("  | ") and '"outcome":"INVALID_CODE"' in mine[1]


def test_a_413_names_the_size_of_what_was_too_large(stack):
    # Over API Gateway's 8 MB: the gateway refuses it and names the body's size.
    body = b"x" * (8 * 1024 * 1024 + 1)
    err = error(stack.request("POST", "/codes", body, ADMIN), 413, "PAYLOAD_TOO_LARGE")
    assert err["message"] == f"request body of {len(body)} bytes is over API Gateway's 8 MB"
    # Under it, but base64 in the event makes the event over the function's 8 MB: the function
    # names the event's size, not the body's.
    body = b"x" * (7 * 1024 * 1024)
    err = error(stack.request("POST", "/codes", body, ADMIN), 413, "PAYLOAD_TOO_LARGE")
    size, limit = re.fullmatch(
        r"event is (\d+) bytes; the limit is (\d+) bytes", err["message"]
    ).groups()
    assert int(size) > len(body) * 4 // 3 and int(limit) == 8 * 1024 * 1024
