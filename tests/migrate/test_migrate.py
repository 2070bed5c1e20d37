"""`make migrate`: the tutorial's table, filled as its gen_code did, brought into fc-codes.

The source is written by harness.tutorial (the tutorial's exact row shape); the migration runs
through the real SDK against ots_local; afterwards the real handlers are invoked with the
tutorial's own direct-invoke events.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tablestore import Condition, Row, RowExistenceExpectation

import del_code
import query_code
import use_code
from fccodes import app
from fccodes.settings import Settings
from harness import ots_server, tables, tutorial
from harness.fc import FCContext, server_credentials
from tools import migrate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ots():
    server = ots_server.start(use_real=False, extra_args=["--quiet"])
    yield server
    server.stop()


@pytest.fixture
def sdk(ots):
    ots.reset()
    client = tables.client_for(ots)
    tables.create(client)
    tutorial.create(client)
    return client


def migration(sdk, tmp_path, **options):
    return migrate.Migration(sdk, sdk, checkpoint=tmp_path / "checkpoint.json", **options)


def codes_rows(sdk):
    return tables.scan(sdk, tables.CODES)


def test_every_code_once_with_its_state_and_window(sdk, tmp_path):
    written = tutorial.fill(sdk, 1234, "2026-01-01 00:00:00", "2027-01-01 00:00:00", used_every=7)
    run = migration(sdk, tmp_path)
    run.check()
    assert run.count() == 1234
    counts = run.run(1234)
    assert (counts["read"], counts["written"], counts["existing"]) == (1234, 1234, 0)
    rows = codes_rows(sdk)
    assert sorted(rows) == sorted("=" + uuid for uuid in written)
    start = tutorial.period("2026-01-01 00:00:00")
    end = tutorial.period("2027-01-01 00:00:00")
    for uuid, status in written.items():
        row = rows["=" + uuid]
        assert row["state"] == ("USED" if status == "ACTIVED" else "UNUSED")
        assert row["uses"] == (1 if status == "ACTIVED" else 0)
        assert (row["valid_from"], row["valid_until"]) == (start * 1000, end * 1000 + 1)
        assert (row["batch"], row["max_uses"]) == ("tutorial", 1)
    assert not (tmp_path / "checkpoint.json").exists()


def test_a_second_run_adds_nothing_and_catches_codes_used_meanwhile(sdk, tmp_path):
    written = tutorial.fill(sdk, 300, "2026-01-01 00:00:00", "2099-01-01 00:00:00")
    migration(sdk, tmp_path).run()
    first, second = sorted(written)[:2]
    # Meanwhile the tutorial's use_code marks one code used; fc-codes redeems another.
    sdk.update_row(tutorial.TABLE, Row([("uuid", first)], {"put": [("status", "ACTIVED")]}), None)
    sdk.update_row(
        tables.CODES, Row([("code", "=" + second)], {"put": [("state", "USED"), ("uses", 1)]}), None
    )
    before = codes_rows(sdk)
    counts = migration(sdk, tmp_path).run()
    assert (counts["written"], counts["existing"], counts["marked_used"]) == (0, 300, 1)
    after = codes_rows(sdk)
    assert sorted(after) == sorted(before)
    assert after["=" + first]["state"] == "USED"
    assert after["=" + second]["state"] == "USED"  # never set back to unused


def test_a_run_that_dies_half_way_resumes_from_its_checkpoint(sdk, tmp_path):
    written = tutorial.fill(sdk, 1200, "2026-01-01 00:00:00", "2099-01-01 00:00:00", used_every=5)

    class Crash(Exception):
        pass

    def die_after_the_first_page(counts, total, elapsed):
        raise Crash()

    with pytest.raises(Crash):
        migration(sdk, tmp_path, progress=die_after_the_first_page, page_rows=500).run()
    assert len(codes_rows(sdk)) == 500
    assert (tmp_path / "checkpoint.json").exists()
    again = migration(sdk, tmp_path, page_rows=500)
    counts = again.run()
    assert again.resumed_from is not None
    assert (counts["read"], counts["written"]) == (1200, 1200)  # the first page counted once
    rows = codes_rows(sdk)
    assert sorted(rows) == sorted("=" + uuid for uuid in written)
    for uuid, status in written.items():
        assert rows["=" + uuid]["state"] == ("USED" if status == "ACTIVED" else "UNUSED")


def test_another_primary_key_is_refused_before_anything_is_written(sdk, tmp_path):
    tables.recreate(sdk, "code", (("id", "STRING"),))
    with pytest.raises(migrate.SchemaError, match=r"primary key \[\('id', 'STRING'\)\]"):
        migration(sdk, tmp_path).check()
    assert codes_rows(sdk) == {}


def test_rows_without_the_tutorials_columns_are_refused_before_anything_is_written(sdk, tmp_path):
    sdk.put_row(
        "code",
        Row([("uuid", "a")], [("state", "NEW"), ("expires", "2027-01-01")]),
        Condition(RowExistenceExpectation.IGNORE),
    )
    with pytest.raises(migrate.SchemaError, match="not in the tutorial's shape: row uuid='a'"):
        migration(sdk, tmp_path).check()
    assert codes_rows(sdk) == {}


def test_a_missing_source_table_is_named(sdk, tmp_path):
    with pytest.raises(migrate.SchemaError, match="the source table 'elsewhere' does not exist"):
        migration(sdk, tmp_path, source_table="elsewhere").check()


def test_the_tutorials_events_work_on_migrated_codes(ots, sdk, tmp_path):
    written = tutorial.fill(sdk, 20, "2026-01-01 00:00:00", "2099-01-01 00:00:00", used_every=2)
    migration(sdk, tmp_path).run()
    unused = [uuid for uuid, status in written.items() if status == "UNACTIVED"]
    used = [uuid for uuid, status in written.items() if status == "ACTIVED"]
    context = FCContext(credentials=server_credentials(ots))

    def invoke(module, event):
        return module.handler(json.dumps(event).encode(), context)

    settings = dict(ots_timeout=2.0, table=tables.CODES)
    app.configure(app.Runtime(Settings(ots.endpoint, ots.instance, **settings)))
    try:
        assert json.loads(invoke(query_code, {"uuid": unused[0]}))["status"] == "UNUSED"
        assert json.loads(invoke(use_code, {"uuid": unused[0]}))["status"] == "USED"
        assert json.loads(invoke(use_code, {"uuid": used[0]}))["error"]["code"] == (
            "CODE_ALREADY_USED"
        )
        app.configure(
            app.Runtime(Settings(ots.endpoint, ots.instance, tutorial_answers=True, **settings))
        )
        assert invoke(query_code, {"uuid": unused[1]}) == "UNACTIVED"
        assert invoke(use_code, {"uuid": unused[1]}) == "SUCCEED"
        assert invoke(use_code, {"uuid": unused[1]}) == "FAILED"
        assert invoke(query_code, {"uuid": used[1]}) == "ACTIVED"
        assert invoke(del_code, {"uuid": used[1]}) == "SUCCEED"
        assert invoke(query_code, {"uuid": used[1]}) == "NO EXISTED"
    finally:
        app.configure(None)


@pytest.mark.slow  # seconds of store latency or a whole stack: make test runs it
def test_make_migrate_on_a_data_directory(tmp_path):
    """The command: --fill, then a migration with its bar and summary, then a second run."""
    data = tmp_path / "data"

    def command(*args):
        return subprocess.run(
            [sys.executable, "-m", "tools.migrate", "--data-dir", str(data), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    filled = command("--fill", "500")
    assert filled.returncode == 0, filled.stderr
    assert "holds 500 tutorial codes (50 ACTIVED)" in filled.stdout
    started = time.monotonic()
    first = command()
    assert first.returncode == 0, first.stderr
    assert "migrate [##############################] 500/500 rows 100%" in first.stderr
    assert first.stdout.startswith(
        "migrate: 500 rows read, 500 codes written, 0 already there (0 of them marked used), "
        "0 bad rows, 0 not written (store errors) in "
    )
    assert time.monotonic() - started < 60
    second = command()
    assert "0 codes written, 500 already there" in second.stdout
    wrong = command("--table", "nothing")
    assert wrong.returncode == 2
    assert "the source table 'nothing' does not exist; nothing was written" in wrong.stderr
