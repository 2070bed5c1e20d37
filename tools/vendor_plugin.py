"""pytest plugin loaded into the Tablestore SDK's own test suite by `tools/vendor_suite.py`.

It runs in the vendor's test process (their `tests` package, their SDK version), so it imports
nothing of ours. It:

- records which Tablestore APIs each test uses: those it sends (by wrapping
  `OTSClient._request_helper`) and those its code names (the `OTSClient` methods called in the
  test method, its class's set-up and tear-down and the helpers they call, when defined in the
  test's own module), so a test that fails before reaching an API is still classified by it;
- with `OTS_VENDOR_NO_WAIT=1` (against ots_local only), makes `time.sleep` in the vendor's test
  modules return at once: they wait for a real service to load partitions (60 s per table),
  build indexes and accept the next table operation; ots_local is ready when it answers;
- with `OTS_VENDOR_CLAIMED` (the APIs ots_local claims, comma-separated), reports a failing test
  that sends an API outside that list as an expected failure (xfail, with the APIs named), so
  pytest's own closing line counts those tests apart from real failures;
- writes every test's outcome and APIs as JSON to `OTS_VENDOR_REPORT`.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import time
import types
from typing import Any

import pytest

_current: set[str] | None = None
_results: dict[str, dict[str, Any]] = {}
_named: dict[str, list[str]] = {}
_FIXTURES = ("setUp", "tearDown", "setUpClass", "tearDownClass")
_CLAIMED = {api for api in os.environ.get("OTS_VENDOR_CLAIMED", "").split(",") if api}


class _NoWaitTime(types.ModuleType):
    """The `time` module, except that `sleep` returns at once."""

    def __init__(self) -> None:
        super().__init__("time")

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


def _record_apis() -> None:
    from tablestore.client import OTSClient  # noqa: PLC0415 (the vendor's SDK, on their path)

    original = OTSClient._request_helper

    def request_helper(self: Any, api_name: str, *args: Any, **kwargs: Any) -> Any:
        if _current is not None:
            _current.add(api_name)
        return original(self, api_name, *args, **kwargs)

    OTSClient._request_helper = request_helper


def _client_apis() -> dict[str, str]:
    """OTSClient method name -> the API it sends, read from the SDK's own source."""
    from tablestore.client import OTSClient  # noqa: PLC0415

    apis = {}
    for name, method in inspect.getmembers(OTSClient, inspect.isfunction):
        found = re.search(r"_request_helper\(\s*['\"](\w+)['\"]", inspect.getsource(method))
        if found and not name.startswith("_"):
            apis[name] = found.group(1)
    return apis


def _named_apis(cls: type, method: str, client_apis: dict[str, str]) -> set[str]:
    """The APIs named by a test method and the code of its own module that it runs."""
    module = cls.__module__
    todo = [method, *(name for name in _FIXTURES if name in vars(cls))]
    seen: set[str] = set()
    apis: set[str] = set()
    while todo:
        name = todo.pop()
        function = getattr(cls, name, None)
        if name in seen or function is None or getattr(function, "__module__", "") != module:
            continue
        seen.add(name)
        source = inspect.getsource(function)
        for called in re.findall(r"\.(\w+)\(", source):
            if called in client_apis:
                apis.add(client_apis[called])
        todo.extend(re.findall(r"self\.(\w+)\(", source))
    return apis


def pytest_configure(config: pytest.Config) -> None:
    _record_apis()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    client_apis = _client_apis()
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None:
            _named[item.nodeid] = sorted(_named_apis(cls, item.name, client_apis))
    if os.environ.get("OTS_VENDOR_NO_WAIT") != "1":
        return
    no_wait = _NoWaitTime()
    for name, module in list(sys.modules.items()):
        if name.startswith("tests.") and getattr(module, "time", None) is time:
            module.time = no_wait  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    global _current  # noqa: PLW0603 (one test runs at a time)
    _current = set()
    _results[item.nodeid] = {
        "outcome": "passed",
        "apis": [],
        "named_apis": _named.get(item.nodeid, []),
        "error": "",
    }
    yield
    _results[item.nodeid]["apis"] = sorted(_current)
    _current = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    result = _results.get(item.nodeid)
    if not (_CLAIMED and report.failed and result is not None):
        return
    unclaimed = sorted((set(_current or ()) | set(result["named_apis"])) - _CLAIMED)
    if unclaimed:
        _record_failure(result, report)
        report.outcome = "skipped"
        report.wasxfail = "sends an API ots_local does not claim: " + ", ".join(unclaimed)


def _record_failure(result: dict[str, Any], report: pytest.TestReport) -> None:
    result["outcome"] = "failed"
    crash = getattr(report.longrepr, "reprcrash", None)
    result["error"] = (crash.message if crash is not None else str(report.longrepr))[:500]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    result = _results.get(report.nodeid)
    if result is None:
        return
    if report.failed and result["outcome"] != "failed":
        _record_failure(result, report)
    elif report.skipped and result["outcome"] == "passed":
        result["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("OTS_VENDOR_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_results, out, indent=1, sort_keys=True)
