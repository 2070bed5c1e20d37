"""Read the two deployment templates into plain, typed descriptions.

`template.yml` (Funcraft, spec Aliyun::Serverless-2018-04-03) and `s.yaml` (Serverless Devs,
component fc3) describe the same four functions. This module is the one place that knows their
shapes, so that the template checks (tests/deploy), `make deploy`'s preflight and the local
tooling read them the same way. It validates nothing itself beyond the shape it needs; the
checks live in tests/deploy.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FUN_TEMPLATE = ROOT / "template.yml"
S_YAML = ROOT / "s.yaml"
# The two ROS stacks s.yaml deploys: infra.yml before the functions (table, logs, their role),
# frontdoor.yml after them (API Gateway, which invokes them).
INFRA_TEMPLATE = ROOT / "infra.yml"
FRONTDOOR_TEMPLATE = ROOT / "frontdoor.yml"
STACK_TEMPLATES = (INFRA_TEMPLATE, FRONTDOOR_TEMPLATE)
# s.yaml components that are not functions: `ros` deploys a ROS template as a stack.
S_INFRA_COMPONENTS = {"ros"}
# The fc3 component, pinned: Serverless Devs takes `name@version` (its own test fixtures pin
# components this way). 0.1.22 is the component's release tag of 2026-05-28, the version its
# publish.yaml declares at that tag. `ros` has no release of its own for Serverless Devs 3.x
# (publish.yaml there says `Version: dev`), so it cannot be pinned (docs/deploy.md).
FC3_COMPONENT = "fc3@0.1.22"


def component_name(component: str) -> str:
    """An s.yaml component without its pinned version: `fc3@0.1.22` -> `fc3`."""
    return component.split("@", 1)[0]


SERVICE_TYPE = "Aliyun::Serverless::Service"
FUNCTION_TYPE = "Aliyun::Serverless::Function"
TABLESTORE_TYPE = "Aliyun::Serverless::TableStore"
TABLE_TYPE = "Aliyun::Serverless::TableStore::Table"
API_TYPE = "Aliyun::Serverless::Api"

# `acs:fc:::services/${Service.Arn}/functions/${Function.Arn}/`: how a route names its backend.
FC_ARN_RE = re.compile(r"^acs:fc:::services/\$\{([^}.]+)\.Arn\}/functions/\$\{([^}.]+)\.Arn\}/$")
# Serverless Devs variables we resolve ourselves: `${vars.name}`. Other magic (`${config(...)}`,
# `${env(...)}`) is left as is: it only has a value at deploy time.
OTS_ENDPOINT_RE = re.compile(
    r"^https://([a-z][a-z0-9-]{1,14}[a-z0-9])\.([a-z0-9-]+)\.ots\.aliyuncs\.com$"
)
S_VARS_RE = re.compile(r"\$\{vars\.([A-Za-z0-9_]+)\}")


class TemplateError(ValueError):
    """A template does not have the shape this project relies on (the message says where)."""


@dataclass(frozen=True)
class Function:
    """One FC function as either template declares it."""

    name: str
    handler: str
    initializer: str | None
    runtime: str
    code: str
    memory_mb: int
    timeout_s: int
    env: dict[str, Any]
    initializer_timeout_s: int | None = None
    service: str | None = None  # Funcraft only: FC 3.0 has no services
    role: str | None = None  # s.yaml only: the role ARN (Funcraft generates the service's role)
    # MaxAsyncRetryAttempts as the template sets it (None: not set, FC's default of 3 applies)
    async_retries: int | None = None


@dataclass(frozen=True)
class Route:
    """One API Gateway route of template.yml: `[name]` segments are path parameters."""

    method: str  # upper case
    path: str
    service: str
    function: str
    auth_type: str
    timeout_ms: int | None
    api_name: str | None
    path_parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """The Tablestore instance and table of template.yml."""

    instance: str
    name: str
    primary_key: tuple[tuple[str, str], ...]  # (name, type) in key order


@dataclass(frozen=True)
class FunTemplate:
    """What template.yml declares, in the shapes above."""

    raw: dict[str, Any]
    service: str
    functions: dict[str, Function]
    routes: list[Route]
    tables: list[Table]
    policy_statements: list[dict[str, Any]] = field(default_factory=list)
    ros_resources: dict[str, dict[str, Any]] = field(default_factory=dict)


def endpoint_parts(endpoint: str) -> tuple[str, str] | None:
    """(instance, region) of a Tablestore public endpoint, or None if it is not one."""
    m = OTS_ENDPOINT_RE.match(endpoint)
    return (m.group(1), m.group(2)) if m else None


def fun_region(tpl: FunTemplate) -> str | None:
    """The region template.yml is written for: the one in its OTS_ENDPOINT."""
    for fn in tpl.functions.values():
        parts = endpoint_parts(str(fn.env.get("OTS_ENDPOINT", "")))
        if parts:
            return parts[1]
    return None


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping (anchors and aliases are resolved)."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise TemplateError(f"{path.name}: expected a mapping at the top level")
    return data


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TemplateError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def load_fun_template(path: Path = FUN_TEMPLATE) -> FunTemplate:
    """Read template.yml. Raises TemplateError if a part we rely on is missing or malformed."""
    raw = load_yaml(path)
    resources = _mapping(raw.get("Resources"), "Resources")
    services = [k for k, v in resources.items() if _mapping(v, k).get("Type") == SERVICE_TYPE]
    if len(services) != 1:
        raise TemplateError(f"expected exactly one {SERVICE_TYPE}, found {services}")
    service = services[0]
    service_res = resources[service]
    functions = {}
    for name, child in service_res.items():
        if name in ("Type", "Properties"):
            continue
        if _mapping(child, f"Resources/{service}/{name}").get("Type") != FUNCTION_TYPE:
            continue
        props = _mapping(child.get("Properties"), f"Resources/{service}/{name}/Properties")
        functions[name] = Function(
            name=name,
            handler=props["Handler"],
            initializer=props.get("Initializer"),
            runtime=props["Runtime"],
            code=props["CodeUri"],
            memory_mb=props.get("MemorySize", 128),
            timeout_s=props.get("Timeout", 3),
            env=dict(props.get("EnvironmentVariables") or {}),
            initializer_timeout_s=props.get("InitializationTimeout"),
            service=service,
            async_retries=(props.get("AsyncConfiguration") or {}).get("MaxAsyncRetryAttempts"),
        )
    service_props = _mapping(service_res.get("Properties") or {}, f"Resources/{service}")
    statements: list[dict[str, Any]] = []
    for policy in service_props.get("Policies") or []:
        if isinstance(policy, dict):
            statements.extend(policy.get("Statement") or [])

    tables = []
    for inst_name, inst in resources.items():
        if inst.get("Type") != TABLESTORE_TYPE:
            continue
        for table_name, child in inst.items():
            if isinstance(child, dict) and child.get("Type") == TABLE_TYPE:
                keys = child["Properties"]["PrimaryKeyList"]
                tables.append(
                    Table(inst_name, table_name, tuple((k["Name"], k["Type"]) for k in keys))
                )

    routes = []
    for api_name, api in resources.items():
        if api.get("Type") != API_TYPE:
            continue
        body = _mapping(api["Properties"].get("DefinitionBody"), f"{api_name}/DefinitionBody")
        for route_path, methods in body.items():
            for method, spec in _mapping(methods, f"{api_name}/{route_path}").items():
                where = f"{api_name}/{route_path}/{method}"
                routes.append(_route(where, route_path, method, spec))

    ros = {k: v for k, v in resources.items() if str(v.get("Type", "")).startswith("ALIYUN::")}
    return FunTemplate(raw, service, functions, routes, tables, statements, ros)


def _route(where: str, path: str, method: str, spec: Any) -> Route:
    spec = _mapping(spec, where)
    fc = _mapping(spec.get("x-aliyun-apigateway-fc"), f"{where}/x-aliyun-apigateway-fc")
    match = FC_ARN_RE.match(str(fc.get("arn", "")))
    if not match:
        raise TemplateError(f"{where}: x-aliyun-apigateway-fc arn {fc.get('arn')!r} is malformed")
    params = tuple(
        p["apiParameterName"]
        for p in spec.get("x-aliyun-apigateway-request-parameters") or []
        if str(p.get("location", "")).upper() == "PATH"
    )
    return Route(
        method=method.upper(),
        path=path,
        service=match.group(1),
        function=match.group(2),
        auth_type=spec.get("x-aliyun-apigateway-auth-type", "ANONYMOUS"),
        timeout_ms=fc.get("timeout"),
        api_name=spec.get("x-aliyun-apigateway-api-name"),
        path_parameters=params,
    )


def path_template_parameters(path: str) -> tuple[str, ...]:
    """The `[name]` parameters of an API Gateway path, in order."""
    return tuple(re.findall(r"\[([A-Za-z0-9_]+)\]", path))


# --- s.yaml ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SResource:
    """One fc3 resource of s.yaml, `${vars.*}` resolved."""

    key: str
    component: str
    props: dict[str, Any]
    actions: dict[str, Any]


def resolve_vars(value: Any, variables: dict[str, Any]) -> Any:
    """Substitute `${vars.name}` recursively; a whole-value reference keeps the var's type."""
    if isinstance(value, dict):
        return {k: resolve_vars(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_vars(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    whole = S_VARS_RE.fullmatch(value)
    if whole:
        if whole.group(1) not in variables:
            raise TemplateError(f"s.yaml: undefined variable ${{vars.{whole.group(1)}}}")
        return resolve_vars(variables[whole.group(1)], variables)

    def one(m: re.Match[str]) -> str:
        if m.group(1) not in variables:
            raise TemplateError(f"s.yaml: undefined variable ${{vars.{m.group(1)}}}")
        return str(variables[m.group(1)])

    return S_VARS_RE.sub(one, value)


def load_s_yaml(path: Path = S_YAML) -> tuple[dict[str, Any], dict[str, SResource]]:
    """Read s.yaml: (its raw mapping, its function resources with `${vars.*}` resolved).

    Resources of the components in S_INFRA_COMPONENTS (the ROS stack) are left out: read them
    with `s_infra_resources`."""
    raw = load_yaml(path)
    variables = _mapping(raw.get("vars") or {}, "s.yaml vars")
    resources = {}
    for key, declared in _mapping(raw.get("resources"), "s.yaml resources").items():
        res = _mapping(declared, f"s.yaml resources/{key}")
        if component_name(str(res.get("component", ""))) in S_INFRA_COMPONENTS:
            continue
        resources[key] = SResource(
            key=key,
            component=res.get("component", ""),
            props=resolve_vars(_mapping(res.get("props"), f"resources/{key}/props"), variables),
            actions=resolve_vars(res.get("actions") or {}, variables),
        )
    return raw, resources


def s_infra_resources(raw: dict[str, Any]) -> dict[str, SResource]:
    """The s.yaml resources that deploy infrastructure (component `ros`), `${vars.*}` resolved."""
    variables = _mapping(raw.get("vars") or {}, "s.yaml vars")
    out = {}
    for key, declared in _mapping(raw.get("resources"), "s.yaml resources").items():
        res = _mapping(declared, f"s.yaml resources/{key}")
        if component_name(str(res.get("component", ""))) in S_INFRA_COMPONENTS:
            out[key] = SResource(
                key=key,
                component=res["component"],
                props=resolve_vars(_mapping(res.get("props"), f"resources/{key}/props"), variables),
                actions=resolve_vars(res.get("actions") or {}, variables),
            )
    return out


def s_functions(resources: dict[str, SResource]) -> dict[str, Function]:
    """The fc3 functions of s.yaml, keyed by resource key (= the template.yml function name)."""
    out = {}
    for key, res in resources.items():
        p = res.props
        lifecycle = p.get("instanceLifecycleConfig") or {}
        init = lifecycle.get("initializer") or {}
        out[key] = Function(
            name=p["functionName"],
            handler=p["handler"],
            initializer=init.get("handler"),
            runtime=p["runtime"],
            code=p["code"],
            memory_mb=p.get("memorySize", 512),
            timeout_s=p.get("timeout", 3),
            env=dict(p.get("environmentVariables") or {}),
            initializer_timeout_s=init.get("timeout"),
            role=p.get("role"),
            async_retries=(p.get("asyncInvokeConfig") or {}).get("maxAsyncRetryAttempts"),
        )
    return out
