"""Request authentication and response signing, as the Tablestore SDK does them.

Request (V2, the SDK default)::

    string_to_sign = "/" + api + "\\nPOST\\n\\n" + canonical_headers + "\\n"
    x-ots-signature = base64(HMAC-SHA1(secret, string_to_sign))

where `canonical_headers` joins the sorted `name:value` of every `x-ots-*` header except the
signature itself. V4 (`OTSClient(..., region=...)`) derives a key from the secret, sign date
and region with HMAC-SHA256 and signs `string_to_sign + "ots"` with it. The response is always
signed with HMAC-SHA1 and the same key (V2: the secret; V4: the derived key, base64 text)::

    authorization: OTS <access key id>:base64(HMAC-SHA1(key, canonical_headers + "\\n/" + api))
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import re
import time
from functools import lru_cache

from .errors import AuthFailed, ParameterInvalid
from .limits import MAX_CLOCK_SKEW_S

_SIGNATURE_HEADERS = ("x-ots-signature", "x-ots-signaturev4")
_REQUIRED = (
    "x-ots-date",
    "x-ots-apiversion",
    "x-ots-accesskeyid",
    "x-ots-instancename",
    "x-ots-contentmd5",
)
_DATE_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z\Z")


def canonical_headers(headers: dict[str, str]) -> str:
    """The sorted `name:value` lines of the `x-ots-*` headers, signatures excluded."""
    lines = [
        f"{name}:{value.strip()}"
        for name, value in headers.items()
        if name[:6] == "x-ots-" and name not in _SIGNATURE_HEADERS
    ]
    lines.sort()
    return "\n".join(lines)


class KeyedHmac:
    """HMAC (RFC 2104) under one key, with its two padded keys hashed once: a message then
    costs two copies of a hash state (the `hmac` module's objects cost twice that, in Python
    frames, and every request signs twice)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, digest: str) -> None:
        block_size = hashlib.new(digest).block_size
        if len(key) > block_size:
            key = hashlib.new(digest, key).digest()
        key = key.ljust(block_size, b"\0")
        self._inner = hashlib.new(digest, bytes(byte ^ 0x36 for byte in key))
        self._outer = hashlib.new(digest, bytes(byte ^ 0x5C for byte in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@lru_cache(maxsize=64)
def _keyed(key: bytes, digest: str) -> KeyedHmac:
    return KeyedHmac(key, digest)


def _b64(digest: bytes) -> str:
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def _b64_hmac(key: bytes, message: str, digest: str) -> str:
    return _b64(_keyed(key, digest).digest(message.encode()))


@lru_cache(maxsize=64)
def v4_signing_key(secret: str, sign_date: str, region: str) -> bytes:
    """The V4 derived key: base64 text of a chain of HMAC-SHA256 over date, region, product."""
    key = ("aliyun_v4" + secret).encode()
    for part in (sign_date, region, "ots", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), "sha256").digest()
    return base64.b64encode(key)


@lru_cache(maxsize=16)
def _parse_date(text: str) -> float | None:
    match = _DATE_RE.match(text)
    if match is None:
        return None
    try:
        return float(calendar.timegm((*(int(part) for part in match.groups()), 0, 0, 0)))
    except ValueError:
        return None


class Authenticator:
    """Checks requests against one access key and instance; signs responses."""

    def __init__(self, access_key_id: str, access_key_secret: str, instance: str) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.instance = instance

    def verify(self, api: str, headers: dict[str, str], body: bytes) -> bytes:
        """Check one request; returns the key to sign the response with.

        Raises ParameterInvalid for a missing header or bad date format, AuthFailed otherwise.
        """
        for name in _REQUIRED:
            if name not in headers:
                raise ParameterInvalid(f"Missing header: {name}.")
        date = headers["x-ots-date"]
        sent_at = _parse_date(date)
        if sent_at is None:
            raise ParameterInvalid(f"Invalid date format: {date}.")
        if headers["x-ots-instancename"] != self.instance:
            raise AuthFailed("The instance is not found.")
        if headers["x-ots-accesskeyid"] != self.access_key_id:
            raise AuthFailed("The AccessKeyID does not exist.")
        if abs(time.time() - sent_at) > MAX_CLOCK_SKEW_S:
            raise AuthFailed(f"Mismatch between system time and x-ots-date: {date}.")
        md5 = _b64(hashlib.md5(body).digest())  # noqa: S324 (the protocol's)
        if headers["x-ots-contentmd5"] != md5:
            raise AuthFailed(
                "Mismatch between MD5 value of request body and x-ots-contentmd5 in header."
            )
        string_to_sign = f"/{api}\nPOST\n\n{canonical_headers(headers)}\n"
        if "x-ots-signaturev4" in headers:
            sign_date = headers.get("x-ots-signdate")
            region = headers.get("x-ots-signregion")
            if not sign_date or not region:
                raise ParameterInvalid(
                    f"Missing header: {'x-ots-signdate' if not sign_date else 'x-ots-signregion'}."
                )
            key = v4_signing_key(self.access_key_secret, sign_date, region)
            expected = _b64_hmac(key, string_to_sign + "ots", "sha256")
            given = headers["x-ots-signaturev4"]
        else:
            if "x-ots-signature" not in headers:
                raise ParameterInvalid("Missing header: x-ots-signature.")
            key = self.access_key_secret.encode()
            expected = _b64_hmac(key, string_to_sign, "sha1")
            given = headers["x-ots-signature"]
        if not hmac.compare_digest(expected, given):
            raise AuthFailed("Signature mismatch.")
        return key

    def authorization(self, api: str, canonical: str, key: bytes) -> str:
        """The `authorization` header value for a response whose `x-ots-*` headers give the
        canonical string `canonical` (see `canonical_headers`)."""
        signature = _b64_hmac(key, canonical + "\n/" + api, "sha1")
        return f"OTS {self.access_key_id}:{signature}"
