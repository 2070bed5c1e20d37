"""The largest batch in one call: 10,000 distinct codes, exactly those rows."""

import json

import pytest

import gen_code

from .helpers import FCContext, ScriptedRandom, server_credentials


@pytest.mark.slow
def test_ten_thousand_codes_in_one_call(wiring, ots, rows):
    context = FCContext(credentials=server_credentials(ots), timeout=120)
    event = json.dumps({"count": 10000, "prefix": "GW"}).encode("utf-8")
    body = json.loads(gen_code.handler(event, context))
    assert body["count"] == 10000
    keys = [code.replace("-", "") for code in body["codes"]]
    assert len(set(keys)) == 10000
    assert all(code.startswith("GW-") for code in body["codes"])
    stored = rows(["batch"])
    assert sorted(stored) == sorted(keys)
    assert {row["batch"] for row in stored.values()} == {body["batch"]}


def test_a_forced_collision_is_regenerated_never_overwritten(wiring, rows):
    body_a = "R8ZP1VC6JGA5E0Y"
    wiring.install(random_bytes=ScriptedRandom(body_a))
    first = json.loads(gen_code.handler(b'{"count": 1, "batch": "first"}', wiring.context))
    before = rows()
    wiring.install(random_bytes=ScriptedRandom(body_a, body_a, body_a))
    second = json.loads(gen_code.handler(b'{"count": 3, "batch": "second"}', wiring.context))
    assert second["count"] == 3
    assert first["codes"][0] not in second["codes"]
    after = rows()
    key = first["codes"][0].replace("-", "")
    assert after[key] == before[key]  # untouched: still batch "first"
    assert sorted(k for k, row in after.items() if row["batch"] == "second") == sorted(
        code.replace("-", "") for code in second["codes"]
    )
