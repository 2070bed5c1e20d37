"""Templates for the localdev tests.

- `copy_template`: the project's template.yml, copied with its CodeUri aimed at the repo's
  functions/ and optionally extra routes (a route added to the template is served as is).
- `probe_project`: a small template over a probe function written to a temporary directory.
  The probe reports what an FC instance sees (event bytes, context, environment, process) and
  misbehaves on request (raise, sleep past its timeout, exit, bad gateway answers), so the FC
  semantics of the local instances can be checked without the product's functions.
"""

import json
import subprocess
from pathlib import Path

import yaml

from localdev.project import Project, load_project
from localdev.stack import Stack, StackConfig

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yml"

PROBE_CODE = """\
# Python 3.6 compatible: it also runs under FC's python3 runtime.
import base64
import json
import logging
import os
import sys
import time

STATE = {"inits": 0, "calls": 0}


def initializer(context):
    STATE["inits"] += 1
    logging.info("probe initializer %s", context.request_id)
    if os.path.exists(os.path.join(os.environ["FLAGS_DIR"], "fail-init")):
        raise RuntimeError("initializer failed on purpose")


def handler(event, context):
    STATE["calls"] += 1
    request = json.loads(event.decode("utf-8")) if event else {}
    gateway = isinstance(request, dict) and "httpMethod" in request
    params = (request.get("queryParameters") or {}) if gateway else request
    action = params.get("action") if isinstance(params, dict) else None
    print("probe stdout " + str(action))
    logging.info("probe handling %s", action)
    sys.stderr.write("probe stderr\\n")
    if action == "sleep":
        time.sleep(float(params["seconds"]))
    elif action == "raise":
        raise ValueError("boom on purpose")
    elif action == "flaky":  # raise the first `fails` times this `name` is called, then answer
        tally = os.path.join(os.environ["FLAGS_DIR"], "flaky-" + params["name"])
        with open(tally, "a") as f:
            f.write("x")
        with open(tally) as f:
            if len(f.read()) <= int(params["fails"]):
                raise ValueError("flaky on purpose")
    elif action == "exit":
        os._exit(3)
    elif action == "bad-envelope":
        return "this is not an API Gateway response"
    creds = context.credentials
    info = {
        "event_type": type(event).__name__,
        "event_b64": base64.b64encode(event).decode("ascii"),
        "request_id": context.request_id,
        "credentials": [creds.access_key_id, creds.access_key_secret, creds.security_token],
        "function": [
            context.function.name,
            context.function.handler,
            context.function.memory,
            context.function.timeout,
            context.function.initializer,
        ],
        "service": context.service.name,
        "region": context.region,
        "account_id": context.account_id,
        "env": {
            k: os.environ.get(k)
            for k in ("OTS_ENDPOINT", "OTS_INSTANCE", "GREETING", "ALIBABA_CLOUD_ACCESS_KEY_ID",
                      "HOME", "PYTHONPATH")
        },
        "cwd": os.getcwd(),
        "sys_path0": sys.path[0],
        "pid": os.getpid(),
        "python": list(sys.version_info[:2]),
        "inits": STATE["inits"],
        "calls": STATE["calls"],
        "version": VERSION,
    }
    if gateway:
        return json.dumps(
            {
                "isBase64Encoded": False,
                "statusCode": int(params.get("status", 200)),
                "headers": {"Content-Type": "application/json", "X-Probe": "yes"},
                "body": json.dumps(dict(info, event=request)),
            }
        )
    return json.dumps(info)


VERSION = 1
"""

PROBE_TEMPLATE = """\
ROSTemplateFormatVersion: '2015-09-01'
Transform: 'Aliyun::Serverless-2018-04-03'
Resources:
  probe-svc:
    Type: 'Aliyun::Serverless::Service'
    Properties:
      Description: localdev test service
    probe:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        Handler: probe.handler
        Initializer: probe.initializer
        InitializationTimeout: 5
        Runtime: python3
        CodeUri: ./code
        MemorySize: 128
        Timeout: 1
        EnvironmentVariables:
          OTS_ENDPOINT: 'https://probe.cn-shanghai.ots.aliyuncs.com'
          OTS_INSTANCE: probe
          GREETING: hello
          FLAGS_DIR: '{flags}'
    plain:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        Handler: probe.handler
        Runtime: python3
        CodeUri: ./code
        Timeout: 5
        EnvironmentVariables:
          FLAGS_DIR: '{flags}'
  probe_api:
    Type: 'Aliyun::Serverless::Api'
    Properties:
      StageName: RELEASE
      DefinitionBody:
        '/things/[name]':
          get:
            x-aliyun-apigateway-auth-type: ANONYMOUS
            x-aliyun-apigateway-fc:
              arn: 'acs:fc:::services/${{probe-svc.Arn}}/functions/${{plain.Arn}}/'
          post:
            x-aliyun-apigateway-auth-type: APP
            x-aliyun-apigateway-fc:
              arn: 'acs:fc:::services/${{probe-svc.Arn}}/functions/${{plain.Arn}}/'
        '/things/special':
          get:
            x-aliyun-apigateway-auth-type: ANONYMOUS
            x-aliyun-apigateway-fc:
              arn: 'acs:fc:::services/${{probe-svc.Arn}}/functions/${{probe.Arn}}/'
"""


def probe_project(base: Path) -> Project:
    """Write the probe function and its template under `base`; returns the loaded project."""
    code = base / "code"
    flags = base / "flags"
    code.mkdir(parents=True)
    flags.mkdir()
    (code / "probe.py").write_text(PROBE_CODE)
    template = base / "template.yml"
    template.write_text(PROBE_TEMPLATE.format(flags=flags))
    return load_project(template)


def start_probe_stack(base: Path, app_key: str) -> Stack:
    """The probe project's stack on a free port, its log lines in `.lines`, its port in `.port`
    and its address in `.url` (the caller stops it)."""
    project = probe_project(base)
    lines: list[str] = []
    config = StackConfig(
        template=project.template, data_dir=base / "data", port=0, app_key=app_key, warm=False
    )
    running = Stack(config, lines.append)
    running.start()
    running.lines = lines
    running.port = running.server.server_address[1]
    running.url = running.server.url
    return running


def copy_template(
    base: Path,
    extra_paths: dict | None = None,
    env: dict | None = None,
    properties: dict | None = None,
    s_yaml_env: dict | None = None,
) -> Path:
    """template.yml with CodeUri aimed at the repo's functions/, plus `extra_paths` routes,
    `env` set in every function's environment and `properties` ({function: {property: value}})
    set on functions. With `s_yaml_env`, s.yaml is copied beside it (so the stack serves FC
    3.0's API too) with those variables set."""
    raw = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    resources = raw["Resources"]
    for resource in resources.values():
        for name, child in resource.items():
            if isinstance(child, dict) and child.get("Type") == "Aliyun::Serverless::Function":
                props = child["Properties"]
                props["CodeUri"] = str(ROOT / "functions")
                props["EnvironmentVariables"] = dict(props["EnvironmentVariables"], **(env or {}))
                props.update((properties or {}).get(name, {}))
    if extra_paths:
        for resource in resources.values():
            if resource.get("Type") == "Aliyun::Serverless::Api":
                resource["Properties"]["DefinitionBody"].update(extra_paths)
    path = base / "template.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    if s_yaml_env is not None:
        s_raw = yaml.safe_load((ROOT / "s.yaml").read_text(encoding="utf-8"))
        for resource in s_raw["resources"].values():
            props = resource.get("props") or {}
            if "environmentVariables" in props:
                props["environmentVariables"] = dict(props["environmentVariables"], **s_yaml_env)
        (base / "s.yaml").write_text(yaml.safe_dump(s_raw, sort_keys=False), encoding="utf-8")
    return path


def find_python(version: str) -> str | None:
    """An interpreter of that version (tools/find-python), or None."""
    proc = subprocess.run(
        [str(ROOT / "tools" / "find-python"), version], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def probe_source(version: int) -> str:
    return PROBE_CODE.replace("VERSION = 1", f"VERSION = {version}")


def dumps(value: object) -> bytes:
    return json.dumps(value).encode("utf-8")
