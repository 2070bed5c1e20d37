"""A `make run` stack on free ports, shared by the API tests that talk to it over HTTP."""

import pytest

from tests.localdev.helpers import copy_template
from tests.support import localdev_stack

APP_KEY = "api-test-app-key"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real template's stack (functions, gateway, pages) on a fresh data directory."""
    # --no-throttle: the fuzzer's hundreds of admin calls a minute are over frontdoor.yml's
    # quotas, and a 429 is not what it tests.
    base = tmp_path_factory.mktemp("api-stack")
    # Big batches up to 10,500 codes only: the fuzzer sends counts up to the declared 10,000,000,
    # and each would keep the stack's workers busy long after the test (a larger count is a
    # 400, which is not what it tests either).
    template = copy_template(base, env={"MAX_CODES_PER_BATCH": "10500"})
    running = localdev_stack.start(
        template,
        base / "data",
        app_key=APP_KEY,
        extra_args=("--no-throttle",),
    )
    yield running
    assert running.stop() == 0, "\n".join(running.output)
