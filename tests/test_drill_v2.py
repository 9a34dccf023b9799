"""The mock-interview drill, version 2: nothing lost, multi-line answers, rubric marks, FSRS, timer, follow-ups, Anki.

Each data-loss case of issue 16 has a test here that shows nothing is lost or touched.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsrs
import pytest

from interview import bank as bank_mod
from interview import scheduler
from interview.drill import DrillOptions, ScriptedInput, run_session
from interview.history import APPLICATION_ID, SCHEMA_VERSION, History
from interview.text import UI, UsageError, width_of, wrap

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def run_interview(*args: str, stdin: str = "", timeout: float = 60, env: dict | None = None,
                  tmp: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    if tmp is not None:  # never the user's ~/.mmprep
        env.setdefault("MMPREP_INTERVIEW_HISTORY", str(tmp / "default-history.sqlite"))
    return subprocess.run([sys.executable, "-m", "interview", *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under `path` (or the file itself) with its bytes: to show that nothing was touched."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def write_answers(path: Path, items: list) -> Path:
    path.write_text(json.dumps({"answers": items}, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bank() -> dict[str, dict]:
    return bank_mod.by_id(bank_mod.all_questions())


def quiet_history(path: Path, **kw) -> History:
    return History.open(path, report=lambda line: None, **kw)


def with_answered_follow_up(q: dict) -> dict:
    """A copy of `q` whose first follow-up carries a model answer and key points in both languages."""
    q = json.loads(json.dumps(q))
    for lang, answer, points in (("en", "Pick r by validation: 4 to 16 is typical; beyond that gains vanish.",
                                  ["validate r", "4-16 typical"]),
                                 ("zh", "用验证集选 r：常见取 4 到 16，再大收益就没了，只会更慢。", ["在验证集上选 r", "常见 4–16"])):
        first, *rest = (bank_mod.follow_up_question(f) for f in q[lang]["follow_ups"])
        q[lang]["follow_ups"] = [{"question": first, "answer": answer, "key_points": points}, *rest]
    return q


# ----------------------------------------------------------------------------- 1. no lost data
def test_a_folder_given_as_history_is_an_error_and_is_left_alone(tmp_path):
    folder = tmp_path / "mmprep"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    before = snapshot(tmp_path)
    done = run_interview("stats", "--history", str(folder), tmp=tmp_path)
    assert done.returncode == 2 and "is a folder" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before, "the folder or its files changed"


@pytest.mark.parametrize("kind", ["text file", "other sqlite", "other application id"])
def test_a_file_that_is_not_a_drill_history_is_refused_untouched(tmp_path, kind):
    path = tmp_path / "file.db"
    if kind == "text file":
        path.write_text("# my thesis\n" * 50)
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")  # a generic meta table is not enough
            conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
            if kind == "other application id":
                conn.execute("PRAGMA application_id = 1234")
        conn.close()
    before = snapshot(tmp_path)
    answers = write_answers(tmp_path / "a.json", [{"answer": "x", "score": 2}])
    before[answers.name] = answers.read_bytes()
    done = run_interview("drill", "--count", "1", "--history", str(path), "--answers", str(answers), tmp=tmp_path)
    assert done.returncode == 2 and "is not a drill history" in done.stderr, done.stdout + done.stderr
    assert snapshot(tmp_path) == before


def test_a_history_of_a_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "h.sqlite"
    quiet_history(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    before = snapshot(tmp_path)
    done = run_interview("stats", "--lang", "zh", "--history", str(path), tmp=tmp_path)
    assert done.returncode == 2 and "更新版本" in done.stderr and "没有改动任何东西" in done.stderr, done.stderr
    assert snapshot(tmp_path) == before


def test_a_locked_history_is_waited_for_then_refused_untouched(tmp_path):
    path = tmp_path / "h.sqlite"
    history = quiet_history(path)
    history.record_answer(history.start_session({}), {"id": "fusion-001", "topic": "fusion", "difficulty": "easy"},
                          "en", "an answer", score=2)
    history.close()
    before = snapshot(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another drill in the middle of a write
    try:
        started = time.monotonic()
        with pytest.raises(UsageError, match="locked by another process") as info:
            quiet_history(path, busy_timeout=0.5)
        assert time.monotonic() - started >= 0.4, "it must wait for the lock before giving up"
        assert info.value.key == "err_busy"
        assert snapshot(tmp_path) == before and not list(tmp_path.glob("*.corrupt-*"))
        # released while we wait: the history opens with everything in it
        threading.Timer(0.3, holder.execute, args=("COMMIT",)).start()
        reopened = quiet_history(path, busy_timeout=10)
        assert len(reopened.attempts()) == 1
        reopened.close()
    finally:
        holder.close()


def test_only_our_own_damaged_history_is_set_aside_and_rebuilt(tmp_path):
    path = tmp_path / "h.sqlite"
    history = quiet_history(path)
    session = history.start_session({})
    for i in range(40):  # enough rows for several pages
        history.record_answer(session, {"id": f"fusion-{i:03d}", "topic": "fusion", "difficulty": "easy"}, "en", "x" * 500,
                              marks="hhpm")
    history.close()
    data = bytearray(path.read_bytes())
    assert int.from_bytes(data[68:72], "big") == APPLICATION_ID  # ours, by the SQLite header
    page = int.from_bytes(data[16:18], "big")
    data[page * 2: page * 6] = b"\xde\xad\xbe\xef" * (page)  # trash pages 3..6, keep the header
    path.write_bytes(bytes(data))
    reports: list[str] = []
    rebuilt = History.open(path, report=reports.append)
    assert rebuilt.attempts() == [] and len(reports) == 1 and "damaged" in reports[0], reports
    rebuilt.close()
    [backup] = tmp_path.glob("h.sqlite.corrupt-*")
    assert backup.read_bytes() == bytes(data), "the damaged file must be kept byte for byte"


def test_an_empty_file_is_initialised_and_a_missing_folder_created(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    quiet_history(empty).close()
    deep = tmp_path / "a" / "b" / "h.sqlite"
    quiet_history(deep).close()
    for p in (empty, deep):
        with sqlite3.connect(p) as conn:
            assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        conn.close()


class Terminal:
    """A drill subprocess on pipes: send lines, wait for text (prompts end without a newline)."""

    def __init__(self, *args: str, env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "interview", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.buffer = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.proc.stdout.fileno(), 4096):
            with self.lock:
                self.buffer += chunk

    @property
    def text(self) -> str:
        with self.lock:
            return self.buffer.decode("utf-8", errors="replace")

    def wait_for(self, needle: str, count: int = 1, after: str = "", timeout: float = 30) -> None:
        """Until `needle` has been printed `count` times after the first `after`."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            seen = text.split(after, 1)[1].count(needle) if after in text else 0
            if seen >= count:
                return
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"never saw {needle!r} x{count} after {after!r}:\n{text}")
            time.sleep(0.05)

    def send(self, text: str) -> None:
        self.proc.stdin.write(text.encode("utf-8"))
        self.proc.stdin.flush()

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.reader.join(timeout=10)


@pytest.mark.parametrize("where", ["typing", "rubric"])
def test_ctrl_c_keeps_every_scored_answer_and_the_one_being_written(tmp_path, bank, where):
    path = tmp_path / "h.sqlite"
    first, second = "fusion-001", "concepts-001"
    n_first = len(bank[first]["en"]["key_points"])
    term = Terminal("drill", "--ids", f"{first},{second}", "--history", str(path), "--no-follow-ups")
    term.wait_for("> ", after="Question 1/2")
    term.send("Concatenate the features,\n\nthen an MLP.\n.\n" + "h" * n_first + "\n")
    term.wait_for("> ", after="Question 2/2")
    term.send("My second answer, first paragraph\nand a second line\n")
    if where == "rubric":
        term.send(".\n")
        term.wait_for("[h/p/m]", after="Question 2/2")  # waiting for the first mark
    else:
        term.wait_for("> ", count=3, after="Question 2/2")  # both lines read; the drill waits for the third
    code = term.interrupt()
    assert code == 130, term.text
    assert "Interrupted: saved 1 scored answer(s)" in term.text and "Traceback" not in term.text, term.text
    assert f"The unfinished answer to {second} was kept too" in term.text, term.text
    with sqlite3.connect(path) as conn:
        scored = conn.execute("SELECT question_id, answer, rubric FROM attempts").fetchall()
        kept = conn.execute("SELECT question_id, answer, reason FROM unscored").fetchall()
        status = conn.execute("SELECT status FROM sessions").fetchall()
    conn.close()
    assert scored == [(first, "Concatenate the features,\n\nthen an MLP.", "h" * n_first)]
    assert kept == [(second, "My second answer, first paragraph\nand a second line", "interrupted")]
    assert status == [("interrupted",)]


def test_a_malformed_answers_file_is_rejected_before_any_session_starts(tmp_path, bank):
    path = tmp_path / "h.sqlite"
    n = len(bank["fusion-001"]["en"]["key_points"])
    cases = {
        "wrong id": [{"id": "concepts-001", "answer": "x", "score": 1}],
        "rubric length": [{"answer": "x", "rubric": "h" * (n + 1)}],
        "bad mark": [{"answer": "x", "rubric": "hhx"}],
        "score is a bool": [{"answer": "x", "score": True}],
        "empty answer": [{"answer": "  ", "score": 1}],
    }
    for name, items in cases.items():
        answers = write_answers(tmp_path / "a.json", items)
        done = run_interview("drill", "--ids", "fusion-001", "--history", str(path), "--answers", str(answers), tmp=tmp_path)
        assert done.returncode == 2 and "error: --answers" in done.stderr, (name, done.stdout, done.stderr)
    if path.exists():
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,), "no session may be left behind"
        conn.close()


def test_count_larger_than_the_bank_says_so(tmp_path):
    answers = write_answers(tmp_path / "a.json", ["x"] * 20)
    done = run_interview("drill", "--topic", "fusion", "--count", "1000", "--history", str(tmp_path / "h.sqlite"),
                         "--answers", str(answers), "--self-score", "1", tmp=tmp_path)
    size = sum(1 for q in bank_mod.all_questions() if q["topic"] == "fusion")
    assert done.returncode == 0, done.stderr
    assert f"note: only {size} question(s) match" in done.stdout and "you asked for 1000" in done.stdout
    assert done.stdout.count("Model answer") == size


def test_an_unknown_coding_task_is_refused_before_anything_starts(tmp_path):
    path = tmp_path / "h.sqlite"
    for spec, message in (("foo.bar", "has no graded task 'bar'"), ("metrics.no_such_fn", "has no graded task"),
                          ("roc_auc", "expected TOPIC.TASK")):
        done = run_interview("drill", "--coding", spec, "--history", str(path), stdin="an answer\n.\n", tmp=tmp_path)
        assert done.returncode == 2 and message in done.stderr, (spec, done.stdout, done.stderr)
        assert "Question" not in done.stdout
    assert not path.exists(), "nothing may be created for a command line that is wrong"


def test_list_into_a_closed_pipe_ends_quietly():
    done = subprocess.run(f"{sys.executable} -m interview list | head -n 2", shell=True, capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr == "", done.stderr


# ----------------------------------------------------------------------------- 2. answer input
def test_multi_line_answers_end_with_a_dot_and_an_empty_answer_asks_again(tmp_path, bank):
    path = tmp_path / "h.sqlite"
    n = len(bank["fusion-001"]["en"]["key_points"])
    stdin = ".\n" + "First paragraph.\n\nSecond paragraph.\n.\n" + "x\n" + "hhpm"[:1] * 0 + "h" * n + "\n"
    done = run_interview("drill", "--ids", "fusion-001", "--history", str(path), stdin=stdin, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The answer is empty" in done.stdout and "Please type h, p or m" in done.stdout  # '.' first; 'x' as a mark
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT answer, rubric FROM attempts").fetchall() == [("First paragraph.\n\nSecond paragraph.", "h" * n)]
    conn.close()


def test_end_of_input_ends_an_answer_and_keeps_it_unscored(tmp_path):
    path = tmp_path / "h.sqlite"
    done = run_interview("drill", "--ids", "fusion-001", "--history", str(path), stdin="Typed, then Ctrl-D\n", tmp=tmp_path)
    assert done.returncode == 0 and "Input ended: saved 0 scored answer(s)" in done.stdout, done.stdout + done.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT answer, reason FROM unscored").fetchall() == [("Typed, then Ctrl-D", "input ended")]
    conn.close()


def test_colon_e_takes_the_answer_from_the_editor(tmp_path, bank):
    n = len(bank["fusion-001"]["en"]["key_points"])
    editor = f"{sys.executable} -c \"import sys; open(sys.argv[1], 'a').write('written in the editor\\n')\""
    done = run_interview("drill", "--ids", "fusion-001", "--history", str(tmp_path / "h.sqlite"),
                         stdin="typed first\n:e\n" + "m" * n + "\n", env={"EDITOR": editor, "VISUAL": ""}, tmp=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        assert conn.execute("SELECT answer FROM attempts").fetchone() == ("typed first\nwritten in the editor",)
    conn.close()


# ----------------------------------------------------------------------------- 3. rubric
@pytest.mark.parametrize(("marks", "rating", "score"), [
    ("hhhh", fsrs.Rating.Easy, 2),     # f = 1
    ("hhhp", fsrs.Rating.Good, 2),     # 3.5 / 4 = 0.875
    ("hhhm", fsrs.Rating.Good, 2),     # 0.75, the Good boundary
    ("hhpm", fsrs.Rating.Hard, 1),     # 2.5 / 4 = 0.625
    ("hhmmm", fsrs.Rating.Hard, 1),    # 0.4, the Hard boundary
    ("hpmm", fsrs.Rating.Again, 0),    # 1.5 / 4 = 0.375
    ("mmm", fsrs.Rating.Again, 0),
])
def test_the_rubric_rule(marks, rating, score):
    grade = scheduler.grade_marks(marks)
    assert (grade.rating, grade.score) == (rating, score), grade
    assert grade.hit + grade.partly + grade.missed == len(marks)


def test_old_scores_map_to_again_hard_good_and_bad_marks_are_refused():
    assert [scheduler.grade_score(s).rating for s in (0, 1, 2)] == [fsrs.Rating.Again, fsrs.Rating.Hard, fsrs.Rating.Good]
    for bad in ("", "hx", None):
        with pytest.raises(ValueError, match="marks"):
            scheduler.grade_marks(bad)
    with pytest.raises(ValueError, match="score"):
        scheduler.grade_score(3)


def test_rubric_marks_are_stored_per_key_point_and_stats_names_the_weakest(tmp_path, bank):
    path = tmp_path / "h.sqlite"
    q = bank["fusion-002"]
    n = len(q["en"]["key_points"])
    marks = "h" * (n - 2) + "pm"
    answers = write_answers(tmp_path / "a.json", [{"id": "fusion-002", "answer": "outer product of 1-extended vectors",
                                                   "rubric": marks}, {"answer": "old form", "score": 1}])
    done = run_interview("drill", "--ids", "fusion-002,concepts-001", "--history", str(path), "--answers", str(answers),
                         tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Your answer:" in done.stdout and "outer product of 1-extended vectors" in done.stdout
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT question_id, point, mark FROM key_points ORDER BY point").fetchall()
    conn.close()
    assert rows == [("fusion-002", i + 1, m) for i, m in enumerate(marks)]
    stats = run_interview("stats", "--history", str(path), tmp=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert "Weakest key points" in stats.stdout
    missed_text = q["en"]["key_points"][n - 1]
    weakest = stats.stdout.split("Weakest key points")[1]
    assert f"fusion-002 #{n}: missed 1" in weakest and missed_text[:30] in " ".join(weakest.split()), stats.stdout
    assert weakest.index(f"#{n}:") < weakest.index(f"#{n - 1}:"), "a miss is weaker than a partly"


# ----------------------------------------------------------------------------- 4. FSRS
def test_fsrs_cards_drive_due_and_a_missed_question_comes_back_before_new_ones(tmp_path, bank):
    history = quiet_history(tmp_path / "h.sqlite")
    session = history.start_session({})
    missed, solid = bank["fusion-001"], bank["fusion-002"]
    history.record_answer(session, missed, "en", "?", marks="mmmmm", at=T0)
    history.record_answer(session, solid, "en", "!", marks="hhhhh", at=T0)
    cards = history.cards()
    assert cards["fusion-001"].due < T0 + timedelta(hours=1) < cards["fusion-002"].due
    pool = bank_mod.select(bank_mod.all_questions(), ["fusion"])
    later = T0 + timedelta(hours=1)
    drawn, n_due, n_new = scheduler.plan_due(pool, 4, cards, history.topic_scores(), later, seed=3)
    assert drawn[0]["id"] == "fusion-001" and n_due == 1 and n_new == len(pool) - 2
    assert "fusion-002" not in [q["id"] for q in drawn], "a question not yet due is not asked by --due"
    # the run: --due asks the missed one first, and says when fewer are left than asked for
    out: list[str] = []
    options = DrillOptions(topics=["fusion"], count=50, due=True, seed=3)
    items = [{"answer": "a", "score": 1}] * 50
    assert run_session(pool, history, options, ScriptedInput(items), out.append, now=later) == 0
    asked = [line.split("· ")[-1].rstrip("]") for line in out if line.startswith("── Question")]
    assert asked[0] == "fusion-001" and "fusion-002" not in asked and len(asked) == len(pool) - 1
    assert any("1 question(s) due and" in line for line in out), out
    history.close()


def test_the_weighted_draw_prefers_due_then_new_then_retained(tmp_path, bank):
    history = quiet_history(tmp_path / "h.sqlite")
    session = history.start_session({})
    pool = bank_mod.select(bank_mod.all_questions(), ["fusion", "evaluation"])
    for q in pool:
        history.record_answer(session, q, "en", ".", marks="m" if q["topic"] == "fusion" else "h", at=T0)
    later = T0 + timedelta(hours=2)  # every fusion card (Again) is due; every evaluation card (Easy) is not
    w = scheduler.weights(pool, history.cards(), history.topic_scores(), later)
    by_topic = {t: {wi for wi, q in zip(w, pool, strict=True) if q["topic"] == t} for t in ("fusion", "evaluation")}
    assert by_topic["fusion"] == {scheduler.DUE_WEIGHT * (1 + scheduler.TOPIC_BOOST)}
    assert max(by_topic["evaluation"]) <= 0.1, by_topic
    first = [q["id"] for q in scheduler.draw(pool, 5, history.cards(), history.topic_scores(), later, seed=7)]
    assert first == [q["id"] for q in scheduler.draw(pool, 5, history.cards(), history.topic_scores(), later, seed=7)]
    assert all(i.startswith("fusion") for i in first), first
    history.close()


def test_retention_sets_the_interval(tmp_path, bank):
    dues = {}
    for retention in (0.8, 0.95):
        history = quiet_history(tmp_path / f"h{retention}.sqlite")
        history.set_retention(retention)
        session = history.start_session({})
        for day in range(3):  # three good reviews, each when due
            card = history.cards().get("fusion-001")
            at = T0 if card is None else max(card.due, T0 + timedelta(days=day))
            history.record_answer(session, bank["fusion-001"], "en", ".", marks="hhhhh", at=at)
        dues[retention] = history.cards()["fusion-001"].due
        history.close()
    assert dues[0.95] < dues[0.8], dues  # higher target retention: review sooner
    done = run_interview("drill", "--retention", "0.5", "--history", str(tmp_path / "x.sqlite"))
    assert done.returncode == 2 and "--retention must be between" in done.stderr


V1_DDL = [  # schema 1, copied from the drill before version 2 (interview/history.py at issue 16)
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT,
        status TEXT NOT NULL DEFAULT 'running', options TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        question_id TEXT NOT NULL, topic TEXT NOT NULL, difficulty TEXT NOT NULL, lang TEXT NOT NULL,
        answer TEXT NOT NULL, score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 2), seconds REAL,
        answered_at TEXT NOT NULL)""",
    """CREATE TABLE boxes (
        question_id TEXT PRIMARY KEY, topic TEXT NOT NULL,
        box INTEGER NOT NULL CHECK (box BETWEEN 1 AND 5), updated_at TEXT NOT NULL)""",
    """CREATE TABLE coding (
        id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL REFERENCES sessions(id),
        topic TEXT NOT NULL, task TEXT NOT NULL, earned REAL, possible REAL, seconds REAL,
        limit_seconds REAL, status TEXT NOT NULL, feedback TEXT NOT NULL DEFAULT '', at TEXT NOT NULL)""",
]


def make_v1_history(path: Path) -> list[tuple]:
    """A schema-1 history as the old drill wrote it (its code path: same DDL, same inserts)."""
    answers = [("fusion-001", "fusion", "easy", 0, T0), ("fusion-002", "fusion", "medium", 2, T0),
               ("fusion-001", "fusion", "easy", 2, T0 + timedelta(days=1)), ("concepts-001", "concepts", "easy", 1, T0)]
    conn = sqlite3.connect(path)
    with conn:
        for ddl in V1_DDL:
            conn.execute(ddl)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO sessions (started_at, finished_at, status) VALUES (?, ?, 'completed')",
                     (T0.isoformat(), T0.isoformat()))
        for qid, topic, difficulty, score, at in answers:
            conn.execute("INSERT INTO attempts (session_id, question_id, topic, difficulty, lang, answer, score, seconds,"
                         " answered_at) VALUES (1, ?, ?, ?, 'en', 'old answer', ?, 42.0, ?)",
                         (qid, topic, difficulty, score, at.isoformat(timespec="seconds")))
        conn.execute("INSERT INTO boxes VALUES ('fusion-001', 'fusion', 2, ?)", (T0.isoformat(),))
        conn.execute("INSERT INTO coding (session_id, topic, task, earned, possible, seconds, limit_seconds, status, at)"
                     " VALUES (1, 'metrics', 'roc_auc', 2, 2, 60, 1200, 'graded', ?)", (T0.isoformat(),))
    conn.close()
    return answers


def test_a_v1_history_is_upgraded_without_losing_anything(tmp_path):
    path = tmp_path / "h.sqlite"
    answers = make_v1_history(path)
    v1_bytes = path.read_bytes()
    reports: list[str] = []
    history = History.open(path, report=reports.append)
    assert len(reports) == 1 and "from schema 1 to 2" in reports[0] and "4 past answer(s) replayed" in reports[0], reports
    [backup] = tmp_path.glob("h.sqlite.v1-*.bak")
    with sqlite3.connect(backup) as conn:  # the copy is the v1 file, answers and all
        assert conn.execute("SELECT value FROM meta").fetchone() == ("1",)
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (4,)
    conn.close()
    assert len(v1_bytes) > 0
    stored = history.attempts()
    assert [(a["question_id"], a["score"], a["seconds"], a["follow_up"]) for a in stored] == \
           [(qid, score, 42.0, 0) for qid, _, _, score, _ in answers]
    cards = history.cards()
    assert set(cards) == {"fusion-001", "fusion-002", "concepts-001"}
    # fusion-001 was missed, then solid a day later: replayed in that order, exactly as FSRS would
    expected = scheduler.review(scheduler.review(None, "fusion-001", fsrs.Rating.Again, T0), "fusion-001",
                                fsrs.Rating.Good, T0 + timedelta(days=1))
    assert cards["fusion-001"].to_dict() == expected.to_dict()
    assert history.coding_results()[0]["task"] == "roc_auc"
    history.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT question_id, box FROM boxes").fetchall() == [("fusion-001", 2)]  # kept
        assert conn.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    conn.close()
    again: list[str] = []
    History.open(path, report=again.append).close()
    assert again == [], "an upgraded history opens without a second upgrade"


# ----------------------------------------------------------------------------- 6. timed mode
def test_timed_mode_shows_the_budget_and_the_answer_times(tmp_path, bank):
    path = tmp_path / "h.sqlite"
    easy = "concepts-001"
    assert bank[easy]["difficulty"] == "easy"
    answers = write_answers(tmp_path / "a.json", [{"answer": "slow", "score": 2, "seconds": 150}])
    done = run_interview("drill", "--timed", "--ids", easy, "--history", str(path), "--answers", str(answers), tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "time budget 2 min" in done.stdout and "answered in 2:30 of 2:00; over the budget by 0:30" in done.stdout
    assert "1 over the time budget" in done.stdout and f"{easy:<22}" in done.stdout
    stats = run_interview("stats", "--history", str(path), tmp=tmp_path)
    concepts_row = next(line for line in stats.stdout.splitlines() if line.strip().startswith("concepts"))
    assert "2:30" in concepts_row, stats.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT seconds, limit_seconds FROM attempts").fetchone() == (150.0, 120.0)
    conn.close()


# ----------------------------------------------------------------------------- 5 (code). follow-ups
def test_the_schema_accepts_answered_follow_ups_and_check_counts_the_rest(tmp_path, bank):
    q = with_answered_follow_up(bank["fusion-003"])
    path = tmp_path / "fusion.json"
    path.write_text(json.dumps({"topic": "fusion", "questions": [q]}, ensure_ascii=False), encoding="utf-8")
    [loaded] = bank_mod.load_file(path)
    assert bank_mod.answered_follow_ups(loaded) == [0]
    assert bank_mod.follow_up_counts([loaded]) == (len(q["en"]["follow_ups"]), len(q["en"]["follow_ups"]) - 1)
    assert bank_mod.follow_up_problems(loaded) == []
    one_sided = json.loads(json.dumps(q))
    one_sided["zh"]["follow_ups"][0] = one_sided["zh"]["follow_ups"][0]["question"]
    assert "answered in one language only" in bank_mod.follow_up_problems(one_sided)[0]
    q["en"]["follow_ups"][0]["key_points"] = []
    path.write_text(json.dumps({"topic": "fusion", "questions": [q]}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(bank_mod.BankError, match="follow_ups/0"):
        bank_mod.load_file(path)
    done = run_interview("check")
    assert re.search(r"follow-ups: \d+ of \d+ answered in both languages; \d+ still without an answer", done.stdout)


def test_a_fully_hit_answer_earns_one_answered_follow_up(tmp_path, bank):
    q = with_answered_follow_up(bank["fusion-003"])
    other = bank["concepts-001"]
    n = len(q["zh"]["key_points"])
    history = quiet_history(tmp_path / "h.sqlite")
    items = [{"answer": "低秩分解", "rubric": "h" * n}, {"id": "fusion-003/f1", "answer": "验证集", "rubric": "hp"},
             {"answer": "x", "rubric": "h" * len(other["zh"]["key_points"])}]
    out: list[str] = []
    options = DrillOptions(ids=["fusion-003", "concepts-001"], lang="zh")
    assert run_session([q, other], history, options, ScriptedInput(items), out.append) == 0
    text = "\n".join(out)
    assert "── 追问 1" in text and q["zh"]["follow_ups"][0]["question"] in text, text
    stored = [(a["question_id"], a["follow_up"], a["rubric"]) for a in history.attempts()]
    assert stored == [("fusion-003", 0, "h" * n), ("fusion-003", 1, "hp"), ("concepts-001", 0, items[2]["rubric"])]
    assert set(history.cards()) == {"fusion-003", "concepts-001"}, "a follow-up has no card of its own"
    history.close()
    # a partly-hit answer earns none: the next item answers the next question
    history = quiet_history(tmp_path / "h2.sqlite")
    items = [{"answer": "a", "rubric": "p" + "h" * (n - 1)}, {"answer": "b", "score": 1}]
    assert run_session([q, other], history, options, ScriptedInput(items), out.append) == 0
    assert [(a["question_id"], a["follow_up"]) for a in history.attempts()] == [("fusion-003", 0), ("concepts-001", 0)]
    history.close()


# ----------------------------------------------------------------------------- 7. Anki export
def read_apkg(path: Path) -> list[tuple[str, str, str]]:
    with zipfile.ZipFile(path) as z:
        db = path.with_suffix(".anki2")
        db.write_bytes(z.read("collection.anki2"))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT guid, tags, flds FROM notes ORDER BY sfld").fetchall()
    conn.close()
    return rows


def test_anki_export_has_stable_guids_tags_and_both_sides(tmp_path, bank):
    import genanki

    first, second = tmp_path / "one.apkg", tmp_path / "two.apkg"
    for path in (first, second):
        done = run_interview("export", "--apkg", str(path), "--lang", "both", "--topic", "fusion", tmp=tmp_path)
        assert done.returncode == 0, done.stderr
    fusion = [q for q in bank.values() if q["topic"] == "fusion"]
    rows = read_apkg(first)
    assert len(rows) == 2 * len(fusion)
    assert [r[0] for r in rows] == [r[0] for r in read_apkg(second)], "a re-export must keep every note's GUID"
    by_guid = {guid: (tags.split(), fields.split("\x1f")) for guid, tags, fields in rows}
    q = bank["fusion-002"]
    for lang in ("en", "zh"):
        tags, (note_id, front, back) = by_guid[genanki.guid_for("mmprep-interview", "fusion-002", lang)]
        assert {"topic::fusion", f"difficulty::{q['difficulty']}", f"lang::{lang}"} <= set(tags)
        assert note_id == f"fusion-002 ({lang})"
        assert q[lang]["question"][:20] in front and q[lang]["key_points"][0][:15] in back
        assert bank_mod.follow_up_question(q[lang]["follow_ups"][0])[:10] in back and q[lang]["answer"][:20] in back
    done = run_interview("export", "--apkg", str(tmp_path), tmp=tmp_path)
    assert done.returncode == 2 and "is a folder" in done.stderr


# ----------------------------------------------------------------------------- 8. text and language
def test_chinese_wraps_by_display_width_and_keeps_its_indent():
    text = "低秩多模态融合把权重张量约束成秩 r 的 CP 形式，每个模态投影 r 次，在模态间逐元素相乘，再对秩求和。" * 3
    lines = wrap(text, "    ", width=40).splitlines()
    assert len(lines) > 3
    assert all(width_of(line) <= 40 for line in lines), [width_of(line) for line in lines]
    assert all(line.startswith("    ") and not line[4].isspace() for line in lines)
    assert not any(line.strip()[0] in "，。、；：？！）" for line in lines), lines
    assert "".join(line.strip() for line in lines).replace(" ", "") == text.replace(" ", "")
    english = wrap("alpha beta gamma delta " * 10, "  ", width=30).splitlines()
    assert all(width_of(line) <= 30 for line in english) and all(line.startswith("  ") for line in english)


def test_every_interface_string_exists_in_both_languages_and_chinese_is_chinese():
    assert UI["en"].keys() == UI["zh"].keys()
    neutral = {"colon", "comma"}
    for key, text in UI["zh"].items():
        if key not in neutral:
            assert CJK.search(text), f"UI['zh'][{key!r}] has no Chinese: {text!r}"
        assert re.findall(r"{(\w+)", text) == re.findall(r"{(\w+)", UI["en"][key]) or \
            set(re.findall(r"{(\w+)", text)) == set(re.findall(r"{(\w+)", UI["en"][key])), key


def test_a_chinese_session_prints_no_english_interface_words(tmp_path, bank):
    n = len(bank["fusion-001"]["zh"]["key_points"])
    done = run_interview("drill", "--lang", "zh", "--timed", "--ids", "fusion-001", "--history", str(tmp_path / "h.sqlite"),
                         stdin="我的回答\n.\n" + "h" * n + "\n", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    q = bank["fusion-001"]["zh"]
    shown = re.sub(r"\s+", "", done.stdout.replace(str(tmp_path), ""))  # wrapping only moves whitespace: compare without it
    for part in [q["question"], q["answer"], *q["key_points"], *map(bank_mod.follow_up_question, q["follow_ups"])]:
        shown = shown.replace(re.sub(r"\s+", "", part), " ")
    interface_words = {w.lower() for v in UI["en"].values() for w in re.findall(r"[A-Za-z]{4,}", v)}
    code_words = {"fusion", "lessons", "ipynb", "exercises", "sqlite", "history", "editor", "visual", "ctrl", "code", "hhpm"}  # ids, paths, keys
    leaked = {w for w in re.findall(r"[A-Za-z]{4,}", shown) if w.lower() in interface_words - code_words}
    assert not leaked, f"English interface words in zh mode: {sorted(leaked)}\n{done.stdout}"
