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
import sys
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from harness import process

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
        return process.stop(self.process, lambda proc: proc.send_signal(sig), timeout)


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
    proc, match, lines = process.start_and_wait(cmd, READY_RE, "localdev", timeout)
    return LocalStack(proc, match.group(1), match.group(2), lines)
