"""The pytest plugin behind every graded check: options, the `student` fixture, one-line feedback.

Loaded with `-p autograder.plugin` by the grader, and by the project's root conftest, so
`pytest autograder/checks/test_metrics.py --submission solutions --no-sandbox` debugs one topic.
"""

from __future__ import annotations

import secrets
import zlib
from pathlib import Path

import numpy as np
import pytest

from autograder import expect, sandbox
from autograder.student import InProcessStudent, NotImplementedYet, SandboxedStudent, StudentError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# the session's student handle, so the grader can read its isolation level and integrity findings
STUDENT_KEY = pytest.StashKey[object]()


def pytest_addoption(parser):
    group = parser.getgroup("autograder", "grading a submission")
    group.addoption("--submission", default=str(PROJECT_ROOT / "exercises"),
                    help="folder holding <topic>.py files to grade (default: exercises/)")
    group.addoption("--device", default="auto", help="auto|cpu|cuda (auto: CUDA when available)")
    group.addoption("--seed", type=int, default=None, help="grading seed; random when omitted")
    group.addoption("--sandbox", dest="sandbox", action="store_true", default=True,
                    help="run the submission in a worker process (default)")
    group.addoption("--no-sandbox", dest="sandbox", action="store_false",
                    help="import the submission into the test process (debugging)")
    group.addoption("--check-timeout", type=float, default=60.0, help="seconds per check (sandbox only)")
    group.addoption("--memory-mb", type=int, default=0,
                    help="worker memory limit in MiB: a cgroup at the strong level (0: 4096), else RLIMIT_DATA "
                         "(0: none; torch needs >= 1536)")
    group.addoption("--isolation", default="auto", choices=sandbox.CHOICES,
                    help="sandbox level: auto (strongest available), strong (root: namespaces, cgroups), process")
    group.addoption("--tasks", default="", metavar="TOPIC.TASK[,...]",
                    help="run only these tasks' checks (other topics' checks are unaffected)")
    group.addoption("--strict-isolation", action="store_true", default=False,
                    help="refuse to grade below the strong isolation level")


def pytest_configure(config):
    config.addinivalue_line("markers", "task(id, points=1, timeout=None): a graded check for one task")
    if config.getoption("seed", None) is None and hasattr(config.option, "seed"):
        config.option.seed = secrets.randbelow(2**31)


def pytest_collection_modifyitems(config, items):
    """--tasks topic.Task,...: deselect the other checks of those topics."""
    wanted: dict[str, set[str]] = {}
    for item in filter(None, (t.strip() for t in (config.getoption("tasks", "") or "").split(","))):
        topic, _, task = item.partition(".")
        wanted.setdefault(topic, set()).add(task)
    if not wanted:
        return
    keep, drop = [], []
    for item in items:
        topic, task, _ = task_of(item)
        (drop if topic in wanted and task not in wanted[topic] else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    return f"autograder: submission={config.getoption('submission')} seed={config.getoption('seed')} device={config.getoption('device')}"


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def device(pytestconfig) -> str:
    from mmprep.device import resolve_device

    return resolve_device(pytestconfig.getoption("device"))


@pytest.fixture(scope="session")
def grading_seed(pytestconfig) -> int:
    return int(pytestconfig.getoption("seed"))


@pytest.fixture(scope="session")
def _student_session(pytestconfig, device, grading_seed):
    options = pytestconfig.option
    submission = Path(options.submission)
    if not submission.is_dir():
        raise pytest.UsageError(f"--submission {submission} is not a folder")
    if options.sandbox:
        try:
            handle = SandboxedStudent(submission, device=device, seed=grading_seed, timeout=options.check_timeout,
                                      memory_mb=options.memory_mb, isolation=options.isolation, strict=options.strict_isolation)
        except sandbox.IsolationUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None
    else:
        handle = InProcessStudent(submission, device=device, seed=grading_seed, timeout=options.check_timeout)
    pytestconfig.stash[STUDENT_KEY] = handle
    yield handle
    handle.close()


@pytest.fixture
def check_seed(request, grading_seed) -> int:
    """A seed for this check alone: the grading seed mixed with the check's name."""
    return (grading_seed * 1_000_003 + zlib.crc32(request.node.nodeid.encode())) % 2**31


@pytest.fixture
def rng(check_seed) -> np.random.Generator:
    return np.random.default_rng(check_seed)


@pytest.fixture
def student(request, _student_session, check_seed):
    """The submission, reachable only through plain-data calls and trusted probes."""
    marker = request.node.get_closest_marker("task")
    timeout = marker.kwargs.get("timeout") if marker else None
    _student_session.seed = check_seed
    _student_session.begin_check(timeout)
    return _student_session


# ----------------------------------------------------------------------------- feedback
def task_of(item) -> tuple[str, str, float]:
    """(topic, task id, points) of a check; topic from the file name test_<topic>.py."""
    marker = item.get_closest_marker("task")
    topic = Path(item.path).stem.removeprefix("test_")
    if marker is None:
        return topic, "(ungraded)", 0.0
    task = marker.args[0] if marker.args else marker.kwargs["id"]
    return topic, str(task), float(marker.kwargs.get("points", 1))


def one_line(exc: BaseException) -> str:
    """The feedback line for a failed check."""
    if isinstance(exc, NotImplementedYet):
        return "not implemented yet"
    if isinstance(exc, StudentError):
        return exc.summary
    if isinstance(exc, (expect.BadReply, AssertionError, pytest.fail.Exception)):
        text = str(getattr(exc, "msg", None) or exc).strip()
        return text.splitlines()[0] if text else "assertion failed"
    return f"grader error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and not report.failed:
        return
    if report.when == "teardown" and not report.failed:
        return
    topic, task, points = task_of(item)
    feedback = ""
    if call.excinfo is not None and not report.skipped:
        feedback = one_line(call.excinfo.value)
    report.grading = {"topic": topic, "task": task, "points": points, "check": item.name, "feedback": feedback}
    if report.when == "call":  # JUnit XML writes the item's properties with the teardown report
        item.user_properties += [("topic", topic), ("task", task), ("points", points)]
        if feedback:
            item.user_properties.append(("feedback", feedback))
