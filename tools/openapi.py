"""`make openapi`: docs/openapi.json, generated from the API's declaration (fccodes.api).

    python -m tools.openapi            write docs/openapi.json
    python -m tools.openapi --check    exit 1 if docs/openapi.json is not what would be written

The paths, methods, auth, parameters, bodies, answers and error codes come from
`functions/fccodes/api.py`; nothing about the API is written here. The examples are real
answers: `record()` walks codes through their life with the real handlers behind the real local
API Gateway (`localdev.gateway.Gateway`, in process) over an in-process ots_local, with a fixed
clock and a seeded random source so that the document is the same on every run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import tomllib
from tablestore import Condition, Row, RowExistenceExpectation

from fccodes import api, app
from fccodes.settings import Settings
from harness import tables
from localdev.gateway import APP_KEY_HEADER, Gateway
from localdev.instances import Invocation
from localdev.project import load_project
from localdev.web import Request, Response
from ots_local import OTSLocal

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
LOCAL_SERVER = "http://127.0.0.1:8080"
TABLE = "codes"
TIMEZONE = "+08:00"
# 2026-12-01T10:00:00+08:00: the recorded answers' "now".
NOW_MS = 1796090400000
HOUR_MS = 3600 * 1000
APP_KEY = "local-app-key"
SECURITY = "appKey"

# --- the document ---------------------------------------------------------------------------------


def _schema(field: api.Field, output: bool = False) -> dict[str, Any]:
    """The JSON Schema of one declared field (a request's, or an answer's with `output`)."""
    schema: dict[str, Any]
    if field.type == api.TIME:
        if output:
            schema = {"type": "string", "format": "date-time"}
        else:
            schema = {
                "type": ["string", "number"],
                "pattern": api.TIME_PATTERN,
                "description": "RFC 3339 (2026-12-01T00:00:00+08:00), 'YYYY-MM-DD HH:MM:SS' in "
                "CODE_TIMEZONE, or epoch seconds",
            }
    elif field.type == api.STRING_LIST:
        # A list's limits are its items' (lengths, pattern) and its own (minimum, maximum).
        items: dict[str, Any] = {"type": "string"}
        for key, value in (
            ("minLength", field.min_length),
            ("maxLength", field.max_length),
            ("pattern", field.pattern),
        ):
            if value is not None:
                items[key] = value
        schema = {"type": "array", "items": items}
        for key, value in (("minItems", field.minimum), ("maxItems", field.maximum)):
            if value is not None:
                schema[key] = value
    elif field.type == api.OBJECT_LIST:
        schema = {"type": "array", "items": {"type": "object"}}
    else:
        schema = {"type": field.type}
    for key, value in (
        ("minimum", field.minimum),
        ("maximum", field.maximum),
        ("minLength", field.min_length),
        ("maxLength", field.max_length),
        ("pattern", field.pattern),
    ):
        if value is not None and field.type != api.STRING_LIST:
            schema[key] = value
    if field.enum is not None:
        schema["enum"] = list(field.enum)
    # Null counts as not given in requests; in answers, nullable fields are null when absent.
    if field.nullable or (not output and not field.required):
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
    description = field.description
    if "description" in schema:
        description = f"{description}. {schema.pop('description')}"
    return {"description": description, **schema}


def request_schema(op: api.Operation) -> dict[str, Any]:
    """An operation's JSON body: its fields and their aliases, nothing else."""
    properties: dict[str, Any] = {}
    for field in op.body:
        properties[field.name] = _schema(field)
        for alias in field.aliases:
            properties[alias] = dict(
                _schema(field),
                description=f"alias of {field.name} (the original tutorial's name); giving "
                "both is an error, even when one is null",
                deprecated=True,
            )
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [f for f in op.body if f.required]
    schema["required"] = [f.name for f in required if not f.aliases]
    # A required field with aliases: exactly one of its names (null or not).
    rules = [
        {"oneOf": [{"required": [n]} for n in (f.name, *f.aliases)]} for f in required if f.aliases
    ]
    if rules:
        schema["allOf"] = rules
    if op.any_of:  # at least one of these groups of fields
        schema["anyOf"] = [{"required": list(group)} for group in op.any_of]
    return schema


def response_schema(name: str) -> dict[str, Any]:
    fields = api.RESPONSES[name]
    return {
        "type": "object",
        "properties": {f.name: _schema(f, output=True) for f in fields},
        "required": [f.name for f in fields],
    }


ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error has this shape; `message` names the field it concerns first "
    "(`count: must be an integer from 1 to 10000`).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "enum": sorted(api.ERRORS)},
                "message": {"type": "string", "description": "for people; may change"},
                "request_id": {"type": "string"},
                "cleanup_complete": {
                    "type": "boolean",
                    "description": "a failed generate only: whether every row it wrote is gone",
                },
            },
            "required": ["code", "message", "request_id"],
        }
    },
    "required": ["error"],
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def build(
    examples: dict[str, Any], operations: tuple[api.Operation, ...] = api.OPERATIONS
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`; `examples` as `record()` returns them."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for name in api.RESPONSES:
        schemas[name] = response_schema(name)
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = operation(
            op, examples, schemas, operations
        )
    error_rows = "\n".join(
        f"| `{e.code}` | {e.status} | {e.when} |"
        for e in sorted(api.ERRORS.values(), key=lambda e: (e.status, e.code))
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fc-codes",
            "version": version,
            "summary": "Activation, invite and coupon codes: generate, redeem, check, delete.",
            "description": (
                "Generated by `make openapi` from `functions/fccodes/api.py`; the examples are "
                "answers of the real functions, recorded against the local Tablestore "
                "(docs/functions.md has every field and rule).\n\n"
                "Admin operations need API Gateway's APP authentication: in production a "
                "signature made with an App's key and secret, or that App's AppCode as "
                "`Authorization: APPCODE <code>` where the API allows it; locally (`make run`) "
                f"the app key it prints, in `{APP_KEY_HEADER}` or as the AppCode. Public "
                "operations are anonymous.\n\n"
                "Errors:\n\n| code | HTTP | when |\n|---|---|---|\n" + error_rows
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": LOCAL_SERVER, "description": "make run (the local stack)"}],
        "tags": [{"name": "codes", "description": "Codes and their batches"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                SECURITY: {
                    "type": "apiKey",
                    "in": "header",
                    "name": APP_KEY_HEADER,
                    "description": "API Gateway's APP authentication (signed, or "
                    "`Authorization: APPCODE <code>`); locally the app key that make run prints",
                }
            },
        },
    }


def operation(
    op: api.Operation,
    examples: dict[str, Any],
    schemas: dict[str, Any],
    operations: tuple[api.Operation, ...] = api.OPERATIONS,
) -> Any:
    recorded = examples.get(op.name, {})
    spec: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "description": f"{op.description}\n\nFC function `{op.function}`.",
        "tags": ["codes"],
        "security": [{SECURITY: []}] if op.auth == api.ADMIN else [],
    }
    parameters = [
        parameter(api.PATH_PARAMETERS[name], "path", recorded.get("path", {}).get(name))
        for name in op.path_parameters
    ]
    parameters += [parameter(f, "query") for f in op.query]
    parameters += [parameter(f, "header") for f in op.headers]
    if parameters:
        spec["parameters"] = parameters
    if op.body:
        body_name = op.name.capitalize() + "Request"
        schemas[body_name] = request_schema(op)
        content: dict[str, Any] = {"schema": _ref(body_name)}
        if "request" in recorded:
            content["examples"] = {"example": {"value": recorded["request"]}}
        # An import also takes a CSV file (text/csv), which its description explains: it is not
        # declared as a second media type, since any text is a well-formed CSV of codes, so a
        # schema checker's "invalid" CSV bodies (JSON objects, numbers) are rightly accepted.
        spec["requestBody"] = {
            "required": bool(op.any_of) or any(f.required for f in op.body),
            "content": {"application/json": content},
        }
    responses: dict[str, Any] = {}
    for status, name, when in ((op.status, op.response, op.summary), *op.other_statuses):
        responses[str(status)] = {
            "description": when,
            "content": success_content(op, name, recorded.get(str(status))),
        }
    links = code_links(op, operations)
    if links:
        responses[str(op.status)]["links"] = links
    by_status: dict[int, list[api.Error]] = {}
    for code in (*op.errors, *api.ALWAYS):
        error = api.ERRORS[code]
        by_status.setdefault(error.status, []).append(error)
    for status, errors in sorted(by_status.items()):
        content = {"schema": _ref("Error")}
        found = {e.code: recorded[e.code] for e in errors if e.code in recorded}
        if found:
            content["examples"] = {
                code: {"summary": api.ERRORS[code].when, "value": value}
                for code, value in found.items()
            }
        response: dict[str, Any] = {
            "description": "; ".join(f"{e.code}: {e.when}" for e in errors),
            "content": {"application/json": content},
        }
        if status == 503:
            response["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait before retrying",
                    "schema": {"type": "string"},
                }
            }
        responses[str(status)] = response
    spec["responses"] = responses
    return spec


def parameter(field: api.Field, where: str, example: Any = None) -> dict[str, Any]:
    """A path, query or header parameter: a string on the wire, never null."""
    schema = _schema(field)
    if isinstance(schema["type"], list):
        schema["type"] = [t for t in schema["type"] if t != "null"]
        if len(schema["type"]) == 1:
            schema["type"] = schema["type"][0]
    spec = {
        "name": field.name,
        "in": where,
        "required": field.required,
        "description": schema.pop("description"),
        "schema": schema,
    }
    if example is not None:
        spec["example"] = example
    return spec


def success_content(op: api.Operation, name: str, examples: Any) -> dict[str, Any]:
    """A success's media types (by Accept): JSON in the declared shape, CSV as text."""
    content: dict[str, Any] = {}
    for media in op.media:
        if media == api.JSON:
            content[media] = {"schema": _ref(name)}
            if examples:
                content[media]["examples"] = examples
        else:
            content[media] = {"schema": {"type": "string"}}
    return content


def code_links(
    op: api.Operation, operations: tuple[api.Operation, ...] = api.OPERATIONS
) -> dict[str, Any]:
    """Links from an answer to every other operation whose path parameters it names: a field of
    that name (`code`, `batch`), or the first of a list of them (`codes`). A client (and
    schemathesis' stateful phase) can follow generate -> redeem -> query -> delete."""
    fields = {f.name: f.type for f in api.RESPONSES[op.response]}

    def source(name: str) -> str | None:
        if fields.get(name) == api.STRING:
            return f"$response.body#/{name}"
        if fields.get(name + "s") == api.STRING_LIST:
            return f"$response.body#/{name}s/0"
        return None

    links = {}
    for target in operations:
        if target is op or not target.path_parameters:
            continue
        sources = {name: source(name) for name in target.path_parameters}
        if all(sources.values()):
            links[target.name] = {
                "operationId": target.name,
                "parameters": sources,
                "description": f"{target.summary}: the "
                + " and ".join(sorted(sources))
                + " of this answer",
            }
    return links


# --- the recorded answers ---------------------------------------------------------------------


class _Context:
    """What FC hands a handler, as far as the handlers use it."""

    def __init__(self, request_id: str, credentials: Any, timeout: float) -> None:
        self.request_id = request_id
        self.credentials = credentials
        self.function = {"timeout": timeout}


class _Credentials:
    def __init__(self, key_id: str, secret: str) -> None:
        self.access_key_id = key_id
        self.access_key_secret = secret
        self.security_token = ""


class Recorder:
    """Real handlers behind the real local gateway, in this process, recording answers.

    The worker of big batches (`gen_chunk`) is queued here instead of FC's async invoke API:
    `run_worker()` runs queued events through its real handler, in order."""

    def __init__(self, ots: OTSLocal) -> None:
        self.ots = ots
        self.now = NOW_MS
        self.rng = random.Random(13)  # noqa: S311 (reproducible examples, not secrets)
        self.ids = 0
        self.timeout = 10.0
        self.credentials: Any = _Credentials(ots.access_key_id, ots.access_key_secret)
        self.gateway = Gateway(load_project().routes, self._invoke, APP_KEY)
        self.queued: list[bytes] = []
        self.install()

    def install(self, invoke_endpoint: str | None = None) -> None:
        """The functions' runtime: the worker's events queued here, or with `invoke_endpoint`
        sent to FC's invoke API there (the real dispatcher)."""
        settings = Settings(
            self.ots.endpoint,
            self.ots.instance,
            table=TABLE,
            timezone=TIMEZONE,
            gen_worker=f"fc-codes/{api.GEN_WORKER.name}",
            invoke_endpoint=invoke_endpoint or "",
        )
        options: dict[str, Any] = {}
        if invoke_endpoint is None:
            options["dispatcher"] = lambda credentials, context: self
        app.configure(
            app.Runtime(
                settings, clock=lambda: self.now, random_bytes=self.rng.randbytes, **options
            )
        )

    def send(self, event: dict[str, Any]) -> str:
        """The functions' dispatcher: queue one worker event."""
        self.queued.append(json.dumps(event).encode())
        return self.request_id()

    def run_worker(self, events: int | None = None) -> None:
        """Run queued worker events (all, or the first `events`) through the real handler."""
        worker = import_module(api.GEN_WORKER.name)
        ran = 0
        while self.queued and (events is None or ran < events):
            event = self.queued.pop(0)
            worker.handler(event, _Context(self.request_id(), self.credentials, 60.0))
            ran += 1

    def request_id(self) -> str:
        self.ids += 1
        seeded = random.Random(self.ids)  # noqa: S311 (reproducible ids, not secrets)
        return str(uuid.UUID(int=seeded.getrandbits(128), version=4))

    def _invoke(self, function: str, event: bytes, _request_id: str) -> Invocation:
        module = import_module(function)
        context = _Context(self.request_id(), self.credentials, self.timeout)
        return Invocation(function, context.request_id, module.handler(event, context).encode())

    def call(
        self,
        op: api.Operation,
        code: str = "",
        body: Any = None,
        key: bool = True,
        batch: str = "",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        path = op.path.replace("{code}", code).replace("{batch}", batch)
        sent = [("Content-Type", content_type), *(headers or {}).items()]
        if key:
            sent.append((APP_KEY_HEADER, APP_KEY))
        data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body)
        request = Request(
            op.method,
            path,
            urlencode(query or {}),
            sent,
            data if isinstance(data, bytes) else data.encode(),
        )
        response: Response = self.gateway.handle(request)
        answer = json.loads(response.body)
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            # The gateway's own answers carry a random request id: make it reproducible.
            answer["error"]["request_id"] = self.request_id()
        return response.status, answer


@contextmanager
def _no_environment_credentials() -> Iterator[None]:
    """Hide ALIBABA_CLOUD_* credentials so that a context without any is a misconfiguration."""
    names = [n for n in os.environ if n.startswith("ALIBABA_CLOUD_")]
    saved = {n: os.environ.pop(n) for n in names}
    try:
        yield
    finally:
        os.environ.update(saved)


def record() -> dict[str, Any]:
    """{operation: {"request", "path": {name: example}, status: examples, error code: body}}."""
    out: dict[str, dict[str, Any]] = {op.name: {} for op in api.OPERATIONS}
    gen, redeem, query, delete = api.GENERATE, api.REDEEM, api.QUERY, api.DELETE

    def keep(op: api.Operation, name: str, answer: tuple[int, Any], expected: int) -> Any:
        status, body = answer
        if status != expected:
            raise RuntimeError(f"{op.name} {name}: expected {expected}, got {status} {body}")
        if status < 300:
            out[op.name].setdefault(str(status), {})[name] = {"value": body}
        else:
            out[op.name].setdefault(body["error"]["code"], body)
        return body

    # The functions' log lines (one per call, tracebacks for the 500s) are not the point here.
    logger = logging.getLogger("fccodes")
    logger.disabled, was_disabled = True, logger.disabled
    with OTSLocal() as ots:
        tables.create_service_tables(ots.client(), TABLE)
        rec = Recorder(ots)
        try:
            _campaigns(rec, keep, out)
            _walk_import(rec, keep, out, api.IMPORT)
            _walk(rec, keep, out, gen, redeem, query, delete)
            # Last, so that the examples above do not depend on it: the table back, the keys.
            tables.create_service_tables(ots.client(), TABLE, exist_ok=True)
            rec.credentials = _Credentials(ots.access_key_id, ots.access_key_secret)
            _big_batches(rec, keep)
        finally:
            app.configure(None)
            logger.disabled = was_disabled
    return out


def _walk(
    rec: Recorder,
    keep: Callable[[api.Operation, str, tuple[int, Any], int], Any],
    out: dict[str, dict[str, Any]],
    gen: api.Operation,
    redeem: api.Operation,
    query: api.Operation,
    delete: api.Operation,
) -> None:
    request = {"count": 3, "prefix": "BETA", "valid_until": "2027-01-01T00:00:00+08:00"}
    request["batch"] = "launch-beta"
    out[gen.name]["request"] = request
    codes = keep(gen, "generated", rec.call(gen, body=request), 201)["codes"]
    out[redeem.name]["request"] = {"user_id": "player-42"}
    for op in (redeem, query, delete):
        out[op.name]["path"] = {"code": codes[0]}
    keep(query, "unused", rec.call(query, codes[1]), 200)
    keep(redeem, "redeemed", rec.call(redeem, codes[0], {"user_id": "player-42"}), 200)
    rec.now += 5000
    keep(redeem, "replay", rec.call(redeem, codes[0], {"user_id": "player-42"}), 200)
    keep(query, "used", rec.call(query, codes[0]), 200)
    keep(redeem, "used up", rec.call(redeem, codes[0], {"user_id": "player-7"}), 409)
    keep(delete, "deleted", rec.call(delete, codes[2]), 200)
    for op in (redeem, query):
        keep(op, "not found", rec.call(op, codes[2]), 404)
        keep(op, "empty code", rec.call(op, ""), 404)
        keep(op, "invalid code", rec.call(op, "BETA-0SE8-WWPC-K8RS-MPJE"), 400)
    keep(delete, "invalid code", rec.call(delete, "NOT-A-CODE"), 400)
    keep(delete, "empty code", rec.call(delete, ""), 404)
    keep(delete, "no key", rec.call(delete, codes[1], key=False), 401)
    keep(gen, "no key", rec.call(gen, body=request, key=False), 401)
    keep(gen, "typo", rec.call(gen, body={"cuont": 3}), 400)
    keep(redeem, "unknown field", rec.call(redeem, codes[1], {"user": "player-42"}), 400)
    keep(gen, "too large", rec.call(gen, body={"batch": "x" * 70000}), 413)
    keep(redeem, "too large", rec.call(redeem, codes[1], {"user_id": "x" * 70000}), 413)
    # Time-bound codes: one that starts tomorrow, one that ended an hour ago.
    later = {"count": 1, "valid_from": "2026-12-02T00:00:00+08:00"}
    early = keep(gen, "starts later", rec.call(gen, body=later), 201)["codes"][0]
    keep(redeem, "not yet valid", rec.call(redeem, early, {"user_id": "player-42"}), 409)
    short = {"count": 1, "valid_until": (rec.now + HOUR_MS) // 1000}  # epoch seconds
    ended = keep(gen, "one hour", rec.call(gen, body=short), 201)["codes"][0]
    rec.now += 2 * HOUR_MS
    keep(redeem, "expired", rec.call(redeem, ended, {"user_id": "player-42"}), 409)
    # The store failing: every request answered "busy", until the call's time is up.
    rec.timeout = 1.0
    rec.ots.add_fault("busy")
    for op in (query, redeem, delete):
        keep(op, "store down", rec.call(op, codes[1]), 503)
    keep(gen, "store down", rec.call(gen, body={"count": 1}), 503)
    rec.ots.clear_faults()
    # The table gone (a deployment that never created it): the operator's error, not retryable.
    rec.ots.client().delete_table(TABLE)
    for op in (gen, redeem, query, delete):
        body = {"count": 1} if op is gen else None
        keep(op, "no table", rec.call(op, codes[1], body), 500)
    # A misconfigured function (no credentials anywhere): a 500 that says nothing.
    rec.credentials = None
    with _no_environment_credentials():
        for op in (gen, redeem, query, delete):
            body = {"count": 1} if op is gen else None
            keep(op, "misconfigured", rec.call(op, codes[1], body), 500)


def _walk_import(
    rec: Recorder,
    keep: Callable[[api.Operation, str, tuple[int, Any], int], Any],
    out: dict[str, dict[str, Any]],
    op: api.Operation,
) -> None:
    request = {
        "codes": ["SUMMER-2026-0001", "SUMMER-2026-0002", "SUMMER-2026-0001"],
        "valid_until": "2027-01-01T00:00:00+08:00",
    }
    out[op.name]["request"] = request
    out[op.name]["path"] = {"batch": "summer-mailing"}
    keep(op, "imported", rec.call(op, body=request, batch="summer-mailing"), 200)
    keep(op, "imported again", rec.call(op, body=request, batch="summer-mailing"), 200)
    bad = b"code\nSUMMER-2026-0003\n\nSUMMER-2026-0004\n"
    keep(op, "empty line", rec.call(op, body=bad, batch="s", content_type="text/csv"), 400)
    keep(op, "no key", rec.call(op, body=request, batch="s", key=False), 401)
    too_big = b"A\n" * (api.MAX_IMPORT_BYTES // 2 + 1)
    keep(op, "too large", rec.call(op, body=too_big, batch="s", content_type="text/csv"), 413)


def _campaigns(
    rec: Recorder,
    keep: Callable[[api.Operation, str, tuple[int, Any], int], Any],
    out: dict[str, dict[str, Any]],
) -> None:
    """Batches: idempotent generate, metadata, per-user limits, listing, disable, rollback."""
    gen, redeem = api.GENERATE, api.REDEEM
    request = {
        "count": 4,
        "batch": "winter",
        "prefix": "GFT",
        "metadata": {"pack": "gold", "coins": 500},
        "per_user_limit": 1,
        "valid_until": "2027-01-01T00:00:00+08:00",
    }
    once = {api.IDEMPOTENCY_HEADER: "order-2026-000001"}
    codes = keep(gen, "campaign", rec.call(gen, body=request, headers=once), 201)["codes"]
    keep(gen, "idempotent retry", rec.call(gen, body=request, headers=once), 200)
    other = dict(request, count=5)
    keep(gen, "key reused", rec.call(gen, body=other, headers=once), 409)
    keep(gen, "label taken", rec.call(gen, body={"count": 1, "batch": "winter"}), 409)
    for op in api.CAMPAIGN_OPERATIONS:
        out[op.name]["path"] = {"batch": "winter"} if "{batch}" in op.path else {"code": codes[0]}
    user = {"user_id": "player-42"}
    keep(redeem, "with metadata", rec.call(redeem, codes[0], user), 200)
    keep(redeem, "per-user limit", rec.call(redeem, codes[1], user), 409)
    vip = keep(gen, "for one customer", rec.call(gen, body={"count": 1, "customer": "vip-9"}), 201)
    keep(redeem, "not the customer", rec.call(redeem, vip["codes"][0], user), 409)
    show, listing = api.BATCH_SHOW, api.BATCH_CODES
    keep(show, "figures", rec.call(show, batch="winter"), 200)
    keep(show, "no such batch", rec.call(show, batch="spring"), 404)
    keep(show, "no key", rec.call(show, batch="winter", key=False), 401)
    keep(listing, "a page", rec.call(listing, batch="winter", query={"limit": "2"}), 200)
    keep(listing, "bad cursor", rec.call(listing, batch="winter", query={"cursor": "x"}), 400)
    disable, enable = api.BATCH_DISABLE, api.BATCH_ENABLE
    keep(disable, "disabled", rec.call(disable, batch="winter"), 200)
    keep(redeem, "batch disabled", rec.call(redeem, codes[2], {"user_id": "player-7"}), 409)
    keep(enable, "enabled", rec.call(enable, batch="winter"), 200)
    keep(api.CODE_DISABLE, "disabled", rec.call(api.CODE_DISABLE, codes[3]), 200)
    keep(api.CODE_ENABLE, "enabled", rec.call(api.CODE_ENABLE, codes[3]), 200)
    rollback, redemptions = api.ROLLBACK, api.REDEMPTIONS
    out[rollback.name]["request"] = user
    keep(redemptions, "one redemption", rec.call(redemptions, codes[0]), 200)
    keep(rollback, "rolled back", rec.call(rollback, codes[0], user), 200)
    keep(rollback, "nothing to roll back", rec.call(rollback, codes[0], user), 200)
    # A batch whose generate call is still running (or died): its record says GENERATING.
    rec.ots.client().put_row(
        "batches",
        Row([("pk", "b:stuck"), ("sk", "batch")], [("state", "GENERATING"), ("count", 0)]),
        Condition(RowExistenceExpectation.IGNORE),
    )
    keep(disable, "still generating", rec.call(disable, batch="stuck"), 409)


def _big_batches(
    rec: Recorder, keep: Callable[[api.Operation, str, tuple[int, Any], int], Any]
) -> None:
    """A batch above MAX_CODES_PER_REQUEST: 202, its progress, READY; one past its deadline
    (FAILED, then deleted); FC refusing the worker."""
    gen, show, listing = api.GENERATE, api.BATCH_SHOW, api.BATCH_CODES
    request = {"count": 12000, "batch": "launch-2027", "prefix": "NY27"}
    request["valid_until"] = "2027-12-31T00:00:00+08:00"
    keep(gen, "big batch", rec.call(gen, body=request), 202)
    keep(show, "generating", rec.call(show, batch="launch-2027"), 200)
    rec.run_worker(2)  # the first event fans the two chunks out; the first chunk is written
    rec.now += 1500
    keep(show, "generating, one chunk written", rec.call(show, batch="launch-2027"), 200)
    keep(listing, "still generating", rec.call(listing, batch="launch-2027"), 409)
    rec.run_worker()
    rec.now += 1500
    keep(show, "big batch ready", rec.call(show, batch="launch-2027"), 200)
    # A batch whose events were lost (FC dropped them): a read past its deadline fails it.
    assert rec.call(gen, body={"count": 12000, "batch": "lost"})[0] == 202
    rec.run_worker(1)  # fanned out; both chunks' events are lost
    rec.queued.clear()
    rec.now += 2 * HOUR_MS
    rec.call(show, batch="lost")  # past the deadline: FAILED, its deletion queued
    rec.run_worker()
    keep(show, "failed", rec.call(show, batch="lost"), 200)
    keep(listing, "failed", rec.call(listing, batch="lost"), 409)
    # FC's invoke API cannot be reached (a port on this machine where nothing listens).
    rec.install(invoke_endpoint=f"http://127.0.0.1:{_closed_port()}")
    rec.timeout = 1.0
    keep(gen, "worker unavailable", rec.call(gen, body={"count": 20000}), 503)
    rec.timeout = 10.0
    rec.install()


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.openapi", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="fail if docs/openapi.json is stale")
    p.add_argument("--output", type=Path, default=DOCUMENT)
    args = p.parse_args(argv)
    text = render(build(record()))
    if args.check:
        if not args.output.exists() or args.output.read_text(encoding="utf-8") != text:
            print(f"{args.output} is stale: run make openapi", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
