"""Grade nbgrader's submitted/ notebooks in this sandbox and write the scores into the nbgrader gradebook.

`python -m autograder nbgrader grade COURSE_DIR ASSIGNMENT`

1. `nbgrader autograde ASSIGNMENT --force` with execution and nbgrader's own scoring turned off
   (`--Execute.enabled=False --SaveAutoGrades.enabled=False`): nbgrader still records the
   submission, restores the locked cells and writes autograded/, but never runs the student's
   notebook on the instructor's machine and never scores it from cell outputs.
2. Each student's answer cells are graded by `autograder.grading.grade` in the sandbox, and each
   task's points become the `auto_score` of its test cell (grade id `test_<task>`); the failed
   checks' one-line messages become the comment of the answer cell.

The classroom keeps `nbgrader generate_feedback` and `nbgrader export`, with scores that come
from the sandbox, where a submission cannot rewrite the grader. Other topics the notebook
imports (`from .metrics import ...`) come from the same student's submitted notebooks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from autograder.nbgrader_course import SOLUTION_CELL_ID, TEST_CELL_ID


class NbgraderError(RuntimeError):
    """nbgrader itself failed, or the course folder is not an nbgrader course."""


def interpreter_search_path(path: str | None = None) -> str:
    """`path` (default: $PATH) with the script folders of this Python first.

    A new gradebook runs the `alembic` command found on PATH. From a virtual environment that is
    not activated (`venv/bin/python -m autograder ...`, an IDE's interpreter) the venv's bin/ is not
    on PATH, and a venv made with --system-site-packages has alembic in its base installation's bin/.
    """
    path = os.environ.get("PATH", os.defpath) if path is None else path
    ours = [os.path.dirname(sys.executable), sysconfig.get_path("scripts"),
            os.path.dirname(os.path.realpath(sys.executable)),
            sysconfig.get_path("scripts", vars={"base": sys.base_prefix, "platbase": sys.base_prefix}),
            sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user"))]
    folders = [f for f in ours if f and os.path.isdir(f)] + path.split(os.pathsep)
    return os.pathsep.join(dict.fromkeys(f for f in folders if f))


def nbgrader_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) for an nbgrader subprocess run by this Python, activated or not.

    PATH: see interpreter_search_path. JUPYTER_PATH: a venv made with --system-site-packages has no
    share/jupyter of its own, so nbconvert (generate_feedback) would not find its templates in the base's.
    """
    env = dict(os.environ if env is None else env)
    env["PATH"] = interpreter_search_path(env.get("PATH", os.defpath))
    base_data = os.path.join(sys.base_prefix, "share", "jupyter")
    own_data = os.path.join(sys.prefix, "share", "jupyter", "nbconvert")
    if sys.prefix != sys.base_prefix and not os.path.isdir(own_data) and os.path.isdir(base_data):
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [env.get("JUPYTER_PATH", ""), base_data]))
    return env


def run_nbgrader(course_dir: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `nbgrader ARGS` in the course folder; NbgraderError with its last lines when it fails."""
    env = nbgrader_env()
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise NbgraderError(f"nbgrader {' '.join(args)} failed with status {done.returncode}:\n{tail}")
    return done


def db_url(course_dir: Path) -> str:
    return "sqlite:///" + str(Path(course_dir).resolve() / "gradebook.db")


def open_gradebook(course_dir: Path):
    """nbgrader's Gradebook of the course; creating a new one runs `alembic` from PATH, so PATH gets this Python's."""
    from nbgrader.api import Gradebook

    saved = os.environ.get("PATH")
    os.environ["PATH"] = interpreter_search_path(saved)
    try:
        return Gradebook(db_url(course_dir))
    finally:
        if saved is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = saved


def stage_student(submitted: Path, assignment: str, work: Path) -> Path:
    """A folder with the assignment's notebook and the student's other submitted topics as .py files."""
    from autograder.grading import available_topics
    from autograder.submission import notebook_to_module

    work.mkdir(parents=True, exist_ok=True)
    shutil.copy2(submitted / assignment / f"{assignment}.ipynb", work / f"{assignment}.ipynb")
    for topic in available_topics():
        other = submitted / topic / f"{topic}.ipynb"
        if topic != assignment and other.is_file():
            try:
                (work / f"{topic}.py").write_text(notebook_to_module(other))
            except ValueError:
                pass  # an unreadable other notebook only matters if this one imports it
    return work


def grade_submissions(
    course_dir: Path,
    assignment: str,
    *,
    students: list[str] | None = None,
    seed: int | None = None,
    device: str = "auto",
    timeout: float = 60.0,
    **grade_options,
) -> dict[str, tuple[float, float]]:
    """Grade `assignment` of every (or the given) student in the sandbox; {student: (earned, possible)}."""
    from nbgrader.api import MissingEntry

    from autograder.grading import grade, parse_topics
    from autograder.report import task_feedback

    course_dir = Path(course_dir).resolve()
    if not (course_dir / "nbgrader_config.py").is_file():
        raise NbgraderError(f"{course_dir} has no nbgrader_config.py (build it with `python -m autograder nbgrader course`)")
    parse_topics(assignment)  # ValueError naming an unknown topic
    submitted_root = course_dir / "submitted"
    found = sorted(q.parents[1].name for q in submitted_root.glob(f"*/{assignment}/{assignment}.ipynb"))
    chosen = [s for s in found if not students or s in students]
    if not chosen:
        raise NbgraderError(f"no submissions of {assignment} in {submitted_root}")
    args = ["autograde", assignment, "--force", "--Execute.enabled=False", "--SaveAutoGrades.enabled=False"]
    if students:  # nbgrader takes one --student per run
        for student in chosen:
            run_nbgrader(course_dir, *args, "--student", student)
    else:
        run_nbgrader(course_dir, *args)
    results: dict[str, tuple[float, float]] = {}
    with open_gradebook(course_dir) as gb:
        for student in chosen:
            with tempfile.TemporaryDirectory(prefix="nbgrader-sandbox-") as tmp:
                folder = stage_student(submitted_root / student, assignment, Path(tmp) / student)
                report = grade(folder, [assignment], device=device, seed=seed, timeout=timeout, **grade_options)
            earned_total, possible_total, comments = 0.0, 0.0, []
            for task, checks in report.tasks(assignment):
                earned = sum(c.points for c in checks if c.passed)
                try:
                    cell = gb.find_grade(TEST_CELL_ID.format(task=task), assignment, assignment, student)
                except MissingEntry:
                    continue  # a task the source notebook does not have (checks added later)
                cell.auto_score = min(earned, cell.max_score)
                cell.needs_manual_grade = False
                earned_total += cell.auto_score
                possible_total += cell.max_score
                comments += [f"{task}: {line}" for line in task_feedback(checks)]
            comments += [f"problem: {p}" for p in report.problems]
            try:
                comment = gb.find_comment(SOLUTION_CELL_ID.format(topic=assignment), assignment, assignment, student)
                comment.auto_comment = ("Graded in the sandbox; " + f"{earned_total:g} / {possible_total:g}.\n"
                                        + "\n".join(comments)) if comments else "Graded in the sandbox: every check passes."
            except MissingEntry:
                pass
            gb.db.commit()
            results[student] = (earned_total, possible_total)
    return results

