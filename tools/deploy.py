"""`make deploy`: preflight checks, then deploy with Serverless Devs or Funcraft.

    python -m tools.deploy [--tool s|fun|ros] [--dry-run]

  s    (recommended) Serverless Devs, s.yaml, one resource at a time in its order: the ROS
       stack of infra.yml (table, logs, the functions' role), the four functions on FC 3.0,
       then the ROS stack of frontdoor.yml (API Gateway with throttling and Apps)
  fun  Funcraft (discontinued), `fun deploy` of template.yml: table, service, functions, API
       routes; no throttling and no App (docs/deploy.md)
  ros  Funcraft through ROS, `fun package` + `fun deploy --use-ros` of template.yml

Preflight stops with one clear message per problem before anything is deployed: missing
credentials, a missing tool, a template that fails `fun validate` or our checks, a region that
differs from the one the template is written for. Credentials are read from the environment
(ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, optional
ALIBABA_CLOUD_SECURITY_TOKEN, ALIBABA_CLOUD_ACCOUNT_ID, ALIBABA_CLOUD_REGION) and handed to the
tool in its environment, never on a command line, and never printed.
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tools import checks, package
from tools.templates import (
    FUN_TEMPLATE,
    ROOT,
    S_YAML,
    TemplateError,
    fun_region,
    load_fun_template,
    load_s_yaml,
    load_yaml,
)

ENV_KEY_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_KEY_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 (a variable name)
ENV_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"  # noqa: S105 (a variable name)
ENV_ACCOUNT = "ALIBABA_CLOUD_ACCOUNT_ID"
ENV_REGION = "ALIBABA_CLOUD_REGION"
ENV_BUCKET = "FC_CODES_OSS_BUCKET"
REQUIRED_ENV = (ENV_KEY_ID, ENV_KEY_SECRET, ENV_ACCOUNT, ENV_REGION)
DEFAULT_FUN = ROOT / "node_modules" / ".bin" / "fun"
DEFAULT_S = ROOT / "node_modules" / ".bin" / "s"
# Serverless Devs reads an access from any variable whose name ends in `_serverless_devs_key`
# (a JSON object of AccountID, AccessKeyID, AccessKeySecret, SecurityToken): the access of that
# name is what s.yaml's `access:` names. No `s config add`, no file, no command line.
S_ACCESS_VAR = "fc_codes_serverless_devs_key"
STACK_NAME = "fc-codes"
PACKAGED_TEMPLATE = ROOT / "build" / "template.packaged.yml"
FUNCTIONS = ROOT / "functions"


class PreflightError(RuntimeError):
    """Deployment cannot start; `problems` says why, one line each."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def preflight(
    tool: str,
    env: dict[str, str],
    fun: Path,
    s_bin: str | None,
    template: Path = FUN_TEMPLATE,
    s_yaml: Path = S_YAML,
    functions: Path = FUNCTIONS,
) -> list[list[str]]:
    """Check everything, then return the commands to run. Raises PreflightError."""
    problems = [f"{name} is not set" for name in REQUIRED_ENV if not env.get(name)]
    if tool == "ros" and not env.get(ENV_BUCKET):
        problems.append(f"{ENV_BUCKET} is not set (ROS deploys code from an OSS bucket)")
    has_code = (functions / "gen_code.py").is_file()
    if not has_code:
        problems.append(f"{functions} has no gen_code.py: nothing to deploy")
    if tool in ("fun", "ros") and not os.access(fun, os.X_OK):
        problems.append(f"Funcraft not found at {fun}: run `npm ci --ignore-scripts`")
    if tool == "s" and not (s_bin and os.access(s_bin, os.X_OK)):
        problems.append(f"Serverless Devs not found at {s_bin}: run `npm ci --ignore-scripts`")
    try:
        tpl = load_fun_template(template)
        _, resources = load_s_yaml(s_yaml)
        if has_code:  # the same checks as `make validate`: templates against the code,
            # every ROS resource against its type's schema, the code package locks
            problems += checks.all_problems(template, s_yaml, functions)
            problems += checks.ros_schema_problems(template)
            if tool == "s":
                problems += [p for r in package.RUNTIMES for p in package.check_lock(r)]
        if tool == "s":
            regions = {r.props.get("region") for r in resources.values()}
        else:
            regions = {fun_region(tpl)}
    except (OSError, TemplateError, KeyError, TypeError) as e:
        raise PreflightError([*problems, f"cannot read the template: {e}"]) from e
    wanted = env.get(ENV_REGION)
    if wanted and regions != {wanted}:
        where = "s.yaml vars.region" if tool == "s" else "template.yml's OTS_ENDPOINT"
        problems.append(
            f"{ENV_REGION} is {wanted} but {where} is written for {', '.join(map(str, regions))}: "
            "deploy to that region or edit the template (docs/deploy.md, 'Region and names')"
        )
    if tool == "s":
        s_raw = load_yaml(s_yaml)
        if s_raw.get("access") != S_ACCESS_VAR:
            problems.append(f"s.yaml: access must be {S_ACCESS_VAR} (keys from the environment)")
    if tool in ("fun", "ros") and not problems:
        # `fun validate` prints its own errors; it needs neither network nor credentials.
        proc = subprocess.run([str(fun), "validate", "-t", str(template)], check=False)  # noqa: S603
        if proc.returncode != 0:
            problems.append(f"`fun validate -t {template.name}` failed (errors above)")
    if problems:
        raise PreflightError(problems)
    if tool == "fun":
        return [[str(fun), "deploy", "-t", str(template), "-y"]]
    if tool == "ros":
        return [
            [str(fun), "package", "-t", str(template), "-b", env[ENV_BUCKET],
             "-o", str(PACKAGED_TEMPLATE), "-y"],
            [str(fun), "deploy", "--use-ros", "--stack-name", STACK_NAME,
             "-t", str(PACKAGED_TEMPLATE), "-y"],
        ]  # fmt: skip
    assert s_bin is not None
    # One resource at a time, in s.yaml's order (checked by make validate): the base stack,
    # the functions (they need its role and logstore), the front door (it invokes them).
    return [
        [s_bin, key, "deploy", "-y", "-t", str(s_yaml), "-a", S_ACCESS_VAR]
        for key in (load_yaml(s_yaml).get("resources") or {})
    ]


def tool_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for Funcraft: it reads these names (and never prints the secret)."""
    out = dict(env)
    out.update(
        ACCOUNT_ID=env[ENV_ACCOUNT],
        REGION=env[ENV_REGION],
        ACCESS_KEY_ID=env[ENV_KEY_ID],
        ACCESS_KEY_SECRET=env[ENV_KEY_SECRET],
        FUN_DISABLE_VERSION_CHECK="1",  # no update check against the network
    )
    if env.get(ENV_TOKEN):
        out["SECURITY_TOKEN"] = env[ENV_TOKEN]
    return out


def s_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for Serverless Devs: the keys as the access S_ACCESS_VAR (a variable, so
    they never reach a command line, a file or our output)."""
    access = {
        "AccountID": env[ENV_ACCOUNT],
        "AccessKeyID": env[ENV_KEY_ID],
        "AccessKeySecret": env[ENV_KEY_SECRET],
    }
    if env.get(ENV_TOKEN):
        access["SecurityToken"] = env[ENV_TOKEN]
    return dict(env, **{S_ACCESS_VAR: json.dumps(access)})


def deploy(
    tool: str,
    env: dict[str, str],
    fun: Path,
    s_bin: str | None,
    template: Path = FUN_TEMPLATE,
    functions: Path = FUNCTIONS,
    dry_run: bool = False,
) -> int:
    """Preflight, then run the tool; the exit status for `make deploy`."""
    try:
        commands = preflight(tool, env, fun, s_bin, template=template, functions=functions)
    except PreflightError as e:
        print("deploy: preflight failed, nothing was deployed:", file=sys.stderr)
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    print(f"deploy: preflight ok ({tool}, region {env[ENV_REGION]})", flush=True)
    for command in commands:
        print("deploy: $ " + " ".join(command), flush=True)
    if dry_run:
        return 0
    child_env = s_env(env) if tool == "s" else tool_env(env)
    for command in commands:
        proc = subprocess.run(command, env=child_env, cwd=ROOT, check=False)  # noqa: S603
        if proc.returncode != 0:
            failed = " ".join([Path(command[0]).name, *command[1 : 3 if tool == "s" else 2]])
            print(f"deploy: `{failed}` failed (exit {proc.returncode})", file=sys.stderr)
            return 1
    print("deploy: done. Smoke-test it through the front door: make smoke", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploy", description="Deploy fc-codes (preflight first)."
    )
    parser.add_argument("--tool", choices=("s", "fun", "ros"), default="s")
    parser.add_argument("--fun", type=Path, default=Path(os.environ.get("FUN_BIN", DEFAULT_FUN)))
    parser.add_argument("--s", dest="s_bin", default=os.environ.get("S_BIN") or str(DEFAULT_S))
    parser.add_argument("--dry-run", action="store_true", help="preflight only, print the plan")
    args = parser.parse_args(argv)
    return deploy(args.tool, dict(os.environ), args.fun, args.s_bin, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
