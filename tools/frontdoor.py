"""Checks of the ROS resources (infra.yml, frontdoor.yml, any ALIYUN:: resource of template.yml).

Two kinds, each returning a list of problems (empty = fine), one sentence each:

- `check_ros_schemas`: every ALIYUN:: resource against its type's property schema and allowed
  values, with the validators of the ROS CDK packages (tools/ros_validate.js, run by node).
  This is what catches `TrafficControlUnit: SECOND` (ROS accepts MINUTE, HOUR, DAY), a misspelt
  property or a missing required one, which `fun validate` passes.
- `check_infra` (on both stacks, `load_stacks`): what the schemas cannot know: one API per
  product route with the right auth,
  backend function, protocol and a gateway timeout API Gateway allows; every API published,
  throttled (anonymous ones per client IP) and (admin ones only) authorized; roles that grant
  exactly what the code needs.
- `traffic_plugin`: the body of a trafficControl plug-in (a string of YAML, `PluginData`) read
  against the parameter-based throttling template, the part of it that the local gateway
  (localdev/throttle.py) enforces the same way; both read plug-ins through it.
"""

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.templates import ROOT, Function, TemplateError, load_yaml

ROS_VALIDATE = ROOT / "tools" / "ros_validate.js"
# API Gateway's maximum backend timeout on a shared instance (dedicated instances allow more).
GATEWAY_TIMEOUT_MAX_MS = 30_000
API_TYPE = "ALIYUN::ApiGateway::Api"
DEPLOYMENT_TYPE = "ALIYUN::ApiGateway::Deployment"
THROTTLE_TYPE = "ALIYUN::ApiGateway::TrafficControl"
THROTTLE_BINDING_TYPE = "ALIYUN::ApiGateway::TrafficControlBinding"
AUTHORIZATION_TYPE = "ALIYUN::ApiGateway::Authorization"
PLUGIN_TYPE = "ALIYUN::ApiGateway::Plugin"
PLUGIN_ATTACHMENT_TYPE = "ALIYUN::ApiGateway::PluginAttachment"
ROLE_TYPE = "ALIYUN::RAM::Role"
STAGE = "RELEASE"
FC_SERVICE = "fc.aliyuncs.com"
GATEWAY_SERVICE = "apigateway.aliyuncs.com"


def aliyun_resources(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ALIYUN:: resources of a template (ROS types, as opposed to Funcraft's Aliyun::)."""
    return {
        key: res
        for key, res in (raw.get("Resources") or {}).items()
        if isinstance(res, dict) and str(res.get("Type", "")).startswith("ALIYUN::")
    }


def check_ros_schemas(resources: dict[str, dict[str, Any]], node: str | None = None) -> list[str]:
    """Every resource against its ROS type's schema (keys are `where/logical id`)."""
    if not resources:
        return []
    node = node or shutil.which("node")
    if not node:
        return ["node is not installed: the ROS schema check needs Node.js (make validate)"]
    payload = {
        key: {"Type": res.get("Type"), "Properties": res.get("Properties") or {}}
        for key, res in resources.items()
    }
    proc = subprocess.run(  # noqa: S603 (our script, our input)
        [node, str(ROS_VALIDATE)], input=json.dumps(payload), capture_output=True, text=True,
        cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        tail = proc.stderr.strip()[-400:]
        return [f"the ROS schema check failed to run (npm ci installs the ROS CDK): {tail}"]
    return list(json.loads(proc.stdout))


# --- references between resources ------------------------------------------------------------


def get_att(value: Any) -> tuple[str, str] | None:
    """(resource, attribute) of `{"Fn::GetAtt": [resource, attribute]}`, else None."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
        if isinstance(target, list) and len(target) == 2:
            return str(target[0]), str(target[1])
    return None


def sub_text(value: Any) -> str:
    """A string, or the text of `Fn::Sub` with the region and account as `*`."""
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        value = value["Fn::Sub"]
    if not isinstance(value, str):
        return json.dumps(value)
    return value.replace("${ALIYUN::Region}", "*").replace("${ALIYUN::AccountId}", "*")


def api_refs(where: str, values: Any, resources: dict[str, Any]) -> tuple[set[str], list[str]]:
    """The API resources an `ApiIds` list names, and problems with entries that name no one API.

    `Fn::GetAtt: [<Aliyun::Serverless::Api>, ApiId]` is refused: such a resource creates one
    group and many APIs but exposes one ApiId, so the binding would cover one route at most."""
    names: set[str] = set()
    problems = []
    for value in values if isinstance(values, list) else [values]:
        ref = get_att(value)
        target = resources.get(ref[0]) if ref else None
        if not ref or ref[1] != "ApiId" or not isinstance(target, dict):
            problems.append(
                f"{where}: ApiIds entry {value!r} does not name an API of this template"
            )
        elif target.get("Type") != API_TYPE:
            problems.append(
                f"{where}: ApiIds names {ref[0]} ({target.get('Type')}), which is not one API: "
                f"declare each route as an {API_TYPE} and list every one"
            )
        else:
            names.add(ref[0])
    return names, problems


def bound_apis(template_resources: dict[str, Any]) -> list[str]:
    """Problems with every TrafficControlBinding / Authorization of a template."""
    problems = []
    for key, res in template_resources.items():
        if isinstance(res, dict) and res.get("Type") in (THROTTLE_BINDING_TYPE, AUTHORIZATION_TYPE):
            props = res.get("Properties") or {}
            problems += api_refs(key, props.get("ApiIds"), template_resources)[1]
        elif isinstance(res, dict) and res.get("Type") == PLUGIN_ATTACHMENT_TYPE:
            props = res.get("Properties") or {}
            problems += api_refs(key, props.get("ApiId"), template_resources)[1]
    return problems


# --- trafficControl plug-ins (docs/deploy.md, "Per-client limits") ----------------------------

TRAFFIC_PLUGIN = "trafficControl"
# ALIYUN::ApiGateway::Plugin's PluginType values (the ROS type's reference lists the first six;
# API Gateway has more plug-ins since). The CDK validators check none of them.
PLUGIN_TYPES = {
    "ipControl", "trafficControl", "backendSignature", "jwtAuth", "cors", "caching", "basicAuth",
    "routing", "accessControl", "errorMapping", "circuitBreaker", "remoteAuth", "logMask",
    "transformer",
}  # fmt: skip
# The ROS type's other constraints the CDK leaves out: a name of 4 to 50 letters, digits and
# underscores, not starting with an underscore; a description of at most 200 characters.
PLUGIN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{3,49}$")
PLUGIN_DESCRIPTION_MAX = 200
# The throttling plug-in's periods are SECOND, MINUTE, HOUR and DAY. MINUTE, HOUR and DAY are
# fixed windows, counted the same way locally; SECOND is a token bucket with a waiting queue by
# default, which the local gateway does not model, so it is refused here.
PLUGIN_PERIODS = {"MINUTE": 60, "HOUR": 3600, "DAY": 86400}
# A parameter of the parameter-based template is `Name: "Location:Key"`; the client's address is
# the system parameter CaClientIp. It is the one source fc-codes declares and localdev counts.
CLIENT_IP = "System:CaClientIp"
# The parts of the parameter-based template fc-codes uses: anything else would be a setting the
# local gateway ignores, so it is refused until localdev/throttle.py enforces it too.
PLUGIN_BODY_KEYS = ("defaultLimit", "defaultPeriod", "parameters", "rules")
PLUGIN_BODY_REQUIRED = ("defaultLimit", "defaultPeriod")
PLUGIN_RULE_KEYS = ("name", "byParameters", "limit", "period")
SUB_RE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class ClientRule:
    """A rule of a trafficControl plug-in: at most `limit` calls per `window_s` per client IP."""

    name: str
    limit: int
    window_s: int


@dataclass(frozen=True)
class TrafficPlugin:
    """A trafficControl plug-in's body: a ceiling for the API it is bound to (every caller
    together), and budgets per client IP address."""

    api_limit: int
    window_s: int
    client_rules: tuple[ClientRule, ...]


def resolve_sub(value: Any, parameters: dict[str, Any]) -> str:
    """A string, or the text of `Fn::Sub` with each `${Name}` replaced by that template
    parameter's Default (what ROS deploys unless the stack is given another value), or by the
    value of `Fn::Sub`'s own mapping. Raises TemplateError naming what cannot be filled in."""
    if isinstance(value, str):
        return value
    sub = value.get("Fn::Sub") if isinstance(value, dict) and list(value) == ["Fn::Sub"] else None
    names: dict[str, Any] = {}
    if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[1], dict):
        sub, names = sub
    if not isinstance(sub, str):
        raise TemplateError(f"expected a string or Fn::Sub of a string, got {value!r}")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        param = parameters.get(name)
        filled = names.get(name, param.get("Default") if isinstance(param, dict) else None)
        if isinstance(filled, bool) or not isinstance(filled, str | int | float):
            raise TemplateError(f"${{{name}}} is not a template parameter with a Default")
        return str(filled)

    return SUB_RE.sub(fill, sub)


def _count(value: Any, where: str, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"{where} {value!r} is not a whole number of calls (1 or more)")
        return 0
    return value


def _period(value: Any, where: str, problems: list[str]) -> int:
    if value in PLUGIN_PERIODS:
        return PLUGIN_PERIODS[value]
    if value == "SECOND":
        problems.append(
            f"{where} SECOND: per second API Gateway uses a token bucket with a waiting queue, "
            "which the local gateway does not model; use MINUTE, HOUR or DAY"
        )
    else:
        problems.append(f"{where} {value!r} is not one of SECOND, MINUTE, HOUR, DAY")
    return 0


def traffic_plugin(text: str) -> tuple[TrafficPlugin | None, list[str]]:
    """A trafficControl plug-in's body (YAML, or JSON, which YAML reads too) read against the
    parameter-based throttling template: `defaultLimit` calls per `defaultPeriod` for the API,
    `parameters` (`Name: "System:CaClientIp"`), and `rules`, each `limit` calls per `period` for
    each value of the parameter it names in `byParameters`.
    Returns (the plug-in, []) or (None, problems)."""
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at_line = f" at line {mark.line + 1}" if mark is not None else ""
        reason = getattr(e, "problem", None) or str(e).strip().splitlines()[0]
        return None, [f"PluginData is not YAML or JSON: {reason}{at_line}"]
    if not isinstance(body, dict):
        return None, [f"PluginData is not a mapping of the throttling template, got {body!r}"]
    problems = []
    unknown = sorted(str(k) for k in set(body) - set(PLUGIN_BODY_KEYS))
    if unknown:
        problems.append(
            f"PluginData: unknown keys {unknown} (fc-codes uses {list(PLUGIN_BODY_KEYS)} of the "
            "parameter-based template; the local gateway would ignore anything else)"
        )
    for key in PLUGIN_BODY_REQUIRED:
        if key not in body:
            problems.append(f"PluginData: no {key}")
    api_limit = _count(body.get("defaultLimit"), "PluginData: defaultLimit", problems)
    window_s = _period(body.get("defaultPeriod"), "PluginData: defaultPeriod", problems)
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        problems.append(f"PluginData: parameters {parameters!r} is not a mapping of names")
        parameters = {}
    for name, source in parameters.items():
        if source != CLIENT_IP:
            problems.append(
                f"PluginData: parameter {name} is {source!r}; {CLIENT_IP} (the client's IP "
                "address) is the one source fc-codes declares and the local gateway counts"
            )
    rules = body.get("rules") or []
    if not isinstance(rules, list):
        problems.append(f"PluginData: rules {rules!r} is not a list")
        rules = []
    out, names = [], set()
    for i, rule in enumerate(rules):
        where = f"PluginData: rules[{i}]"
        if not isinstance(rule, dict):
            problems.append(f"{where} is not a mapping")
            continue
        unknown = sorted(str(k) for k in set(rule) - set(PLUGIN_RULE_KEYS))
        missing = [k for k in PLUGIN_RULE_KEYS if k not in rule]
        if unknown or missing:
            problems.append(f"{where}: unknown keys {unknown}, missing {missing}")
        name = rule.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: name {name!r} is not a name")
        elif name in names:
            problems.append(f"{where}: a second rule named {name}")
        names.add(name)
        by = rule.get("byParameters")
        if not isinstance(by, str) or by not in parameters:
            problems.append(
                f"{where}: byParameters {by!r} is not one of parameters {list(parameters)}"
            )
        limit = _count(rule.get("limit"), f"{where}: limit", problems)
        rule_window = _period(rule.get("period"), f"{where}: period", problems)
        if limit and api_limit and rule_window == window_s and limit > api_limit:
            problems.append(
                f"{where}: limit {limit} is over defaultLimit {api_limit}: the API's ceiling "
                "would always stop a client first"
            )
        if limit and rule_window and isinstance(name, str) and parameters.get(by) == CLIENT_IP:
            out.append(ClientRule(name, limit, rule_window))
    if problems:
        return None, problems
    return TrafficPlugin(api_limit, window_s, tuple(out)), []


def check_plugin(
    where: str, props: dict[str, Any], parameters: dict[str, Any]
) -> tuple[TrafficPlugin | None, list[str]]:
    """An ALIYUN::ApiGateway::Plugin beyond its ROS schema (the CDK checks types and required
    properties only): its type, name and description as the ROS type allows them, and a
    trafficControl plug-in's body against the throttling template, with the template's
    Parameters filled in. (the plug-in if it is a sound trafficControl one, problems)."""
    problems = []
    kind = props.get("PluginType")
    if kind not in PLUGIN_TYPES:
        problems.append(f"{where}: PluginType {kind!r} is not a plug-in type of API Gateway")
    name = props.get("PluginName")
    if isinstance(name, str) and not PLUGIN_NAME_RE.match(name):
        problems.append(
            f"{where}: PluginName {name!r} (4 to 50 letters, digits and underscores, not starting "
            "with an underscore)"
        )
    description = props.get("Description")
    if isinstance(description, str) and len(description) > PLUGIN_DESCRIPTION_MAX:
        problems.append(f"{where}: Description is over {PLUGIN_DESCRIPTION_MAX} characters")
    if kind != TRAFFIC_PLUGIN:
        return None, problems
    try:
        text = resolve_sub(props.get("PluginData"), parameters)
    except TemplateError as e:
        return None, [*problems, f"{where}: PluginData: {e}"]
    plugin, bad = traffic_plugin(text)
    return (plugin if not problems else None), problems + [f"{where}: {p}" for p in bad]


def traffic_plugins(raw: dict[str, Any]) -> tuple[dict[str, TrafficPlugin], dict[str, str]]:
    """The trafficControl plug-ins of a template, and the API each one's attachment binds it to
    ({API resource: plug-in resource}); plug-ins whose body is not sound are left out (`make
    validate` says why)."""
    resources = raw.get("Resources") or {}
    parameters = raw.get("Parameters") or {}
    plugins = {}
    for key, props in _by_type(resources, PLUGIN_TYPE).items():
        plugin, _ = check_plugin(key, props, parameters)
        if plugin is not None:
            plugins[key] = plugin
    bound = {}
    for props in _by_type(resources, PLUGIN_ATTACHMENT_TYPE).values():
        api, plugin_ref = get_att(props.get("ApiId")), get_att(props.get("PluginId"))
        if api and plugin_ref and plugin_ref[0] in plugins and props.get("StageName") == STAGE:
            bound[api[0]] = plugin_ref[0]
    return plugins, bound


# --- infra.yml --------------------------------------------------------------------------------


def _route_of(props: dict[str, Any]) -> tuple[str, str]:
    config = props.get("RequestConfig") or {}
    return str(config.get("RequestHttpMethod", "")).upper(), str(config.get("RequestPath", ""))


def _by_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        k: (v.get("Properties") or {})
        for k, v in resources.items()
        if isinstance(v, dict) and v.get("Type") == kind
    }


def load_stacks(paths: tuple[Path, ...]) -> tuple[dict[str, Any], dict[str, str]]:
    """The stacks' resources and parameters as one template, and each resource's file name (for
    messages). Raises TemplateError if two stacks declare the same logical id or parameter."""
    merged: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path in paths:
        raw = load_infra(path)
        for key, res in (raw.get("Resources") or {}).items():
            if key in merged:
                raise TemplateError(f"{path.name}: {key} is declared in {origin[key]} too")
            merged[key], origin[key] = res, path.name
        for key, param in (raw.get("Parameters") or {}).items():
            if key in parameters:
                raise TemplateError(
                    f"{path.name}: parameter {key} is declared by another stack too (the checks "
                    "read the stacks as one template)"
                )
            parameters[key] = param
    return {"Resources": merged, "Parameters": parameters}, origin


def check_infra(
    raw: dict[str, Any],
    routes: dict[tuple[str, str], tuple[str, bool]],
    functions: dict[str, Function],
    ots_actions: set[str],
    tables: set[tuple[str, str]],
    log_config: dict[str, Any] | None,
    origin: dict[str, str] | None = None,
    workers: set[str] | None = None,
) -> list[str]:
    """The stacks (merged) against the product's routes, s.yaml's functions and the code.

    `routes`: (method, path) -> (function key, admin?); `functions`: s.yaml's, by key;
    `ots_actions`: the RAM actions the code needs (Tablestore APIs, and fc:InvokeFunction when
    it invokes the workers); `tables`: (instance, table) it uses; `log_config`: s.yaml's
    logConfig (project, logstore); `origin`: each resource's file (default infra.yml), for the
    messages; `workers`: the function names of the workers (invoked asynchronously by the
    functions, never through API Gateway)."""
    resources = raw.get("Resources") or {}
    origin = origin or {}

    def at(key: str) -> str:
        return f"{origin.get(key, 'infra.yml')} {key}"

    front = next(
        iter(sorted({origin[k] for k in _by_type(resources, API_TYPE) if k in origin})), ""
    )
    front = front or "infra.yml"
    problems = []
    apis = _by_type(resources, API_TYPE)
    by_route: dict[tuple[str, str], str] = {}
    for key, props in apis.items():
        route = _route_of(props)
        if route in by_route:
            problems.append(f"{at(key)}: route {route} is declared twice")
        by_route[route] = key
    if set(by_route) != set(routes):
        problems.append(f"{front}: APIs serve {sorted(by_route)}, expected {sorted(routes)}")
    gateway_roles = {
        k for k, p in _by_type(resources, ROLE_TYPE).items() if _trusts(p, GATEWAY_SERVICE)
    }
    for route, key in by_route.items():
        if route in routes:
            function_key, is_admin = routes[route]
            problems += _check_api(
                at(key), apis[key], function_key, is_admin, functions, gateway_roles
            )

    public = {k for r, k in by_route.items() if r in routes and not routes[r][1]}
    admin = {k for r, k in by_route.items() if r in routes and routes[r][1]}
    published = {
        ref[0]
        for p in _by_type(resources, DEPLOYMENT_TYPE).values()
        if (ref := get_att(p.get("ApiId"))) and p.get("StageName") == STAGE
    }
    for key in sorted(set(apis) - published):
        problems.append(f"{at(key)}: no ALIYUN::ApiGateway::Deployment to {STAGE}")

    throttles = _by_type(resources, THROTTLE_TYPE)
    throttled: dict[str, str] = {}
    for key, props in _by_type(resources, THROTTLE_BINDING_TYPE).items():
        names, bad = api_refs(at(key), props.get("ApiIds"), resources)
        problems += bad
        ref = get_att(props.get("TrafficControlId"))
        for name in names:
            if name in throttled:
                problems.append(f"{at(key)}: {name} is bound to a second throttle")
            throttled[name] = ref[0] if ref else ""
    plugins: dict[str, TrafficPlugin] = {}
    parameters = raw.get("Parameters") or {}
    for key, props in _by_type(resources, PLUGIN_TYPE).items():
        plugin, bad = check_plugin(at(key), props, parameters)
        problems += bad
        if plugin is not None:
            plugins[key] = plugin
    plugged: dict[str, str] = {}  # API -> its trafficControl plug-in
    for key, props in _by_type(resources, PLUGIN_ATTACHMENT_TYPE).items():
        names, bad = api_refs(at(key), props.get("ApiId"), resources)
        problems += bad
        ref = get_att(props.get("PluginId"))
        target = resources.get(ref[0]) if ref else None
        if not ref or ref[1] != "PluginId" or (target or {}).get("Type") != PLUGIN_TYPE:
            problems.append(
                f"{at(key)}: PluginId must be Fn::GetAtt [<a {PLUGIN_TYPE} of this template>, "
                "PluginId]"
            )
            continue
        if props.get("StageName") != STAGE:
            problems.append(f"{at(key)}: StageName {props.get('StageName')}, not {STAGE}")
        if ((target or {}).get("Properties") or {}).get("PluginType") != TRAFFIC_PLUGIN:
            continue
        for name in names:
            if name in plugged:
                problems.append(f"{at(key)}: {name} is bound to a second trafficControl plug-in")
            plugged[name] = ref[0]
    for key in sorted(set(apis) - set(throttled) - set(plugged)):
        problems.append(
            f"{at(key)}: not throttled (no TrafficControlBinding or trafficControl "
            "PluginAttachment lists it)"
        )
    for key in sorted(set(throttled) & set(plugged)):
        problems.append(
            f"{at(key)}: bound to the TrafficControl {throttled[key]} and to the trafficControl "
            f"plug-in {plugged[key]}, which makes the policy invalid (API Gateway: a throttling "
            "plug-in replaces the policies bound to the same API): put the ceiling in the plug-in"
        )
    for key in sorted(public):
        if key in plugged and plugged[key] not in plugins:
            continue  # the plug-in's own problems are listed
        plugin = plugins.get(plugged.get(key, ""))
        if plugin is None or not plugin.client_rules:
            problems.append(
                f"{at(key)}: anonymous API without a per-client limit: bind it a trafficControl "
                f"plug-in with a rule by {CLIENT_IP} (API Gateway knows no caller of an "
                "anonymous call, so without it one client can use the API's whole ceiling)"
            )
    for key in sorted(admin & set(plugged)):
        problems.append(
            f"{at(key)}: admin API throttled by the plug-in {plugged[key]}: admin APIs need a "
            "TrafficControl with AppDefault (a quota per App), which a plug-in makes invalid"
        )
    for key in sorted(admin & set(throttled)):
        policy = throttles.get(throttled[key]) or {}
        if not policy.get("AppDefault"):
            problems.append(
                f"{at(key)}: its throttle {throttled[key]} has no AppDefault (a per-caller "
                "quota; without it one App can use the whole API's ceiling)"
            )
    shared = {throttled[k] for k in public & set(throttled)} & {
        throttled[k] for k in admin & set(throttled)
    }
    if shared:
        problems.append(f"{front}: anonymous and admin APIs share the throttle {sorted(shared)}")

    authorized: set[str] = set()
    for key, props in _by_type(resources, AUTHORIZATION_TYPE).items():
        names, bad = api_refs(at(key), props.get("ApiIds"), resources)
        problems += bad
        authorized |= names
    if authorized != admin:
        problems.append(
            f"{front}: Apps are authorized on {sorted(authorized)}, expected exactly the admin "
            f"APIs {sorted(admin)} (a missing one rejects every call)"
        )
    problems += _check_roles(
        resources, functions, ots_actions, tables, log_config, at, routes, workers or set()
    )
    problems += _check_infra_table(resources, tables)
    return problems


def _check_api(
    where: str,
    props: dict[str, Any],
    function_key: str,
    admin: bool,
    functions: dict[str, Function],
    gateway_roles: set[str],
) -> list[str]:
    problems = []
    auth = props.get("AuthType", "APP")
    if admin and auth != "APP":
        problems.append(f"{where}: admin route must be signed (AuthType APP), not {auth}")
    if not admin and auth != "ANONYMOUS":
        problems.append(f"{where}: public route should be ANONYMOUS, not {auth}")
    config = props.get("RequestConfig") or {}
    if config.get("RequestMode") != "PASSTHROUGH":
        problems.append(f"{where}: RequestMode must be PASSTHROUGH (our event decoding)")
    if config.get("RequestProtocol") != "HTTPS":
        problems.append(f"{where}: RequestProtocol must be HTTPS (codes are secrets in transit)")
    path_params = re.findall(r"\[([A-Za-z0-9_]+)\]", str(config.get("RequestPath", "")))
    declared = [
        p.get("ApiParameterName")
        for p in props.get("RequestParameters") or []
        if p.get("Location") == "PATH" and p.get("Required") == "REQUIRED"
    ]
    if declared != path_params:
        problems.append(f"{where}: required PATH parameters {declared}, path has {path_params}")
    service = props.get("ServiceConfig") or {}
    fc = service.get("FunctionComputeConfig") or {}
    fn = functions.get(function_key)
    if fn is None:
        return [*problems, f"{where}: s.yaml has no function {function_key}"]
    if fc.get("FunctionName") != fn.name:
        problems.append(f"{where}: backend {fc.get('FunctionName')}, expected {fn.name}")
    if fc.get("FcVersion") != "3.0" or fc.get("FcType") != "FCEvent":
        problems.append(
            f"{where}: backend must be an FC 3.0 event function (FcVersion 3.0, FCEvent)"
        )
    role = get_att(fc.get("RoleArn"))
    if not role or role[0] not in gateway_roles:
        problems.append(f"{where}: RoleArn must be the gateway role of this template")
    timeout = service.get("ServiceTimeOut")
    if not isinstance(timeout, int) or timeout > GATEWAY_TIMEOUT_MAX_MS:
        problems.append(
            f"{where}: ServiceTimeOut {timeout} ms (API Gateway allows at most "
            f"{GATEWAY_TIMEOUT_MAX_MS} ms on a shared instance)"
        )
    elif timeout < fn.timeout_s * 1000:
        problems.append(f"{where}: ServiceTimeOut {timeout} ms < function timeout {fn.timeout_s} s")
    return problems


def _trusts(role: dict[str, Any], service: str) -> bool:
    for st in (role.get("AssumeRolePolicyDocument") or {}).get("Statement") or []:
        services = (st.get("Principal") or {}).get("Service") or []
        if st.get("Effect") == "Allow" and service in services:
            return True
    return False


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in role.get("Policies") or []:
        out += (policy.get("PolicyDocument") or {}).get("Statement") or []
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_roles(
    resources: dict[str, Any],
    functions: dict[str, Function],
    ots_actions: set[str],
    tables: set[tuple[str, str]],
    log_config: dict[str, Any] | None,
    at: Callable[[str], str],
    routes: dict[tuple[str, str], tuple[str, bool]],
    workers: set[str],
) -> list[str]:
    problems = []
    roles = _by_type(resources, ROLE_TYPE)
    fn_roles = {k: p for k, p in roles.items() if _trusts(p, FC_SERVICE)}
    gw_roles = {k: p for k, p in roles.items() if _trusts(p, GATEWAY_SERVICE)}
    if len(fn_roles) != 1 or len(gw_roles) != 1:
        return [
            f"infra.yml, frontdoor.yml: expected one role for FC ({sorted(fn_roles)}) and one "
            "for API Gateway "
            f"({sorted(gw_roles)})"
        ]
    (fn_key, fn_role), (gw_key, gw_role) = (
        next(iter(fn_roles.items())),
        next(iter(gw_roles.items())),
    )
    if fn_role.get("PolicyAttachments") or gw_role.get("PolicyAttachments"):
        problems.append(f"{at(fn_key)}, {at(gw_key)}: inline least-privilege policies only")
    if fn_role.get("RoleName") not in {_role_name(f.role) for f in functions.values()}:
        problems.append(f"{at(fn_key)}: RoleName {fn_role.get('RoleName')} is not s.yaml's role")

    granted: dict[str, set[str]] = {}
    for st in _statements(fn_role):
        if st.get("Effect") != "Allow":
            problems.append(f"{at(fn_key)}: statement with Effect {st.get('Effect')}")
        for action in _as_list(st.get("Action")):
            granted.setdefault(str(action), set()).update(
                sub_text(r) for r in _as_list(st.get("Resource"))
            )
    wanted_tables = {f"acs:ots:*:*:instance/{i}/table/{t}" for i, t in tables}
    # A global index is read like a table (GetRange), so it is granted like one.
    for p in _by_type(resources, "ALIYUN::OTS::Table").values():
        for index in p.get("SecondaryIndices") or []:
            wanted_tables.add(
                f"acs:ots:*:*:instance/{p.get('InstanceName')}/table/{index['IndexName']}"
            )
    invoke_workers = {f"acs:fc:*:*:functions/{name}" for name in workers}
    for action in sorted(ots_actions):
        if action == INVOKE_ACTION:  # the workers only
            if granted.get(action) != invoke_workers:
                problems.append(
                    f"{at(fn_key)}: {action} on {sorted(granted.get(action, ()))}, expected "
                    f"exactly the workers {sorted(invoke_workers)}"
                )
            continue
        if granted.get(action) != wanted_tables:
            problems.append(
                f"{at(fn_key)}: {action} on {sorted(granted.get(action, ()))}, expected "
                f"exactly {sorted(wanted_tables)}"
            )
    if log_config and {"project", "logstore"} <= set(log_config):
        project = str(log_config["project"]).replace("${config('AccountID')}", "*")
        logstore = f"acs:log:*:*:project/{project}/logstore/{log_config['logstore']}"
        if granted.get("log:PostLogStoreLogs") != {logstore}:
            problems.append(
                f"{at(fn_key)}: log:PostLogStoreLogs must be granted on {logstore} only"
            )
    extra = sorted(set(granted) - ots_actions - {"log:PostLogStoreLogs"})
    if extra:
        problems.append(f"{at(fn_key)}: actions the code does not need: {extra}")

    invoke: dict[str, set[str]] = {}
    for st in _statements(gw_role):
        for action in _as_list(st.get("Action")):
            invoke.setdefault(str(action), set()).update(
                sub_text(r) for r in _as_list(st.get("Resource"))
            )
    routed = {function for function, _ in routes.values()}
    wanted = {f"acs:fc:*:*:functions/{f.name}" for k, f in functions.items() if k in routed}
    if invoke != {INVOKE_ACTION: wanted}:
        problems.append(
            f"{at(gw_key)}: the gateway may only fc:InvokeFunction on {sorted(wanted)}, "
            f"it is granted {sorted((a, sorted(r)) for a, r in invoke.items())}"
        )
    return problems


INVOKE_ACTION = "fc:InvokeFunction"


def _role_name(arn: str | None) -> str:
    return str(arn or "").rsplit("/", 1)[-1]


def _check_infra_table(resources: dict[str, Any], tables: set[tuple[str, str]]) -> list[str]:
    declared = {
        (str(p.get("InstanceName")), str(p.get("TableName")))
        for p in _by_type(resources, "ALIYUN::OTS::Table").values()
    }
    if declared != tables:
        return [f"infra.yml: tables {sorted(declared)}, the code uses {sorted(tables)}"]
    return []


def load_infra(path: Path) -> dict[str, Any]:
    """A ROS template as a mapping (YAML anchors resolved). Raises TemplateError."""
    raw = load_yaml(path)
    if not isinstance(raw.get("Resources"), dict):
        raise TemplateError(f"{path.name}: no Resources")
    return raw
