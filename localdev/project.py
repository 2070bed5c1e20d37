"""What the local stack runs, read from template.yml (parsed by `tools.templates`).

Everything local comes from the template: the functions (handler, initializer, memory, timeout,
environment, code directory), the API routes and the Tablestore tables. Nothing here is a copy
kept by hand, so a route or function added to the template is served without code changes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tools.templates import (
    FUN_TEMPLATE,
    Route,
    Table,
    TemplateError,
    fun_region,
    load_fun_template,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_INITIALIZER_TIMEOUT_S = 3  # FC's default InitializationTimeout
DEFAULT_INSTANCE = "ots-local"
# FC's runtime names -> the virtualenv with that Python and the tablestore version FC ships
# (Makefile: `make .venv-py36/.stamp`). The dev venv's own Python serves its own version.
RUNTIME_VENVS = {"python3": ".venv-py36", "python3.10": ".venv-py310"}
RUNTIME_ALIASES = {"3.6": "python3", "python3.6": "python3", "3.10": "python3.10"}


class ProjectError(ValueError):
    """The template cannot be run locally (the message says why and what to do)."""


@dataclass(frozen=True)
class LocalFunction:
    """One function of the template, as the local FC runs it."""

    name: str
    service: str
    handler: str
    initializer: str | None
    runtime: str  # as the template declares it
    memory_mb: int
    timeout_s: int
    initializer_timeout_s: int
    code_dir: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Project:
    """template.yml, resolved for local use."""

    template: Path
    service: str
    functions: dict[str, LocalFunction]
    routes: list[Route]
    tables: list[Table]
    instance: str  # the Tablestore instance the functions use (the local server serves it)
    region: str

    def function(self, name: str) -> LocalFunction:
        """The function called `name`; ProjectError names the ones there are."""
        try:
            return self.functions[name]
        except KeyError:
            known = ", ".join(sorted(self.functions)) or "none"
            raise ProjectError(f"no function {name!r} in {self.template.name} ({known})") from None


def load_project(template: Path = FUN_TEMPLATE) -> Project:
    """Read `template`; relative CodeUri paths are relative to its directory, as for Funcraft."""
    template = template.resolve()
    try:
        tpl = load_fun_template(template)
    except (OSError, TemplateError, KeyError) as e:
        raise ProjectError(f"cannot read {template}: {e}") from e
    functions = {}
    for fn in tpl.functions.values():
        code_dir = (template.parent / fn.code).resolve()
        if not code_dir.is_dir():
            raise ProjectError(f"{fn.name}: CodeUri {fn.code} is not a directory ({code_dir})")
        functions[fn.name] = LocalFunction(
            name=fn.name,
            service=tpl.service,
            handler=fn.handler,
            initializer=fn.initializer,
            runtime=fn.runtime,
            memory_mb=int(fn.memory_mb),
            timeout_s=int(fn.timeout_s),
            initializer_timeout_s=int(fn.initializer_timeout_s or DEFAULT_INITIALIZER_TIMEOUT_S),
            code_dir=code_dir,
            # FC passes every value as a string; YAML may have parsed `15` as an int.
            env={str(k): str(v) for k, v in fn.env.items()},
        )
    for route in tpl.routes:
        if route.function not in functions:
            raise ProjectError(
                f"route {route.method} {route.path} names function {route.function!r}, "
                f"which {template.name} does not declare"
            )
    return Project(
        template=template,
        service=tpl.service,
        functions=functions,
        routes=list(tpl.routes),
        tables=list(tpl.tables),
        instance=_instance(tpl.tables, functions),
        region=fun_region(tpl) or DEFAULT_REGION,
    )


def _instance(tables: list[Table], functions: dict[str, LocalFunction]) -> str:
    """The one Tablestore instance name: the local server serves exactly one."""
    names = {t.instance for t in tables}
    names |= {f.env["OTS_INSTANCE"] for f in functions.values() if f.env.get("OTS_INSTANCE")}
    if len(names) > 1:
        raise ProjectError(
            f"the template uses several Tablestore instances ({', '.join(sorted(names))}); "
            "the local server serves one"
        )
    return names.pop() if names else DEFAULT_INSTANCE


def local_env(
    fn: LocalFunction, ots_endpoint: str, invoke_endpoint: str | None = None
) -> dict[str, str]:
    """The function's environment with OTS_ENDPOINT aimed at the local Tablestore server and
    INVOKE_ENDPOINT (where the functions queue the worker of big batches) at the local FC API.

    Without a local FC API (`make invoke` with no `make run` up) GEN_WORKER is blanked too, so
    a big batch is refused (400) instead of the functions deriving the cloud's endpoint."""
    env = dict(fn.env)
    if "OTS_ENDPOINT" in env:
        env["OTS_ENDPOINT"] = ots_endpoint
    if "INVOKE_ENDPOINT" in env:
        env["INVOKE_ENDPOINT"] = invoke_endpoint or ""
        if not invoke_endpoint and "GEN_WORKER" in env:
            env["GEN_WORKER"] = ""
    return env


def runtime_python(runtime: str | None, root: Path = ROOT) -> tuple[str, str]:
    """(interpreter path, description) for `--runtime`: None is the dev venv's own Python.

    `python3` (FC's Python 3.6 with tablestore 5.1.0) and `python3.10` (tablestore 5.4.1) use the
    runtime-test virtualenvs that `make test-py36` / `make test-py310` build.
    """
    own = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if runtime is None or runtime in (own, own.removeprefix("python")):
        return sys.executable, f"Python {sys.version.split()[0]} (this virtualenv)"
    name = RUNTIME_ALIASES.get(runtime, runtime)
    venv = RUNTIME_VENVS.get(name)
    if venv is None:
        known = ", ".join([*sorted(RUNTIME_VENVS), own])
        raise ProjectError(f"unknown runtime {runtime!r}: use one of {known}")
    python = root / venv / "bin" / "python"
    if not python.exists():
        raise ProjectError(
            f"runtime {name} needs {venv} (build it with `make {venv}/.stamp`, which needs "
            f"Python {venv.removeprefix('.venv-py').replace('3', '3.', 1)} installed)"
        )
    return str(python), f"FC runtime {name} ({venv})"
