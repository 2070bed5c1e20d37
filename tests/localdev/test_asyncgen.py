"""Big batches on the whole local stack: POST /codes through the local API Gateway answers 202,
gen_code queues the worker through the local FC invoke API (signed, as on FC), the worker fans
out and writes chunks in local FC instances, FC's retry policy runs failed attempts again, and
GET /batches/{batch} and the CSV export see the result. Store faults come from the stack's own
ots_local; a worker is killed with SIGKILL.

Small chunks (GEN_CHUNK_SIZE 2,000) and short worker timeouts keep each test to seconds.
"""

import csv
import io
import json
import os
import signal
import time

import pytest

from localdev.stack import Stack, StackConfig
from tests.localdev.helpers import copy_template

pytestmark = pytest.mark.slow  # whole stacks writing tens of thousands of codes

APP_KEY = "async-test-app-key"
ADMIN = {"X-Ca-Key": APP_KEY, "Content-Type": "application/json"}
ENV = {"GEN_CHUNK_SIZE": "2000", "OTS_TIMEOUT": "2", "GEN_CONCURRENCY": "4"}
# A worker's attempt: 0.9 x 6 s, 70% of it (3.8 s) for writing (fccodes/asyncgen.py). A store
# that refuses every write fails an attempt in that time; four attempts take over 15 s.
WORKER = {"gen_chunk": {"Timeout": 6}}
WRITE_BUDGET_S = 6 * 0.9 * 0.7


def start_stack(base, env=None, s_yaml=False):
    template = copy_template(
        base,
        env=dict(ENV, **(env or {})),
        properties=WORKER,
        s_yaml_env={} if s_yaml else None,
    )
    lines = []
    config = StackConfig(
        template=template,
        data_dir=base / "data",
        port=0,
        app_key=APP_KEY,
        throttle=False,
        async_retry_delay=0.02,
        max_instances=3,
    )
    running = Stack(config, lines.append)
    running.start()
    running.lines = lines
    return running


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(tmp_path_factory.mktemp("asyncgen"))
    yield running
    running.stop()


def request(stack, method, path, body=None, headers=None):
    """(status, parsed body or text, headers) of one request to the stack."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(stack.server.url + path, data=data, method=method)
    for key, value in (headers or ADMIN).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, raw, head = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        status, raw, head = e.code, e.read(), e.headers
    text = raw.decode("utf-8")
    is_json = (head.get("Content-Type") or "").startswith("application/json")
    return status, json.loads(text) if is_json else text, head


def wait_done(stack, batch, timeout=120):
    """GET /batches/{batch} until READY or FAILED (and its cleanup ended); the progress seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        status, info, _ = request(stack, "GET", f"/batches/{batch}")
        assert status == 200, info
        generation = info["generation"]
        seen.append(generation["written"])
        finished = generation["status"] == "READY" or generation["cleanup_complete"]
        if finished:
            return info, seen
        assert time.monotonic() < deadline, (info, stack.lines[-20:])
        time.sleep(0.2)


def export(stack, batch):
    codes, cursor = [], None
    while True:
        path = f"/batches/{batch}/codes?limit=5000" + (f"&cursor={cursor}" if cursor else "")
        status, text, head = request(stack, "GET", path, headers=dict(ADMIN, Accept="text/csv"))
        assert status == 200, text
        codes += [row["code"] for row in csv.DictReader(io.StringIO(text))]
        cursor = head.get("X-Next-Cursor")
        if not cursor:
            return codes


def stored_codes(stack, batch):
    """Every row of the codes table that belongs to `batch` (a full scan: tests only)."""
    from harness import tables

    client = stack.store.server.client()
    return [
        k for k, row in tables.scan(client, "codes", ["batch"]).items() if row.get("batch") == batch
    ]


def async_lines(stack, word):
    return [
        line.splitlines()[0]
        for line in stack.lines
        if line.startswith("FC API async") and word in line
    ]


def test_a_batch_of_30000_is_generated_watched_and_exported_whole(stack):
    status, body, _ = request(
        stack, "POST", "/codes", {"count": 30000, "batch": "thirty", "prefix": "TTY"}
    )
    assert status == 202, body
    assert (body["state"], body["generation"]["status"], body["generation"]["chunks"]) == (
        "GENERATING",
        "GENERATING",
        15,
    )
    info, seen = wait_done(stack, "thirty")
    assert info["state"] == "ACTIVE" and info["generation"]["status"] == "READY"
    assert info["generation"]["written"] == 30000 and info["figures"]["unused"] == 30000
    assert seen == sorted(seen)  # progress only grows
    exported = export(stack, "thirty")
    assert len(exported) == len(set(exported)) == 30000
    assert len(stored_codes(stack, "thirty")) == 30000
    # Redeemed like any code.
    status, redeemed, _ = request(
        stack, "POST", f"/codes/{exported[0]}/redeem", {"user_id": "p"}, {}
    )
    assert status == 200 and redeemed["status"] == "USED"


def test_chunks_failed_by_the_store_mid_way_are_retried_to_exactly_n(stack):
    """The store refuses every write for a while after the chunks started: the attempts running
    then fail with part of their rows written, and FC's retries complete them."""
    server = stack.store.server
    server.add_fault("latency", api="BatchWriteRow", latency_ms=30)
    status, _, _ = request(stack, "POST", "/codes", {"count": 24000, "batch": "flaky"})
    assert status == 202
    deadline = time.monotonic() + 30
    while request(stack, "GET", "/batches/flaky")[1]["generation"]["written"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.clear_faults()
    server.add_fault("busy", api="BatchWriteRow")
    # Longer than one attempt's writing budget, far shorter than three attempts: the attempts
    # running now fail, none of them for good.
    time.sleep(WRITE_BUDGET_S + 1)
    server.clear_faults()
    info, _ = wait_done(stack, "flaky")
    assert info["generation"]["status"] == "READY", info
    assert any("retry in" in line for line in async_lines(stack, "gen_chunk failed"))
    exported = export(stack, "flaky")
    assert len(exported) == len(set(exported)) == 24000
    assert len(stored_codes(stack, "flaky")) == 24000


def test_a_worker_killed_mid_chunk_is_run_again_to_exactly_n(stack):
    stack.store.server.add_fault("latency", api="BatchWriteRow", latency_ms=50)
    try:
        assert request(stack, "POST", "/codes", {"count": 16000, "batch": "killed"})[0] == 202
        deadline = time.monotonic() + 30
        while request(stack, "GET", "/batches/killed")[1]["generation"]["written"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pids = stack.fc.describe()["gen_chunk"]["instances"]
        os.kill(pids[0], signal.SIGKILL)  # mid-chunk: chunks take seconds at this latency
    finally:
        stack.store.server.clear_faults()
    info, _ = wait_done(stack, "killed")
    assert info["generation"]["status"] == "READY", info
    assert len(set(export(stack, "killed"))) == 16000
    assert len(stored_codes(stack, "killed")) == 16000


def test_a_batch_the_store_will_not_take_fails_and_leaves_nothing_behind(stack):
    server = stack.store.server
    status, _, _ = request(stack, "POST", "/codes", {"count": 20000, "batch": "refused"})
    assert status == 202
    server.add_fault("busy", api="BatchWriteRow")  # from now on, until the batch has failed
    deadline = time.monotonic() + 60
    try:
        while request(stack, "GET", "/batches/refused")[1]["state"] != "FAILED":
            assert time.monotonic() < deadline, stack.lines[-10:]
            time.sleep(0.2)
    finally:
        server.clear_faults()
    info, _ = wait_done(stack, "refused")
    assert info["generation"]["cleanup_complete"] is True
    assert "could not be written in 4 attempts" in info["generation"]["reason"]
    assert info["figures"] is None and info["generation"]["written"] == 0
    assert stored_codes(stack, "refused") == []
    status, body, _ = request(stack, "GET", "/batches/refused/codes")
    assert (status, body["error"]["code"]) == (409, "BATCH_FAILED")


def test_the_command_line_waits_for_a_big_batch_and_writes_its_codes(stack, tmp_path, capsys):
    from tools import codes as cli

    env = {"FCCODES_URL": stack.server.url, "FCCODES_APP_KEY": APP_KEY}
    out = tmp_path / "cli.txt"
    argv = ["generate", "--count", "12000", "--batch", "cli", "--wait", "--out", str(out)]
    assert cli.main([*argv, "--poll", "0.2"], environ=env) == 0
    written = out.read_text().split()
    assert len(written) == len(set(written)) == 12000
    assert cli.main(["show", "cli"], environ=env) == 0
    shown = capsys.readouterr()
    assert "batch cli: 12,000 codes, generated asynchronously" in shown.err
    assert '"status": "READY"' in shown.out and "figures" in shown.out


def test_bad_counts_are_400(stack):
    status, body, _ = request(stack, "POST", "/codes", {"count": 10000001})
    assert status == 400
    assert body["error"]["message"] == "count: must be an integer from 1 to 10000000"


def test_the_worker_is_not_reachable_through_the_gateway(stack):
    assert all(route.function != "gen_chunk" for route in stack.project.routes)
    status, _, _ = request(stack, "POST", "/chunks", {"batch": "thirty"})
    assert status == 404


def test_an_s_yaml_deployment_queues_the_worker_through_fc_3_0s_api(tmp_path):
    """GEN_WORKER as s.yaml names it: the functions sign FC 3.0's InvokeFunction (V3), which the
    local stack serves beside FC 2.0's when s.yaml sits beside the template."""
    running = start_stack(tmp_path, env={"GEN_WORKER": "fc-codes-gen_chunk"}, s_yaml=True)
    try:
        assert request(running, "POST", "/codes", {"count": 12000, "batch": "v3"})[0] == 202
        info, _ = wait_done(running, "v3")
        assert info["generation"]["status"] == "READY"
        assert any(line.startswith("FC 3.0 API POST") and "202" in line for line in running.lines)
        assert len(stored_codes(running, "v3")) == 12000
    finally:
        running.stop()
