"""The mock-interview drill: ask, take the learner's answer, show the model answer, mark the key points, repeat.

Input comes either from the terminal (`TerminalInput`) or from a JSON answers file (`ScriptedInput`),
so the same session code runs interactively and in tests. Every answer is stored the moment it is
marked; an answer that was being written (or waiting for its marks) when the session ended by
Ctrl-C, end of input or ':q' is stored as unscored.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from interview import scheduler
from interview.bank import (
    PROJECT_ROOT,
    TOPICS,
    ExerciseLink,
    answered_follow_ups,
    exercise_links,
    follow_up_question,
    topic_titles,
)
from interview.history import History, now_utc
from interview.text import DIFFICULTY_LABELS, UsageError, clock, pad, say, wrap

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
BUDGET_MINUTES = {"easy": 2.0, "medium": 4.0, "hard": 6.0}  # --timed: the time to answer one question
FOLLOW_UP_BUDGET_FACTOR = 0.5  # a follow-up gets half its question's budget
END_MARKER = "."


class StopDrill(Exception):
    """The learner asked to stop (':q')."""


# ---------------------------------------------------------------------------- input sources
class TerminalInput:
    """Reads answers and rubric marks from stdin (a terminal or a pipe)."""

    scripted = False

    def __init__(self, out: Callable[[str], None]):
        self.out = out
        self.lines: list[str] = []  # the answer being written, kept for Ctrl-C

    def partial(self) -> str:
        return "\n".join(self.lines).strip("\n")

    def answer(self, lang: str, deadline: float | None = None) -> str:
        """Lines until one holding a single '.' or end of input (Ctrl-D); ':e' opens $EDITOR; empty asks again."""
        self.lines = []
        self.out(wrap(say(lang, "your_answer"), ""))
        while True:
            try:
                line = input(_line_prompt(deadline))
            except EOFError:
                if self.partial().strip():
                    return self.partial()
                raise
            command = line.strip()
            if command == ":q":
                raise StopDrill
            if command == ":e":
                text = self._edit(lang)
                if text is None:
                    continue
                if text.strip():
                    return text
                command = END_MARKER  # an empty editor buffer: ask again
            if command == END_MARKER:
                if self.partial().strip():
                    return self.partial()
                self.out(wrap(say(lang, "empty_answer"), "  "))
                self.lines = []
                continue
            self.lines.append(line)

    def _edit(self, lang: str) -> str | None:
        """The answer written in $VISUAL / $EDITOR (starting from what was typed so far); None if it did not run."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.out(say(lang, "no_editor"))
            return None
        with tempfile.NamedTemporaryFile("w", suffix=".md", prefix="mmprep-answer-", delete=False, encoding="utf-8") as f:
            f.write(self.partial() + ("\n" if self.lines else ""))
            name = f.name
        try:
            try:
                code = subprocess.call([*shlex.split(editor), name])
            except OSError as exc:
                self.out(say(lang, "editor_failed", why=exc))
                return None
            finally:  # also on Ctrl-C: what the editor saved is the answer being written
                self.lines = Path(name).read_text(encoding="utf-8", errors="replace").rstrip("\n").split("\n")
            if code != 0:
                self.out(say(lang, "editor_failed", why=f"exit {code}"))
                return None
            text = self.partial()
            self.out("  " + say(lang, "editor_done", lines=len(text.splitlines())))
            return text
        finally:
            os.unlink(name)

    def marks(self, key_points: list[str], lang: str) -> str:
        """One of h/p/m per key point, asked point by point (or all at once)."""
        n = len(key_points)
        self.out(wrap(say(lang, "rubric_intro"), "  "))
        marks = ""
        while len(marks) < n:
            self.out(wrap(f"{len(marks) + 1}. {key_points[len(marks)]}", "    "))
            text = input(say(lang, "rubric_prompt", i=len(marks) + 1, n=n)).strip().lower()
            if text == ":q":
                raise StopDrill
            if not marks and len(text) == n and all(c in scheduler.MARKS for c in text):
                return text
            if len(text) == 1 and text in scheduler.MARKS:
                marks += text
                continue
            self.out(wrap(say(lang, "bad_mark", n=n, example="'" + ("hpm" * n)[:n] + "'"), "  "))
        return marks

    def grade(self, question_id: str, key_points: list[str], lang: str) -> tuple[str | None, int | None]:
        return self.marks(key_points, lang), None

    def seconds(self) -> float | None:
        return None

    def coding_ready(self, lang: str) -> bool:
        return input(say(lang, "coding_ready")).strip().lower() not in ("skip", ":q")


def _line_prompt(deadline: float | None) -> str:
    if deadline is None:
        return "> "
    left = deadline - time.monotonic()
    return f"[{'-' if left < 0 else ''}{clock(left)}] > "


class ScriptedInput:
    """Answers and their marks from a JSON file, for tests and for replaying a session.

    The file holds a list, or an object with an "answers" list. Each item is a string (the answer;
    its score then comes from --self-score) or an object {"answer": str, "rubric": "hhpm"} (one
    mark per key point, as in the terminal) or the old {"answer": str, "score": 0|1|2}; optional
    "id" (must match the question asked there; "ID/f2" for its second follow-up) and "seconds"
    (the answer time to record). After an answer marked all hit, a question with an answered
    follow-up takes the next item as the follow-up's answer. Running out of items ends the
    session like end of input.
    """

    scripted = True

    def __init__(self, items: list, default_score: int | None = None):
        self.items = [self._check(i, item, default_score) for i, item in enumerate(items)]
        self.default_score = default_score
        self._current: dict | None = None

    @staticmethod
    def _check(i: int, item, default_score: int | None) -> dict:
        if isinstance(item, str):
            item = {"answer": item}
        if not isinstance(item, dict):
            raise ValueError(f"--answers: item {i} must be a string or an object with 'answer'")
        unknown = sorted(set(item) - {"answer", "score", "rubric", "id", "seconds"})
        if unknown:
            raise ValueError(f"--answers: item {i} has unknown key(s) {', '.join(unknown)}")
        if not isinstance(item.get("answer"), str) or not item["answer"].strip():
            raise ValueError(f"--answers: item {i} needs a non-empty 'answer' string")
        if "id" in item and not isinstance(item["id"], str):
            raise ValueError(f"--answers: item {i}: 'id' must be a string")
        if "seconds" in item and (isinstance(item["seconds"], bool) or not isinstance(item["seconds"], (int, float))
                                  or item["seconds"] < 0):
            raise ValueError(f"--answers: item {i}: 'seconds' must be a number >= 0")
        if "rubric" in item:
            rubric = item["rubric"]
            if "score" in item:
                raise ValueError(f"--answers: item {i} gives both 'rubric' and 'score'; give one")
            if not isinstance(rubric, str) or not rubric or any(m not in scheduler.MARKS for m in rubric):
                raise ValueError(f"--answers: item {i}: 'rubric' must be marks h/p/m, one per key point, e.g. 'hhpm'")
        else:
            score = item.get("score", default_score)
            if isinstance(score, bool) or score not in (0, 1, 2):
                raise ValueError(f"--answers: item {i} needs a 'rubric' such as 'hhpm', a score of 0, 1 or 2, "
                                 f"or --self-score; got {score!r}")
            item = {**item, "score": score}
        return item

    @classmethod
    def from_file(cls, path: str | Path, default_score: int | None = None) -> ScriptedInput:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"--answers: cannot read {path}: {exc}") from exc
        items = data.get("answers") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(f"--answers: {path} must hold a list of answers or {{\"answers\": [...]}}")
        return cls(items, default_score)

    def check_plan(self, drawn: list[dict], lang: str, follow_up_of: Callable[[dict], int | None]) -> None:
        """Walk the session as the file would answer it; ValueError before anything starts if it does not fit."""
        items = iter(enumerate(self.items))
        for q in drawn:
            steps = [0]
            while steps:
                k = steps.pop()
                i, item = next(items, (None, None))
                if item is None:
                    return
                wanted = q["id"] if k == 0 else f"{q['id']}/f{k}"
                if item.get("id") not in (None, q["id"], wanted):
                    raise ValueError(f"--answers: item {i} answers {item['id']!r} but the drill asks {wanted!r} there")
                points = q[lang]["key_points"] if k == 0 else q[lang]["follow_ups"][k - 1]["key_points"]
                if "rubric" in item and len(item["rubric"]) != len(points):
                    raise ValueError(f"--answers: item {i}: 'rubric' has {len(item['rubric'])} mark(s) but {wanted} "
                                     f"has {len(points)} key point(s)")
                if k == 0 and set(item.get("rubric", "m")) == {"h"}:  # all hit: a follow-up comes next, if any
                    follow = follow_up_of(q)
                    steps += [follow] if follow is not None else []

    def partial(self) -> str:
        return ""

    def answer(self, lang: str, deadline: float | None = None) -> str:
        if not self.items:
            raise EOFError
        self._current = self.items.pop(0)
        return self._current["answer"]

    def grade(self, question_id: str, key_points: list[str], lang: str) -> tuple[str | None, int | None]:
        assert self._current is not None
        if "rubric" in self._current:
            return self._current["rubric"], None
        return None, int(self._current["score"])

    def seconds(self) -> float | None:
        return None if self._current is None else self._current.get("seconds")

    def coding_ready(self, lang: str) -> bool:
        return True


# ---------------------------------------------------------------------------- the coding task
def graded_tasks(topic: str) -> list[str]:
    """The autograder's task ids for a topic (empty when it has no check file)."""
    from autograder.grading import CHECKS_DIR, tasks_of  # imported here: it pulls in pytest

    return tasks_of(topic) if (CHECKS_DIR / f"test_{topic}.py").is_file() else []


def choose_coding_task(drawn: list[dict], pool: list[dict], spec: str, seed: int | None,
                       submission: str | Path | None = None) -> ExerciseLink:
    """The coding task of a session: `spec` "topic.name" or "auto" (a graded task linked from a drawn question).

    Checked before the session starts: the task must be graded by the autograder and, when
    `submission` is given, its file must exist there.
    """
    if spec != "auto":
        topic, sep, name = spec.partition(".")
        if not sep or not name or not topic:
            raise UsageError("err_coding_form", spec=spec)
        known = graded_tasks(topic)
        if name not in known:
            raise UsageError("err_coding_task", topic=topic, name=name, known=", ".join(known) or "-")
        link = ExerciseLink(topic, name)
    else:
        candidates = [link for q in drawn for link in exercise_links(q)] or [link for q in pool for link in exercise_links(q)]
        graded = {topic: set(graded_tasks(topic)) for topic in {link.topic for link in candidates}}
        links = sorted({link for link in candidates if link.name in graded[link.topic]}, key=str)
        if not links:
            raise UsageError("err_coding_none")
        link = random.Random(seed).choice(links)
    if submission is not None and not (Path(submission) / f"{link.topic}.py").is_file():
        raise UsageError("err_coding_file", path=Path(submission) / f"{link.topic}.py")
    return link


def grade_task(link: ExerciseLink, submission: str | Path, *, seed: int | None = None, device: str = "auto",
               limit_s: float = 300.0, check_timeout_s: float = 60.0) -> dict:
    """Grade one task: `python -m autograder SUBMISSION --only TOPIC --json ...`, keep just that task.

    Returns {"topic", "task", "status", "earned", "possible", "feedback": [lines]} where status is
    "graded", "timeout" (the whole run passed `limit_s`) or "error" (grading could not run).
    """
    result: dict = {"topic": link.topic, "task": link.name, "earned": None, "possible": None, "feedback": []}
    with tempfile.TemporaryDirectory(prefix="mmprep-drill-") as tmp:
        report_path = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "autograder", str(submission), "--only", link.topic, "--json", str(report_path),
               "--quiet", "--device", device, "--timeout", f"{check_timeout_s:g}"]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s, cwd=PROJECT_ROOT, env=env)
        except subprocess.TimeoutExpired:
            return {**result, "status": "timeout", "feedback": [f"grading took longer than {limit_s:g} s and was stopped"]}
        if not report_path.exists():
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            return {**result, "status": "error", "feedback": [lines[-1] if lines else f"autograder exited {proc.returncode}"]}
        report = json.loads(report_path.read_text())
    tasks = report.get("topics", {}).get(link.topic, {})
    if link.name not in tasks:
        known = ", ".join(tasks) or "none"
        return {**result, "status": "error", "feedback": [f"the grader has no task {link.name!r} in {link.topic!r} (tasks: {known})"]}
    task = tasks[link.name]
    feedback: list[str] = []
    for check in task["checks"]:
        if not check["passed"] and check["feedback"] not in feedback:
            feedback.append(check["feedback"] or check["check"])
    return {**result, "status": "graded", "earned": task["earned"], "possible": task["possible"], "feedback": feedback}


# ---------------------------------------------------------------------------- the session
@dataclass
class DrillOptions:
    topics: list[str] | None = None
    difficulties: list[str] | None = None
    count: int = 5
    lang: str = "en"
    seed: int | None = None
    coding: str | None = None  # None: no coding task; "auto" or "topic.task"
    coding_minutes: float = 20.0
    submission: str = "exercises"
    device: str = "auto"
    grader_limit_s: float = 300.0
    ids: list[str] | None = None
    due: bool = False  # ask only what FSRS says is due, then new questions
    timed: bool = False  # a time budget per question by difficulty (BUDGET_MINUTES)
    follow_ups: bool = True  # after an answer with every key point hit, ask one answered follow-up
    extra: dict = field(default_factory=dict)

    def as_record(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "extra"}


def _header(q: dict, lang: str) -> str:
    topic = topic_titles()[q["topic"]][lang] if lang == "zh" else q["topic"]
    return f"[{topic} · {DIFFICULTY_LABELS[lang][q['difficulty']]} · {q['id']}]"


def show_question(q: dict, index: int, total: int, lang: str, out: Callable[[str], None]) -> None:
    out("")
    out(f"── {say(lang, 'question')} {index}/{total}  {_header(q, lang)}")
    out(wrap(q[lang]["question"]))
    if q.get("code"):
        out(f"  {say(lang, 'code')}{say(lang, 'colon').rstrip()}")
        out(textwrap.indent(q["code"].rstrip("\n"), "    | "))


def show_model_answer(q: dict, lang: str, out: Callable[[str], None], key_points: bool = True) -> None:
    part = q[lang]
    out(f"  {say(lang, 'model_answer')}{say(lang, 'colon').rstrip()}")
    out(wrap(part["answer"], "    "))
    if key_points:
        out(f"  {say(lang, 'key_points')}{say(lang, 'colon').rstrip()}")
        out("\n".join(wrap(f"{i}. {p}", "    ") for i, p in enumerate(part["key_points"], 1)))
    out(f"  {say(lang, 'follow_ups')}{say(lang, 'colon').rstrip()}")
    out("\n".join(wrap(f"- {follow_up_question(f)}", "    ") for f in part["follow_ups"]))
    for f in part["follow_ups"]:
        if isinstance(f, dict) and key_points:  # `show`: the interviewer sees the follow-ups' answers too
            out(wrap(f"{follow_up_question(f)}", "    "))
            out(wrap(f["answer"], "      "))
            out("\n".join(wrap(f"{i}. {p}", "      ") for i, p in enumerate(f["key_points"], 1)))
    links = q["links"]["lessons"] + q["links"]["exercises"]
    out(wrap(f"{say(lang, 'study')}{say(lang, 'colon')}{', '.join(links)}", "  "))


def pick_follow_up(q: dict, history: History) -> int | None:
    """The 1-based index of the answered follow-up asked least often so far (None when none is answered)."""
    answered = answered_follow_ups(q)
    if not answered:
        return None
    asked = history.follow_up_counts(q["id"])
    return min((asked.get(i + 1, 0), i + 1) for i in answered)[1]


def choose_questions(pool: list[dict], history: History, options: DrillOptions, out: Callable[[str], None],
                     now: datetime) -> list[dict]:
    lang = options.lang
    if options.ids:
        index = {q["id"]: q for q in pool}
        missing = [i for i in options.ids if i not in index]
        if missing:
            raise UsageError("err_ids", id=missing[0])
        return [index[i] for i in options.ids]
    cards, scores = history.cards(), history.topic_scores()
    if options.due:
        drawn, n_due, n_new = scheduler.plan_due(pool, options.count, cards, scores, now, options.seed)
        if not drawn:
            upcoming = min((cards[q["id"]].due for q in pool if q["id"] in cards), default=None)
            out(say(lang, "nothing_due", next=_when(upcoming, now, lang)))
        elif len(drawn) < options.count:
            out(say(lang, "due_short", due=n_due, new=n_new, n=len(drawn), count=options.count))
        return drawn
    if options.count > len(pool):
        out(say(lang, "count_capped", n=len(pool), count=options.count))
    return scheduler.draw(pool, options.count, cards, scores, now, options.seed, history.retention)


def _when(due: datetime | None, now: datetime, lang: str) -> str:
    if due is None:
        return say(lang, "nothing")
    local = due.astimezone()
    if due <= now:
        return local.strftime("%H:%M") + (" (now)" if lang == "en" else "（现在）")
    days = (due - now).total_seconds() / 86400
    if days < 1:
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d") + (f" ({days:.0f} d)" if lang == "en" else f"（{days:.0f} 天后）")


@dataclass
class _Pending:
    """The answer in hand and not yet stored (kept as unscored if the session ends here)."""

    question_id: str | None = None
    follow_up: int = 0
    answer: str | None = None
    seconds: float | None = None


def run_session(pool: list[dict], history: History, options: DrillOptions, source, out: Callable[[str], None] = print,
                now: datetime | None = None) -> int:
    """Run one drill; returns the exit code (0 done, 130 interrupted). Every answer is saved as it is marked."""
    lang = options.lang
    now = now or now_utc()
    drawn = choose_questions(pool, history, options, out, now)
    if not drawn:
        return EXIT_OK
    coding_link = (choose_coding_task(drawn, pool, options.coding, options.seed, options.submission)
                   if options.coding else None)
    if source.scripted:
        source.check_plan(drawn, lang, lambda q: pick_follow_up(q, history) if options.follow_ups else None)
    session_id = history.start_session(options.as_record())
    pending = _Pending()
    answered = 0
    status, code, ending = "completed", EXIT_OK, None
    try:
        for i, q in enumerate(drawn, 1):
            show_question(q, i, len(drawn), lang, out)
            grade = _ask(q, 0, history, session_id, options, source, out, pending)
            answered += 1
            k = pick_follow_up(q, history) if options.follow_ups and grade.hit and grade.hit == len(q[lang]["key_points"]) else None
            if k is not None:
                follow = q[lang]["follow_ups"][k - 1]
                out("")
                out(f"── {say(lang, 'follow_up')} {k}  {_header(q, lang)}")
                out(wrap(follow["question"]))
                _ask(q, k, history, session_id, options, source, out, pending)
        if coding_link is not None:
            run_coding_task(coding_link, history, session_id, options, source, out)
    except KeyboardInterrupt:
        status, code, ending = "interrupted", EXIT_INTERRUPTED, "interrupted"
    except EOFError:
        status, ending = "input ended", "input_ended"
    except StopDrill:
        status, ending = "stopped", "stopped"
    except BaseException:
        _keep_unscored(history, session_id, pending, source, lang, "error", out)
        history.finish_session(session_id, "error")
        raise
    kept = _keep_unscored(history, session_id, pending, source, lang, status, out)
    history.finish_session(session_id, status)
    if ending:
        out("")
        out(say(lang, ending, n=answered, path=history.path))
        if kept:
            out(say(lang, "kept_unscored", id=kept))
        return code
    out("")
    out(session_summary(history, session_id, lang))
    out("")
    out(progress_summary(history, pool, lang, now=now))
    return code


def _keep_unscored(history: History, session_id: int, pending: _Pending, source, lang: str, reason: str,
                   out: Callable[[str], None]) -> str | None:
    if pending.question_id is None:
        return None
    text = pending.answer if pending.answer is not None else source.partial()
    if not text.strip():
        return None
    qid = pending.question_id + (f"/f{pending.follow_up}" if pending.follow_up else "")
    history.record_unscored(session_id, pending.question_id, lang, text, reason, pending.seconds, pending.follow_up)
    return qid


def _ask(q: dict, follow_up: int, history: History, session_id: int, options: DrillOptions, source,
         out: Callable[[str], None], pending: _Pending) -> scheduler.Grade:
    """One question (follow_up=0) or one of its follow-ups: answer, model answer, marks, stored at once."""
    lang = options.lang
    part = q[lang] if follow_up == 0 else q[lang]["follow_ups"][follow_up - 1]
    budget = None
    if options.timed:
        budget = BUDGET_MINUTES[q["difficulty"]] * 60 * (1.0 if follow_up == 0 else FOLLOW_UP_BUDGET_FACTOR)
        out("  " + say(lang, "budget", minutes=budget / 60,
                       clock=datetime.fromtimestamp(time.time() + budget).strftime("%H:%M:%S")))
    pending.question_id, pending.follow_up, pending.answer, pending.seconds = q["id"], follow_up, None, None
    started = time.monotonic()
    answer = source.answer(lang, None if budget is None else started + budget)
    seconds = source.seconds()
    seconds = round(time.monotonic() - started, 1) if seconds is None else float(seconds)
    pending.answer, pending.seconds = answer, seconds
    out("  " + _timing(seconds, budget, lang))
    if follow_up == 0:
        show_model_answer(q, lang, out, key_points=False)
    else:
        out(f"  {say(lang, 'model_answer')}{say(lang, 'colon').rstrip()}")
        out(wrap(part["answer"], "    "))
    out(f"  {say(lang, 'your_answer_label')}{say(lang, 'colon').rstrip()}")
    out(wrap(answer, "    | "))
    out(f"  {say(lang, 'key_points')}{say(lang, 'colon').rstrip()}")
    marks, score = source.grade(q["id"], part["key_points"], lang)
    if source.scripted:  # show what the file marked, as the terminal would have
        shown = [f"[{m}] " for m in marks] if marks else [""] * len(part["key_points"])
        out("\n".join(wrap(f"{i}. {m}{p}", "    ") for i, (m, p) in enumerate(zip(shown, part["key_points"], strict=True), 1)))
    grade, card = history.record_answer(session_id, q, lang, answer, marks=marks, score=score, seconds=seconds,
                                        limit_seconds=budget, follow_up=follow_up)
    pending.question_id = None
    if marks is None:
        out(say(lang, "scored_plain", score=grade.score, rating=say(lang, grade.rating_name), due=_when(card.due, now_utc(), lang)
                if card else ""))
    elif follow_up:
        out(say(lang, "scored_follow_up", hit=grade.hit, partly=grade.partly, missed=grade.missed, percent=grade.percent))
    else:
        out(say(lang, "scored", hit=grade.hit, partly=grade.partly, missed=grade.missed, percent=grade.percent,
                rating=say(lang, grade.rating_name), due=_when(card.due, now_utc(), lang)))
    return grade


def _timing(seconds: float, budget: float | None, lang: str) -> str:
    if budget is None:
        return say(lang, "timing", took=clock(seconds))
    text = say(lang, "timing_budget", took=clock(seconds), budget=clock(budget))
    return text + ("; " + say(lang, "over_budget", over=clock(seconds - budget)) if seconds > budget else "")


def run_coding_task(link: ExerciseLink, history: History, session_id: int, options: DrillOptions, source,
                    out: Callable[[str], None]) -> dict:
    lang = options.lang
    path = Path(options.submission) / f"{link.topic}.py"
    out("")
    out(f"── {say(lang, 'coding')}{say(lang, 'colon')}{link}")
    out(wrap(say(lang, "coding_intro", task=link.name, path=path, minutes=options.coding_minutes)))
    started = time.monotonic()
    if not source.coding_ready(lang):
        result = {"topic": link.topic, "task": link.name, "status": "skipped", "feedback": []}
        history.record_coding(session_id, result)
        return result
    seconds = round(time.monotonic() - started, 1)
    out("  " + say(lang, "grading", task=link, limit=options.grader_limit_s))
    result = grade_task(link, options.submission, seed=options.seed, device=options.device, limit_s=options.grader_limit_s)
    result.update(seconds=seconds, limit_seconds=options.coding_minutes * 60)
    history.record_coding(session_id, result)
    if result["status"] == "graded":
        timing = "" if seconds <= options.coding_minutes * 60 else f"  ({say(lang, 'over_time', minutes=seconds / 60)})"
        out(f"  {link}: {result['earned']:g} / {result['possible']:g}{timing}")
    else:
        out(f"  {link}: {say(lang, 'status_' + result['status'])}")
    out("\n".join(f"    - {line}" for line in result["feedback"]))
    return result


# ---------------------------------------------------------------------------- summaries
def pool_size_by_topic(pool: list[dict]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for q in pool:
        sizes[q["topic"]] = sizes.get(q["topic"], 0) + 1
    return sizes


def _coverage(attempt: dict) -> float:
    if attempt["rubric"]:
        return scheduler.grade_marks(attempt["rubric"]).coverage
    return attempt["score"] / scheduler.MAX_SCORE


def session_summary(history: History, session_id: int, lang: str) -> str:
    attempts = [a for a in history.attempts(session_id) if a["follow_up"] == 0]
    sep = say(lang, "comma")
    head = f"{say(lang, 'summary')}{say(lang, 'colon')}{say(lang, 'answered', n=len(attempts))}"
    if not attempts:
        return head
    percent = round(100 * sum(_coverage(a) for a in attempts) / len(attempts))
    total = sum(a["seconds"] or 0.0 for a in attempts)
    over = sum(1 for a in attempts if a["limit_seconds"] and (a["seconds"] or 0) > a["limit_seconds"])
    head += sep + say(lang, "score_total", percent=percent) + sep + say(lang, "time_total", took=clock(total))
    if over:
        head += sep + say(lang, "over_budget_count", n=over)
    lines = [head]
    for a in history.attempts(session_id):
        grade = scheduler.grade_marks(a["rubric"]) if a["rubric"] else scheduler.grade_score(a["score"])
        qid = a["question_id"] + (f"/f{a['follow_up']}" if a["follow_up"] else "")
        took = clock(a["seconds"] or 0) + (f" / {clock(a['limit_seconds'])}" if a["limit_seconds"] else "")
        lines.append(f"  {qid:<22}{grade.percent:>4}%  {pad(say(lang, grade.rating_name), 6)}  {took}")
    again = [a["question_id"] for a in attempts
             if (scheduler.grade_marks(a["rubric"]) if a["rubric"] else scheduler.grade_score(a["score"])).score < 2]
    if again:
        lines.append(f"  {say(lang, 'again_soon')}{say(lang, 'colon')}{sep.join(again)}")
    return "\n".join(lines)


def progress_summary(history: History, pool: list[dict], lang: str = "en", now: datetime | None = None) -> str:
    """Per topic: answers, mean coverage, mean answer time, cards due, questions learned (FSRS review state)
    of the bank; weakest topics first; then the weakest key points and the coding tasks."""
    import fsrs

    now = now or now_utc()
    sizes = pool_size_by_topic(pool)
    scores, times, cards = history.topic_scores(), history.topic_times(), history.cards()
    coverage = history.topic_coverage()
    topic_of = {q["id"]: q["topic"] for q in pool}
    due: dict[str, int] = {}
    learned: dict[str, int] = {}
    for qid, card in cards.items():
        if qid in topic_of:
            t = topic_of[qid]
            due[t] = due.get(t, 0) + (card.due <= now)
            learned[t] = learned.get(t, 0) + (card.state == fsrs.State.Review)
    weak = scheduler.topic_weakness(scores)
    order = sorted((t for t in TOPICS if t in sizes), key=lambda t: (-weak.get(t, -1.0), t))
    c = say(lang, "columns").split("|")
    lines = [f"{say(lang, 'progress')}{say(lang, 'colon').rstrip()}",
             "  " + pad(c[0], 17) + pad(c[1], 8, False) + pad(c[2], 7, False) + pad(c[3], 7, False)
             + pad(c[4], 6, False) + pad(c[5], 11, False)]
    for topic in order:
        n = scores.get(topic, (0, 0.0))[0]
        mean_text = f"{round(100 * coverage[topic])}%" if topic in coverage else "-"
        time_text = clock(times[topic]) if topic in times else "-"
        learned_text = f"{learned.get(topic, 0)} / {sizes[topic]}"
        lines.append("  " + pad(topic, 17) + pad(str(n), 8, False) + pad(mean_text, 7, False) + pad(time_text, 7, False)
                     + pad(str(due.get(topic, 0)), 6, False) + pad(learned_text, 11, False))
    tried = [t for t in order if weak.get(t, 0.0) > 0]
    if tried:
        lines.append("  " + say(lang, "weakest", topics=say(lang, "comma").join(tried[:3])))
    points = history.weak_points()
    by_id = {q["id"]: q for q in pool}
    points = [p for p in points if p["question_id"] in by_id and p["point"] <= len(by_id[p["question_id"]][lang]["key_points"])]
    if points:
        lines.append("  " + say(lang, "weak_points"))
        for p in points:
            text = by_id[p["question_id"]][lang]["key_points"][p["point"] - 1]
            lines.append(wrap(say(lang, "weak_point", id=p["question_id"], k=p["point"], missed=p["missed"],
                                  partly=p["partly"], n=p["n"], text=text), "    "))
    coding = history.coding_results()
    if coding:
        last = coding[-1]
        score = f"{last['earned']:g} / {last['possible']:g}" if last["earned"] is not None else say(lang, "status_" + last["status"])
        lines.append("  " + say(lang, "coding_tasks", n=len(coding), task=f"{last['topic']}.{last['task']}", score=score))
    return "\n".join(lines)

