"""Render a grading Report: terminal table, JSON, Gradescope results.json, a student's feedback text.

Hidden checks: a check is hidden when its task is named in `hidden` ("topic.task" or a whole
"topic"), or when the check itself carries `hidden=True`. Hidden checks count towards the score
but their names and messages are kept out of what students see (feedback files, Gradescope).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from autograder.grading import Report

NOT_IMPLEMENTED = "not implemented yet"
GRADESCOPE_VISIBILITY = ("hidden", "after_due_date", "after_published", "visible")


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


def is_hidden(check, hidden: set[str] | frozenset[str] = frozenset()) -> bool:
    return bool(getattr(check, "hidden", False)) or f"{check.topic}.{check.task}" in hidden or check.topic in hidden


def parse_hidden(text: str | None) -> set[str]:
    """`--hidden metrics.roc_auc,fusion` -> {"metrics.roc_auc", "fusion"}."""
    return {part.strip() for part in (text or "").split(",") if part.strip()}


def render_table(report: Report, width: int = 30, show_integrity: bool = True) -> str:
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
    if show_integrity:
        for finding in getattr(report, "integrity", None) or []:
            out.append(f"integrity: {finding}")
    pct = 100.0 * report.earned / report.possible if report.possible else 0.0
    out.append(f"Total {_points(report.earned)} / {_points(report.possible)} ({pct:.1f}%) in {report.seconds:.1f} s")
    return "\n".join(out)


def render_feedback(report: Report, hidden: set[str] | frozenset[str] = frozenset()) -> str:
    """The table a student may see: hidden checks summed into one line, integrity findings left out."""
    visible = [c for c in report.checks if not is_hidden(c, hidden)]
    withheld = [c for c in report.checks if is_hidden(c, hidden)]
    shown = copy.copy(report)
    shown.checks = visible
    shown.topics = [t for t in report.topics if any(c.topic == t for c in visible)]
    text = render_table(shown, show_integrity=False)
    if withheld:
        earned = sum(c.points for c in withheld if c.passed)
        possible = sum(c.points for c in withheld)
        total = 100.0 * report.earned / report.possible if report.possible else 0.0
        text += (f"\nHidden checks: {_points(earned)} / {_points(possible)} ({len(withheld)} checks, details withheld)"
                 f"\nTotal with hidden checks {_points(report.earned)} / {_points(report.possible)} ({total:.1f}%)")
    return text


def write_json(report: Report, path: Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=2))


def gradescope_results(report: Report, hidden_tasks: set[str] = frozenset(),
                       hidden_visibility: str = "after_published") -> dict:
    """Gradescope's results.json: one test per check, with name, score, max_score, status, output, visibility.

    Checks of `hidden_tasks` ("topic.task" or "topic") get `hidden_visibility`: "after_published"
    (students see them once grades are published) or "hidden" (never shown to students).
    Integrity findings are for the instructor only: they go to stdout, which students never see.
    """
    if hidden_visibility not in GRADESCOPE_VISIBILITY:
        raise ValueError(f"hidden_visibility must be one of {GRADESCOPE_VISIBILITY}, got {hidden_visibility!r}")
    tests = []
    for c in report.checks:
        hidden = is_hidden(c, hidden_tasks)
        tests.append({
            "name": f"{c.topic}: {c.task} — {c.check}",
            "score": c.points if c.passed else 0.0,
            "max_score": c.points,
            "status": "passed" if c.passed else "failed",
            "output": c.feedback or "passed",
            "visibility": hidden_visibility if hidden else "visible",
            "execution_time": c.seconds,
        })
    findings = getattr(report, "integrity", None) or []
    return {
        "score": report.earned,
        "execution_time": report.seconds,
        "output": f"seed {report.seed}, device {report.device}, isolation: {report.isolation}"
        + "".join(f"\nproblem: {p}" for p in report.problems),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"seed": report.seed, "isolation": report.isolation, "integrity": list(findings)},
        "tests": tests,
    }


def write_gradescope(report: Report, path: Path, hidden_tasks: set[str] = frozenset(),
                     hidden_visibility: str = "after_published") -> None:
    Path(path).write_text(json.dumps(gradescope_results(report, hidden_tasks, hidden_visibility), indent=2))
