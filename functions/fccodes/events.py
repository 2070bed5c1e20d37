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

    `{code}` and `{batch}` are path parameters. `query` says whether the operation reads the
    query string (listings); the others ignore it, as they always did. `raw`: the body is not
    parsed here (an import takes CSV as well as JSON): Incoming.body and Incoming.content_type
    carry it, up to `max_body` bytes, and Incoming.query the query string.
    """

    def __init__(self, method, template, query=False, raw=False, max_body=None):
        self.method = method
        self.template = template
        self.query = query
        self.raw = raw
        self.max_body = max_body or MAX_BODY_BYTES
        self.names = re.findall(r"\{(\w+)\}", template)
        pattern = re.escape(template)
        for name in self.names:
            pattern = pattern.replace(re.escape("{%s}" % name), "([^/]+)")
        # Any leading path is allowed: custom domains and gateways often mount us under one.
        self.regex = re.compile(r"^(?:/.*)?%s/?$" % pattern)
        self.has_code = "code" in self.names

    def match(self, path):
        """{name: value} of the path parameters, or None when `path` is not this route's."""
        found = self.regex.match(path.split("?", 1)[0])
        if found is None:
            return None
        return {name: _unquote(value) for name, value in zip(self.names, found.groups())}


class Incoming(object):
    """A decoded invocation: its shape, the parameters, the path parameters (`code`, `batch`),
    the request headers (gateways only) and which route it came by."""

    __slots__ = ("body", "content_type", "headers", "params", "path", "query", "route", "shape")

    def __init__(self, shape, params, path=None, headers=None, route=None):
        self.shape = shape
        self.params = params
        self.path = path or {}
        self.headers = headers or {}
        self.route = route
        self.body = None  # raw routes through a gateway: the body's bytes
        self.content_type = None
        self.query = {}

    @property
    def path_code(self):
        return self.path.get("code")

    @property
    def path_batch(self):
        return self.path.get("batch")

    def accepts(self, media_type):
        """Whether the Accept header names `media_type` (direct invokes: never)."""
        for key, value in self.headers.items():
            if isinstance(key, str) and key.lower() == "accept" and isinstance(value, str):
                return media_type in value.lower()
        return False


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
    """The Incoming for an FC event of a one-route function (see `decode_any`)."""
    return decode_any(event, [route])


def decode_any(event, routes):
    """The Incoming for an FC event (bytes, as FC passes it; str and dict accepted too), for a
    function that serves `routes`. A gateway request picks its route by method and path; a
    direct invoke of a function with several routes names it in an `action` field (the
    route's position in `routes` is its action's index in `actions`, see `app.Function`).

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
        limit = max(route.max_body for route in routes)
        if size > limit:
            raise PayloadTooLarge(size, limit)
        return Incoming(DIRECT, data, route=routes[0] if len(routes) == 1 else None)
    # Gateways send these fields with these types; anything else is a malformed event (400),
    # never a crash.
    if shape == API_GATEWAY:
        method = data["httpMethod"]  # a string: that is how shape_of recognised the shape
        path = _string(data, "path", "path") or ""
        given = _object(data, "pathParameters", "pathParameters")
        for name in ("code", "batch"):
            _string(given, name, "pathParameters." + name)
    else:
        http = _object(data["requestContext"], "http", "requestContext.http")
        method = _string(http, "method", "requestContext.http.method") or ""
        path = (
            _string(data, "rawPath", "rawPath")
            or _string(http, "path", "requestContext.http.path")
            or ""
        )
        given = {}
    method = method.upper()
    route, path_values = _route(routes, method, path, given)
    if route.raw:
        incoming = Incoming(shape, {}, path_values, _object(data, "headers", "headers"), route)
        incoming.body = _raw_body(data, route.max_body)
        incoming.content_type = _header(data, "content-type")
        incoming.query = _object(data, "queryParameters", "queryParameters")
        return incoming
    params = _body(data) if method in ("POST", "PUT", "PATCH") else {}
    if route.query and method == "GET":
        params = _query(data)
    headers = _object(data, "headers", "headers")
    return Incoming(shape, params, path_values, headers, route)


def _route(routes, method, path, given):
    """(route, path parameters) for a gateway request: the first route whose path matches."""
    if len(routes) == 1 and routes[0].method != method:
        raise MethodNotAllowed(method, routes[0].method)  # as before: the method decides first
    allowed = []
    for route in routes:
        # API Gateway names the path parameters (and its path is decoded: a parameter may hold
        # any character); the HTTP trigger only has the path.
        values = {name: given[name] for name in route.names if given.get(name) is not None}
        if len(values) < len(route.names) or len(routes) > 1:
            if values and len(values) == len(route.names):
                filled = route.template
                for name, value in values.items():
                    filled = filled.replace("{%s}" % name, value)
                if not path.rstrip("/").endswith(filled):
                    continue
            else:
                matched = route.match(path)
                if matched is None:
                    continue
                matched.update(values)
                values = matched
        if route.method != method:
            allowed.append(route.method)
            continue
        return route, values
    if allowed:
        raise MethodNotAllowed(method, ", ".join(sorted(set(allowed))))
    # Not echoed: the path may hold a code, and error messages are logged.
    raise InvalidRequest(
        "path",
        "does not match %s" % " or ".join("%s %s" % (r.method, r.template) for r in routes),
    )


def _query(data):
    """The query parameters as a dict of strings ({} when absent)."""
    query = _object(data, "queryParameters", "queryParameters")
    for key, value in query.items():
        if not isinstance(value, str):
            raise InvalidRequest(key, "must be a string (a query parameter)")
    return dict(query)


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
    if len(raw) > limit:
        raise PayloadTooLarge(len(raw), limit)
    return raw


def _body(data):
    body = data.get("body")
    if isinstance(body, dict):  # local tools sometimes hand over parsed JSON
        return body
    raw = _raw_body(data, MAX_BODY_BYTES)
    if not raw.strip():
        return {}
    params = _json(raw, "body")
    if not isinstance(params, dict):
        raise InvalidRequest("body", "must be a JSON object")
    return params


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


def _metadata(text):
    """Stored metadata (compact JSON text) as the object it was given as; None when absent."""
    return None if text is None else json.loads(text)


def generated_body(result, tz):
    prefix_length = len(result.prefix)
    body = {
        "batch": result.batch,
        "count": len(result.keys),
        "codes": [codes.display(key, prefix_length) for key in result.keys],
        "prefix": result.prefix or None,
        "valid_from": _time(result.valid_from, tz),
        "valid_until": _time(result.valid_until, tz),
        "max_uses": result.max_uses,
        "created_at": _time(result.created_at, tz),
        "metadata": _metadata(result.metadata),
        "customer": result.customer,
        "per_user_limit": result.per_user_limit,
        "replay": result.replay,
    }
    return body


def redeemed_body(result, tz):
    return {
        "code": codes.display(result.key, len(result.prefix)),
        "status": result.status,
        "replay": result.replay,
        "uses": result.uses,
        "max_uses": result.max_uses,
        "redeemed_at": _time(result.redeemed_at, tz),
        "redemption_id": result.redemption_id,
        "metadata": _metadata(result.metadata),
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
        "metadata": _metadata(info.metadata),
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
        "metadata": _metadata(attributes.get("metadata")),
    }


def deleted_body(key, prefix):
    return {"code": codes.display(key, len(prefix)), "deleted": True}


# --- campaigns ------------------------------------------------------------------------------------
CSV_TYPE = "text/csv; charset=utf-8"
# The columns of an export: the fields of GET /codes/{code}, in its order.
CODE_FIELDS = (
    "code",
    "status",
    "batch",
    "valid_from",
    "valid_until",
    "max_uses",
    "uses",
    "created_at",
    "redeemed_at",
    "metadata",
)


class CSV(object):
    """A CSV answer: the text, and the cursor of the next page (a response header)."""

    __slots__ = ("next_cursor", "text")

    def __init__(self, text_and_cursor):
        self.text, self.next_cursor = text_and_cursor


def render_csv(shape, answer):
    if shape == DIRECT:  # no Accept header on a direct invoke: never reached, but safe
        return answer.text
    headers = {"Content-Type": CSV_TYPE, "Cache-Control": "no-store"}
    if answer.next_cursor is not None:
        headers["X-Next-Cursor"] = answer.next_cursor
    return json.dumps(
        {"isBase64Encoded": False, "statusCode": 200, "headers": headers, "body": answer.text},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def batch_record_body(batch, record, tz):
    return {
        "batch": batch,
        "state": record.get("state"),
        "count": record.get("count", 0),
        "prefix": record.get("prefix"),
        "valid_from": _time(record.get("valid_from"), tz),
        "valid_until": _time(record.get("valid_until"), tz),
        "max_uses": record.get("max_uses", 1),
        "metadata": _metadata(record.get("metadata")),
        "customer": record.get("customer"),
        "per_user_limit": record.get("per_user_limit"),
        "created_at": _time(record.get("created_at"), tz),
    }


def generation_body(generation, tz):
    """An asynchronous batch's progress (fccodes.asyncgen.generation); None for the others."""
    if generation is None:
        return None
    body = dict(generation)
    body["finished_at"] = _time(generation.get("finished_at"), tz)
    return body


def batch_body(info, tz):
    body = batch_record_body(info.batch, info.record, tz)
    body["figures"] = info.figures
    body["generation"] = generation_body(info.generation, tz)
    return body


def async_batch_body(started, tz):
    """The 202 answer to a generate that went asynchronous: the batch and its generation."""
    body = batch_record_body(started.batch, started.record, tz)
    body["generation"] = generation_body(started.generation, tz)
    body["replay"] = started.replay
    return body


def switched_batch_body(batch, record):
    return {"batch": batch, "state": record.get("state")}


def _page_rows(batch, page, tz):
    """The rows of a page as GET /codes/{code} shows a code (metadata apart), in order.

    The codes of a batch share their times but `redeemed_at`: each distinct instant is
    formatted once per page (formatting is most of an export's CPU).
    """
    formatted = {None: None}

    def at(ms):
        text = formatted.get(ms)
        if text is None and ms is not None:
            text = formatted[ms] = timefmt.from_ms(ms, tz)
        return text

    for key, row, status in page.items:
        prefix = row.get("prefix") or ""
        yield [
            codes.display(key, len(prefix)),
            status,
            batch,
            at(row.get("valid_from")),
            at(row.get("valid_until")),
            row.get("max_uses", 1),
            row.get("uses", 0),
            at(row.get("created_at")),
            at(row.get("redeemed_at")),
        ]


def codes_page_body(batch, record, page, tz):
    metadata = _metadata(record.get("metadata"))
    items = []
    for values in _page_rows(batch, page, tz):
        item = dict(zip(CODE_FIELDS, values))
        item["metadata"] = metadata
        items.append(item)
    return {"batch": batch, "codes": items, "next_cursor": page.next_cursor}


def codes_csv(batch, record, page, tz):
    """(CSV text with a header row, next cursor) for one page of a batch's codes."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CODE_FIELDS)
    metadata = record.get("metadata") or ""
    for values in _page_rows(batch, page, tz):
        values.append(metadata)
        writer.writerow(["" if value is None else value for value in values])
    return out.getvalue(), page.next_cursor


def rolled_back_body(info, done, tz):
    body = info_body(info, tz)
    body["rolled_back"] = done
    return body


def redemptions_body(key, prefix, page, tz):
    return {
        "code": codes.display(key, len(prefix)),
        "redemptions": [
            {"user_id": user, "redeemed_at": _time(at, tz), "redemption_id": rid}
            for at, user, rid in page.items
        ],
        "next_cursor": page.next_cursor,
    }
