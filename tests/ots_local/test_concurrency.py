"""Single-row conditional writes are atomic under many concurrent clients."""

from __future__ import annotations

import threading

from tablestore import ComparatorType, Condition, OTSServiceError, Row, SingleColumnCondition

from .conftest import make_client

THREADS = 16
PK = [("pk", "hot")]


def run_threads(target, count=THREADS):
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(i):
        try:
            barrier.wait(10)
            results[i] = target(i)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_exactly_one_of_many_racing_inserts_wins(ots, tables):
    name = tables.create()

    def insert(i):
        client = make_client(ots)
        try:
            client.put_row(name, Row(PK, [("owner", i)]), Condition("EXPECT_NOT_EXIST"))
        except OTSServiceError as error:
            assert error.get_error_code() == "OTSConditionCheckFail"
            return False
        return True

    won = run_threads(insert)
    assert won.count(True) == 1
    row = make_client(ots).get_row(name, PK, max_version=1)[1]
    assert row.attribute_columns[0][1] == won.index(True)


def test_compare_and_set_never_loses_an_update(ots, tables):
    name = tables.create()
    make_client(ots).put_row(name, Row(PK, [("n", 0)]))
    attempts_each = 15

    def bump(_):
        client = make_client(ots)
        applied = 0
        for _ in range(attempts_each):
            current = client.get_row(name, PK, max_version=1)[1].attribute_columns[0][1]
            condition = Condition(
                "EXPECT_EXIST", SingleColumnCondition("n", current, ComparatorType.EQUAL)
            )
            try:
                client.update_row(name, Row(PK, {"put": [("n", current + 1)]}), condition)
                applied += 1
            except OTSServiceError as error:
                assert error.get_error_code() == "OTSConditionCheckFail"
        return applied

    applied = sum(run_threads(bump, 8))
    final = make_client(ots).get_row(name, PK, max_version=1)[1].attribute_columns[0][1]
    assert final == applied
    assert 0 < applied <= 8 * attempts_each


def test_a_guarded_counter_is_never_pushed_past_its_limit(ots, tables):
    # The shape of a multi-use code: redeem while uses < max_uses, atomically.
    name = tables.create()
    make_client(ots).put_row(name, Row(PK, [("uses", 0)]))
    limit = 5

    def redeem(_):
        client = make_client(ots)
        successes = 0
        for _ in range(200):  # until the limit is reached (bounded, in case of a bug)
            current = client.get_row(name, PK, max_version=1)[1].attribute_columns[0][1]
            if current >= limit:
                break
            guard = Condition(
                "EXPECT_EXIST", SingleColumnCondition("uses", current, ComparatorType.EQUAL)
            )
            try:
                client.update_row(name, Row(PK, {"increment": [("uses", 1)]}), guard)
                successes += 1
            except OTSServiceError:
                pass
        return successes

    total = sum(run_threads(redeem))
    final = make_client(ots).get_row(name, PK, max_version=1)[1].attribute_columns[0][1]
    assert total == final == limit
