"""tools.package: the FC 3.0 code package, built from a lock with hashes.

pip really runs, offline: the lock points pip at local wheels (`--no-index --find-links`), so
the install path (`--require-hashes --no-deps --target`) is the one `make package` uses. The
real locks are checked against the runtime tests' pins (make validate runs the same check).
"""

import hashlib
import json
import sys
import zipfile
from pathlib import Path

import pytest

from tools import package

# Each test runs pip into a scratch package: seconds apiece.
pytestmark = pytest.mark.slow


def write_wheel(directory, name="tinydep", version="1.0", payload="VALUE = 42\n"):
    """A minimal pure-Python wheel, enough for pip to install; returns its sha256."""
    dist = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(f"{name}/__init__.py", payload)
        whl.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        whl.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{dist}/RECORD", "")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_lock(path, wheels, entries):
    lines = ["# test lock", "--no-index", f"--find-links {wheels}"]
    lines += [
        f"{name}=={version} \\\n    --hash=sha256:{digest}" for name, version, digest in entries
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def project(tmp_path):
    functions = tmp_path / "functions"
    (functions / "fccodes" / "__pycache__").mkdir(parents=True)
    (functions / "gen_code.py").write_text("def handler(event, context):\n    return b'{}'\n")
    (functions / "fccodes" / "__init__.py").write_text("")
    (functions / "fccodes" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"junk")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    digest = write_wheel(wheels)
    lock = write_lock(tmp_path / "lock.txt", wheels, [("tinydep", "1.0", digest)])
    return functions, lock, tmp_path / "build" / "fc3"


def build(project, runtime="python3.12", **kw):
    functions, lock, out = project
    return package.build(runtime, out, functions, lock, python=Path(sys.executable), **kw)


def test_the_package_holds_the_code_and_the_locked_dependencies_at_its_root(project):
    functions, _, out = project
    assert build(project) is True
    assert (out / "gen_code.py").read_text() == (functions / "gen_code.py").read_text()
    assert (out / "fccodes" / "__init__.py").is_file()
    # FC puts the code directory on sys.path: dependencies installed at its root import as is.
    assert (out / "tinydep" / "__init__.py").read_text() == "VALUE = 42\n"
    assert not list(out.rglob("__pycache__"))
    stamp = json.loads((out / package.STAMP).read_text())
    assert stamp["runtime"] == "python3.12"
    assert stamp["distributions"] == {"tinydep": "1.0"}
    assert 0 < stamp["bytes"] < 10_000
    assert not list(out.parent.glob(".fc3-*"))  # the scratch directory is gone


def test_an_unchanged_package_is_not_rebuilt_and_a_changed_one_is(project):
    functions, _, out = project
    assert build(project) is True
    assert build(project) is False
    (functions / "gen_code.py").write_text("def handler(event, context):\n    return b'[]'\n")
    assert build(project) is True
    assert "b'[]'" in (out / "gen_code.py").read_text()


def test_a_file_that_does_not_match_its_hash_fails_and_keeps_the_previous_package(
    project, tmp_path
):
    _, lock, out = project
    build(project)
    # Same name and version, other content: what a tampered or re-uploaded file looks like.
    write_wheel(tmp_path / "wheels", payload="VALUE = 666\n")
    lock.write_text(lock.read_text() + "\n")  # a changed lock means a rebuild
    with pytest.raises(package.PackageError, match=r"pip could not install lock\.txt"):
        build(project)
    assert (out / "tinydep" / "__init__.py").read_text() == "VALUE = 42\n"
    assert not list(out.parent.glob(".fc3-*"))


def test_a_distribution_the_lock_does_not_list_fails_the_build(project):
    functions, _, _ = project
    (functions / "stowaway-2.0.dist-info").mkdir()
    with pytest.raises(package.PackageError, match=r"does not list: \['stowaway'\]"):
        build(project)


def test_a_package_over_its_size_budget_fails_the_build(project):
    with pytest.raises(package.PackageError, match="over 100"):
        build(project, budget=100)


def test_pip_installs_exactly_the_lock_by_hash_in_the_runtimes_interpreter(tmp_path):
    cmd = package.pip_command(Path("/py310/bin/python"), tmp_path, Path("lock.txt"), False)
    assert cmd[:4] == ["/py310/bin/python", "-m", "pip", "install"]
    assert {"--require-hashes", "--no-deps", "--no-build-isolation"} <= set(cmd)
    assert cmd[cmd.index("--target") + 1] == str(tmp_path)
    wheels_only = package.pip_command(Path("python"), tmp_path, Path("lock.txt"), True)
    assert "--only-binary=:all:" in wheels_only and "--no-build-isolation" not in wheels_only


def test_unsupported_runtimes_and_missing_code_are_clear_errors(project, tmp_path):
    functions, lock, out = project
    with pytest.raises(package.PackageError, match="Funcraft's python3 needs no package step"):
        package.build("python3", out, functions, lock)
    with pytest.raises(package.PackageError, match=r"gen_code\.py missing"):
        package.build("python3.10", out, tmp_path / "nowhere", lock)


def test_the_real_locks_pin_what_the_runtime_tests_run_and_nothing_more():
    assert package.check_lock("python3.10") == []
    assert package.check_lock("python3.12") == []
    py310 = package.read_lock(package.lock_path("python3.10"))
    # tablestore 5.4.1 needs neither numpy nor aiohttp; enum34 would shadow the stdlib's enum.
    assert {"tablestore", "protobuf", "urllib3"} <= set(py310)
    assert not {"numpy", "aiohttp", "enum34"} & set(py310)
    assert py310["tablestore"][0] == "5.4.1"
    py312 = package.read_lock(package.lock_path("python3.12"))
    # tablestore 6.x imports numpy and aiohttp when the handlers import it: the code needs them.
    assert py312["tablestore"][0] == "6.4.8" and {"numpy", "aiohttp"} <= set(py312)


def test_a_lock_that_drifts_from_the_tested_pins_is_refused(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text(
        package.lock_path("python3.10").read_text().replace("urllib3==2.8.0", "urllib3==2.9.0")
        + f"enum34==1.1.10 --hash=sha256:{'0' * 64}\n"
    )
    assert package.check_lock("python3.10", lock) == [
        "lock python3.10: enum34 would shadow the standard library",
        "lock python3.10: urllib3==2.9.0, but the runtime tests pin urllib3==2.8.0 "
        "(requirements/py310.txt)",
    ]
    (tmp_path / "bad.txt").write_text("tablestore>=5\n")
    assert (
        "not `name==version --hash=sha256:...`"
        in package.check_lock("python3.10", tmp_path / "bad.txt")[0]
    )
