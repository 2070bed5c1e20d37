"""Build the FC 3.0 code package: functions/ plus requirements.txt installed for a runtime.

    python -m tools.package --runtime python3.10 [--out build/fc3]

s.yaml deploys `build/fc3` (each resource's pre-deploy action runs `make package`). The
dependencies are installed with pip's cross-platform options (manylinux x86_64 wheels for the
runtime's CPython), so no Docker is needed, unlike `s build` / `fun install`. Funcraft's
template.yml needs no such step: its only runtime, python3, has tablestore 5.1.0 built in, which
satisfies requirements.txt, so `fun deploy` ships ./functions as is.

The package is rebuilt only when the runtime, requirements.txt or a file under functions/ has
changed; it is written to a scratch directory and moved into place, so parallel pre-deploy
actions never see half a package.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
REQUIREMENTS = ROOT / "requirements.txt"
DEFAULT_OUT = ROOT / "build" / "fc3"
STAMP = ".fc-codes-package.json"

# FC 3.0 Python runtimes this project supports, and the CPython version pip must target.
RUNTIMES = {"python3.9": "3.9", "python3.10": "3.10", "python3.12": "3.12"}
# What never belongs in a code package.
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")


class PackageError(RuntimeError):
    """The package cannot be built (the message says why and what to do)."""


def fingerprint(runtime: str, functions: Path = FUNCTIONS, requirements: Path = REQUIREMENTS):
    """A digest of everything the package is built from."""
    digest = hashlib.sha256()
    digest.update(runtime.encode())
    digest.update(requirements.read_bytes())
    for path in sorted(functions.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(functions)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def pip_command(python_version: str, target: Path, requirements: Path) -> list[str]:
    """The pip invocation that installs `requirements` for FC's Linux x86_64 CPython."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        # Wheels only: they are what lets pip install for another platform than this one.
        "--only-binary=:all:",
        "-r",
        str(requirements),
    ]


def build(
    runtime: str,
    out: Path = DEFAULT_OUT,
    functions: Path = FUNCTIONS,
    requirements: Path = REQUIREMENTS,
) -> bool:
    """Build the package into `out`; returns False when it was already up to date."""
    if runtime not in RUNTIMES:
        raise PackageError(
            f"runtime {runtime!r} is not supported here: use one of {', '.join(RUNTIMES)} "
            "(Funcraft's python3 needs no package step)"
        )
    if not (functions / "gen_code.py").is_file():
        raise PackageError(f"{functions} does not hold the function code (gen_code.py missing)")
    stamp = {"runtime": runtime, "fingerprint": fingerprint(runtime, functions, requirements)}
    try:
        if json.loads((out / STAMP).read_text()) == stamp:
            return False
    except (OSError, ValueError):
        pass
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".fc3-", dir=out.parent))
    try:
        shutil.copytree(functions, scratch, dirs_exist_ok=True, ignore=IGNORED)
        proc = subprocess.run(pip_command(RUNTIMES[runtime], scratch, requirements), check=False)  # noqa: S603
        if proc.returncode != 0:
            raise PackageError(f"pip could not install {requirements.name} for {runtime}")
        (scratch / STAMP).write_text(json.dumps(stamp))
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if out.exists():
            os.replace(out, old)
        os.replace(scratch, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.package", description="Build the FC 3.0 code package."
    )
    parser.add_argument("--runtime", default="python3.10", help="FC 3.0 runtime")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    try:
        built = build(args.runtime, args.out)
    except PackageError as e:
        print(f"package: {e}", file=sys.stderr)
        return 1
    print(f"package: {args.out} {'built' if built else 'up to date'} for {args.runtime}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
