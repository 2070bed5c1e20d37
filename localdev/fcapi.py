"""The Function Compute invoke API, locally: what `aliyun-fc2`'s `Client.invoke_function` sends.

    POST /2016-08-15/services/{service}[.{qualifier}]/functions/{function}/invocations

Requests are checked the way FC checks them: `Authorization: FC <key id>:<signature>`, the
signature an HMAC-SHA256 (base64) with the local secret over

    METHOD \\n Content-MD5 \\n Content-Type \\n Date \\n <x-fc-* headers, sorted, "k:v\\n"> <path>

where the path is the unescaped request path. As on FC, the `Date` must be within 15 minutes of
the server's clock (a replayed or pre-signed request is refused), and a `Content-MD5`, which the
signature covers, must be the MD5 of the body (so a signed request cannot carry another body).
Errors have FC's status and JSON body
`{"ErrorCode", "ErrorMessage"}` with the request id in `X-Fc-Request-Id`. A function that raises
or times out is a 200 with `X-Fc-Error-Type` and FC's error body (errorMessage, errorType,
stackTrace), as FC reports it. `X-Fc-Invocation-Type: Async` answers 202 at once and queues the
call, retried on failure as FC does (`localdev.asyncq`); `X-Fc-Log-Type: Tail` returns the last
4 KB of the call's log, base64, in `X-Fc-Log-Result`. Only InvokeFunction exists here: any
other API path is PathNotSupported.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote

from localdev.asyncq import FIRST_DELAY_S, AsyncQueue
from localdev.instances import Invocation, Stopped
from localdev.project import Project
from localdev.web import (
    LOGGED_METHOD_MAX,
    LOGGED_PATH_MAX,
    Request,
    Response,
    json_response,
    loggable,
)

API_VERSION = "2016-08-15"
PREFIX = f"/{API_VERSION}/"
INVOKE_RE = re.compile(rf"^/{API_VERSION}/services/([^/]+)/functions/([^/]+)/invocations$")
MAX_SYNC_PAYLOAD = 32 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 128 * 1024
LOG_TAIL_BYTES = 4096
MAX_CLOCK_SKEW_S = 15 * 60  # FC refuses a Date further than 15 minutes from its own clock


class FCError(Exception):
    """An FC API error: HTTP status, ErrorCode, ErrorMessage."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def string_to_sign(request: Request, path: str) -> str:
    """What the client signed (fc2.auth.Auth.sign_request, for a request without queries)."""
    fc_headers = sorted(
        (key.lower(), value) for key, value in request.headers if key.lower().startswith("x-fc-")
    )
    canonical = "".join(f"{key}:{value}\n" for key, value in fc_headers)
    return "\n".join(
        [
            request.method.upper(),
            request.header("content-md5"),
            request.header("content-type"),
            request.header("date"),
            canonical + path,
        ]
    )


def check_date(date: str, now: float) -> None:
    """FCError unless `date` is an HTTP date within MAX_CLOCK_SKEW_S of `now` (epoch seconds)."""
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None or when.tzinfo is None:
        raise FCError(
            400,
            "InvalidArgument",
            f"the Date header {date!r} is not an HTTP date in GMT "
            "(like 'Mon, 02 Jan 2006 15:04:05 GMT')",
        )
    if abs(when.timestamp() - now) > MAX_CLOCK_SKEW_S:
        current = format_datetime(datetime.fromtimestamp(now, timezone.utc), usegmt=True)
        raise FCError(
            403,
            "RequestTimeTooSkewed",
            f"the difference between the request time '{date}' and the current time "
            f"'{current}' is too large",
        )


def check_content_md5(given: str, body: bytes) -> None:
    """FCError unless `given` (when sent) is the body's MD5, base64-encoded.

    Two encodings are in use: RFC 1864's base64 of the 16-byte digest, and base64 of the
    32-character hex digest, which FC's Node.js SDK (`@alicloud/fc2`) sends.
    """
    if not given:
        return
    digest = hashlib.md5(body)  # noqa: S324 (an integrity check of the wire format, not security)
    rfc1864 = base64.b64encode(digest.digest()).decode("ascii")
    node_sdk = base64.b64encode(digest.hexdigest().encode("ascii")).decode("ascii")
    if given.strip() not in (rfc1864, node_sdk):
        raise FCError(
            400,
            "InvalidArgument",
            f"Content-MD5 {given!r} is not the MD5 of the request body (expected {rfc1864!r})",
        )


def signature(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FCApi:
    """Answers the invoke API for the functions of `project`."""

    def __init__(
        self,
        project: Project,
        invoke: Callable[[str, bytes, str], Invocation],
        access_key_id: str,
        access_key_secret: str,
        log: Callable[[str, Invocation | None], None] | None = None,
        async_retry_delay: float | None = None,
    ) -> None:
        self.project = project
        self.invoke = invoke
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.log = log or (lambda line, invocation: None)
        # Asynchronous invocations: FC's queue and retry policy (localdev/asyncq.py).
        self.queue = AsyncQueue(
            invoke,
            self.log,
            first_delay=FIRST_DELAY_S if async_retry_delay is None else async_retry_delay,
        )

    def handle(self, request: Request) -> Response:
        """Answer one request to the FC API; never raises."""
        request_id = str(uuid.uuid4())
        path = unquote(request.path)
        target = "-"
        invocation = None
        try:
            match = INVOKE_RE.match(path)
            if match is None or request.method != "POST":
                raise FCError(
                    400, "PathNotSupported", f"'{request.method}' against '{path}' is not supported"
                )
            self._authenticate(request, path)
            target = self._function(match.group(1), match.group(2))
            response, invocation = self._invoke(request, target, request_id)
        except FCError as e:
            response = json_response(e.status, {"ErrorCode": e.code, "ErrorMessage": e.message})
        response.headers.append(("X-Fc-Request-Id", request_id))
        error = response.header("X-Fc-Error-Type")
        self.log(
            f"FC API {loggable(request.method, LOGGED_METHOD_MAX)} "
            f"{loggable(path, LOGGED_PATH_MAX)} -> {target} {response.status}"
            + (f" {error}" if error else "")
            + f" [{request_id}]",
            invocation,
        )
        return response

    def _authenticate(self, request: Request, path: str) -> None:
        for name in ("authorization", "date"):
            if not request.header(name):
                raise FCError(
                    400, "MissingRequiredHeader", f"required HTTP header {name} was not specified"
                )
        check_date(request.header("date"), time.time())
        scheme, _, credential = request.header("authorization").partition(" ")
        key_id, _, given = credential.rpartition(":")
        if scheme != "FC" or not key_id or not given:
            raise FCError(403, "SignatureNotMatch", SIGNATURE_MISMATCH)
        if key_id != self.access_key_id:
            raise FCError(403, "InvalidAccessKeyID", f"invalid access key ID '{key_id}'")
        expected = signature(self.access_key_secret, string_to_sign(request, path))
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise FCError(403, "SignatureNotMatch", SIGNATURE_MISMATCH)
        check_content_md5(request.header("content-md5"), request.body)

    def _function(self, service_part: str, function: str) -> str:
        service, _, qualifier = service_part.partition(".")
        if service != self.project.service:
            raise FCError(404, "ServiceNotFound", f"service '{service}' does not exist")
        if qualifier and qualifier != "LATEST":
            if qualifier.isdigit():
                raise FCError(
                    404,
                    "VersionNotFound",
                    f"version '{qualifier}' of service '{service}' does not exist",
                )
            raise FCError(
                404, "AliasNotFound", f"alias '{qualifier}' of service '{service}' does not exist"
            )
        if function not in self.project.functions:
            raise FCError(404, "FunctionNotFound", f"function '{function}' does not exist")
        return function

    def _invoke(
        self, request: Request, function: str, request_id: str
    ) -> tuple[Response, Invocation | None]:
        asynchronous = request.header("x-fc-invocation-type").lower() == "async"
        limit = MAX_ASYNC_PAYLOAD if asynchronous else MAX_SYNC_PAYLOAD
        if len(request.body) > limit:
            raise FCError(
                400,
                "EntityTooLarge",
                f"payload size exceeds maximum allowed size ({limit} bytes)",
            )
        if asynchronous:
            self._in_background(function, request.body, request_id)
            return Response(202), None
        invocation = self.invoke(function, request.body, request_id)
        headers = [
            ("Content-Type", "application/octet-stream"),
            ("X-Fc-Invocation-Duration", str(round(invocation.duration_ms))),
            ("X-Fc-Max-Memory-Usage", f"{invocation.memory_mb:.2f}"),
            ("X-Fc-Invocation-Service-Version", "LATEST"),
        ]
        if invocation.error_type:
            headers.append(("X-Fc-Error-Type", invocation.error_type))
        if request.header("x-fc-log-type").lower() == "tail":
            tail = invocation.logs.encode("utf-8")[-LOG_TAIL_BYTES:]
            headers.append(("X-Fc-Log-Result", base64.b64encode(tail).decode("ascii")))
        return Response(200, invocation.payload, headers), invocation

    def _in_background(self, function: str, payload: bytes, request_id: str) -> None:
        try:
            self.queue.submit(function, payload, request_id)
        except Stopped:
            raise FCError(503, "ServiceUnavailable", "the local stack is stopping") from None

    def wait_background(self, timeout: float) -> None:
        """Let asynchronous calls queued or in flight finish (up to `timeout` seconds in all),
        then drop the rest (logged)."""
        self.queue.stop(timeout)


SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your access key and signing method"
)
