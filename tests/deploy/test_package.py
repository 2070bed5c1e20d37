"""tools.package: the FC 3.0 code package (functions/ + requirements for the target runtime).

pip really runs, offline: the requirements file points pip at a local wheel (`--no-index
--find-links`), so the cross-platform install path is the one `make package` uses.
"""

import json
import zipfile

import pytest

from tools import package

# Each test runs pip into a scratch package: seconds apiece.
pytestmark = pytest.mark.slow


def write_wheel(directory, name="tinydep", version="1.0"):
    """A minimal pure-Python wheel, enough for pip to install."""
    dist = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(f"{name}/__init__.py", "VALUE = 42\n")
        whl.writestr(
            f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        whl.writestr(
            f"{dist}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{dist}/RECORD", "")
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
    write_wheel(wheels)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"--no-index\n--find-links {wheels}\ntinydep==1.0\n")
    return functions, requirements, tmp_path / "build" / "fc3"


def test_the_package_holds_the_code_and_the_runtimes_dependencies_at_its_root(project):
    functions, requirements, out = project
    assert package.build("python3.12", out, functions, requirements) is True
    assert (out / "gen_code.py").read_text() == (functions / "gen_code.py").read_text()
    assert (out / "fccodes" / "__init__.py").is_file()
    # FC puts the code directory on sys.path: dependencies installed at its root import as is.
    assert (out / "tinydep" / "__init__.py").read_text() == "VALUE = 42\n"
    assert not list(out.rglob("__pycache__"))
    assert json.loads((out / package.STAMP).read_text())["runtime"] == "python3.12"
    assert not list(out.parent.glob(".fc3-*"))  # the scratch directory is gone


def test_an_unchanged_package_is_not_rebuilt_and_a_changed_one_is(project):
    functions, requirements, out = project
    assert package.build("python3.10", out, functions, requirements) is True
    assert package.build("python3.10", out, functions, requirements) is False
    (functions / "gen_code.py").write_text("def handler(event, context):\n    return b'[]'\n")
    assert package.build("python3.10", out, functions, requirements) is True
    assert "b'[]'" in (out / "gen_code.py").read_text()
    assert package.build("python3.12", out, functions, requirements) is True  # runtime changed


def test_pip_targets_fc_linux_cpython_of_the_runtime():
    cmd = package.pip_command("3.12", package.DEFAULT_OUT, package.REQUIREMENTS)
    joined = " ".join(cmd)
    assert "--platform manylinux2014_x86_64" in joined
    assert "--python-version 3.12" in joined and "--implementation cp" in joined
    assert "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--target") + 1] == str(package.DEFAULT_OUT)


def test_unsupported_runtimes_and_missing_code_are_clear_errors(project, tmp_path):
    functions, requirements, out = project
    with pytest.raises(package.PackageError, match="Funcraft's python3 needs no package step"):
        package.build("python3", out, functions, requirements)
    with pytest.raises(package.PackageError, match=r"gen_code\.py missing"):
        package.build("python3.10", out, tmp_path / "nowhere", requirements)


def test_a_failed_install_keeps_the_previous_package(project):
    functions, requirements, out = project
    package.build("python3.10", out, functions, requirements)
    requirements.write_text(requirements.read_text().replace("tinydep==1.0", "tinydep==9.9"))
    with pytest.raises(package.PackageError, match=r"pip could not install requirements\.txt"):
        package.build("python3.10", out, functions, requirements)
    assert (out / "tinydep" / "__init__.py").is_file()
    assert not list(out.parent.glob(".fc3-*"))
