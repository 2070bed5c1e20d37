"""The local API Gateway: template.yml's routes in front of the local functions.

Routes come from the `Aliyun::Serverless::Api` DefinitionBody (`[name]` segments are path
parameters); among the routes of the request's method that match its path, the one with a
literal segment where the others have a parameter wins (it is more specific). A matched request
becomes the event API Gateway sends an FC event function (docs/functions.md, "Events in, results
out"): `{path, httpMethod, headers, queryParameters, pathParameters, body, isBase64Encoded}`, the
body base64-encoded as a PASSTHROUGH route delivers it. The function's `{statusCode, headers, body,
isBase64Encoded}` becomes the HTTP response, with the request id in `X-Ca-Request-Id`.

The gateway's own answers use the product's error shape `{"error": {code, message,
request_id}}` plus API Gateway's `X-Ca-Error-Message` header: 404 NOT_FOUND (no route), 405
METHOD_NOT_ALLOWED (with `Allow`), 401 UNAUTHORIZED (an APP route without the local app key in
`X-Ca-Key`), 413 PAYLOAD_TOO_LARGE (over API Gateway's 8 MB), 429 TOO_MANY_REQUESTS (over
frontdoor.yml's throttling for the API, the App or the client's address: localdev/throttle.py),
502 BAD_GATEWAY (the function failed or answered something that is not an API Gateway response)
and 504 GATEWAY_TIMEOUT.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from localdev.instances import Invocation
from localdev.web import (
    LOGGED_METHOD_MAX,
    LOGGED_PATH_MAX,
    Request,
    Response,
    json_response,
    loggable,
)
from tools.templates import Route

MAX_REQUEST_BODY = 8 * 1024 * 1024  # API Gateway's limit on request bodies
MAX_RESPONSE_BODY = 6 * 1024 * 1024  # what API Gateway takes back from FC
APP_KEY_HEADER = "X-Ca-Key"
# API Gateway's simple authentication: `Authorization: APPCODE <AppCode>` (no signature), what a
# browser page such as the console can send. Locally the app key stands for the AppCode.
APPCODE_SCHEME = "APPCODE"
REQUEST_ID_HEADER = "X-Ca-Request-Id"
MASK_SHOWN_MAX = 8  # letters and digits a masked value shows at each end, at most
# Not forwarded to the function: they describe this hop, not the request.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


class GatewayError(Exception):
    """An answer of the gateway itself, in the product's error shape."""

    def __init__(self, status: int, code: str, message: str, gateway_message: str, **headers: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.gateway_message = gateway_message  # X-Ca-Error-Message, as API Gateway words it
        self.headers = headers


@dataclass(frozen=True)
class CompiledRoute:
    route: Route
    regex: re.Pattern[str]
    names: tuple[str, ...]
    specificity: tuple[int, ...]  # 1 per literal segment, 0 per parameter: higher wins


def compile_route(route: Route) -> CompiledRoute:
    """`/codes/[code]/redeem` -> a regex with one group per `[name]` segment."""
    parts, names, specificity = [], [], []
    for segment in route.path.strip("/").split("/") if route.path.strip("/") else []:
        param = re.fullmatch(r"\[([A-Za-z0-9_]+)\]", segment)
        if param:
            names.append(param.group(1))
            parts.append("([^/]+)")
            specificity.append(0)
        else:
            parts.append(re.escape(segment))
            specificity.append(1)
    regex = re.compile("^/" + "/".join(parts) + "$")
    return CompiledRoute(route, regex, tuple(names), tuple(specificity))


class RouteTable:
    """Method + path -> route and path parameters."""

    def __init__(self, routes: list[Route]) -> None:
        compiled = [compile_route(r) for r in routes]
        # Most specific first: a literal segment beats a parameter, left to right.
        self.routes = sorted(compiled, key=lambda c: c.specificity, reverse=True)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """Raises GatewayError 404 (no such path) or 405 (path known, method not)."""
        allowed: list[str] = []
        for c in self.routes:
            m = c.regex.match(path)
            if m is None:
                continue
            if c.route.method == method:
                return c.route, {n: unquote(v) for n, v in zip(c.names, m.groups(), strict=True)}
            allowed.append(c.route.method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise GatewayError(
                405,
                "METHOD_NOT_ALLOWED",
                f"{method} is not allowed on {path}; allowed: {allow}",
                "Invalid Method",
                Allow=allow,
            )
        raise GatewayError(404, "NOT_FOUND", f"no route for {method} {path}", "Invalid Url")


def mask(value: str) -> str:
    """A path value as the log shows it: at most a quarter of its letters and digits at each end
    (and at most MASK_SHOWN_MAX).

    Only letters and digits count, and padding around them is not shown: a code padded with
    spaces or dashes (`%20%20...CODE`, which the functions accept) is masked like the bare code.
    """
    significant = [i for i, ch in enumerate(value) if ch.isalnum()]
    shown = min(len(significant) // 4, MASK_SHOWN_MAX)
    if not shown:
        return "****"
    head = value[significant[0] : significant[shown - 1] + 1]
    tail = value[significant[-shown] : significant[-1] + 1]
    return f"{head}****{tail}"


def loggable_path(path: str, params: dict[str, str] | None) -> str:
    """`path` as one log field: percent-decoded, its parameters masked, control characters escaped.

    Parameters may be secrets (codes are), and they are masked after decoding, so percent-encoded
    padding cannot widen what the mask shows. With no matched route (`params` None) every segment
    after the first is masked, since a mistyped route can still carry a code.
    """
    segments = [unquote(seg) for seg in path.split("/")]
    if params is None:
        first = next((i for i, seg in enumerate(segments) if seg), len(segments))
        shown = [seg if i <= first or not seg else mask(seg) for i, seg in enumerate(segments)]
    else:
        secret = set(params.values())
        shown = [mask(seg) if seg in secret else seg for seg in segments]
    return loggable("/".join(shown), LOGGED_PATH_MAX)


def build_event(
    request: Request, route: Route, params: dict[str, str], request_id: str
) -> dict[str, Any]:
    """The API Gateway event for an FC event function."""
    headers: dict[str, str] = {}
    for key, value in request.headers:
        if key.lower() not in HOP_HEADERS:
            headers[key] = value
    headers[REQUEST_ID_HEADER] = request_id
    headers.setdefault("X-Forwarded-For", request.client)
    query: dict[str, str] = {}
    for key, value in parse_qsl(request.query, keep_blank_values=True):
        query.setdefault(key, value)  # API Gateway passes one value per name: the first
    return {
        "path": unquote(request.path),
        "httpMethod": request.method,
        "headers": headers,
        "queryParameters": query,
        "pathParameters": params,
        "body": base64.b64encode(request.body).decode("ascii") if request.body else "",
        "isBase64Encoded": bool(request.body),
    }


def render(invocation: Invocation) -> Response:
    """The function's API Gateway response envelope as an HTTP response (GatewayError if bad)."""
    if not invocation.ok:
        if invocation.error_message.startswith("Function timed out"):
            raise GatewayError(
                504,
                "GATEWAY_TIMEOUT",
                f"{invocation.function} did not answer in time: {invocation.error_message}",
                "Backend Service Timeout",
            )
        raise GatewayError(
            502,
            "BAD_GATEWAY",
            f"{invocation.function} failed ({invocation.error_type}); its log has the details",
            "Backend Service Failed",
        )
    try:
        status, headers, body = parse_envelope(invocation.payload)
    except ValueError as e:
        raise GatewayError(
            502,
            "BAD_GATEWAY",
            f"{invocation.function} returned an invalid API Gateway response: {e}",
            "Invalid Backend Response",
        ) from None
    return Response(status, body, headers)


def parse_envelope(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an API Gateway response envelope; ValueError says what is off."""
    try:
        envelope = json.loads(payload)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(envelope, dict):
        raise ValueError("not a JSON object")
    status = envelope.get("statusCode")
    if type(status) is not int or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    headers = envelope.get("headers") or {}
    body = envelope.get("body") or ""
    if not isinstance(headers, dict) or not isinstance(body, str):
        raise ValueError("headers must be an object and body a string")
    if envelope.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("isBase64Encoded is set but body is not base64") from None
    else:
        data = body.encode("utf-8")
    if len(data) > MAX_RESPONSE_BODY:
        raise ValueError(f"body of {len(data)} bytes is over API Gateway's 6 MB")
    return status, [(str(k), str(v)) for k, v in headers.items()], data


def error_response(error: GatewayError, request_id: str) -> Response:
    body = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
    headers = [("X-Ca-Error-Message", error.gateway_message), *error.headers.items()]
    return json_response(error.status, body, headers)


class Gateway:
    """Serves template.yml's API through `invoke(function, event_bytes, request_id)`."""

    def __init__(
        self,
        routes: list[Route],
        invoke: Callable[[str, bytes, str], Invocation],
        app_key: str,
        log: Callable[[str, Invocation | None], None] | None = None,
        throttle: Any = None,
    ) -> None:
        self.table = RouteTable(routes)
        self.invoke = invoke
        self.app_key = app_key
        self.log = log or (lambda line, invocation: None)
        # localdev.throttle.Throttle (frontdoor.yml's quotas and Apps), or None: no throttling.
        self.throttle = throttle

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request; never raises."""
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        invocation: Invocation | None = None
        target = "-"
        logged_path = loggable_path(request.path, None)
        try:
            if len(request.body) > MAX_REQUEST_BODY:
                raise GatewayError(
                    413,
                    "PAYLOAD_TOO_LARGE",
                    f"request body of {len(request.body)} bytes is over API Gateway's 8 MB",
                    "Request Body Too Large",
                )
            route, params = self.table.match(request.method, request.path)
            logged_path = loggable_path(request.path, params)
            target = route.function
            self._authorize(route, request)
            if self.throttle is not None:
                self.throttle.check(route, request.header(APP_KEY_HEADER), request.client)
            event = build_event(request, route, params, request_id)
            invocation = self.invoke(route.function, json.dumps(event).encode(), request_id)
            response = render(invocation)
        except GatewayError as e:
            response = error_response(e, request_id)
        response.headers.append((REQUEST_ID_HEADER, request_id))
        ms = (time.monotonic() - started) * 1000
        cold = ""
        if invocation is not None and invocation.init_duration_ms is not None:
            cold = f", cold start {invocation.init_duration_ms:.0f} ms"
        self.log(
            f"{loggable(request.method, LOGGED_METHOD_MAX)} {logged_path} -> {target} "
            f"{response.status} {ms:.1f} ms{cold} [{request_id}]",
            invocation,
        )
        return response

    def _authorize(self, route: Route, request: Request) -> None:
        if route.auth_type.upper() == "ANONYMOUS":
            return
        given = request.header(APP_KEY_HEADER)
        scheme, _, code = request.header("Authorization").strip().partition(" ")
        if not given and scheme.upper() == APPCODE_SCHEME and code.strip():
            given = code.strip()
        if not given:
            raise GatewayError(
                401,
                "UNAUTHORIZED",
                f"{route.method} {route.path} is an admin route ({route.auth_type} auth): send "
                f"the local app key in the {APP_KEY_HEADER} header (make run prints it)",
                "Empty AppKey",
            )
        keys = [self.app_key, *(self.throttle.app_keys if self.throttle is not None else ())]
        if not any(hmac.compare_digest(given.encode(), key.encode()) for key in keys):
            raise GatewayError(
                401,
                "UNAUTHORIZED",
                f"{APP_KEY_HEADER} is not the local app key (make run prints it)",
                "Invalid AppKey",
            )
