"""Build the FC 3.0 code package from a lock: functions/ plus the exact dependencies, by hash.

    python -m tools.package --runtime python3.10 [--out build/fc3]
    python -m tools.package --lock python3.10     # re-pin requirements/fc/python3.10.txt

s.yaml deploys `build/fc3` (each function's pre-deploy action runs `make package`).

The lock, requirements/fc/<runtime>.txt, pins `tablestore` and everything it depends on at the
versions the runtime tests run (`make test` on that runtime's venv: requirements/py310.txt for
python3.10, requirements/dev.txt for python3.12), one sha256 each; `--lock` derives it from that
venv's installed metadata, so the package holds what the tests tested and nothing else (no numpy
or aiohttp on python3.10, where tablestore 5.4.1 needs neither). pip installs it with
`--require-hashes --no-deps`: a changed file or an unlisted dependency fails the build.

pip runs in the runtime's own interpreter (.venv-py310 for python3.10; .venv for python3.12),
on Linux x86_64 like FC, so it picks the wheels FC's CPython loads; tablestore 5.4.1 exists only
as a pure-Python source archive and is built without build isolation (nothing unhashed is
downloaded). Funcraft's template.yml needs no package: its python3 runtime has tablestore 5.1.0
built in and `fun deploy` ships ./functions as is.

After building, `inspect` lists the package's top-level contents and size; the build fails if a
package the lock does not list is present or the package exceeds SIZE_BUDGET. It is rebuilt only
when the runtime, the lock or a file under functions/ changed, in a scratch directory moved into
place, so parallel pre-deploy actions never see half a package.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
LOCKS = ROOT / "requirements" / "fc"
DEFAULT_OUT = ROOT / "build" / "fc3"
STAMP = ".fc-codes-package.json"

# FC 3.0 runtime -> (the venv whose tests pin it, its pinned requirements).
RUNTIMES = {
    "python3.10": (ROOT / ".venv-py310", ROOT / "requirements" / "py310.txt"),
    "python3.12": (ROOT / ".venv", ROOT / "requirements" / "dev.txt"),
}
# The biggest package we accept per runtime (bytes on disk, unzipped): 3.12's tablestore 6.x
# brings numpy and aiohttp, 3.10's tablestore 5.4.1 does not.
SIZE_BUDGET = {"python3.10": 8 * 1024 * 1024, "python3.12": 100 * 1024 * 1024}
# Back-ports of standard modules that tablestore 5.x still requires: installed at the package's
# root they would shadow the standard library (FC puts the code first on sys.path); in the test
# venvs they sit in site-packages behind it, so leaving them out is what the tests ran.
STDLIB_BACKPORTS = {"enum34"}
# What never belongs in a code package (`bin`: console scripts of `future`).
DROPPED_AFTER_INSTALL = ("bin",)
# What never belongs in a code package.
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache")
LOCK_LINE_RE = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})$")


class PackageError(RuntimeError):
    """The package cannot be built (the message says why and what to do)."""


def norm(name: str) -> str:
    """A distribution name as pip compares them (`typing_extensions` = `typing-extensions`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path(runtime: str) -> Path:
    return LOCKS / f"{runtime}.txt"


def read_lock(path: Path) -> dict[str, tuple[str, str]]:
    """{normalized name: (version, sha256)} of a lock file. Raises PackageError if malformed."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    entries = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "--")):  # comments, pip options (--no-index...)
            continue
        m = LOCK_LINE_RE.match(line)
        if not m:
            raise PackageError(f"{path.name}: not `name==version --hash=sha256:...`: {line!r}")
        entries[norm(m.group(1))] = (m.group(2), m.group(3))
    return entries


def read_pins(path: Path) -> dict[str, str]:
    """{normalized name: version} of a plain `name==version` requirements file."""
    pins = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[norm(name)] = version.strip()
    return pins


# Runs in the runtime's interpreter: tablestore and everything it requires there, by metadata.
_CLOSURE = """
import json, re
from importlib import metadata
from packaging.markers import Marker
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
todo, seen = ["tablestore"], {}
while todo:
    name = todo.pop()
    if norm(name) in seen:
        continue
    dist = metadata.distribution(name)
    seen[norm(name)] = dist.version
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if marker and not Marker(marker).evaluate({"extra": ""}):
            continue
        todo.append(re.split(r"[\\s<>=!~\\[(]", spec.strip())[0])
print(json.dumps(seen))
"""


def runtime_python(runtime: str) -> Path:
    venv, _ = RUNTIMES[runtime]
    python = venv / "bin" / "python"
    if not python.exists():
        raise PackageError(f"{python} is missing: run `make {venv.name}/.stamp` (or make test)")
    return python


def tested_closure(runtime: str) -> dict[str, str]:
    """{name: version} of tablestore and its dependencies as the runtime's tests install them."""
    proc = subprocess.run(  # noqa: S603 (our venv, our script)
        [str(runtime_python(runtime)), "-c", _CLOSURE],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        raise PackageError(f"cannot read {runtime}'s installed metadata: {proc.stderr[-300:]}")
    return dict(json.loads(proc.stdout))


def check_lock(
    runtime: str, lock_file: Path | None = None, pinned: Path | None = None
) -> list[str]:
    """Every locked version is the one the runtime tests pin; no back-port of the stdlib."""
    problems = []
    pinned_file = pinned or RUNTIMES[runtime][1]
    try:
        lock = read_lock(lock_file or lock_path(runtime))
    except (OSError, PackageError) as e:
        return [f"lock {runtime}: {e}"]
    tested = read_pins(pinned_file)
    for name in sorted(STDLIB_BACKPORTS & set(lock)):
        problems.append(f"lock {runtime}: {name} would shadow the standard library")
    for name, (version, _) in sorted(lock.items()):
        if tested.get(name) != version:
            problems.append(
                f"lock {runtime}: {name}=={version}, but the runtime tests pin "
                f"{name}=={tested.get(name)} (requirements/{pinned_file.name})"
            )
    if "tablestore" not in lock:
        problems.append(f"lock {runtime}: no tablestore")
    return problems


def write_lock(runtime: str) -> Path:
    """Pin the runtime tests' tablestore closure with the sha256 of the file pip picks there."""
    closure = {n: v for n, v in tested_closure(runtime).items() if n not in STDLIB_BACKPORTS}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(runtime_python(runtime)), "-m", "pip", "download", "--quiet", "--no-deps",
               "--disable-pip-version-check", "-d", tmp]  # fmt: skip
        cmd += [f"{name}=={version}" for name, version in sorted(closure.items())]
        if subprocess.run(cmd, check=False).returncode != 0:  # noqa: S603
            raise PackageError("pip download failed")
        files = {norm(re.split(r"-\d", p.name, maxsplit=1)[0]): p for p in Path(tmp).iterdir()}
        lines = [
            f"# FC code package for {runtime}: tablestore and what it requires there, at the",
            "# versions the runtime tests run, one sha256 each",
            "# (python -m tools.package --lock).",
            f"# Left out: {', '.join(sorted(STDLIB_BACKPORTS))} (would shadow the stdlib).",
        ]
        for name, version in sorted(closure.items()):
            digest = hashlib.sha256(files[name].read_bytes()).hexdigest()
            lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}")
    path = lock_path(runtime)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fingerprint(runtime: str, functions: Path = FUNCTIONS, lock: Path | None = None) -> str:
    """A digest of everything the package is built from."""
    digest = hashlib.sha256()
    digest.update(runtime.encode())
    digest.update((lock or lock_path(runtime)).read_bytes())
    for path in sorted(functions.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(functions)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def pip_command(python: Path, target: Path, lock: Path, binary_only: bool) -> list[str]:
    """pip, in the runtime's interpreter, installing exactly the lock's files at the root."""
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-compile", "--no-deps", "--require-hashes", "--target", str(target)]  # fmt: skip
    # Wheels only where every locked package has one; a source archive (tablestore 5.4.1) is
    # built with the venv's own setuptools, so nothing unhashed is fetched to build it.
    cmd += ["--only-binary=:all:"] if binary_only else ["--no-build-isolation"]
    return [*cmd, "-r", str(lock)]


def inspect(out: Path, lock: dict[str, tuple[str, str]]) -> dict[str, object]:
    """The package's size and the distributions in it; raises PackageError on one not locked."""
    dists = {}
    for info in [*out.glob("*.dist-info"), *out.glob("*.egg-info")]:
        # name-version.dist-info, or name-version-pyX.Y.egg-info (built from a source archive)
        stem = info.name.rsplit(".", 1)[0]
        stem = re.sub(r"-py\d+\.\d+$", "", stem)
        name, _, version = stem.rpartition("-")
        dists[norm(name)] = version
    extra = sorted(set(dists) - set(lock))
    if extra:
        raise PackageError(f"the package holds distributions the lock does not list: {extra}")
    wrong = sorted(n for n, v in dists.items() if lock[n][0] != v)
    if wrong:
        raise PackageError(f"installed versions differ from the lock: {wrong}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"bytes": size, "distributions": dists}


def build(
    runtime: str,
    out: Path = DEFAULT_OUT,
    functions: Path = FUNCTIONS,
    lock: Path | None = None,
    python: Path | None = None,
    budget: int | None = None,
) -> bool:
    """Build the package into `out`; returns False when it was already up to date.

    `python` (default: the runtime's venv) runs pip; `budget` (default SIZE_BUDGET) caps the
    package's size in bytes."""
    if runtime not in RUNTIMES:
        raise PackageError(
            f"runtime {runtime!r} is not supported here: use one of {', '.join(RUNTIMES)} "
            "(Funcraft's python3 needs no package step)"
        )
    if not (functions / "gen_code.py").is_file():
        raise PackageError(f"{functions} does not hold the function code (gen_code.py missing)")
    if python is None and (sys.platform != "linux" or platform.machine() != "x86_64"):
        raise PackageError("build the package on Linux x86_64 (FC's platform) or in CI")
    lock = lock or lock_path(runtime)
    locked = read_lock(lock)
    stamp = {"runtime": runtime, "fingerprint": fingerprint(runtime, functions, lock)}
    try:
        if json.loads((out / STAMP).read_text())["fingerprint"] == stamp["fingerprint"]:
            return False
    except (OSError, ValueError, KeyError):
        pass
    python = python or runtime_python(runtime)
    binary_only = runtime != "python3.10"
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".fc3-", dir=out.parent))
    try:
        shutil.copytree(functions, scratch, dirs_exist_ok=True, ignore=IGNORED)
        cmd = pip_command(python, scratch, lock, binary_only)
        if subprocess.run(cmd, check=False).returncode != 0:  # noqa: S603
            raise PackageError(f"pip could not install {lock.name} for {runtime}")
        for junk in [*scratch.rglob("__pycache__"), *(scratch / d for d in DROPPED_AFTER_INSTALL)]:
            shutil.rmtree(junk, ignore_errors=True)
        report = inspect(scratch, locked)
        budget = SIZE_BUDGET[runtime] if budget is None else budget
        if int(str(report["bytes"])) > budget:
            raise PackageError(f"the package is {report['bytes']} bytes, over {budget}")
        (scratch / STAMP).write_text(json.dumps(dict(stamp, **report), sort_keys=True))
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
        prog="python -m tools.package", description="Build the FC 3.0 code package from a lock."
    )
    parser.add_argument("--runtime", default="python3.10", help="FC 3.0 runtime")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--lock", metavar="RUNTIME", help="re-pin that runtime's lock and exit")
    args = parser.parse_args(argv)
    try:
        if args.lock:
            print(f"package: wrote {write_lock(args.lock).relative_to(ROOT)}")
            return 0
        built = build(args.runtime, args.out)
    except PackageError as e:
        print(f"package: {e}", file=sys.stderr)
        return 1
    report = json.loads((args.out / STAMP).read_text())
    print(
        f"package: {args.out} {'built' if built else 'up to date'} for {args.runtime}: "
        f"{report['bytes'] / 1024 / 1024:.1f} MiB, {len(report['distributions'])} distributions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
