"""The classroom subcommands of `python -m autograder`: batch, export, gradescope-bundle, nbgrader.

Exit codes (all subcommands): 0 the command ran (whatever the scores; a submission that could
not be graded is a row with status "error", not a failure of the batch); 2 bad command line;
3 the command could not run (missing folder, unreadable store, nbgrader failed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.cli import grading_options
from autograder.grading import parse_topics
from autograder.results_store import DEFAULT_STORE

EXIT_OK, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 2, 3
EXIT_CODES = "exit codes: 0 the command ran (whatever the scores); 2 bad command line; 3 it could not run"


def _add_export_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", type=Path, metavar="PATH", help="CSV of grades (default: grades.csv beside the store)")
    p.add_argument("--feedback", type=Path, metavar="DIR", help="a <student>.txt per student (default: feedback/ beside the store)")
    p.add_argument("--hidden", metavar="TOPIC.TASK[,...]", default="",
                   help="checks kept out of the feedback files (counted in the score, details withheld)")


def _export(store, args) -> None:
    from autograder.report import parse_hidden

    csv_path = args.csv or store.path.parent / "grades.csv"
    feedback = args.feedback or store.path.parent / "feedback"
    rows = store.export_csv(csv_path)
    files = store.write_feedback(feedback, parse_hidden(args.hidden))
    print(f"wrote {csv_path} ({rows} students) and {len(files)} feedback files in {feedback}")


def cmd_batch(argv: list[str]) -> int:
    from autograder.batch import BatchError, GradeOptions, new_seed, run_batch
    from autograder.results_store import ResultsStore

    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(
        prog="python -m autograder batch",
        description="Grade every submission in a folder (sub-folders, .zip, .py or .ipynb files; the student id is "
        "the name without suffix) into an SQLite results store, in parallel, resumable. Arguments after `--` go to "
        "each `python -m autograder` grading run (e.g. -- --strict).",
        epilog=EXIT_CODES,
        parents=[grading_options()],
    )
    p.add_argument("submissions", type=Path, help="folder with one entry per student")
    p.add_argument("--jobs", "-j", type=int, default=1, help="submissions graded at the same time (default 1)")
    p.add_argument("--store", type=Path, default=DEFAULT_STORE, help=f"SQLite results file (default {DEFAULT_STORE})")
    p.add_argument("--submission-timeout", type=float, default=1800.0, metavar="SECONDS",
                   help="time limit for grading one submission (default 1800)")
    p.add_argument("--regrade", action="store_true", help="grade again what the store already holds")
    p.add_argument("--retry-errors", action="store_true", help="grade again the submissions that could not be graded")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_export_options(p)
    args = p.parse_args(argv)
    if args.timeout <= 0 or args.submission_timeout <= 0 or args.jobs < 1:
        print("error: --timeout, --submission-timeout and --jobs must be positive", file=sys.stderr)
        return EXIT_USAGE
    if args.store.resolve().is_relative_to(args.submissions.resolve()):
        print("error: --store must lie outside the submissions folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        topics = parse_topics(args.only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = GradeOptions(topics, new_seed() if args.seed is None else args.seed, args.device, args.timeout,
                           args.submission_timeout, extra)
    try:
        with ResultsStore(args.store) as store:
            summary = run_batch(args.submissions, store, options, jobs=args.jobs, regrade=args.regrade,
                                retry_errors=args.retry_errors, progress=not args.no_progress)
            for outcome in summary.outcomes:
                if outcome.status == "error":
                    print(f"{outcome.student}: could not be graded: {outcome.error}")
            print(summary.line())
            _export(store, args)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except OSError as exc:  # sqlite3 errors are not OSError; both mean the store cannot be used
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except Exception as exc:
        import sqlite3

        if isinstance(exc, sqlite3.Error):
            print(f"error: results store {args.store}: {exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        raise
    return EXIT_OK


def cmd_export(argv: list[str]) -> int:
    from autograder.results_store import ResultsStore

    p = argparse.ArgumentParser(prog="python -m autograder export",
                                description="Write the CSV and the feedback files of a results store again.",
                                epilog=EXIT_CODES)
    p.add_argument("--store", type=Path, default=DEFAULT_STORE, help=f"SQLite results file (default {DEFAULT_STORE})")
    _add_export_options(p)
    args = p.parse_args(argv)
    if not args.store.is_file():
        print(f"error: no results store at {args.store}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    with ResultsStore(args.store) as store:
        _export(store, args)
    return EXIT_OK


def cmd_gradescope_bundle(argv: list[str]) -> int:
    from autograder.gradescope.bundle import build_bundle

    p = argparse.ArgumentParser(
        prog="python -m autograder gradescope-bundle",
        description="Build the autograder .zip to upload to Gradescope (setup.sh, run_autograder, the course's grader).",
        epilog=EXIT_CODES,
    )
    p.add_argument("out", type=Path, help="the .zip to write")
    p.add_argument("--only", metavar="TOPIC[,TOPIC]", help="topics the assignment grades (default: all)")
    p.add_argument("--hidden", metavar="TOPIC.TASK[,...]", default="", help="checks students see only after publishing")
    p.add_argument("--hidden-visibility", default="after_published", choices=("hidden", "after_due_date", "after_published"),
                   help="Gradescope visibility of hidden checks (default after_published)")
    p.add_argument("--timeout", type=float, default=60.0, help="time limit per check (default 60)")
    p.add_argument("--torch-index", default="https://download.pytorch.org/whl/cpu",
                   help="pip index for torch in setup.sh (default: CPU wheels)")
    args = p.parse_args(argv)
    try:
        topics = parse_topics(args.only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        path = build_bundle(args.out, topics, hidden=args.hidden, hidden_visibility=args.hidden_visibility,
                            timeout=args.timeout, torch_index=args.torch_index)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print(f"wrote {path}: upload it as the assignment's autograder (Ubuntu base image)")
    return EXIT_OK


def cmd_nbgrader(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m autograder nbgrader",
        description="nbgrader integration: `course` builds an nbgrader course folder from solutions/; `grade` grades "
        "nbgrader's submitted/ notebooks in this sandbox and writes the scores into the nbgrader gradebook.",
        epilog=EXIT_CODES,
    )
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("course", help="build an nbgrader course folder (source/<topic>/<topic>.ipynb, nbgrader_config.py)")
    c.add_argument("course_dir", type=Path)
    c.add_argument("--only", metavar="TOPIC[,TOPIC]", help="topics to include (default: all)")
    g = sub.add_parser("grade", help="grade submitted/<student>/<topic>/<topic>.ipynb in the sandbox into the gradebook",
                       parents=[grading_options(topics=False)])
    g.add_argument("course_dir", type=Path)
    g.add_argument("assignment", help="the assignment (= topic) to grade")
    g.add_argument("--student", action="append", help="only these students (repeatable)")
    args = p.parse_args(argv)
    try:
        if args.action == "course":
            from autograder.nbgrader_course import build_course

            written = build_course(args.course_dir, parse_topics(args.only))
            print("\n".join(f"wrote {w}" for w in written))
        else:
            from autograder.nbgrader_grade import NbgraderError, grade_submissions

            try:
                results = grade_submissions(args.course_dir, args.assignment, students=args.student, seed=args.seed,
                                            device=args.device, timeout=args.timeout)
            except NbgraderError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_CANNOT_RUN
            for student, (earned, possible) in sorted(results.items()):
                print(f"{student}: {earned:g} / {possible:g}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return EXIT_OK


COMMANDS = {"batch": cmd_batch, "export": cmd_export, "gradescope-bundle": cmd_gradescope_bundle,
            "nbgrader": cmd_nbgrader}
