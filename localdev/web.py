"""Plain HTTP requests and responses shared by the local API Gateway and the local FC API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
# Log lines show at most this much of a client's path or method; the rest is counted, not shown.
LOGGED_PATH_MAX = 256
LOGGED_METHOD_MAX = 32


@dataclass
class Request:
    """One HTTP request as the local servers see it (headers keep their order and case)."""

    method: str
    path: str  # as sent, percent-encoded, without the query string
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    client: str = "127.0.0.1"

    def header(self, name: str, default: str = "") -> str:
        """The last value of a header, by case-insensitive name."""
        lowered = name.lower()
        for key, value in reversed(self.headers):
            if key.lower() == lowered:
                return value
        return default


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in reversed(self.headers):
            if key.lower() == lowered:
                return value
        return None


def json_response(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, data, [("Content-Type", JSON_TYPE), *(headers or [])])


def loggable(text: str, limit: int | None = None) -> str:
    """`text` as one field of a log line: it cannot end the line or forge another one.

    Control characters (CR, LF, ESC, ...) and every other non-printable character become Python
    escapes (`\\n`, `\\x1b`, `\\u2028`), and a backslash is doubled so that an escape in the log
    always means an escaped character, never one the client typed. Past `limit` characters the
    rest is cut and counted (`...[+8000 chars]`).
    """
    if limit is not None and len(text) > limit:
        return loggable(text[:limit]) + f"...[+{len(text) - limit} chars]"
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(
        ch
        if ch.isprintable() and ch != "\\"
        else ("\\\\" if ch == "\\" else ch.encode("unicode_escape").decode("ascii"))
        for ch in text
    )
