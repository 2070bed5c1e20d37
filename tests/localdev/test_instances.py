"""The local FC instances behave like Function Compute's: real worker processes, probe function.

Each test invokes the probe function (tests/localdev/helpers.py) through `LocalFC`, the same
object `make run` and `make invoke` use, and checks what FC guarantees: the event arrives as the
exact bytes sent, the context and environment are the function's, the initializer runs once per
instance, faults (exception, timeout, crash, failing initializer) are reported the way FC
reports them and leave the pool usable.
"""

import base64
import json
import os
import sys
import threading
import time

import pytest

from localdev.instances import UNHANDLED, UNHANDLED_INIT, Identity, LocalFC
from tests.localdev.helpers import dumps, find_python, probe_project, probe_source

IDENTITY = Identity("key-id", "key-secret", "sts-token", "cn-shanghai", "1234")
OTS = "http://127.0.0.1:1"  # the probe never connects: only its environment shows it


@pytest.fixture
def project(tmp_path):
    return probe_project(tmp_path)


@pytest.fixture
def fc(project):
    local = LocalFC(project, sys.executable, IDENTITY, OTS, max_instances=2)
    yield local
    local.close()


def body(invocation):
    assert invocation.ok, invocation.payload
    return json.loads(invocation.payload)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_event_is_the_exact_bytes_sent_and_the_context_is_the_functions(fc):
    event = b'{"x": "\xc3\xa9t\xc3\xa9", "n": 1}  '  # UTF-8 and trailing spaces, as sent
    result = fc.invoke("probe", event, request_id="req-123")
    info = body(result)
    assert info["event_type"] == "bytes"
    assert base64.b64decode(info["event_b64"]) == event
    assert info["request_id"] == "req-123" == result.request_id
    assert info["credentials"] == ["key-id", "key-secret", "sts-token"]
    assert info["function"] == ["probe", "probe.handler", 128, 1, "probe.initializer"]
    assert info["service"] == "probe-svc"
    assert [info["region"], info["account_id"]] == ["cn-shanghai", "1234"]


def test_the_environment_is_the_templates_with_the_endpoint_aimed_at_the_local_store(fc, project):
    info = body(fc.invoke("probe", b"{}"))
    assert info["env"] == {
        "OTS_ENDPOINT": OTS,
        "OTS_INSTANCE": "probe",
        "GREETING": "hello",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "key-id",
        "HOME": None,  # nothing of the developer's environment leaks in
        "PYTHONPATH": None,
    }
    code_dir = str(project.functions["probe"].code_dir)
    assert info["cwd"] == code_dir == info["sys_path0"]


def test_the_initializer_runs_once_per_instance_and_instances_are_reused(fc):
    first = fc.invoke("probe", b"{}")
    second = fc.invoke("probe", b"{}")
    a, b = body(first), body(second)
    assert a["pid"] == b["pid"]
    assert (a["inits"], a["calls"], b["inits"], b["calls"]) == (1, 1, 1, 2)
    assert first.init_duration_ms is not None  # a cold start
    assert second.init_duration_ms is None
    assert "probe initializer" in first.logs
    assert "probe initializer" not in second.logs


def test_a_function_without_initializer_just_serves(fc):
    info = body(fc.invoke("plain", b"{}"))
    assert (info["inits"], info["calls"]) == (0, 1)


def test_each_invocation_returns_its_own_log_lines_with_its_request_id(fc):
    fc.invoke("probe", b"{}")
    result = fc.invoke("probe", dumps({"action": "hello"}), request_id="req-logs")
    lines = result.logs.splitlines()
    assert "probe stdout hello" in lines
    assert "probe stderr" in lines
    logged = [line for line in lines if "probe handling hello" in line]
    assert len(logged) == 1
    assert " req-logs [INFO] probe handling hello" in logged[0]
    assert "probe initializer" not in result.logs
    assert result.memory_mb > 1
    assert result.duration_ms >= 0


def test_an_exception_is_an_unhandled_invocation_error_in_fcs_shape(fc):
    before = body(fc.invoke("probe", b"{}"))
    result = fc.invoke("probe", dumps({"action": "raise"}))
    assert result.error_type == UNHANDLED
    error = json.loads(result.payload)
    assert error["errorMessage"] == "boom on purpose"
    assert error["errorType"] == "ValueError"
    last = error["stackTrace"][-1]
    assert last[0].endswith('probe.py"') and last[2] == "in handler"
    assert last[3] == 'raise ValueError("boom on purpose")'
    assert "fc_worker" not in json.dumps(error["stackTrace"])
    assert "Traceback" in result.logs  # FC logs the traceback too
    # The instance survives an exception, as on FC.
    assert body(fc.invoke("probe", b"{}"))["pid"] == before["pid"]


def test_a_call_past_the_timeout_kills_the_instance_and_answers_fcs_timeout_error(fc):
    before = body(fc.invoke("probe", b"{}"))
    started = time.monotonic()
    result = fc.invoke("probe", dumps({"action": "sleep", "seconds": 5}))
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3
    assert result.error_type == UNHANDLED
    assert json.loads(result.payload)["errorMessage"].startswith(
        "Function timed out after 1 seconds (maxMemoryUsage: "
    )
    assert not alive(before["pid"])
    after = fc.invoke("probe", b"{}")
    assert body(after)["pid"] != before["pid"]
    assert after.init_duration_ms is not None  # a new instance, initializer again
    assert body(after)["inits"] == 1


def test_an_instance_that_dies_mid_call_is_reported_and_replaced(fc):
    before = body(fc.invoke("probe", b"{}"))
    result = fc.invoke("probe", dumps({"action": "exit"}))
    assert result.error_type == UNHANDLED
    assert json.loads(result.payload)["errorMessage"].startswith(
        "Process exited unexpectedly before completing request"
    )
    assert body(fc.invoke("probe", b"{}"))["pid"] != before["pid"]


def test_a_failing_initializer_fails_the_call_and_is_retried_by_the_next(fc, project):
    flag = project.template.parent / "flags" / "fail-init"
    flag.write_text("")
    result = fc.invoke("probe", b"{}")
    assert result.error_type == UNHANDLED_INIT
    error = json.loads(result.payload)
    assert (error["errorType"], error["errorMessage"]) == (
        "RuntimeError",
        "initializer failed on purpose",
    )
    flag.unlink()
    assert body(fc.invoke("probe", b"{}"))["inits"] == 1


def test_concurrent_calls_scale_out_up_to_max_instances(fc):
    results = []

    def call():
        results.append(fc.invoke("plain", dumps({"action": "sleep", "seconds": 0.6})))

    threads = [threading.Thread(target=call) for _ in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    pids = {body(r)["pid"] for r in results}
    assert len(pids) == 2  # max_instances=2: the third call waited for a free instance
    assert elapsed >= 1.2


def test_calls_that_arrive_during_the_warm_up_still_scale_out(project):
    local = LocalFC(project, sys.executable, IDENTITY, OTS, max_instances=3)
    try:
        warm = local.warm()  # one instance per function, in the background
        results = []
        event = dumps({"action": "sleep", "seconds": 0.5})
        calls = [
            threading.Thread(target=lambda: results.append(local.invoke("plain", event)))
            for _ in range(3)
        ]
        for t in calls:
            t.start()
        for t in [*calls, *warm]:
            t.join()
        # The warm instance serves one call; the others start their own instead of queueing.
        assert len({body(r)["pid"] for r in results}) == 3
        assert sum(r.init_duration_ms is None for r in results) == 1
    finally:
        local.close()


def test_changed_code_is_loaded_by_new_instances(fc, project):
    before = body(fc.invoke("plain", b"{}"))
    assert before["version"] == 1
    source = project.functions["plain"].code_dir / "probe.py"
    source.write_text(probe_source(2))
    os.utime(source, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    after = body(fc.invoke("plain", b"{}"))
    assert after["version"] == 2
    assert after["pid"] != before["pid"]
    assert not alive(before["pid"])


def test_close_stops_every_instance(project):
    local = LocalFC(project, sys.executable, IDENTITY, OTS, max_instances=2)
    pids = [body(local.invoke(name, b"{}"))["pid"] for name in ("probe", "plain")]
    assert all(alive(p) for p in pids)
    local.close()
    assert not any(alive(p) for p in pids)
    with pytest.raises(RuntimeError):
        local.invoke("probe", b"{}")


def test_the_worker_runs_on_fcs_python_36(project, monkeypatch):
    python = find_python("3.6")
    if python is None:
        if os.environ.get("REQUIRE_RUNTIMES") == "1":
            pytest.fail("Python 3.6 is required (REQUIRE_RUNTIMES=1)")
        pytest.skip("Python 3.6 is not installed: the worker is only checked by vermin")
    # Without a UTF-8 locale Python 3.6's own stdout is ASCII: the worker's must not be.
    monkeypatch.delenv("LANG", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    local = LocalFC(project, python, IDENTITY, OTS)
    try:
        result = local.invoke("probe", dumps({"action": "h\u00e9llo"}))
        info = body(result)
        assert info["python"] == [3, 6]
        assert (info["inits"], info["event_type"]) == (1, "bytes")
        assert "probe stdout h\u00e9llo" in result.logs
        result = local.invoke("probe", dumps({"action": "raise"}))
        assert json.loads(result.payload)["errorType"] == "ValueError"
    finally:
        local.close()
