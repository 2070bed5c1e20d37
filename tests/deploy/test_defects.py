"""Issue 11's ten defects, each reintroduced into a copy of the tree: `make validate` must fail.

Each test copies what `make validate` reads (the templates, the ROS stacks, the workflows, the
locks, the tools and functions/) into a scratch root, breaks one thing the way the defect did,
and runs `tools.checks.validate_problems` on it: the same checks, the real ROS CDK validators
(node), the real code. The untouched copy passes, so each failure is the defect's own.
"""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tools import checks
from tools.templates import ROOT

# Each test copies the tree and runs the real validators (ROS CDK under Node): seconds apiece.
pytestmark = pytest.mark.slow

COPIED = (
    "template.yml",
    "s.yaml",
    "infra.yml",
    "frontdoor.yml",
    "Makefile",
    ".ci",
    ".github",
    "requirements",
    "tools",
    "functions",
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("tree")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, base / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, base / name)
    return base


@pytest.fixture
def tree(pristine, tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(pristine, root)
    return root


def edit_yaml(path: Path, change):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def replace(path: Path, old: str, new: str):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def res(raw, key):
    return raw["Resources"][key]["Properties"]


def problems_with(tree, *fragments):
    found = checks.validate_problems(tree)
    for fragment in fragments:
        assert any(fragment in p for p in found), (fragment, found)
    return found


def test_the_tree_as_committed_passes(pristine):
    assert checks.validate_problems(pristine) == []


# 1. TrafficControlUnit SECOND: ROS allows MINUTE, HOUR, DAY; fun validate passes anything.
def test_1_a_value_ros_does_not_allow(tree):
    edit_yaml(
        tree / "frontdoor.yml",
        lambda raw: res(raw, "AdminThrottle").update(TrafficControlUnit="SECOND"),
    )
    problems_with(
        tree,
        "frontdoor.yml AdminThrottle (ALIYUN::ApiGateway::TrafficControl): Supplied properties "
        'not correct for "RosTrafficControlProps" trafficControlUnit: "SECOND" doesn\'t exist in '
        "[DAY,HOUR,MINUTE]",
    )


def test_1_the_same_in_template_yml_and_a_misspelt_property(tree):
    def add(raw):
        raw["Resources"]["Throttle"] = {
            "Type": "ALIYUN::ApiGateway::TrafficControl",
            "Properties": {
                "TrafficControlName": "fc_codes_public",
                "TrafficControlUnit": "SECOND",
                "ApiDefault": 2000,
                "ApiDefualt": 1,
            },
        }

    edit_yaml(tree / "template.yml", add)
    problems_with(
        tree,
        "template.yml Throttle (ALIYUN::ApiGateway::TrafficControl): Supplied properties not "
        'correct for "RosTrafficControlProps" trafficControlUnit: "SECOND"',
    )
    edit_yaml(tree / "template.yml", lambda raw: res(raw, "Throttle").pop("TrafficControlUnit"))
    problems_with(tree, "template.yml Throttle (ALIYUN::ApiGateway::TrafficControl): ")
    edit_yaml(
        tree / "template.yml", lambda raw: res(raw, "Throttle").update(TrafficControlUnit="DAY")
    )
    problems_with(
        tree,
        "template.yml Throttle (ALIYUN::ApiGateway::TrafficControl): unknown property ApiDefualt",
    )


# 2. Throttling and the admin App bound to one API of the group.
def test_2_a_binding_to_the_one_api_id_of_a_serverless_api(tree):
    def add(raw):
        raw["Resources"]["AdminAuthorization"] = {
            "Type": "ALIYUN::ApiGateway::Authorization",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["fc_codes", "GroupId"]},
                "StageName": "RELEASE",
                "AppIds": ["app"],
                "ApiIds": [{"Fn::GetAtt": ["fc_codes", "ApiId"]}],
            },
        }

    edit_yaml(tree / "template.yml", add)
    problems_with(
        tree,
        "template.yml AdminAuthorization: ApiIds names fc_codes (Aliyun::Serverless::Api), which "
        "is not one API",
    )


def test_2_an_api_left_out_of_the_throttle_or_the_authorization(tree):
    edit_yaml(tree / "frontdoor.yml", lambda raw: raw["Resources"].pop("RedeemLimitsAttachment"))
    edit_yaml(tree / "frontdoor.yml", lambda raw: res(raw, "AdminThrottleBinding")["ApiIds"].pop(0))
    edit_yaml(tree / "frontdoor.yml", lambda raw: res(raw, "AdminAuthorization")["ApiIds"].pop())
    found = problems_with(
        tree,
        "frontdoor.yml UseCodeApi: not throttled (no TrafficControlBinding or trafficControl "
        "PluginAttachment lists it)",
        "frontdoor.yml GenCodeApi: not throttled",
        "frontdoor.yml: Apps are authorized on [",
        "expected exactly the admin APIs [",
    )
    # The last admin API (the import's ImportCodeApi) is the one left out.
    (authorized,) = [p for p in found if "expected exactly the admin APIs" in p]
    listed, expected = authorized.split("expected exactly the admin APIs")
    assert "'ImportCodeApi'" not in listed and "'ImportCodeApi'" in expected


# 3. Not least privilege: LogConfig Auto, wide gateway role, actions or tables not derived.
def test_3_log_config_auto(tree):
    edit_yaml(tree / "template.yml", lambda raw: res(raw, "fc-codes").update(LogConfig="Auto"))
    replace(tree / "s.yaml", "      logConfig: &logs\n", "      logConfig: auto\n      x: &logs\n")
    problems_with(
        tree,
        "template.yml fc-codes: LogConfig 'Auto' must name a Project and Logstore",
        "s.yaml gen_code: logConfig 'auto' must name a project and logstore",
    )


def test_3_a_gateway_role_that_may_invoke_every_function(tree):
    def widen(raw):
        statement = res(raw, "GatewayRole")["Policies"][0]["PolicyDocument"]["Statement"][0]
        statement["Resource"] = ["acs:fc:*:*:functions/*"]

    edit_yaml(tree / "frontdoor.yml", widen)
    problems_with(tree, "frontdoor.yml GatewayRole: the gateway may only fc:InvokeFunction on")


def test_3_the_gateway_may_not_invoke_the_worker_of_big_batches(tree):
    def widen(raw):
        statement = res(raw, "GatewayRole")["Policies"][0]["PolicyDocument"]["Statement"][0]
        worker = "acs:fc:${ALIYUN::Region}:${ALIYUN::AccountId}:functions/fc-codes-gen_chunk"
        statement["Resource"].append({"Fn::Sub": worker})

    edit_yaml(tree / "frontdoor.yml", widen)
    problems_with(tree, "frontdoor.yml GatewayRole: the gateway may only fc:InvokeFunction on")


def test_3_the_functions_may_invoke_the_worker_only(tree):
    def widen(raw):
        statements = res(raw, "FunctionRole")["Policies"][0]["PolicyDocument"]["Statement"]
        invoke = next(st for st in statements if st["Action"] == ["fc:InvokeFunction"])
        invoke["Resource"] = [
            {"Fn::Sub": "acs:fc:${ALIYUN::Region}:${ALIYUN::AccountId}:functions/*"}
        ]

    edit_yaml(tree / "infra.yml", widen)
    problems_with(
        tree,
        "infra.yml FunctionRole: fc:InvokeFunction on ['acs:fc:*:*:functions/*'], expected "
        "exactly the workers ['acs:fc:*:*:functions/fc-codes-gen_chunk']",
    )


def test_3_a_function_role_with_more_than_the_code_needs(tree):
    def widen(raw):
        statements = res(raw, "FunctionRole")["Policies"][0]["PolicyDocument"]["Statement"]
        statements[-1]["Action"] = ["log:*"]

    edit_yaml(tree / "infra.yml", widen)
    problems_with(tree, "infra.yml FunctionRole: actions the code does not need: ['log:*']")


def test_3_a_new_store_call_and_a_new_table_must_be_granted(tree):
    # What new work adds: a Tablestore call somewhere under functions/, another table.
    (tree / "functions" / "fccodes" / "reports.py").write_text(
        "def describe(client, table):\n    return client.describe_table(table)\n"
    )
    replace(
        tree / "functions" / "fccodes" / "settings.py",
        '("table", "CODES_TABLE"),',
        '("table", "CODES_TABLE"), ("reports", "REPORTS_TABLE"),',
    )
    for name in ("template.yml", "s.yaml"):
        text = (tree / name).read_text()
        text = re.sub(r"( +)CODES_TABLE: codes\n", r"\g<0>\1REPORTS_TABLE: reports\n", text)
        (tree / name).write_text(text)
    problems_with(
        tree,
        "differ from what functions/ calls",
        "infra.yml FunctionRole: ots:DescribeTable on []",
        "('fccodes', 'reports')",
    )


# 4. A gateway timeout over API Gateway's 30,000 ms.
def test_4_a_gateway_timeout_over_30_seconds(tree):
    replace(tree / "template.yml", "timeout: 30000", "timeout: 60000")
    edit_yaml(
        tree / "frontdoor.yml",
        lambda raw: res(raw, "GenCodeApi")["ServiceConfig"].update(ServiceTimeOut=60000),
    )
    problems_with(
        tree,
        "API POST /codes: gateway timeout 60000 ms (API Gateway allows at most 30000 ms",
        "frontdoor.yml GenCodeApi: ServiceTimeOut 60000 ms (API Gateway allows at most 30000 ms",
    )


def test_4_a_function_that_outlives_its_gateway_timeout(tree):
    replace(tree / "s.yaml", "      timeout: 30\n", "      timeout: 60\n")
    problems_with(tree, "frontdoor.yml GenCodeApi: ServiceTimeOut 30000 ms < function timeout 60 s")


# 5. Anonymous routes without limits, or with one ceiling per API and no per-client limit;
# triggers that bypass the front door.
def test_5_an_anonymous_route_without_a_throttle(tree):
    def unbind(raw):
        raw["Resources"].pop("QueryLimitsAttachment")
        raw["Resources"].pop("RedeemLimitsAttachment")

    edit_yaml(tree / "frontdoor.yml", unbind)
    problems_with(
        tree,
        "frontdoor.yml QueryCodeApi: not throttled",
        "frontdoor.yml UseCodeApi: not throttled",
    )


PER_CLIENT = (
    "anonymous API without a per-client limit: bind it a trafficControl plug-in with a rule"
)


def test_5_one_ceiling_per_api_and_no_per_client_limit(tree):
    # The defect as it was: a TrafficControl policy on the anonymous APIs (a ceiling per API;
    # per-App and per-user values cannot apply to anonymous calls) and no plug-in.
    def as_before(raw):
        resources = raw["Resources"]
        for key in (
            "QueryLimits",
            "QueryLimitsAttachment",
            "RedeemLimits",
            "RedeemLimitsAttachment",
        ):
            resources.pop(key)
        resources["PublicThrottle"] = {
            "Type": "ALIYUN::ApiGateway::TrafficControl",
            "Properties": {
                "TrafficControlName": "fc_codes_public",
                "TrafficControlUnit": "MINUTE",
                "ApiDefault": 60000,
            },
        }
        resources["PublicThrottleBinding"] = {
            "Type": "ALIYUN::ApiGateway::TrafficControlBinding",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["Api", "GroupId"]},
                "StageName": "RELEASE",
                "TrafficControlId": {"Fn::GetAtt": ["PublicThrottle", "TrafficControlId"]},
                "ApiIds": [
                    {"Fn::GetAtt": ["QueryCodeApi", "ApiId"]},
                    {"Fn::GetAtt": ["UseCodeApi", "ApiId"]},
                ],
            },
        }

    edit_yaml(tree / "frontdoor.yml", as_before)
    found = problems_with(
        tree, f"frontdoor.yml QueryCodeApi: {PER_CLIENT}", f"frontdoor.yml UseCodeApi: {PER_CLIENT}"
    )
    assert not any("not throttled" in p for p in found), found


def body(raw, key):
    return res(raw, key)["PluginData"]["Fn::Sub"]


def test_5_a_plugin_with_the_ceiling_only(tree):
    # A plug-in without its rule by the client's address: still one ceiling for every client.
    def no_rules(raw):
        text = body(raw, "QueryLimits")  # both plug-ins' body (one YAML anchor)
        for key in ("QueryLimits", "RedeemLimits"):
            res(raw, key)["PluginData"] = {"Fn::Sub": text[: text.index("parameters:")]}

    edit_yaml(tree / "frontdoor.yml", no_rules)
    problems_with(
        tree, f"frontdoor.yml QueryCodeApi: {PER_CLIENT}", f"frontdoor.yml UseCodeApi: {PER_CLIENT}"
    )


def test_5_a_malformed_plugin_body(tree):
    def malform(raw):
        query = body(raw, "QueryLimits")
        res(raw, "QueryLimits")["PluginData"] = {
            "Fn::Sub": (
                query.replace("period: MINUTE", "period: SECONDS")
                .replace("${PublicClientLimit}", "sixty")
                .replace("byParameters: ClientIp", "byParameter: ClientIp")
                .replace("defaultPeriod: MINUTE", "defaultPeriod: MINUTE\nscope: PLUGIN")
            )
        }
        res(raw, "RedeemLimits")["PluginData"] = {"Fn::Sub": "defaultLimit: [60\n"}

    edit_yaml(tree / "frontdoor.yml", malform)
    found = problems_with(
        tree,
        "frontdoor.yml QueryLimits: PluginData: unknown keys ['scope']",
        "frontdoor.yml QueryLimits: PluginData: rules[0]: unknown keys ['byParameter'], missing "
        "['byParameters']",
        "frontdoor.yml QueryLimits: PluginData: rules[0]: limit 'sixty' is not a whole number",
        "frontdoor.yml QueryLimits: PluginData: rules[0]: period 'SECONDS' is not one of SECOND, "
        "MINUTE, HOUR, DAY",
        "frontdoor.yml RedeemLimits: PluginData is not YAML or JSON",
    )
    # Its own problems are what is said of it, not a second "no per-client limit".
    assert not any(PER_CLIENT in p for p in found), found


def test_5_a_plugin_that_ros_or_api_gateway_would_refuse(tree):
    def misspell(raw):
        res(raw, "QueryLimits")["PluginDate"] = res(raw, "QueryLimits").pop("PluginData")
        res(raw, "RedeemLimits")["PluginType"] = "trafficcontrol"
        res(raw, "RedeemLimits")["PluginName"] = "_fc_codes_redeem_limits"
        res(raw, "RedeemLimitsAttachment")["StageName"] = "PROD"

    edit_yaml(tree / "frontdoor.yml", misspell)
    problems_with(
        tree,
        # the ROS CDK's schema (tools/ros_validate.js)
        "frontdoor.yml QueryLimits (ALIYUN::ApiGateway::Plugin): Supplied properties not correct "
        'for "RosPluginProps" pluginData: required but missing',
        "frontdoor.yml RedeemLimitsAttachment (ALIYUN::ApiGateway::PluginAttachment): Supplied "
        'properties not correct for "RosPluginAttachmentProps" stageName: "PROD" doesn\'t exist',
        # what the schema leaves out (tools/frontdoor.py)
        "frontdoor.yml RedeemLimits: PluginType 'trafficcontrol' is not a plug-in type",
        "frontdoor.yml RedeemLimits: PluginName '_fc_codes_redeem_limits' (4 to 50 letters",
    )


def test_5_a_plugin_body_whose_parameter_has_no_value(tree):
    edit_yaml(
        tree / "frontdoor.yml", lambda raw: raw["Parameters"]["PublicClientLimit"].pop("Default")
    )
    problems_with(
        tree,
        "frontdoor.yml QueryLimits: PluginData: ${PublicClientLimit} is not a template parameter "
        "with a Default",
    )


def test_5_a_policy_and_a_plugin_on_one_api(tree):
    # Binding a throttling plug-in makes a TrafficControl on the same API invalid: the admin
    # quotas would silently go.
    def both(raw):
        raw["Resources"]["AdminLimitsAttachment"] = {
            "Type": "ALIYUN::ApiGateway::PluginAttachment",
            "Properties": {
                "ApiId": {"Fn::GetAtt": ["DelCodeApi", "ApiId"]},
                "PluginId": {"Fn::GetAtt": ["QueryLimits", "PluginId"]},
                "StageName": "RELEASE",
            },
        }

    edit_yaml(tree / "frontdoor.yml", both)
    problems_with(
        tree,
        "frontdoor.yml DelCodeApi: bound to the TrafficControl AdminThrottle and to the "
        "trafficControl plug-in QueryLimits, which makes the policy invalid",
        "frontdoor.yml DelCodeApi: admin API throttled by the plug-in QueryLimits",
    )


def test_5_admin_calls_without_a_per_app_quota(tree):
    edit_yaml(tree / "frontdoor.yml", lambda raw: res(raw, "AdminThrottle").pop("AppDefault"))
    problems_with(tree, "frontdoor.yml DelCodeApi: its throttle AdminThrottle has no AppDefault")


def test_5_an_http_trigger_around_the_front_door(tree):
    lifecycle = "      instanceLifecycleConfig:\n        initializer:\n          handler: use_code."
    replace(
        tree / "s.yaml",
        lifecycle,
        "      triggers:\n        - triggerName: http\n          triggerType: http\n"
        "          triggerConfig: {authType: anonymous, methods: [POST]}\n" + lifecycle,
    )
    problems_with(
        tree, "s.yaml use_code: triggers ['http'] bypass API Gateway's auth and throttling"
    )


# 6. CI: any branch deploys, job-wide secrets, tags, Node 20, long-lived AccessKeys.
def test_6_the_old_deploy_workflow(tree):
    deploy = tree / ".github" / "workflows" / "deploy.yml"
    replace(deploy, "    if: github.ref == 'refs/heads/main'\n", "")
    replace(deploy, 'node-version: "24"', 'node-version: "20"')
    text = deploy.read_text()
    text = text.replace(
        "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1  # v7.0.1", "actions/checkout@v5"
    )
    text = text.replace(
        "    environment: production\n",
        "    environment: production\n    env:\n"
        "      ALIBABA_CLOUD_ACCESS_KEY_SECRET: ${{ secrets.ALIBABA_CLOUD_ACCESS_KEY_SECRET }}\n",
    )
    deploy.write_text(text)
    problems_with(
        tree,
        "deploy.yml job deploy: needs `if: github.ref == 'refs/heads/main'`",
        "deploy.yml job deploy: Node.js 20 is not a supported LTS line",
        "deploy.yml job deploy: actions/checkout@v5 is not pinned by a commit SHA",
        "deploy.yml job deploy: job-level env holds secrets (installs see them)",
        "deploy.yml: a long-lived AccessKey from secrets (secrets.ALIBABA_CLOUD_ACCESS_KEY_SECRET)",
    )


def test_6_installing_after_the_credentials_exist(tree):
    deploy = tree / ".github" / "workflows" / "deploy.yml"
    replace(deploy, "        run: make deploy TOOL=s", "        run: npm ci && make deploy TOOL=s")
    problems_with(
        tree,
        "deploy.yml job deploy: step 'Deploy (preflight first)' installs after the credentials "
        "exist",
    )


# 7. A smoke test that skips the front door.
def test_7_a_smoke_test_straight_to_fc(tree):
    deploy = tree / ".github" / "workflows" / "deploy.yml"
    replace(deploy, "          FC_CODES_GATEWAY_URL: ${{ vars.FC_CODES_GATEWAY_URL }}\n", "")
    problems_with(tree, "deploy.yml job deploy: the smoke test must go through the front door")


# 8. An AccessKey secret on a command line.
def test_8_s_config_add_with_the_secret(tree):
    replace(
        tree / "tools" / "deploy.py",
        'S_ACCESS_VAR = "fc_codes_serverless_devs_key"',
        'S_ACCESS_VAR = "fc_codes_serverless_devs_key"\n'
        'CONFIG = "s config add --AccessKeySecret $ALIBABA_CLOUD_ACCESS_KEY_SECRET"',
    )
    problems_with(tree, "tools/deploy.py:", "an AccessKey secret on a command line")


# 9. A code package that is not reproducible.
def test_9_a_lock_with_a_range_or_without_a_hash(tree):
    lock = tree / "requirements" / "fc" / "python3.10.txt"
    lock.write_text(lock.read_text().split("\n", 4)[-1] + "numpy>=2\n")
    problems_with(tree, "lock python3.10: python3.10.txt: not `name==version --hash=sha256:...`")


def test_9_a_lock_that_is_not_what_the_tests_ran(tree):
    lock = tree / "requirements" / "fc" / "python3.12.txt"
    replace(lock, "tablestore==6.4.8", "tablestore==6.4.9")
    problems_with(
        tree,
        "lock python3.12: tablestore==6.4.9, but the runtime tests pin tablestore==6.4.8",
    )


# 10. Funcraft as the only way to deploy.
def test_10_deploying_with_funcraft_only(tree):
    replace(tree / "s.yaml", "      template: ./infra.yml\n", "      template: ./template.yml\n")
    replace(
        tree / ".github" / "workflows" / "deploy.yml", "make deploy TOOL=s", "make deploy TOOL=ros"
    )
    problems_with(
        tree,
        "s.yaml: the `ros` resources deploy ['frontdoor.yml', 'template.yml'], not "
        "['infra.yml', 'frontdoor.yml']",
        "deploy.yml job deploy: must deploy with `make deploy TOOL=s`",
    )


def test_10_the_front_door_deployed_before_the_functions_it_invokes(tree):
    text = (tree / "s.yaml").read_text()
    front = text[text.index("  frontdoor:\n") :]
    text = text.replace(front, "").replace("resources:\n", "resources:\n" + front + "\n", 1)
    (tree / "s.yaml").write_text(text)
    problems_with(
        tree,
        "s.yaml: deploy infra.yml before the functions and frontdoor.yml after them",
    )


def test_10_a_stack_in_another_region_than_the_functions(tree):
    replace(
        tree / "s.yaml",
        "      region: ${vars.region}\n      name: fc-codes-frontdoor\n",
        "      region: cn-shanghai\n      name: fc-codes-frontdoor\n",
    )
    problems_with(tree, "s.yaml frontdoor: region cn-shanghai, the functions' {'cn-hangzhou'}")


def test_10_an_unpinned_fc3_component(tree):
    replace(tree / "s.yaml", "    component: fc3@0.1.22\n", "    component: fc3\n")
    problems_with(tree, "component fc3 (expected fc3@0.1.22: pinned")
