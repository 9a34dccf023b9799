"""Grade a folder of submissions in parallel into an SQLite results store.

`python -m autograder batch SUBMISSIONS_DIR [--jobs N] [--store grades/results.sqlite]`

* Each entry of SUBMISSIONS_DIR is one student: a folder, a .zip, or a single .py / .ipynb file
  (a single file is graded as the one topic given with --only, unless it is named <topic>.py).
  The student id is the entry's name without its suffix.
* Each submission is graded by its own `python -m autograder SUBMISSION --json ...` child
  process: a submission that crashes, hangs or exhausts the grader itself costs only its own
  row (status "error"), never the batch.
* Results are committed to SQLite (WAL) by the main process the moment each child finishes, so a
  batch killed half-way keeps everything already graded; a rerun skips every student whose
  submission bytes and topics are unchanged (--regrade to grade again, --retry-errors to retry
  the ones that could not be graded).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grading import Report
from autograder.results_store import ERROR, GRADED, ResultsStore, report_from_dict

SUBMISSION_SUFFIXES = (".zip", ".py", ".ipynb")
SKIPPED_NAMES = {"__pycache__", ".ipynb_checkpoints", "__MACOSX", ".git", ".DS_Store"}
PROJECT_ROOT = Path(__file__).resolve().parents[1]


class BatchError(ValueError):
    """The batch itself cannot run (no such folder, nothing to grade, a bad option)."""


@dataclass
class Submission:
    student: str
    path: Path
    sha256: str = ""


@dataclass
class Outcome:
    student: str
    status: str            # "graded", "error" or "skipped"
    earned: float = 0.0
    possible: float = 0.0
    error: str = ""
    seconds: float = 0.0


@dataclass
class BatchSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def line(self) -> str:
        return (f"{self.count(GRADED)} graded, {self.count(ERROR)} could not be graded, "
                f"{self.count('skipped')} already in the store, in {self.seconds:.1f} s")


# ----------------------------------------------------------------------------- finding submissions
def find_submissions(folder: Path) -> list[Submission]:
    """Every student entry of `folder`, sorted by student id; BatchError when there is none.

    Two entries with the same stem (alice.zip and alice/) keep their full names as ids.
    """
    folder = Path(folder).resolve()  # children grade from their own working folder
    if not folder.is_dir():
        raise BatchError(f"submissions folder {folder} does not exist or is not a folder")
    entries = [
        p for p in sorted(folder.iterdir())
        if p.name not in SKIPPED_NAMES and not p.name.startswith(".")
        and (p.is_dir() or p.suffix in SUBMISSION_SUFFIXES) and not p.is_symlink()
    ]
    stems: dict[str, int] = {}
    for p in entries:
        stems[p.stem if p.is_file() else p.name] = stems.get(p.stem if p.is_file() else p.name, 0) + 1
    subs = []
    for p in entries:
        stem = p.stem if p.is_file() else p.name
        subs.append(Submission(stem if stems[stem] == 1 else p.name, p))
    if not subs:
        raise BatchError(f"no submissions in {folder}: expected folders, .zip, .py or .ipynb files")
    return subs


def fingerprint(path: Path, limit_files: int = 5000) -> str:
    """sha256 of a file's bytes, or of a folder's relative paths and file bytes (caches skipped)."""
    digest = hashlib.sha256()
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not p.is_symlink() and not (set(p.parts) & SKIPPED_NAMES)
    )[:limit_files]
    for f in files:
        digest.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def stage_single_file(sub: Submission, topics: list[str], workdir: Path) -> Path:
    """What to hand the grader: a single file not named after a topic becomes <topic>.py/.ipynb."""
    path = sub.path
    if path.is_dir() or path.suffix == ".zip" or path.stem in topics:
        return path
    if len(topics) != 1:
        raise BatchError(f"{path.name} is a single file: grade it with --only TOPIC (one topic), "
                         f"or name it <topic>{path.suffix}")
    staged = workdir / f"{topics[0]}{path.suffix}"
    shutil.copy2(path, staged)
    return staged


# ----------------------------------------------------------------------------- grading one submission
@dataclass
class GradeOptions:
    topics: list[str]
    seed: int
    device: str = "auto"
    timeout: float = 60.0                 # per check
    submission_timeout: float = 1800.0    # the whole child process, a last resort
    extra_args: list[str] = field(default_factory=list)  # passed through to `python -m autograder`


def grade_in_child(path: Path, options: GradeOptions) -> Report:
    """Grade one submission in a `python -m autograder` child process; raise RuntimeError when it cannot."""
    with tempfile.TemporaryDirectory(prefix="batch-") as tmp:
        out = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "autograder", str(path), "--only", ",".join(options.topics),
               "--seed", str(options.seed), "--device", options.device, "--timeout", str(options.timeout),
               "--json", str(out), "--quiet", *options.extra_args]
        # same process group as the batch: Ctrl-C, or killing the batch's group, stops the children too
        proc = subprocess.Popen(cmd, cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": _pythonpath()})
        _LIVE.add(proc)
        try:
            _, stderr = proc.communicate(timeout=options.submission_timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise RuntimeError(f"grading took longer than {options.submission_timeout:g} s and was stopped") from None
        finally:
            _LIVE.discard(proc)
        if out.exists() and proc.returncode == 0:
            try:
                return report_from_dict(json.loads(out.read_text()))
            except (ValueError, TypeError, KeyError) as exc:
                raise RuntimeError(f"the grader wrote an unreadable report ({exc})") from None
        last = [ln for ln in (stderr or "").strip().splitlines() if ln.strip()]
        why = last[-1] if last else f"the grader exited with status {proc.returncode}"
        raise RuntimeError(why.removeprefix("error: ")[:500])


def _pythonpath() -> str:
    # the child must import this checkout's autograder even when the batch runs from another folder
    parts = [str(PROJECT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.pathsep.join(dict.fromkeys(parts))


_LIVE: set[subprocess.Popen] = set()  # grader children still running, stopped if the batch is interrupted


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------- the batch
def run_batch(
    folder: Path,
    store: ResultsStore,
    options: GradeOptions,
    *,
    jobs: int = 1,
    regrade: bool = False,
    retry_errors: bool = False,
    progress: bool = True,
    grader: Callable[[Path, GradeOptions], Report] = grade_in_child,
) -> BatchSummary:
    """Grade every submission of `folder` not yet in `store`; commit each result as it lands."""
    if jobs < 1:
        raise BatchError(f"--jobs must be at least 1, got {jobs}")
    started = time.monotonic()
    summary = BatchSummary()
    todo: list[Submission] = []
    for sub in find_submissions(folder):
        sub.sha256 = fingerprint(sub.path)
        done = store.status(sub.student, options.topics, sub.sha256)
        if done == GRADED and not regrade or done == ERROR and not (regrade or retry_errors):
            summary.outcomes.append(Outcome(sub.student, "skipped"))
        else:
            todo.append(sub)

    def job(sub: Submission) -> Report:
        with tempfile.TemporaryDirectory(prefix="stage-") as tmp:
            return grader(stage_single_file(sub, options.topics, Path(tmp)), options)

    bar = _progress_bar(len(todo), progress)
    pool = ThreadPoolExecutor(max_workers=jobs)  # threads only wait on child processes
    try:
        pending: dict[Future, tuple[Submission, float]] = {}
        queue: Iterable[Submission] = iter(todo)
        for sub in queue:  # keep at most `jobs` running, so a killed batch leaves little half-done
            pending[pool.submit(job, sub)] = (sub, time.monotonic())
            if len(pending) >= jobs:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                sub, t0 = pending.pop(fut)
                summary.outcomes.append(_commit(store, sub, fut, options, time.monotonic() - t0))
                bar.update(1)
                bar.set_postfix_str(sub.student)
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(job, nxt)] = (nxt, time.monotonic())
    except BaseException:  # KeyboardInterrupt: what was committed stays; running children are stopped
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_LIVE):
            _stop(proc)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    summary.seconds = round(time.monotonic() - started, 2)
    return summary


def _commit(store: ResultsStore, sub: Submission, fut: Future, options: GradeOptions, seconds: float) -> Outcome:
    try:
        report = fut.result()
    except Exception as exc:  # anything at all about one submission stays that submission's problem
        error = str(exc) or type(exc).__name__
        store.record_error(sub.student, str(sub.path), sub.sha256, options.topics, error)
        return Outcome(sub.student, ERROR, error=error, seconds=seconds)
    if not report.checks:
        error = "; ".join(report.problems) or "no check ran"
        store.record_error(sub.student, str(sub.path), sub.sha256, options.topics, error)
        return Outcome(sub.student, ERROR, error=error, seconds=seconds)
    report.submission = sub.path.name  # what the student handed in, not the grader's staging path
    store.record_report(sub.student, str(sub.path), sub.sha256, report)
    return Outcome(sub.student, GRADED, report.earned, report.possible, seconds=seconds)


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="submission", desc="grading", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)


def new_seed() -> int:
    return secrets.randbelow(2**31)
