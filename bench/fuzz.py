"""Event fuzzing for `make chaos`: a seeded generator of hostile events and the response oracle.

`event(rng, operation, codes)` makes one event for a handler the way FC could deliver it: random
bytes, JSON of the wrong type, the operation's parameters with wrong types, huge or unicode
values, API Gateway and FC 3.0 HTTP trigger envelopes with broken fields, oversized and deeply
nested payloads. `check(event, result)` says what is wrong with a handler's answer: it must be
JSON, never status 500 (`INTERNAL`), every error in the one documented shape with its documented
status, and nothing in it that looks like a traceback or an internal name unless the caller sent
that text in the first place (messages may quote the caller's field names).
"""

from __future__ import annotations

import base64
import json
import random
import re
from typing import Any

from fccodes import api
from fccodes.codes import ALPHABET, display, make_key

# The documented errors and their HTTP statuses (the API's declaration); the 500s (INTERNAL, and
# TABLE_NOT_FOUND: the table exists while fuzzing) are violations, not answers.
ERRORS = {e.code: e.status for e in api.ERRORS.values() if e.status < 500 or e.status == 503}
SUCCESS = {"generate": 201, "redeem": 200, "query": 200, "delete": 200}
# Campaign operations (docs/functions.md): all answer 200; a direct invoke names its `action`.
CAMPAIGN = {
    "batch_show": ("GET", "/batches/{batch}", "show"),
    "batch_codes": ("GET", "/batches/{batch}/codes", "codes"),
    "batch_disable": ("POST", "/batches/{batch}/disable", "disable"),
    "batch_enable": ("POST", "/batches/{batch}/enable", "enable"),
    "code_disable": ("POST", "/codes/{code}/disable", "disable"),
    "rollback": ("POST", "/codes/{code}/rollback", "rollback"),
    "redemptions": ("GET", "/codes/{code}/redemptions", "redemptions"),
}
SUCCESS.update(dict.fromkeys(CAMPAIGN, 200))
# Batch labels the events name: the fuzzing run generates the first; the last does not exist.
BATCHES = ["fz-a", "fz-b", "nope", "a/b", "%2e%2e"]
READS = ("query", "delete", "batch_show", "batch_codes", "redemptions")  # GET and DELETE
# What must not reach a caller: Python internals, our module and bookkeeping names, the SDK's.
LEAKS = re.compile(
    r"Traceback|File \"|\.py\b|\b\w*(Error|Exception)\b|<\w+ object at 0x|<class |fccodes|"
    r"tablestore|urllib3|OTS[A-Z]\w+|\bnonce\b|redeem_tx|redeemers|redeemed_by|sqlite|ots_local"
)

FIELDS = {
    "generate": [
        "count",
        "num",
        "valid_from",
        "start period",
        "valid_until",
        "end period",
        "max_uses",
        "prefix",
        "batch",
    ],
    "redeem": ["code", "uuid", "user_id"],
    "query": ["code", "uuid"],
    "delete": ["code", "uuid"],
    "batch_show": ["action", "batch"],
    "batch_codes": ["action", "batch", "limit", "cursor", "status"],
    "batch_disable": ["action", "batch"],
    "batch_enable": ["action", "batch"],
    "code_disable": ["action", "code"],
    "rollback": ["action", "code", "user_id", "redemption_id"],
    "redemptions": ["action", "code", "limit", "cursor"],
}
FIELDS["generate"] += ["metadata", "customer", "per_user_limit", "request_id"]
ROUTES = {
    "generate": ("POST", "/codes"),
    "redeem": ("POST", "/codes/{code}/redeem"),
    "query": ("GET", "/codes/{code}"),
    "delete": ("DELETE", "/codes/{code}"),
}
ROUTES.update({name: (method, path) for name, (method, path, _) in CAMPAIGN.items()})
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "post", "", "G\u00c9T"]
TEXTS = [
    "",
    " ",
    "null",
    "\u0000",
    "\ufeff",
    "\u202e",
    "日本語のコード",
    "😀" * 3,
    "\ud800",
    "\udfff",
    "%00",
    "%2F..%2F",
    "../../etc",
    "'; DROP TABLE codes; --",
    "{{7*7}}",
    "${jndi:x}",
    "\r\n\r\nX-Injected: 1",
    "a" * 129,
    "x" * 70000,
    "2026-12-01T00:00:00+08:00",
    "2017-12-22 00:00:00",
    "2026-02-30T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "1e9",
]
NUMBERS: list[Any] = [
    0,
    1,
    -1,
    2,
    5,
    49,
    50,
    51,
    10000,
    10001,
    2**31,
    2**63,
    -(2**63),
    10**30,
    10**400,
    0.5,
    1.0,
    -0.0,
    1e-300,
    1e308,
    -1e308,
    1.5e12,
    4102444800,
    253402300800,
]


def event(rng: random.Random, operation: str, known: list[str]) -> Any:
    """One fuzzed event for `operation` (bytes as FC delivers them, sometimes str or dict)."""
    kind = rng.choices(
        ["bytes", "json", "params", "apigw", "http", "huge"], weights=[8, 10, 30, 25, 20, 7]
    )[0]
    if kind == "bytes":
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
    if kind == "json":
        return _encode(rng, _value(rng, 3, known))
    if kind == "params":
        return _encode(rng, _params(rng, operation, known))
    if kind == "apigw":
        return _encode(rng, _apigw(rng, operation, known))
    if kind == "http":
        return _encode(rng, _http(rng, operation, known))
    return _huge(rng, operation, known)


def _encode(rng: random.Random, value: Any) -> Any:
    form = rng.random()
    if form < 0.1 and isinstance(value, dict):
        return value  # local tools hand over parsed JSON
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
    if form < 0.2:
        return text
    return text.encode("utf-8", "surrogatepass")


def _code(rng: random.Random, known: list[str]) -> Any:
    choice = rng.random()
    if known and choice < 0.35:
        code = rng.choice(known)
        return rng.choice([code, code.lower(), code.replace("-", " "), code.replace("-", "")])
    if choice < 0.55:  # well-formed, almost certainly not stored
        return display(make_key("", rng.randbytes, 15))
    if choice < 0.7 and known:  # one symbol changed: the check symbol must catch it
        symbols = list(rng.choice(known))
        symbols[rng.randrange(len(symbols))] = rng.choice(ALPHABET)
        return "".join(symbols)
    return _value(rng, 1, known)


def _value(rng: random.Random, depth: int, known: list[str]) -> Any:
    choice = rng.randrange(10 if depth > 0 else 7)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.choice(NUMBERS)
    if choice == 3:
        return rng.choice(TEXTS)
    if choice == 4:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(0, 30)))
    if choice == 5:
        return _code(rng, known) if depth > 0 else rng.choice(known or ["7K3M-Q9XD-2FHN-W4TX"])
    if choice == 6:
        return rng.randrange(-(2**40), 2**40)
    if choice in (7, 8):
        return [_value(rng, depth - 1, known) for _ in range(rng.randrange(0, 4))]
    return {
        rng.choice([*TEXTS[:12], "code", "count", "body"]): _value(rng, depth - 1, known)
        for _ in range(rng.randrange(0, 4))
    }


def _field_value(rng: random.Random, field: str, known: list[str]) -> Any:
    if rng.random() < 0.3:
        return _value(rng, 2, known)
    if field in ("count", "num", "max_uses"):
        return rng.choice([*NUMBERS, str(rng.randrange(100)), True, None])
    if field in ("valid_from", "valid_until", "start period", "end period"):
        return rng.choice(TEXTS[19:] + NUMBERS[-6:] + ["2030-01-01T00:00:00Z", 1.5, None])
    if field == "prefix":
        return rng.choice(["BETA", "VIP", "beta", "B-E_T A", "ABCDEFGHJ", "", "OIL", "Ü", 7])
    if field == "batch":
        return rng.choice(["launch", " ", "a" * 64, "a" * 65, "tab\there", "日本", 42])
    if field in ("code", "uuid"):
        return _code(rng, known)
    if field == "batch":
        return rng.choice([*BATCHES, "", 7, "x" * 65, "\ud800"])
    if field == "action":
        return rng.choice(["show", "codes", "disable", "enable", "rollback", "redemptions", "x", 1])
    if field == "metadata":
        return rng.choice([{"pack": "gold"}, {"x": "y" * 3000}, [], "text", {"a": {"b": [1]}}])
    if field in ("limit", "per_user_limit"):
        return rng.choice([1, 0, 5000, 5001, "10", "-1", "1e3", None, 2.5])
    if field == "cursor":
        return rng.choice(["", "eyJ9", "a" * 2000, "WyJ7fSIsIjAwMDAwMDAwMDAwMDAwMDAiXQ", 5])
    if field == "status":
        return rng.choice(["USED", "used", "GONE", "", 1])
    return rng.choice(["player-42", "", "u" * 128, "u" * 129, 42, ["x"], "😀"])


def _valid_params(rng: random.Random, operation: str, known: list[str]) -> dict[str, Any]:
    """Parameters the operation accepts (so that fuzzing reaches the service and the store)."""
    if operation == "generate":
        params: dict[str, Any] = {"count": rng.randint(1, 50)}
        if rng.random() < 0.5:
            params["valid_until"] = rng.choice(["2099-01-01T00:00:00Z", "2099-01-01 00:00:00"])
        if rng.random() < 0.5:
            params["max_uses"] = rng.randint(1, 5)
        if rng.random() < 0.5:
            params["prefix"] = rng.choice(["BETA", "VIP", "Z9"])
        return params
    if operation in CAMPAIGN:
        _, path, action = CAMPAIGN[operation]
        params = {"action": action}
        if "{batch}" in path:
            params["batch"] = rng.choice(BATCHES)
        else:
            params["code"] = _code(rng, known)
        if operation == "rollback":
            params["user_id"] = f"user-{rng.randrange(1000)}"
        if operation == "batch_codes" and rng.random() < 0.5:
            params["limit"] = rng.randint(1, 50)
        return params
    params = {"code": _code(rng, known)}
    if operation == "redeem" and rng.random() < 0.7:
        params["user_id"] = f"user-{rng.randrange(1000)}"
    return params


def _params(rng: random.Random, operation: str, known: list[str]) -> dict[str, Any]:
    if rng.random() < 0.5:  # valid, then at most one field broken
        params = _valid_params(rng, operation, known)
        if rng.random() < 0.6:
            name = rng.choice(FIELDS[operation])
            params[name] = _field_value(rng, name, known)
        return params
    names = FIELDS[operation]
    chosen = rng.sample(names, rng.randrange(0, len(names) + 1))
    params = {name: _field_value(rng, name, known) for name in chosen}
    if rng.random() < 0.15:
        params[rng.choice([*TEXTS[:12], "cuont", "Code", "user"])] = _value(rng, 1, known)
    return params


def _body(rng: random.Random, operation: str, known: list[str]) -> Any:
    choice = rng.random()
    if operation in READS:  # GET and DELETE ignore the body
        return rng.choice([None, "", json.dumps(_params(rng, operation, known))])
    if choice < 0.5:
        return json.dumps(_params(rng, operation, known))
    if choice < 0.6:
        return _params(rng, operation, known)  # parsed already
    if choice < 0.7:
        return base64.b64encode(json.dumps(_params(rng, operation, known)).encode()).decode()
    return _value(rng, 2, known)


def _path(rng: random.Random, operation: str, known: list[str]) -> Any:
    _, template = ROUTES[operation]
    code = _code(rng, known)
    path = template.replace("{code}", code if isinstance(code, str) else json.dumps(code))
    path = path.replace("{batch}", rng.choice(BATCHES))
    choice = rng.random()
    if choice < 0.6:
        return path
    if choice < 0.7:
        return "/api" + path
    if choice < 0.8:
        return path.replace("/codes", "/c%6Fdes") + "?x=1"
    return _value(rng, 1, known)


def _mutate(rng: random.Random, envelope: dict[str, Any], known: list[str]) -> dict[str, Any]:
    for _ in range(rng.randrange(0, 3)):
        key = rng.choice(list(envelope))
        if rng.random() < 0.3:
            del envelope[key]
        else:
            envelope[key] = _value(rng, 2, known)
    return envelope


def _apigw(rng: random.Random, operation: str, known: list[str]) -> dict[str, Any]:
    method, _ = ROUTES[operation]
    path = _path(rng, operation, known)
    envelope: dict[str, Any] = {
        "path": path,
        "httpMethod": method if rng.random() < 0.7 else rng.choice(METHODS),
        "headers": {"Content-Type": "application/json"},
        "queryParameters": {},
        "pathParameters": {},
        "body": _body(rng, operation, known),
        "isBase64Encoded": rng.choice([False, False, True, "true", None, 1]),
    }
    if "{code}" in ROUTES[operation][1] and rng.random() < 0.7:
        envelope["pathParameters"] = {"code": _code(rng, known)}
    if "{batch}" in ROUTES[operation][1] and rng.random() < 0.7:
        envelope["pathParameters"] = {"batch": rng.choice(BATCHES)}
    if operation in ("batch_codes", "redemptions") and rng.random() < 0.7:
        names = ["limit", "cursor", "status", "x"]
        envelope["queryParameters"] = {
            n: str(_field_value(rng, n, known)) for n in names[: rng.randrange(5)]
        }
    if rng.random() < 0.2:
        envelope["pathParameters"] = _value(rng, 1, known)
    return _mutate(rng, envelope, known)


def _http(rng: random.Random, operation: str, known: list[str]) -> dict[str, Any]:
    method, _ = ROUTES[operation]
    path = _path(rng, operation, known)
    http: Any = {"method": method if rng.random() < 0.7 else rng.choice(METHODS), "path": path}
    if rng.random() < 0.15:
        http = _value(rng, 1, known)
    envelope: dict[str, Any] = {
        "version": "v1",
        "rawPath": path,
        "headers": {"Content-Type": "application/json"},
        "queryParameters": {},
        "body": _body(rng, operation, known),
        "isBase64Encoded": rng.choice([False, False, True, None]),
        "requestContext": {"http": http, "requestId": "fuzz"},
    }
    if rng.random() < 0.15:
        envelope["requestContext"] = _value(rng, 1, known)
    return _mutate(rng, envelope, known)


def _huge(rng: random.Random, operation: str, known: list[str]) -> Any:
    choice = rng.randrange(6)
    if choice == 0:  # deeply nested JSON
        depth = rng.choice([100, 1000, 100000])
        return ("[" * depth + "]" * depth).encode()
    if choice == 1:  # a body over the 64 KiB limit, in an envelope
        params = {"code": "x" * rng.choice([65536, 70000]), "user_id": "u"}
        envelope = _apigw(rng, operation, known)
        envelope["body"] = json.dumps(params)
        return json.dumps(envelope).encode()
    if choice == 2:  # direct invoke over the limit
        return json.dumps({"batch": "b" * 70000, "count": 1}).encode()
    if choice == 3:  # numbers beyond every range
        field = rng.choice(FIELDS[operation])
        literal = rng.choice(["1" + "0" * 400, "-" + "9" * 500, "1e400", "NaN", "Infinity", "-0"])
        return ('{"%s": %s}' % (field, literal)).encode()
    if choice == 4:  # very many fields
        return json.dumps({f"f{i}": i for i in range(rng.choice([100, 5000]))}).encode()
    return json.dumps({"code": "\u0661\u0662\u0663" * rng.randrange(1, 30)}).encode()


# --- the oracle --------------------------------------------------------------------------------
def check(operation: str, sent: Any, result: Any) -> list[str]:
    """What is wrong with `result` as an answer to `sent` (empty: nothing)."""
    if not isinstance(result, str):
        return [f"not JSON text: {type(result).__name__}"]
    try:
        result.encode("utf-8")  # what FC does with it
    except UnicodeEncodeError:
        return ["not encodable as UTF-8"]
    try:
        answer = json.loads(result)
    except ValueError:
        return ["not JSON"]
    if not isinstance(answer, dict):
        return ["not a JSON object"]
    problems = []
    status = None
    body: Any = answer
    if "statusCode" in answer and "body" in answer:  # an HTTP envelope
        status = answer["statusCode"]
        headers = answer.get("headers")
        if not isinstance(headers, dict) or "json" not in str(headers.get("Content-Type")):
            problems.append("envelope without a JSON Content-Type")
        try:
            body = json.loads(answer["body"])
        except (TypeError, ValueError):
            return [*problems, "envelope body is not JSON"]
        if not isinstance(body, dict):
            return [*problems, "envelope body is not a JSON object"]
    error = body.get("error")
    if status == 500 or (isinstance(error, dict) and error.get("code") == "INTERNAL"):
        problems.append("status 500")
    elif error is not None:
        if not isinstance(error, dict) or not {"code", "message", "request_id"} <= set(error):
            problems.append(f"malformed error: {str(error)[:200]}")
        elif error["code"] == "STORE_UNAVAILABLE":  # the store is healthy during fuzzing
            problems.append(f"store error for a healthy store: {error['message'][:200]}")
        elif error["code"] not in ERRORS:
            problems.append(f"undocumented error code {error['code']!r}")
        elif status is not None and status != ERRORS[error["code"]]:
            problems.append(f"{error['code']} answered with status {status}")
        elif not isinstance(error["message"], str) or not error["message"]:
            problems.append("error without a message")
    elif status is not None and status != SUCCESS[operation]:
        problems.append(f"success with status {status}")
    sent_text = _text(sent)
    for match in LEAKS.finditer(result):
        if match.group(0) not in sent_text:
            problems.append(f"leaks {match.group(0)!r}: {result[:300]}")
            break
    return problems


def _text(sent: Any) -> str:
    if isinstance(sent, bytes | bytearray):
        return bytes(sent).decode("utf-8", "replace")
    if isinstance(sent, str):
        return sent
    return json.dumps(sent)
