"""The mock-interview drill: ask, take the learner's answer, show the model answer, self-score, repeat.

Input comes either from the terminal (`TerminalInput`) or from a JSON answers file (`ScriptedInput`),
so the same session code runs interactively and in tests.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from interview import scheduler
from interview.bank import PROJECT_ROOT, TOPICS, ExerciseLink, all_questions, exercise_links
from interview.history import MAX_BOX, History

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130

UI = {
    "en": {
        "question": "Question", "your_answer": "Your answer (finish with an empty line; ':q' alone ends the drill):",
        "model_answer": "Model answer", "key_points": "Key points a good answer hits",
        "follow_ups": "Likely follow-ups", "study": "Study", "score_prompt": "Score yourself against the key points — 0 missed, 1 partly, 2 solid: ",
        "bad_score": "Please type 0, 1 or 2.", "code": "Code",
        "coding": "Coding task", "coding_intro": "Implement {task} in {path} (its docstring gives shapes and conventions). You have {minutes:g} minutes.",
        "coding_ready": "Press Enter when you want it graded (or type 'skip'): ",
        "grading": "Grading {task} with the autograder (only this topic, time limit {limit:g} s)...",
        "summary": "Session summary", "progress": "Progress over all sessions",
        "interrupted": "Interrupted: saved {n} answer(s) of this session to {path}.",
        "input_ended": "Input ended: saved {n} answer(s) of this session to {path}.",
        "stopped": "Stopped: saved {n} answer(s) of this session to {path}.",
        "answered": "{n} answered", "self_scored": "{got} / {total} self-scored", "missed": "missed (back to box 1)",
        "columns": ("topic", "answers", "mean", "mastered"), "weakest": "weakest: {topics} (drawn more often next time)",
        "coding_tasks": "coding tasks: {n}; last {task}: {score}", "over_time": "over time: {minutes:.1f} min",
    },
    "zh": {
        "question": "问题", "your_answer": "你的回答（以空行结束；单独输入 ':q' 结束练习）：",
        "model_answer": "参考答案", "key_points": "好答案应覆盖的要点",
        "follow_ups": "可能的追问", "study": "复习", "score_prompt": "对照要点给自己打分 —— 0 没答上，1 部分答对，2 答得扎实：",
        "bad_score": "请输入 0、1 或 2。", "code": "代码",
        "coding": "编程题", "coding_intro": "在 {path} 中实现 {task}（文档字符串写明了形状和约定）。限时 {minutes:g} 分钟。",
        "coding_ready": "完成后按回车评分（输入 'skip' 跳过）：",
        "grading": "正在用自动评分器评测 {task}（只评这一主题，时限 {limit:g} 秒）……",
        "summary": "本次练习小结", "progress": "历次练习的总体进度",
        "interrupted": "已中断：本次练习的 {n} 个回答已保存到 {path}。",
        "input_ended": "输入结束：本次练习的 {n} 个回答已保存到 {path}。",
        "stopped": "已结束：本次练习的 {n} 个回答已保存到 {path}。",
        "answered": "已答 {n} 题", "self_scored": "自评 {got} / {total} 分", "missed": "没答上（回到第 1 盒）",
        "columns": ("主题", "回答数", "平均分", "已掌握"), "weakest": "最薄弱：{topics}（下次会更常抽到）",
        "coding_tasks": "编程题：{n} 次；最近一次 {task}：{score}", "over_time": "超时：{minutes:.1f} 分钟",
    },
}


class StopDrill(Exception):
    """The learner asked to stop (':q')."""


# ---------------------------------------------------------------------------- input sources
class TerminalInput:
    """Reads answers and scores from stdin (works with a plain terminal or a pipe)."""

    scripted = False

    def __init__(self, out: Callable[[str], None]):
        self.out = out

    def answer(self, question: dict, ui: dict) -> str:
        self.out(ui["your_answer"])
        lines: list[str] = []
        while True:
            line = input()
            if line.strip() == ":q":
                raise StopDrill
            if not line.strip():
                break
            lines.append(line)
        return "\n".join(lines)

    def score(self, question: dict, ui: dict) -> int:
        while True:
            text = input(ui["score_prompt"]).strip()
            if text == ":q":
                raise StopDrill
            if text in ("0", "1", "2"):
                return int(text)
            self.out(ui["bad_score"])

    def coding_ready(self, ui: dict) -> bool:
        return input(ui["coding_ready"]).strip().lower() not in ("skip", ":q")


class ScriptedInput:
    """Answers (and self-scores) from a JSON file, for tests and for replaying a session.

    The file holds a list, or an object with an "answers" list. Each item is a string (the answer;
    the score then comes from --self-score) or {"answer": str, "score": 0|1|2, "id": optional}.
    When "id" is given it must match the question asked at that point.
    Running out of answers ends the session like end of input.
    """

    scripted = True

    def __init__(self, items: list, default_score: int | None = None):
        self.items = list(items)
        self.default_score = default_score
        self._current: dict | None = None

    @classmethod
    def from_file(cls, path: str | Path, default_score: int | None = None) -> ScriptedInput:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"--answers: cannot read {path}: {exc}") from exc
        items = data.get("answers") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError(f"--answers: {path} must hold a list of answers or {{\"answers\": [...]}}")
        for i, item in enumerate(items):
            if isinstance(item, str):
                if default_score is None:
                    raise ValueError(f"--answers: item {i} has no score; give {{'answer', 'score'}} or --self-score")
                continue
            if not isinstance(item, dict) or not isinstance(item.get("answer", ""), str):
                raise ValueError(f"--answers: item {i} must be a string or an object with 'answer'")
            score = item.get("score", default_score)
            if score not in (0, 1, 2):
                raise ValueError(f"--answers: item {i} needs a score of 0, 1 or 2 (or --self-score), got {score!r}")
        return cls(items, default_score)

    def answer(self, question: dict, ui: dict) -> str:
        if not self.items:
            raise EOFError
        item = self.items.pop(0)
        self._current = {"answer": item} if isinstance(item, str) else item
        wanted = self._current.get("id")
        if wanted and wanted != question["id"]:
            raise ValueError(f"--answers: the file answers {wanted!r} but the drill asked {question['id']!r}")
        return self._current.get("answer", "")

    def score(self, question: dict, ui: dict) -> int:
        assert self._current is not None
        return int(self._current.get("score", self.default_score))

    def coding_ready(self, ui: dict) -> bool:
        return True


# ---------------------------------------------------------------------------- the coding task
def choose_coding_task(drawn: list[dict], pool: list[dict], spec: str, seed: int | None) -> ExerciseLink:
    """The coding task of a session: `spec` "topic.name" or "auto" (an exercise linked from a drawn question)."""
    if spec != "auto":
        topic, sep, name = spec.partition(".")
        if not sep or not name:
            raise ValueError(f"--coding: expected TOPIC.TASK such as metrics.roc_auc, got {spec!r}")
        return ExerciseLink(topic, name)
    links = [link for q in drawn for link in exercise_links(q)] or [link for q in pool for link in exercise_links(q)]
    if not links:
        raise ValueError("--coding: no drawn question links to an exercise; name one, e.g. --coding metrics.roc_auc")
    return random.Random(seed).choice(sorted(set(links), key=str))


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
    extra: dict = field(default_factory=dict)

    def as_record(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "extra"}


def _wrap(text: str, lang: str, indent: str = "  ") -> str:
    if lang == "zh":
        return "\n".join(indent + line for line in text.splitlines())
    return "\n".join(textwrap.fill(p, width=92, initial_indent=indent, subsequent_indent=indent) if p.strip() else ""
                     for p in text.split("\n"))


def show_question(q: dict, index: int, total: int, lang: str, out: Callable[[str], None]) -> None:
    ui = UI[lang]
    out("")
    out(f"── {ui['question']} {index}/{total}  [{q['topic']} · {q['difficulty']} · {q['id']}]")
    out(_wrap(q[lang]["question"], lang))
    if q.get("code"):
        out(f"  {ui['code']}:")
        out(textwrap.indent(q["code"].rstrip("\n"), "    | "))


def show_model_answer(q: dict, lang: str, out: Callable[[str], None]) -> None:
    ui, part = UI[lang], q[lang]
    out(f"  {ui['model_answer']}:")
    out(_wrap(part["answer"], lang, "    "))
    out(f"  {ui['key_points']}:")
    out("\n".join(f"    {i}. {p}" for i, p in enumerate(part["key_points"], 1)))
    out(f"  {ui['follow_ups']}:")
    out("\n".join(f"    - {f}" for f in part["follow_ups"]))
    links = q["links"]["lessons"] + q["links"]["exercises"]
    out(f"  {ui['study']}: {', '.join(links)}")


def run_session(pool: list[dict], history: History, options: DrillOptions, source, out: Callable[[str], None] = print) -> int:
    """Run one drill; returns the exit code (0 done, 130 interrupted). Every answer is saved as it is scored."""
    ui = UI[options.lang]
    if options.ids:
        index = {q["id"]: q for q in pool}
        missing = [i for i in options.ids if i not in index]
        if missing:
            raise ValueError(f"--ids: unknown question id {missing[0]!r}")
        drawn = [index[i] for i in options.ids]
    else:
        drawn = scheduler.draw(pool, options.count, history.boxes(), history.topic_scores(), options.seed)
    coding_link = choose_coding_task(drawn, pool, options.coding, options.seed) if options.coding else None
    session_id = history.start_session(options.as_record())
    answered = 0
    status, code, ending = "completed", EXIT_OK, None
    try:
        for i, q in enumerate(drawn, 1):
            show_question(q, i, len(drawn), options.lang, out)
            started = time.monotonic()
            answer = source.answer(q, ui)
            seconds = round(time.monotonic() - started, 1)
            show_model_answer(q, options.lang, out)
            score = source.score(q, ui)
            box = history.record_answer(session_id, q, options.lang, answer, score, seconds)
            answered += 1
            out(f"  -> {score}/2, box {box}/{MAX_BOX}")
        if coding_link is not None:
            run_coding_task(coding_link, history, session_id, options, source, out)
    except KeyboardInterrupt:
        status, code, ending = "interrupted", EXIT_INTERRUPTED, "interrupted"
    except EOFError:
        status, ending = "input ended", "input_ended"
    except StopDrill:
        status, ending = "stopped", "stopped"
    history.finish_session(session_id, status)
    if ending:
        out("")
        out(ui[ending].format(n=answered, path=history.path))
        return code
    out("")
    out(session_summary(history, session_id, options.lang))
    out("")
    out(progress_summary(history, pool_size_by_topic(all_questions()), options.lang))
    return code


def run_coding_task(link: ExerciseLink, history: History, session_id: int, options: DrillOptions, source,
                    out: Callable[[str], None]) -> dict:
    ui = UI[options.lang]
    path = Path(options.submission) / f"{link.topic}.py"
    out("")
    out(f"── {ui['coding']}: {link}")
    out("  " + ui["coding_intro"].format(task=link.name, path=path, minutes=options.coding_minutes))
    started = time.monotonic()
    if not source.coding_ready(ui):
        result = {"topic": link.topic, "task": link.name, "status": "skipped", "feedback": []}
        history.record_coding(session_id, result)
        return result
    seconds = round(time.monotonic() - started, 1)
    out("  " + ui["grading"].format(task=link, limit=options.grader_limit_s))
    result = grade_task(link, options.submission, seed=options.seed, device=options.device, limit_s=options.grader_limit_s)
    result.update(seconds=seconds, limit_seconds=options.coding_minutes * 60)
    history.record_coding(session_id, result)
    if result["status"] == "graded":
        timing = "" if seconds <= options.coding_minutes * 60 else f"  ({ui['over_time'].format(minutes=seconds / 60)})"
        out(f"  {link}: {result['earned']:g} / {result['possible']:g}{timing}")
    else:
        out(f"  {link}: {result['status']}")
    out("\n".join(f"    - {line}" for line in result["feedback"]))
    return result


# ---------------------------------------------------------------------------- summaries
def _pad(text: str, width: int, left: bool = True) -> str:
    """Pad to a terminal width, counting East Asian wide characters as two columns."""
    import unicodedata

    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    fill = " " * max(0, width - shown)
    return text + fill if left else fill + text


def pool_size_by_topic(pool: list[dict]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for q in pool:
        sizes[q["topic"]] = sizes.get(q["topic"], 0) + 1
    return sizes


def session_summary(history: History, session_id: int, lang: str) -> str:
    ui = UI[lang]
    attempts = history.attempts(session_id)
    lines = [f"{ui['summary']}: {ui['answered'].format(n=len(attempts))}"]
    if attempts:
        got = sum(a["score"] for a in attempts)
        lines[0] += ", " + ui["self_scored"].format(got=got, total=2 * len(attempts))
        missed = [a["question_id"] for a in attempts if a["score"] == 0]
        if missed:
            lines.append(f"  {ui['missed']}: {', '.join(missed)}")
    return "\n".join(lines)


def progress_summary(history: History, topic_sizes: dict[str, int], lang: str = "en") -> str:
    """Per topic: answers given, mean self-score, questions mastered (box >= 4) of the bank; weakest first."""
    scores = history.topic_scores()
    boxes = history.boxes()
    by_topic_mastered: dict[str, int] = {}
    topic_of = {q["id"]: q["topic"] for q in all_questions()}
    for qid, box in boxes.items():
        if box >= 4 and qid in topic_of:
            by_topic_mastered[topic_of[qid]] = by_topic_mastered.get(topic_of[qid], 0) + 1
    weak = scheduler.topic_weakness(scores)
    order = sorted(TOPICS, key=lambda t: (-weak.get(t, -1.0), t))
    ui = UI[lang]
    c = ui["columns"]
    lines = [f"{ui['progress']}:", "  " + _pad(c[0], 15) + _pad(c[1], 8, False) + _pad(c[2], 7, False) + _pad(c[3], 11, False)]
    for topic in order:
        if topic not in topic_sizes:
            continue
        n, mean = scores.get(topic, (0, float("nan")))
        mean_text = f"{mean:.2f}" if n else "-"
        lines.append(f"  {topic:<15}{n:>8}{mean_text:>7}{by_topic_mastered.get(topic, 0):>6} / {topic_sizes[topic]}")
    tried = [t for t in order if weak.get(t, 0.0) > 0 and t in topic_sizes]
    if tried:
        lines.append("  " + ui["weakest"].format(topics=", ".join(tried[:3])))
    coding = history.coding_results()
    if coding:
        last = coding[-1]
        score = f"{last['earned']:g} / {last['possible']:g}" if last["earned"] is not None else last["status"]
        lines.append("  " + ui["coding_tasks"].format(n=len(coding), task=f"{last['topic']}.{last['task']}", score=score))
    return "\n".join(lines)
