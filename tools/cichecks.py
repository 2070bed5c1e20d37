"""Checks of the CI workflows and of how keys reach the tools (run by `make validate`).

What a security review asks of the pipeline, as checks that fail when it regresses; each returns
a list of problems (empty = fine), one sentence each:

- every action is pinned by a full commit SHA, not a tag or branch that can move;
- the Node.js the workflows set up is a supported LTS line (not past end of life);
- deployment runs only from `main`, with GitHub's OIDC token assuming a RAM role: no long-lived
  AccessKey in the repository's secrets, `id-token: write` only on the deploying job;
- secrets are given to the steps that need them, never to a whole workflow or job (where
  `pip install` and `npm ci` would see them), and no step both installs and holds a secret;
- no command anywhere passes an AccessKey secret as an argument (`s config add
  --AccessKeySecret ...` puts it in the process list and in a plain-text file).
"""

import re
from pathlib import Path
from typing import Any

from tools.templates import ROOT, load_yaml

WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY_WORKFLOW = WORKFLOWS / "deploy.yml"
SHA_RE = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
# Node.js lines in support on the date of the last review (an even major is LTS; 20 reached its
# end of life on 2026-04-30, 22 is supported until 2027-04-30, 24 until 2028-04-30).
SUPPORTED_NODE = {"22", "24"}
MAIN_ONLY = "github.ref == 'refs/heads/main'"
OIDC_ACTION = "aliyun/configure-aliyun-credentials-action"
# Long-lived key material must not come from the repository's secrets.
KEY_SECRET_RE = re.compile(r"secrets\.[A-Z_]*(ACCESS_KEY|ACCESSKEY)[A-Z_]*", re.IGNORECASE)
INSTALL_RE = re.compile(r"\b(pip|npm|npx|make\s+(venv|package|[^\s]*stamp))\b|\bnpm ci\b")
# An AccessKey secret as a command-line option (Serverless Devs, aliyun CLI, Funcraft config).
SECRET_FLAG_RE = re.compile(r"--(AccessKeySecret|access-key-secret)\b", re.IGNORECASE)
# Where commands are written: scanned for SECRET_FLAG_RE.
COMMAND_FILES = (
    "Makefile",
    ".ci/run",
    "s.yaml",
    "tools/*.py",
    "tools/*.js",
    ".github/workflows/*.yml",
)


def _uses(workflow: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for job_name, job in (workflow.get("jobs") or {}).items():
        if isinstance(job.get("uses"), str):
            out.append((job_name, job["uses"]))
        for step in job.get("steps") or []:
            if isinstance(step.get("uses"), str):
                out.append((job_name, step["uses"]))
    return out


def check_pins(name: str, workflow: dict[str, Any]) -> list[str]:
    """Every `uses:` is a local workflow or `owner/repo@<40-hex SHA>`."""
    return [
        f"{name} job {job}: {uses} is not pinned by a commit SHA"
        for job, uses in _uses(workflow)
        if not uses.startswith("./") and not SHA_RE.match(uses)
    ]


def check_node(name: str, workflow: dict[str, Any]) -> list[str]:
    problems = []
    for job_name, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).startswith("actions/setup-node@"):
                version = str((step.get("with") or {}).get("node-version", ""))
                if version.split(".", maxsplit=1)[0] not in SUPPORTED_NODE:
                    problems.append(
                        f"{name} job {job_name}: Node.js {version or '(unset)'} is not a "
                        f"supported LTS line ({sorted(SUPPORTED_NODE)})"
                    )
    return problems


def _has_secret(value: Any) -> bool:
    return "secrets." in str(value)


def check_secrets(name: str, workflow: dict[str, Any]) -> list[str]:
    """Secrets only in step-level `env`/`with`, never in an install step, never AccessKeys."""
    problems = []
    if _has_secret(workflow.get("env")):
        problems.append(f"{name}: workflow-level env holds secrets (every step sees them)")
    for job_name, job in (workflow.get("jobs") or {}).items():
        if _has_secret(job.get("env")):
            problems.append(
                f"{name} job {job_name}: job-level env holds secrets (installs see them)"
            )
        for step in job.get("steps") or []:
            label = step.get("name") or step.get("uses") or step.get("run", "")[:40]
            holds = _has_secret(step.get("env")) or _has_secret(step.get("with"))
            if holds and INSTALL_RE.search(str(step.get("run", ""))):
                problems.append(f"{name} step {label!r}: installs packages while holding secrets")
            if _has_secret(step.get("run")):
                problems.append(f"{name} step {label!r}: a secret in the command itself")
    match = KEY_SECRET_RE.search(str(workflow))
    if match:
        problems.append(
            f"{name}: a long-lived AccessKey from secrets ({match.group(0)}): assume a RAM role "
            f"with {OIDC_ACTION} (role-to-assume)"
        )
    return problems


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def check_deploy(name: str, workflow: dict[str, Any]) -> list[str]:
    """Deploys only from main, with OIDC, `id-token: write` on the deploying job only."""
    problems = []
    push = _on(workflow).get("push") or {}
    if push.get("branches") != ["main"]:
        problems.append(f"{name}: must deploy on pushes to main only, not {push.get('branches')}")
    if "id-token" in (workflow.get("permissions") or {}):
        problems.append(
            f"{name}: id-token permission at workflow level (give it to the deploy job)"
        )
    deploying = 0
    for job_name, job in (workflow.get("jobs") or {}).items():
        steps = job.get("steps") or []
        runs = " ".join(str(s.get("run", "")) for s in steps)
        if "make deploy" not in runs:
            if (job.get("permissions") or {}).get("id-token"):
                problems.append(f"{name} job {job_name}: id-token permission without deploying")
            continue
        deploying += 1
        where = f"{name} job {job_name}"
        if MAIN_ONLY not in str(job.get("if", "")):
            problems.append(f"{where}: needs `if: {MAIN_ONLY}` (workflow_dispatch runs any branch)")
        if (job.get("permissions") or {}).get("id-token") != "write":
            problems.append(f"{where}: needs `permissions: id-token: write` for OIDC")
        oidc = [s for s in steps if str(s.get("uses", "")).startswith(OIDC_ACTION + "@")]
        if not oidc or not (oidc[0].get("with") or {}).get("role-to-assume"):
            problems.append(f"{where}: credentials must come from {OIDC_ACTION} (role-to-assume)")
        else:
            first = steps.index(oidc[0])
            for step in steps[first:]:
                if INSTALL_RE.search(str(step.get("run", ""))):
                    problems.append(
                        f"{where}: step {step.get('name')!r} installs after the credentials exist"
                    )
        if "make deploy TOOL=s" not in runs:
            problems.append(
                f"{where}: must deploy with `make deploy TOOL=s` (Serverless Devs: Funcraft is "
                "discontinued; only s.yaml and its ROS stacks deploy the whole front door)"
            )
        smoke = [s for s in steps if "make smoke" in str(s.get("run", ""))]
        if not smoke:
            problems.append(f"{where}: no `make smoke` after the deploy")
        elif not any("FC_CODES_GATEWAY_URL" in (s.get("env") or {}) for s in smoke):
            problems.append(
                f"{where}: the smoke test must go through the front door (FC_CODES_GATEWAY_URL): "
                "calling FC directly skips routes, auth, throttling and the gateway timeout"
            )
    if not deploying:
        problems.append(f"{name}: no job runs `make deploy`")
    return problems


def check_secret_flags(root: Path = ROOT) -> list[str]:
    """No command passes an AccessKey secret as an argument."""
    problems = []
    for pattern in COMMAND_FILES:
        for path in sorted(root.glob(pattern)):
            if path.name == "cichecks.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SECRET_FLAG_RE.search(line):
                    problems.append(
                        f"{path.relative_to(root)}:{n}: an AccessKey secret on a command line "
                        "(process list, shell history, s's plain-text access file)"
                    )
    return problems


def all_problems(workflows: Path = WORKFLOWS, root: Path = ROOT) -> list[str]:
    """Every check of every workflow, plus the command-line scan."""
    problems = []
    for path in sorted(workflows.glob("*.yml")):
        workflow = load_yaml(path)
        problems += check_pins(path.name, workflow)
        problems += check_node(path.name, workflow)
        problems += check_secrets(path.name, workflow)
        if path.name == DEPLOY_WORKFLOW.name:
            problems += check_deploy(path.name, workflow)
    return problems + check_secret_flags(root)
