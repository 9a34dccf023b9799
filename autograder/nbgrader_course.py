"""Build an nbgrader course folder from solutions/, and the helper its locked test cells call.

`python -m autograder nbgrader course COURSE_DIR` writes

    COURSE_DIR/nbgrader_config.py          SQLite gradebook COURSE_DIR/gradebook.db
    COURSE_DIR/source/<topic>/<topic>.ipynb one assignment per topic

Each source notebook: a markdown introduction; one autograded-answer cell (nbgrader schema 3,
solution=true) holding solutions/<topic>.py with its `### BEGIN SOLUTION` blocks, which
`nbgrader generate_assignment` turns into stubs; then one locked autograder-test cell per task
(grade=true, points = the task's points) that runs that task's graded checks in the kernel:
`run_task_in_kernel(globals(), "<topic>", "<task>")`.

Those test cells run in the same kernel as the student's code, so a student can rewrite the
grader before it runs (tests/test_nbgrader.py shows one getting full marks). For scores no
submission can forge, grade nbgrader's submitted/ notebooks with this sandbox instead:
`python -m autograder nbgrader grade COURSE_DIR <topic>` (autograder.nbgrader_grade).
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import secrets
import sys
import tempfile
import types
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.grading import check_arguments, check_plugins
from autograder.stubgen import SOLUTIONS

if TYPE_CHECKING:
    import nbformat

SCHEMA_VERSION = 3
SOLUTION_CELL_ID = "{topic}_solution"
SETUP_CELL_ID = "{topic}_setup"
TEST_CELL_ID = "test_{task}"
RELATIVE_IMPORT = re.compile(r"^from \.(\w+) import (.+)$", re.MULTILINE)
KERNEL_MODULE = "_autograder_kernel_{topic}"

CONFIG_TEMPLATE = '''\
# nbgrader configuration written by `python -m autograder nbgrader course`.
import os

c = get_config()  # noqa: F821  (provided by nbgrader)
_here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = _here
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")
# seconds per cell when `nbgrader autograde` executes a notebook (a hanging submission loses the cell)
c.Execute.timeout = {cell_timeout}
c.Execute.interrupt_on_timeout = True
# a busy machine can be slow to deliver a cell's output; do not fail the whole notebook for it
c.Execute.iopub_timeout = 120
'''


# ----------------------------------------------------------------------------- what each task is worth
class _TaskRecorder:
    def __init__(self):
        self.points: dict[str, float] = {}

    def pytest_collection_modifyitems(self, items):
        from autograder.plugin import task_of

        for item in items:
            _, task, points = task_of(item)
            self.points[task] = self.points.get(task, 0.0) + points


def task_points(topic: str) -> dict[str, float]:
    """{task: points} for a topic, in the order its check file lists them (collected, not run)."""
    import pytest

    recorder = _TaskRecorder()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = pytest.main(_pytest_args(topic, Path(tempfile.gettempdir()), seed=0) + ["--collect-only", "-q"],
                           plugins=check_plugins(recorder))
    if code != 0 or not recorder.points:
        raise ValueError(f"topic {topic!r}: could not collect its checks (pytest exit {int(code)})")
    return recorder.points


def _pytest_args(topic: str, submission: Path, seed: int, device: str = "cpu") -> list[str]:
    return check_arguments([topic], submission, seed=seed, device=device)


# ----------------------------------------------------------------------------- notebooks
def _task_descriptions(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            doc = (ast.get_docstring(node) or "").strip()
            out[node.name] = doc.splitlines()[0].rstrip(".") if doc else ""
    return out


def notebook_source(source: str) -> str:
    """The solution module as a notebook cell: relative imports of other topics fall back to exercises/.

    In the kernel `from .metrics import x` has no package, so it imports the learner's
    exercises/metrics.py; graded as a module, it imports the submission's own metrics.
    """
    def fallback(match: re.Match) -> str:
        module, names = match.group(1), match.group(2)
        return (f"try:  # graded as a module: your {module}.py beside this file\n"
                f"    from .{module} import {names}\n"
                f"except ImportError:  # in the notebook: your exercises/{module}.py\n"
                f"    from exercises.{module} import {names}")
    return RELATIVE_IMPORT.sub(fallback, source)


def build_notebook(topic: str, solutions: Path = SOLUTIONS) -> nbformat.NotebookNode:
    """The nbgrader source notebook of one topic."""
    import nbformat  # here, not at the top: every nbgrader kernel imports this module; nbformat costs ~3 s

    source = (Path(solutions) / f"{topic}.py").read_text(encoding="utf-8")
    module_doc = (ast.get_docstring(ast.parse(source)) or "").strip()
    points = task_points(topic)
    descriptions = _task_descriptions(source)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    intro = (f"# Exercise: {topic}\n\n{module_doc}\n\n"
             "Write your code in the next cell, in place of each `raise NotImplementedError()`. Keep the names and "
             "signatures. Each locked cell after it runs the graded checks of one task "
             f"({sum(points.values()):g} points in all); run them to see how you are doing.")
    cells = [nbformat.v4.new_markdown_cell(intro)]
    setup = nbformat.v4.new_code_cell(
        "# Loads the grader and the checks' libraries once, so each test cell below starts quickly\n"
        "from autograder.nbgrader_course import prepare_kernel\n"
        f"prepare_kernel({topic!r})")
    setup.metadata["nbgrader"] = {"grade": False, "grade_id": SETUP_CELL_ID.format(topic=topic), "locked": True,
                                  "schema_version": SCHEMA_VERSION, "solution": False, "task": False}
    cells.append(setup)
    answer = nbformat.v4.new_code_cell(notebook_source(source))
    answer.metadata["nbgrader"] = {"grade": False, "grade_id": SOLUTION_CELL_ID.format(topic=topic), "locked": False,
                                   "schema_version": SCHEMA_VERSION, "solution": True, "task": False}
    cells.append(answer)
    for task, pts in points.items():
        what = descriptions.get(task, "")
        test = nbformat.v4.new_code_cell(
            f"# Graded checks of {task}" + (f": {what}" if what else "") + f" ({pts:g} points)\n"
            "from autograder.nbgrader_course import run_task_in_kernel\n"
            f"run_task_in_kernel(globals(), {topic!r}, {task!r})"
        )
        test.metadata["nbgrader"] = {"grade": True, "grade_id": TEST_CELL_ID.format(task=task), "locked": True,
                                     "points": pts, "schema_version": SCHEMA_VERSION, "solution": False, "task": False}
        cells.append(test)
    nb.cells = cells
    return nb


def build_course(course_dir: Path, topics: list[str], *, course_id: str = "multimodal-interview",
                 cell_timeout: int = 300, solutions: Path = SOLUTIONS) -> list[Path]:
    """Write nbgrader_config.py and source/<topic>/<topic>.ipynb for each topic; returns the paths."""
    import nbformat

    course_dir = Path(course_dir)
    (course_dir / "source").mkdir(parents=True, exist_ok=True)
    config = course_dir / "nbgrader_config.py"
    config.write_text(CONFIG_TEMPLATE.format(course_id=course_id, cell_timeout=int(cell_timeout)))
    written = [config]
    for topic in topics:
        folder = course_dir / "source" / topic
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{topic}.ipynb"
        nbformat.write(build_notebook(topic, solutions), path)
        written.append(path)
    return written


# ----------------------------------------------------------------------------- in the kernel
def prepare_kernel(topic: str) -> None:
    """Import the topic's checks and everything they import (pytest, scikit-learn, ...) in this kernel.

    Run by a locked cell before the student's code: heavy first imports then never eat into a test
    cell's time limit, and an interrupted test cell cannot leave a half-imported library behind.
    """
    task_points(topic)
class _TaskRun:
    """A pytest plugin: keep only one task's checks and record each check's outcome."""

    def __init__(self, task: str):
        self.task = task
        self.results: dict[str, tuple[float, bool, str]] = {}
        self.session = None
        self.interrupted = False

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_collection_modifyitems(self, config, items):
        from autograder.plugin import task_of

        keep = [i for i in items if task_of(i)[1] == self.task]
        dropped = [i for i in items if task_of(i)[1] != self.task]
        items[:] = keep
        if dropped:
            config.hook.pytest_deselected(items=dropped)

    def pytest_runtest_logreport(self, report):
        info = getattr(report, "grading", None)
        if info is None or report.skipped:
            return
        passed = report.passed and report.when == "call"
        if "KeyboardInterrupt" in info["feedback"] and self.session is not None:
            # the kernel was interrupted (nbgrader's cell time limit): the in-process student
            # swallowed it into a failed check; stop here instead of hanging on the next check
            self.interrupted = True
            self.session.shouldstop = "interrupted"
        previous = self.results.get(report.nodeid)
        if previous is None or (previous[1] and not passed):
            self.results[report.nodeid] = (info["points"], passed, info["feedback"])


def run_task_in_kernel(namespace: dict, topic: str, task: str, *, seed: int | None = None) -> float | None:
    """Run one task's graded checks on the functions defined in a notebook kernel.

    Returns None when every check passes (nbgrader: full points), the points earned when some
    pass (nbgrader's partial credit) and raises AssertionError listing the failures when none does.
    The seed is AUTOGRADER_SEED when set, else random.
    """
    import pytest

    seed = int(os.environ.get("AUTOGRADER_SEED", secrets.randbelow(2**31))) if seed is None else int(seed)
    module_name = KERNEL_MODULE.format(topic=topic)
    module = types.ModuleType(module_name)
    module.__dict__.update({k: v for k, v in namespace.items() if not k.startswith("__")})
    sys.modules[module_name] = module
    run = _TaskRun(task)
    with tempfile.TemporaryDirectory(prefix="nbgrader-task-") as tmp:
        # the submission the in-process student imports: a shim that re-exports the kernel's names
        (Path(tmp) / f"{topic}.py").write_text(
            f"import sys as _sys\nglobals().update({{k: v for k, v in vars(_sys.modules[{module_name!r}]).items()"
            " if not k.startswith('__')})\n")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                _quiet_fds():
            code = pytest.main(_pytest_args(topic, Path(tmp), seed) + ["-p", "no:terminal"], plugins=check_plugins(run))
    if run.interrupted:
        raise AssertionError(f"{task}: interrupted (the cell ran past its time limit); 0 points")
    if not run.results:
        raise AssertionError(f"{topic}: no graded check of task {task!r} ran (pytest exit status {int(code)})")
    earned = sum(p for p, ok, _ in run.results.values() if ok)
    possible = sum(p for p, _, _ in run.results.values())
    failures = list(dict.fromkeys(msg for _, ok, msg in run.results.values() if not ok))
    if not failures:
        print(f"{task}: {possible:g} / {possible:g}, all checks pass")
        return None
    report = f"{task}: {earned:g} / {possible:g}\n" + "\n".join(f"  {line}" for line in failures)
    if earned == 0:
        raise AssertionError(report)
    print(report)
    return float(earned)


@contextlib.contextmanager
def _quiet_fds():
    """Silence file descriptors 1 and 2 (ipykernel forwards them; anything on stderr zeroes an nbgrader cell)."""
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
