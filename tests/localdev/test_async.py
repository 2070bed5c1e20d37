"""Asynchronous invocation through the local FC invoke API: 202 at once, FC's retry policy.

The stack runs in-process over the probe template (tests/localdev/helpers.py), with the first
retry after 20 ms instead of FC's 0.5 s so that a retried call takes milliseconds.
"""

import json
import time
import uuid

import fc2
import pytest

from localdev.asyncq import MAX_RETRIES
from localdev.stack import Stack, StackConfig
from localdev.store import LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET
from tests.localdev.helpers import probe_project

ASYNC = {"x-fc-invocation-type": "Async"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("async")
    project = probe_project(base)
    lines = []
    config = StackConfig(
        template=project.template,
        data_dir=base / "data",
        port=0,
        warm=False,
        async_retry_delay=0.02,
    )
    running = Stack(config, lines.append)
    running.start()
    running.lines = lines
    running.flags = base / "flags"
    yield running
    running.stop()


def client(stack):
    return fc2.Client(
        endpoint=stack.server.url,
        accessKeyID=LOCAL_ACCESS_KEY_ID,
        accessKeySecret=LOCAL_ACCESS_KEY_SECRET,
    )


def invoke_async(stack, params):
    resp = client(stack).invoke_function(
        "probe-svc", "plain", payload=json.dumps(params).encode(), headers=ASYNC
    )
    return resp.headers["X-Fc-Request-Id"]


def lines_of(stack, request_id, timeout=10.0):
    """The queue's lines for `request_id` once its last one (done or dropped) is logged."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [
            line.splitlines()[0]
            for line in list(stack.lines)
            if line.startswith("FC API async") and f"[{request_id}]" in line.splitlines()[0]
        ]
        if mine and (" done " in mine[-1] or "dropped" in mine[-1]):
            return mine
        assert time.monotonic() < deadline, f"no outcome for {request_id}: {mine}"
        time.sleep(0.02)


def test_an_async_call_answers_202_with_a_request_id_and_empty_body(stack):
    resp = client(stack).invoke_function("probe-svc", "plain", payload=b"{}", headers=ASYNC)
    assert resp.data == b""
    request_id = resp.headers["X-Fc-Request-Id"]
    assert str(uuid.UUID(request_id)) == request_id
    assert lines_of(stack, request_id) == [f"FC API async plain done (attempt 1/4) [{request_id}]"]


def test_a_failing_call_is_retried_then_succeeds_with_the_same_request_id(stack):
    name = uuid.uuid4().hex
    request_id = invoke_async(stack, {"action": "flaky", "name": name, "fails": 2})
    lines = lines_of(stack, request_id)
    assert len(lines) == 3
    assert lines[0].startswith("FC API async plain failed (attempt 1/4, UnhandledInvocationError")
    assert "flaky on purpose" in lines[0]
    assert lines[0].endswith(f"retry in 0.02 s [{request_id}]")
    assert lines[1].endswith(f"retry in 0.04 s [{request_id}]")
    assert lines[2] == f"FC API async plain done (attempt 3/4) [{request_id}]"
    assert (stack.flags / f"flaky-{name}").read_text() == "xxx"  # ran exactly three times


def test_a_call_that_always_fails_runs_four_times_then_is_dropped(stack):
    name = uuid.uuid4().hex
    request_id = invoke_async(stack, {"action": "flaky", "name": name, "fails": 100})
    lines = lines_of(stack, request_id)
    assert len(lines) == MAX_RETRIES + 1 == 4
    assert "no retries left, dropped" in lines[-1]
    assert "(attempt 4/4, UnhandledInvocationError" in lines[-1]
    assert (stack.flags / f"flaky-{name}").read_text() == "xxxx"


def test_a_timed_out_call_is_retried_too(stack):
    # plain's Timeout is 5 s in the probe template: probe (1 s) times out quickly.
    resp = client(stack).invoke_function(
        "probe-svc",
        "probe",
        payload=json.dumps({"action": "sleep", "seconds": 3}).encode(),
        headers=ASYNC,
    )
    request_id = resp.headers["X-Fc-Request-Id"]
    deadline = time.monotonic() + 10
    while not any(
        line.startswith("FC API async probe failed (attempt 1/4") and request_id in line
        for line in list(stack.lines)
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.slow  # seconds of store latency or a whole stack: make test runs it
def test_many_async_calls_all_run_once_and_the_queue_drains(stack):
    ids = [invoke_async(stack, {"n": i}) for i in range(40)]
    assert stack.fc_api.queue.wait_idle(30)
    for request_id in ids:
        assert lines_of(stack, request_id) == [
            f"FC API async plain done (attempt 1/4) [{request_id}]"
        ]
    health = stack.fc_api.queue.describe()
    assert health["queued"] == health["running"] == health["waiting_retry"] == 0


def test_an_async_payload_over_128_kb_is_refused(stack):
    with pytest.raises(fc2.fc_exceptions.FcError) as err:
        client(stack).invoke_function(
            "probe-svc", "plain", payload=b"x" * (128 * 1024 + 1), headers=ASYNC
        )
    assert err.value.status_code == 400


@pytest.mark.slow  # seconds apiece: make test runs it, make test-quick leaves it out
def test_the_functions_own_async_invoker_is_accepted_and_retried_by_fc(stack):
    """fccodes.fcinvoke (what gen_code uses to fan a big batch out) against the local FC API."""
    from fccodes import fcinvoke
    from fccodes.settings import Credentials

    name = uuid.uuid4().hex
    credentials = Credentials(LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET, "a-token")
    request_id = fcinvoke.invoke_async(
        stack.server.url,
        credentials,
        "probe-svc",
        "plain",
        {"action": "flaky", "name": name, "fails": 1},
    )
    lines = lines_of(stack, request_id)
    assert lines[-1] == f"FC API async plain done (attempt 2/4) [{request_id}]"
    wrong = Credentials(LOCAL_ACCESS_KEY_ID, "not-the-secret", None)
    with pytest.raises(fcinvoke.InvokeFailed) as info:
        fcinvoke.invoke_async(stack.server.url, wrong, "probe-svc", "plain", {})
    assert not info.value.retryable
    assert "403" in info.value.reason and "SignatureNotMatch" in info.value.reason
