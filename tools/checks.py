"""Checks of template.yml and s.yaml where `fun validate` is blind.

`fun validate` checks template.yml against Funcraft's schema but not list items, table children
or anything that needs the code; Serverless Devs cannot validate s.yaml offline at all. Each
check here returns a list of problems (empty = fine), one sentence each naming the place, so
tests/deploy asserts them and `make deploy` refuses to deploy a template that has any.
"""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tablestore import OTSClient  # the real SDK: its method names are the API names

from fccodes.api import ADMIN, OPERATIONS, WORKERS  # the API's declaration
from tools import cichecks, frontdoor, package
from tools.templates import (
    FC3_COMPONENT,
    FUN_TEMPLATE,
    ROOT,
    S_YAML,
    STACK_TEMPLATES,
    Function,
    FunTemplate,
    Route,
    SResource,
    TemplateError,
    endpoint_parts,
    load_fun_template,
    load_s_yaml,
    load_yaml,
    path_template_parameters,
    s_functions,
    s_infra_resources,
)

# The API's declaration (functions/fccodes/api.py): route -> (function, admin?).
ROUTES = {(op.method, op.gateway_path): (op.function, op.auth == ADMIN) for op in OPERATIONS}
# The batches table (its key) and the codes table's global index (its name's suffix): their
# only declaration is functions/fccodes/schema.json, which the functions read.
BATCHES_KEY = (("pk", "STRING"), ("sk", "STRING"))
INDEX_SUFFIX = "_by_batch"
ROUTED_FUNCTIONS = sorted({f for f, _ in ROUTES.values()})
ADMIN_FUNCTIONS = sorted({f for f, admin in ROUTES.values() if admin})
# The workers (functions no route serves, invoked asynchronously: big batches) and every
# function of the templates.
WORKER_FUNCTIONS = {w.name: w for w in WORKERS}
FUNCTIONS = sorted([*ROUTED_FUNCTIONS, *WORKER_FUNCTIONS])
# The setting that names the worker as each invoke API does: `service/function` on FC 2.0
# (template.yml), the function's name on FC 3.0 (s.yaml). The only variable the two templates
# set differently (besides the region in OTS_ENDPOINT).
WORKER_SETTING = "GEN_WORKER"
INVOKE_ACTION = "fc:InvokeFunction"
# What fccodes/fcinvoke.py calls to queue an asynchronous invocation: a module that calls one
# needs INVOKE_ACTION (on the workers only).
INVOKERS = {"invoke_async", "invoke_async_v3"}
# Funcraft accepts only python3 among Python runtimes (it is Python 3.6 on FC).
FUN_RUNTIMES = {"python3"}
# FC 3.0 Python runtimes we support (fc3 names; there is no python3.11).
FC3_RUNTIMES = set(package.RUNTIMES)
ENV_LIMIT_BYTES = 4096
FUNCTIONS_DIR = ROOT / "functions"
# The properties an fc3 resource may have (the component's schema, src/schema.json): anything
# else is a typo that fc3 would only log at debug level.
FC3_PROPS = {
    "asyncInvokeConfig", "code", "cpu", "customContainerConfig", "customDNS",
    "customRuntimeConfig", "description", "diskSize", "endpoint", "environmentVariables",
    "functionName", "gpuConfig", "handler", "instanceConcurrency", "instanceLifecycleConfig",
    "internetAccess", "layers", "logConfig", "memorySize", "nasConfig", "ossMountConfig",
    "region", "role", "runtime", "timeout", "tracingConfig", "triggers", "vpcBinding",
    "vpcConfig",
}  # fmt: skip
FC3_REQUIRED = {"region", "functionName", "runtime", "code", "handler"}
FC3_REGIONS = {
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
    "ap-southeast-3", "ap-southeast-5", "ap-southeast-7", "cn-beijing", "cn-chengdu",
    "cn-hangzhou", "cn-hongkong", "cn-huhehaote", "cn-qingdao", "cn-shanghai", "cn-shenzhen",
    "cn-zhangjiakou", "eu-central-1", "eu-west-1", "us-east-1", "us-west-1",
}  # fmt: skip


def check_functions(tpl: FunTemplate, env_names: set[str]) -> list[str]:
    """Four functions, python3, ./functions, sane sizes, identical and complete environment."""
    problems = []
    if sorted(tpl.functions) != FUNCTIONS:
        problems.append(f"functions are {sorted(tpl.functions)}, expected {FUNCTIONS}")
    envs = []
    for name, fn in tpl.functions.items():
        where = f"template.yml {name}"
        if fn.runtime not in FUN_RUNTIMES:
            problems.append(f"{where}: Runtime {fn.runtime} (Funcraft accepts only python3)")
        if fn.code.rstrip("/") != "./functions":
            problems.append(f"{where}: CodeUri {fn.code} (the package must be ./functions only)")
        if fn.handler != f"{name}.handler":
            problems.append(f"{where}: Handler {fn.handler}, expected {name}.handler")
        if fn.initializer != f"{name}.initializer":
            problems.append(f"{where}: Initializer {fn.initializer}, expected {name}.initializer")
        if not (128 <= fn.memory_mb <= 3072 and fn.memory_mb % 64 == 0):
            problems.append(f"{where}: MemorySize {fn.memory_mb} (128..3072, step 64)")
        if not (isinstance(fn.timeout_s, int) and 1 <= fn.timeout_s <= 86400):
            problems.append(f"{where}: Timeout {fn.timeout_s} (integer seconds, 1..86400)")
        init_timeout = fn.initializer_timeout_s
        if not (isinstance(init_timeout, int) and 1 <= init_timeout <= 300):
            problems.append(f"{where}: InitializationTimeout {init_timeout} (1..300)")
        problems += check_env(where, fn.env, env_names)
        envs.append(fn.env)
    if any(env != envs[0] for env in envs):
        problems.append("template.yml: functions have different EnvironmentVariables")
    problems += check_workers("template.yml", tpl.functions, tpl.routes, tpl.service)
    return problems


def check_workers(
    where: str, functions: dict[str, Function], routes: list[Route], service: str | None
) -> list[str]:
    """Each worker: no route, FC's retry count as the code expects it, and GEN_WORKER naming it
    as that template's invoke API does (`service/function` on FC 2.0, the name on FC 3.0)."""
    problems = []
    for name, worker in WORKER_FUNCTIONS.items():
        fn = functions.get(name)
        if fn is None:
            continue  # the function list check names it
        served = sorted(f"{r.method} {r.path}" for r in routes if r.function == name)
        if served:
            problems.append(f"{where} {name}: a worker must have no route, it has {served}")
        if fn.async_retries != worker.max_retries:
            problems.append(
                f"{where} {name}: asynchronous retries {fn.async_retries}, the code counts on "
                f"{worker.max_retries} (fccodes/api.py)"
            )
        expected = f"{service}/{fn.name}" if service else fn.name
        for key, other in functions.items():
            if other.env.get(WORKER_SETTING) != expected:
                problems.append(
                    f"{where} {key}: {WORKER_SETTING} {other.env.get(WORKER_SETTING)!r}, "
                    f"expected {expected!r} (the worker as this template's invoke API names it)"
                )
    return problems


def check_env(where: str, env: dict[str, Any], env_names: set[str]) -> list[str]:
    """Names equal what settings reads, string values, no FC_* names, <= 4 KB in all."""
    problems = []
    if set(env) != env_names:
        missing, extra = sorted(env_names - set(env)), sorted(set(env) - env_names)
        problems.append(f"{where}: environment missing {missing}, unexpected {extra}")
    for key, value in env.items():
        if not isinstance(value, str):
            problems.append(f"{where}: {key} must be a string, got {value!r}")
        if key.startswith("FC_"):
            problems.append(f"{where}: {key}: FC_* variables are reserved by Function Compute")
    if sum(len(k) + len(str(v)) for k, v in env.items()) > ENV_LIMIT_BYTES:
        problems.append(f"{where}: environment exceeds {ENV_LIMIT_BYTES} bytes")
    return problems


def check_table_and_policy(tpl: FunTemplate, primary_key: tuple[tuple[str, str], ...]) -> list[str]:
    """Instance, table, endpoint, policy resource agree; key as the store expects."""
    problems = []
    if len(tpl.tables) != 2:
        return [f"template.yml: expected two Tablestore tables, found {len(tpl.tables)}"]
    table, batches = sorted(tpl.tables, key=lambda t: t.primary_key == BATCHES_KEY)
    if batches.primary_key != BATCHES_KEY:
        problems.append(
            f"table {batches.name}: primary key {batches.primary_key}, expected {BATCHES_KEY}"
        )
    if table.primary_key != tuple(primary_key):
        problems.append(
            f"table {table.name}: primary key {table.primary_key}, expected {primary_key}"
        )
    for name, fn in tpl.functions.items():
        env = fn.env
        if env.get("OTS_INSTANCE") != table.instance:
            problems.append(f"{name}: OTS_INSTANCE {env.get('OTS_INSTANCE')} != {table.instance}")
        if env.get("CODES_TABLE") != table.name:
            problems.append(f"{name}: CODES_TABLE {env.get('CODES_TABLE')} != {table.name}")
        if env.get("BATCHES_TABLE") != batches.name:
            problems.append(f"{name}: BATCHES_TABLE {env.get('BATCHES_TABLE')} != {batches.name}")
        parts = endpoint_parts(str(env.get("OTS_ENDPOINT", "")))
        if not parts or parts[0] != table.instance:
            problems.append(
                f"{name}: OTS_ENDPOINT {env.get('OTS_ENDPOINT')} is not "
                f"https://{table.instance}.<region>.ots.aliyuncs.com"
            )
    expected = [
        f"acs:ots:*:*:instance/{table.instance}/table/{name}"
        for name in (table.name, table.name + INDEX_SUFFIX, batches.name)
    ]
    workers = [
        f"acs:fc:*:*:services/{tpl.service}/functions/{name}" for name in sorted(WORKER_FUNCTIONS)
    ]
    if not tpl.policy_statements:
        problems.append("service: no inline policy (it needs the table's row actions)")
    for i, st in enumerate(tpl.policy_statements):
        where = f"policy statement {i}"
        if st.get("Effect") != "Allow":
            problems.append(f"{where}: Effect {st.get('Effect')} (expected Allow)")
        resources = st.get("Resource")
        resources = [resources] if isinstance(resources, str) else resources
        actions = st.get("Action") or []
        if actions == [INVOKE_ACTION]:  # the workers, and nothing else
            if resources != workers:
                problems.append(f"{where}: Resource {resources}, expected only {workers}")
            continue
        if resources != expected:
            problems.append(f"{where}: Resource {resources}, expected only {expected}")
        for action in actions:
            if not re.fullmatch(r"ots:[A-Z][A-Za-z]+", action):
                problems.append(f"{where}: action {action!r} is not one Tablestore API")
    return problems


def policy_actions(tpl: FunTemplate) -> set[str]:
    """Every action the service's inline policy allows."""
    return {a for st in tpl.policy_statements for a in st.get("Action") or []}


def check_routes(tpl: FunTemplate) -> list[str]:
    """Exactly the product's routes, each bound to its declared function, admin ones signed."""
    problems = []
    seen = {(r.method, r.path): r for r in tpl.routes}
    if len(seen) != len(tpl.routes):
        problems.append("API: a route is declared twice")
    if set(seen) != set(ROUTES):
        problems.append(f"API routes are {sorted(seen)}, expected {sorted(ROUTES)}")
    for key, route in seen.items():
        where = f"API {route.method} {route.path}"
        problems += _check_route(tpl, where, route)
        if key not in ROUTES:
            continue
        function, admin = ROUTES[key]
        if route.function != function:
            problems.append(f"{where}: bound to {route.function}, expected {function}")
        if admin and route.auth_type not in ("APP", "APPOPENID"):
            problems.append(f"{where}: admin route must be signed (APP), not {route.auth_type}")
        if not admin and route.auth_type != "ANONYMOUS":
            problems.append(f"{where}: public route should be ANONYMOUS, not {route.auth_type}")
    return problems


def _check_route(tpl: FunTemplate, where: str, route: Route) -> list[str]:
    problems = []
    if route.service != tpl.service:
        problems.append(f"{where}: arn names service {route.service}, not {tpl.service}")
    fn = tpl.functions.get(route.function)
    if fn is None:
        return [*problems, f"{where}: arn names undeclared function {route.function}"]
    declared = path_template_parameters(route.path)
    if tuple(route.path_parameters) != declared:
        problems.append(f"{where}: PATH parameters {route.path_parameters}, path has {declared}")
    if route.timeout_ms is not None and route.timeout_ms > frontdoor.GATEWAY_TIMEOUT_MAX_MS:
        problems.append(
            f"{where}: gateway timeout {route.timeout_ms} ms (API Gateway allows at most "
            f"{frontdoor.GATEWAY_TIMEOUT_MAX_MS} ms on a shared instance)"
        )
    if route.timeout_ms is None or route.timeout_ms < fn.timeout_s * 1000:
        # A shorter gateway timeout answers 504 while the function still runs (and may succeed).
        problems.append(
            f"{where}: gateway timeout {route.timeout_ms} ms < function Timeout {fn.timeout_s} s"
        )
    spec = _route_spec(tpl, route)
    config = spec.get("x-aliyun-apigateway-request-config") or {}
    if config.get("requestMode") != "PASSTHROUGH":
        # Our event decoding expects API Gateway's FC event ({path, httpMethod, ...}).
        problems.append(f"{where}: requestMode must be PASSTHROUGH")
    if config.get("requestProtocol") != "HTTPS":
        problems.append(f"{where}: requestProtocol must be HTTPS (codes are secrets in transit)")
    for p in spec.get("x-aliyun-apigateway-request-parameters") or []:
        if p.get("location") == "PATH" and p.get("required") != "REQUIRED":
            problems.append(f"{where}: path parameter {p.get('apiParameterName')} not REQUIRED")
    return problems


def _route_spec(tpl: FunTemplate, route: Route) -> dict[str, Any]:
    for res in tpl.raw["Resources"].values():
        body = (res.get("Properties") or {}).get("DefinitionBody") or {}
        spec = (body.get(route.path) or {}).get(route.method.lower())
        if spec:
            return spec
    return {}


def check_ros_resources(tpl: FunTemplate) -> list[str]:
    """template.yml's ALIYUN:: resources (deployed by ROS only) bind whole APIs, never the one
    ApiId that an `Aliyun::Serverless::Api` exposes for a whole group of routes."""
    return [f"template.yml {p}" for p in frontdoor.bound_apis(tpl.raw["Resources"])]


def check_fun_logs(tpl: FunTemplate) -> list[str]:
    """An explicit log project and logstore, declared in the template: with `LogConfig: Auto`
    Funcraft attaches AliyunLogFullAccess to the service role (and on ROS, a project per deploy);
    with both named it grants only log:PostLogStoreLogs on that logstore."""
    props = tpl.raw["Resources"][tpl.service].get("Properties") or {}
    config = props.get("LogConfig")
    if not isinstance(config, dict) or not {"Project", "Logstore"} <= set(config):
        return [
            f"template.yml {tpl.service}: LogConfig {config!r} must name a Project and Logstore "
            "(Auto makes Funcraft attach AliyunLogFullAccess)"
        ]
    project = tpl.raw["Resources"].get(config["Project"])
    if not isinstance(project, dict) or project.get("Type") != "Aliyun::Serverless::Log":
        return [f"template.yml: LogConfig project {config['Project']} is not declared"]
    store = project.get(config["Logstore"])
    if not isinstance(store, dict) or store.get("Type") != "Aliyun::Serverless::Log::Logstore":
        return [
            f"template.yml: logstore {config['Logstore']} is not declared in {config['Project']}"
        ]
    return []


def check_fun_template(
    tpl: FunTemplate, env_names: set[str], primary_key: tuple[tuple[str, str], ...]
) -> list[str]:
    """Every template.yml check but the code's entry points: `env_names` (what settings reads)
    and `primary_key` (the store's) come from `code_facts`."""
    return (
        check_functions(tpl, env_names)
        + check_table_and_policy(tpl, primary_key)
        + check_routes(tpl)
        + check_ros_resources(tpl)
        + check_fun_logs(tpl)
    )


# --- s.yaml ---------------------------------------------------------------------------------


def check_s_yaml(
    raw: dict[str, Any], resources: dict[str, SResource], tpl: FunTemplate
) -> list[str]:
    """Valid fc3 fields and runtimes; the same functions, handlers and environment as
    template.yml; admin triggers never anonymous; one place for the runtime."""
    problems = []
    if str(raw.get("edition")) != "3.0.0":
        problems.append(f"s.yaml: edition {raw.get('edition')} (fc3 needs 3.0.0)")
    fc3 = {k: r for k, r in resources.items() if set(r.props) >= FC3_REQUIRED}
    problems += check_workers("s.yaml", s_functions(fc3), [], None)
    if sorted(resources) != FUNCTIONS:
        problems.append(f"s.yaml: resources {sorted(resources)}, expected {FUNCTIONS}")
    runtime_var = (raw.get("vars") or {}).get("runtime")
    fns = s_functions({k: r for k, r in resources.items() if set(r.props) >= FC3_REQUIRED})
    for key, res in resources.items():
        where = f"s.yaml {key}"
        declared = raw["resources"][key]["props"]
        if res.component != FC3_COMPONENT:
            problems.append(
                f"{where}: component {res.component} (expected {FC3_COMPONENT}: pinned, so a "
                "deploy runs the component the checks were written against)"
            )
        unknown = sorted(set(res.props) - FC3_PROPS)
        if unknown:
            problems.append(f"{where}: unknown fc3 properties {unknown}")
        missing = sorted(FC3_REQUIRED - set(res.props))
        if missing:
            problems.append(f"{where}: missing {missing}")
            continue
        if declared.get("runtime") != "${vars.runtime}":
            problems.append(f"{where}: runtime must be ${{vars.runtime}} (one place to switch)")
        if res.props["region"] not in FC3_REGIONS:
            problems.append(f"{where}: region {res.props['region']} is not an FC 3.0 region")
        fn = fns[key]
        if fn.runtime not in FC3_RUNTIMES:
            problems.append(f"{where}: runtime {fn.runtime} (one of {sorted(FC3_RUNTIMES)})")
        if not (128 <= fn.memory_mb <= 32768 and fn.memory_mb % 64 == 0):
            problems.append(f"{where}: memorySize {fn.memory_mb} (128..32768, step 64)")
        if not (isinstance(fn.timeout_s, int) and 1 <= fn.timeout_s <= 86400):
            problems.append(f"{where}: timeout {fn.timeout_s} (1..86400)")
        twin = tpl.functions.get(key)
        if twin is not None:
            for field in ("handler", "initializer", "memory_mb", "timeout_s", "env"):
                mine, theirs = getattr(fn, field), getattr(twin, field)
                if field == "env":
                    mine, theirs = _without_region(mine), _without_region(theirs)
                if mine != theirs:
                    problems.append(f"{where}: {field} {mine!r} differs from template.yml's")
        problems += _check_triggers(where, res.props)
        problems += _check_s_logs(where, res.props)
        actions = res.actions.get("pre-deploy") or []
        expected_run = f"make package RUNTIME={runtime_var}"
        if not any(a.get("run") == expected_run for a in actions):
            problems.append(f"{where}: pre-deploy must run `{expected_run}` (builds {fn.code})")
    return problems


def _without_region(env: dict[str, Any]) -> dict[str, Any]:
    """The environment as both templates must set it: the region and the worker's name (each
    template's own: check_workers) left out."""
    env = {k: v for k, v in env.items() if k != WORKER_SETTING}
    parts = endpoint_parts(str(env.get("OTS_ENDPOINT", "")))
    if parts:
        return dict(env, OTS_ENDPOINT=f"https://{parts[0]}.<region>.ots.aliyuncs.com")
    return env


def _check_triggers(where: str, props: dict[str, Any]) -> list[str]:
    """No triggers: API Gateway (frontdoor.yml) is the only front door. An HTTP trigger would be a
    second one, without the gateway's auth or throttling (an anonymous one open to anybody)."""
    triggers = props.get("triggers") or []
    if triggers:
        kinds = sorted(str(t.get("triggerType")) for t in triggers)
        return [
            f"{where}: triggers {kinds} bypass API Gateway's auth and throttling (frontdoor.yml)"
        ]
    return []


def _check_s_logs(where: str, props: dict[str, Any]) -> list[str]:
    config = props.get("logConfig")
    if not isinstance(config, dict) or not {"project", "logstore"} <= set(config):
        return [f"{where}: logConfig {config!r} must name a project and logstore (infra.yml's)"]
    return []


# --- what the code says (derived, never hand-kept) --------------------------------------------


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def sdk_api_methods() -> set[str]:
    """The Tablestore APIs, as the SDK's OTSClient names its methods (`batch_write_row`...)."""
    return {name for name in vars(OTSClient) if not name.startswith("_")}


def api_action(method: str) -> str:
    """`batch_write_row` -> `ots:BatchWriteRow`, the RAM action of that API."""
    return "ots:" + "".join(part.capitalize() for part in method.split("_"))


def store_actions(store: Path, api_methods: set[str] | None = None) -> set[str]:
    """The RAM actions the store needs: every OTSClient method it calls (`x.get_row(...)`), and
    fc:InvokeFunction where it queues an asynchronous invocation (fccodes/fcinvoke.py)."""
    methods = sdk_api_methods() if api_methods is None else api_methods
    calls = [node for node in ast.walk(_tree(store)) if isinstance(node, ast.Call)]
    called = {
        node.func.attr
        for node in calls
        if isinstance(node.func, ast.Attribute) and node.func.attr in methods
    }
    actions = {api_action(m) for m in called}
    names = {getattr(node.func, "id", getattr(node.func, "attr", None)) for node in calls}
    if names & INVOKERS:
        actions.add(INVOKE_ACTION)
    return actions


def code_actions(functions: Path = FUNCTIONS_DIR) -> set[str]:
    """The RAM actions of every Tablestore API any module under functions/ calls (the store and
    whatever store modules join it), so a new call is never left out of the policies."""
    methods = sdk_api_methods()
    out: set[str] = set()
    for path in sorted(functions.rglob("*.py")):
        if "__pycache__" not in path.parts:
            out |= store_actions(path, methods)
    return out


def code_tables(env: dict[str, Any], env_names: set[str]) -> set[tuple[str, str]]:
    """(instance, table) of every table the code reads from its environment: each variable
    settings reads whose name ends in `_TABLE`, on the instance of OTS_INSTANCE."""
    instance = str(env.get("OTS_INSTANCE", ""))
    return {(instance, str(env[n])) for n in sorted(env_names) if n.endswith("_TABLE") and n in env}


def store_primary_key(store: Path) -> str:
    """The primary key column: the store's module-level `PK = "..."`."""
    for node in _tree(store).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["PK"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise TemplateError(f"{store.name}: no module-level PK = '...' (the primary key column)")


ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")


def settings_env_names(settings: Path) -> set[str]:
    """The variables `Settings.from_env` reads: the UPPER_SNAKE strings in its body."""
    for node in ast.walk(_tree(settings)):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "from_env":
                    return {
                        c.value
                        for c in ast.walk(item)
                        if isinstance(c, ast.Constant)
                        and isinstance(c.value, str)
                        and ENV_NAME_RE.match(c.value)
                    }
    raise TemplateError(f"{settings.name}: no Settings.from_env")


def check_code(tpl: FunTemplate, s_resources: dict[str, SResource], functions: Path) -> list[str]:
    """Handlers and initializers of both templates exist in functions/ and are callable; the
    policy allows exactly the Tablestore APIs the store calls."""
    declared = [(f"template.yml {k}", f) for k, f in tpl.functions.items()]
    declared += [(f"s.yaml {k}", f) for k, f in s_functions(s_resources).items()]
    entries: list[tuple[str, str, str, tuple[str, ...]]] = []
    problems = []
    for where, fn in declared:
        entries.append((where, "handler", fn.handler, ("event", "context")))
        if fn.initializer is None:
            problems.append(f"{where}: no initializer (the client and settings are built there)")
        else:
            entries.append((where, "initializer", fn.initializer, ("context",)))
    problems += check_entry_points(entries, functions)
    needed, granted = code_actions(functions), policy_actions(tpl)
    if granted != needed:
        problems.append(
            f"policy actions {sorted(granted)} differ from what functions/ calls "
            f"{sorted(needed)}: missing {sorted(needed - granted)}, "
            f"not needed {sorted(granted - needed)}"
        )
    return problems


# Run in a fresh interpreter with functions/ first on sys.path, the way FC imports handlers:
# nothing of ours is imported or cached in the checking process.
_ENTRY_POINT_PROBE = """
import importlib, inspect, json, sys
functions, entries = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, functions)
out = []
for module_name, attr, params in entries:
    try:
        target = getattr(importlib.import_module(module_name), attr, None)
    except Exception as e:
        out.append("cannot import %s: %s: %s" % (module_name, type(e).__name__, e))
        continue
    if not callable(target):
        out.append("%s.py has no callable %s" % (module_name, attr))
        continue
    try:
        inspect.signature(target).bind(*params)
    except TypeError:
        out.append("cannot be called as %s(%s)" % (attr, ", ".join(params)))
        continue
    out.append(None)
print(json.dumps(out))
"""


def check_entry_points(
    entries: list[tuple[str, str, str, tuple[str, ...]]], functions: Path
) -> list[str]:
    """Each (where, kind, `module.attr`, params) names a callable taking `params` in a module
    at the top of functions/."""
    problems, probe = [], []
    for where, kind, entry, params in entries:
        module_name, _, attr = entry.rpartition(".")
        if not module_name or not (functions / f"{module_name}.py").is_file():
            problems.append(f"{where}: {kind} {entry}: no {module_name or entry}.py in functions/")
        else:
            probe.append((where, kind, entry, [module_name, attr, list(params)]))
    if probe:
        proc = subprocess.run(  # noqa: S603 (our interpreter, our script)
            [sys.executable, "-c", _ENTRY_POINT_PROBE, str(functions),
             json.dumps([p[3] for p in probe])],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if proc.returncode != 0:
            return [*problems, f"cannot import the handlers: {proc.stderr.strip()[-500:]}"]
        for (where, kind, entry, _), result in zip(probe, json.loads(proc.stdout), strict=True):
            if result:
                problems.append(f"{where}: {kind} {entry}: {result}")
    return problems


def code_facts(functions: Path = FUNCTIONS_DIR) -> tuple[set[str], tuple[tuple[str, str], ...]]:
    """(the variables settings reads, the table's primary key), derived from functions/.

    The key column is the store's `PK`; its type is STRING because the store keys rows by the
    normalized code, a string (docs/contract.md, "Data")."""
    env_names = settings_env_names(functions / "fccodes" / "settings.py")
    return env_names, ((store_primary_key(functions / "fccodes" / "store.py"), "STRING"),)


def all_problems(
    template: Path = FUN_TEMPLATE,
    s_yaml: Path = S_YAML,
    functions: Path = FUNCTIONS_DIR,
    stacks: tuple[Path, ...] = STACK_TEMPLATES,
) -> list[str]:
    """Every check of both templates against the code (`make validate`, `make deploy`).
    Raises TemplateError (or OSError) when a template or the code cannot be read."""
    tpl = load_fun_template(template)
    raw, resources = load_s_yaml(s_yaml)
    env_names, primary_key = code_facts(functions)
    problems = (
        check_fun_template(tpl, env_names, primary_key)
        + check_s_yaml(raw, resources, tpl)
        + check_code(tpl, resources, functions)
    )
    return problems + infra_problems(raw, resources, stacks, functions, env_names)


def infra_problems(
    s_raw: dict[str, Any],
    s_resources: dict[str, SResource],
    stacks: tuple[Path, ...] = STACK_TEMPLATES,
    functions: Path = FUNCTIONS_DIR,
    env_names: set[str] | None = None,
) -> list[str]:
    """The ROS stacks s.yaml deploys (infra.yml, frontdoor.yml) against the routes, s.yaml's
    functions and the code; infra.yml must be deployed before the functions (their role and
    logstore), frontdoor.yml after them (API Gateway invokes them)."""
    problems = []
    order = list((s_raw.get("resources") or {}).keys())
    deployed = {
        Path(str(r.props.get("template", ""))).name: order.index(key)
        for key, r in s_infra_resources(s_raw).items()
    }
    wanted = [p.name for p in stacks]
    regions = {str(r.props.get("region")) for r in s_resources.values()}
    for key, r in s_infra_resources(s_raw).items():
        if {str(r.props.get("region"))} != regions:
            problems.append(
                f"s.yaml {key}: region {r.props.get('region')}, the functions' {regions}"
            )
        if not r.props.get("name"):
            problems.append(f"s.yaml {key}: no stack name")
    if sorted(deployed) != sorted(wanted):
        problems.append(f"s.yaml: the `ros` resources deploy {sorted(deployed)}, not {wanted}")
    fn_positions = [order.index(k) for k in s_resources]
    if fn_positions and len(stacks) == 2 and sorted(deployed) == sorted(wanted):
        first, last = deployed[stacks[0].name], deployed[stacks[1].name]
        if not first < min(fn_positions) or not last > max(fn_positions):
            problems.append(
                f"s.yaml: deploy {stacks[0].name} before the functions and {stacks[1].name} after "
                "them (the functions need its role and logstore; API Gateway needs the functions)"
            )
    raw, origin = frontdoor.load_stacks(stacks)
    fns = s_functions(s_resources)
    workers = {fns[k].name for k in WORKER_FUNCTIONS if k in fns}
    if env_names is None:
        env_names = code_facts(functions)[0]
    env = next(iter(fns.values())).env if fns else {}
    logs = next(iter(s_resources.values())).props.get("logConfig") if s_resources else None
    problems += frontdoor.check_infra(
        raw,
        ROUTES,
        fns,
        code_actions(functions),
        code_tables(env, env_names),
        logs if isinstance(logs, dict) else None,
        origin,
        workers,
    )
    return problems


def ros_schema_problems(
    template: Path = FUN_TEMPLATE, stacks: tuple[Path, ...] = STACK_TEMPLATES
) -> list[str]:
    """Every ALIYUN:: resource of template.yml and the stacks against its type's schema (node)."""
    resources = {}
    sources = [(template, load_yaml(template))] + [(p, frontdoor.load_infra(p)) for p in stacks]
    for path, raw in sources:
        for key, res in frontdoor.aliyun_resources(raw).items():
            resources[f"{path.name} {key}"] = res
    return frontdoor.check_ros_schemas(resources)


def validate_problems(root: Path = ROOT) -> list[str]:
    """Everything `make validate` checks besides `fun validate` and actionlint, on the tree at
    `root`: both templates and infra.yml against the code, every ROS resource against its type's
    schema, the workflows, and the code package locks. Raises TemplateError (or OSError) when a
    template or the code cannot be read."""
    template = root / FUN_TEMPLATE.name
    stacks = tuple(root / p.name for p in STACK_TEMPLATES)
    problems = all_problems(template, root / S_YAML.name, root / "functions", stacks)
    problems += ros_schema_problems(template, stacks)
    problems += cichecks.all_problems(root / ".github" / "workflows", root)
    for runtime in package.RUNTIMES:
        lock = root / package.lock_path(runtime).relative_to(ROOT)
        pinned = root / package.RUNTIMES[runtime][1].relative_to(ROOT)
        problems += package.check_lock(runtime, lock, pinned)
    return problems


def main() -> int:
    try:
        problems = validate_problems()
    except (OSError, TemplateError, KeyError, TypeError) as e:
        problems = [f"cannot read the templates: {e}"]
    for problem in problems:
        print(f"template check: {problem}", file=sys.stderr)
    if not problems:
        print(
            "template checks: template.yml, s.yaml, infra.yml, frontdoor.yml, the workflows and "
            "locks ok"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
