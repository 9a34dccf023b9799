"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_SEED = 20261129  # fixed, so CI is reproducible; the grader itself picks a random seed
# one thread per process: xdist runs a worker more than the cores, and each starts kernels and graders of its own
# (with torch's default of a thread per core, 3 workers on 2 cores ran 6+ spinning OpenMP threads)
for _pool in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")
# grading runs of the suite record progress here, not in the user's ~/.mmprep (inherited by every subprocess)
os.environ.setdefault("MMPREP_PROGRESS", os.path.join(tempfile.mkdtemp(prefix="mmprep-test-progress-"), "progress.sqlite"))


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (pyproject's addopts): one worker more than the CPUs this process may use.

    Many tests wait on subprocesses (notebook kernels, sandboxed graders, nbgrader), so one worker more keeps
    every core busy: on 2 cores the suite took 12 min 17 s with 2 workers and 10 min 14 s with 3.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cpus + 1


def run_cli(*args: str, timeout: float = 600, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m autograder ...` as a user would; returns the finished process."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


@pytest.fixture(scope="session")
def cli_device(pytestconfig) -> str:
    """The device the project's tests grade on: pytest's own --device option."""
    from mmprep.device import resolve_device

    return resolve_device(pytestconfig.getoption("device"))
