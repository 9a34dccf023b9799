"""Shared bits of the benchmark scripts: timing, loading a reference module, writing results."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def load_solution(topic: str):
    """Import solutions/<topic>.py as the package `solutions` (relative imports between topics work)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"solutions.{topic}")


def best_of(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def save(name: str, rows: list[dict] | None = None, out: Path | None = None, **meta) -> Path:
    """Write benchmarks/results/<name>.json (or `out`): the machine, then `meta`, then `rows`."""
    out = Path(out) if out is not None else RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.processor() or platform.machine(), "platform": platform.platform(),
               "cpu_count": os.cpu_count(), "python": platform.python_version()}
    out.write_text(json.dumps({**machine, **meta, **({"rows": rows} if rows is not None else {})}, indent=2) + "\n")
    return out


def print_table(rows: list[dict]) -> None:
    if not rows:
        return
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(f"{r[k]}") for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(f"{r[k]}".ljust(widths[k]) for k in keys))
