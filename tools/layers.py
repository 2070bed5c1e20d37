"""The layer rule lint-imports cannot see: each FC handler module imports `fccodes.app` only.

lint-imports (`make lint`, contracts in pyproject.toml) checks packages; the four handler
modules in functions/ are top-level modules, outside its reach. Exits 1 naming any other import.
"""

import ast
import sys
from pathlib import Path

from fccodes.api import ALL_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ALL_FUNCTIONS  # the handler modules (workers too): the API's declaration names them
ALLOWED = {"fccodes.app"}


def imports_of(path: Path) -> list[str]:
    """Every module a file imports, as dotted names (`from a import b` counts as `a.b`)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def problems(functions: Path = ROOT / "functions") -> list[str]:
    found = []
    for name in HANDLERS:
        path = functions / f"{name}.py"
        for imported in imports_of(path):
            if imported not in ALLOWED:
                found.append(f"functions/{name}.py imports {imported}: handlers import fccodes.app")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
