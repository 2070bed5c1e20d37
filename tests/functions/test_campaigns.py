"""Campaigns through the real handlers: batch records, idempotent generate, metadata, customer,
per-user limits, disable/enable, rollback and the redemption log (docs/functions.md).

Events are built in the API Gateway and HTTP-trigger shapes the gateways send, or are direct
invokes; every test checks the answer and, where it matters, the rows.
"""

import base64
import json

import admin_code
import batch_code
from tablestore import OTSClient

import gen_code
import query_code
import use_code
from fccodes import app

from .helpers import Clock

T0 = 1796054400000  # 2026-12-01T00:00:00+08:00


def apigw(method, path, body=None, query=None, headers=None, **path_params):
    """An API Gateway event as FC delivers it (bytes)."""
    event = {
        "path": path,
        "httpMethod": method,
        "headers": dict(headers or {}),
        "queryParameters": dict(query or {}),
        "pathParameters": path_params,
        "body": base64.b64encode(json.dumps(body).encode()).decode() if body is not None else "",
        "isBase64Encoded": body is not None,
    }
    return json.dumps(event).encode("utf-8")


def http(method, path, body=None, query=None, headers=None):
    """An FC 3.0 HTTP trigger event."""
    event = {
        "version": "v1",
        "rawPath": path,
        "headers": dict(headers or {}),
        "queryParameters": dict(query or {}),
        "body": json.dumps(body) if body is not None else "",
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": method, "path": path}, "requestId": "r"},
    }
    return json.dumps(event).encode("utf-8")


def call(module, event, context):
    """(status, body, headers); direct invokes give (None, body, None)."""
    if not isinstance(event, bytes):
        event = json.dumps(event).encode("utf-8")
    parsed = json.loads(module.handler(event, context))
    if isinstance(parsed, dict) and "statusCode" in parsed:
        body = parsed["body"]
        if parsed["headers"]["Content-Type"].startswith("application/json"):
            body = json.loads(body)
        return parsed["statusCode"], body, parsed["headers"]
    return None, parsed, None


def generate(context, **params):
    status, body, _ = call(gen_code, apigw("POST", "/codes", params), context)
    assert status == 201, body
    return body


def redeem(context, code, user_id=None):
    body = {} if user_id is None else {"user_id": user_id}
    return call(use_code, apigw("POST", "/codes/%s/redeem" % code, body, code=code), context)


def error_code(answer):
    return answer[1]["error"]["code"]


# --- generate -------------------------------------------------------------------------------
def test_generate_keeps_a_record_and_returns_metadata_everywhere(wiring, rows):
    meta = {"pack": "gold", "items": [1, 2]}
    body = generate(wiring.context, count=3, batch="spring", metadata=meta, prefix="XMAS")
    assert (body["metadata"], body["customer"], body["per_user_limit"]) == (meta, None, None)
    code = body["codes"][0]
    _, info, _ = call(query_code, apigw("GET", "/codes/" + code, code=code), wiring.context)
    assert info["metadata"] == meta
    status, answer, _ = redeem(wiring.context, code, "player-1")
    assert (status, answer["metadata"], answer["status"]) == (200, meta, "USED")
    status, answer, _ = redeem(wiring.context, code, "player-1")  # a replay: same metadata
    assert (status, answer["replay"], answer["metadata"]) == (200, True, meta)


def test_a_batch_label_is_taken_once(wiring):
    generate(wiring.context, count=1, batch="once")
    status, body, _ = call(
        gen_code, apigw("POST", "/codes", {"count": 1, "batch": "once"}), wiring.context
    )
    assert (status, body["error"]["code"]) == (409, "BATCH_EXISTS")


def test_an_idempotency_key_gives_the_same_batch_again(wiring, rows):
    params = {"count": 5, "metadata": {"pack": "a"}}
    event = apigw("POST", "/codes", params, headers={"Idempotency-Key": "order-2026-000077"})
    status, first, _ = call(gen_code, event, wiring.context)
    assert status == 201 and first.pop("replay") is False
    status, again, _ = call(gen_code, event, wiring.context)
    assert status == 200 and again.pop("replay") is True
    assert again == first
    assert len(rows()) == 5  # no second batch
    # request_id is the same key, for callers who cannot set headers (direct invoke)
    _, direct, _ = call(gen_code, dict(params, request_id="order-2026-000077"), wiring.context)
    assert direct["codes"] == first["codes"]
    # the same key for other parameters is a mistake, not a replay
    other = apigw("POST", "/codes", {"count": 6}, headers={"idempotency-key": "order-2026-000077"})
    status, body, _ = call(gen_code, other, wiring.context)
    assert (status, body["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")


def test_generate_refuses_bad_campaign_fields(wiring):
    cases = [
        (
            {"count": 1, "metadata": {"x": "y" * 2100}},
            "metadata: is 2108 bytes as JSON; the limit is 2048 bytes",
        ),
        ({"count": 1, "metadata": [1]}, "metadata: must be a JSON object"),
        ({"count": 1, "customer": ""}, "customer: must be a string of 1-128 characters"),
        ({"count": 1, "per_user_limit": 0}, "per_user_limit: must be an integer from 1 to 1000"),
        (
            {"count": 1, "request_id": "a\nb"},
            "request_id: must be 16-128 letters, digits, - and _ (a UUID fits)",
        ),
    ]
    for params, message in cases:
        status, body, _ = call(gen_code, apigw("POST", "/codes", params), wiring.context)
        assert (status, body["error"]["code"], body["error"]["message"]) == (
            400,
            "INVALID_REQUEST",
            message,
        )


# --- customer and per-user limits -----------------------------------------------------------
def test_a_customer_code_is_only_for_its_customer(wiring):
    code = generate(wiring.context, count=1, customer="vip-9")["codes"][0]
    assert error_code(redeem(wiring.context, code, "player-1")) == "CODE_RESTRICTED"
    assert error_code(redeem(wiring.context, code)) == "CODE_RESTRICTED"
    status, body, _ = redeem(wiring.context, code, "vip-9")
    assert (status, body["status"]) == (200, "USED")


def test_per_user_limit_counts_codes_of_the_batch_per_user(wiring):
    codes = generate(wiring.context, count=3, per_user_limit=1, batch="limited")["codes"]
    assert redeem(wiring.context, codes[0], "player-1")[0] == 200
    answer = redeem(wiring.context, codes[1], "player-1")
    assert (answer[0], error_code(answer)) == (409, "USER_LIMIT_REACHED")
    assert redeem(wiring.context, codes[0], "player-1")[1]["replay"] is True  # still a replay
    assert redeem(wiring.context, codes[1], "player-2")[0] == 200
    answer = redeem(wiring.context, codes[2])
    assert (answer[0], answer[1]["error"]["message"]) == (
        400,
        "user_id: is required: this code's batch limits codes per user",
    )
    # a rollback gives the user their redemption back
    event = apigw("POST", "/codes/%s/rollback" % codes[0], {"user_id": "player-1"}, code=codes[0])
    status, body, _ = call(admin_code, event, wiring.context)
    assert (status, body["rolled_back"], body["status"], body["uses"]) == (200, True, "UNUSED", 0)
    assert redeem(wiring.context, codes[2], "player-1")[0] == 200


def test_a_refused_redemption_gives_its_slot_back(wiring):
    clock = Clock(T0)
    wiring.install(clock=clock)
    codes = generate(wiring.context, count=2, per_user_limit=1, valid_until=(T0 + 1000) // 1000)[
        "codes"
    ]
    call(admin_code, apigw("POST", "/codes/%s/disable" % codes[0], code=codes[0]), wiring.context)
    assert error_code(redeem(wiring.context, codes[0], "p")) == "CODE_DISABLED"
    assert redeem(wiring.context, codes[1], "p")[0] == 200  # the slot was not kept


# --- disable and enable ---------------------------------------------------------------------
def test_disable_and_enable_a_code(wiring, rows):
    code = generate(wiring.context, count=1)["codes"][0]
    status, body, _ = call(admin_code, http("POST", "/codes/%s/disable" % code), wiring.context)
    assert (status, body["status"]) == (200, "DISABLED")
    answer = redeem(wiring.context, code, "p")
    assert (answer[0], error_code(answer)) == (409, "CODE_DISABLED")
    _, info, _ = call(query_code, {"code": code}, wiring.context)
    assert info["status"] == "DISABLED"
    _, body, _ = call(admin_code, {"action": "enable", "code": code}, wiring.context)
    assert body["status"] == "UNUSED"
    assert redeem(wiring.context, code, "p")[0] == 200


def test_disable_a_batch_then_enable_restores_each_code_as_it_was(wiring, rows):
    codes = generate(wiring.context, count=4, batch="flash", max_uses=2)["codes"]
    assert redeem(wiring.context, codes[0], "a")[0] == 200
    call(admin_code, apigw("POST", "/codes/%s/disable" % codes[1], code=codes[1]), wiring.context)
    before = rows()
    status, body, _ = call(
        batch_code, apigw("POST", "/batches/flash/disable", batch="flash"), wiring.context
    )
    assert (status, body) == (200, {"batch": "flash", "state": "DISABLED"})
    for code in codes:
        answer = redeem(wiring.context, code, "b")
        assert (answer[0], error_code(answer)) == (409, "CODE_DISABLED")
    status, body, _ = call(batch_code, http("POST", "/batches/flash/enable"), wiring.context)
    assert (status, body["state"]) == (200, "ACTIVE")
    assert rows() == before  # exactly the state before: code 1 keeps its own mark
    assert error_code(redeem(wiring.context, codes[1], "b")) == "CODE_DISABLED"
    assert redeem(wiring.context, codes[2], "b")[0] == 200


def test_unknown_batches_and_codes(wiring):
    answer = call(batch_code, apigw("POST", "/batches/nope/disable", batch="nope"), wiring.context)
    assert (answer[0], error_code(answer)) == (404, "BATCH_NOT_FOUND")
    code = "7K3M-Q9XD-2FHN-W4TX"
    answer = call(admin_code, apigw("POST", "/codes/%s/disable" % code, code=code), wiring.context)
    assert (answer[0], error_code(answer)) == (404, "CODE_NOT_FOUND")
    answer = call(admin_code, {"code": code}, wiring.context)
    assert answer[1]["error"]["message"] == (
        "action: must be one of disable, enable, rollback, redemptions"
    )


# --- rollback and the redemption log --------------------------------------------------------
def test_rollback_of_a_multi_use_code_by_redemption_and_the_log(wiring):
    clock = Clock(T0)
    wiring.install(clock=clock)
    code = generate(wiring.context, count=1, max_uses=3)["codes"][0]
    ids = []
    for n, user in enumerate(["a", "b", "c"]):
        clock.now_ms = T0 + 1000 * (n + 1)
        ids.append(redeem(wiring.context, code, user)[1]["redemption_id"])
    assert error_code(redeem(wiring.context, code, "d")) == "CODE_ALREADY_USED"
    path = "/codes/%s/redemptions" % code
    status, page, _ = call(
        admin_code, apigw("GET", path, query={"limit": "2"}, code=code), wiring.context
    )
    assert status == 200
    assert [r["user_id"] for r in page["redemptions"]] == ["c", "b"]  # newest first
    query = {"limit": "2", "cursor": page["next_cursor"]}
    _, rest, _ = call(admin_code, apigw("GET", path, query=query, code=code), wiring.context)
    assert [r["user_id"] for r in rest["redemptions"]] == ["a"] and rest["next_cursor"] is None
    assert rest["redemptions"][0] == {
        "user_id": "a",
        "redeemed_at": "2026-12-01T00:00:01+08:00",
        "redemption_id": ids[0],
    }
    tampered = {"cursor": page["next_cursor"][:-2] + "xx"}
    answer = call(admin_code, apigw("GET", path, query=tampered, code=code), wiring.context)
    assert (answer[0], answer[1]["error"]["message"]) == (
        400,
        "cursor: is not a cursor this API gave out",
    )

    rollback = apigw("POST", "/codes/%s/rollback" % code, {"redemption_id": ids[1]}, code=code)
    status, body, _ = call(admin_code, rollback, wiring.context)
    assert (status, body["rolled_back"], body["uses"], body["status"]) == (200, True, 2, "UNUSED")
    status, body, _ = call(admin_code, rollback, wiring.context)  # idempotent
    assert (status, body["rolled_back"], body["uses"]) == (200, False, 2)
    assert redeem(wiring.context, code, "b")[1]["replay"] is False  # b may redeem again
    _, page, _ = call(admin_code, {"action": "redemptions", "code": code}, wiring.context)
    assert [r["user_id"] for r in page["redemptions"]] == ["b", "c", "a"]


def test_rollback_never_goes_below_zero_and_needs_one_name(wiring):
    code = generate(wiring.context, count=1)["codes"][0]
    event = apigw("POST", "/codes/%s/rollback" % code, {"user_id": "nobody"}, code=code)
    status, body, _ = call(admin_code, event, wiring.context)
    assert (status, body["rolled_back"], body["uses"]) == (200, False, 0)
    event = apigw("POST", "/codes/%s/rollback" % code, {}, code=code)
    answer = call(admin_code, event, wiring.context)
    assert (answer[0], answer[1]["error"]["message"]) == (
        400,
        "user_id: give user_id or redemption_id (which redemption)",
    )


# --- GET /batches/{batch} and /batches/{batch}/codes ----------------------------------------
def show(context, batch):
    return call(batch_code, apigw("GET", "/batches/" + batch, batch=batch), context)


def list_all(context, batch, limit, headers=None, **query):
    """Every page of the listing: (codes in order, pages)."""
    found, pages, cursor = [], 0, None
    while True:
        params = dict(query, limit=str(limit))
        if cursor:
            params["cursor"] = cursor
        event = apigw(
            "GET", "/batches/%s/codes" % batch, query=params, headers=headers, batch=batch
        )
        status, body, response_headers = call(batch_code, event, context)
        assert status == 200, body
        pages += 1
        if isinstance(body, str):  # CSV
            lines = body.splitlines()
            assert lines[0] == (
                "code,status,batch,valid_from,valid_until,max_uses,uses,created_at,"
                "redeemed_at,metadata"
            )
            found.extend(line.split(",")[0] for line in lines[1:])
            cursor = response_headers.get("X-Next-Cursor")
        else:
            found.extend(item["code"] for item in body["codes"])
            cursor = body["next_cursor"]
        if cursor is None:
            return found, pages


def test_show_a_batch_with_its_figures(wiring):
    clock = Clock(T0)
    wiring.install(clock=clock)
    meta = {"pack": "silver"}
    body = generate(
        wiring.context,
        count=6,
        batch="autumn",
        max_uses=2,
        metadata=meta,
        prefix="FAW",
        valid_until=(T0 + 3600000) // 1000,
    )
    codes = body["codes"]
    redeem(wiring.context, codes[0], "a")
    redeem(wiring.context, codes[0], "b")  # used up: 2 redemptions
    redeem(wiring.context, codes[1], "a")  # 1 of 2
    call(admin_code, apigw("POST", "/codes/%s/disable" % codes[2], code=codes[2]), wiring.context)
    status, info, _ = show(wiring.context, "autumn")
    assert status == 200
    assert info == {
        "batch": "autumn",
        "state": "ACTIVE",
        "count": 6,
        "prefix": "FAW",
        "valid_from": "2026-12-01T00:00:00+08:00",
        "valid_until": "2026-12-01T01:00:00+08:00",
        "max_uses": 2,
        "metadata": meta,
        "customer": None,
        "per_user_limit": None,
        "created_at": "2026-12-01T00:00:00+08:00",
        "figures": {
            "unused": 4,
            "used": 1,
            "expired": 0,
            "not_yet_valid": 0,
            "disabled": 1,
            "redemptions": 3,
        },
        "generation": None,  # generated in one call (above MAX_CODES_PER_REQUEST: progress)
    }
    clock.now_ms = T0 + 3600000  # an hour later every code not used up has expired
    _, info, _ = show(wiring.context, "autumn")
    assert info["figures"]["expired"] == 4 and info["figures"]["used"] == 1
    answer = show(wiring.context, "winter")
    assert (answer[0], error_code(answer)) == (404, "BATCH_NOT_FOUND")


def test_list_a_batch_in_pages_json_and_csv_each_code_once(wiring):
    codes = generate(wiring.context, count=250, batch="paged")["codes"]
    generate(wiring.context, count=30, batch="other")
    listed, pages = list_all(wiring.context, "paged", 40)
    assert sorted(listed) == sorted(codes) and pages >= 7
    csv_listed, _ = list_all(wiring.context, "paged", 100, headers={"Accept": "text/csv"})
    assert sorted(csv_listed) == sorted(codes)
    for code in codes[:10]:
        redeem(wiring.context, code, "x")
    used, _ = list_all(wiring.context, "paged", 1000, status="used")
    assert sorted(used) == sorted(codes[:10])


def test_a_listing_while_codes_are_redeemed_lists_each_code_exactly_once(wiring):
    codes = generate(wiring.context, count=120, batch="busy")["codes"]
    found, cursor, n = [], None, 0
    while True:
        query = {"limit": "25"}
        if cursor:
            query["cursor"] = cursor
        event = apigw("GET", "/batches/busy/codes", query=query, batch="busy")
        _, body, _ = call(batch_code, event, wiring.context)
        found.extend(item["code"] for item in body["codes"])
        for code in codes[n : n + 20]:  # redemptions between the pages
            redeem(wiring.context, code, "r")
        n += 20
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(found) == sorted(codes)


def test_listing_refuses_bad_parameters(wiring):
    generate(wiring.context, count=1, batch="b1")
    cases = [
        ({"limit": "0"}, "limit: must be an integer from 1 to 5000"),
        ({"limit": "5001"}, "limit: must be an integer from 1 to 5000"),
        (
            {"status": "GONE"},
            "status: must be one of UNUSED, USED, EXPIRED, NOT_YET_VALID, DISABLED",
        ),
        ({"cursor": "eyJub3QiOiJvdXJzIn0"}, "cursor: is not a cursor this API gave out"),
        ({"colour": "red"}, "colour: unknown field; expected limit, cursor, status"),
    ]
    for query, message in cases:
        event = apigw("GET", "/batches/b1/codes", query=query, batch="b1")
        status, body, _ = call(batch_code, event, wiring.context)
        assert (status, body["error"]["message"]) == (400, message)
    # a cursor of another batch is refused too
    generate(wiring.context, count=3, batch="b2")
    event = apigw("GET", "/batches/b2/codes", query={"limit": "1"}, batch="b2")
    cursor = call(batch_code, event, wiring.context)[1]["next_cursor"]
    event = apigw("GET", "/batches/b1/codes", query={"cursor": cursor}, batch="b1")
    assert call(batch_code, event, wiring.context)[0] == 400


def test_disable_does_not_need_the_index_and_figures_show_its_lag(wiring, ots):
    """With the index 10 minutes behind, disable still reaches every code (it walks the
    batch's key lists); the figures trail the redemptions until the index catches up."""
    ots.control("POST", "settings", {"index_delay_ms": 600000})
    try:
        codes = generate(wiring.context, count=30, batch="lagging")["codes"]
        for code in codes[:3]:
            assert redeem(wiring.context, code, "early")[0] == 200
        _, info, _ = show(wiring.context, "lagging")
        assert (info["count"], info["figures"]["unused"], info["figures"]["used"]) == (30, 30, 0)
        ots.control("POST", "indexes/sync")
        _, info, _ = show(wiring.context, "lagging")
        assert (info["figures"]["unused"], info["figures"]["used"]) == (27, 3)
        call(batch_code, {"action": "disable", "batch": "lagging"}, wiring.context)
        for code in codes:
            assert error_code(redeem(wiring.context, code, "late")) == "CODE_DISABLED"
        _, info, _ = show(wiring.context, "lagging")
        assert info["state"] == "DISABLED"
        assert (info["figures"]["disabled"], info["figures"]["redemptions"]) == (30, 3)
    finally:
        ots.control("POST", "settings", {"index_delay_ms": 0})


# --- requests per redemption (docs/functions.md, "Requests per redemption") -----------------
SENT = []  # the API names CountingClient sent, in order


class CountingClient(OTSClient):
    """The real SDK client, counting the API requests it sends (injected via ClientFactory)."""

    def _request_helper(self, api_name, *args, **kwargs):
        SENT.append(api_name)
        return OTSClient._request_helper(self, api_name, *args, **kwargs)


def counted(wiring, work):
    del SENT[:]
    work()
    return list(SENT)


def test_requests_per_redemption(wiring):
    settings = wiring.settings()
    factory = app.ClientFactory(  # the edge's own factory, with a counting client class
        settings.ots_endpoint, settings.ots_instance, 2.0, client_class=CountingClient
    )
    app.configure(app.Runtime(settings, factory=factory))
    plain = generate(wiring.context, count=2, prefix="PNN", customer="c1")["codes"]
    meta = generate(wiring.context, count=3, prefix="MTA", metadata={"a": 1})["codes"]
    limited = generate(wiring.context, count=3, prefix="QTY", per_user_limit=1)["codes"]
    # as before campaigns: one conditional UpdateRow (customer and disable checks included)
    assert counted(wiring, lambda: redeem(wiring.context, plain[0], "c1")) == ["UpdateRow"]
    # metadata: the first code of a prefix pays for the failed fast path once, then two requests
    assert counted(wiring, lambda: redeem(wiring.context, meta[0], "u")) == [
        "UpdateRow",
        "GetRow",
        "UpdateRow",
    ]
    assert counted(wiring, lambda: redeem(wiring.context, meta[1], "u")) == ["GetRow", "UpdateRow"]
    redeem(wiring.context, limited[0], "warm-up")
    assert counted(wiring, lambda: redeem(wiring.context, limited[1], "u")) == [
        "GetRow",
        "PutRow",
        "UpdateRow",
    ]


FAST_PATH_COLUMNS = {  # the columns the fast path's UpdateRow states a condition on
    "state",
    "max_uses",
    "metadata",
    "per_user_limit",
    "valid_from",
    "valid_until",
    "disabled",
    "batch_disabled",
    "customer",
    "prefix",
}
CONDITIONS = []  # per UpdateRow RecordingClient sent: {column: the SDK condition object}


class RecordingClient(OTSClient):
    """The real SDK client, keeping the column conditions of each UpdateRow it sends."""

    def update_row(self, table_name, row, condition, *args, **kwargs):
        subs = getattr(condition.column_condition, "sub_conditions", None)
        if table_name == "codes" and subs:
            CONDITIONS.append({single.column_name: single for single in subs})
        return OTSClient.update_row(self, table_name, row, condition, *args, **kwargs)


def test_a_redemption_makes_its_fixed_conditions_once_per_instance(wiring):
    """The fast path's ten column conditions: the seven that are the same for every call of a
    prefix are made into SDK objects once per instance and shared by later calls (the SDK only
    reads them); the three that depend on the time and the user are made per call."""
    settings = wiring.settings()
    factory = app.ClientFactory(
        settings.ots_endpoint, settings.ots_instance, 2.0, client_class=RecordingClient
    )
    app.configure(app.Runtime(settings, factory=factory))
    first, second = generate(wiring.context, count=2)["codes"]
    del CONDITIONS[:]
    assert redeem(wiring.context, first, "u1")[0] == 200
    assert redeem(wiring.context, second, "u2")[0] == 200
    one, two = CONDITIONS
    assert set(one) == set(two) == FAST_PATH_COLUMNS
    per_call = {"valid_from", "valid_until", "customer"}
    assert all(one[c] is two[c] for c in set(one) - per_call)
    assert all(one[c] is not two[c] for c in per_call)
    assert (one["customer"].column_value, two["customer"].column_value) == ("u1", "u2")


def test_a_missing_index_or_batches_table_is_named(wiring, sdk):
    """An old codes table without the batch index (or no batches table): the operator's error,
    named with what to set, not a passing fault."""
    generate(wiring.context, count=2, batch="old")
    sdk.delete_secondary_index("codes", "codes_by_batch")
    status, body, _ = show(wiring.context, "old")
    assert (status, body["error"]["code"]) == (500, "TABLE_NOT_FOUND")
    assert body["error"]["message"].startswith(
        "the batch index 'codes_by_batch' does not exist in the Tablestore instance"
    )
    sdk.delete_table("batches")
    status, body, _ = call(gen_code, apigw("POST", "/codes", {"count": 1}), wiring.context)
    assert (status, body["error"]["code"]) == (500, "TABLE_NOT_FOUND")
    assert "correct the BATCHES_TABLE setting" in body["error"]["message"]


def test_a_missing_batches_table_is_named_as_the_missing_table(wiring):
    wiring.install(batches_table="no_such_batches")
    answer = call(batch_code, apigw("POST", "/batches/b/disable", batch="b"), wiring.context)
    assert (answer[0], error_code(answer)) == (500, "TABLE_NOT_FOUND")
    assert "'no_such_batches' does not exist" in answer[1]["error"]["message"]
    assert "Retry-After" not in answer[2]
