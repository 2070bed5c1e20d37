"""A minimal API Gateway client: HTTPS calls signed with an App's AppKey and AppSecret.

API Gateway's digest authentication ("APP" auth type): the client sends `X-Ca-Key` and
`X-Ca-Signature`, the Base64 HMAC-SHA256 of

    METHOD \\n Accept \\n Content-MD5 \\n Content-Type \\n Date \\n
    <each signed header as `name:value\\n`, names sorted> <path>[?<sorted query parameters>]

under the AppSecret, listing the signed headers in `X-Ca-Signature-Headers` (X-Ca-Key,
X-Ca-Nonce, X-Ca-Signature-Method, X-Ca-Timestamp here). Content-MD5 is the Base64 MD5 of a
body that is not a form. The timestamp is valid 15 minutes and the nonce makes a replay fail.
"""

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

SIGNED_HEADERS = ("X-Ca-Key", "X-Ca-Nonce", "X-Ca-Signature-Method", "X-Ca-Timestamp")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers (lower-case names), the JSON body or None, duration."""

    status: int
    headers: dict[str, str]
    body: Any
    ms: float

    def error_code(self) -> str | None:
        """The product's error code (`{"error": {"code": ...}}`), if the body is one."""
        err = self.body.get("error") if isinstance(self.body, dict) else None
        return err.get("code") if isinstance(err, dict) else None


def string_to_sign(
    method: str, path: str, query: dict[str, str], headers: dict[str, str], signed: tuple[str, ...]
) -> str:
    """API Gateway's string to sign for these request parts."""
    lines = [
        method.upper(),
        headers.get("Accept", ""),
        headers.get("Content-MD5", ""),
        headers.get("Content-Type", ""),
        headers.get("Date", ""),
    ]
    signed_part = "".join(f"{name}:{headers.get(name, '')}\n" for name in sorted(signed))
    url = path
    if query:
        url += "?" + "&".join(f"{k}={v}" if v != "" else k for k, v in sorted(query.items()))
    return "\n".join(lines) + "\n" + signed_part + url


def sign(
    method: str,
    path: str,
    body: bytes,
    app_key: str,
    app_secret: str,
    headers: dict[str, str],
    query: dict[str, str] | None = None,
    now_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """`headers` plus the signature headers for an App-signed call."""
    out = dict(headers)
    out.update(
        {
            "X-Ca-Key": app_key,
            "X-Ca-Nonce": nonce or str(uuid.uuid4()),
            "X-Ca-Signature-Method": "HmacSHA256",
            "X-Ca-Timestamp": str(now_ms if now_ms is not None else int(time.time() * 1000)),
            "X-Ca-Signature-Headers": ",".join(SIGNED_HEADERS),
        }
    )
    if body:
        out["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 (the protocol's choice)
    text = string_to_sign(method, path, query or {}, out, SIGNED_HEADERS)
    digest = hmac.new(app_secret.encode(), text.encode(), hashlib.sha256).digest()
    out["X-Ca-Signature"] = base64.b64encode(digest).decode()
    return out


class GatewayClient:
    """Calls the routes of an API group; `app_key`/`app_secret` sign the calls that ask for it."""

    def __init__(self, base_url: str, app_key: str, app_secret: str, timeout_s: float = 40.0):
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self.app_secret = app_secret
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"GatewayClient({self.base_url!r}, keys=<hidden>)"

    def call(self, method: str, path: str, params: Any = None, signed: bool = False) -> Answer:
        """One call; never raises for an HTTP status (network errors do raise OSError)."""
        body = b"" if params is None else json.dumps(params).encode()
        headers = {"Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        quoted = urllib.parse.quote(path)
        if signed:
            headers = sign(method, quoted, body, self.app_key, self.app_secret, headers)
        request = urllib.request.Request(  # noqa: S310 (an https URL the operator gave)
            self.base_url + quoted, data=body or None, headers=headers, method=method
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:  # noqa: S310
                status, raw, got = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, raw, got = e.code, e.read(), e.headers
        ms = (time.monotonic() - started) * 1000
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return Answer(status, {k.lower(): v for k, v in got.items()}, parsed, ms)
