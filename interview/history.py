"""Drill history in a local SQLite file: sessions, marked answers, FSRS cards, key-point marks, coding tasks.

Data-safety rules (tests/test_drill_v2.py shows each):

* every answer is committed the moment it is scored; an answer interrupted before it was scored
  is kept in `unscored` (Ctrl-C, end of input, ':q');
* a missing file is created (with its folder); a folder, a non-SQLite file, an SQLite file of
  another application, or a history of a newer schema is refused with a clear error and never
  touched;
* a history another process holds locked is waited for (`busy_timeout` seconds), then refused,
  nothing touched;
* only a damaged file that is recognisably ours (our `application_id`, or schema 1's `meta`,
  `sessions` and `attempts` tables) is moved aside to `<name>.corrupt-<UTC time>` (with its
  journal) and a fresh history started; this is reported;
* a schema-1 history (Leitner boxes) is upgraded in one transaction after a copy is written to
  `<name>.v1-<UTC time>.bak`: new columns and tables are added, the boxes table is kept, and
  the stored answers are replayed through FSRS to build the cards.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import fsrs

from interview import scheduler
from interview.text import UsageError, say

DEFAULT_PATH = Path("~/.mmprep/interview_history.sqlite")
SCHEMA_VERSION = 2
APPLICATION_ID = 0x4D4D5049  # "MMPI" in the SQLite header: this file is a drill history
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 10.0
SQLITE_BUSY, SQLITE_LOCKED = 5, 6

V1_TABLES = ("meta", "sessions", "attempts", "boxes", "coding")
TABLES = {
    "meta": "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "sessions": """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT,
        status TEXT NOT NULL DEFAULT 'running', options TEXT NOT NULL DEFAULT '{}')""",
    "attempts": """CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        question_id TEXT NOT NULL, topic TEXT NOT NULL, difficulty TEXT NOT NULL, lang TEXT NOT NULL,
        answer TEXT NOT NULL, score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 2), seconds REAL,
        answered_at TEXT NOT NULL, rubric TEXT, follow_up INTEGER NOT NULL DEFAULT 0, limit_seconds REAL)""",
    "coding": """CREATE TABLE coding (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        topic TEXT NOT NULL, task TEXT NOT NULL, earned REAL, possible REAL, seconds REAL,
        limit_seconds REAL, status TEXT NOT NULL, feedback TEXT NOT NULL DEFAULT '', at TEXT NOT NULL)""",
    "cards": """CREATE TABLE cards (
        question_id TEXT PRIMARY KEY, topic TEXT NOT NULL, card TEXT NOT NULL, due TEXT NOT NULL,
        reviews INTEGER NOT NULL, updated_at TEXT NOT NULL)""",
    "key_points": """CREATE TABLE key_points (
        attempt_id INTEGER NOT NULL REFERENCES attempts(id), question_id TEXT NOT NULL,
        follow_up INTEGER NOT NULL DEFAULT 0, point INTEGER NOT NULL,
        mark TEXT NOT NULL CHECK (mark IN ('h', 'p', 'm')), PRIMARY KEY (attempt_id, point))""",
    "unscored": """CREATE TABLE unscored (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        question_id TEXT NOT NULL, follow_up INTEGER NOT NULL DEFAULT 0, lang TEXT NOT NULL,
        answer TEXT NOT NULL, seconds REAL, reason TEXT NOT NULL, at TEXT NOT NULL)""",
}
INDEXES = ("CREATE INDEX key_points_by_question ON key_points (question_id, follow_up, point)",
           "CREATE INDEX attempts_by_question ON attempts (question_id)")
# v1 -> v2: what the upgrade adds to a schema-1 file (the boxes table stays)
V2_COLUMNS = ("ALTER TABLE attempts ADD COLUMN rubric TEXT",
              "ALTER TABLE attempts ADD COLUMN follow_up INTEGER NOT NULL DEFAULT 0",
              "ALTER TABLE attempts ADD COLUMN limit_seconds REAL")


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class _Damaged(Exception):
    """Our own history, but damaged: set it aside."""


class History:
    """One SQLite history file. Use `History.open(path, report=print)`; every write is its own transaction."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn

    # ------------------------------------------------------------------ opening, repair, upgrade
    @classmethod
    def open(cls, path: str | Path | None = None, report: Callable[[str], None] = print, *,
             lang: str = "en", busy_timeout: float = BUSY_TIMEOUT_S) -> History:
        """Open (or create) the history; UsageError (nothing touched) when the path is not ours or is busy."""
        path = Path(path if path is not None else os.environ.get("MMPREP_INTERVIEW_HISTORY", DEFAULT_PATH)).expanduser()
        if path.is_dir():
            raise UsageError("err_is_dir", path=path)
        if path.exists() and not path.is_file():
            raise UsageError("err_not_file", path=path)
        if not path.exists() or path.stat().st_size == 0:  # an empty file holds nothing to lose
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = cls._connect(path, busy_timeout)
                cls._create(conn)
            except (OSError, sqlite3.Error) as exc:
                if isinstance(exc, sqlite3.Error) and _is_busy(exc):
                    raise UsageError("err_busy", path=path, seconds=busy_timeout) from exc
                raise UsageError("err_unreadable", path=path, why=exc) from exc
            report(say(lang, "new_history", path=path))
            return cls(path, conn)
        try:
            with open(path, "rb") as f:
                header = f.read(100)
        except OSError as exc:
            raise UsageError("err_unreadable", path=path, why=exc) from exc
        if not header.startswith(SQLITE_MAGIC):
            raise UsageError("err_not_ours", path=path, why="not an SQLite file")
        app_id = int.from_bytes(header[68:72], "big")
        if app_id not in (0, APPLICATION_ID):
            raise UsageError("err_not_ours", path=path, why=f"an SQLite file of another application, id {app_id:#x}")
        ours = app_id == APPLICATION_ID
        conn = cls._connect(path, busy_timeout)
        try:
            version = cls._inspect(conn, path, ours)
            if version < SCHEMA_VERSION:
                cls._upgrade(conn, path, version, report, lang)
            return cls(path, conn)
        except _Damaged as exc:
            conn.close()
            return cls._set_aside(path, str(exc), report, lang, busy_timeout)
        except sqlite3.Error as exc:
            conn.close()
            if _is_busy(exc):
                raise UsageError("err_busy", path=path, seconds=busy_timeout) from exc
            raise UsageError("err_unreadable", path=path, why=exc) from exc
        except BaseException:
            conn.close()
            raise

    @staticmethod
    def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
        # isolation_level=None: this class opens every transaction itself (BEGIN IMMEDIATE ... COMMIT)
        return sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for ddl in (*TABLES.values(), *INDEXES):
                conn.execute(ddl)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _inspect(conn: sqlite3.Connection, path: Path, ours: bool) -> int:
        """The schema version of a history; _Damaged for our own damaged file, UsageError for anything else."""
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            ours = ours or {"meta", "sessions", "attempts"} <= tables  # schema 1 had no application_id
            if not ours:
                raise UsageError("err_not_ours", path=path, why="it has no drill tables")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc) or not ours:
                raise
            raise _Damaged(str(exc)) from exc
        if row is None or not str(row[0]).isdigit():
            raise _Damaged("no schema version")
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise UsageError("err_newer", path=path, found=version, known=SCHEMA_VERSION)
        try:
            status = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise
            raise _Damaged(str(exc)) from exc
        if status != "ok":
            raise _Damaged(f"integrity check: {status}")
        needed = V1_TABLES if version == 1 else tuple(TABLES)
        missing = sorted(set(needed) - tables)
        if missing:
            raise _Damaged(f"missing table(s) {', '.join(missing)}")
        return version

    @classmethod
    def _set_aside(cls, path: Path, why: str, report: Callable[[str], None], lang: str, busy_timeout: float) -> History:
        backup = path.with_name(f"{path.name}.corrupt-{_stamp()}")
        for suffix in ("-journal", "-wal", "-shm"):  # a journal left next to a new file would be replayed into it
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(backup.with_name(backup.name + suffix))
        path.replace(backup)
        conn = cls._connect(path, busy_timeout)
        cls._create(conn)
        report(say(lang, "corrupt", path=path, why=why, backup=backup))
        return cls(path, conn)

    @classmethod
    def _upgrade(cls, conn: sqlite3.Connection, path: Path, version: int, report: Callable[[str], None], lang: str) -> None:
        """Schema 1 -> 2 in one transaction, after a backup copy; the Leitner boxes table is kept."""
        backup = path.with_name(f"{path.name}.v{version}-{_stamp()}.bak")
        copy = sqlite3.connect(backup)
        try:
            conn.backup(copy)
        finally:
            copy.close()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row[0] == str(SCHEMA_VERSION):  # another drill upgraded it while we waited for the lock
                conn.execute("COMMIT")
                backup.unlink(missing_ok=True)
                return
            for ddl in V2_COLUMNS:
                conn.execute(ddl)
            for name in ("cards", "key_points", "unscored"):
                conn.execute(TABLES[name])
            for ddl in INDEXES:
                conn.execute(ddl)
            replayed = cls._replay(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        report(say(lang, "migrated", path=path, old=version, new=SCHEMA_VERSION, n=replayed, backup=backup))

    @staticmethod
    def _replay(conn: sqlite3.Connection) -> int:
        """Build every card from the stored answers, oldest first (schema 1: score 0/1/2 -> Again/Hard/Good)."""
        cards: dict[str, tuple[str, fsrs.Card, int]] = {}
        rows = conn.execute("SELECT question_id, topic, score, answered_at FROM attempts WHERE follow_up = 0 ORDER BY id")
        n = 0
        for qid, topic, score, answered_at in rows.fetchall():
            at = datetime.fromisoformat(answered_at)
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            _, card, reviews = cards.get(qid, (topic, None, 0))
            cards[qid] = (topic, scheduler.review(card, qid, scheduler.grade_score(int(score)).rating, at), reviews + 1)
            n += 1
        for qid, (topic, card, reviews) in cards.items():
            conn.execute("INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?)",
                         (qid, topic, card.to_json(), card.due.isoformat(), reviews, now_utc().isoformat()))
        return n

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ settings
    @property
    def retention(self) -> float:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'desired_retention'").fetchone()
        return float(row[0]) if row else scheduler.DEFAULT_RETENTION

    def set_retention(self, retention: float) -> None:
        value = scheduler.check_retention(retention)
        with self._transaction() as conn:
            conn.execute("INSERT INTO meta VALUES ('desired_retention', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (repr(value),))

    # ------------------------------------------------------------------ writing
    def start_session(self, options: dict) -> int:
        with self._transaction() as conn:
            cur = conn.execute("INSERT INTO sessions (started_at, options) VALUES (?, ?)",
                               (now_utc().isoformat(), json.dumps(options, sort_keys=True, default=str)))
        return int(cur.lastrowid)

    def finish_session(self, session_id: int, status: str) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE sessions SET finished_at = ?, status = ? WHERE id = ?", (now_utc().isoformat(), status, session_id))

    def record_answer(self, session_id: int, question: dict, lang: str, answer: str, *, marks: str | None = None,
                      score: int | None = None, seconds: float | None = None, limit_seconds: float | None = None,
                      follow_up: int = 0, at: datetime | None = None) -> tuple[scheduler.Grade, fsrs.Card | None]:
        """Store one answer with its rubric marks (or an old-style 0/1/2 score) in one transaction.

        A main question's FSRS card is reviewed with the grade's rating; a follow-up (follow_up=k, 1-based)
        only stores its marks. Returns (grade, the card after the review or None).
        """
        if (marks is None) == (score is None):
            raise ValueError("record_answer: give exactly one of marks and score")
        grade = scheduler.grade_marks(marks) if marks is not None else scheduler.grade_score(score)
        at = at or now_utc()
        card = None
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO attempts (session_id, question_id, topic, difficulty, lang, answer, score, seconds,"
                " answered_at, rubric, follow_up, limit_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, question["id"], question["topic"], question["difficulty"], lang, answer, grade.score,
                 seconds, at.isoformat(), marks, follow_up, limit_seconds))
            attempt_id = cur.lastrowid
            for point, mark in enumerate(marks or "", 1):
                conn.execute("INSERT INTO key_points VALUES (?, ?, ?, ?, ?)", (attempt_id, question["id"], follow_up, point, mark))
            if follow_up == 0:
                row = conn.execute("SELECT card, reviews FROM cards WHERE question_id = ?", (question["id"],)).fetchone()
                before = fsrs.Card.from_json(row[0]) if row else None
                card = scheduler.review(before, question["id"], grade.rating, at, self.retention)
                conn.execute(
                    "INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(question_id) DO UPDATE SET"
                    " card = excluded.card, due = excluded.due, reviews = excluded.reviews, updated_at = excluded.updated_at",
                    (question["id"], question["topic"], card.to_json(), card.due.isoformat(), (row[1] if row else 0) + 1,
                     at.isoformat()))
        return grade, card

    def record_unscored(self, session_id: int, question_id: str, lang: str, answer: str, reason: str,
                        seconds: float | None = None, follow_up: int = 0) -> None:
        """Keep an answer that was being written (or waiting for its marks) when the session ended."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO unscored (session_id, question_id, follow_up, lang, answer, seconds, reason, at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (session_id, question_id, follow_up, lang, answer, seconds, reason, now_utc().isoformat()))

    def record_coding(self, session_id: int, result: dict) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO coding (session_id, topic, task, earned, possible, seconds, limit_seconds, status, feedback, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, result["topic"], result["task"], result.get("earned"), result.get("possible"),
                 result.get("seconds"), result.get("limit_seconds"), result["status"],
                 "\n".join(result.get("feedback", [])), now_utc().isoformat()))

    # ------------------------------------------------------------------ reading
    def cards(self) -> dict[str, fsrs.Card]:
        return {qid: fsrs.Card.from_json(text) for qid, text in self.conn.execute("SELECT question_id, card FROM cards")}

    def topic_scores(self) -> dict[str, tuple[int, float]]:
        """topic -> (answers, mean 0/1/2 score) over main questions."""
        rows = self.conn.execute("SELECT topic, COUNT(*), AVG(score) FROM attempts WHERE follow_up = 0 GROUP BY topic")
        return {topic: (int(n), float(mean)) for topic, n, mean in rows}

    def topic_coverage(self) -> dict[str, float]:
        """topic -> mean share of key points covered (rubric marks; an old 0/1/2 score counts as score / 2)."""
        totals: dict[str, list[float]] = {}
        for topic, rubric, score in self.conn.execute("SELECT topic, rubric, score FROM attempts WHERE follow_up = 0"):
            value = scheduler.grade_marks(rubric).coverage if rubric else score / scheduler.MAX_SCORE
            totals.setdefault(topic, []).append(value)
        return {topic: sum(values) / len(values) for topic, values in totals.items()}

    def topic_times(self) -> dict[str, float]:
        """topic -> mean seconds per answer (answers with a time only)."""
        rows = self.conn.execute("SELECT topic, AVG(seconds) FROM attempts WHERE follow_up = 0 AND seconds IS NOT NULL GROUP BY topic")
        return {topic: float(mean) for topic, mean in rows}

    def attempts(self, session_id: int | None = None) -> list[dict]:
        keys = ("id", "session_id", "question_id", "topic", "difficulty", "lang", "answer", "score", "rubric",
                "follow_up", "seconds", "limit_seconds", "answered_at")
        sql = f"SELECT {', '.join(keys)} FROM attempts"
        args: tuple = ()
        if session_id is not None:
            sql, args = sql + " WHERE session_id = ?", (session_id,)
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(sql + " ORDER BY id", args)]

    def unscored(self) -> list[dict]:
        keys = ("session_id", "question_id", "follow_up", "lang", "answer", "seconds", "reason", "at")
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(f"SELECT {', '.join(keys)} FROM unscored ORDER BY id")]

    def weak_points(self, limit: int = 5) -> list[dict]:
        """The main-question key points missed or partly hit most often: weakness = (missed + partly / 2) / marks."""
        rows = self.conn.execute(
            "SELECT question_id, point, COUNT(*), SUM(mark = 'm'), SUM(mark = 'p') FROM key_points WHERE follow_up = 0"
            " GROUP BY question_id, point HAVING SUM(mark != 'h') > 0"
            " ORDER BY (SUM(mark = 'm') + 0.5 * SUM(mark = 'p')) * 1.0 / COUNT(*) DESC, COUNT(*) DESC, question_id, point"
            " LIMIT ?", (limit,))
        return [{"question_id": q, "point": p, "n": n, "missed": m, "partly": pa} for q, p, n, m, pa in rows]

    def follow_up_counts(self, question_id: str) -> dict[int, int]:
        rows = self.conn.execute("SELECT follow_up, COUNT(*) FROM attempts WHERE question_id = ? AND follow_up > 0"
                                 " GROUP BY follow_up", (question_id,))
        return {int(k): int(n) for k, n in rows}

    def sessions(self) -> list[dict]:
        keys = ("id", "started_at", "finished_at", "status", "options")
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(f"SELECT {', '.join(keys)} FROM sessions ORDER BY id")]

    def coding_results(self) -> list[dict]:
        keys = ("session_id", "topic", "task", "earned", "possible", "seconds", "limit_seconds", "status", "at")
        return [dict(zip(keys, row, strict=True)) for row in self.conn.execute(f"SELECT {', '.join(keys)} FROM coding ORDER BY id")]
