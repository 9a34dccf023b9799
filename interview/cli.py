"""Command line: `python -m interview [drill|stats|list|show|check]`; no subcommand opens a small menu.

Exit codes: 0 done; 1 `check` found problems; 2 bad command line or input file; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from interview import bank as bank_mod
from interview.drill import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    DrillOptions,
    ScriptedInput,
    TerminalInput,
    pool_size_by_topic,
    progress_summary,
    run_session,
    show_model_answer,
    show_question,
)
from interview.history import DEFAULT_PATH, History


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--history", type=Path, default=None,
                   help=f"SQLite history file (default {DEFAULT_PATH}, or $MMPREP_INTERVIEW_HISTORY)")
    p.add_argument("--lang", choices=bank_mod.LANGUAGES, default="en", help="en or zh (default en)")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--topic", help=f"topic(s), comma-separated: {', '.join(bank_mod.TOPICS)}")
    p.add_argument("--difficulty", help="easy, medium, hard (comma-separated for several)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m interview", description=(
        "Mock interviews for multimodal deep learning: a bilingual question bank, self-scored answers, "
        "spaced repetition and an optional coding task graded by the autograder. "
        "Without a subcommand, opens a small menu."))
    sub = p.add_subparsers(dest="command")

    d = sub.add_parser("drill", help="a mock-interview session")
    _add_common(d)
    _add_filters(d)
    d.add_argument("--count", type=int, default=5, help="questions in the session (default 5)")
    d.add_argument("--seed", type=int, help="makes the draw (and the coding task's grading) reproducible")
    d.add_argument("--ids", help="ask exactly these question ids, in this order (comma-separated)")
    d.add_argument("--answers", type=Path, metavar="FILE",
                   help="scripted mode: answers (and self-scores) from a JSON file instead of the terminal")
    d.add_argument("--self-score", type=int, choices=(0, 1, 2), help="scripted mode: the score of answers that give none")
    d.add_argument("--coding", nargs="?", const="auto", metavar="TOPIC.TASK",
                   help="end with one coding task graded by the autograder (a task linked from the drawn questions, "
                        "or e.g. metrics.roc_auc)")
    d.add_argument("--coding-minutes", type=float, default=20.0, help="time budget for the coding task (default 20)")
    d.add_argument("--submission", default="exercises", help="the folder the coding task is graded in (default exercises/)")
    d.add_argument("--device", default="auto", help="grading device: auto|cpu|cuda")
    d.add_argument("--grader-limit", type=float, default=300.0, metavar="SECONDS",
                   help="stop grading the coding task after this long (default 300)")

    s = sub.add_parser("stats", help="progress over all sessions, weakest topics first")
    _add_common(s)

    lst = sub.add_parser("list", help="list the questions of the bank")
    _add_filters(lst)
    lst.add_argument("--lang", choices=bank_mod.LANGUAGES, default="en")

    show = sub.add_parser("show", help="one question with its model answer")
    show.add_argument("id")
    show.add_argument("--lang", choices=bank_mod.LANGUAGES, default="en")

    sub.add_parser("check", help="validate the bank: schema, ids, and that every link resolves in this checkout")
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
        raise ValueError("--count must be at least 1")
    pool = _pool(args)
    if not pool:
        raise ValueError("no question matches --topic/--difficulty")
    if args.answers is not None:
        source = ScriptedInput.from_file(args.answers, args.self_score)
    else:
        source = TerminalInput(print)
    options = DrillOptions(topics=_csv(args.topic), difficulties=_csv(args.difficulty), count=args.count,
                           lang=args.lang, seed=args.seed, coding=args.coding, coding_minutes=args.coding_minutes,
                           submission=str(_resolve_submission(args.submission)), device=args.device,
                           grader_limit_s=args.grader_limit, ids=_csv(args.ids))
    history = History.open(args.history)
    try:
        return run_session(pool, history, options, source)
    finally:
        history.close()


def cmd_stats(args) -> int:
    history = History.open(args.history)
    try:
        sessions = history.sessions()
        print(f"{len(sessions)} session(s), {len(history.attempts())} answer(s) in {history.path}")
        print(progress_summary(history, pool_size_by_topic(bank_mod.all_questions()), args.lang))
    finally:
        history.close()
    return EXIT_OK


def cmd_list(args) -> int:
    pool = _pool(args)
    for q in pool:
        classic = " *" if q.get("classic") else ""
        print(f"{q['id']:<18}{q['difficulty']:<8}{q[args.lang]['question'].splitlines()[0]}{classic}")
    print(f"{len(pool)} question(s); * marks the six classic questions")
    return EXIT_OK


def cmd_show(args) -> int:
    index = bank_mod.by_id(bank_mod.all_questions())
    if args.id not in index:
        raise ValueError(f"no question with id {args.id!r} (see `python -m interview list`)")
    show_question(index[args.id], 1, 1, args.lang, print)
    show_model_answer(index[args.id], args.lang, print)
    return EXIT_OK


def cmd_check(args) -> int:
    questions = bank_mod.load_bank()
    problems = [p for q in questions for p in bank_mod.link_problems(q) + bank_mod.link_problems(q, bank_mod.PROJECT_ROOT)]
    for p in problems:
        print(p)
    print(f"{len(questions)} questions; {len(problems)} problem(s)")
    return 1 if problems else EXIT_OK


def cmd_menu() -> int:
    """A small menu for a plain terminal: pick a command and the drill's options with defaults."""
    print("Mock interview — 1) drill  2) stats  3) list  q) quit")
    choice = input("> ").strip().lower()
    if choice in ("", "1", "drill"):
        topic = input(f"topic(s) [all] ({', '.join(bank_mod.TOPICS)}): ").strip()
        difficulty = input("difficulty [all] (easy, medium, hard): ").strip()
        count = input("how many questions [5]: ").strip() or "5"
        lang = input("language [en] (en/zh): ").strip() or "en"
        coding = input("end with a coding task? [n] (y/n): ").strip().lower().startswith("y")
        argv = ["drill", "--count", count, "--lang", lang]
        argv += ["--topic", topic] if topic else []
        argv += ["--difficulty", difficulty] if difficulty else []
        argv += ["--coding"] if coding else []
        return main(argv)
    if choice in ("2", "stats"):
        return main(["stats"])
    if choice in ("3", "list"):
        return main(["list"])
    return EXIT_OK


COMMANDS = {"drill": cmd_drill, "stats": cmd_stats, "list": cmd_list, "show": cmd_show, "check": cmd_check}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Ctrl-C must raise KeyboardInterrupt even when the parent started us with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")  # Chinese text on a non-UTF-8 terminal must not crash
    try:
        if not argv:
            return cmd_menu()
        args = build_parser().parse_args(argv)
        if args.command is None:
            return cmd_menu()
        return COMMANDS[args.command](args)
    except (ValueError, bank_mod.BankError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return EXIT_INTERRUPTED
    except EOFError:
        return EXIT_OK
