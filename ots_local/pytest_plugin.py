"""pytest fixtures for testing Tablestore code against ots_local.

Enable them in your top-level `conftest.py`::

    pytest_plugins = ["ots_local.pytest_plugin"]

or on the command line with `-p ots_local.pytest_plugin`. Fixtures:

- `ots_local_server` (session): one in-process `OTSLocal` for the whole test session.
- `ots_local` (function): that server, emptied (`reset()`: no tables, no faults, no index
  delay) before the test. `ots_local.configure(index_delay_ms=...)` delays global secondary
  index updates for the test.
- `ots_client` (function): a `tablestore.OTSClient` for `ots_local`, without retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .embedded import OTSLocal


@pytest.fixture(scope="session")
def ots_local_server() -> Iterator[OTSLocal]:
    """One local Tablestore server for the session (in memory, any free port)."""
    with OTSLocal() as server:
        yield server


@pytest.fixture
def ots_local(ots_local_server: OTSLocal) -> OTSLocal:
    """The session's server with no tables, no faults and the start settings."""
    ots_local_server.reset()
    return ots_local_server


@pytest.fixture
def ots_client(ots_local: OTSLocal) -> Any:
    """A `tablestore.OTSClient` aimed at `ots_local` (NoRetryPolicy)."""
    return ots_local.client()
