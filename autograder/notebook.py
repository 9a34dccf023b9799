"""Grading from a lesson notebook: `grade_topic("metrics")` grades exercises/ on one topic."""

from __future__ import annotations

from pathlib import Path

from autograder.grading import Report, grade, parse_topics
from autograder.report import render_table


def grade_topic(topic: str, submission: str | Path | None = None, **options) -> Report:
    """Grade one topic of `submission` (default: exercises/) in the sandbox and print the table."""
    from autograder.stubgen import EXERCISES

    report = grade(Path(submission) if submission else EXERCISES, parse_topics(topic), **options)
    print(render_table(report))
    return report
