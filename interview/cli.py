"""Command line: `python -m interview [drill|stats|list|show|check|export]`; no subcommand opens a small menu.

Exit codes: 0 done; 1 `check` found problems; 2 bad command line, input file or history path
(nothing was changed); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from interview import bank as bank_mod
from interview.drill import (
    BUDGET_MINUTES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    DrillOptions,
    ScriptedInput,
    TerminalInput,
    progress_summary,
    run_session,
    show_model_answer,
    show_question,
)
from interview.history import DEFAULT_PATH, History
from interview.scheduler import RETENTION_RANGE
from interview.text import UsageError, say

LANG_HELP = "language of the questions and of everything the drill prints: en or zh (default en)"


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history", type=Path, default=None, metavar="FILE",
                   help=f"the SQLite history file (default {DEFAULT_PATH}, or $MMPREP_INTERVIEW_HISTORY); "
                        "a folder or a file that is not a drill history is refused and left untouched")
    p.add_argument("--lang", choices=bank_mod.LANGUAGES, default="en", help=LANG_HELP)


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", help=f"topic(s), comma-separated: {', '.join(bank_mod.TOPICS)}")
    p.add_argument("--difficulty", help="easy, medium, hard (comma-separated for several)")


def build_parser() -> argparse.ArgumentParser:
    budgets = ", ".join(f"{d} {m:g}" for d, m in BUDGET_MINUTES.items())
    p = argparse.ArgumentParser(prog="python -m interview", description=(
        "Mock interviews for multimodal deep learning: a bilingual question bank; you answer, then mark each key "
        "point of the model answer (hit/partly/missed); FSRS schedules every question's next review; an optional "
        "coding task is graded by the autograder. Without a subcommand, opens a small menu. "
        "--lang zh switches the questions and the whole interface to Chinese."))
    sub = p.add_subparsers(dest="command")

    d = sub.add_parser("drill", help="a mock-interview session", description=(
        "Answer each question (several lines; a line with a single '.' or Ctrl-D ends it, ':e' opens $EDITOR, "
        "':q' ends the drill), read the model answer, then mark each key point h/p/m. The marks give the FSRS "
        "rating: all hit Easy, >= 75% Good, >= 40% Hard, else Again (p counts half). Every answer is saved "
        "when it is marked; Ctrl-C keeps the answer being written, unscored."))
    _add_common(d)
    _add_filters(d)
    d.add_argument("--count", type=int, default=5, help="questions in the session (default 5)")
    d.add_argument("--due", action="store_true",
                   help="ask the questions FSRS says are due (most overdue first), then new ones; nothing else")
    d.add_argument("--retention", type=float, metavar="R",
                   help=f"target retention for FSRS scheduling, {RETENTION_RANGE[0]}..{RETENTION_RANGE[1]} "
                        "(default 0.9; kept in the history until changed)")
    d.add_argument("--timed", action="store_true",
                   help=f"a visible time budget per question, in minutes: {budgets} (follow-ups half)")
    d.add_argument("--no-follow-ups", dest="follow_ups", action="store_false",
                   help="never ask a follow-up (by default an answer with every key point hit earns one "
                        "follow-up of that question when the bank has its answer)")
    d.add_argument("--seed", type=int, help="makes the draw (and the coding task's grading) reproducible")
    d.add_argument("--ids", help="ask exactly these question ids, in this order (comma-separated)")
    d.add_argument("--answers", type=Path, metavar="FILE",
                   help="scripted mode: answers from a JSON file instead of the terminal, each "
                        "{\"answer\": ..., \"rubric\": \"hhpm\"} or {\"answer\": ..., \"score\": 0|1|2}")
    d.add_argument("--self-score", type=int, choices=(0, 1, 2),
                   help="scripted mode: the 0/1/2 score of answers that give neither rubric nor score")
    d.add_argument("--coding", nargs="?", const="auto", metavar="TOPIC.TASK",
                   help="end with one coding task graded by the autograder (a task linked from the drawn questions, "
                        "or e.g. metrics.roc_auc); checked before the session starts")
    d.add_argument("--coding-minutes", type=float, default=20.0, help="time budget for the coding task (default 20)")
    d.add_argument("--submission", default="exercises", help="the folder the coding task is graded in (default exercises/)")
    d.add_argument("--device", default="auto", help="grading device: auto|cpu|cuda")
    d.add_argument("--grader-limit", type=float, default=300.0, metavar="SECONDS",
                   help="stop grading the coding task after this long (default 300)")

    s = sub.add_parser("stats", help="progress over all sessions: topics, answer times, cards due, weakest key points")
    _add_common(s)

    lst = sub.add_parser("list", help="list the questions of the bank")
    _add_filters(lst)
    lst.add_argument("--lang", choices=bank_mod.LANGUAGES, default="en", help=LANG_HELP)

    show = sub.add_parser("show", help="one question with its model answer, key points and follow-ups")
    show.add_argument("id")
    show.add_argument("--lang", choices=bank_mod.LANGUAGES, default="en", help=LANG_HELP)

    sub.add_parser("check", help="validate the bank: schema, ids, follow-ups, and that every link resolves in this checkout")

    e = sub.add_parser("export", help="write the bank as an Anki deck (.apkg); re-importing a newer export updates the cards")
    e.add_argument("--apkg", type=Path, required=True, metavar="FILE", help="the .apkg file to write")
    e.add_argument("--lang", choices=(*bank_mod.LANGUAGES, "both"), default="both",
                   help="en, zh or both (default both: one deck per language)")
    _add_filters(e)
    return p


def _pool(args) -> list[dict]:
    return bank_mod.select(bank_mod.all_questions(), _csv(args.topic), _csv(args.difficulty))


def _resolve_submission(text: str) -> Path:
    path = Path(text)
    if not path.exists() and (bank_mod.PROJECT_ROOT / text).exists():
        path = bank_mod.PROJECT_ROOT / text
    return path.resolve()


def cmd_drill(args) -> int:
    if args.count < 1:
        raise UsageError("err_count", count=args.count)
    if args.retention is not None and not RETENTION_RANGE[0] <= args.retention <= RETENTION_RANGE[1]:
        raise UsageError("err_retention", value=args.retention)
    pool = _pool(args)
    if not pool:
        raise UsageError("err_no_match")
    # everything that can be wrong with the command line is found before the history is opened
    source = ScriptedInput.from_file(args.answers, args.self_score) if args.answers is not None else TerminalInput(print)
    options = DrillOptions(topics=_csv(args.topic), difficulties=_csv(args.difficulty), count=args.count,
                           lang=args.lang, seed=args.seed, coding=args.coding, coding_minutes=args.coding_minutes,
                           submission=str(_resolve_submission(args.submission)), device=args.device,
                           grader_limit_s=args.grader_limit, ids=_csv(args.ids), due=args.due, timed=args.timed,
                           follow_ups=args.follow_ups)
    if options.ids:
        known = {q["id"] for q in pool}
        unknown = [i for i in options.ids if i not in known]
        if unknown:
            raise UsageError("err_ids", id=unknown[0])
    if options.coding:
        from interview.drill import choose_coding_task

        if options.coding != "auto":
            choose_coding_task([], pool, options.coding, options.seed, options.submission)
    history = History.open(args.history, lang=args.lang)
    try:
        if args.retention is not None and args.retention != history.retention:
            history.set_retention(args.retention)
            print(say(args.lang, "retention_set", retention=args.retention))
        return run_session(pool, history, options, source)
    finally:
        history.close()


def cmd_stats(args) -> int:
    history = History.open(args.history, lang=args.lang)
    try:
        questions = bank_mod.all_questions()
        print(say(args.lang, "stats_head", sessions=len(history.sessions()),
                  answers=sum(1 for a in history.attempts() if a["follow_up"] == 0), path=history.path))
        unscored = history.unscored()
        if unscored:
            print(say(args.lang, "stats_unscored", n=len(unscored)))
        print(progress_summary(history, questions, args.lang))
        cards = history.cards()
        from interview.drill import _when
        from interview.history import now_utc

        now = now_utc()
        due = sum(1 for c in cards.values() if c.due <= now)
        upcoming = min((c.due for c in cards.values() if c.due > now), default=None)
        print("  " + say(args.lang, "stats_due", due=due, new=sum(1 for q in questions if q["id"] not in cards),
                         next=_when(upcoming, now, args.lang)))
    finally:
        history.close()
    return EXIT_OK


def cmd_list(args) -> int:
    pool = _pool(args)
    for q in pool:
        classic = " *" if q.get("classic") else ""
        first_line = q[args.lang]["question"].splitlines()[0]
        print(f"{q['id']:<20}{q['difficulty']:<8}{first_line}{classic}")
    print(say(args.lang, "list_footer", n=len(pool)))
    return EXIT_OK


def cmd_show(args) -> int:
    index = bank_mod.by_id(bank_mod.all_questions())
    if args.id not in index:
        raise UsageError("err_no_id", id=args.id)
    show_question(index[args.id], 1, 1, args.lang, print)
    show_model_answer(index[args.id], args.lang, print)
    return EXIT_OK


def cmd_check(args) -> int:
    questions = bank_mod.load_bank()
    problems = [p for q in questions for p in bank_mod.link_problems(q) + bank_mod.link_problems(q, bank_mod.PROJECT_ROOT)
                + bank_mod.follow_up_problems(q)]
    for p in problems:
        print(p)
    total, unanswered = bank_mod.follow_up_counts(questions)
    print(f"follow-ups: {total - unanswered} of {total} answered in both languages; {unanswered} still without an answer")
    print(f"{len(questions)} questions; {len(problems)} problem(s)")
    return 1 if problems else EXIT_OK


def cmd_export(args) -> int:
    from interview.anki import export_apkg

    langs = bank_mod.LANGUAGES if args.lang == "both" else (args.lang,)
    notes = export_apkg(_pool(args), args.apkg, langs)
    print(say("zh" if args.lang == "zh" else "en", "exported", notes=notes, langs="+".join(langs), path=args.apkg))
    return EXIT_OK


def cmd_menu() -> int:
    """A small menu for a plain terminal (bilingual): pick a command and the drill's options with defaults."""
    print("Mock interview / 模拟面试 — 1) drill 练习  2) due 到期复习  3) stats 进度  4) list 题目  q) quit 退出")
    choice = input("> ").strip().lower()
    if choice in ("", "1", "2", "drill", "due"):
        lang = input("language / 语言 [en] (en/zh): ").strip() or "en"
        topic = input(f"topic(s) / 主题 [all 全部] ({', '.join(bank_mod.TOPICS)}): ").strip()
        difficulty = input("difficulty / 难度 [all 全部] (easy, medium, hard): ").strip()
        count = input("how many questions / 题数 [5]: ").strip() or "5"
        timed = input("timed / 限时 [n] (y/n): ").strip().lower().startswith("y")
        coding = input("end with a coding task / 最后做一道编程题 [n] (y/n): ").strip().lower().startswith("y")
        argv = ["drill", "--count", count, "--lang", lang]
        argv += ["--due"] if choice in ("2", "due") else []
        argv += ["--topic", topic] if topic else []
        argv += ["--difficulty", difficulty] if difficulty else []
        argv += ["--timed"] if timed else []
        argv += ["--coding"] if coding else []
        return main(argv)
    if choice in ("3", "stats"):
        return main(["stats"])
    if choice in ("4", "list"):
        return main(["list"])
    return EXIT_OK


COMMANDS = {"drill": cmd_drill, "stats": cmd_stats, "list": cmd_list, "show": cmd_show, "check": cmd_check,
            "export": cmd_export}


def _quiet_broken_pipe() -> None:
    # `list | head`: the reader went away; send what is left to devnull so the exit is quiet too
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Ctrl-C must raise KeyboardInterrupt even when the parent started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")  # Chinese text on a non-UTF-8 terminal must not crash
    lang = "en"
    try:
        if not argv:
            return cmd_menu()
        args = build_parser().parse_args(argv)
        lang = getattr(args, "lang", "en") if getattr(args, "lang", "en") in bank_mod.LANGUAGES else "en"
        if args.command is None:
            return cmd_menu()
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(say(lang, "error", message=exc.message(lang)), file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, bank_mod.BankError) as exc:
        print(say(lang, "error", message=exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\n" + say(lang, "interrupted_plain"))
        return EXIT_INTERRUPTED
    except EOFError:
        return EXIT_OK
    except BrokenPipeError:
        _quiet_broken_pipe()
        return EXIT_OK

