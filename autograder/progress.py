"""The learner's progress: every grading run's per-task results and the hints shown, in a local SQLite file.

Where: `~/.mmprep/progress.sqlite` (beside the interview history), or `$MMPREP_PROGRESS`, or `--progress PATH`;
never inside the course checkout (a clone stays clean). Nothing is ever lost and grading never stops for it:
when the file is locked (another grading run writing), corrupt, or unwritable, the records go to a JSON-lines
journal beside it (`<name>.pending.jsonl`) and are merged in by the next run that can open the file. A corrupt
file is left exactly where it is for you to inspect; it is never moved, renamed or overwritten.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_PATH = Path("~/.mmprep/progress.sqlite")
ENV = "MMPREP_PROGRESS"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, task TEXT NOT NULL,
    earned REAL NOT NULL, possible REAL NOT NULL, seconds REAL NOT NULL, at TEXT NOT NULL,
    submission TEXT NOT NULL DEFAULT '', seed INTEGER);
CREATE TABLE IF NOT EXISTS hints (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, task TEXT NOT NULL,
    level INTEGER NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_task ON attempts(topic, task);
"""
LOCK_WAIT_S = 5.0


class ProgressError(ValueError):
    """A progress path that cannot be used (a folder, inside the checkout)."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def resolve_path(path: str | os.PathLike | None = None) -> Path:
    """The progress file: `path`, else $MMPREP_PROGRESS, else ~/.mmprep/progress.sqlite; never in the checkout."""
    chosen = Path(path or os.environ.get(ENV) or DEFAULT_PATH).expanduser().resolve()
    if chosen.is_dir():
        raise ProgressError(f"progress file {chosen} is a folder; give a file path such as {chosen / 'progress.sqlite'}")
    if chosen == PROJECT_ROOT or PROJECT_ROOT in chosen.parents:
        raise ProgressError(f"progress file {chosen} lies inside the course checkout; keep it outside (default {DEFAULT_PATH})")
    return chosen


@dataclass
class TaskProgress:
    topic: str
    task: str
    attempts: int = 0
    best: float = 0.0
    possible: float = 0.0
    last: float | None = None
    hints: int = 0  # highest hint level shown
    seconds: float = 0.0  # grading time summed over attempts

    @property
    def status(self) -> str:
        if self.attempts == 0:
            return "not started"
        return "done" if self.possible and self.best >= self.possible else "in progress"


class Progress:
    """Read and write the progress file; every write falls back to the journal instead of failing."""

    def __init__(self, path: str | os.PathLike | None = None, warn=None):
        self.path = resolve_path(path)
        self.journal = self.path.with_name(self.path.name + ".pending.jsonl")
        self.warn = warn or (lambda text: print(f"progress: {text}", file=sys.stderr))

    # ------------------------------------------------------------------ storage
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S)
        try:
            conn.executescript(SCHEMA)
            self._merge_journal(conn)
        except Exception:
            conn.close()
            raise
        return conn

    def _journal_records(self) -> list[dict]:
        """The journal's records; a half-written last line of a killed run is skipped (nothing to recover from it)."""
        if not self.journal.exists():
            return []
        records = []
        for line in self.journal.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("kind") in ("attempt", "hint"):
                records.append(record)
        return records

    def _merge_journal(self, conn: sqlite3.Connection) -> None:
        if not self.journal.exists():
            return
        with conn:
            for record in self._journal_records():
                try:
                    self._insert(conn, record)
                except (KeyError, TypeError, ValueError):
                    continue
        self.journal.unlink()

    @staticmethod
    def _insert(conn: sqlite3.Connection, record: dict) -> None:
        if record["kind"] == "attempt":
            conn.execute("INSERT INTO attempts (topic, task, earned, possible, seconds, at, submission, seed) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (record["topic"], record["task"], float(record["earned"]), float(record["possible"]),
                          float(record["seconds"]), record["at"], record.get("submission", ""), record.get("seed")))
        elif record["kind"] == "hint":
            conn.execute("INSERT INTO hints (topic, task, level, at) VALUES (?, ?, ?, ?)",
                         (record["topic"], record["task"], int(record["level"]), record["at"]))

    def _write(self, records: list[dict]) -> None:
        try:
            conn = self._connect()
            try:
                with conn:
                    for record in records:
                        self._insert(conn, record)
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            self.warn(f"could not write {self.path} ({exc}); kept the results in {self.journal}, "
                      "merged on the next run that can open it")
            try:
                self.journal.parent.mkdir(parents=True, exist_ok=True)
                with self.journal.open("a", encoding="utf-8") as f:
                    for record in records:
                        f.write(json.dumps(record) + "\n")
            except OSError as again:
                self.warn(f"could not write the journal either ({again}); these results are not recorded")

    def _rows(self) -> tuple[list[tuple], list[tuple]]:
        """(attempts, hints) from the file plus the journal; empty when neither can be read."""
        attempts: list[tuple] = []
        hints: list[tuple] = []
        if self.path.exists():
            try:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
                try:
                    attempts = conn.execute("SELECT topic, task, earned, possible, seconds, at FROM attempts "
                                            "ORDER BY at, id").fetchall()
                    hints = conn.execute("SELECT topic, task, level, at FROM hints ORDER BY at, id").fetchall()
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                self.warn(f"could not read {self.path} ({exc}); showing only what the journal holds")
        for r in self._journal_records():
            try:
                if r["kind"] == "attempt":
                    attempts.append((r["topic"], r["task"], r["earned"], r["possible"], r["seconds"], r["at"]))
                else:
                    hints.append((r["topic"], r["task"], r["level"], r["at"]))
            except KeyError:
                continue
        return sorted(attempts, key=lambda a: a[5]), sorted(hints, key=lambda h: h[3])

    # ------------------------------------------------------------------ what grading and hints record
    def record_report(self, report) -> None:
        """One attempt per task of a grading report (autograder.grading.Report)."""
        at = now()
        records = []
        for topic in report.topics:
            for task, checks in report.tasks(topic):
                records.append({"kind": "attempt", "topic": topic, "task": task, "at": at,
                                "earned": sum(c.points for c in checks if c.passed),
                                "possible": sum(c.points for c in checks),
                                "seconds": round(sum(c.seconds for c in checks), 3),
                                "submission": str(report.submission), "seed": report.seed})
        if records:
            self._write(records)

    def record_hint(self, topic: str, task: str, level: int) -> None:
        self._write([{"kind": "hint", "topic": topic, "task": task, "level": int(level), "at": now()}])

    # ------------------------------------------------------------------ queries
    def tasks(self, topics: dict[str, list[str]]) -> list[TaskProgress]:
        """Progress of every task in `topics` ({topic: [task, ...]} in course order)."""
        attempts, hints = self._rows()
        table = {(t, k): TaskProgress(t, k) for t, ks in topics.items() for k in ks}
        for topic, task, earned, possible, seconds, _ in attempts:
            p = table.get((topic, task))
            if p is None:
                continue
            p.attempts += 1
            p.best = max(p.best, earned)
            p.possible = possible
            p.last = earned
            p.seconds += seconds
        for topic, task, level, _ in hints:
            if (topic, task) in table:
                table[(topic, task)].hints = max(table[(topic, task)].hints, level)
        return list(table.values())

    def hint_levels_open(self, topic: str, task: str) -> int:
        """The highest hint level the learner may see now: 1, then n+1 once a graded attempt failed after hint n."""
        attempts, hints = self._rows()
        shown = [(level, at) for t, k, level, at in hints if (t, k) == (topic, task)]
        if not shown:
            return 1
        top = max(level for level, _ in shown)
        top_at = min(at for level, at in shown if level == top)
        failed_since = any(earned < possible for t, k, earned, possible, _, at in attempts
                           if (t, k) == (topic, task) and at > top_at)
        return top + 1 if failed_since else top


def next_step(rows: list[TaskProgress]) -> str:
    """What to do next: the first task in course order that is not done."""
    for p in rows:
        if p.status != "done":
            target = f"{p.topic}.{p.task}"
            if p.attempts == 0:
                return f"next: implement {target} in exercises/{p.topic}.py, then `python -m autograder --only {target}`"
            return (f"next: {target} scores {p.best:g}/{p.possible:g} after {p.attempts} attempt(s); "
                    f"`python -m autograder hint {target}` if stuck")
    return "next: every task is done — try `python -m interview drill --coding` for timed practice"


def render(rows: list[TaskProgress]) -> str:
    lines = []
    by_topic: dict[str, list[TaskProgress]] = {}
    for p in rows:
        by_topic.setdefault(p.topic, []).append(p)
    for topic, tasks in by_topic.items():
        done = sum(p.status == "done" for p in tasks)
        lines.append(f"{topic:<30} {done}/{len(tasks)} tasks done")
        for p in tasks:
            score = f"{p.best:g}/{p.possible:g}" if p.attempts else "-"
            hints = f"hints {p.hints}/3" if p.hints else ""
            lines.append(f"  {p.task:<28} {p.status:<12} best {score:<8} attempts {p.attempts:<3} {hints}".rstrip())
        lines.append("")
    lines.append(next_step(rows))
    return "\n".join(lines)

