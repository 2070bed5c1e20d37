"""template.yml and s.yaml: our checks (tools/checks.py) where `fun validate` is blind.

Each check runs on the real templates (no problem allowed) and on a copy with one deliberate
mistake, to show the check catches it. `fun validate` itself runs in `make validate`.
"""

import copy
import json
import re

import pytest
import yaml

from tools import checks
from tools.templates import (
    FUN_TEMPLATE,
    S_YAML,
    TemplateError,
    fun_region,
    load_fun_template,
    load_s_yaml,
    load_yaml,
    resolve_vars,
)


@pytest.fixture(scope="module")
def tpl():
    return load_fun_template()


@pytest.fixture(scope="module")
def facts():
    """What functions/ reads and keys by: (environment names, primary key)."""
    return checks.code_facts()


def fun_with(tmp_path, change):
    """template.yml with `change(raw)` applied, read back like the real one."""
    raw = copy.deepcopy(load_yaml(FUN_TEMPLATE))
    change(raw)
    path = tmp_path / "template.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_fun_template(path)


def s_with(tmp_path, change):
    raw = copy.deepcopy(load_yaml(S_YAML))
    change(raw)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_s_yaml(path)


def fn_props(raw, name):
    return raw["Resources"]["fc-codes"][name]["Properties"]


def route(raw, path, method):
    return raw["Resources"]["fc_codes"]["Properties"]["DefinitionBody"][path][method]


# --- template.yml -------------------------------------------------------------------------


def test_template_yml_passes_every_check(tpl, facts):
    assert checks.check_fun_template(tpl, *facts) == []


def test_template_declares_the_products_routes_for_machines_to_read(tpl):
    table = {(r.method, r.path): (r.function, r.auth_type, r.path_parameters) for r in tpl.routes}
    assert table == {
        ("POST", "/codes"): ("gen_code", "APP", ()),
        ("POST", "/codes/[code]/redeem"): ("use_code", "ANONYMOUS", ("code",)),
        ("GET", "/codes/[code]"): ("query_code", "ANONYMOUS", ("code",)),
        ("DELETE", "/codes/[code]"): ("del_code", "APP", ("code",)),
        ("POST", "/batches/[batch]/import"): ("import_code", "APP", ("batch",)),
        ("GET", "/batches/[batch]"): ("batch_code", "APP", ("batch",)),
        ("GET", "/batches/[batch]/codes"): ("batch_code", "APP", ("batch",)),
        ("POST", "/batches/[batch]/disable"): ("batch_code", "APP", ("batch",)),
        ("POST", "/batches/[batch]/enable"): ("batch_code", "APP", ("batch",)),
        ("POST", "/codes/[code]/disable"): ("admin_code", "APP", ("code",)),
        ("POST", "/codes/[code]/enable"): ("admin_code", "APP", ("code",)),
        ("POST", "/codes/[code]/rollback"): ("admin_code", "APP", ("code",)),
        ("GET", "/codes/[code]/redemptions"): ("admin_code", "APP", ("code",)),
    }
    assert fun_region(tpl) == "cn-hangzhou"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda raw: route(raw, "/codes", "post").update(
                {"x-aliyun-apigateway-auth-type": "ANONYMOUS"}
            ),
            "API POST /codes: admin route must be signed (APP), not ANONYMOUS",
        ),
        (
            lambda raw: route(raw, "/codes/[code]", "delete").update(
                {"x-aliyun-apigateway-auth-type": "ANONYMOUS"}
            ),
            "API DELETE /codes/[code]: admin route must be signed (APP), not ANONYMOUS",
        ),
        (
            lambda raw: route(raw, "/codes/[code]", "get")["x-aliyun-apigateway-fc"].update(
                arn="acs:fc:::services/${fc-codes.Arn}/functions/${lookup_code.Arn}/"
            ),
            "API GET /codes/[code]: arn names undeclared function lookup_code",
        ),
        (
            lambda raw: route(raw, "/codes/[code]/redeem", "post")["x-aliyun-apigateway-fc"].update(
                arn="acs:fc:::services/${fc-codes.Arn}/functions/${query_code.Arn}/"
            ),
            "API POST /codes/[code]/redeem: bound to query_code, expected use_code",
        ),
        (
            lambda raw: route(raw, "/codes/[code]", "get").pop(
                "x-aliyun-apigateway-request-parameters"
            ),
            "API GET /codes/[code]: PATH parameters (), path has ('code',)",
        ),
        (
            lambda raw: route(raw, "/codes", "post")["x-aliyun-apigateway-fc"].update(timeout=3000),
            "API POST /codes: gateway timeout 3000 ms < function Timeout 30 s",
        ),
        (
            lambda raw: route(raw, "/codes", "post")["x-aliyun-apigateway-request-config"].update(
                requestMode="MAPPING"
            ),
            "API POST /codes: requestMode must be PASSTHROUGH",
        ),
        (
            lambda raw: fn_props(raw, "use_code").update(MemorySize=300),
            "template.yml use_code: MemorySize 300 (128..3072, step 64)",
        ),
        (
            lambda raw: fn_props(raw, "del_code").update(Handler="index.handler"),
            "template.yml del_code: Handler index.handler, expected del_code.handler",
        ),
        (
            lambda raw: fn_props(raw, "del_code").update(CodeUri="./"),
            "template.yml del_code: CodeUri ./ (the package must be ./functions only)",
        ),
        (
            lambda raw: fn_props(raw, "gen_code")["EnvironmentVariables"].update(CODE_LENGTH=15),
            "template.yml gen_code: CODE_LENGTH must be a string, got 15",
        ),
        (
            lambda raw: fn_props(raw, "query_code").update(
                EnvironmentVariables={
                    **fn_props(raw, "query_code")["EnvironmentVariables"],
                    "FC_DEBUG": "1",
                }
            ),
            "template.yml query_code: FC_DEBUG: FC_* variables are reserved by Function Compute",
        ),
        (
            lambda raw: fn_props(raw, "query_code").update(
                EnvironmentVariables={
                    **fn_props(raw, "query_code")["EnvironmentVariables"],
                    "CODES_TABLE": "other",
                }
            ),
            "query_code: CODES_TABLE other != codes",
        ),
        (
            lambda raw: raw["Resources"]["fccodes"]["codes"]["Properties"].update(
                PrimaryKeyList=[{"Name": "id", "Type": "STRING"}]
            ),
            "table codes: primary key (('id', 'STRING'),), expected (('code', 'STRING'),)",
        ),
        (
            lambda raw: raw["Resources"]["fc-codes"]["Properties"]["Policies"][0]["Statement"][
                0
            ].update(Resource="acs:ots:*:*:instance/fccodes/table/*"),
            "policy statement 0: Resource ['acs:ots:*:*:instance/fccodes/table/*'], expected only "
            "['acs:ots:*:*:instance/fccodes/table/codes', "
            "'acs:ots:*:*:instance/fccodes/table/codes_by_batch', "
            "'acs:ots:*:*:instance/fccodes/table/batches']",
        ),
        (
            lambda raw: raw["Resources"]["fc-codes"]["Properties"]["Policies"][0]["Statement"][0][
                "Action"
            ].append("ots:*"),
            "policy statement 0: action 'ots:*' is not one Tablestore API",
        ),
        # The worker of big batches: invoked asynchronously, never through the gateway.
        (
            lambda raw: raw["Resources"]["fc-codes"]["Properties"]["Policies"][0]["Statement"][
                1
            ].update(Resource=["acs:fc:*:*:services/fc-codes/functions/*"]),
            "policy statement 1: Resource ['acs:fc:*:*:services/fc-codes/functions/*'], expected "
            "only ['acs:fc:*:*:services/fc-codes/functions/gen_chunk']",
        ),
        (
            lambda raw: raw["Resources"]["fc_codes"]["Properties"]["DefinitionBody"].update(
                {
                    "/chunks": {
                        "post": dict(
                            route(raw, "/codes", "post"),
                            **{
                                "x-aliyun-apigateway-fc": {
                                    "arn": "acs:fc:::services/${fc-codes.Arn}/functions/"
                                    "${gen_chunk.Arn}/",
                                    "timeout": 30000,
                                }
                            },
                        )
                    }
                }
            ),
            "template.yml gen_chunk: a worker must have no route, it has ['POST /chunks']",
        ),
        (
            lambda raw: fn_props(raw, "gen_chunk")["AsyncConfiguration"].update(
                MaxAsyncRetryAttempts=8
            ),
            "template.yml gen_chunk: asynchronous retries 8, the code counts on 3 (fccodes/api.py)",
        ),
        (
            lambda raw: fn_props(raw, "gen_code")["EnvironmentVariables"].update(
                GEN_WORKER="fc-codes-gen_chunk"
            ),
            "template.yml gen_code: GEN_WORKER 'fc-codes-gen_chunk', expected "
            "'fc-codes/gen_chunk' (the worker as this template's invoke API names it)",
        ),
    ],
)
def test_a_broken_template_yml_is_reported(tmp_path, facts, change, problem):
    assert problem in checks.check_fun_template(fun_with(tmp_path, change), *facts)


def test_a_route_naming_a_malformed_arn_cannot_be_read(tmp_path):
    def change(raw):
        route(raw, "/codes", "post")["x-aliyun-apigateway-fc"]["arn"] = "acs:fc:::gen_code"

    with pytest.raises(TemplateError, match="arn 'acs:fc:::gen_code' is malformed"):
        fun_with(tmp_path, change)


# --- s.yaml -------------------------------------------------------------------------------


def test_s_yaml_passes_every_check(tpl):
    raw, resources = load_s_yaml()
    assert checks.check_s_yaml(raw, resources, tpl) == []


def test_s_yaml_runtime_is_switched_in_one_place(tmp_path, tpl):
    raw, resources = s_with(tmp_path, lambda raw: raw["vars"].update(runtime="python3.12"))
    assert {r.props["runtime"] for r in resources.values()} == {"python3.12"}
    assert checks.check_s_yaml(raw, resources, tpl) == []
    actions = {a["run"] for r in resources.values() for a in r.actions["pre-deploy"]}
    assert actions == {"make package RUNTIME=python3.12"}


def s_props(raw, key):
    return raw["resources"][key]["props"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda raw: raw["vars"].update(runtime="python3.11"),
            "s.yaml gen_code: runtime python3.11 (one of ['python3.10', 'python3.12'])",
        ),
        (
            lambda raw: s_props(raw, "use_code").update(runtime="python3.10"),
            "s.yaml use_code: runtime must be ${vars.runtime} (one place to switch)",
        ),
        (
            lambda raw: s_props(raw, "query_code").update(memorysize=256),
            "s.yaml query_code: unknown fc3 properties ['memorysize']",
        ),
        (
            lambda raw: s_props(raw, "query_code").pop("handler"),
            "s.yaml query_code: missing ['handler']",
        ),
        (
            lambda raw: s_props(raw, "use_code").update(timeout=30),
            "s.yaml use_code: timeout_s 30 differs from template.yml's",
        ),
        (
            lambda raw: s_props(raw, "use_code")["instanceLifecycleConfig"]["initializer"].update(
                handler="use_code.init"
            ),
            "s.yaml use_code: initializer 'use_code.init' differs from template.yml's",
        ),
        (
            lambda raw: s_props(raw, "use_code").update(
                environmentVariables={
                    **s_props(raw, "use_code")["environmentVariables"],
                    "CODE_LENGTH": "12",
                }
            ),
            "s.yaml use_code: env",
        ),
        (
            lambda raw: raw["resources"]["del_code"].pop("actions"),
            "s.yaml del_code: pre-deploy must run `make package RUNTIME=python3.10` "
            "(builds ./build/fc3)",
        ),
        (lambda raw: raw.update(edition="1.0.0"), "s.yaml: edition 1.0.0 (fc3 needs 3.0.0)"),
        (
            lambda raw: s_props(raw, "gen_code").update(region="cn-nowhere"),
            "s.yaml gen_code: region cn-nowhere is not an FC 3.0 region",
        ),
        (
            lambda raw: s_props(raw, "gen_chunk").pop("asyncInvokeConfig"),
            "s.yaml gen_chunk: asynchronous retries None, the code counts on 3",
        ),
        (
            lambda raw: s_props(raw, "gen_chunk").update(
                environmentVariables={
                    **s_props(raw, "gen_chunk")["environmentVariables"],
                    "GEN_WORKER": "fc-codes/gen_chunk",
                }
            ),
            "s.yaml gen_chunk: GEN_WORKER 'fc-codes/gen_chunk', expected 'fc-codes-gen_chunk'",
        ),
    ],
)
def test_a_broken_s_yaml_is_reported(tmp_path, tpl, change, problem):
    raw, resources = s_with(tmp_path, change)
    problems = checks.check_s_yaml(raw, resources, tpl)
    assert any(p.startswith(problem) for p in problems), problems


def test_s_yaml_environment_follows_its_region(tmp_path, tpl):
    raw, resources = s_with(tmp_path, lambda raw: raw["vars"].update(region="cn-shanghai"))
    endpoints = {r.props["environmentVariables"]["OTS_ENDPOINT"] for r in resources.values()}
    assert endpoints == {"https://fccodes.cn-shanghai.ots.aliyuncs.com"}
    assert checks.check_s_yaml(raw, resources, tpl) == []


def test_resolve_vars_rejects_an_undefined_variable():
    assert resolve_vars({"a": ["x-${vars.r}"]}, {"r": "cn"}) == {"a": ["x-cn"]}
    assert resolve_vars("${vars.n}", {"n": 3}) == 3
    with pytest.raises(TemplateError, match=r"undefined variable \$\{vars\.nope\}"):
        resolve_vars("${vars.nope}", {})


def test_the_deploy_roles_trust_policy_in_the_docs_admits_only_production_on_main():
    """CI's deploy role is created by hand from docs/deploy.md: its trust policy must be valid
    JSON, trust the OIDC provider the workflow names, and only this repository's `production`
    environment (which the docs restrict to `main`)."""
    text = (FUN_TEMPLATE.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    trusts = [b for b in blocks if "Statement" in b]
    assert len(trusts) == 1
    (statement,) = trusts[0]["Statement"]
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": ["acs:ram::<account>:oidc-provider/github"]}
    conditions = statement["Condition"]["StringEquals"]
    assert conditions["oidc:sub"] == "repo:<owner>/<repo>:environment:production"
    assert conditions["oidc:aud"] == "sts.aliyuncs.com"
    workflow = load_yaml(FUN_TEMPLATE.parent / ".github" / "workflows" / "deploy.yml")
    assert workflow["jobs"]["deploy"]["environment"] == "production"
