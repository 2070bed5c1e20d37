"""Plain-text tables and JSON result files for `make bench` and `make chaos`."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".local" / "bench"  # git-ignored


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A fixed-width table: text columns left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        all(_looks_numeric(row[i]) for row in cells[1:] if row[i]) for i in range(len(headers))
    ]

    def line(row: list[str]) -> str:
        parts = [
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(cells[0]))
    return "\n".join([title, rule, line(cells[0]), rule, *(line(r) for r in cells[1:]), rule])


_NUMBER = re.compile(r"^[<>=~+-]*\d[\d.,]*\s*(x|s|ms|MiB|%)?\*?$")


def _looks_numeric(text: str) -> bool:
    return bool(_NUMBER.match(text))


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "load_average": [round(x, 2) for x in load] if load else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def describe(info: dict[str, Any]) -> str:
    load = info.get("load_average")
    return "%s, %s cores, %s, load average %s at start" % (
        info["cpu"],
        info["cores"],
        info["os"],
        "/".join(str(x) for x in load) if load else "unknown",
    )


def save(kind: str, data: dict[str, Any]) -> Path:
    """Write `data` as .local/bench/<kind>-<time>.json and <kind>-latest.json; the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    path = RESULTS / f"{kind}-{stamp}.json"
    path.write_text(text, encoding="utf-8")
    (RESULTS / f"{kind}-latest.json").write_text(text, encoding="utf-8")
    return path


def shown(path: Path) -> Path:
    """`path` relative to the repository when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of another process so far (Linux /proc), None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
