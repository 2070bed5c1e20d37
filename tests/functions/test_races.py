"""Concurrent redemptions through the real handler: never more successes than max_uses."""

import json
import threading

import gen_code
import use_code

from .helpers import EVENT_BODY, EVENT_CODE, ScriptedRandom

THREADS = 16


def make_code(wiring, **fields):
    wiring.install(random_bytes=ScriptedRandom(EVENT_BODY))
    params = {"count": 1}
    params.update(fields)
    body = json.loads(gen_code.handler(json.dumps(params).encode("utf-8"), wiring.context))
    assert body["codes"] == [EVENT_CODE]


def redeem_all_at_once(wiring, users):
    """Each user redeems EVENT_CODE on its own thread, all released together."""
    start = threading.Barrier(len(users))
    results = [None] * len(users)

    def run(i, user):
        event = {"code": EVENT_CODE}
        if user is not None:
            event["user_id"] = user
        start.wait()
        results[i] = json.loads(use_code.handler(json.dumps(event).encode("utf-8"), wiring.context))

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def outcome(result):
    if "error" in result:
        return result["error"]["code"]
    return "replay" if result["replay"] else "ok"


def test_one_single_use_code_many_threads_exactly_one_success(wiring, rows):
    make_code(wiring)
    results = redeem_all_at_once(wiring, ["user-%d" % i for i in range(THREADS)])
    outcomes = [outcome(r) for r in results]
    assert outcomes.count("ok") == 1
    assert outcomes.count("CODE_ALREADY_USED") == THREADS - 1
    winner = next(r for r in results if "error" not in r)
    row = rows()[EVENT_CODE.replace("-", "")]
    assert (row["state"], row["uses"]) == ("USED", 1)
    assert winner["uses"] == 1


def test_max_uses_five_many_threads_exactly_five_successes(wiring, rows):
    make_code(wiring, max_uses=5)
    results = redeem_all_at_once(wiring, ["user-%d" % i for i in range(THREADS)])
    outcomes = [outcome(r) for r in results]
    assert outcomes.count("ok") == 5
    assert outcomes.count("CODE_ALREADY_USED") == THREADS - 5
    assert sorted(r["uses"] for r in results if "error" not in r) == [1, 2, 3, 4, 5]
    row = rows()[EVENT_CODE.replace("-", "")]
    assert (row["state"], row["uses"]) == ("USED", 5)


def test_anonymous_redemptions_of_a_multi_use_code(wiring, rows):
    make_code(wiring, max_uses=5)
    outcomes = [outcome(r) for r in redeem_all_at_once(wiring, [None] * THREADS)]
    assert outcomes.count("ok") == 5
    assert rows()[EVENT_CODE.replace("-", "")]["uses"] == 5


def test_the_same_user_racing_itself_is_one_success_and_replays(wiring, rows):
    make_code(wiring, max_uses=5)
    results = redeem_all_at_once(wiring, ["same-user"] * 8)
    outcomes = [outcome(r) for r in results]
    assert outcomes.count("ok") == 1
    assert outcomes.count("replay") == 7
    assert rows()[EVENT_CODE.replace("-", "")]["uses"] == 1


def test_the_same_user_racing_itself_on_a_single_use_code(wiring, rows):
    make_code(wiring)
    outcomes = [outcome(r) for r in redeem_all_at_once(wiring, ["same-user"] * 8)]
    assert outcomes.count("ok") == 1
    assert outcomes.count("replay") == 7
