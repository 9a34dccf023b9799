"""Run the graded checks on one submission and gather a per-topic, per-task report."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from autograder import integrity
from autograder import sandbox as sandboxing  # `sandbox` is grade()'s on/off flag
from autograder.sandbox import IsolationUnavailable  # noqa: F401  (re-exported: callers catch it from here)
from autograder.submission import prepare

CHECKS_DIR = Path(__file__).resolve().parent / "checks"
PROJECT_ROOT = CHECKS_DIR.parents[1]
TOPIC_ORDER = ("metrics", "alignment", "fusion", "sentiment", "retrieval", "optimization", "mllm",
               "generation_metrics", "adaptation")


def available_topics() -> list[str]:
    found = {p.stem.removeprefix("test_") for p in CHECKS_DIR.glob("test_*.py")}
    return [t for t in TOPIC_ORDER if t in found] + sorted(found - set(TOPIC_ORDER))


def parse_topics(only: str | None) -> list[str]:
    """`--only metrics,fusion` -> ["metrics", "fusion"]; ValueError naming an unknown topic or a TOPIC.TASK."""
    topics, tasks = parse_selection(only)
    if tasks:
        raise ValueError(f"--only: this command grades whole topics; drop the task from {only!r}")
    return topics


def tasks_of(topic: str) -> list[str]:
    """The graded task ids of a topic, in the order its check file first names them (read, not imported)."""
    tree = ast.parse((CHECKS_DIR / f"test_{topic}.py").read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name) and deco.func.id == "task"
                        and deco.args and isinstance(deco.args[0], ast.Constant) and deco.args[0].value not in found):
                    found.append(deco.args[0].value)
    return found


def parse_selection(only: str | None) -> tuple[list[str], dict[str, set[str]]]:
    """`--only metrics,fusion.TensorFusion` -> (["metrics", "fusion"], {"fusion": {"TensorFusion"}}).

    A bare topic grades all its tasks; TOPIC.TASK grades that task only. ValueError naming an unknown
    topic or task (with the valid names).
    """
    topics = available_topics()
    if not only:
        return topics, {}
    chosen: list[str] = []
    tasks: dict[str, set[str]] = {}
    whole: set[str] = set()
    for item in (t.strip() for t in only.split(",")):
        if not item:
            continue
        topic, _, task = item.partition(".")
        if topic not in topics:
            raise ValueError(f"--only: unknown topic {topic!r}; topics are {', '.join(topics)}")
        if topic not in chosen:
            chosen.append(topic)
        if not task:
            whole.add(topic)
            continue
        known = tasks_of(topic)
        if task not in known:
            raise ValueError(f"--only: {topic} has no task {task!r}; its tasks are {', '.join(known)}")
        tasks.setdefault(topic, set()).add(task)
    for topic in whole:
        tasks.pop(topic, None)
    return chosen, tasks


@dataclass
class CheckResult:
    topic: str
    task: str
    check: str
    points: float
    passed: bool
    feedback: str
    seconds: float


@dataclass
class Report:
    submission: str
    seed: int
    device: str
    isolation: str
    topics: list[str]
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # what looks wrong about the submission, for the instructor: tampered files, patched libraries,
    # attempts to read outside the sandbox (see autograder.integrity); never changes the score
    integrity: list[str] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(c.points for c in self.checks if c.passed)

    @property
    def possible(self) -> float:
        return sum(c.points for c in self.checks)

    def tasks(self, topic: str) -> list[tuple[str, list[CheckResult]]]:
        """The checks of one topic grouped by task, in the order the check file lists them."""
        grouped: dict[str, list[CheckResult]] = {}
        for c in self.checks:
            if c.topic == topic:
                grouped.setdefault(c.task, []).append(c)
        return list(grouped.items())

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "checks"}
        out.update(earned=self.earned, possible=self.possible, topics={})
        for topic in self.topics:
            out["topics"][topic] = {
                task: {
                    "earned": sum(c.points for c in cs if c.passed),
                    "possible": sum(c.points for c in cs),
                    "checks": [asdict(c) for c in cs],
                }
                for task, cs in self.tasks(topic)
            }
        return out


class _Collector:
    """A pytest plugin object that records one CheckResult per graded check."""

    def __init__(self):
        self.by_node: dict[str, CheckResult] = {}
        self.problems: list[str] = []
        self.config = None

    def pytest_configure(self, config):
        self.config = config
        # feedback is our one line per check: pytest's source-annotated tracebacks would cost seconds
        config.option.tbstyle = "no"

    def student(self):
        from autograder.plugin import STUDENT_KEY

        return None if self.config is None else self.config.stash.get(STUDENT_KEY, None)

    def pytest_runtest_logreport(self, report):
        info = getattr(report, "grading", None)
        if info is None or report.skipped:
            return
        result = CheckResult(info["topic"], info["task"], info["check"], info["points"],
                             report.passed and report.when == "call", info["feedback"], round(report.duration, 3))
        previous = self.by_node.get(report.nodeid)
        if previous is None or (previous.passed and not result.passed):
            self.by_node[report.nodeid] = result

    def pytest_collectreport(self, report):
        if report.failed:
            self.problems.append(f"could not collect {report.nodeid}: {str(report.longrepr).splitlines()[-1]}")


def check_arguments(topics: list[str], submission: Path, *, seed: int, device: str, sandbox: bool = False,
                    isolation: str = "auto") -> list[str]:
    """pytest's command line for the graded checks of `topics` on the submission folder `submission`.

    Run it as `pytest.main(args, plugins=check_plugins(...))`: the grader's plugin goes in as a module object, not
    `-p autograder.plugin`, which would scan every package's entry points for that name (~25 ms a run).
    """
    return [
        *(str(CHECKS_DIR / f"test_{t}.py") for t in topics),
        "-c", str(CHECKS_DIR / "grading.ini"), "--rootdir", str(CHECKS_DIR),
        # only the grader's plugin: an installed one (xdist's addopts, randomly's reordering, benchmark) has no say
        # in grading, and scanning every package's entry points cost ~0.1 s per in-process grading run
        "--disable-plugin-autoload",
        "-p", "no:cacheprovider",
        # its session-end gc.collect() x5 costs ~1 s in a process holding torch: repeated in-process grading
        # (the mutant catalogue, nbgrader's cells) paid it every time; it only reports exceptions raised in __del__
        "-p", "no:unraisableexception",
        "--submission", str(submission), "--device", device, "--seed", str(seed),
        "--sandbox" if sandbox else "--no-sandbox", "--isolation", isolation,
    ]


def check_plugins(*extra: object) -> list[object]:
    """The plugins of a grading run (see check_arguments): the grader's own, then `extra`."""
    from autograder import plugin

    return [plugin, *extra]


def grade(
    submission: Path,
    topics: list[str] | None = None,
    *,
    device: str = "auto",
    seed: int | None = None,
    sandbox: bool = True,
    timeout: float = 60.0,
    memory_mb: int = 0,
    junit: Path | None = None,
    isolation: str = "auto",
    strict: bool = False,
    tasks: dict[str, set[str]] | None = None,
    first_failure: bool = False,
) -> Report:
    """Grade `submission` (folder, zip, .py or .ipynb) on `topics`; never raises for learner code.

    isolation: "auto" (the strongest level this machine offers), "strong" or "process" (see
    autograder.sandbox); strict=True refuses to grade below the strong level. Both raise
    IsolationUnavailable before anything runs when the level cannot be had.
    tasks: {topic: {task, ...}} grades only those tasks of those topics (others of the topic are not run).
    first_failure=True stops at the first failing check (the mutant catalogue needs no more than that).
    """
    from mmprep.device import resolve_device

    topics = topics or available_topics()
    device = resolve_device(device)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    if sandbox:
        sandboxing.choose(isolation, strict)  # fail before any work when the level cannot be had
    elif strict:
        raise IsolationUnavailable("strict grading needs the sandbox: drop --no-sandbox")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        folder = prepare(Path(submission), Path(tmp), topics)
        findings = integrity.scan_submission(Path(submission), folder, PROJECT_ROOT)
        collector = _Collector()
        args = [
            *check_arguments(topics, folder, seed=seed, device=device, sandbox=sandbox, isolation=isolation),
            "-p", "no:terminal", "--check-timeout", str(timeout), "--memory-mb", str(memory_mb),
        ]
        if strict:
            args.append("--strict-isolation")
        selected = [f"{topic}.{task}" for topic, names in sorted((tasks or {}).items()) for task in sorted(names)]
        if selected:
            args += ["--tasks", ",".join(selected)]
        if first_failure:
            args.append("--exitfirst")
        if junit is not None:
            args += ["--junitxml", str(Path(junit).resolve())]
        # pytest's own terminal output is replaced by our report; keep the grader's stdout clean
        with contextlib.redirect_stdout(io.StringIO()), _quiet_fd(1):
            code = pytest.main(args, plugins=check_plugins(collector))
    handle = collector.student()
    if handle is not None:
        level = handle.isolation
        findings += [f for f in handle.integrity if f not in findings]
    elif sandbox:
        level = sandboxing.choose(isolation, strict).describe()
    else:
        level = sandboxing.describe(sandboxing.NONE)
    report = Report(str(submission), seed, device, level, topics, list(collector.by_node.values()),
                    collector.problems, round(time.monotonic() - started, 2), integrity=findings)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        report.problems.append(f"pytest exited with {pytest.ExitCode(code).name}")
    return report


@contextlib.contextmanager
def _quiet_fd(fd: int):
    """Send a file descriptor to /dev/null for the block (in-process learner prints land there)."""
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
