"""Every lesson is a valid notebook, committed without outputs, and runs top to bottom."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.grading import tasks_of
from autograder.site import LESSON_TOPICS

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("*.ipynb"))
CELL_TIMEOUT_S = 240  # a bound per cell; whole lessons take well under a minute on 2 cores
# the reprs a plotting call leaves as a cell's value: end the cell with plt.show() or `;`
STRAY_REPR = re.compile(r"^(<(Axes|Figure|matplotlib)[^>]*>|Text\(|\[<matplotlib|<matplotlib)")


def test_there_are_lessons():
    assert LESSONS, "lessons/ holds no notebooks"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_is_valid_and_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing (nbstripout)"


@pytest.mark.parametrize("number", sorted(LESSON_TOPICS))
def test_lesson_has_a_check_cell_per_task_and_grades_its_topics(number):
    """The learner's loop in a lesson: `check("topic.task")` after the section that teaches each task, and a
    closing `grade_topic` cell per topic (autograder/site.py's LESSON_TOPICS says which lesson teaches what)."""
    path = next(p for p in LESSONS if p.name.startswith(f"{number}_"))
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    checked = re.findall(r'^check\("([\w.]+)"\)', code, re.MULTILINE)
    expected = [f"{topic}.{task}" for topic in LESSON_TOPICS[number] for task in tasks_of(topic)]
    assert sorted(checked) == sorted(expected), (f"{path.name}: check cells for {sorted(set(checked) - set(expected))} "
                                                 f"that are no task; tasks without one: {sorted(set(expected) - set(checked))}")
    for spec in checked:
        assert f'stuck? hint("{spec}")' in code, f"{path.name}: the check cell of {spec} does not point at its hint"
    assert re.findall(r'grade_topic\("(\w+)"\)', code) == LESSON_TOPICS[number], f"{path.name}: grade_topic cells"


@pytest.mark.notebook
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_top_to_bottom(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    started = time.monotonic()
    NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    stray = [(i, o["data"]["text/plain"][:60]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
             for o in c.outputs if o.output_type == "execute_result" and "image/png" not in o.get("data", {})
             and STRAY_REPR.match(o.get("data", {}).get("text/plain", ""))]
    assert not stray, f"{path.name}: plotting cells leave stray reprs under them (end them with plt.show()): {stray}"
    print(f"{path.name} ran in {time.monotonic() - started:.1f} s")
