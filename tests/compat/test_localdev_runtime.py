# -*- coding: utf-8 -*-
"""`make run RUNTIME=...`: the product's functions on FC's runtimes behind the local stack.

`make test-py36` / `make test-py310` run this file under FC's Python 3.6 + tablestore 5.1.0 and
Python 3.10 + 5.4.1: the stack itself runs under the dev venv's Python (`OTS_LOCAL_PYTHON`), the
functions' instances under this interpreter (`--python`), as `make run RUNTIME=python3` does.
Python 3.6 syntax on purpose.
"""

import json
import os
import sys

import pytest

from harness import process
from tests.support import localdev_stack

TEMPLATE = os.path.join(process.ROOT, "template.yml")
APP_KEY = "runtime-app-key"
ADMIN = {"X-Ca-Key": APP_KEY, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data = str(tmp_path_factory.mktemp("runtime"))
    running = localdev_stack.start(TEMPLATE, data, app_key=APP_KEY, function_python=sys.executable)
    yield running
    assert running.stop() == 0, "\n".join(running.output)


def test_the_instances_run_on_this_interpreter(stack):
    stack.request("GET", "/codes/ABCD")  # at least one instance has started by now
    version = "Python %d.%d.%d" % sys.version_info[:3]
    started = [line for line in list(stack.output) if "instance started" in line]
    assert started and all(version in line for line in started), started


def test_a_code_through_its_life_on_this_runtime(stack):
    resp = stack.request("POST", "/codes", json.dumps({"count": 2}), ADMIN)
    assert resp.status == 201, resp.body
    code = resp.json()["codes"][0]
    assert stack.request("GET", "/codes/" + code).json()["status"] == "UNUSED"
    redeem = json.dumps({"user_id": "p1"})
    resp = stack.request("POST", "/codes/%s/redeem" % code, redeem, ADMIN)
    assert (resp.status, resp.json()["status"]) == (200, "USED")
    resp = stack.request("POST", "/codes/%s/redeem" % code, json.dumps({"user_id": "p2"}), ADMIN)
    assert (resp.status, resp.json()["error"]["code"]) == (409, "CODE_ALREADY_USED")
    resp = stack.request("DELETE", "/codes/" + code, headers={"X-Ca-Key": APP_KEY})
    assert resp.status == 200
    resp = stack.request("GET", "/codes/" + code)
    assert (resp.status, resp.json()["error"]["code"]) == (404, "CODE_NOT_FOUND")
