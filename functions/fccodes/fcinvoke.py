"""Asynchronous invocations of a function through Function Compute's invoke API (stdlib only).

Two APIs, by how the function is named (the GEN_WORKER setting):

- `service/function`, FC 2.0 (template.yml): what `aliyun-fc2`'s `Client.invoke_function(...,
  headers={"x-fc-invocation-type": "Async"})` sends, without the package (FC's python3 runtime
  has no pip at run time, and one request needs no SDK):
  `POST /2016-08-15/services/{service}/functions/{function}/invocations`, signed with
  `Authorization: FC <key id>:<base64 HMAC-SHA256>` over the method, Content-MD5, Content-Type,
  Date, the sorted `x-fc-*` headers and the path.
- `function`, FC 3.0 (s.yaml: its functions belong to no service):
  `POST /2023-03-30/functions/{function}/invocations` with `x-fc-invocation-type: Async`,
  signed with Alibaba Cloud's V3 signature (`ACS3-HMAC-SHA256`, as tools/fc3_client.py does).

FC answers 202 with `X-Fc-Request-Id` and queues the event; its retry policy then runs it until
it succeeds (or gives up after 3 retries).

The endpoint is the `INVOKE_ENDPOINT` setting, else the account's endpoint in the function's
region on the internal network (`https://<account>.<region>-internal.fc.aliyuncs.com`). The
local stack sets `INVOKE_ENDPOINT` to its own FC API (docs/localdev.md).
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from email.utils import formatdate
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen

from .errors import StoreUnavailable

API_VERSION = "2016-08-15"
API_VERSION_3 = "2023-03-30"
ALGORITHM_3 = "ACS3-HMAC-SHA256"
TIMEOUT = 10.0  # seconds for FC to accept one invocation


class InvokeFailed(StoreUnavailable):
    """FC did not accept an asynchronous invocation (retryable, like a store failure, unless FC
    refused the request itself)."""

    code = "WORKER_UNAVAILABLE"
    default_message = (
        "asynchronous generation could not be started (Function Compute did not accept the "
        "worker's invocation); retry later"
    )

    def headers(self):
        return {"Retry-After": "1"} if self.retryable else {}


class Dispatcher(object):
    """Queues events for one function (`fccodes.asyncgen.Dispatcher`): `target` is
    `service/function` (FC 2.0's API) or `function` (FC 3.0's)."""

    def __init__(self, endpoint, credentials, target, opener=None):
        self.endpoint = endpoint
        self.credentials = credentials
        self.target = target
        self.opener = opener or urlopen

    def send(self, event):
        service, _, function = self.target.rpartition("/")
        if service:
            return invoke_async(
                self.endpoint, self.credentials, service, function, event, self.opener
            )
        return invoke_async_v3(self.endpoint, self.credentials, function, event, self.opener)


def endpoint_for(setting, account_id, region):
    """The FC API endpoint: the setting if given, else the account's internal one."""
    if setting:
        return setting.rstrip("/")
    if not account_id or not region:
        raise InvokeFailed(
            "cannot reach Function Compute: set INVOKE_ENDPOINT (the context names no "
            "account or region)",
            reason="no FC endpoint",
            retryable=False,
        )
    return "https://%s.%s-internal.fc.aliyuncs.com" % (account_id, region)


def sign(secret, method, content_md5, content_type, date, fc_headers, path):
    """FC's signature: base64(HMAC-SHA256(secret, string to sign))."""
    canonical = "".join(
        "%s:%s\n" % (k, v) for k, v in sorted((k.lower(), v) for k, v in fc_headers.items())
    )
    text = "\n".join([method, content_md5, content_type, date, canonical + path])
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v3(secret, method, path, headers, body):
    """(signed header names, signature) of Alibaba Cloud's V3 signature; `headers` lower-case.

    canonical request = METHOD, URI, (no query), `name:value` per signed header, their names
    `;`-joined, hex sha256 of the body; the signature is the hex HMAC-SHA256 of
    "ACS3-HMAC-SHA256\n" + hex sha256 of the canonical request.
    """
    signed = sorted(h for h in headers if h in ("host", "content-type") or h.startswith("x-acs-"))
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/-_.~"),
            "",
            "".join("%s:%s\n" % (h, headers[h].strip()) for h in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    text = ALGORITHM_3 + "\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return ";".join(signed), digest


def invoke_async_v3(endpoint, credentials, function, event, opener=urlopen):
    """Queue one asynchronous invocation of the FC 3.0 function `function`; as invoke_async."""
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    path = "/%s/functions/%s/invocations" % (API_VERSION_3, function)
    _check_scheme(endpoint)
    headers = {
        "host": endpoint.split("://", 1)[1].split("/", 1)[0],
        "content-type": "application/octet-stream",
        "x-acs-action": "InvokeFunction",
        "x-acs-version": API_VERSION_3,
        "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        "x-fc-invocation-type": "Async",
    }
    if credentials.security_token:
        headers["x-acs-security-token"] = credentials.security_token
    names, signature = sign_v3(credentials.access_key_secret, "POST", path, headers, body)
    headers["authorization"] = "%s Credential=%s,SignedHeaders=%s,Signature=%s" % (
        ALGORITHM_3,
        credentials.access_key_id,
        names,
        signature,
    )
    # The scheme is checked above: no file:// or custom scheme reaches urlopen.
    request = Request(endpoint + quote(path), data=body, headers=headers, method="POST")  # noqa: S310
    return _send(request, function, opener)


def _check_scheme(endpoint):
    if not endpoint.startswith(("http://", "https://")):
        raise InvokeFailed(
            "INVOKE_ENDPOINT must start with http:// or https://",
            reason="bad FC endpoint",
            retryable=False,
        )


def invoke_async(endpoint, credentials, service, function, event, opener=urlopen):
    """Queue one asynchronous invocation of `service`/`function` with `event` (JSON-able).

    Returns FC's request id. Raises InvokeFailed when FC does not accept it (retryable unless
    FC refused the request itself: bad credentials, no such function).
    """
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    path = "/%s/services/%s/functions/%s/invocations" % (API_VERSION, service, function)
    date = formatdate(time.time(), usegmt=True)
    content_type = "application/octet-stream"
    content_md5 = base64.b64encode(hashlib.md5(body).digest()).decode("ascii")  # noqa: S324
    fc_headers = {"x-fc-invocation-type": "Async"}
    if credentials.security_token:
        fc_headers["x-fc-security-token"] = credentials.security_token
    signature = sign(
        credentials.access_key_secret, "POST", content_md5, content_type, date, fc_headers, path
    )
    headers = {
        "Content-Type": content_type,
        "Content-MD5": content_md5,
        "Date": date,
        "Authorization": "FC %s:%s" % (credentials.access_key_id, signature),
    }
    headers.update(fc_headers)
    _check_scheme(endpoint)
    # The scheme is checked above: no file:// or custom scheme reaches urlopen.
    request = Request(endpoint + quote(path), data=body, headers=headers, method="POST")  # noqa: S310
    return _send(request, function, opener)


def _send(request, function, opener):
    """Send a signed invocation; FC's request id, or InvokeFailed."""
    try:
        with opener(request, timeout=TIMEOUT) as response:
            status = response.status
            request_id = response.headers.get("X-Fc-Request-Id", "")
    except HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise InvokeFailed(
            "Function Compute refused an asynchronous invocation of %s" % function,
            reason="FC %d: %s" % (exc.code, detail),
            retryable=exc.code >= 500 or exc.code == 429,
        ) from None
    except (URLError, OSError) as exc:
        raise InvokeFailed(
            "Function Compute did not accept an asynchronous invocation of %s" % function,
            reason="%s: %s" % (type(exc).__name__, exc),
            maybe_applied=True,
        ) from None
    if status != 202:
        raise InvokeFailed(
            "Function Compute answered %d to an asynchronous invocation" % status,
            reason="FC %d" % status,
        )
    return request_id
