"""The Tablestore Python SDK's own test suite, run against ots_local (or a real instance).

`make test-vendor` (part of `make test`) runs `python -m tools.vendor_suite`:

1. fetches the `tablestore` source distribution (`VENDOR_VERSION`) from the package index with
   pip into `.cache/vendor/` (git-ignored; fetched once) and unpacks it: its `tests/` directory
   is the vendor's suite, and its own `tablestore` package is the client the suite runs with;
2. starts an in-process ots_local, or uses the real instance named by `OTS_TEST_ENDPOINT`,
   `OTS_TEST_INSTANCE`, `OTS_TEST_ACCESS_KEY_ID` and `OTS_TEST_ACCESS_KEY_SECRET`;
3. runs the suite with pytest and `tools/vendor_plugin.py`, which records the APIs each test
   sends and, against ots_local only, skips the suite's waits for a real service to settle;
4. prints a summary: tests whose every API ots_local claims ("claimed"), tests that send an
   API it does not claim ("unclaimed", counted, expected to fail), and tests that send nothing
   (SDK unit tests). It fails when a claimed test fails, or (against a real instance) any test.

Extra arguments go to the vendor's pytest (e.g. `-k row_op`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENDOR_VERSION = "6.1.0"
CACHE = ROOT / ".cache" / "vendor"
REAL_ENV = (
    "OTS_TEST_ENDPOINT",
    "OTS_TEST_INSTANCE",
    "OTS_TEST_ACCESS_KEY_ID",
    "OTS_TEST_ACCESS_KEY_SECRET",
)
# The vendor's files hold unittest test cases named *_test.py, *_unittest.py and (sic)
# *_unitttest.py; our own pytest configuration must not apply to them.
PYTEST_INI = """[pytest]
testpaths = tests
python_files = *_test.py *_unittest.py *_unitttest.py
addopts = -p no:cacheprovider -p no:warnings -p no:logging
"""


def fetch(version: str = VENDOR_VERSION, cache: Path = CACHE) -> Path:
    """The unpacked source distribution of `tablestore==version` (downloaded once)."""
    target = cache / f"tablestore-{version}"
    if (target / "tests").is_dir():
        (target / "pytest.ini").write_text(PYTEST_INI)  # ours may have changed since
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--no-binary", ":all:", "--disable-pip-version-check"]
        command += ["-d", tmp, f"tablestore=={version}"]
        subprocess.run(command, check=True)  # noqa: S603 (our own interpreter)
        archive = Path(tmp) / f"tablestore-{version}.tar.gz"
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        unpacked = Path(tmp) / f"tablestore-{version}"
        (unpacked / "pytest.ini").write_text(PYTEST_INI)
        shutil.rmtree(target, ignore_errors=True)
        unpacked.rename(target)
    return target


@contextmanager
def target_server() -> Iterator[tuple[dict[str, str], set[str] | None]]:
    """OTS_TEST_* for the suite, and the APIs ots_local claims (None: a real instance)."""
    if all(os.environ.get(name) for name in REAL_ENV):
        yield {name: os.environ[name] for name in REAL_ENV}, None
        return
    from ots_local import OTSLocal  # noqa: PLC0415 (not needed against a real instance)

    with OTSLocal(instance="vendor") as server:
        env = {
            "OTS_TEST_ENDPOINT": server.endpoint,
            "OTS_TEST_INSTANCE": server.instance,
            "OTS_TEST_ACCESS_KEY_ID": server.access_key_id,
            "OTS_TEST_ACCESS_KEY_SECRET": server.access_key_secret,
        }
        yield env, set(server.apis())


def classify(results: dict[str, dict[str, Any]], claimed: set[str] | None) -> dict[str, Any]:
    """Group test outcomes: claimed (every API sent is claimed), unclaimed, client-only."""
    groups: dict[str, dict[str, list[str]]] = {
        group: {"passed": [], "failed": [], "skipped": []}
        for group in ("claimed", "unclaimed", "client-only")
    }
    unclaimed_apis: set[str] = set()
    for nodeid, result in sorted(results.items()):
        apis = set(result["apis"]) | set(result["named_apis"])
        if not apis:
            group = "client-only"
        elif claimed is None or apis <= claimed:
            group = "claimed"
        else:
            group = "unclaimed"
            unclaimed_apis |= apis - claimed
        groups[group][result["outcome"]].append(nodeid)
    return {"groups": groups, "unclaimed_apis": sorted(unclaimed_apis)}


def summary(results: dict[str, dict[str, Any]], claimed: set[str] | None) -> tuple[str, bool]:
    """The printed summary, and whether the run is a success."""
    grouped = classify(results, claimed)
    groups = grouped["groups"]
    where = "ots_local" if claimed is not None else "a real instance"
    lines = [f"vendor suite (tablestore {VENDOR_VERSION} tests) against {where}:"]
    for name, label in (
        ("claimed", "tests of APIs ots_local claims"),
        ("unclaimed", "tests that use an API ots_local does not claim (counted, may fail)"),
        ("client-only", "SDK unit tests (no request)"),
    ):
        group = groups[name]
        total = sum(len(ids) for ids in group.values())
        counts = ", ".join(f"{len(ids)} {outcome}" for outcome, ids in group.items() if ids)
        lines.append(f"  {label}: {total} ({counts or 'none'})")
    if grouped["unclaimed_apis"]:
        lines.append(f"  unclaimed APIs sent: {', '.join(grouped['unclaimed_apis'])}")
    must_pass = ["claimed", "client-only"] + ([] if claimed is not None else ["unclaimed"])
    failed = [nodeid for name in must_pass for nodeid in groups[name]["failed"]]
    for nodeid in failed:
        lines.append(f"  FAILED {nodeid}: {results[nodeid]['error'].splitlines()[0]}")
    return "\n".join(lines), not failed and bool(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.vendor_suite", description=__doc__)
    parser.add_argument("--version", default=VENDOR_VERSION, help=argparse.SUPPRESS)
    parser.add_argument("--report", metavar="FILE", help="also write every test's outcome here")
    args, pytest_args = parser.parse_known_args(argv)
    try:
        source = fetch(args.version)
    except (subprocess.CalledProcessError, OSError, tarfile.TarError) as error:
        print(
            f"vendor suite: cannot fetch tablestore=={args.version}'s source distribution from"
            f" the package index with pip ({error}); it is needed once, then kept in {CACHE}",
            file=sys.stderr,
        )
        return 1
    with target_server() as (env, claimed), tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        child_env = dict(os.environ, **env)
        # The vendor's SDK and tests first; `dataprotocol` is a top-level package in its layout.
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(source), str(source / "tablestore" / "flatbuffer"), str(ROOT / "tools")]
        )
        child_env["OTS_VENDOR_REPORT"] = str(report)
        child_env["OTS_VENDOR_NO_WAIT"] = "1" if claimed is not None else "0"
        child_env["OTS_VENDOR_CLAIMED"] = ",".join(sorted(claimed or ()))
        command = [sys.executable, "-m", "pytest", "-p", "vendor_plugin", "-q", "-rN"]
        command += ["--tb=no", *pytest_args]
        subprocess.run(command, cwd=source, env=child_env, check=False)  # noqa: S603
        if not report.exists():
            print("vendor suite: no report (the vendor's pytest did not run)", file=sys.stderr)
            return 1
        results = json.loads(report.read_text())
    if args.report:
        Path(args.report).write_text(json.dumps(results, indent=1, sort_keys=True))
    text, ok = summary(results, claimed)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
