"""The batch grader's results store: one SQLite file, one row per (student, topic).

Rows are written by one process (the batch's main thread) as each submission's grading lands,
in WAL mode, one transaction per submission: a batch killed half-way keeps every result it had
committed, and a rerun skips what is already there. Keep the file somewhere the instructor
chooses (default ./grades/results.sqlite), never inside the submissions folder.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from dataclasses import fields
from pathlib import Path

from autograder.grading import CheckResult, Report

DEFAULT_STORE = Path("grades") / "results.sqlite"
GRADED, ERROR = "graded", "error"

SCHEMA = """
CREATE TABLE IF NOT EXISTS grades (
    student     TEXT NOT NULL,
    topic       TEXT NOT NULL,
    submission  TEXT NOT NULL,      -- the path graded
    sha256      TEXT NOT NULL,      -- fingerprint of the submission's bytes: a resubmission is regraded
    status      TEXT NOT NULL,      -- 'graded' or 'error' (the submission could not be graded)
    earned      REAL,
    possible    REAL,
    seed        INTEGER,
    device      TEXT,
    isolation   TEXT,
    seconds     REAL,
    graded_at   TEXT NOT NULL,
    error       TEXT,               -- why it could not be graded
    report_json TEXT,               -- Report.to_dict() restricted to this topic
    PRIMARY KEY (student, topic)
);
"""


def report_from_dict(data: dict) -> Report:
    """Rebuild a Report from `Report.to_dict()` output (fields added later are kept when known)."""
    check_fields = {f.name for f in fields(CheckResult)}
    checks = [
        CheckResult(**{k: v for k, v in check.items() if k in check_fields})
        for tasks in data.get("topics", {}).values()
        for info in tasks.values()
        for check in info.get("checks", [])
    ]
    known = {f.name for f in fields(Report)} - {"checks", "topics"}
    kwargs = {k: v for k, v in data.items() if k in known}
    return Report(topics=list(data.get("topics", {})), checks=checks, **kwargs)


def split_by_topic(report: Report) -> dict[str, Report]:
    """One Report per topic of `report` (problems and integrity findings go with every topic)."""
    out = {}
    for topic in report.topics:
        data = report.to_dict()
        data["topics"] = {topic: data["topics"].get(topic, {})}
        out[topic] = report_from_dict(data)
    return out


def merge_reports(reports: list[Report]) -> Report:
    """One Report holding the checks of several topic Reports of the same student."""
    first = reports[0]
    merged = report_from_dict(first.to_dict())
    for other in reports[1:]:
        merged.topics += [t for t in other.topics if t not in merged.topics]
        merged.checks += other.checks
        merged.problems += [p for p in other.problems if p not in merged.problems]
        merged.seconds = round(merged.seconds + other.seconds, 2)
        if hasattr(merged, "integrity"):
            merged.integrity += [f for f in getattr(other, "integrity", []) if f not in merged.integrity]
    return merged


class ResultsStore:
    """An SQLite file of grading results; use as a context manager or call close()."""

    def __init__(self, path: Path | str = DEFAULT_STORE):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a killed process
        self.db.executescript(SCHEMA)

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------------- writing
    def record_report(self, student: str, submission: str, sha256: str, report: Report) -> None:
        """Store a graded submission: one row per topic, in one transaction."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.db:
            for topic, part in split_by_topic(report).items():
                self.db.execute(
                    "INSERT OR REPLACE INTO grades VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (student, topic, submission, sha256, GRADED, part.earned, part.possible, part.seed,
                     part.device, part.isolation, report.seconds, now, None, json.dumps(part.to_dict())),
                )

    def record_error(self, student: str, submission: str, sha256: str, topics: list[str], error: str) -> None:
        """Store that a submission could not be graded (a broken zip, a grader crash, a time-out)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self.db:
            for topic in topics:
                self.db.execute(
                    "INSERT OR REPLACE INTO grades VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (student, topic, submission, sha256, ERROR, None, None, None, None, None, None, now,
                     error[:2000], None),
                )

    # ------------------------------------------------------------------------- reading
    def status(self, student: str, topics: list[str], sha256: str) -> str | None:
        """'graded' or 'error' when every topic has a row for these exact bytes; else None."""
        rows = self.db.execute(
            f"SELECT status FROM grades WHERE student=? AND sha256=? AND topic IN ({','.join('?' * len(topics))})",
            (student, sha256, *topics),
        ).fetchall()
        if len(rows) < len(topics):
            return None
        return ERROR if any(r["status"] == ERROR for r in rows) else GRADED

    def students(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT student FROM grades ORDER BY student")]

    def rows(self, student: str | None = None) -> list[sqlite3.Row]:
        if student is None:
            return self.db.execute("SELECT * FROM grades ORDER BY student, topic").fetchall()
        return self.db.execute("SELECT * FROM grades WHERE student=? ORDER BY topic", (student,)).fetchall()

    def report(self, student: str) -> Report | None:
        """The student's graded topics merged into one Report (None when nothing was graded)."""
        from autograder.grading import TOPIC_ORDER

        rows = [r for r in self.rows(student) if r["status"] == GRADED]
        order = {t: i for i, t in enumerate(TOPIC_ORDER)}
        rows.sort(key=lambda r: (order.get(r["topic"], len(order)), r["topic"]))
        if not rows:
            return None
        return merge_reports([report_from_dict(json.loads(r["report_json"])) for r in rows])

    def errors(self, student: str) -> list[str]:
        return sorted({r["error"] for r in self.rows(student) if r["status"] == ERROR})

    # ------------------------------------------------------------------------- exports
    def export_csv(self, path: Path) -> int:
        """One row per student, a column per topic and per task (points earned); returns the row count.

        Columns: student, status, earned, possible, percent, then `<topic>` and `<topic>.<task>`
        for every task seen in the store, then seed, isolation, integrity (findings count), error.
        """
        from autograder.grading import TOPIC_ORDER

        per_student: dict[str, dict] = {}
        task_columns: dict[str, list[str]] = {}
        for row in self.rows():
            entry = per_student.setdefault(row["student"], {"student": row["student"], "earned": 0.0, "possible": 0.0,
                                                            "errors": [], "seeds": set(), "isolation": set(),
                                                            "integrity": 0})
            if row["status"] == ERROR:
                entry["errors"].append(row["error"] or "could not grade")
                continue
            report = report_from_dict(json.loads(row["report_json"]))
            topic = row["topic"]
            entry["earned"] += report.earned
            entry["possible"] += report.possible
            entry[topic] = report.earned
            entry["seeds"].add(str(report.seed))
            entry["isolation"].add(report.isolation)
            entry["integrity"] = max(entry["integrity"], len(getattr(report, "integrity", []) or []))
            columns = task_columns.setdefault(topic, [])
            for task, checks in report.tasks(topic):
                entry[f"{topic}.{task}"] = sum(c.points for c in checks if c.passed)
                if task not in columns:
                    columns.append(task)
        order = {t: i for i, t in enumerate(TOPIC_ORDER)}
        topics = sorted(task_columns, key=lambda t: (order.get(t, len(order)), t))
        header = ["student", "status", "earned", "possible", "percent"]
        for topic in topics:
            header += [topic, *(f"{topic}.{task}" for task in task_columns[topic])]
        header += ["seed", "isolation", "integrity_findings", "error"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            for student in sorted(per_student):
                e = per_student[student]
                row = {k: (f"{v:g}" if isinstance(v, float) else v) for k, v in e.items()}
                if not e["seeds"]:  # nothing graded at all: leave the score cells empty
                    row.update(earned="", possible="")
                row.update(
                    status="error" if e["errors"] else "graded",
                    percent=f"{100 * e['earned'] / e['possible']:.1f}" if e["possible"] else "",
                    seed=" ".join(sorted(e["seeds"])), isolation="; ".join(sorted(e["isolation"])),
                    integrity_findings=e["integrity"], error=" | ".join(sorted(set(e["errors"]))),
                )
                writer.writerow(row)
        return len(per_student)

    def write_feedback(self, folder: Path, hidden: set[str] = frozenset()) -> list[Path]:
        """A plain-text feedback file per student (`<student>.txt`); hidden checks are not shown."""
        from autograder.report import render_feedback

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for student in self.students():
            report = self.report(student)
            lines = [f"Feedback for {student}", ""]
            if report is not None:
                lines.append(render_feedback(report, hidden))
            for error in self.errors(student):
                lines.append(f"Your submission could not be graded: {error}")
            path = folder / f"{student}.txt"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            written.append(path)
        return written
