"""A `make run` stack on free ports, shared by the API tests that talk to it over HTTP."""

import pytest

from tests.support import localdev_stack
from tools.templates import FUN_TEMPLATE

APP_KEY = "api-test-app-key"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real template's stack (functions, gateway, pages) on a fresh data directory."""
    # --no-throttle: the fuzzer's hundreds of admin calls a minute are over frontdoor.yml's
    # quotas, and a 429 is not what it tests.
    running = localdev_stack.start(
        FUN_TEMPLATE,
        tmp_path_factory.mktemp("api-stack"),
        app_key=APP_KEY,
        extra_args=("--no-throttle",),
    )
    yield running
    assert running.stop() == 0, "\n".join(running.output)
