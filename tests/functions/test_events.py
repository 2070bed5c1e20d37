"""Decoding the three event shapes and rendering results (no store involved)."""

import base64
import json

import pytest

from fccodes import app, events
from fccodes.errors import (
    CodeNotFound,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    StoreUnavailable,
)

from .helpers import EVENT_CODE, load_event, load_event_json


def decode(event, operation):
    if isinstance(event, dict):
        event = json.dumps(event).encode("utf-8")
    return events.decode(event, operation.route)


def test_api_gateway_plain_and_base64_bodies():
    plain = decode(load_event("apigw_gen_code.json"), app.GENERATE)
    assert plain.shape == events.API_GATEWAY
    assert plain.params["prefix"] == "BETA"
    encoded = decode(load_event("apigw_gen_code_base64.json"), app.GENERATE)
    assert encoded.params == {"count": 2, "max_uses": 5}
    redeem = decode(load_event("apigw_use_code_base64.json"), app.REDEEM)
    assert (redeem.path_code, redeem.params) == (EVENT_CODE, {"user_id": "player-42"})


def test_api_gateway_without_path_parameters_reads_the_path():
    event = load_event_json("apigw_query_code.json")
    event["pathParameters"] = None
    assert decode(event, app.QUERY).path_code == EVENT_CODE


def test_http_trigger_matches_raw_path_against_the_route():
    redeem = decode(load_event("http_use_code.json"), app.REDEEM)
    assert redeem.shape == events.HTTP_TRIGGER
    assert redeem.path_code == EVENT_CODE.lower()
    query = decode(load_event("http_query_code.json"), app.QUERY)
    assert query.path_code == EVENT_CODE.replace("-", " ")  # percent-decoded
    assert query.params == {}
    gen = decode(load_event("http_gen_code.json"), app.GENERATE)
    assert (gen.params, gen.path_code) == ({"count": 2}, None)


def test_http_trigger_under_a_mount_prefix():
    event = load_event_json("http_use_code.json")
    event["rawPath"] = "/api/v1/codes/%s/redeem" % EVENT_CODE
    assert decode(event, app.REDEEM).path_code == EVENT_CODE


@pytest.mark.parametrize(
    "path", ["/codes", "/codes/%s" % EVENT_CODE, "/codes/%s/redeem/now" % EVENT_CODE, "/"]
)
def test_http_trigger_wrong_path(path):
    event = load_event_json("http_use_code.json")
    event["rawPath"] = path
    with pytest.raises(InvalidRequest) as info:
        decode(event, app.REDEEM)
    assert info.value.message.startswith("path: ")
    assert "does not match POST /codes/{code}/redeem" in info.value.message


def test_direct_invoke_is_the_parameters():
    incoming = decode(load_event("direct_gen_code_tutorial.json"), app.GENERATE)
    assert incoming.shape == events.DIRECT
    assert incoming.params["num"] == 1000


@pytest.mark.parametrize(
    "name, operation",
    [
        ("apigw_query_code.json", app.REDEEM),
        ("apigw_gen_code.json", app.DELETE),
        ("http_del_code.json", app.QUERY),
    ],
)
def test_wrong_method(name, operation):
    with pytest.raises(MethodNotAllowed) as info:
        decode(load_event(name), operation)
    assert info.value.allowed == operation.route.method


@pytest.mark.parametrize(
    "body, b64, message",
    [
        ("{not json", False, "body: is not valid JSON"),
        ("[1, 2]", False, "body: must be a JSON object"),
        ("@@@", True, "body: isBase64Encoded is set but it is not base64"),
        (base64.b64encode(b"\xff\xfe").decode(), True, "body: is not UTF-8"),
    ],
)
def test_bad_bodies(body, b64, message):
    event = load_event_json("apigw_gen_code.json")
    event["body"], event["isBase64Encoded"] = body, b64
    with pytest.raises(InvalidRequest) as info:
        decode(event, app.GENERATE)
    assert info.value.message.startswith(message)


def test_empty_body_is_no_parameters():
    event = load_event_json("apigw_use_code.json")
    event["body"] = "  "
    assert decode(event, app.REDEEM).params == {}


def test_oversized_bodies():
    event = load_event_json("apigw_gen_code.json")
    event["body"] = json.dumps({"batch": "x" * 70000})
    with pytest.raises(PayloadTooLarge):
        decode(event, app.GENERATE)
    with pytest.raises(PayloadTooLarge):
        decode({"count": 1, "batch": "x" * 70000}, app.GENERATE)
    with pytest.raises(PayloadTooLarge) as info:
        events.decode(b" " * (events.MAX_EVENT_BYTES + 1), app.GENERATE.route)
    assert info.value.message == "event is %d bytes; the limit is %d bytes" % (
        events.MAX_EVENT_BYTES + 1,
        events.MAX_EVENT_BYTES,
    )


def test_direct_invoke_that_is_not_an_object():
    for raw in (b"[]", b"42", b'"code"'):
        with pytest.raises(InvalidRequest) as info:
            events.decode(raw, app.QUERY.route)
        assert info.value.message == "body: must be a JSON object"


def test_render_envelope_and_direct():
    envelope = json.loads(events.render(events.API_GATEWAY, 201, {"a": "ü"}))
    assert envelope == {
        "isBase64Encoded": False,
        "statusCode": 201,
        "headers": {"Content-Type": events.JSON_TYPE, "Cache-Control": "no-store"},
        "body": '{"a":"ü"}',
    }
    assert events.render(events.DIRECT, 200, {"a": 1}) == '{"a":1}'


def test_render_error_shapes():
    error = json.loads(events.render_error(events.HTTP_TRIGGER, CodeNotFound(), "r-1"))
    assert error["statusCode"] == 404
    assert json.loads(error["body"]) == {
        "error": {"code": "CODE_NOT_FOUND", "message": "no such code", "request_id": "r-1"}
    }
    method = json.loads(events.render_error(events.API_GATEWAY, MethodNotAllowed("PUT", "GET"), ""))
    assert method["headers"]["Allow"] == "GET"
    unavailable = StoreUnavailable()
    unavailable.cleanup_complete = True
    rendered = json.loads(events.render_error(events.DIRECT, unavailable, "r-2"))
    assert rendered["error"]["cleanup_complete"] is True
    assert rendered["error"]["code"] == "STORE_UNAVAILABLE"


def test_shape_of_undecodable_events_for_early_errors():
    assert events.shape_of(b'{"httpMethod": "POST", oops') == events.API_GATEWAY
    assert events.shape_of('{"rawPath": "/codes", oops') == events.HTTP_TRIGGER
    assert events.shape_of(b"{oops") == events.DIRECT
