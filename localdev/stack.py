"""`make run`: the whole service on one machine.

Start order: read the template, bind the HTTP port (so a busy port fails before anything else
starts), start the local Tablestore on the data directory's file and create missing tables,
then the local FC (one warm instance per function, in the background) behind the local API
Gateway and FC API. Stop order is the reverse, and leaves no process and no bound port.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localdev import portal
from localdev.fc3api import FC3Api, function_names
from localdev.fcapi import FCApi
from localdev.gateway import APP_KEY_HEADER, Gateway
from localdev.instances import Identity, Invocation, LocalFC
from localdev.project import Project, load_project, runtime_python
from localdev.server import LocalServer
from localdev.store import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_ACCESS_KEY_SECRET,
    LOCAL_ACCOUNT_ID,
    LOCAL_SECURITY_TOKEN,
    DataDir,
    Store,
    ensure_tables,
    start_store,
)
from localdev.throttle import Throttle, smoke_app_key
from tools.templates import FRONTDOOR_TEMPLATE, S_YAML, Route, path_template_parameters

READY_PREFIX = "localdev ready:"


@dataclass
class StackConfig:
    """What `python -m localdev run` was asked for."""

    template: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    ots_port: int = 0
    runtime: str | None = None
    python: str | None = None
    app_key: str | None = None
    max_instances: int = 4
    warm: bool = True
    function_logs: bool = True
    throttle: bool = True  # frontdoor.yml's throttling, when it sits beside the template
    async_retry_delay: float | None = None  # seconds before an async call's first retry


def local_identity(project: Project) -> Identity:
    return Identity(
        LOCAL_ACCESS_KEY_ID,
        LOCAL_ACCESS_KEY_SECRET,
        LOCAL_SECURITY_TOKEN,
        project.region,
        LOCAL_ACCOUNT_ID,
    )


def indent(text: str) -> str:
    return "\n".join("  | " + line for line in text.rstrip("\n").splitlines())


class Stack:
    """The local Tablestore, the functions' instances, and the HTTP front of both."""

    def __init__(self, config: StackConfig, out: Callable[[str], None]) -> None:
        self.config = config
        self.out = out
        self.project: Project | None = None
        self.store: Store | None = None
        self.fc: LocalFC | None = None
        self.fc_api: FCApi | None = None
        self.fc3_api: FC3Api | None = None
        self.gateway: Gateway | None = None
        self.server: LocalServer | None = None
        self.thread: threading.Thread | None = None
        self.data_dir = DataDir(config.data_dir)
        self.app_key = ""
        self.runtime = ""

    def start(self) -> None:
        """Start everything; on any failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        project = self.project = load_project(config.template)
        if config.python:
            python, self.runtime = config.python, f"{config.python} (--python)"
        else:
            python, self.runtime = runtime_python(config.runtime)
        self.app_key = config.app_key or self.data_dir.app_key()
        self.server = LocalServer(
            (config.host, config.port),
            self._gateway,
            self._fc_api,
            self._health,
            self.out,
            pages=portal.handle,
            fc3_api=self._fc3_api,
        )
        self.store = start_store(
            self.data_dir,
            project.instance,
            port=config.ots_port,
            on_wait=lambda: self.out(f"waiting for another local process using {config.data_dir}"),
        )
        created = ensure_tables(self.store, project.tables)
        for name in created:
            self.out(f"created table {name} (instance {project.instance})")
        self.fc = LocalFC(
            project,
            python,
            local_identity(project),
            self.store.endpoint,
            max_instances=config.max_instances,
            notify=self.out,
            invoke_endpoint=self.server.url,  # big batches queue the worker here
        )
        front = project.template.with_name(FRONTDOOR_TEMPLATE.name)
        throttle = None
        if front.is_file():  # its Apps' keys are always accepted; its quotas only if asked
            throttle = Throttle.from_infra(front, self.app_key, enforce=config.throttle)
        self.gateway = Gateway(project.routes, self.fc.invoke, self.app_key, self._log, throttle)
        self.fc_api = FCApi(
            project,
            self.fc.invoke,
            LOCAL_ACCESS_KEY_ID,
            LOCAL_ACCESS_KEY_SECRET,
            self._log,
            async_retry_delay=config.async_retry_delay,
        )
        s_yaml = project.template.with_name(S_YAML.name)
        if s_yaml.is_file():
            self.fc3_api = FC3Api(
                function_names(s_yaml, set(project.functions)),
                self.fc.invoke,
                LOCAL_ACCESS_KEY_ID,
                LOCAL_ACCESS_KEY_SECRET,
                self._log,
                queue=self.fc_api.queue,  # one asynchronous queue for both APIs
            )
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="http"
        )
        self.thread.start()
        self.data_dir.write_state(
            {
                "pid": os.getpid(),
                "url": self.server.url,
                "ots_endpoint": self.store.endpoint,
                "instance": project.instance,
            }
        )
        if config.warm:
            self.fc.warm()
        for line in self.banner():
            self.out(line)
        for line in portal.disagreements(project.routes):
            self.out(f"note: {line} (the API is declared in functions/fccodes/api.py)")
        self.out(f"{READY_PREFIX} url={self.server.url} ots={self.store.endpoint}")

    # --- HTTP entry points (bound before the parts exist; requests wait for start) -------------
    def _gateway(self, request: Any) -> Any:
        assert self.gateway is not None
        return self.gateway.handle(request)

    def _fc_api(self, request: Any) -> Any:
        assert self.fc_api is not None
        return self.fc_api.handle(request)

    def _fc3_api(self, request: Any) -> Any:
        if self.fc3_api is None:  # no s.yaml beside the template: the gateway says 404
            return self._gateway(request)
        return self.fc3_api.handle(request)

    def _health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "pid": os.getpid(),
            "url": self.server.url if self.server else None,
            "ots_endpoint": self.store.endpoint if self.store else None,
            "functions": self.fc.describe() if self.fc else {},
            "async": self.fc_api.queue.describe() if self.fc_api else {},
        }

    def _log(self, line: str, invocation: Invocation | None) -> None:
        if self.config.function_logs and invocation is not None and invocation.logs.strip():
            line += "\n" + indent(invocation.logs)
        self.out(line)

    # --- what the user sees -------------------------------------------------------------------
    def banner(self) -> list[str]:
        assert self.project and self.server and self.store
        project, url = self.project, self.server.url
        data = self.data_dir.data_file
        lines = [
            f"fc-codes local stack ({project.template.name}: {len(project.functions)} functions,"
            f" {len(project.routes)} routes)",
            f"  API Gateway    {url}",
            f"  FC invoke API  {url}  (service {project.service}, access key id "
            f"{LOCAL_ACCESS_KEY_ID}, secret {LOCAL_ACCESS_KEY_SECRET})",
            f"  Tablestore     {self.store.endpoint}  (instance {project.instance}, data {data})",
        ]
        if self.store.server is not None:
            lines.append(
                f"  OTS control    X-OTS-Local-Token: {self.store.server.control_token}"
                "  (/__ots_local/reset and faults need it)"
            )
        lines += [
            f"  Functions on   {self.runtime}",
            f"  App key        {APP_KEY_HEADER}: {self.app_key}  (admin routes need it)",
            f"  Smoke App key  {smoke_app_key(self.app_key)}  (frontdoor.yml's SmokeApp quota)",
            f"  Console        {url}/console  (paste the app key there)",
            f"  API reference  {url}/docs  (the document: {url}/openapi.json)",
            "",
            "Try it:",
        ]
        lines += ["  " + line for line in curl_lines(url, project, self.app_key)]
        lines += [
            "",
            "Smoke test through the front door, then the FC invoke API:",
            f"  FC_CODES_GATEWAY_URL={url} FC_CODES_APP_KEY={smoke_app_key(self.app_key)} "
            f"FC_CODES_APP_SECRET=local FC_ENDPOINT={url} "
            f"ALIBABA_CLOUD_ACCESS_KEY_ID={LOCAL_ACCESS_KEY_ID} "
            f"ALIBABA_CLOUD_ACCESS_KEY_SECRET={LOCAL_ACCESS_KEY_SECRET} make smoke",
            "Ctrl-C stops everything.",
        ]
        return lines

    # --- lifecycle ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop accepting, finish or kill calls in flight, stop instances, close the store."""
        if self.server is not None:
            if self.thread is not None:
                self.server.shutdown()
                self.thread.join()
            self.server.server_close()
        if self.fc_api is not None:
            self.fc_api.wait_background(5.0)
        if self.fc is not None:
            self.fc.close()
        if self.store is not None:
            if self.store.server is not None:
                self.data_dir.clear_state()
            self.store.close()
        self.server = self.thread = self.fc = self.fc_api = self.gateway = self.store = None
        self.fc3_api = None


def sample_body(project: Project, route: Route) -> str | None:
    """The body of the function's sample API Gateway event (events/apigw/<function>.json)."""
    sample = project.template.parent / "events" / "apigw" / f"{route.function}.json"
    try:
        event = json.loads(sample.read_text(encoding="utf-8"))
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8")
    except (OSError, ValueError, AttributeError, binascii.Error):
        return None
    return body or None


def curl_lines(url: str, project: Project, app_key: str) -> list[str]:
    """One ready-to-paste curl line per route of the template, deletions last."""
    lines = []
    told: set[str] = set()  # the path parameters already given a line of their own
    for route in sorted(project.routes, key=lambda r: r.method == "DELETE"):
        path = route.path
        params = [n.upper() for n in path_template_parameters(route.path)]
        for name in path_template_parameters(route.path):
            path = path.replace(f"[{name}]", f"${name.upper()}")
        lines += [f"{p}=PASTE-ONE-FROM-THE-ANSWER-ABOVE" for p in params if p not in told]
        told.update(params)
        parts = ["curl -s"]
        if route.method != "GET":
            parts.append(f"-X {route.method}")
        parts.append(f'"{url}{path}"')
        if route.auth_type.upper() != "ANONYMOUS":
            parts.append(shlex.quote(f"{APP_KEY_HEADER}: {app_key}"))
            parts[-1] = "-H " + parts[-1]
        if route.method in ("POST", "PUT", "PATCH"):
            body = sample_body(project, route) or "{}"
            parts.append("-H 'Content-Type: application/json' -d " + shlex.quote(body))
        lines.append(" ".join(parts))
    return lines
