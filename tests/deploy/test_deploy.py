"""`make deploy` (tools.deploy): preflight errors, and how credentials reach the tool.

Funcraft and Serverless Devs cannot deploy from here (no cloud), so small stand-in executables
record the argv and environment they are started with; everything else is the real code path,
including the real template checks.
"""

import copy
import json
import stat

import pytest
import yaml

from tools import deploy
from tools.templates import FUN_TEMPLATE, load_s_yaml, load_yaml

# Each test runs the deploy tool and the pinned Funcraft under Node: a second or two apiece.
pytestmark = pytest.mark.slow

SECRET = "deploy-test-secret-must-never-be-printed"
TOKEN = "deploy-test-sts-token-never-printed"
ENV = {
    "PATH": "/usr/bin:/bin",
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI-deploy-test",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
    "ALIBABA_CLOUD_SECURITY_TOKEN": TOKEN,
    "ALIBABA_CLOUD_ACCOUNT_ID": "1234567890123456",
    "ALIBABA_CLOUD_REGION": "cn-hangzhou",
}


def fake_tool(tmp_path, name, exit_on=None):
    """An executable that appends {argv, env} as one JSON line to <name>.log and exits 0
    (or 255 when its first argument is `exit_on`)."""
    log = tmp_path / f"{name}.log"
    script = tmp_path / name
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}) + '\\n')\n"
        f"sys.exit(255 if sys.argv[1:2] == [{exit_on!r}] else 0)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def functions():
    """The real function code: preflight checks the templates against it."""
    return deploy.FUNCTIONS


def run(capsys, tool, env, fun, s_bin=None, **kw):
    status = deploy.deploy(tool, dict(env), fun, s_bin, **kw)
    out, err = capsys.readouterr()
    assert SECRET not in out + err and TOKEN not in out + err
    return status, out, err


def test_fun_deploy_gets_credentials_in_its_environment_never_on_its_command_line(
    tmp_path, capsys, functions
):
    fun, log = fake_tool(tmp_path, "fun")
    status, out, _ = run(capsys, "fun", ENV, fun, functions=functions)
    assert status == 0, out
    validate, deploy_call = calls(log)
    assert validate["argv"] == ["validate", "-t", str(FUN_TEMPLATE)]
    assert deploy_call["argv"] == ["deploy", "-t", str(FUN_TEMPLATE), "-y"]
    env = deploy_call["env"]
    assert env["ACCESS_KEY_SECRET"] == SECRET and env["SECURITY_TOKEN"] == TOKEN
    assert env["ACCESS_KEY_ID"] == "LTAI-deploy-test"
    assert env["ACCOUNT_ID"] == "1234567890123456" and env["REGION"] == "cn-hangzhou"
    assert not any(SECRET in a or TOKEN in a for c in calls(log) for a in c["argv"])
    assert "deploy: preflight ok (fun, region cn-hangzhou)" in out


def test_ros_deploy_packages_to_the_bucket_then_deploys_the_stack(tmp_path, capsys, functions):
    fun, log = fake_tool(tmp_path, "fun")
    env = dict(ENV, FC_CODES_OSS_BUCKET="my-code-bucket")
    status, out, _ = run(capsys, "ros", env, fun, functions=functions)
    assert status == 0, out
    argvs = [c["argv"] for c in calls(log)]
    packaged = str(deploy.PACKAGED_TEMPLATE)
    assert argvs[1] == ["package", "-t", str(FUN_TEMPLATE), "-b", "my-code-bucket", "-o",
                        packaged, "-y"]  # fmt: skip
    assert argvs[2] == ["deploy", "--use-ros", "--stack-name", "fc-codes", "-t", packaged, "-y"]


def test_missing_credentials_and_tool_are_each_named_and_nothing_runs(tmp_path, capsys, functions):
    _, log = fake_tool(tmp_path, "fun")
    env = {"PATH": "/usr/bin:/bin", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET}
    status, _, err = run(capsys, "ros", env, tmp_path / "no-fun", functions=functions)
    assert status == 2
    assert "preflight failed, nothing was deployed" in err
    for expected in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID is not set",
        "ALIBABA_CLOUD_ACCOUNT_ID is not set",
        "ALIBABA_CLOUD_REGION is not set",
        "FC_CODES_OSS_BUCKET is not set (ROS deploys code from an OSS bucket)",
        f"Funcraft not found at {tmp_path / 'no-fun'}: run `npm ci --ignore-scripts`",
    ):
        assert expected in err
    assert "ALIBABA_CLOUD_ACCESS_KEY_SECRET is not set" not in err
    assert calls(log) == []


def test_missing_function_code_stops_the_deploy(tmp_path, capsys):
    fun, log = fake_tool(tmp_path, "fun")
    status, _, err = run(capsys, "fun", ENV, fun, functions=tmp_path / "empty")
    assert status == 2
    assert "has no gen_code.py: nothing to deploy" in err
    assert calls(log) == []


def test_a_region_other_than_the_templates_is_refused(tmp_path, capsys, functions):
    fun, log = fake_tool(tmp_path, "fun")
    env = dict(ENV, ALIBABA_CLOUD_REGION="cn-shanghai")
    status, _, err = run(capsys, "fun", env, fun, functions=functions)
    assert status == 2
    assert (
        "ALIBABA_CLOUD_REGION is cn-shanghai but template.yml's OTS_ENDPOINT is written for "
        "cn-hangzhou"
    ) in err
    assert calls(log) == []


def test_a_template_failing_our_checks_is_refused_before_fun_validate(tmp_path, capsys, functions):
    raw = copy.deepcopy(load_yaml(FUN_TEMPLATE))
    body = raw["Resources"]["fc_codes"]["Properties"]["DefinitionBody"]
    body["/codes/[code]"]["delete"]["x-aliyun-apigateway-auth-type"] = "ANONYMOUS"
    template = tmp_path / "template.yml"
    template.write_text(yaml.safe_dump(raw))
    fun, log = fake_tool(tmp_path, "fun")
    status, _, err = run(capsys, "fun", ENV, fun, template=template, functions=functions)
    assert status == 2
    assert "admin route must be signed (APP), not ANONYMOUS" in err
    assert calls(log) == []


def test_a_ros_resource_that_ros_would_reject_is_refused(tmp_path, capsys, functions):
    raw = copy.deepcopy(load_yaml(FUN_TEMPLATE))
    raw["Resources"]["Throttle"] = {
        "Type": "ALIYUN::ApiGateway::TrafficControl",
        "Properties": {"TrafficControlName": "fc_codes", "TrafficControlUnit": "SECOND",
                       "ApiDefault": 10},
    }  # fmt: skip
    template = tmp_path / "template.yml"
    template.write_text(yaml.safe_dump(raw))
    s_bin, log = fake_tool(tmp_path, "s")
    status, _, err = run(capsys, "s", ENV, tmp_path / "no-fun", str(s_bin), template=template,
                         functions=functions)  # fmt: skip
    assert status == 2
    assert 'trafficControlUnit: "SECOND" doesn\'t exist in [DAY,HOUR,MINUTE]' in err
    assert calls(log) == []


def test_a_template_that_fun_validate_rejects_is_refused(tmp_path, capsys, functions):
    fun, log = fake_tool(tmp_path, "fun", exit_on="validate")
    status, _, err = run(capsys, "fun", ENV, fun, functions=functions)
    assert status == 2
    assert "`fun validate -t template.yml` failed (errors above)" in err
    assert [c["argv"][0] for c in calls(log)] == ["validate"]


def test_a_failing_deploy_fails_make_deploy(tmp_path, capsys, functions):
    fun, _ = fake_tool(tmp_path, "fun", exit_on="deploy")
    status, _, err = run(capsys, "fun", ENV, fun, functions=functions)
    assert status == 1
    assert "deploy: `fun deploy` failed (exit 255)" in err


def test_serverless_devs_gets_its_keys_from_its_environment(tmp_path, capsys, functions):
    s_bin, log = fake_tool(tmp_path, "s")
    status, out, _ = run(capsys, "s", ENV, tmp_path / "no-fun", str(s_bin), functions=functions)
    assert status == 0, out
    made = calls(log)
    # The base stack (role, logstore), each function, then the front door that invokes them;
    # no `s config add`.
    functions = list(load_s_yaml()[1])
    assert [c["argv"][:2] for c in made] == [
        ["infra", "deploy"],
        *[[key, "deploy"] for key in functions],
        ["frontdoor", "deploy"],
    ]
    assert {"gen_code", "use_code", "query_code", "del_code"} <= set(functions)
    for call in made:
        assert call["argv"][call["argv"].index("-a") + 1] == deploy.S_ACCESS_VAR
        assert SECRET not in " ".join(call["argv"]) and TOKEN not in " ".join(call["argv"])
        access = json.loads(call["env"][deploy.S_ACCESS_VAR])
        assert access == {
            "AccountID": ENV["ALIBABA_CLOUD_ACCOUNT_ID"],
            "AccessKeyID": ENV["ALIBABA_CLOUD_ACCESS_KEY_ID"],
            "AccessKeySecret": SECRET,
            "SecurityToken": TOKEN,
        }


def test_dry_run_prints_the_plan_and_deploys_nothing(tmp_path, capsys, functions):
    fun, log = fake_tool(tmp_path, "fun")
    status, out, _ = run(capsys, "fun", ENV, fun, functions=functions, dry_run=True)
    assert status == 0
    assert f"deploy: $ {fun} deploy -t {FUN_TEMPLATE} -y" in out
    assert [c["argv"][0] for c in calls(log)] == ["validate"]
