"""Both templates against functions/: entry points, policy, key and environment.

`make validate` and `make deploy` run these checks (tools.checks.all_problems); here they run
on the real templates and code, then on copies with one deliberate mismatch each.
"""

import copy
import shutil

import pytest
import yaml

from tools import checks
from tools.templates import FUN_TEMPLATE, S_YAML, load_yaml

# Each test imports the handlers in a fresh interpreter (a subprocess): seconds apiece.
pytestmark = pytest.mark.slow


def test_the_templates_match_the_code():
    assert checks.all_problems() == []


def test_the_policy_is_derived_from_the_store_not_kept_by_hand():
    store = checks.FUNCTIONS_DIR / "fccodes" / "store.py"
    actions = checks.store_actions(store)
    # The store redeems with a conditional UpdateRow and generates with BatchWriteRow: a scan
    # that found less than that would be broken, not the store.
    assert {"ots:UpdateRow", "ots:BatchWriteRow"} <= actions
    # Big batches: fcinvoke queues the worker's invocations.
    invoker = checks.store_actions(checks.FUNCTIONS_DIR / "fccodes" / "fcinvoke.py")
    assert invoker == {"fc:InvokeFunction"}
    assert checks.policy_actions(checks.load_fun_template()) == actions | invoker
    assert checks.code_actions() == actions | invoker


@pytest.fixture
def copies(tmp_path):
    """Writable copies of template.yml, s.yaml and functions/."""
    functions = tmp_path / "functions"
    shutil.copytree(checks.FUNCTIONS_DIR, functions, ignore=shutil.ignore_patterns("__pycache__"))
    template, s_yaml = tmp_path / "template.yml", tmp_path / "s.yaml"
    shutil.copy(FUN_TEMPLATE, template)
    shutil.copy(S_YAML, s_yaml)
    return template, s_yaml, functions


def edit_yaml(path, change):
    raw = copy.deepcopy(load_yaml(path))
    change(raw)
    path.write_text(yaml.safe_dump(raw))


def problems_of(copies):
    return checks.all_problems(*copies)


def test_the_copies_pass_before_they_are_broken(copies):
    assert problems_of(copies) == []


def test_a_policy_missing_an_api_the_store_calls_is_reported(copies):
    def change(raw):
        actions = raw["Resources"]["fc-codes"]["Properties"]["Policies"][0]["Statement"][0]
        actions["Action"].remove("ots:UpdateRow")
        actions["Action"].append("ots:DescribeTable")

    edit_yaml(copies[0], change)
    assert any(
        "missing ['ots:UpdateRow'], not needed ['ots:DescribeTable']" in p
        for p in problems_of(copies)
    )


def test_a_handler_that_does_not_exist_is_reported(copies):
    template, s_yaml, _ = copies
    edit_yaml(
        template,
        lambda raw: raw["Resources"]["fc-codes"]["use_code"]["Properties"].update(
            Handler="use_code.main"
        ),
    )
    edit_yaml(
        s_yaml,
        lambda raw: raw["resources"]["del_code"]["props"]["instanceLifecycleConfig"][
            "initializer"
        ].update(handler="nope.initializer"),
    )
    problems = problems_of(copies)
    assert "template.yml use_code: handler use_code.main: use_code.py has no callable main" in (
        problems
    )
    assert "s.yaml del_code: initializer nope.initializer: no nope.py in functions/" in problems


def test_a_handler_with_the_wrong_signature_is_reported(copies):
    functions = copies[2]
    (functions / "query_code.py").write_text(
        (functions / "query_code.py").read_text()
        + "\n\ndef initializer():  # shadows the real one: FC passes a context\n    pass\n"
    )
    assert (
        "template.yml query_code: initializer query_code.initializer: cannot be called as "
        "initializer(context)"
    ) in problems_of(copies)


def test_an_environment_variable_settings_does_not_read_is_reported(copies):
    def change(raw):
        env = raw["Resources"]["fc-codes"]["gen_code"]["Properties"]["EnvironmentVariables"]
        env["OTS_TIMEOUT_MS"] = env.pop("OTS_TIMEOUT")

    edit_yaml(copies[0], change)
    assert any(
        "environment missing ['OTS_TIMEOUT'], unexpected ['OTS_TIMEOUT_MS']" in p
        for p in problems_of(copies)
    )


def test_invoking_the_worker_without_the_permission_is_reported(copies):
    """A function that invokes the worker needs fc:InvokeFunction on it (derived from the
    code, like the Tablestore actions), in template.yml's and infra.yml's policies."""

    def change(raw):
        raw["Resources"]["fc-codes"]["Properties"]["Policies"][0]["Statement"].pop(1)

    edit_yaml(copies[0], change)
    assert any("missing ['fc:InvokeFunction'], not needed []" in p for p in problems_of(copies))


def test_a_primary_key_other_than_the_stores_is_reported(copies):
    store = copies[2] / "fccodes" / "store.py"
    store.write_text(store.read_text().replace('PK = "code"', 'PK = "code_key"'))
    assert (
        "table codes: primary key (('code', 'STRING'),), expected (('code_key', 'STRING'),)"
        in problems_of(copies)
    )
