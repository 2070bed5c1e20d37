"""Assertions shared by the conformance tests."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tablestore import OTSServiceError

from ots_local.control import TOKEN_HEADER


@contextmanager
def ots_error(status: int, code: str, message: str | None = None) -> Iterator[Any]:
    """Expect the block to raise OTSServiceError with this HTTP status, code and message."""
    with pytest.raises(OTSServiceError) as info:
        yield info
    error = info.value
    assert (error.get_http_status(), error.get_error_code()) == (status, code), str(error)
    if message is not None:
        assert error.get_error_message() == message


def columns(row: Any) -> dict[str, Any]:
    """A returned row's attribute columns as {name: value} (latest version only)."""
    result: dict[str, Any] = {}
    for name, value, _ in row.attribute_columns:
        result.setdefault(name, value)
    return result


def content_md5(body: bytes) -> str:
    """The protocol's body checksum (x-ots-contentmd5)."""
    return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 (the protocol's)


def control(
    ots: Any,
    method: str,
    path: str,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, Any]:
    """Call the HTTP control plane as a script does (token, JSON); returns (status, JSON).

    `headers` replace the default ones; `body` (bytes) replaces the JSON payload.
    """
    data = body if body is not None else None if payload is None else json.dumps(payload).encode()
    if headers is None:
        headers = {"Content-Type": "application/json", TOKEN_HEADER: ots.control_token}
    request = urllib.request.Request(
        f"{ots.endpoint}/__ots_local/{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
