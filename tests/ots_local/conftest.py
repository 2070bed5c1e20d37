"""Fixtures of the ots_local conformance suite.

By default the suite runs against an in-process `OTSLocal`. With `OTS_TEST_ENDPOINT`,
`OTS_TEST_INSTANCE`, `OTS_TEST_ACCESS_KEY_ID` and `OTS_TEST_ACCESS_KEY_SECRET` set it runs,
unchanged, against that real Tablestore instance; tests that need the local control plane
(faults, reset, raw HTTP) then skip and say so.
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tablestore import (
    INF_MAX,
    INF_MIN,
    CapacityUnit,
    OTSClient,
    OTSServiceError,
    ReservedThroughput,
    TableMeta,
    TableOptions,
)
from tablestore.retry import NoRetryPolicy

from harness.ots_server import real_instance_from_env
from ots_local import OTSLocal

CONTROL_PLANE_SKIP = (
    "needs the ots_local control plane, and OTS_TEST_* points the suite at a real Tablestore"
    " instance"
)


def make_client(target: Any, **kwargs: Any) -> OTSClient:
    """An OTSClient for a target (OTSLocal or a real instance): no retries, 10 s timeout."""
    kwargs.setdefault("retry_policy", NoRetryPolicy())
    kwargs.setdefault("socket_timeout", 10)
    return OTSClient(
        target.endpoint, target.access_key_id, target.access_key_secret, target.instance, **kwargs
    )


@pytest.fixture(scope="session")
def target() -> Iterator[Any]:
    """What the suite talks to: a real instance (OTS_TEST_*) or an in-process OTSLocal."""
    real = real_instance_from_env()
    if real is not None:
        yield real
        return
    with OTSLocal(instance="conformance") as server:
        yield server


@pytest.fixture
def ots(target: Any) -> Any:
    """The target, emptied before the test when it is local."""
    if target.is_local:
        target.reset()
    return target


@pytest.fixture
def local(ots: Any) -> Any:
    """The target for tests that need the control plane: skipped against a real instance."""
    if not ots.is_local:
        pytest.skip(CONTROL_PLANE_SKIP)
    return ots


@pytest.fixture
def client(ots: Any) -> OTSClient:
    return make_client(ots)


class Tables:
    """Creates uniquely named tables for one test; drops them afterwards on a real instance."""

    _session = uuid.uuid4().hex[:6]
    _counter = itertools.count()

    def __init__(self, client: OTSClient, is_local: bool) -> None:
        self.client = client
        self.is_local = is_local
        self.created: list[str] = []

    def create(
        self,
        primary_key: list[tuple[Any, ...]] | None = None,
        *,
        max_versions: int = 1,
        time_to_live: int = -1,
        deviation: int = 86400,
        name: str | None = None,
    ) -> str:
        name = name or f"t_{self._session}_{next(self._counter)}"
        schema = primary_key or [("pk", "STRING")]
        self.client.create_table(
            TableMeta(name, schema),
            TableOptions(time_to_live, max_versions, deviation),
            ReservedThroughput(CapacityUnit(0, 0)),
        )
        self.created.append(name)
        if not self.is_local:
            self._wait_until_loaded(name)
        return name

    def _wait_until_loaded(self, name: str) -> None:
        # A real table answers OTSTableNotReady / OTSPartitionUnavailable for a few seconds.
        deadline = time.monotonic() + 60
        while True:
            try:
                schema = self.client.describe_table(name).table_meta.schema_of_primary_key
                start = [(column[0], INF_MIN) for column in schema]
                end = [(column[0], INF_MAX) for column in schema]
                self.client.get_range(name, "FORWARD", start, end, limit=1, max_version=1)
                return
            except OTSServiceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def drop_all(self) -> None:
        for name in self.created:
            with contextlib.suppress(OTSServiceError):
                self.client.delete_table(name)


@pytest.fixture
def tables(client: OTSClient, ots: Any) -> Iterator[Tables]:
    made = Tables(client, ots.is_local)
    yield made
    if not ots.is_local:
        made.drop_all()
