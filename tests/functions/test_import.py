"""Importing existing codes (fccodes.importing) through the real store against ots_local.

The list is parsed, then stored with the real `CodeStore` over the real SDK; afterwards the real
handlers redeem the imported codes exactly as written.
"""

import json

import pytest

import query_code
import use_code
from fccodes import importing
from fccodes.errors import InvalidRequest, PayloadTooLarge, StoreUnavailable
from fccodes.retry import Deadline

NOW = 1796054400000  # 2026-12-01T00:00:00+08:00
TZ = 8 * 60


def store_of(runtime, wiring):
    from fccodes.settings import credentials_from

    return runtime.store.signed(credentials_from(wiring.context, {}))


def run_import(runtime, wiring, batch, entries, **params):
    attributes = importing.attributes_of(params, runtime.settings.timezone, NOW, 10**9)
    importer = importing.Importer(store_of(runtime, wiring), 4, lambda s: None)
    return importer.run(batch, entries, attributes, Deadline(20, request_timeout=2.0))


# --- parsing ------------------------------------------------------------------------------------
def test_csv_one_code_per_line_with_an_optional_header():
    raw = b'code\nSUMMER-2026-AAA\nsummer-2026-aaa\n"with,comma"\n7K3M-Q9XD-2FHN-W4TX\r\n'
    entries = importing.parse_csv(raw)
    assert [(e.line, e.text, e.key) for e in entries] == [
        (2, "SUMMER-2026-AAA", "=SUMMER-2026-AAA"),
        (3, "summer-2026-aaa", "=summer-2026-aaa"),  # case-sensitive: another code
        (4, "with,comma", "=with,comma"),
        (5, "7K3M-Q9XD-2FHN-W4TX", "7K3MQ9XD2FHNW4TX"),  # a well-formed generated code
    ]


@pytest.mark.parametrize(
    "raw, field, message",
    [
        (b"A1\n\nB2\n", "line 2", "is empty; one code per line"),
        (b"A1\nB2,C3\n", "line 2", "has 2 fields; one code per line"),
        (b'A1\n"open\n', "line 2", "is not valid CSV"),
        (b"A1\n" + b"x" * 65 + b"\n", "line 2", "is 65 characters; a code has at most 64"),
        (b"A1\nB\x072\n", "line 2", "holds the character '\\x07', which is not printable ASCII"),
        (b"A1\nB2\n\xff\xfe\n", "line 3", "is not UTF-8 text"),
        (
            "A1\ncaf\u00e9\n".encode(),
            "line 2",
            "holds the character '\\xe9', which is not printable",
        ),
        (b"code\n", "body", "holds no codes"),
    ],
)
def test_a_bad_csv_line_is_named(raw, field, message):
    with pytest.raises(InvalidRequest) as info:
        importing.parse_csv(raw)
    assert info.value.message.startswith("%s: %s" % (field, message)), info.value.message


def test_more_codes_than_the_limit_names_the_first_line_past_it(monkeypatch):
    monkeypatch.setattr(importing, "MAX_IMPORT_CODES", 3)
    with pytest.raises(InvalidRequest) as info:
        importing.parse_csv(b"code\nA\nB\nC\nD\nE\n")
    assert info.value.message.startswith("line 5: is past the limit of 3 codes in one import")


def test_json_lists_and_objects():
    entries, params = importing.parse_body(b'["A", "B"]', "application/json")
    assert [e.text for e in entries] == ["A", "B"] and params == {}
    entries, params = importing.parse_body(b'{"codes": ["C"], "max_uses": 2}', None)
    assert [e.key for e in entries] == ["=C"] and params == {"max_uses": 2}
    with pytest.raises(InvalidRequest) as info:
        importing.parse_body(b'{"codes": ["C", 5]}', None)
    assert info.value.message == "codes[1]: must be a string"
    with pytest.raises(InvalidRequest) as info:
        importing.parse_body(b"A,B", "application/json")
    assert "is neither JSON nor CSV" in info.value.message


def test_a_body_over_the_limit_is_too_large():
    with pytest.raises(PayloadTooLarge):
        importing.parse_body(b"A\n" * (importing.MAX_IMPORT_BYTES // 2 + 1), "text/csv")


def test_import_parameters_are_checked():
    with pytest.raises(InvalidRequest) as info:
        importing.attributes_of({"valid_until": 1}, TZ, NOW, 10)
    assert info.value.message == "valid_until: must be after valid_from"
    with pytest.raises(InvalidRequest) as info:
        importing.attributes_of({"colour": 1}, TZ, NOW, 10)
    assert info.value.message.startswith("colour: unknown field")
    assert importing.attributes_of({}, TZ, NOW, 10)["valid_from"] == NOW


# --- storing ------------------------------------------------------------------------------------
def test_imported_codes_are_stored_and_redeem_exactly_as_written(wiring, rows):
    runtime = wiring.install(clock=lambda: NOW + 1)
    entries = importing.parse_csv(b"code\nSUMMER-2026-AAA\nsummer-2026-aaa\nGIFT 100\n")
    report = run_import(runtime, wiring, "summer", entries, valid_until="2027-01-01T00:00:00Z")
    assert (report.stored, report.repeated_count, report.existing_count) == (3, 0, 0)
    stored = rows()
    assert sorted(stored) == ["=GIFT 100", "=SUMMER-2026-AAA", "=summer-2026-aaa"]
    assert stored["=GIFT 100"]["batch"] == "summer"

    def call(module, event):
        return json.loads(module.handler(json.dumps(event).encode(), wiring.context))

    assert call(query_code, {"code": "GIFT 100"})["code"] == "GIFT 100"
    assert call(use_code, {"code": "summer-2026-aaa"})["status"] == "USED"
    assert call(query_code, {"code": "SUMMER-2026-AAA"})["status"] == "UNUSED"
    assert call(use_code, {"code": "gift 100"})["error"]["code"] == "INVALID_CODE"


def test_repeats_and_existing_codes_are_reported_never_overwritten(wiring, rows):
    runtime = wiring.install(clock=lambda: NOW + 1)
    run_import(runtime, wiring, "first", importing.parse_csv(b"A1\nB2\n"))
    before = rows()
    entries = importing.parse_csv(b"C3\nA1\nC3\nD4\n")
    report = run_import(runtime, wiring, "second", entries, max_uses=5)
    assert (report.stored, report.already_imported) == (2, 0)
    assert report.repeated_count == 1
    assert [(e.line, e.text, seen) for e, seen in report.repeated] == [(3, "C3", 1)]
    assert report.existing_count == 1 and [e.line for e in report.existing] == [2]
    after = rows()
    assert after["=A1"] == before["=A1"]  # untouched: still batch first
    assert after["=C3"]["max_uses"] == 5 and after["=C3"]["batch"] == "second"


def test_importing_the_same_list_again_stores_nothing_twice(wiring, rows):
    runtime = wiring.install()
    entries = importing.parse_csv(b"A1\nB2\nC3\n")
    run_import(runtime, wiring, "same", entries)
    report = run_import(runtime, wiring, "same", entries)
    assert (report.stored, report.already_imported, report.existing_count) == (0, 3, 0)
    assert len(rows()) == 3


def test_a_store_that_fails_for_good_says_how_much_was_stored(wiring, ots, rows):
    runtime = wiring.install(ots_timeout=0.5)
    entries = importing.parse_json_list(["K%04d" % i for i in range(600)])
    ots.add_fault("busy", api="BatchWriteRow", count=1000)
    with pytest.raises(StoreUnavailable) as info:
        importing.Importer(store_of(runtime, wiring), 1, lambda s: None).run(
            "down",
            entries,
            importing.attributes_of({}, TZ, NOW, 10),
            Deadline(2, request_timeout=0.5),
        )
    assert info.value.message.startswith(
        "the code store is unavailable: 0 of the 600 codes were stored before it failed; "
        "send the same import again"
    )
    ots.clear_faults()
    assert rows() == {}


def test_a_write_applied_without_an_answer_counts_as_stored(wiring, ots, rows):
    runtime = wiring.install(ots_timeout=1.0)
    entries = importing.parse_json_list(["W%03d" % i for i in range(300)])
    ots.add_fault("drop_after", api="BatchWriteRow", count=1)
    report = run_import(runtime, wiring, "dropped", entries)
    assert (report.stored, report.existing_count, report.already_imported) == (300, 0, 0)
    assert len(rows()) == 300


# --- the handler: POST /batches/{batch}/import ----------------------------------------------------
def gateway_event(batch, body, content_type="text/csv", query=None, base64_body=False):
    import base64 as b64

    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    return {
        "path": "/batches/%s/import" % batch,
        "httpMethod": "POST",
        "headers": {"Content-Type": content_type},
        "queryParameters": query or {},
        "pathParameters": {"batch": batch},
        "body": b64.b64encode(raw).decode("ascii") if base64_body else raw.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }


def answer(event, wiring):
    import import_code

    envelope = json.loads(import_code.handler(json.dumps(event).encode("utf-8"), wiring.context))
    return envelope["statusCode"], json.loads(envelope["body"])


def test_a_csv_file_through_api_gateway(wiring, rows):
    wiring.install(clock=lambda: NOW)
    csv_file = b"code\nSUMMER-2026-0001\nSUMMER-2026-0002\nSUMMER-2026-0001\n"
    query = {"valid_until": "2027-01-01T00:00:00+08:00", "max_uses": "2"}
    status, body = answer(gateway_event("summer", csv_file, query=query, base64_body=True), wiring)
    assert status == 200
    assert body == {
        "batch": "summer",
        "received": 3,
        "stored": 2,
        "already_imported": 0,
        "repeated": 1,
        "existing": 0,
        "notes": ["line 4: SUMMER-2026-0001 repeats line 2"],
        "valid_from": "2026-12-01T00:00:00+08:00",
        "valid_until": "2027-01-01T00:00:00+08:00",
        "max_uses": 2,
        "metadata": None,
    }
    assert rows()["=SUMMER-2026-0002"]["max_uses"] == 2
    assert "metadata" not in rows()["=SUMMER-2026-0002"]


def test_imported_codes_carry_metadata_and_redeem_with_it(wiring, rows):
    """`metadata` (a JSON object; in the query string, its JSON text) goes on every imported
    code, as generate puts it on generated ones: query and redeem answer it."""
    import query_code as query
    import use_code as use

    wiring.install(clock=lambda: NOW)
    query_string = {"metadata": '{"pack": "gold", "tier": 2}'}
    status, body = answer(
        gateway_event("cards", b"CARD-0001\nCARD-0002\n", query=query_string), wiring
    )
    assert (status, body["stored"], body["metadata"]) == (200, 2, {"pack": "gold", "tier": 2})
    assert rows()["=CARD-0001"]["metadata"] == '{"pack":"gold","tier":2}'
    payload = json.dumps({"codes": ["MAIL-1"], "metadata": {"pack": "silver"}})
    status, body = answer(gateway_event("mail", payload, "application/json"), wiring)
    assert (status, body["metadata"]) == (200, {"pack": "silver"})

    def call(module, event):
        return json.loads(module.handler(json.dumps(event).encode(), wiring.context))

    assert call(query, {"code": "CARD-0002"})["metadata"] == {"pack": "gold", "tier": 2}
    redeemed = call(use, {"code": "MAIL-1", "user_id": "p1"})
    assert (redeemed["status"], redeemed["metadata"]) == ("USED", {"pack": "silver"})


@pytest.mark.parametrize(
    "query, message",
    [
        ({"metadata": "not json"}, "metadata: must be a JSON object"),
        ({"metadata": "[1, 2]"}, "metadata: must be a JSON object"),
        ({"metadata": '{"x": "%s"}' % ("y" * 5000)}, "metadata: is 5008 bytes as JSON"),
    ],
)
def test_bad_import_metadata_is_a_400_and_nothing_is_stored(wiring, rows, query, message):
    wiring.install(clock=lambda: NOW)
    status, body = answer(gateway_event("bad", b"BAD-1\n", query=query), wiring)
    assert status == 400
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"].startswith(message)
    assert "=BAD-1" not in rows()


def test_a_json_list_and_a_direct_invoke(wiring, rows):
    import import_code

    wiring.install(clock=lambda: NOW)
    status, body = answer(
        gateway_event("j", '{"codes": ["J-1"], "max_uses": 3}', "application/json"), wiring
    )
    assert (status, body["stored"], body["max_uses"]) == (200, 1, 3)
    direct = {"batch": "d", "codes": ["D-1", "J-1"]}
    body = json.loads(import_code.handler(json.dumps(direct).encode(), wiring.context))
    assert (body["stored"], body["existing"]) == (1, 1)
    assert body["notes"] == ["line 2: J-1 exists already, not overwritten"]


def test_a_bad_line_is_a_400_naming_it_and_nothing_is_stored(wiring, rows):
    wiring.install(clock=lambda: NOW)
    status, body = answer(gateway_event("b", "A-1\nB-2\n\nC-3\n"), wiring)
    assert status == 400
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert body["error"]["message"] == "line 3: is empty; one code per line"
    assert rows() == {}


def test_an_import_over_the_size_limit_is_413(wiring):
    wiring.install()
    big = "A\n" * (importing.MAX_IMPORT_BYTES // 2 + 1)
    status, body = answer(gateway_event("big", big), wiring)
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_a_batch_label_that_is_not_printable_is_refused(wiring):
    wiring.install()
    status, body = answer(gateway_event("bad\x01", "A\n"), wiring)
    assert status == 400 and body["error"]["message"].startswith("batch:")
