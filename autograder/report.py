"""Render a grading Report: terminal table, JSON, Gradescope results.json."""

from __future__ import annotations

import json
from pathlib import Path

from autograder.grading import Report

NOT_IMPLEMENTED = "not implemented yet"


def _points(x: float) -> str:
    return f"{x:g}"


def task_feedback(checks) -> list[str]:
    """One line per failed check; a task whose failures are all 'not implemented' gets one line."""
    failed = [c for c in checks if not c.passed]
    if failed and all(c.feedback == NOT_IMPLEMENTED for c in failed):
        return [NOT_IMPLEMENTED]
    lines = []
    for c in failed:
        if c.feedback not in lines:
            lines.append(c.feedback)
    return lines


def render_table(report: Report, width: int = 30) -> str:
    out = [
        f"Submission {report.submission}  ·  seed {report.seed}  ·  device {report.device}",
        f"Isolation: {report.isolation}",
        "",
    ]
    for topic in report.topics:
        tasks = report.tasks(topic)
        earned = sum(c.points for _, cs in tasks for c in cs if c.passed)
        possible = sum(c.points for _, cs in tasks for c in cs)
        out.append(f"{topic:<{width + 2}}{_points(earned):>6} / {_points(possible)}")
        for task, checks in tasks:
            got = sum(c.points for c in checks if c.passed)
            total = sum(c.points for c in checks)
            feedback = task_feedback(checks)
            mark = "ok" if not feedback else ""
            first = feedback[0] if feedback else mark
            out.append(f"  {task:<{width}}{_points(got):>6} / {_points(total):<4} {first}")
            out += [f"  {'':<{width}}{'':>6}   {'':<4} {line}" for line in feedback[1:]]
        out.append("")
    for problem in report.problems:
        out.append(f"problem: {problem}")
    pct = 100.0 * report.earned / report.possible if report.possible else 0.0
    out.append(f"Total {_points(report.earned)} / {_points(report.possible)} ({pct:.1f}%) in {report.seconds:.1f} s")
    return "\n".join(out)


def write_json(report: Report, path: Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=2))


def gradescope_results(report: Report, hidden_tasks: set[str] = frozenset()) -> dict:
    """Gradescope's results.json: one test per check, with name, score, max_score, status, output, visibility.

    Checks of `hidden_tasks` ("topic.task" or "topic") are "after_published", so students see
    them only once grades are published.
    """
    tests = []
    for c in report.checks:
        hidden = f"{c.topic}.{c.task}" in hidden_tasks or c.topic in hidden_tasks
        tests.append({
            "name": f"{c.topic}: {c.task} — {c.check}",
            "score": c.points if c.passed else 0.0,
            "max_score": c.points,
            "status": "passed" if c.passed else "failed",
            "output": c.feedback or "passed",
            "visibility": "after_published" if hidden else "visible",
            "execution_time": c.seconds,
        })
    return {
        "score": report.earned,
        "execution_time": report.seconds,
        "output": f"seed {report.seed}, device {report.device}, isolation: {report.isolation}"
        + "".join(f"\nproblem: {p}" for p in report.problems),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(report: Report, path: Path, hidden_tasks: set[str] = frozenset()) -> None:
    Path(path).write_text(json.dumps(gradescope_results(report, hidden_tasks), indent=2))
