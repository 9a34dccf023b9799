"""Grading from a lesson notebook.

    check("fusion.TensorFusion")   # grade one task of exercises/ in the sandbox, print its lines
    hint("fusion.TensorFusion")    # the next hint level that is open (autograder.hints)
    grade_topic("fusion")          # the whole topic
    progress_chart()               # your progress per task, as a chart

Every grading call is recorded in your progress file (autograder.progress), as on the command line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from autograder.grading import Report, grade, parse_topics, tasks_of
from autograder.report import render_table


def _record(report: Report, submission: Path) -> None:
    from autograder.cli import record_progress

    record_progress(report, submission)


def grade_topic(topic: str, submission: str | Path | None = None, **options) -> Report | None:
    """Grade one topic of `submission` (default: exercises/) in the sandbox and print the table.

    Returns the report (None when every task is still the untouched stub: nothing to grade yet).
    """
    from autograder.stubgen import EXERCISES

    folder = Path(submission) if submission else EXERCISES
    topics = parse_topics(topic)
    tasks = {t: tasks_of(t) for t in topics}
    if folder.is_dir() and all(untouched_tasks(folder, t, names) == set(names) for t, names in tasks.items()):
        first = f"{topics[0]}.{tasks[topics[0]][0]}"
        print(f"{topic}: not implemented yet — every task in {', '.join(f'{folder.name}/{t}.py' for t in topics)} "
              f"is still the stub; start with check({first!r}) (stuck? hint({first!r}))")
        return None
    report = grade(folder, topics, **options)
    print(render_table(report))
    _record(report, folder)
    return report


def _definition(source: str, name: str) -> str | None:
    """The source text of the top-level function or class `name`, or None."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return ast.get_source_segment(source, node)
    return None


def untouched_tasks(folder: Path, topic: str, tasks: Iterable[str]) -> set[str]:
    """The tasks among `tasks` whose code in `folder` is still exactly the generated stub (every check would
    say "not implemented yet"), so a lesson can answer at once without starting the grader."""
    from autograder import stubgen

    exercise, solution = folder / f"{topic}.py", stubgen.SOLUTIONS / f"{topic}.py"
    if not exercise.exists() or not solution.exists():
        return set()
    try:
        stub = stubgen.make_stub(solution.read_text(encoding="utf-8"), topic)
        mine = exercise.read_text(encoding="utf-8")
        return {t for t in tasks if (code := _definition(mine, t)) is not None and code == _definition(stub, t)}
    except (SyntaxError, ValueError):
        return set()


def untouched(folder: Path, topic: str, task: str) -> bool:
    """True when `task` in `folder` is still exactly the generated stub (see untouched_tasks)."""
    return task in untouched_tasks(folder, topic, [task])


def check(spec: str, submission: str | Path | None = None, **options) -> Report | None:
    """Grade one task, e.g. check("fusion.TensorFusion"), in the sandbox and print its lines.

    Returns the report (None when the task is still the untouched stub: nothing to grade yet).
    """
    from autograder.hints import parse_task
    from autograder.stubgen import EXERCISES

    topic, task = parse_task(spec)
    folder = Path(submission) if submission else EXERCISES
    if folder.is_dir() and untouched(folder, topic, task):
        print(f"{spec}: not implemented yet — write it in {folder.name}/{topic}.py, then run this cell again "
              f"(stuck? hint({spec!r}))")
        return None
    report = grade(folder, [topic], tasks={topic: {task}}, **options)
    print(render_table(report))
    _record(report, folder)
    return report


def hint(spec: str, level: int | None = None, force: bool = False) -> None:
    """Print the hint ladder of one task up to the highest open level (or `level`)."""
    from autograder.hints import HintError, show

    try:
        print(show(spec, level, force=force))
    except HintError as exc:
        print(exc)


def progress_chart(topics: list[str] | None = None, ax=None):
    """A horizontal bar per task: best score as a share of its points, coloured by status; returns the Axes."""
    import matplotlib.pyplot as plt

    from autograder.grading import available_topics, tasks_of
    from autograder.progress import Progress

    topics = topics or available_topics()
    rows = Progress().tasks({t: tasks_of(t) for t in topics})
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 1))
    colours = {"done": "tab:green", "in progress": "tab:orange", "not started": "lightgrey"}
    shares = [r.best / r.possible if r.possible else 0.0 for r in rows]
    labels = [f"{r.topic}.{r.task}" for r in rows]
    ax.barh(range(len(rows)), [max(s, 0.02) for s in shares], color=[colours[r.status] for r in rows])
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("best score / points")
    ax.set_title("Your progress (grey: not started, orange: in progress, green: done)")
    return ax
