"""Concurrent invocations through the real handler: never more successes than max_uses, and
never another invocation's credentials."""

import json
import sys
import threading

import gen_code
import query_code
import use_code

from .helpers import EVENT_BODY, EVENT_CODE, Attributes, FCContext, ScriptedRandom

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


def test_concurrent_invocations_sign_with_their_own_credentials(wiring, ots):
    """One instance serving invocations on threads (FC instance concurrency > 1), each with the
    credentials of its own context: a right secret always reaches the table (404 for an unknown
    code), a wrong one never does (503), however the invocations interleave."""
    good = [
        FCContext(
            credentials=Attributes(
                access_key_id=ots.access_key_id,
                access_key_secret=ots.access_key_secret,
                security_token="sts-%d" % i,
            )
        )
        for i in range(3)
    ]
    bad = [
        FCContext(
            credentials=Attributes(
                access_key_id=ots.access_key_id, access_key_secret="wrong-%d" % i
            )
        )
        for i in range(3)
    ]
    contexts = good + bad
    start = threading.Barrier(len(contexts))
    outcomes = [[] for _ in contexts]
    event = json.dumps({"code": EVENT_CODE}).encode("utf-8")

    def run(i, context):
        start.wait()
        for _ in range(25):
            body = json.loads(query_code.handler(event, context))
            outcomes[i].append(body["error"]["code"])

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(contexts)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: interleave every step of the handler
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    for i, seen in enumerate(outcomes):
        expected = "CODE_NOT_FOUND" if i < len(good) else "STORE_UNAVAILABLE"
        assert seen == [expected] * 25, (i, sorted(set(seen)))
