"""FC 3.0's InvokeFunction, locally: what tools/fc3_client.py (the smoke test) sends.

    POST /2023-03-30/functions/{functionName}/invocations

Function names are s.yaml's `functionName`s (`fc-codes-gen_code`...), served by the local
function of the same s.yaml resource key. Requests must carry Alibaba Cloud's V3 signature
(`ACS3-HMAC-SHA256`) made with the local access key, over at least `host`, `x-acs-date`,
`x-acs-signature-nonce` and `x-acs-content-sha256` (which must be the body's sha256). As
Alibaba Cloud's API gateway does for the V3 signature, the `x-acs-date` must be UTC in
`yyyy-MM-ddTHH:mm:ssZ` within 15 minutes of the local clock, and a signature nonce is accepted
once: a signed request replayed, even within the window, is refused. Errors are JSON
`{"Code", "Message", "RequestId"}` with FC's status; a function that raises is a 200 with
`X-Fc-Error-Type`, as FC reports it. `x-fc-invocation-type: Async` answers 202 at once and queues
the call in the FC API's asynchronous queue (`localdev.asyncq`: FC's retry policy), which is how
an s.yaml deployment's functions queue the worker of a big batch (`fccodes.fcinvoke`).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from localdev.asyncq import AsyncQueue
from localdev.instances import Invocation, Stopped
from localdev.web import (
    LOGGED_METHOD_MAX,
    LOGGED_PATH_MAX,
    Request,
    Response,
    json_response,
    loggable,
)
from tools.fc3_client import ALGORITHM, API_VERSION, canonical_request, signature
from tools.templates import load_s_yaml

PREFIX = f"/{API_VERSION}/"
INVOKE_RE = re.compile(rf"^/{API_VERSION}/functions/([^/]+)/invocations$")
REQUIRED_SIGNED = {"host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
MAX_ASYNC_PAYLOAD = 128 * 1024
AUTH_RE = re.compile(
    rf"^{ALGORITHM} Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)$"
)
# x-acs-date: ISO 8601 in UTC to the second, nothing else (fractions are refused too).
DATE_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$")
MAX_CLOCK_SKEW_S = 15 * 60  # the gateway refuses an x-acs-date further from its clock
MAX_NONCES = 200_000  # nonces remembered at once (the oldest go first beyond that)
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class FC3Error(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def acs_date(text: str) -> float:
    """The epoch seconds of an `x-acs-date`; FC3Error if it is not `yyyy-MM-ddTHH:mm:ssZ`."""
    match = DATE_RE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        parts = [int(part) for part in match.groups()]
        if not (1 <= parts[1] <= 12 and 1 <= parts[2] <= 31 and parts[3] < 24):
            raise ValueError(text)
        if parts[4] > 59 or parts[5] > 59:
            raise ValueError(text)
        return float(calendar.timegm((*parts, 0, 0, 0)))
    except (ValueError, OverflowError):
        raise FC3Error(
            400,
            "InvalidTimeStamp.Format",
            f"Specified time stamp or date value is not well formatted: x-acs-date {text!r}"
            " (expected UTC as yyyy-MM-ddTHH:mm:ssZ)",
        ) from None


class Nonces:
    """Signature nonces seen, each kept until its request's x-acs-date leaves the window (a
    replay after that is refused for its date); thread-safe."""

    def __init__(self, limit: int = MAX_NONCES) -> None:
        self.limit = limit
        self._until: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._until)

    def first_use(self, key_id: str, nonce: str, signed_at: float, now: float) -> bool:
        """Record the nonce; False if it was used already within the window."""
        with self._lock:
            until = self._until
            while until:  # expired ones first (roughly in arrival order)
                oldest, expiry = next(iter(until.items()))
                if expiry > now and len(until) < self.limit:
                    break
                del until[oldest]
            seen = until.get((key_id, nonce))
            if seen is not None and seen > now:
                return False
            until[(key_id, nonce)] = signed_at + MAX_CLOCK_SKEW_S
            return True


def function_names(s_yaml: Path, known: set[str]) -> dict[str, str]:
    """s.yaml's functionName -> the local function (its resource key) for those served here."""
    _, resources = load_s_yaml(s_yaml)
    return {str(r.props.get("functionName")): key for key, r in resources.items() if key in known}


class FC3Api:
    """Serves InvokeFunction of FC 3.0 through `invoke(function, payload, request_id)`."""

    def __init__(
        self,
        names: dict[str, str],
        invoke: Callable[[str, bytes, str], Invocation],
        access_key_id: str,
        access_key_secret: str,
        log: Callable[[str, Invocation | None], None] | None = None,
        queue: AsyncQueue | None = None,
    ) -> None:
        self.queue = queue  # asynchronous invocations (none: refused)
        self.names = names
        self.invoke = invoke
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.log = log or (lambda line, invocation: None)
        self.nonces = Nonces()

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises."""
        request_id = str(uuid.uuid4())
        path = unquote(request.path)
        invocation = None
        target = "-"
        try:
            self._authenticate(request, path)
            match = INVOKE_RE.match(path)
            if match is None or request.method != "POST":
                raise FC3Error(400, "PathNotSupported", f"{request.method} {path} is not supported")
            if match.group(1) not in self.names:
                raise FC3Error(
                    404, "FunctionNotFound", f"function '{match.group(1)}' does not exist"
                )
            kind = request.header("x-fc-invocation-type").lower()
            if kind not in ("", "sync", "async") or (kind == "async" and self.queue is None):
                raise FC3Error(400, "PathNotSupported", f"invocation type {kind!r} is not served")
            target = self.names[match.group(1)]
            if kind == "async":
                response = self._in_background(target, request.body, request_id)
            else:
                invocation = self.invoke(target, request.body, request_id)
                headers = [("Content-Type", "application/octet-stream")]
                if invocation.error_type:
                    headers.append(("X-Fc-Error-Type", invocation.error_type))
                response = Response(200, invocation.payload, headers)
        except FC3Error as e:
            body = {"Code": e.code, "Message": e.message, "RequestId": request_id}
            response = json_response(e.status, body)
        response.headers.append(("X-Fc-Request-Id", request_id))
        method = loggable(request.method, LOGGED_METHOD_MAX)
        logged_path = loggable(path, LOGGED_PATH_MAX)  # decoded: %0A must not forge a log line
        self.log(f"FC 3.0 API {method} {logged_path} -> {target} {response.status}", invocation)
        return response

    def _in_background(self, target: str, payload: bytes, request_id: str) -> Response:
        assert self.queue is not None
        if len(payload) > MAX_ASYNC_PAYLOAD:
            raise FC3Error(
                400, "EntityTooLarge", f"payload exceeds the async limit of {MAX_ASYNC_PAYLOAD}"
            )
        try:
            self.queue.submit(target, payload, request_id)
        except Stopped:
            raise FC3Error(503, "ServiceUnavailable", "the local stack is stopping") from None
        return Response(202)

    def _authenticate(self, request: Request, path: str) -> None:
        match = AUTH_RE.match(request.header("authorization"))
        if not match:
            raise FC3Error(
                403, "SignatureNotMatch", "missing or malformed ACS3-HMAC-SHA256 Authorization"
            )
        key_id, signed, given = match.groups()
        if key_id != self.access_key_id:
            raise FC3Error(403, "InvalidAccessKeyId.NotFound", f"invalid access key ID '{key_id}'")
        names = signed.split(";")
        missing = sorted(REQUIRED_SIGNED - set(names))
        if missing:
            raise FC3Error(403, "SignatureNotMatch", f"headers not signed: {missing}")
        now = time.time()
        date = request.header("x-acs-date")
        signed_at = acs_date(date)
        if abs(now - signed_at) > MAX_CLOCK_SKEW_S:
            raise FC3Error(
                400,
                "InvalidTimeStamp.Expired",
                f"Specified time stamp or date value is expired: x-acs-date {date} is more than"
                f" 15 minutes from the current time {time.strftime(ISO_UTC, time.gmtime(now))}",
            )
        if request.header("x-acs-content-sha256") != hashlib.sha256(request.body).hexdigest():
            raise FC3Error(400, "ContentSha256Mismatch", "x-acs-content-sha256 is not the body's")
        headers = {name: request.header(name) for name in names}
        canonical, _ = canonical_request(request.method, path, {}, headers, request.body)
        if not hmac.compare_digest(given, signature(self.access_key_secret, canonical)):
            raise FC3Error(403, "SignatureNotMatch", "the request signature does not match")
        # Only a request the key holder signed uses a nonce up: a forged one cannot spend it.
        nonce = request.header("x-acs-signature-nonce")
        if not nonce:
            raise FC3Error(400, "MissingParameter", "x-acs-signature-nonce is empty")
        if not self.nonces.first_use(key_id, nonce, signed_at, now):
            raise FC3Error(
                400,
                "SignatureNonceUsed",
                f"Specified signature nonce was used already: {nonce!r} (a replayed request)",
            )
