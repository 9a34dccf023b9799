"""Shared bits of the benchmark scripts: timing, loading a reference module, the BLAS environment, writing results.

Every result file records the BLAS/OpenMP libraries the run used (threadpoolctl: library, version, threading layer,
threads, kernel architecture) and every BLAS-related environment variable. Variables that throttle a current
OpenBLAS (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE: set on some machines for old OpenBLAS builds) are removed for the
benchmark process only, by `run_unthrottled()` re-executing the script without them, and the result file says so.
Tests and CI never do this.
"""

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
# read by OpenBLAS when it loads: they pin an older, slower kernel or cache size
THROTTLING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BLAS_PREFIXES = ("OPENBLAS_", "GOTO", "OMP_", "MKL_", "KMP_", "BLIS_", "VECLIB_", "NVPL_", "FLEXIBLAS")
_UNSET_MARK = "MMPREP_BENCH_UNSET"  # what run_unthrottled removed, handed to the re-executed process


def blas_environment() -> dict[str, str]:
    """The BLAS/OpenMP-related environment variables of this process."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(BLAS_PREFIXES)}


def run_unthrottled() -> None:
    """Re-execute this script without THROTTLING variables (they act only when BLAS loads); no-op when none is set."""
    found = [k for k in THROTTLING if k in os.environ]
    if not found:
        return
    env = {k: v for k, v in os.environ.items() if k not in THROTTLING}
    env[_UNSET_MARK] = ",".join(f"{k}={os.environ[k]}" for k in found)
    print(f"benchmark: unsetting {', '.join(found)} for this run only (they slow a current OpenBLAS)", file=sys.stderr)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def blas_configuration() -> dict:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, the BLAS variables, and what was unset."""
    from threadpoolctl import threadpool_info

    libraries = [{k: info.get(k) for k in ("internal_api", "prefix", "version", "threading_layer", "architecture",
                                          "num_threads")} for info in threadpool_info()]
    variables = blas_environment()
    unset = [item for item in os.environ.get(_UNSET_MARK, "").split(",") if item]
    if variables:
        print(f"warning: BLAS-related environment variables are set for this benchmark: {variables}", file=sys.stderr)
    return {"libraries": libraries, "environment": variables, "unset_for_this_run": unset}


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


def paired_times(first, second, rounds: int = 20, pause: float = 0.05) -> tuple[list[float], list[float]]:
    """Wall times of `first` and `second` run alternately `rounds` times, `pause` seconds before each run.

    On a shared machine the speed drifts by tens of percent over seconds; alternating puts both
    under the same drift (compare them run by run), and the pause lets the other library's idle
    BLAS/OpenMP threads stop spinning before the next run starts.
    """
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for fn, out in zip((first, second), times):
            time.sleep(pause)
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times


def save(name: str, rows: list[dict] | None = None, out: Path | None = None, **meta) -> Path:
    """Write benchmarks/results/<name>.json (or `out`): the machine and its BLAS setup, then `meta`, then `rows`."""
    out = Path(out) if out is not None else RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"machine": platform.processor() or platform.machine(), "platform": platform.platform(),
               "cpu_count": os.cpu_count(), "python": platform.python_version(), "blas": blas_configuration()}
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
