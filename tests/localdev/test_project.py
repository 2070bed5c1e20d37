"""What the local stack reads from template.yml, and the `.local/` data directory it owns."""

import json
import os
import sys

import pytest
from tablestore import OTSClient
from tablestore.retry import NoRetryPolicy

from localdev.project import ProjectError, load_project, local_env, runtime_python
from localdev.stack import curl_lines
from localdev.store import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_ACCESS_KEY_SECRET,
    DataDir,
    StoreError,
    connect_or_start_store,
    ensure_tables,
    start_store,
)
from tests.localdev.helpers import TEMPLATE, probe_project


def test_the_project_template_is_read_whole():
    project = load_project(TEMPLATE)
    assert sorted(project.functions) == [
        "admin_code",
        "batch_code",
        "del_code",
        "gen_chunk",  # the worker of big batches: no route
        "gen_code",
        "import_code",
        "query_code",
        "use_code",
    ]
    gen = project.functions["gen_code"]
    assert (gen.handler, gen.initializer, gen.memory_mb, gen.timeout_s) == (
        "gen_code.handler",
        "gen_code.initializer",
        512,
        30,
    )
    assert gen.code_dir == TEMPLATE.parent / "functions"
    assert gen.env["CODE_LENGTH"] == "15"  # a string, as FC passes it
    assert sorted((r.method, r.path, r.function, r.auth_type) for r in project.routes) == [
        ("DELETE", "/codes/[code]", "del_code", "APP"),
        ("GET", "/batches/[batch]", "batch_code", "APP"),
        ("GET", "/batches/[batch]/codes", "batch_code", "APP"),
        ("GET", "/codes/[code]", "query_code", "ANONYMOUS"),
        ("GET", "/codes/[code]/redemptions", "admin_code", "APP"),
        ("POST", "/batches/[batch]/disable", "batch_code", "APP"),
        ("POST", "/batches/[batch]/enable", "batch_code", "APP"),
        ("POST", "/batches/[batch]/import", "import_code", "APP"),
        ("POST", "/codes", "gen_code", "APP"),
        ("POST", "/codes/[code]/disable", "admin_code", "APP"),
        ("POST", "/codes/[code]/enable", "admin_code", "APP"),
        ("POST", "/codes/[code]/redeem", "use_code", "ANONYMOUS"),
        ("POST", "/codes/[code]/rollback", "admin_code", "APP"),
    ]
    assert (project.service, project.instance, project.region) == (
        "fc-codes",
        "fccodes",
        "cn-hangzhou",
    )
    assert [(t.name, t.primary_key) for t in project.tables] == [
        ("codes", (("code", "STRING"),)),
        ("batches", (("pk", "STRING"), ("sk", "STRING"))),
    ]


def test_only_the_endpoints_are_changed_for_local_use():
    fn = load_project(TEMPLATE).functions["use_code"]
    env = local_env(fn, "http://127.0.0.1:9999", "http://127.0.0.1:8080")
    assert env["OTS_ENDPOINT"] == "http://127.0.0.1:9999"
    assert env["INVOKE_ENDPOINT"] == "http://127.0.0.1:8080"  # the local FC API
    local = ("OTS_ENDPOINT", "INVOKE_ENDPOINT")
    assert {k: v for k, v in env.items() if k not in local} == {
        k: v for k, v in fn.env.items() if k not in local
    }
    # No local FC API (make invoke alone): no worker either, never the cloud's endpoint.
    alone = local_env(fn, "http://127.0.0.1:9999")
    assert (alone["INVOKE_ENDPOINT"], alone["GEN_WORKER"]) == ("", "")


def test_curl_lines_cover_every_route_with_the_key_only_on_admin_routes():
    project = load_project(TEMPLATE)
    lines = curl_lines("http://127.0.0.1:8080", project, "the-key")
    curls = [line for line in lines if line.startswith("curl")]
    assert len(curls) == len(project.routes)
    assert curls[0].startswith('curl -s -X POST "http://127.0.0.1:8080/codes"')
    assert curls[-1].startswith('curl -s -X DELETE "http://127.0.0.1:8080/codes/$CODE"')
    for route, line in zip(
        sorted(project.routes, key=lambda r: r.method == "DELETE"), curls, strict=True
    ):
        assert ("X-Ca-Key: the-key" in line) == (route.auth_type == "APP")
    assert lines.index("CODE=PASTE-ONE-FROM-THE-ANSWER-ABOVE") == 1


def test_templates_that_cannot_run_locally_are_refused_clearly(tmp_path):
    project = probe_project(tmp_path)
    text = project.template.read_text()
    bad_route = tmp_path / "bad-route.yml"
    bad_route.write_text(text.replace("${plain.Arn}", "${ghost.Arn}"))
    with pytest.raises(ProjectError, match="names function 'ghost'"):
        load_project(bad_route)
    no_code = tmp_path / "no-code.yml"
    no_code.write_text(text.replace("CodeUri: ./code", "CodeUri: ./missing"))
    with pytest.raises(ProjectError, match=r"CodeUri \./missing is not a directory"):
        load_project(no_code)
    two_instances = tmp_path / "two.yml"
    head, tail = text.rsplit("FLAGS_DIR: '", 1)  # the second function's environment
    two_instances.write_text(head + "OTS_INSTANCE: other\n          FLAGS_DIR: '" + tail)
    with pytest.raises(ProjectError, match="several Tablestore instances"):
        load_project(two_instances)
    with pytest.raises(ProjectError, match="no function 'nope'"):
        project.function("nope")


def test_runtimes_map_to_the_runtime_test_virtualenvs(tmp_path):
    assert runtime_python(None)[0] == sys.executable
    with pytest.raises(ProjectError, match=r"unknown runtime 'python2\.7'"):
        runtime_python("python2.7")
    with pytest.raises(ProjectError, match=r"needs \.venv-py36 \(build it with"):
        runtime_python("python3", root=tmp_path)
    (tmp_path / ".venv-py36" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-py36" / "bin" / "python").write_text("")
    assert runtime_python("3.6", root=tmp_path)[0] == str(tmp_path / ".venv-py36/bin/python")


# --- .local/ ------------------------------------------------------------------------------------
def test_the_app_key_is_made_once_and_kept(tmp_path):
    data = DataDir(tmp_path / "data")
    key = data.app_key()
    assert key.startswith("local-") and len(key) > 20
    assert DataDir(tmp_path / "data").app_key() == key


def test_tables_are_created_as_fun_deploy_creates_them_and_existing_ones_left_alone(tmp_path):
    project = load_project(TEMPLATE)
    store = start_store(DataDir(tmp_path), project.instance)
    try:
        assert ensure_tables(store, project.tables) == ["codes", "batches"]
        assert ensure_tables(store, project.tables) == []
        client = OTSClient(
            store.endpoint,
            LOCAL_ACCESS_KEY_ID,
            LOCAL_ACCESS_KEY_SECRET,
            project.instance,
            retry_policy=NoRetryPolicy(),
        )
        described = client.describe_table("codes")
        assert described.table_meta.schema_of_primary_key == [("code", "STRING")]
        assert described.table_options.max_version == 1
        assert described.table_options.time_to_live == -1
        # what Funcraft cannot declare: the batch index (functions/fccodes/schema.json)
        assert [i.index_name for i in described.secondary_indexes] == ["codes_by_batch"]
        described = client.describe_table("batches")
        assert described.table_meta.schema_of_primary_key == [("pk", "STRING"), ("sk", "STRING")]
    finally:
        store.close()


def test_one_process_serves_a_data_directory_at_a_time(tmp_path):
    data = DataDir(tmp_path)
    first = start_store(data, "inst")
    try:
        with pytest.raises(StoreError, match="is in use by another local process"):
            start_store(data, "inst", wait_s=0.2)
    finally:
        first.close()
    start_store(data, "inst").close()  # released on close


def test_a_state_file_left_by_a_killed_stack_is_ignored(tmp_path):
    data = DataDir(tmp_path).ensure()
    # A live pid (ours) but nothing answers at the endpoint: a stack that was killed -9 and
    # whose pid was reused. The store starts anyway.
    (tmp_path / "run.json").write_text(
        json.dumps({"pid": os.getpid(), "url": "x", "ots_endpoint": "http://127.0.0.1:9"})
    )
    store = connect_or_start_store(data, "inst")
    try:
        assert store.server is not None and store.shared_with_pid is None
    finally:
        store.close()
