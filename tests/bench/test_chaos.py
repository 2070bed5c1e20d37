"""`make chaos`, reduced: the drill itself, and its checkers proven able to see a violation."""

import json

import pytest

from bench import chaos, fuzz

PARTS_AND_WORK = {
    "races": "attempts by",
    "faults": "generate calls",
    "crash": "redemptions acknowledged before a kill",
    "fuzz": "events",
    "migrate": "runs killed (SIGKILL) part-way",
    "campaigns": "successes before it returned",
    "async": "worker instances killed mid-chunk",
}


@pytest.mark.slow
def test_the_quick_drill_finds_no_violation():
    result = chaos.run(chaos.QUICK, seed=20261129, log=lambda line: None)
    assert [c.name for c in result.violations] == [], result.text()
    # It did the work: every part ran and counted something.
    for part, work in PARTS_AND_WORK.items():
        done = [c.value for c in result.checks if c.part == part and work in c.name]
        assert done and min(done) > 0, (part, result.text())


# --- the fuzz oracle -----------------------------------------------------------------------------
def envelope(status, body):
    return json.dumps(
        {
            "isBase64Encoded": False,
            "statusCode": status,
            "headers": {"Content-Type": "application/json; charset=utf-8"},
            "body": json.dumps(body),
        }
    )


def error(code, message="a message"):
    return {"error": {"code": code, "message": message, "request_id": "r"}}


def test_the_oracle_accepts_documented_answers():
    assert fuzz.check("redeem", b"{}", envelope(400, error("INVALID_REQUEST"))) == []
    assert fuzz.check("query", b"{}", json.dumps(error("CODE_NOT_FOUND"))) == []
    assert fuzz.check("generate", b"{}", envelope(201, {"codes": []})) == []
    # A message may quote what the caller sent, even if it looks like an internal name.
    sent = b'{"nonce": 1}'
    assert (
        fuzz.check("generate", sent, json.dumps(error("INVALID_REQUEST", "nonce: unknown"))) == []
    )


@pytest.mark.parametrize(
    "answer, problem",
    [
        (envelope(500, error("INTERNAL")), "status 500"),
        (json.dumps(error("INTERNAL")), "status 500"),
        (envelope(404, error("INVALID_CODE")), "INVALID_CODE answered with status 404"),
        (envelope(200, {"codes": []}), "success with status 200"),
        (json.dumps(error("STORE_UNAVAILABLE")), "store error for a healthy store"),
        (json.dumps(error("OOPS")), "undocumented error code"),
        (json.dumps({"error": "bad"}), "malformed error"),
        (json.dumps(error("INVALID_REQUEST", "")), "error without a message"),
        (json.dumps(error("INVALID_REQUEST", 'Traceback: File "x.py"')), "leaks"),
        (json.dumps(error("INVALID_REQUEST", "KeyError: 'nonce'")), "leaks"),
        (json.dumps({"code": "X", "redeemed_by": "u"}), "leaks"),
        ('{"message": "\ud800"}', "not encodable as UTF-8"),
        ("not json", "not JSON"),
        (None, "not JSON text"),
    ],
)
def test_the_oracle_flags_contract_breaks(answer, problem):
    problems = fuzz.check("generate", b"{}", answer)
    assert any(p.startswith(problem) for p in problems), problems


def test_fuzzed_events_are_reproducible_from_the_seed():
    def events(seed):
        rng = fuzz.random.Random(seed)
        return [repr(fuzz.event(rng, "redeem", ["7K3M-Q9XD-2FHN-W4TX"])) for _ in range(200)]

    assert events(5) == events(5)
    assert events(5) != events(6)


# --- the generate accounting ---------------------------------------------------------------------
def call(batch, codes=None, cleanup=None):
    if codes is None:
        body = {"error": {"code": "STORE_UNAVAILABLE", "cleanup_complete": cleanup}}
        return (batch, 2, [], body)
    return (batch, len(codes), [], {"codes": codes, "count": len(codes)})


def test_the_tally_sees_lost_codes_and_phantom_rows():
    calls = [call("a", ["AAAA-1111", "AAAA-2222"]), call("b", cleanup=True)]
    stored = {"AAAA1111": {"batch": "a"}, "AAAA2222": {"batch": "a"}}
    clean = chaos.tally_generate_calls(calls, stored)
    assert (clean["succeeded"], clean["failed"], clean["lost"], clean["phantoms"]) == (1, 1, 0, 0)

    missing = chaos.tally_generate_calls(calls, {"AAAA1111": {"batch": "a"}})
    assert missing["lost"] == 1

    left = dict(stored, BBBB3333={"batch": "b"})
    assert chaos.tally_generate_calls(calls, left)["phantoms"] == 1

    odd = chaos.tally_generate_calls([("c", 3, [], {"codes": ["X"], "count": 1})], {})
    assert odd["wrong"] == 1  # a "success" with fewer codes than asked for
