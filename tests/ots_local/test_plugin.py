"""The pytest fixtures users get with `pytest_plugins = ["ots_local.pytest_plugin"]`."""

from __future__ import annotations

from tablestore import CapacityUnit, ReservedThroughput, Row, TableMeta, TableOptions

# Imported fixtures register in this module, as the plugin would register them globally.
from ots_local.pytest_plugin import ots_client, ots_local, ots_local_server  # noqa: F401


def test_the_fixtures_give_an_empty_server_and_a_working_client(ots_local, ots_client):  # noqa: F811
    assert ots_client.list_table() == ()
    ots_client.create_table(
        TableMeta("plugin", [("pk", "STRING")]),
        TableOptions(),
        ReservedThroughput(CapacityUnit(0, 0)),
    )
    ots_client.put_row("plugin", Row([("pk", "a")], [("v", 1)]))
    ots_local.add_fault("busy", count=1)
    assert ots_local.health()["tables"] == 1


def test_each_test_starts_from_an_empty_server(ots_local, ots_client):  # noqa: F811
    assert ots_client.list_table() == ()
    assert ots_local.faults() == {"faults": []}
