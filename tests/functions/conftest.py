"""Fixtures for functions/: the local Tablestore server, a fresh `codes` table, a wired runtime.

Everything runs through the real `tablestore` SDK against ots_local (started as a subprocess,
so this also works on FC's Python 3.6 and 3.10 runtimes).
"""

import json
import logging

import pytest

from fccodes import app
from fccodes.service import wall_clock_ms
from fccodes.settings import Settings
from harness import ots_server, tables
from harness.fc import FCContext, server_credentials

TABLE = tables.CODES
BATCHES = tables.BATCHES


@pytest.fixture(scope="session")
def ots():
    # These tests inject faults and reset the store: always the local server. Quiet: a line per
    # request costs the 2-core CI machine noticeably on the 10,000-code tests.
    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sdk(ots):
    """A plain SDK client for arranging and inspecting rows."""
    return tables.client_for(ots)


@pytest.fixture
def table(ots, sdk):
    """An empty `codes` table, and no faults."""
    ots.reset()
    tables.create_service_tables(sdk, TABLE, BATCHES)
    yield TABLE
    ots.clear_faults()


class Wiring(object):
    """Builds the function's Runtime against the local server, with injectable parts."""

    def __init__(self, server):
        self.server = server
        self.context = FCContext(credentials=server_credentials(server))

    def settings(self, **overrides):
        options = {"ots_timeout": 2.0, "gen_concurrency": 4, "table": TABLE}
        options.update(overrides)
        return Settings(self.server.endpoint, self.server.instance, **options)

    def install(self, clock=wall_clock_ms, random_bytes=None, dispatcher=None, **settings):
        options = {"clock": clock}
        if random_bytes is not None:
            options["random_bytes"] = random_bytes
        runtime = app.Runtime(self.settings(**settings), dispatcher=dispatcher, **options)
        app.configure(runtime)
        return runtime


@pytest.fixture
def wiring(ots, table):
    """Installs a Runtime aimed at the local server (default parts); tests may reinstall."""
    wired = Wiring(ots)
    wired.install()
    yield wired
    app.configure(None)


@pytest.fixture
def rows(sdk, table):
    """rows(columns=None) -> {key: attributes} of every row (a full scan: tests only)."""

    def scan(columns=None):
        return tables.scan(sdk, TABLE, columns)

    return scan


@pytest.fixture
def log_lines(caplog):
    """log_lines() -> the JSON objects the functions logged."""
    caplog.set_level(logging.INFO, logger="fccodes")

    def lines():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "fccodes"]

    return lines
