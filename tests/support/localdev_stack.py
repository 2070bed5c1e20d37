# -*- coding: utf-8 -*-
"""Start the local stack (`python -m localdev run`) as `make run` does, on free ports.

Python 3.6 compatible and free of third-party imports on purpose: the runtime test environments
(FC's python3 = 3.6, python3.10) cannot import `localdev` (Python >= 3.10), so the stack always
runs under the dev venv's interpreter (`OTS_LOCAL_PYTHON`, default: this one) and the functions
under `function_python` when given (`--python`), e.g. the runtime venv's own interpreter.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
from urllib.error import HTTPError
from urllib.request import Request, urlopen

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READY_RE = re.compile(r"^localdev ready: url=(\S+) ots=(\S+)")
LOCAL_ACCESS_KEY_ID = "fc-codes-local-key-id"
LOCAL_ACCESS_KEY_SECRET = "fc-codes-local-key-secret"


class HttpAnswer(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # an http.client.HTTPMessage: case-insensitive get()
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class LocalStack(object):
    """A running `python -m localdev run` subprocess."""

    def __init__(self, process, url, ots_endpoint, output):
        self.process = process
        self.url = url
        self.ots_endpoint = ots_endpoint
        self.output = output  # every line it printed so far (a reader thread appends)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """One HTTP request to the stack; answers for every status (no exception on 4xx)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        req = Request(self.url + path, data=data, method=method)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urlopen(req, timeout=timeout) as resp:
                return HttpAnswer(resp.status, resp.headers, resp.read())
        except HTTPError as e:
            return HttpAnswer(e.code, e.headers, e.read())

    def health(self):
        return self.request("GET", "/__localdev/health").json()

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Stop it like Ctrl-C does and return its exit status (SIGKILL if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def start(
    template, data_dir, app_key="test-app-key", function_python=None, extra_args=(), timeout=60
):
    """Start the stack on free ports and wait for its ready line; returns a LocalStack."""
    python = os.environ.get("OTS_LOCAL_PYTHON") or sys.executable
    cmd = [
        python,
        "-m",
        "localdev",
        "run",
        "--port",
        "0",
        "--template",
        str(template),
        "--data-dir",
        str(data_dir),
        "--app-key",
        app_key,
    ]
    if function_python:
        cmd += ["--python", function_python]
    cmd += list(extra_args)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        errors="replace",
    )
    lines = []
    found = []
    ready = threading.Event()

    def read_output():
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if len(lines) < 20000:
                lines.append(line)
            match = READY_RE.match(line)
            if match and not found:
                found.append(match)
                ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    ready.wait(timeout)
    if not found:
        proc.kill()
        proc.wait(10)
        raise RuntimeError("localdev did not become ready: %s\n%s" % (cmd, "\n".join(lines)))
    return LocalStack(proc, found[0].group(1), found[0].group(2), lines)
