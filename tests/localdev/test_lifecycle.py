"""`make run` and `make invoke` as a developer uses them: share data, stop clean, keep data.

The stack runs on the project's own template.yml with a temporary data directory. `make invoke`
is run for real (through make, with DATA= aimed at that directory), once while the stack is up
(it then uses the stack's Tablestore) and once after the stack stopped (it starts its own on the
same data file, which still holds what the stack wrote).
"""

import json
import os
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.localdev.helpers import ROOT, TEMPLATE
from tests.support import localdev_stack

# Each test starts whole stacks and `make invoke` subprocesses: seconds apiece.
pytestmark = pytest.mark.slow

APP_KEY = "lifecycle-app-key"


def localdev(*args, stdin=None):
    """`python -m localdev ARGS` as a subprocess, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "localdev", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def invoke(data_dir, function, event=None, stdin=None):
    """`python -m localdev invoke` (what `make invoke` runs)."""
    event_arg = [str(event)] if event else []
    return localdev("invoke", function, *event_arg, "--data-dir", str(data_dir), stdin=stdin)


def make_invoke(data_dir, function, event):
    cmd = ["make", "--no-print-directory", "invoke", f"FN={function}", f"DATA={data_dir}"]
    if event:
        cmd.append(f"EVENT={event}")
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def port_is_free(url):
    parts = urlsplit(url)
    with socket.socket() as s:
        return s.connect_ex((parts.hostname, parts.port)) != 0


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    """Runs the whole story once; the tests below check its chapters."""
    data = tmp_path_factory.mktemp("lifecycle") / "data"
    story = {"data": data}
    stack = localdev_stack.start(TEMPLATE, data, app_key=APP_KEY)
    try:
        resp = stack.request(
            "POST",
            "/codes",
            '{"count": 2}',
            {"X-Ca-Key": APP_KEY, "Content-Type": "application/json"},
        )
        story["codes"] = resp.json()["codes"]
        story["invoke_while_running"] = invoke(
            data, "query_code", stdin=json.dumps({"code": story["codes"][0]})
        )
        port = str(urlsplit(stack.url).port)
        story["second_stack_same_port"] = localdev("run", "--data-dir", f"{data}-2", "--port", port)
        story["second_stack_same_data"] = localdev("run", "--data-dir", str(data), "--port", "0")
        health = stack.health()
        story["pids"] = [p for f in health["functions"].values() for p in f["instances"]]
    finally:
        story["exit"] = stack.stop()
    story["stack"] = stack
    story["invoke_after_stop"] = make_invoke(data, "query_code", None)
    return story


def test_make_invoke_uses_the_running_stacks_tablestore(lifecycle):
    proc = lifecycle["invoke_while_running"]
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "UNUSED"
    assert "the running local stack's Tablestore" in proc.stderr


def test_a_second_stack_is_refused_clearly(lifecycle):
    same_port = lifecycle["second_stack_same_port"]
    assert same_port.returncode == 2
    assert "cannot listen on 127.0.0.1" in same_port.stderr
    same_data = lifecycle["second_stack_same_data"]
    assert same_data.returncode == 2
    assert "the local stack is already running at" in same_data.stderr


def test_ctrl_c_stops_everything_and_frees_every_port(lifecycle):
    stack = lifecycle["stack"]
    assert lifecycle["exit"] == 0
    assert stack.output[-1] == "localdev stopped"
    assert len(lifecycle["pids"]) == 8  # one warm instance per function (the worker too)
    assert not any(alive(pid) for pid in lifecycle["pids"])
    assert port_is_free(stack.url)
    assert port_is_free(stack.ots_endpoint)
    assert not (lifecycle["data"] / "run.json").exists()


def test_data_survives_the_stack_and_make_invoke_starts_its_own_store(lifecycle):
    proc = subprocess.run(  # the same call through make, the event from standard input
        ["make", "--no-print-directory", "invoke", "FN=query_code", f"DATA={lifecycle['data']}"],
        cwd=ROOT,
        input=json.dumps({"code": lifecycle["codes"][1]}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "UNUSED"
    assert "a local Tablestore on http://127.0.0.1:" in proc.stderr


def test_make_invoke_prints_logs_then_result_then_figures(lifecycle):
    proc = make_invoke(lifecycle["data"], "query_code", "events/query_code.tutorial.json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # The sample's code is not in this data: the function's own answer, as a direct invoke.
    assert result["error"]["code"] == "CODE_NOT_FOUND"
    err = proc.stderr.splitlines()
    start = next(i for i, line in enumerate(err) if line.startswith("FC Invoke Start"))
    end = next(i for i, line in enumerate(err) if line.startswith("FC Invoke End"))
    assert any('"outcome":"CODE_NOT_FOUND"' in line for line in err[start:end])
    figures = err[-1]
    for part in ("Duration: ", "Init Duration: ", "Memory Size: 256 MB", "Max Memory Used: "):
        assert part in figures


def test_make_invoke_reports_a_missing_function_or_event_clearly(lifecycle):
    proc = invoke(lifecycle["data"], "nope", event=ROOT / "events" / "query_code.json")
    assert proc.returncode == 2
    assert (
        "no function 'nope' in template.yml "
        "(admin_code, batch_code, del_code, gen_chunk, gen_code, import_code, query_code, "
        "use_code)" in proc.stderr
    )
    proc = invoke(lifecycle["data"], "query_code", event=lifecycle["data"] / "missing.json")
    assert proc.returncode == 2
    assert "cannot read the event" in proc.stderr
