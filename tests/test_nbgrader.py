"""nbgrader: the course builder, the real nbgrader pipeline end to end, and grading its submissions in the sandbox.

The pipeline test runs nbgrader's own CLI on a temporary course with an SQLite gradebook:
generate_assignment, four fake students (correct, wrong, hanging, tampering), autograde,
generate_feedback, export. nbgrader executes the notebooks in a kernel where the student's code
runs first, so the tampering student gets full marks there; graded through the sandbox
(`python -m autograder nbgrader grade`), the same notebook gets its honest score.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.nbgrader_course import (
    SCHEMA_VERSION,
    build_notebook,
    notebook_source,
    run_task_in_kernel,
    task_points,
)
from autograder.nbgrader_grade import nbgrader_env, open_gradebook
from tests.conftest import ROOT, TEST_SEED, run_cli

TOPIC = "metrics"
SOLUTION = notebook_source((ROOT / "solutions" / f"{TOPIC}.py").read_text())
ANSWERS = {
    "correct": SOLUTION,
    "wrong": SOLUTION + "\n\ndef roc_auc(y_true, y_score):\n    return 0.5\n",
    # an endless loop that sleeps: the same hang for the time limit, without taking a core from the other tests
    "hanging": SOLUTION + "\n\ndef accuracy(y_true, y_pred):\n    import time\n    while True:\n        time.sleep(0.05)\n",
    # honest answer: nothing implemented; then it rewrites the grader that the test cells import
    "tampering": (
        "import autograder.nbgrader_course as _grader\n"
        "_grader.run_task_in_kernel = lambda *args, **kwargs: None  # every locked test cell now passes\n"
    ),
}
CELL_TIMEOUT = 20  # seconds per test cell: ~0.1-3 s normally; what the hanging student costs
SETUP_TIMEOUT = 300  # the cell that imports the grader and the checks' libraries (~7 s, more on a busy machine)
# a PATH without this Python's bin/: a virtual environment run as venv/bin/python, not activated
BARE_PATH = os.pathsep.join(["/usr/bin", "/bin"])


def readme_table() -> dict[str, tuple[float, float]]:
    """README "How to teach": {student: (`nbgrader autograde` score, `python -m autograder nbgrader grade` score)}."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\w+) \| (\d+(?:\.\d+)?)[^|]*\| (\d+(?:\.\d+)?) \|$", text, re.MULTILINE)
    table = {student: (float(nbgrader), float(sandbox)) for student, nbgrader, sandbox in rows if student in ANSWERS}
    assert set(table) == set(ANSWERS), f"README.md's nbgrader table has rows {sorted(table)}, not {sorted(ANSWERS)}"
    return table


def test_source_notebook_has_nbgrader_schema_3_cells():
    nb = build_notebook(TOPIC)
    nbformat.validate(nb)
    meta = [c.metadata.get("nbgrader") for c in nb.cells]
    graded = [m for m in meta if m and m["grade"]]
    answers = [(c, m) for c, m in zip(nb.cells, meta) if m and m["solution"]]
    assert nb.cells[0].cell_type == "markdown" and meta[0] is None
    assert len(answers) == 1 and "### BEGIN SOLUTION" in answers[0][0].source and not answers[0][1]["locked"]
    assert all(m["schema_version"] == SCHEMA_VERSION for m in meta if m)
    ids = [m["grade_id"] for m in meta if m]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    points = task_points(TOPIC)
    assert [m["grade_id"] for m in graded] == [f"test_{t}" for t in points]
    assert all(m["locked"] and not m["solution"] and m["points"] == points[m["grade_id"][5:]] for m in graded)
    assert sum(m["points"] for m in graded) == sum(points.values()) > 0


def test_relative_imports_fall_back_to_exercises():
    text = notebook_source("from .metrics import recall_at_k, median_rank\nx = 1\n")
    assert "from .metrics import recall_at_k, median_rank" in text
    assert "from exercises.metrics import recall_at_k, median_rank" in text
    compile(text, "cell", "exec")


def test_run_task_in_kernel_scores_a_namespace():
    import runpy

    namespace = runpy.run_path(str(ROOT / "solutions" / f"{TOPIC}.py"))
    assert run_task_in_kernel(namespace, TOPIC, "mse", seed=1) is None
    namespace["roc_auc"] = lambda y_true, y_score: 0.5
    with pytest.raises(AssertionError, match="roc_auc: 0 / "):
        run_task_in_kernel(namespace, TOPIC, "roc_auc", seed=1)


# ----------------------------------------------------------------------------- the real nbgrader pipeline
def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # as from venv/bin/python, not activated: nbgrader_env() must put this Python's bin/ (alembic) on PATH
    env = {**nbgrader_env({**os.environ, "PATH": BARE_PATH}), "AUTOGRADER_SEED": str(TEST_SEED)}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{(done.stdout + done.stderr)[-3000:]}"
    return done


def exported(course: Path, name: str) -> dict[str, float]:
    nbgrader(course, "export", "--to", str(course / name))
    with (course / name).open() as fh:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    done = run_cli("nbgrader", "course", str(course), "--only", TOPIC)
    assert done.returncode == 0, done.stderr
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + "\n# the test's hanging student: a short limit for every cell but the setup\n"
                      f"c.Execute.timeout_func = lambda cell: {SETUP_TIMEOUT} if 'prepare_kernel(' in cell.source "
                      f"else {CELL_TIMEOUT}\n")
    with pytest.MonkeyPatch.context() as env:  # the gradebook is new: created here, from a PATH without alembic
        env.setenv("PATH", BARE_PATH)
        with open_gradebook(course) as gradebook:
            for student in ANSWERS:
                gradebook.add_student(student)
        assert os.environ["PATH"] == BARE_PATH, "open_gradebook leaves the caller's PATH as it was"
    nbgrader(course, "generate_assignment", TOPIC, "--force")
    released = course / "release" / TOPIC / f"{TOPIC}.ipynb"
    for student, answer in ANSWERS.items():
        nb = nbformat.read(released, as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answer
        folder = course / "submitted" / student / TOPIC
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{TOPIC}.ipynb")
        (folder / "timestamp.txt").write_text("2026-11-29 06:00:00.000000 UTC")
    return course


@pytest.fixture(scope="module")
def nbgrader_scores(course):
    nbgrader(course, "autograde", TOPIC)  # feedback is generated once, after the sandbox's grades (sandbox_scores)
    return exported(course, "nbgrader_grades.csv")


@pytest.fixture(scope="module")
def sandbox_scores(course, nbgrader_scores, cli_device):
    # as from an IDE's interpreter or venv/bin/python: this Python's bin/ (nbgrader's alembic) is not on PATH
    done = subprocess.run([sys.executable, "-m", "autograder", "nbgrader", "grade", str(course), TOPIC,
                           "--seed", str(TEST_SEED), "--timeout", "5", "--device", cli_device],
                          capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env={**os.environ, "PATH": BARE_PATH, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    nbgrader(course, "generate_feedback", TOPIC)
    return exported(course, "sandbox_grades.csv")


@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_generate_assignment_strips_solutions(course):
    released = nbformat.read(course / "release" / TOPIC / f"{TOPIC}.ipynb", as_version=4)
    answer = next(c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution"))
    assert "### BEGIN SOLUTION" not in answer.source and "raise NotImplementedError()" in answer.source
    assert "_check_1d" in answer.source, "helpers outside the solution blocks stay for the student"


@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_nbgrader_autograde_grades_and_is_forgeable(course, nbgrader_scores):
    total = sum(task_points(TOPIC).values())
    scores = nbgrader_scores
    expected = {student: row[0] for student, row in readme_table().items()}
    assert scores == expected, f"nbgrader autograde scored {scores}; README.md's table says {expected}"
    assert scores["correct"] == total
    assert scores["wrong"] == total - task_points(TOPIC)["roc_auc"], "the wrong roc_auc costs its own cell only"
    assert scores["hanging"] == total - task_points(TOPIC)["accuracy"], "a hang costs its own cell only"
    assert scores["tampering"] == total, "nbgrader alone: the tampering student gets full marks"


@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_sandbox_grades_the_same_submissions_honestly(course, nbgrader_scores, sandbox_scores):
    total = sum(task_points(TOPIC).values())
    expected = {student: row[1] for student, row in readme_table().items()}
    assert sandbox_scores == expected, f"the sandbox scored {sandbox_scores}; README.md's table says {expected}"
    assert sandbox_scores["correct"] == total
    assert sandbox_scores["wrong"] == nbgrader_scores["wrong"]
    assert sandbox_scores["hanging"] == total - task_points(TOPIC)["accuracy"]
    assert sandbox_scores["tampering"] == 0, "graded in the sandbox, the forgery earns nothing"
    for student in ANSWERS:
        assert (course / "feedback" / student / TOPIC / f"{TOPIC}.html").is_file(), f"no feedback for {student}"
    feedback = (course / "feedback" / "tampering" / TOPIC / f"{TOPIC}.html").read_text()
    assert "Graded in the sandbox" in feedback, "the sandbox's comments reach nbgrader's feedback"


@pytest.mark.slow
@pytest.mark.xdist_group("nbgrader")
def test_a_new_gradebook_needs_no_activated_environment(course):
    """nbgrader runs `alembic` from PATH when it creates a gradebook; this Python's bin/ need not be on PATH.

    The course fixture creates its gradebook in this process with PATH=BARE_PATH (open_gradebook), and runs
    every nbgrader command from that PATH too (nbgrader_env)."""
    if shutil.which("alembic", path=BARE_PATH):
        pytest.skip(f"alembic is on {BARE_PATH} itself: nothing to show")
    found = shutil.which("alembic", path=nbgrader_env({"PATH": BARE_PATH})["PATH"])
    assert found, f"nbgrader's subprocesses find no alembic on {BARE_PATH} and this Python's script folders"
    with contextlib.closing(sqlite3.connect(course / "gradebook.db")) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall(), "alembic's version was not recorded"
        assert sorted(row[0] for row in db.execute("SELECT id FROM student")) == sorted(ANSWERS)
