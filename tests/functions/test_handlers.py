"""The four real handlers with recorded FC events, against the local Tablestore server.

Each test asserts the status, the exact body and the resulting rows.
"""

import json
import logging

import pytest

import del_code
import gen_code
import query_code
import use_code
from fccodes import app, schema
from fccodes.settings import Credentials, credentials_from

from .helpers import (
    EVENT_BODY,
    EVENT_CODE,
    Attributes,
    Clock,
    FCContext,
    ScriptedRandom,
    load_event,
    load_event_json,
)

EVENT_KEY = EVENT_CODE.replace("-", "")
T0 = 1796054400000  # 2026-12-01T00:00:00+08:00
T0_TEXT = "2026-12-01T00:00:00+08:00"
JAN_2027 = 1798732800000  # 2027-01-01T00:00:00+08:00
BODIES = ("R8ZP1VC6JGA5E0Y", "HX2B9M4QK7TD3SW", "M5N7P9R1T3V5X7Z")


def call(module, event, context):
    """Invoke a handler; returns (status, body, headers) for every event shape."""
    if not isinstance(event, bytes):
        event = json.dumps(event).encode("utf-8")
    result = module.handler(event, context)
    assert isinstance(result, str)
    parsed = json.loads(result)
    if isinstance(parsed, dict) and "statusCode" in parsed:
        assert parsed["isBase64Encoded"] is False
        assert parsed["headers"]["Content-Type"] == "application/json; charset=utf-8"
        return parsed["statusCode"], json.loads(parsed["body"]), parsed["headers"]
    return None, parsed, None


def make_event_code(wiring, clock, **fields):
    """Store the code the recorded events name (EVENT_CODE), through the real generate."""
    wiring.install(clock=clock, random_bytes=ScriptedRandom(EVENT_BODY))
    params = {"count": 1}
    params.update(fields)
    _status, body, _ = call(gen_code, params, wiring.context)
    assert body["codes"] == [EVENT_CODE], body


# --- generate -------------------------------------------------------------------------------
def test_generate_through_api_gateway(wiring, rows):
    wiring.install(clock=Clock(T0 - 1000), random_bytes=ScriptedRandom(*BODIES))
    status, body, _ = call(gen_code, load_event("apigw_gen_code.json"), wiring.context)
    assert status == 201
    assert body == {
        "batch": "launch-beta",
        "count": 3,
        "codes": [
            "BETA-R8ZP-1VC6-JGA5-E0YF",
            "BETA-HX2B-9M4Q-K7TD-3SWE",
            "BETA-M5N7-P9R1-T3V5-X7ZA",
        ],
        "prefix": "BETA",
        "valid_from": T0_TEXT,
        "valid_until": "2027-01-01T00:00:00+08:00",
        "max_uses": 1,
        "created_at": "2026-11-30T23:59:59+08:00",
        "metadata": None,
        "customer": None,
        "per_user_limit": None,
        "replay": False,
    }
    stored = rows()
    assert sorted(stored) == sorted(code.replace("-", "") for code in body["codes"])
    nonces = {row.pop("nonce") for row in stored.values()}
    assert len(nonces) == 1 and len(nonces.pop()) == 16
    for key, row in stored.items():
        assert row.pop("bshard") == "launch-beta#%02d" % schema.shard_of(key)
        assert row == {
            "batch": "launch-beta",
            "state": "UNUSED",
            "valid_from": T0,
            "valid_until": JAN_2027,
            "max_uses": 1,
            "uses": 0,
            "created_at": T0 - 1000,
            "prefix": "BETA",
        }


def test_generate_through_api_gateway_with_a_base64_body(wiring, rows):
    wiring.install(clock=Clock(T0))
    status, body, _ = call(gen_code, load_event("apigw_gen_code_base64.json"), wiring.context)
    assert status == 201
    assert (body["count"], body["max_uses"], body["prefix"]) == (2, 5, None)
    assert body["valid_from"] == T0_TEXT and body["valid_until"] is None
    assert body["batch"].startswith("20261130T160000Z-")
    stored = rows()
    assert sorted(stored) == sorted(code.replace("-", "") for code in body["codes"])
    assert all(row["max_uses"] == 5 and "valid_until" not in row for row in stored.values())


def test_generate_through_the_http_trigger(wiring, rows):
    status, body, _ = call(gen_code, load_event("http_gen_code.json"), wiring.context)
    assert status == 201
    assert len(body["codes"]) == 2
    assert sorted(rows()) == sorted(code.replace("-", "") for code in body["codes"])


def test_generate_with_the_tutorial_event(wiring, rows):
    status, body, headers = call(
        gen_code, load_event("direct_gen_code_tutorial.json"), wiring.context
    )
    assert (status, headers) == (None, None)  # direct invoke: the body is the result
    assert body["count"] == 1000
    assert len(set(body["codes"])) == 1000
    assert body["valid_from"] == "2017-12-22T00:00:00+08:00"
    assert body["valid_until"] == "2017-12-28T00:00:00+08:00"
    stored = rows()
    assert sorted(stored) == sorted(code.replace("-", "") for code in body["codes"])
    assert {row["valid_until"] for row in stored.values()} == {1514390400000}


# --- redeem ---------------------------------------------------------------------------------
def test_redeem_through_api_gateway_then_replay_then_someone_else(wiring, rows):
    clock = Clock(T0)
    make_event_code(wiring, clock)
    clock.now_ms = T0 + 5000
    status, body, _ = call(use_code, load_event("apigw_use_code.json"), wiring.context)
    assert status == 200
    redemption = body.pop("redemption_id")
    assert body == {
        "code": EVENT_CODE,
        "status": "USED",
        "replay": False,
        "uses": 1,
        "max_uses": 1,
        "redeemed_at": "2026-12-01T00:00:05+08:00",
        "metadata": None,
    }
    row = rows()[EVENT_KEY]
    assert (row["state"], row["uses"], row["redeemed_at"]) == ("USED", 1, T0 + 5000)
    assert row["redeemed_by"] == "player-42"

    clock.now_ms = T0 + 9000  # the same user again (a client retry): success, flagged
    status, body, _ = call(use_code, load_event("apigw_use_code_base64.json"), wiring.context)
    assert status == 200
    assert body["replay"] is True
    assert body["redeemed_at"] == "2026-12-01T00:00:05+08:00"
    assert body["redemption_id"] == redemption  # the same redemption as the first answer

    other = load_event_json("apigw_use_code.json")
    other["body"] = json.dumps({"user_id": "player-7"})
    status, body, _ = call(use_code, other, wiring.context)
    assert status == 409
    assert body["error"]["code"] == "CODE_ALREADY_USED"
    assert rows()[EVENT_KEY]["redeemed_by"] == "player-42"


def test_redeem_through_the_http_trigger_and_direct_invoke(wiring, rows):
    make_event_code(wiring, Clock(T0))
    status, body, _ = call(use_code, load_event("http_use_code.json"), wiring.context)
    assert (status, body["status"], body["replay"]) == (200, "USED", False)
    _, body, _ = call(use_code, load_event("direct_use_code.json"), wiring.context)
    assert body["replay"] is True  # same user_id as the HTTP event
    _, body, _ = call(use_code, load_event("direct_use_code_tutorial.json"), wiring.context)
    assert body["error"]["code"] == "CODE_ALREADY_USED"  # no user: cannot be a replay


def test_redeem_a_multi_use_code(wiring, rows):
    clock = Clock(T0)
    make_event_code(wiring, clock, max_uses=3)
    results = []
    for user in ("a", "b", "a", "c", "d"):
        _, body, _ = call(use_code, {"code": EVENT_CODE, "user_id": user}, wiring.context)
        results.append((body.get("uses"), body.get("replay"), body.get("status")))
    assert results[:4] == [
        (1, False, "UNUSED"),
        (2, False, "UNUSED"),
        (2, True, "UNUSED"),  # "a" again: a replay, no use consumed
        (3, False, "USED"),
    ]
    _, body, _ = call(use_code, {"code": EVENT_CODE, "user_id": "d"}, wiring.context)
    assert body["error"]["code"] == "CODE_ALREADY_USED"
    _, body, _ = call(use_code, {"code": EVENT_CODE, "user_id": "b"}, wiring.context)
    assert (body["replay"], body["uses"]) == (True, 3)  # replays still work when used up
    row = rows()[EVENT_KEY]
    assert (row["state"], row["uses"], row["max_uses"]) == ("USED", 3, 3)
    assert len(row["redeemers"].split()) == 3


def test_redeem_respects_the_validity_window(wiring, rows):
    clock = Clock(T0)
    make_event_code(
        wiring, clock, valid_from="2026-12-02T00:00:00+08:00", valid_until=JAN_2027 // 1000
    )
    _, body, _ = call(use_code, load_event("direct_use_code.json"), wiring.context)
    assert body["error"]["code"] == "CODE_NOT_YET_VALID"
    assert body["error"]["message"] == "code is not valid yet"
    clock.now_ms = JAN_2027
    _, body, _ = call(use_code, load_event("direct_use_code.json"), wiring.context)
    assert body["error"]["code"] == "CODE_EXPIRED"
    assert rows()[EVENT_KEY]["state"] == "UNUSED"
    clock.now_ms = JAN_2027 - 1  # the last millisecond of validity
    _, body, _ = call(use_code, load_event("direct_use_code.json"), wiring.context)
    assert body["status"] == "USED"


def test_redeem_an_unknown_code(wiring):
    status, body, _ = call(use_code, load_event("apigw_use_code.json"), wiring.context)
    assert status == 404
    assert body == {
        "error": {"code": "CODE_NOT_FOUND", "message": "no such code", "request_id": "req-1"}
    }


def test_redeem_a_code_made_with_another_code_length(wiring, rows):
    """The prefix guess uses CODE_LENGTH; a wrong guess must still display the code right."""
    wiring.install(clock=Clock(T0), code_length=12)
    _, made, _ = call(gen_code, {"count": 1, "prefix": "VXP"}, wiring.context)
    code = made["codes"][0]
    wiring.install(clock=Clock(T0), code_length=15)  # VXP + 12 + 1 looks like 15 + 1 here
    _, body, _ = call(use_code, {"code": code}, wiring.context)
    assert (body["code"], body["status"]) == (code, "USED")
    assert code.startswith("VXP-")


# --- query ----------------------------------------------------------------------------------
def test_query_every_shape_never_shows_who_redeemed(wiring, rows):
    clock = Clock(T0)
    make_event_code(wiring, clock, batch="spring", valid_until=JAN_2027 // 1000)
    status, body, _ = call(query_code, load_event("apigw_query_code.json"), wiring.context)
    expected = {
        "code": EVENT_CODE,
        "status": "UNUSED",
        "batch": "spring",
        "valid_from": T0_TEXT,
        "valid_until": "2027-01-01T00:00:00+08:00",
        "max_uses": 1,
        "uses": 0,
        "created_at": T0_TEXT,
        "redeemed_at": None,
        "metadata": None,
    }
    assert (status, body) == (200, expected)
    clock.now_ms = T0 + 60000
    call(use_code, load_event("direct_use_code.json"), wiring.context)
    status, body, _ = call(query_code, load_event("http_query_code.json"), wiring.context)
    expected.update(status="USED", uses=1, redeemed_at="2026-12-01T00:01:00+08:00")
    assert (status, body) == (200, expected)
    assert "player-42" not in json.dumps(body)
    _, body, _ = call(query_code, load_event("direct_query_code_tutorial.json"), wiring.context)
    assert body == expected


def test_query_derives_expired_and_not_yet_valid(wiring):
    clock = Clock(T0)
    make_event_code(wiring, clock, valid_from=T0 // 1000 + 60, valid_until=T0 // 1000 + 120)
    _, body, _ = call(query_code, {"code": EVENT_CODE}, wiring.context)
    assert body["status"] == "NOT_YET_VALID"
    clock.now_ms = T0 + 60000
    _, body, _ = call(query_code, {"code": EVENT_CODE}, wiring.context)
    assert body["status"] == "UNUSED"
    clock.now_ms = T0 + 120000
    _, body, _ = call(query_code, {"code": EVENT_CODE}, wiring.context)
    assert body["status"] == "EXPIRED"


def test_query_an_unknown_code(wiring):
    status, body, _ = call(query_code, load_event("http_query_code.json"), wiring.context)
    assert (status, body["error"]["code"]) == (404, "CODE_NOT_FOUND")


# --- delete ---------------------------------------------------------------------------------
def test_delete_is_idempotent(wiring, rows):
    make_event_code(wiring, Clock(T0))
    status, body, _ = call(del_code, load_event("apigw_del_code.json"), wiring.context)
    assert (status, body) == (200, {"code": EVENT_CODE, "deleted": True})
    assert rows() == {}
    status, body, _ = call(del_code, load_event("http_del_code.json"), wiring.context)
    assert (status, body) == (200, {"code": EVENT_CODE, "deleted": True})
    _, body, _ = call(del_code, load_event("direct_del_code_tutorial.json"), wiring.context)
    assert body == {"code": EVENT_CODE, "deleted": True}
    _, body, _ = call(query_code, load_event("direct_query_code_tutorial.json"), wiring.context)
    assert body["error"]["code"] == "CODE_NOT_FOUND"


def test_delete_a_code_whose_prefix_is_not_what_code_length_suggests(wiring, rows):
    wiring.install(code_length=12)
    _, made, _ = call(gen_code, {"count": 2, "prefix": "VXP"}, wiring.context)
    wiring.install(code_length=15)
    _, body, _ = call(del_code, {"code": made["codes"][0]}, wiring.context)
    assert body == {"code": made["codes"][0], "deleted": True}
    assert sorted(rows()) == [made["codes"][1].replace("-", "")]


# --- the error table ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "module, event, status, code, message",
    [
        (gen_code, b"{oops", None, "INVALID_REQUEST", "body: is not valid JSON"),
        (gen_code, {"count": "5"}, None, "INVALID_REQUEST", "count: must be an integer"),
        (gen_code, {"num": 10**9}, None, "INVALID_REQUEST", "num: must be an integer from 1"),
        (gen_code, {"count": -1}, None, "INVALID_REQUEST", "count: must be an integer from 1"),
        (
            gen_code,
            {"count": 1, "valid_from": "2026-13-01 00:00:00"},
            None,
            "INVALID_REQUEST",
            "valid_from: not a valid date",
        ),
        (
            gen_code,
            {"count": 1, "valid_from": 1800000000, "valid_until": 1700000000},
            None,
            "INVALID_REQUEST",
            "valid_until: must be after valid_from",
        ),
        (gen_code, {"count": 1, "colour": "red"}, None, "INVALID_REQUEST", "colour: unknown field"),
        (use_code, {"code": "7K3M-Q9XD-2FHN-W4XT"}, None, "INVALID_CODE", "code is not a valid"),
        (use_code, {"uuid": "not a code"}, None, "INVALID_CODE", "code is not a valid"),
        (
            use_code,
            {"code": EVENT_CODE, "user_id": ["x"]},
            None,
            "INVALID_REQUEST",
            "user_id: must be a string",
        ),
        (query_code, {}, None, "INVALID_REQUEST", "code: is required"),
        (del_code, {"code": 5}, None, "INVALID_REQUEST", "code: must be a string"),
    ],
)
def test_bad_input_never_reaches_the_store(module, event, status, code, message, wiring):
    runtime = wiring.install()
    got_status, body, _ = call(module, event, wiring.context)
    assert got_status == status
    assert body["error"]["code"] == code
    assert body["error"]["message"].startswith(message)
    assert body["error"]["request_id"] == "req-1"
    assert runtime.factory.builds == 0  # no client was even built: nothing was sent


def _broken(name, change):
    event = load_event_json(name)
    change(event)
    return json.dumps(event).encode("utf-8")


def _set(path, value):
    def change(event):
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


# Events `make chaos` fuzzing answered with a 500 before: each is a plain 400 now.
@pytest.mark.parametrize(
    "module, event, message",
    [
        (query_code, _broken("apigw_query_code.json", _set(["path"], 42)), "path: must be a"),
        (
            gen_code,
            _broken("apigw_gen_code.json", _set(["pathParameters"], "x")),
            "pathParameters: must be an object",
        ),
        (
            use_code,
            _broken("apigw_use_code.json", _set(["pathParameters", "code"], 5)),
            "pathParameters.code: must be a string",
        ),
        (
            gen_code,
            _broken("http_gen_code.json", _set(["requestContext", "http"], "POST")),
            "requestContext.http: must be an object",
        ),
        (
            query_code,
            _broken("http_query_code.json", _set(["rawPath"], ["/codes"])),
            "rawPath: must be a string",
        ),
        (
            del_code,
            _broken("http_del_code.json", _set(["requestContext", "http", "method"], 5)),
            "requestContext.http.method: must be a string",
        ),
        (gen_code, b"[" * 100000 + b"]" * 100000, "body: is nested too deeply"),
        (gen_code, b'{"count": 1, "valid_from": 1e308}', "valid_from: time out of range"),
        (gen_code, b'{"count": 1, "valid_until": 1' + b"0" * 400 + b"}", "valid_until: time out"),
        (
            gen_code,
            _broken("apigw_gen_code.json", _set(["body"], "\ud800")),
            "body: is not valid Unicode text",
        ),
        (
            use_code,
            b'{"code": "%s", "user_id": "\\ud800"}' % EVENT_CODE.encode(),
            "user_id: must be valid Unicode text",
        ),
        (gen_code, b'{"count": 1, "\\ud800": 1}', "\ud800: unknown field"),
    ],
)
def test_malformed_events_are_400_never_500(module, event, message, wiring):
    runtime = wiring.install()
    result = module.handler(event, wiring.context)
    result.encode("utf-8")  # FC sends it as UTF-8: no lone surrogate may be echoed raw
    parsed = json.loads(result)
    status, body = None, parsed
    if "statusCode" in parsed:
        status, body = parsed["statusCode"], json.loads(parsed["body"])
    assert status in (None, 400)
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"].startswith(message)
    assert runtime.factory.builds == 0


def test_wrong_method_over_http(wiring):
    status, body, headers = call(query_code, load_event("apigw_del_code.json"), wiring.context)
    assert status == 405
    assert headers["Allow"] == "GET"
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert body["error"]["message"] == "method DELETE is not allowed here; use GET"


def test_payload_too_large(wiring):
    event = load_event_json("apigw_gen_code.json")
    event["body"] = json.dumps({"count": 1, "batch": "x" * 100000})
    status, body, _ = call(gen_code, event, wiring.context)
    assert status == 413
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert body["error"]["message"] == "request body is 100025 bytes; the limit is 65536 bytes"


def test_wrong_path_on_the_http_trigger_names_the_route_and_logs_no_code(wiring, log_lines):
    event = load_event_json("http_use_code.json")
    event["rawPath"] = "/coupons/%s/redeem" % EVENT_CODE
    status, body, _ = call(use_code, event, wiring.context)
    assert status == 400
    assert body["error"]["message"] == "path: does not match POST /codes/{code}/redeem"
    # The path holds the code, and the message goes into the log line: it must not echo it.
    everything = json.dumps(log_lines())
    assert EVENT_CODE not in everything and EVENT_KEY not in everything


def test_store_unavailable_is_a_retryable_503(wiring, ots):
    ots.add_fault("busy", api="UpdateRow")
    context = FCContext(credentials=wiring.context.credentials, timeout=1)  # retries fit in 0.9 s
    status, body, headers = call(use_code, load_event("apigw_use_code.json"), context)
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert body["error"] == {
        "code": "STORE_UNAVAILABLE",
        "message": "the code store is unavailable; retry later",
        "request_id": "req-1",
    }


def test_no_retry_runs_past_the_function_timeout(wiring, ots):
    """OTS_TIMEOUT 1 s, function timeout 2 s (the deployed 5 s / 10 s in small): the first
    GetRow times out after 1 s; a retry could run until 2.05 s, past the moment FC kills the
    instance, so the answer is a 503 right away and the second slow request is never sent."""
    wiring.install(ots_timeout=1.0)
    ots.add_fault("latency", api="GetRow", count=2, latency_ms=1500)
    context = FCContext(credentials=wiring.context.credentials, timeout=2)
    status, body, _ = call(query_code, load_event("apigw_query_code.json"), context)
    assert (status, body["error"]["code"]) == (503, "STORE_UNAVAILABLE")
    assert [fault["count"] for fault in ots.faults()["faults"]] == [1]  # one attempt only


MISSING_TABLE = (
    "the code table 'no_such_table' does not exist in the Tablestore instance: create it "
    "(make deploy does) or correct the CODES_TABLE setting"
)


@pytest.mark.parametrize(
    ("handler", "event"),
    [
        (query_code, "apigw_query_code.json"),
        (use_code, "apigw_use_code.json"),
        (del_code, "apigw_del_code.json"),
        (gen_code, "apigw_gen_code.json"),
    ],
)
def test_a_missing_table_is_a_configuration_error_not_a_retryable_one(
    handler, event, wiring, log_lines, caplog
):
    wiring.install(table="no_such_table")
    status, body, headers = call(handler, load_event(event), wiring.context)
    assert (status, body) == (
        500,
        {"error": {"code": "TABLE_NOT_FOUND", "message": MISSING_TABLE, "request_id": "req-1"}},
    )
    assert "Retry-After" not in headers
    line = log_lines()[-1]
    assert line["outcome"] == "TABLE_NOT_FOUND" and "OTSObjectNotExist" in line["store_error"]
    assert "cleanup_complete" not in line
    assert [r.levelname for r in caplog.records if r.name == "fccodes"][-1] == "ERROR"


def test_internal_errors_leak_nothing_and_log_the_traceback(wiring, monkeypatch, log_lines):
    app.configure(None)  # the next call reads the environment, which lacks OTS_ENDPOINT
    monkeypatch.delenv("OTS_ENDPOINT", raising=False)
    status, body, _ = call(query_code, load_event("apigw_query_code.json"), wiring.context)
    assert status == 500
    assert body == {
        "error": {"code": "INTERNAL", "message": "internal error", "request_id": "req-1"}
    }
    line = log_lines()[-1]
    assert line["outcome"] == "INTERNAL"
    assert "OTS_ENDPOINT is required" in line["error"]
    assert "Traceback" in line["traceback"]


# --- logging --------------------------------------------------------------------------------
def test_one_structured_log_line_per_invocation_with_the_code_masked(wiring, log_lines):
    make_event_code(wiring, Clock(T0))
    call(use_code, load_event("apigw_use_code.json"), wiring.context)
    call(query_code, {"code": "nonsense"}, wiring.context)
    lines = log_lines()
    assert [line["operation"] for line in lines] == ["generate", "redeem", "query"]
    generate, redeem, bad = lines
    assert (generate["outcome"], generate["count"], generate["status"]) == ("ok", 1, 201)
    assert redeem["code"] == "7K3M-****-****-W4TX"
    assert (redeem["outcome"], redeem["replay"], redeem["request_id"]) == ("ok", False, "req-1")
    assert isinstance(redeem["duration_ms"], float)
    assert (bad["outcome"], bad["status"], bad["code"]) == ("INVALID_CODE", 400, "NO-****-****-SE")
    everything = json.dumps(lines)
    assert EVENT_KEY not in everything and EVENT_CODE not in everything


class Collect(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def test_nothing_but_our_line_reaches_the_root_logger_even_when_the_sdk_sees_errors(wiring):
    """What FC prints is what reaches the root logger (at INFO, as FC configures it)."""
    root = logging.getLogger()
    collect = Collect()
    root.addHandler(collect)
    try:
        make_event_code(wiring, Clock(T0))
        call(use_code, load_event("direct_use_code.json"), wiring.context)
        call(use_code, load_event("direct_use_code_tutorial.json"), wiring.context)  # SDK: 403
    finally:
        root.removeHandler(collect)
    assert [r.name for r in collect.records] == ["fccodes"] * 3


def test_the_sdk_renders_no_debug_text(wiring, monkeypatch):
    """The client builds its DEBUG lines whenever its logger's own level is NOTSET.

    On tablestore 5.x that renders every request and response protobuf as text: a third of the
    CPU of a generate call, thrown away by the NullHandler. The store sets a level to stop it.
    """
    from google.protobuf import text_format

    rendered = []
    real = text_format.MessageToString

    def counting(*args, **kwargs):
        rendered.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(text_format, "MessageToString", counting)
    runtime = wiring.install()
    _status, body, _ = call(gen_code, {"count": 450}, wiring.context)
    assert body["count"] == 450
    call(use_code, {"code": body["codes"][0]}, wiring.context)
    assert rendered == []
    client = runtime.factory.client(credentials_from(wiring.context, {}))
    assert client.logger.level > logging.DEBUG  # the test the SDK makes, on every version


# --- initializer and credentials -----------------------------------------------------------
def test_initializer_builds_the_client_once_and_rotation_rebuilds_it(wiring, ots):
    runtime = wiring.install()
    gen_code.initializer(wiring.context)
    assert runtime.factory.builds == 1
    call(query_code, {"code": EVENT_CODE}, wiring.context)
    assert runtime.factory.builds == 1
    rotated = FCContext(
        credentials=Attributes(
            accessKeyId=ots.access_key_id,
            accessKeySecret=ots.access_key_secret,
            securityToken="sts-token-2",
        )
    )
    _, body, _ = call(query_code, {"code": EVENT_CODE}, rotated)
    assert body["error"]["code"] == "CODE_NOT_FOUND"  # the rebuilt client works
    assert runtime.factory.builds == 2
    # Both clients are kept: invocations still holding the old token reuse theirs.
    runtime.factory.client(Credentials(ots.access_key_id, ots.access_key_secret, "sts-token-2"))
    runtime.factory.client(credentials_from(wiring.context, {}))
    assert runtime.factory.builds == 2


def test_initializer_fails_fast_on_bad_configuration(monkeypatch):
    app.configure(None)
    monkeypatch.setenv("OTS_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTS_INSTANCE", "inst")
    monkeypatch.setenv("CODE_LENGTH", "4")
    with pytest.raises(Exception) as info:
        use_code.initializer(FCContext())
    assert "CODE_LENGTH must be in 10..22, got 4" in str(info.value)
    app.configure(None)


def test_credentials_from_the_environment_on_python312_runtimes(wiring, ots, monkeypatch):
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ots.access_key_id)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ots.access_key_secret)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    _, body, _ = call(query_code, {"code": EVENT_CODE}, FCContext(credentials=None))
    assert body["error"]["code"] == "CODE_NOT_FOUND"


def test_a_missing_table_during_a_parallel_generate_is_still_told_as_such(wiring):
    wiring.install(table="no_such_table", gen_concurrency=4)
    body = json.loads(gen_code.handler(b'{"count": 1000}', wiring.context))  # 5 chunks at once
    assert body == {
        "error": {"code": "TABLE_NOT_FOUND", "message": MISSING_TABLE, "request_id": "req-1"}
    }
