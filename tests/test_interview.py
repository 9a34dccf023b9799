"""The interview question bank (schema, languages, links) and the mock-interview drill."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from interview import bank as bank_mod
from interview.cli import main as interview_main
from interview.drill import DrillOptions, ScriptedInput, choose_coding_task, run_session
from interview.history import History

ROOT = Path(__file__).resolve().parents[1]
QUESTION_FILES = sorted(bank_mod.QUESTIONS_DIR.glob("*.json"))
CJK = re.compile(r"[\u4e00-\u9fff]")


def run_interview(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "interview", *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return bank_mod.load_bank()


def write_answers(path: Path, items: list) -> Path:
    path.write_text(json.dumps({"answers": items}, ensure_ascii=False), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- the bank
@pytest.mark.parametrize("path", QUESTION_FILES, ids=[p.stem for p in QUESTION_FILES])
def test_bank_file_matches_the_schema(path):
    questions = bank_mod.load_file(path)  # raises BankError naming the entry on any schema violation
    assert path.stem == json.loads(path.read_text(encoding="utf-8"))["topic"], f"{path.name}: file name and topic differ"
    assert all(q["id"].startswith(path.stem + "-") for q in questions), f"{path.name}: ids must start with the topic"


def test_bank_has_at_least_80_questions_with_unique_ids(questions):
    assert len(questions) >= 80, len(questions)
    duplicates = [i for i, n in Counter(q["id"] for q in questions).items() if n > 1]
    assert not duplicates, duplicates


def test_every_topic_of_the_issue_is_covered(questions):
    per_topic = Counter(q["topic"] for q in questions)
    thin = {t: per_topic[t] for t in bank_mod.TOPICS if per_topic[t] < 6}
    assert not thin, f"topics with fewer than 6 questions: {thin}"
    assert Counter(q["difficulty"] for q in questions).keys() == {"easy", "medium", "hard"}
    code_questions = [q for q in questions if q["topic"] == "code_reading"]
    assert all(q.get("code") for q in code_questions), "every code_reading question shows a snippet"


def test_the_six_classic_questions_are_present_once_each(questions):
    classics = Counter(q["classic"] for q in questions if "classic" in q)
    assert sorted(classics) == sorted(bank_mod.CLASSICS), f"classic questions present: {sorted(classics)}"
    assert set(classics.values()) == {1}, f"each classic question exactly once: {dict(classics)}"


def test_every_entry_is_complete_in_english_and_chinese(questions):
    for q in questions:
        en, zh = q["en"], q["zh"]
        for lang, part in (("en", en), ("zh", zh)):
            for field in ("question", "answer"):
                assert part[field].strip(), f"{q['id']}: empty {lang}.{field}"
            assert 3 <= len(part["key_points"]) <= 6, f"{q['id']}: {lang} has {len(part['key_points'])} key points"
            assert 1 <= len(part["follow_ups"]) <= 3, f"{q['id']}: {lang} has {len(part['follow_ups'])} follow-ups"
            follow_ups = [bank_mod.follow_up_question(f) for f in part["follow_ups"]]  # a string, or an answered object
            assert all(p.strip() for p in part["key_points"] + follow_ups), f"{q['id']}: blank {lang} item"
        assert len(en["key_points"]) == len(zh["key_points"]), f"{q['id']}: key points differ in number between en and zh"
        assert len(en["follow_ups"]) == len(zh["follow_ups"]), f"{q['id']}: follow-ups differ in number between en and zh"
        assert not CJK.search(en["question"] + en["answer"]), f"{q['id']}: Chinese characters in the English text"
        assert not bank_mod.follow_up_problems(q), bank_mod.follow_up_problems(q)
        for text in [zh["question"], zh["answer"], *map(bank_mod.follow_up_question, zh["follow_ups"])]:
            assert CJK.search(text), f"{q['id']}: a zh field has no Chinese: {text[:40]!r}"
        chinese_points = sum(bool(CJK.search(p)) for p in zh["key_points"])  # a formula alone may stay as is
        assert chinese_points >= len(zh["key_points"]) - 1, f"{q['id']}: zh key points are not translated"
        en_follow_ups = list(map(bank_mod.follow_up_question, en["follow_ups"]))
        assert not any(CJK.search(p) for p in en["key_points"] + en_follow_ups), f"{q['id']}: Chinese in en"
        assert len(en["answer"]) >= 400 and len(zh["answer"]) >= 150, f"{q['id']}: model answer too short"


def test_links_name_course_lessons_and_the_public_api(questions):
    problems = [p for q in questions for p in bank_mod.link_problems(q)]
    assert not problems, "\n".join(problems[:10])


def test_links_resolve_in_this_checkout(questions):
    """Each linked lesson exists and each exercise name is defined in solutions/<topic>.py (read with ast)."""
    problems = [p for q in questions for p in bank_mod.link_problems(q, ROOT)]
    assert not problems, f"{len(problems)} unresolved link(s), e.g.\n" + "\n".join(problems[:10])


def test_bad_entries_are_rejected_with_the_entry_named(tmp_path, questions):
    entry = json.loads(json.dumps(questions[0]))
    entry["zh"]["answer"] = ""
    bad = tmp_path / "concepts.json"
    bad.write_text(json.dumps({"topic": "concepts", "questions": [entry]}), encoding="utf-8")
    with pytest.raises(bank_mod.BankError, match=r"concepts\.json: questions/0/zh/answer"):
        bank_mod.load_file(bad)
    twice = next(q for q in questions if q["topic"] == "concepts")
    (tmp_path / "concepts.json").write_text(json.dumps({"topic": "concepts", "questions": [twice, twice]}))
    with pytest.raises(bank_mod.BankError, match="duplicate id"):
        bank_mod.load_bank(tmp_path)


# spaced repetition (FSRS), the rubric and data safety: tests/test_drill_v2.py


# ----------------------------------------------------------------------------- the drill
def test_scripted_drill_runs_end_to_end_and_keeps_history(tmp_path):
    history_path = tmp_path / "history.sqlite"
    answers = write_answers(tmp_path / "answers.json", [
        {"answer": "Early fusion joins features; late fusion joins decisions.", "score": 2},
        {"answer": "不太确定", "score": 0},
        "an answer scored by --self-score",
    ])
    done = run_interview("drill", "--topic", "fusion,alignment", "--difficulty", "easy,medium", "--count", "3",
                         "--seed", "11", "--lang", "zh", "--history", str(history_path), "--answers", str(answers),
                         "--self-score", "1")
    assert done.returncode == 0, done.stderr
    assert "还没有练习记录" in done.stdout  # a missing history file is reported (in the session language), then created
    assert done.stdout.count("参考答案") == 3 and "本次练习小结" in done.stdout and "历次练习的总体进度" in done.stdout
    with sqlite3.connect(history_path) as conn:
        rows = conn.execute("SELECT topic, difficulty, lang, score FROM attempts ORDER BY id").fetchall()
        status = conn.execute("SELECT status FROM sessions").fetchall()
    assert [r[3] for r in rows] == [2, 0, 1] and {r[2] for r in rows} == {"zh"}
    assert {r[0] for r in rows} <= {"fusion", "alignment"} and {r[1] for r in rows} <= {"easy", "medium"}
    assert status == [("completed",)]

    stats = run_interview("stats", "--history", str(history_path))
    assert stats.returncode == 0 and "1 session(s), 3 answer(s)" in stats.stdout, stats.stdout


def test_answers_file_errors_are_one_line_usage_errors(tmp_path):
    no_score = write_answers(tmp_path / "a.json", ["an answer without a score"])
    done = run_interview("drill", "--answers", str(no_score), "--history", str(tmp_path / "h.sqlite"))
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --answers"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_list_and_show_print_the_bank(capsys):
    assert interview_main(["list", "--topic", "evaluation", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "evaluation-001" in out and "评估指标" in out and "共 10 道题" in out
    assert interview_main(["show", "code_reading-004"]) == 0
    out = capsys.readouterr().out
    assert "nn.ParameterList" in out and "self.factors = [nn.Parameter" in out
    assert interview_main(["show", "no-such-id"]) == 2


def test_ctrl_c_saves_the_answers_given_and_exits_cleanly(tmp_path, questions):
    history_path = tmp_path / "history.sqlite"
    n_points = len(bank_mod.by_id(questions)["fusion-001"]["en"]["key_points"])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "interview", "drill", "--ids", "fusion-001,concepts-001,fusion-002",
                             "--history", str(history_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    proc.stdin.write("My answer: concatenate, then an MLP.\n.\n" + "p" * n_points + "\n")  # answer, '.', the marks
    proc.stdin.flush()
    seen = []
    try:
        while not any("Question 2/3" in line for line in seen):
            seen.append(lines.get(timeout=30))  # the drill is now waiting for the second answer
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)  # the reader stops at end of output
    while not lines.empty():
        seen.append(lines.get_nowait())
    output = "".join(seen)
    assert code == 130, output
    assert "Interrupted: saved 1 scored answer(s)" in output and "Traceback" not in output, output
    with sqlite3.connect(history_path) as conn:
        assert conn.execute("SELECT COUNT(*), MIN(rubric) FROM attempts").fetchone() == (1, "p" * n_points)
        assert conn.execute("SELECT status FROM sessions").fetchall() == [("interrupted",)]


def test_end_of_input_in_interactive_mode_is_clean(tmp_path):
    done = run_interview("drill", "--count", "2", "--history", str(tmp_path / "h.sqlite"), stdin="")
    assert done.returncode == 0 and "Input ended: saved 0 scored answer(s)" in done.stdout, done.stdout + done.stderr


def test_damaged_history_of_ours_is_set_aside_and_anything_else_refused(tmp_path):
    history_path = tmp_path / "history.sqlite"
    garbage = b"this is not an SQLite database\x00\x01" * 100
    history_path.write_bytes(garbage)
    answers = write_answers(tmp_path / "a.json", [{"answer": "x", "score": 2}])
    done = run_interview("drill", "--count", "1", "--history", str(history_path), "--answers", str(answers))
    assert done.returncode == 2 and "is not a drill history" in done.stderr, done.stdout + done.stderr
    assert history_path.read_bytes() == garbage and not list(tmp_path.glob("history.sqlite.corrupt-*"))

    history_path.unlink()
    done = run_interview("drill", "--count", "1", "--history", str(history_path), "--answers", str(answers))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(history_path) as conn:  # our own history, but a table is gone: damaged
        conn.execute("DROP TABLE cards")
    conn.close()
    reports: list[str] = []
    History.open(history_path, report=reports.append).close()
    assert len(reports) == 1 and "missing table(s) cards" in reports[0], reports
    [backup] = tmp_path.glob("history.sqlite.corrupt-*")
    with sqlite3.connect(backup) as conn:  # the answer is still in the file set aside
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (1,)
    conn.close()


def test_coding_task_is_chosen_from_the_drawn_questions(questions):
    drawn = [q for q in questions if q["id"] == "evaluation-002"]
    link = choose_coding_task(drawn, questions, "auto", seed=0)
    assert (link.topic, link.name) in {("metrics", "roc_auc"), ("metrics", "roc_curve")}
    assert str(choose_coding_task(drawn, questions, "fusion.TensorFusion", seed=0)) == "exercises/fusion.py::TensorFusion"
    with pytest.raises(ValueError, match="--coding"):
        choose_coding_task(drawn, questions, "roc_auc", seed=0)


def test_coding_task_is_graded_by_the_autograder_on_that_task_only(tmp_path, questions):
    """One autograder run (`--only metrics` on solutions/): the drill reports roc_auc's score alone."""
    history = History.open(tmp_path / "h.sqlite", report=lambda line: None)
    options = DrillOptions(ids=["evaluation-002"], coding="metrics.roc_auc", submission=str(ROOT / "solutions"),
                           seed=20261129, device="cpu", grader_limit_s=300)
    out: list[str] = []
    code = run_session(questions, history, options, ScriptedInput([{"answer": "ranks", "score": 2}]), out.append)
    assert code == 0, "\n".join(out)
    [result] = history.coding_results()
    assert result["status"] == "graded", "\n".join(out)
    assert (result["topic"], result["task"]) == ("metrics", "roc_auc")
    assert result["possible"] > 0 and result["earned"] == result["possible"], result
    assert any("exercises/metrics.py::roc_auc: " in line and "/" in line for line in out), "\n".join(out)
    history.close()
