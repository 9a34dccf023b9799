"""Drill history in a local SQLite file: sessions, self-scored answers, Leitner boxes, coding tasks.

Every answer is committed as soon as it is scored, so an interrupted session keeps what was done.
A missing file is created; a corrupt one (not SQLite, wrong tables, failed integrity check) is
moved aside to `<name>.corrupt-<UTC time>` and a fresh history is started — reported, never a crash.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_PATH = Path("~/.mmprep/interview_history.sqlite")
SCHEMA_VERSION = "1"
MAX_BOX = 5  # Leitner boxes 1 (weak) .. 5 (mastered)
MAX_SCORE = 2  # self-scores: 0 missed, 1 partly, 2 solid

TABLES = {
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "sessions": """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT,
        status TEXT NOT NULL DEFAULT 'running', options TEXT NOT NULL DEFAULT '{}')""",
    "attempts": """CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        question_id TEXT NOT NULL, topic TEXT NOT NULL, difficulty TEXT NOT NULL, lang TEXT NOT NULL,
        answer TEXT NOT NULL, score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 2), seconds REAL,
        answered_at TEXT NOT NULL)""",
    "boxes": """CREATE TABLE boxes (
        question_id TEXT PRIMARY KEY, topic TEXT NOT NULL,
        box INTEGER NOT NULL CHECK (box BETWEEN 1 AND 5), updated_at TEXT NOT NULL)""",
    "coding": """CREATE TABLE coding (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        topic TEXT NOT NULL, task TEXT NOT NULL, earned REAL, possible REAL, seconds REAL,
        limit_seconds REAL, status TEXT NOT NULL, feedback TEXT NOT NULL DEFAULT '', at TEXT NOT NULL)""",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def next_box(box: int, score: int) -> int:
    """Leitner rule: solid (2) moves a question up a box, partly (1) keeps it, missed (0) sends it to box 1."""
    if score not in (0, 1, 2):
        raise ValueError(f"score must be 0, 1 or 2, got {score!r}")
    if score == 2:
        return min(box + 1, MAX_BOX)
    return box if score == 1 else 1


class History:
    """One SQLite history file. Use `History.open(path, report=print)`."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    # ------------------------------------------------------------------ opening and repair
    @classmethod
    def open(cls, path: str | Path | None = None, report: Callable[[str], None] = print) -> History:
        path = Path(path if path is not None else os.environ.get("MMPREP_INTERVIEW_HISTORY", DEFAULT_PATH)).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            report(f"note: no drill history at {path} yet; starting a new one")
            return cls(path, cls._create(path))
        try:
            conn = sqlite3.connect(path)
            cls._verify(conn)
            return cls(path, conn)
        except (sqlite3.DatabaseError, ValueError) as exc:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken handle must not mask the report
                pass
            backup = path.with_name(f"{path.name}.corrupt-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}")
            path.replace(backup)
            report(f"warning: drill history {path} is unreadable ({exc}); moved it to {backup} and started a new one")
            return cls(path, cls._create(path))

    @staticmethod
    def _create(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path)
        with conn:
            for ddl in TABLES.values():
                conn.execute(ddl)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        return conn

    @staticmethod
    def _verify(conn: sqlite3.Connection) -> None:
        """Raise sqlite3.DatabaseError / ValueError unless this is a sound history of our schema."""
        status = conn.execute("PRAGMA quick_check").fetchone()[0]
        if status != "ok":
            raise ValueError(f"integrity check: {status}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = sorted(set(TABLES) - tables)
        if missing:
            raise ValueError(f"missing table(s) {', '.join(missing)}")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            raise ValueError(f"schema version {row[0] if row else None!r}, expected {SCHEMA_VERSION!r}")

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------------ writing
    def start_session(self, options: dict) -> int:
        with self.conn:
            cur = self.conn.execute("INSERT INTO sessions (started_at, options) VALUES (?, ?)",
                                    (now(), json.dumps(options, sort_keys=True)))
        return int(cur.lastrowid)

    def finish_session(self, session_id: int, status: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE sessions SET finished_at = ?, status = ? WHERE id = ?", (now(), status, session_id))

    def record_answer(self, session_id: int, question: dict, lang: str, answer: str, score: int,
                      seconds: float | None = None) -> int:
        """Store one self-scored answer and move the question's Leitner box; returns the new box."""
        box = next_box(self.box(question["id"]), score)
        with self.conn:
            self.conn.execute(
                "INSERT INTO attempts (session_id, question_id, topic, difficulty, lang, answer, score, seconds, answered_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, question["id"], question["topic"], question["difficulty"], lang, answer, score, seconds, now()))
            self.conn.execute(
                "INSERT INTO boxes (question_id, topic, box, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(question_id) DO UPDATE SET box = excluded.box, updated_at = excluded.updated_at",
                (question["id"], question["topic"], box, now()))
        return box

    def record_coding(self, session_id: int, result: dict) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO coding (session_id, topic, task, earned, possible, seconds, limit_seconds, status, feedback, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, result["topic"], result["task"], result.get("earned"), result.get("possible"),
                 result.get("seconds"), result.get("limit_seconds"), result["status"],
                 "\n".join(result.get("feedback", [])), now()))

    # ------------------------------------------------------------------ reading
    def box(self, question_id: str) -> int:
        row = self.conn.execute("SELECT box FROM boxes WHERE question_id = ?", (question_id,)).fetchone()
        return int(row[0]) if row else 1

    def boxes(self) -> dict[str, int]:
        return {qid: int(box) for qid, box in self.conn.execute("SELECT question_id, box FROM boxes")}

    def topic_scores(self) -> dict[str, tuple[int, float]]:
        """topic -> (answers, mean self-score in [0, 2])."""
        rows = self.conn.execute("SELECT topic, COUNT(*), AVG(score) FROM attempts GROUP BY topic")
        return {topic: (int(n), float(mean)) for topic, n, mean in rows}

    def attempts(self, session_id: int | None = None) -> list[dict]:
        sql = "SELECT session_id, question_id, topic, difficulty, lang, score, answered_at FROM attempts"
        args: tuple = ()
        if session_id is not None:
            sql, args = sql + " WHERE session_id = ?", (session_id,)
        keys = ("session_id", "question_id", "topic", "difficulty", "lang", "score", "answered_at")
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(sql + " ORDER BY id", args)]

    def sessions(self) -> list[dict]:
        keys = ("id", "started_at", "finished_at", "status", "options")
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(f"SELECT {', '.join(keys)} FROM sessions ORDER BY id")]

    def coding_results(self) -> list[dict]:
        keys = ("session_id", "topic", "task", "earned", "possible", "seconds", "limit_seconds", "status", "at")
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(f"SELECT {', '.join(keys)} FROM coding ORDER BY id")]


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 1)
