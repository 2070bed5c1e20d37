"""A minimal client of Function Compute 3.0's InvokeFunction (API version 2023-03-30).

    POST /2023-03-30/functions/{functionName}/invocations     (x-fc-invocation-type: Sync)

FC 3.0 functions (s.yaml) belong to no service, so FC 2.0's API (aliyun-fc2) cannot address
them. Requests are signed with Alibaba Cloud's V3 signature (`ACS3-HMAC-SHA256`), which every
API of the OpenAPI portal accepts:

    canonical request = METHOD \\n URI \\n sorted query \\n `name:value\\n` per signed header \\n
                        `;`-joined signed header names \\n hex sha256 of the body
    string to sign    = "ACS3-HMAC-SHA256\\n" + hex sha256 of the canonical request
    Authorization     = ACS3-HMAC-SHA256 Credential=<key id>,SignedHeaders=<names>,
                        Signature=<hex HMAC-SHA256 of the string to sign under the secret>

The signed headers are `host`, `content-type` and every `x-acs-*` header (action, version,
date, nonce, content hash, security token). localdev/fc3api.py verifies the same signature, so
the client is proven against the local stack; the real endpoint is
`https://<account>.<region>.fc.aliyuncs.com` unless FC_ENDPOINT says otherwise.
"""

import hashlib
import hmac
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

API_VERSION = "2023-03-30"
ALGORITHM = "ACS3-HMAC-SHA256"


def _encode(value: str, safe: str = "") -> str:
    return urllib.parse.quote(value, safe=safe + "-_.~")


def canonical_request(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
) -> tuple[str, str]:
    """(canonical request, signed header names) for V3 signing. `headers` keys are lower case."""
    signed = sorted(h for h in headers if h in ("host", "content-type") or h.startswith("x-acs-"))
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    lines = [
        method.upper(),
        _encode(path, safe="/"),
        canonical_query,
        "".join(f"{h}:{headers[h].strip()}\n" for h in signed),
        ";".join(signed),
        hashlib.sha256(body).hexdigest(),
    ]
    return "\n".join(lines), ";".join(signed)


def signature(secret: str, canonical: str) -> str:
    text = ALGORITHM + "\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign(
    method: str,
    host: str,
    path: str,
    body: bytes,
    action: str,
    key_id: str,
    secret: str,
    token: str = "",
    headers: dict[str, str] | None = None,
    now: float | None = None,
    nonce: str | None = None,
    date: str | None = None,
) -> dict[str, str]:
    """The request's headers, V3-signed (`headers` may add e.g. x-fc-invocation-type).

    `now` (epoch seconds) dates the request, `date` gives its x-acs-date as is instead, and
    `nonce` its x-acs-signature-nonce: a test's replays and skewed clocks."""
    out = {k.lower(): v for k, v in (headers or {}).items()}
    out.update(
        {
            "host": host,
            "content-type": "application/octet-stream",
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": date or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
        }
    )
    if token:
        out["x-acs-security-token"] = token
    canonical, signed = canonical_request(method, path, {}, out, body)
    out["authorization"] = (
        f"{ALGORITHM} Credential={key_id},SignedHeaders={signed},"
        f"Signature={signature(secret, canonical)}"
    )
    return out


@dataclass(frozen=True)
class Result:
    """An InvokeFunction answer: HTTP status, lower-case headers, body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


class FC3Client:
    """Invokes FC 3.0 functions synchronously. `__repr__` hides the keys."""

    def __init__(self, endpoint: str, key_id: str, secret: str, token: str = "", timeout_s=60):
        self.endpoint = endpoint.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.token = token
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"FC3Client({self.endpoint!r}, keys=<hidden>)"

    def invoke(self, function_name: str, payload: bytes) -> Result:
        """One synchronous invocation; never raises for an HTTP status (OSError on network)."""
        path = f"/{API_VERSION}/functions/{function_name}/invocations"
        host = urllib.parse.urlsplit(self.endpoint).netloc
        headers = sign(
            "POST", host, path, payload, "InvokeFunction", self.key_id, self.secret, self.token,
            headers={"x-fc-invocation-type": "Sync"},
        )  # fmt: skip
        request = urllib.request.Request(  # noqa: S310 (the endpoint the operator gave)
            self.endpoint + _encode(path, safe="/"), data=payload, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:  # noqa: S310
                return Result(
                    resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
                )
        except urllib.error.HTTPError as e:
            return Result(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())
