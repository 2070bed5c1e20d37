"""The repo's own tooling: the interpreter finder that the Makefile relies on, the layer check."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_find_python_finds_a_working_interpreter_of_the_requested_version():
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    out = subprocess.run(
        [str(ROOT / "tools" / "find-python"), version], capture_output=True, text=True, check=True
    ).stdout.strip()
    reported = subprocess.run(
        [out, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert reported == version


def test_find_python_fails_clearly_for_a_missing_version():
    proc = subprocess.run(
        [str(ROOT / "tools" / "find-python"), "2.1"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "no working python2.1 found" in proc.stderr


def _result(outcome, apis=(), named=(), error=""):
    return {"outcome": outcome, "apis": list(apis), "named_apis": list(named), "error": error}


def test_the_vendor_suite_fails_on_a_claimed_test_and_only_counts_unclaimed_ones():
    from tools.vendor_suite import summary

    claimed = {"PutRow", "GetRow"}
    results = {
        "t::ok": _result("passed", ["PutRow"]),
        "t::client_only": _result("passed"),
        # Failed before sending it, but its code names an unclaimed API: unclaimed.
        "t::search": _result("failed", ["PutRow"], ["Search"], "Unsupported operation"),
    }
    text, ok = summary(results, claimed)
    assert ok
    assert "tests of APIs ots_local claims: 1 (1 passed)" in text
    assert "1 failed" in text and "unclaimed APIs sent: Search" in text
    results["t::broken"] = _result("failed", ["GetRow"], [], "AssertionError: 1 != 2\nmore")
    text, ok = summary(results, claimed)
    assert not ok
    assert "FAILED t::broken: AssertionError: 1 != 2" in text
    # Against a real instance (no claimed set) every test must pass.
    del results["t::broken"]
    assert summary(results, None)[1] is False
    assert summary({}, claimed)[1] is False  # nothing ran is no success


def test_layers_accepts_the_handlers_and_names_an_import_past_the_edge(tmp_path):
    from tools import layers

    assert layers.problems() == []
    for name in layers.HANDLERS:
        (tmp_path / f"{name}.py").write_text("from fccodes import app\n")
    (tmp_path / "use_code.py").write_text("from fccodes import app\nimport tablestore\n")
    (tmp_path / "del_code.py").write_text("from fccodes.service import CodeService\n")
    assert sorted(layers.problems(tmp_path)) == [
        "functions/del_code.py imports fccodes.service.CodeService: handlers import fccodes.app",
        "functions/use_code.py imports tablestore: handlers import fccodes.app",
    ]
