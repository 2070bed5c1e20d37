"""Events in, results out: the three invocation shapes FC delivers, and the bodies we answer.

- API Gateway (FC event-function backend): `{path, httpMethod, headers, queryParameters,
  pathParameters, body, isBase64Encoded}` -> `{isBase64Encoded, statusCode, headers, body}`.
- FC 3.0 HTTP trigger: `{version, rawPath, headers, queryParameters, body, isBase64Encoded,
  requestContext: {http: {method, path}, requestId}}` -> the same envelope. There are no path
  parameters: the code is taken from `rawPath` by the function's route.
- Direct invoke (console, SDK, `fun local invoke`, CI): the event is the operation's JSON
  parameters and the result is the JSON body itself.

Errors have one body shape, `{"error": {"code", "message", "request_id"}}`, rendered here and only
here (`render_error`).
"""

import base64
import binascii
import json
import re

from . import codes, timefmt
from .errors import InvalidRequest, MethodNotAllowed, PayloadTooLarge

MAX_BODY_BYTES = 64 * 1024  # a request body; real ones are well under 1 KiB
# A whole event: API Gateway accepts 8 MB request bodies, FC 32 MB events. Parsing more than
# this would only risk the instance's memory on something we are going to refuse anyway.
MAX_EVENT_BYTES = 8 * 1024 * 1024

API_GATEWAY = "apigw"
HTTP_TRIGGER = "http"
DIRECT = "direct"

JSON_TYPE = "application/json; charset=utf-8"
# Compact JSON, built once: json.dumps with options builds a new encoder per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_JSON_ASCII = json.JSONEncoder(separators=(",", ":"))


class Route(object):
    """The HTTP method and path an operation answers, e.g. POST /codes/{code}/redeem.

    `raw`: the body is not parsed here (an import takes CSV as well as JSON): Incoming.body and
    Incoming.content_type carry it, up to `max_body` bytes, and Incoming.query the query string.
    """

    def __init__(self, method, template, raw=False, max_body=None):
        self.method = method
        self.template = template
        self.raw = raw
        self.max_body = max_body or MAX_BODY_BYTES
        # Any leading path is allowed: custom domains and gateways often mount us under one.
        pattern = re.escape(template)
        for name in ("code", "batch"):
            pattern = pattern.replace(re.escape("{%s}" % name), "(?P<%s>[^/]+)" % name)
        self.regex = re.compile(r"^(?:/.*)?%s/?$" % pattern)
        self.has_code = "{code}" in template
        self.has_batch = "{batch}" in template


class Incoming(object):
    """A decoded invocation: its shape, the parameters, and the code (or batch) from the path if
    any; for a raw route the body's bytes, its content type and the query parameters."""

    __slots__ = ("body", "content_type", "params", "path_batch", "path_code", "query", "shape")

    def __init__(self, shape, params, path_code=None, path_batch=None):
        self.shape = shape
        self.params = params
        self.path_code = path_code
        self.path_batch = path_batch
        self.body = None
        self.content_type = None
        self.query = {}


def shape_of(event):
    """Best guess at an event's shape without decoding it (to render an early error)."""
    if isinstance(event, str):
        event = event.encode("utf-8", "replace")
    if isinstance(event, (bytes, bytearray)):
        if b'"httpMethod"' in event:
            return API_GATEWAY
        return HTTP_TRIGGER if b'"rawPath"' in event else DIRECT
    if isinstance(event, dict):
        if isinstance(event.get("httpMethod"), str):
            return API_GATEWAY
        if isinstance(event.get("requestContext"), dict) and "rawPath" in event:
            return HTTP_TRIGGER
    return DIRECT


def decode(event, route):
    """The Incoming for an FC event (bytes, as FC passes it; str and dict accepted too).

    Raises InvalidRequest (malformed JSON, wrong path), MethodNotAllowed, PayloadTooLarge.
    """
    if isinstance(event, (bytes, bytearray)) and len(event) > MAX_EVENT_BYTES:
        # The event's size against the event's limit: a gateway event is not the body (base64
        # makes a body 4/3 larger), and it is not parsed to find the body's.
        raise PayloadTooLarge(len(event), MAX_EVENT_BYTES, "event")
    data = event if isinstance(event, dict) else _json(event, "body")
    shape = shape_of(data)
    if shape == DIRECT:
        if not isinstance(data, dict):
            raise InvalidRequest("body", "must be a JSON object")
        size = len(event) if isinstance(event, (bytes, bytearray, str)) else 0
        if size > route.max_body:
            raise PayloadTooLarge(size, route.max_body)
        return Incoming(DIRECT, data)
    # Gateways send these fields with these types; anything else is a malformed event (400),
    # never a crash.
    path_batch = None
    if shape == API_GATEWAY:
        method = data["httpMethod"]  # a string: that is how shape_of recognised the shape
        path = _string(data, "path", "path") or ""
        path_parameters = _object(data, "pathParameters", "pathParameters")
        path_code = _string(path_parameters, "code", "pathParameters.code")
        path_batch = _string(path_parameters, "batch", "pathParameters.batch")
    else:
        http = _object(data["requestContext"], "http", "requestContext.http")
        method = _string(http, "method", "requestContext.http.method") or ""
        path = (
            _string(data, "rawPath", "rawPath")
            or _string(http, "path", "requestContext.http.path")
            or ""
        )
        path_code = None
    method = method.upper()
    if method != route.method:
        raise MethodNotAllowed(method, route.method)
    missing = (route.has_code and path_code is None) or (route.has_batch and path_batch is None)
    if missing or shape == HTTP_TRIGGER:
        match = route.regex.match(path.split("?", 1)[0])
        if match is None:
            # Not echoed: the path may hold a code, and error messages are logged.
            raise InvalidRequest("path", "does not match %s %s" % (route.method, route.template))
        if route.has_code and path_code is None:
            path_code = _unquote(match.group("code"))
        if route.has_batch and path_batch is None:
            path_batch = _unquote(match.group("batch"))
    if route.raw:
        incoming = Incoming(shape, {}, None, path_batch if route.has_batch else None)
        incoming.body = _raw_body(data, route.max_body)
        incoming.content_type = _header(data, "content-type")
        incoming.query = _object(data, "queryParameters", "queryParameters")
        return incoming
    params = _body(data) if method in ("POST", "PUT", "PATCH") else {}
    return Incoming(
        shape,
        params,
        path_code if route.has_code else None,
        path_batch if route.has_batch else None,
    )


def _object(data, key, field):
    """data[key] as a dict ({} when absent or null); InvalidRequest for any other type."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(field, "must be an object")
    return value


def _string(data, key, field):
    """data[key] as a string (None when absent or null); InvalidRequest for any other type."""
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidRequest(field, "must be a string")


def _header(data, name):
    """A request header's value (names are case-insensitive), or None."""
    headers = data.get("headers")
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def _raw_body(data, limit):
    """The body's bytes (base64-decoded when flagged), at most `limit` of them."""
    body = data.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidRequest("body", "must be a string")
    raw = _body_bytes(data, body)
    if len(raw) > limit:
        raise PayloadTooLarge(len(raw), limit)
    return raw


def _body(data):
    body = data.get("body")
    if body is None or isinstance(body, dict):  # local tools sometimes hand over parsed JSON
        return body or {}
    if not isinstance(body, str):
        raise InvalidRequest("body", "must be a string")
    raw = _body_bytes(data, body)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(len(raw), MAX_BODY_BYTES)
    if not raw.strip():
        return {}
    params = _json(raw, "body")
    if not isinstance(params, dict):
        raise InvalidRequest("body", "must be a JSON object")
    return params


def _body_bytes(data, body):
    if data.get("isBase64Encoded") in (True, "true", "True"):
        try:
            raw = base64.b64decode(body.encode("ascii"), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("body", "isBase64Encoded is set but it is not base64") from None
    else:
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from a "\\ud800" escape in the event
            raise InvalidRequest("body", "is not valid Unicode text") from None
    return raw


def _json(raw, field):
    try:
        if isinstance(raw, (bytes, bytearray)):
            raw = bytes(raw).decode("utf-8")
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidRequest(field, "is not UTF-8") from None
    except ValueError as exc:
        raise InvalidRequest(field, "is not valid JSON (%s)" % exc) from None
    except TypeError:
        raise InvalidRequest(field, "must be JSON text") from None
    except RecursionError:  # the decoder recurses per nesting level: [[[[...]]]]
        raise InvalidRequest(field, "is nested too deeply") from None


def _unquote(text):
    from urllib.parse import unquote  # stdlib, and already loaded by the SDK

    return unquote(text)


# --- rendering ----------------------------------------------------------------------------------
def render(shape, status, body, headers=None):
    """The handler's return value: the JSON body (direct) or the HTTP envelope (gateways)."""
    text = _JSON.encode(body)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # an echoed lone surrogate (a "\\ud800" escape): keep it escaped
        text = _JSON_ASCII.encode(body)
    if shape == DIRECT:
        return text
    envelope_headers = {"Content-Type": JSON_TYPE, "Cache-Control": "no-store"}
    envelope_headers.update(headers or {})
    return _JSON.encode(
        {
            "isBase64Encoded": False,
            "statusCode": status,
            "headers": envelope_headers,
            "body": text,
        }
    )


def render_error(shape, error, request_id):
    """Render a ServiceError (anything else must have become errors.ServiceError() first)."""
    body = {"code": error.code, "message": error.message, "request_id": request_id}
    body.update(error.details())
    return render(shape, error.status, {"error": body}, error.headers())


def _time(ms, tz):
    return None if ms is None else timefmt.from_ms(ms, tz)


def generated_body(result, tz):
    prefix_length = len(result.prefix)
    return {
        "batch": result.batch,
        "count": len(result.keys),
        "codes": [codes.display(key, prefix_length) for key in result.keys],
        "prefix": result.prefix or None,
        "valid_from": _time(result.valid_from, tz),
        "valid_until": _time(result.valid_until, tz),
        "max_uses": result.max_uses,
        "created_at": _time(result.created_at, tz),
    }


def redeemed_body(result, tz):
    return {
        "code": codes.display(result.key, len(result.prefix)),
        "status": result.status,
        "replay": result.replay,
        "uses": result.uses,
        "max_uses": result.max_uses,
        "redeemed_at": _time(result.redeemed_at, tz),
    }


def info_body(info, tz):
    return {
        "code": codes.display(info.key, len(info.prefix)),
        "status": info.status,
        "batch": info.batch,
        "valid_from": _time(info.valid_from, tz),
        "valid_until": _time(info.valid_until, tz),
        "max_uses": info.max_uses,
        "uses": info.uses,
        "created_at": _time(info.created_at, tz),
        "redeemed_at": _time(info.redeemed_at, tz),
    }


def imported_body(batch, report, attributes, tz):
    """The answer to an import (codes are shown as written: the caller sent them)."""
    notes = ["line %d: %s repeats line %d" % (e.line, e.text, seen) for e, seen in report.repeated]
    notes += [
        "line %d: %s exists already, not overwritten" % (e.line, e.text) for e in report.existing
    ]
    return {
        "batch": batch,
        "received": report.received,
        "stored": report.stored,
        "already_imported": report.already_imported,
        "repeated": report.repeated_count,
        "existing": report.existing_count,
        "notes": notes,
        "valid_from": _time(attributes.get("valid_from"), tz),
        "valid_until": _time(attributes.get("valid_until"), tz),
        "max_uses": attributes.get("max_uses"),
    }


def deleted_body(key, prefix):
    return {"code": codes.display(key, len(prefix)), "deleted": True}
