"""Codes brought over from the original tutorial, and its callers' answers (TUTORIAL_ANSWERS).

Rows are written into the `codes` table exactly as `make migrate` writes them
(`fccodes.legacy.row_of`), then the real handlers are invoked with the tutorial's own events.
"""

import json
import time
import uuid

import pytest
from tablestore import Condition, Row, RowExistenceExpectation

import del_code
import gen_code
import query_code
import use_code
from fccodes import legacy

from .helpers import Clock

NOW = 1796054400000  # 2026-12-01T00:00:00+08:00
HOUR = 3600


def migrated(sdk, table, status="UNACTIVED", start=None, end=None, code=None):
    """One tutorial code, migrated; returns its uuid."""
    code = code or str(uuid.uuid1())
    start = NOW / 1000.0 - HOUR if start is None else start
    end = NOW / 1000.0 + HOUR if end is None else end
    key, attributes = legacy.row_of(
        code, {"start": start, "end": end, "status": status}, "tutorial", NOW - 1
    )
    sdk.put_row(
        table,
        Row([("code", key)], sorted(attributes.items())),
        Condition(RowExistenceExpectation.EXPECT_NOT_EXIST),
    )
    return code


def invoke(module, event, wiring):
    """The raw return value of a direct invoke (a JSON body, or one of the tutorial's words)."""
    return module.handler(json.dumps(event).encode("utf-8"), wiring.context)


@pytest.fixture
def clock():
    return Clock(NOW)


def test_a_migrated_code_redeems_exactly_as_written(wiring, sdk, table, clock, rows):
    wiring.install(clock=clock)
    code = migrated(sdk, table)
    assert json.loads(invoke(query_code, {"uuid": code}, wiring))["status"] == "UNUSED"
    other_case = json.loads(invoke(use_code, {"uuid": code.upper()}, wiring))
    assert other_case["error"]["code"] == "INVALID_CODE"  # case-sensitive: no such code
    body = json.loads(invoke(use_code, {"uuid": code, "user_id": "u1"}, wiring))
    assert (body["code"], body["status"], body["replay"]) == (code, "USED", False)
    again = json.loads(invoke(use_code, {"uuid": code, "user_id": "u2"}, wiring))
    assert again["error"]["code"] == "CODE_ALREADY_USED"
    assert rows()["=" + code]["redeemed_by"] == "u1"


def test_the_tutorial_window_is_kept_to_the_millisecond(wiring, sdk, table, clock):
    start, end = NOW / 1000.0 + 0.0004, NOW / 1000.0 + 2.0006  # fractions, as mktime may give
    code = migrated(sdk, table, start=start, end=end)
    wiring.install(clock=clock)
    for now, status in (
        (NOW, "NOT_YET_VALID"),  # now < start
        (NOW + 1, "UNUSED"),  # the first millisecond with start <= now
        (NOW + 2000, "UNUSED"),  # now <= end
        (NOW + 2001, "EXPIRED"),  # now > end
    ):
        clock.now_ms = now
        assert json.loads(invoke(query_code, {"uuid": code}, wiring))["status"] == status, now


def test_an_activated_tutorial_code_is_used(wiring, sdk, table, clock):
    wiring.install(clock=clock)
    code = migrated(sdk, table, status="ACTIVED")
    body = json.loads(invoke(query_code, {"uuid": code}, wiring))
    assert (body["status"], body["uses"], body["max_uses"]) == ("USED", 1, 1)


def test_deleting_a_migrated_code(wiring, sdk, table, clock, rows):
    wiring.install(clock=clock)
    code = migrated(sdk, table)
    assert json.loads(invoke(del_code, {"uuid": code}, wiring)) == {"code": code, "deleted": True}
    assert rows() == {}
    gone = json.loads(invoke(del_code, {"uuid": code}, wiring))
    assert gone["error"]["code"] == "INVALID_CODE"


def test_imported_codes_off_refuses_them_without_the_store(wiring, sdk, table, clock):
    code = migrated(sdk, table)
    runtime = wiring.install(clock=clock, imported_codes=False)
    body = json.loads(invoke(use_code, {"uuid": code}, wiring))
    assert body["error"]["code"] == "INVALID_CODE"
    assert runtime.factory.builds == 0


# --- answers in the tutorial's words ----------------------------------------------------------
def test_the_tutorial_words_for_every_outcome(wiring, sdk, table, clock, rows):
    wiring.install(clock=clock, tutorial_answers=True)
    fresh = migrated(sdk, table)
    used = migrated(sdk, table, status="ACTIVED")
    expired = migrated(sdk, table, end=NOW / 1000.0 - 1)
    early = migrated(sdk, table, start=NOW / 1000.0 + 60)
    unknown = str(uuid.uuid1())

    assert invoke(query_code, {"uuid": fresh}, wiring) == "UNACTIVED"
    assert invoke(query_code, {"uuid": used}, wiring) == "ACTIVED"
    assert invoke(query_code, {"uuid": expired}, wiring) == "TIMEINVALID"
    assert invoke(query_code, {"uuid": early}, wiring) == "TIMEINVALID"
    assert invoke(query_code, {"uuid": unknown}, wiring) == "NO EXISTED"

    assert invoke(use_code, {"uuid": fresh}, wiring) == "SUCCEED"
    assert invoke(query_code, {"uuid": fresh}, wiring) == "ACTIVED"
    assert invoke(use_code, {"uuid": fresh}, wiring) == "FAILED"  # used
    assert invoke(use_code, {"uuid": expired}, wiring) == "FAILED"  # the tutorial said SUCCEED
    assert invoke(use_code, {"uuid": early}, wiring) == "FAILED"
    assert invoke(use_code, {"uuid": unknown}, wiring) == "FAILED"
    assert rows()["=" + expired]["state"] == "UNUSED"  # validity is enforced underneath

    assert invoke(del_code, {"uuid": used}, wiring) == "SUCCEED"
    assert invoke(del_code, {"uuid": used}, wiring) == "FAILED"  # nothing to delete
    assert invoke(query_code, {"uuid": used}, wiring) == "NO EXISTED"


def test_gen_code_in_the_tutorial_shape_answers_ok_and_stores_the_codes(wiring, clock, rows):
    wiring.install(clock=clock, tutorial_answers=True)
    event = {"num": 3, "start period": "2026-12-01 00:00:00", "end period": "2026-12-08 00:00:00"}
    assert invoke(gen_code, event, wiring) == "ok"
    stored = rows()
    assert len(stored) == 3
    assert {row["valid_until"] for row in stored.values()} == {NOW + 7 * 24 * 3600 * 1000}


def test_generated_codes_answer_in_words_too(wiring, clock):
    wiring.install(clock=clock, tutorial_answers=True)
    made = json.loads(invoke(gen_code, {"count": 1}, wiring))  # not the tutorial's shape
    code = made["codes"][0]
    assert invoke(use_code, {"uuid": code.lower()}, wiring) == "SUCCEED"
    assert invoke(query_code, {"uuid": code}, wiring) == "ACTIVED"


def test_events_in_todays_shape_keep_todays_answers(wiring, sdk, table, clock):
    wiring.install(clock=clock, tutorial_answers=True)
    code = migrated(sdk, table)
    assert json.loads(invoke(query_code, {"code": code}, wiring))["status"] == "UNUSED"
    made = json.loads(invoke(gen_code, {"count": 1}, wiring))
    assert len(made["codes"]) == 1


def test_words_are_off_by_default(wiring, sdk, table, clock):
    wiring.install(clock=clock)
    code = migrated(sdk, table)
    assert json.loads(invoke(use_code, {"uuid": code}, wiring))["status"] == "USED"


@pytest.mark.slow  # seconds of store latency or a whole stack: make test runs it
def test_a_failing_store_is_never_reported_as_a_tutorial_word(wiring, ots, sdk, table, clock):
    code = migrated(sdk, table)
    wiring.install(clock=clock, tutorial_answers=True, ots_timeout=0.3)
    ots.add_fault("busy")
    started = time.monotonic()
    answer = invoke(use_code, {"uuid": code}, wiring)
    assert time.monotonic() - started < 30
    assert json.loads(answer)["error"]["code"] == "STORE_UNAVAILABLE"
    ots.clear_faults()
    assert invoke(use_code, {"uuid": code}, wiring) == "SUCCEED"


def test_bad_input_in_the_tutorial_shape(wiring, clock):
    wiring.install(clock=clock, tutorial_answers=True)
    assert invoke(use_code, {"uuid": ""}, wiring) == "FAILED"
    assert invoke(query_code, {"uuid": "\x00"}, wiring) == "NO EXISTED"
    too_many = json.loads(invoke(gen_code, {"num": 10**6}, wiring))
    assert too_many["error"]["code"] == "INVALID_REQUEST"
