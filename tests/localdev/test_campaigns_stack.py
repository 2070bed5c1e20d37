"""Campaigns end to end on the local stack (`make run`): the README's walk over real HTTP through
the local API Gateway, and `python -m tools.codes` against it (key and URL from the
environment, never printed)."""

import csv
import io
import json

import pytest

from tests.localdev.helpers import copy_template
from tests.support import localdev_stack
from tools import codes as cli

pytestmark = pytest.mark.slow  # a whole local stack: make test runs it, test-quick does not

APP_KEY = "campaign-test-app-key"
ADMIN = {"X-Ca-Key": APP_KEY, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("campaigns")
    running = localdev_stack.start(copy_template(base, {}), base / "data", app_key=APP_KEY)
    yield running
    assert running.stop() == 0, "\n".join(running.output)


def answer(resp, status):
    body = resp.json()
    assert resp.status == status, body
    return body


def test_the_readme_walk_over_the_local_gateway(stack):
    params = {"count": 5, "batch": "readme", "prefix": "GFT", "metadata": {"pack": "gold"}}
    made = answer(stack.request("POST", "/codes", json.dumps(params), ADMIN), 201)
    code = made["codes"][0]
    info = answer(stack.request("GET", "/batches/readme", headers=ADMIN), 200)
    assert (info["state"], info["count"], info["figures"]["unused"]) == ("ACTIVE", 5, 5)
    # admin routes need the key: the gateway answers 401 without it
    assert stack.request("GET", "/batches/readme").status == 401
    assert stack.request("POST", f"/codes/{code}/rollback", "{}").status == 401
    redeemed = answer(
        stack.request("POST", f"/codes/{code}/redeem", json.dumps({"user_id": "p1"})), 200
    )
    assert redeemed["metadata"] == {"pack": "gold"}
    info = answer(stack.request("GET", "/batches/readme", headers=ADMIN), 200)
    assert (info["figures"]["used"], info["figures"]["redemptions"]) == (1, 1)
    page = stack.request(
        "GET", "/batches/readme/codes?limit=2", headers=dict(ADMIN, Accept="text/csv")
    )
    assert page.status == 200 and page.headers.get("Content-Type").startswith("text/csv")
    assert page.headers.get("X-Next-Cursor")
    answer(stack.request("POST", "/batches/readme/disable", headers=ADMIN), 200)
    refused = answer(stack.request("POST", f"/codes/{made['codes'][1]}/redeem", "{}"), 409)
    assert refused["error"]["code"] == "CODE_DISABLED"
    answer(stack.request("POST", "/batches/readme/enable", headers=ADMIN), 200)
    body = json.dumps({"user_id": "p1"})
    rolled = answer(stack.request("POST", f"/codes/{code}/rollback", body, ADMIN), 200)
    assert (rolled["rolled_back"], rolled["status"]) == (True, "UNUSED")
    unknown = answer(stack.request("GET", "/batches/nope", headers=ADMIN), 404)
    assert unknown["error"]["code"] == "BATCH_NOT_FOUND"


def run(stack, *argv, env=None):
    out = io.StringIO()
    environ = {"FCCODES_URL": stack.url, "FCCODES_APP_KEY": APP_KEY}
    environ.update(env or {})
    status = cli.main(list(argv), environ, out)
    return status, out.getvalue()


def test_the_admin_command_line(stack, tmp_path, capsys):
    generate = ["generate", "--count", "12", "--batch", "cli", "--metadata", '{"pack": 1}']
    generate += ["--idempotency-key", "cli-key-0000000001"]
    status, printed = run(stack, *generate)
    assert status == 0
    made = printed.split()
    assert len(made) == 12
    status, again = run(stack, *generate)
    assert (status, again.split()) == (0, made)  # a retry gets the same batch
    assert "same idempotency key" in capsys.readouterr().err

    target = tmp_path / "cli.csv"
    status, _ = run(stack, "export", "cli", "--out", str(target), "--page", "5")
    assert status == 0
    with open(target, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["code"] for r in rows) == sorted(made)  # one header, each code once
    assert "12 codes in" in capsys.readouterr().err

    stack.request("POST", f"/codes/{made[0]}/redeem", json.dumps({"user_id": "u9"}))
    status, shown = run(stack, "show", "cli")
    assert status == 0 and "used 1" in shown and "redemptions 1" in shown
    assert run(stack, "disable", "cli") == (0, "batch cli: DISABLED\n")
    assert run(stack, "enable", "cli") == (0, "batch cli: ACTIVE\n")
    status, listed = run(stack, "redemptions", made[0])
    assert status == 0 and "u9" in listed
    status, printed = run(stack, "rollback", made[0], "--user", "u9")
    assert (status, printed) == (0, f"{made[0]}: rolled back; uses 0/1, UNUSED\n")
    status, printed = run(stack, "disable-code", made[1])
    assert (status, printed) == (0, f"{made[1]}: DISABLED\n")

    # with an App secret every call is signed (a deployment's API Gateway); the local gateway
    # checks the key of a signed call as of any other
    status, shown = run(stack, "show", "cli", env={"FCCODES_APP_SECRET": "s3cret"})
    assert status == 0 and "used 1" in shown

    # refusals: exit 1 with the API's code; the key never appears
    status, _ = run(stack, "show", "missing")
    err = capsys.readouterr().err
    assert status == 1 and "BATCH_NOT_FOUND" in err and APP_KEY not in err
    status, _ = run(stack, "show", "cli", env={"FCCODES_APP_KEY": "wrong"})
    err = capsys.readouterr().err
    assert status == 1 and "wrong" not in err
    status, _ = run(
        stack, "show", "cli", env={"FCCODES_APP_KEY": "", "FCCODES_DATA": str(tmp_path)}
    )
    assert status == 2 and "FCCODES_APP_KEY" in capsys.readouterr().err
