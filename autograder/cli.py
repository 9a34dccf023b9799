"""Command line: `python -m autograder [SUBMISSION]` and its subcommands.

Subcommands: generate (exercises/ from solutions/); batch, export, gradescope-bundle and
nbgrader (classroom grading, in autograder.cli_classroom).

Exit codes: 0 grading ran (whatever the score); 2 bad command line; 3 the submission could not
be read or grading could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import stubgen
from autograder.grading import IsolationUnavailable, available_topics, grade, parse_selection
from autograder.report import parse_hidden, render_table, write_gradescope, write_json
from autograder.submission import SubmissionError

EXIT_OK, EXIT_USAGE, EXIT_CANNOT_GRADE = 0, 2, 3
SUBCOMMANDS = ("generate", "mutants", "hint", "progress", "site", "batch", "export", "gradescope-bundle", "nbgrader")
EXIT_CODES_HELP = ("exit codes: 0 grading ran (whatever the score); 2 bad command line; "
                   "3 the submission could not be read or grading could not run")


def grading_options(topics: bool = True) -> argparse.ArgumentParser:
    """The options every grading command shares (grade, batch, nbgrader grade): argparse's parent parser.

    `topics=False` leaves out --only (nbgrader grades one assignment, which is one topic).
    """
    p = argparse.ArgumentParser(add_help=False)
    if topics:
        p.add_argument("--only", metavar="TOPIC[.TASK][,...]",
                       help="grade only these topics, or single tasks as TOPIC.TASK (e.g. fusion.TensorFusion); "
                       f"default: all of {', '.join(available_topics())}")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda (default auto: CUDA when available)")
    p.add_argument("--seed", type=int, help="grading seed, to reproduce a run (default: random)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="time limit per check (default 60)")
    return p


def grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        parents=[grading_options()],
        prog="python -m autograder",
        description="Grade a submission: a folder (default exercises/), a .zip, a <topic>.py or a <topic>.ipynb. "
        "Subcommands: generate (exercises/ from solutions/), batch (grade a folder of submissions), export, "
        "gradescope-bundle, nbgrader (course | grade); `python -m autograder SUBCOMMAND -h` for each.",
        epilog=EXIT_CODES_HELP,
    )
    p.add_argument("submission", nargs="?", default=str(stubgen.EXERCISES), help="what to grade (default: exercises/)")
    p.add_argument("--memory-mb", type=int, default=0, help="worker memory limit in MiB: a cgroup where the grader runs as root and can make one (0: 4096), else RLIMIT_DATA (0: none; torch needs >= 1536)")
    p.add_argument("--sandbox", dest="sandbox", action="store_true", default=True, help="run code in a worker (default)")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false", help="import the code here (debugging)")
    p.add_argument("--isolation", default="auto", choices=("auto", "strong", "process"),
                   help="sandbox level: auto (strongest available), strong (root: namespaces, cgroups, no course files), process (Landlock fence where the kernel has it)")
    p.add_argument("--strict", action="store_true", help="refuse to grade below the strong isolation level (exit code 3)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    p.add_argument("--junit", type=Path, metavar="PATH", help="also write JUnit XML")
    p.add_argument("--gradescope", type=Path, metavar="PATH", help="also write Gradescope's results.json")
    p.add_argument("--hidden", metavar="TOPIC.TASK[,...]", default="",
                   help="checks students see only after grades are published (Gradescope visibility)")
    p.add_argument("--hidden-visibility", default="after_published", choices=("hidden", "after_due_date", "after_published"),
                   help="Gradescope visibility of --hidden checks (default after_published)")
    p.add_argument("--quiet", action="store_true", help="print only the total")
    p.add_argument("--progress", metavar="PATH", help="progress file to record this run in (default $MMPREP_PROGRESS or "
                   "~/.mmprep/progress.sqlite; grading solutions/ is never recorded)")
    p.add_argument("--no-progress", action="store_true", help="do not record this run in the progress file")
    return p


def record_progress(report, submission: Path, path: str | None = None) -> None:
    """Add a grading run to the learner's progress; never fails grading (autograder.progress journals instead)."""
    from autograder.progress import Progress, ProgressError

    if submission.resolve() == stubgen.SOLUTIONS.resolve():
        return  # the reference is not the learner's work
    try:
        Progress(path).record_report(report)
    except ProgressError as exc:
        print(f"progress: not recorded: {exc}", file=sys.stderr)


def _resolve_submission(text: str) -> Path:
    path = Path(text)
    if not path.exists() and (stubgen.PROJECT_ROOT / text).exists():
        path = stubgen.PROJECT_ROOT / text  # `python -m autograder solutions` from any folder
    return path


def cmd_grade(argv: list[str]) -> int:
    args = grade_parser().parse_args(argv)
    if args.timeout <= 0:
        print("error: --timeout must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        topics, tasks = parse_selection(args.only)
        submission = _resolve_submission(args.submission)
        report = grade(submission, topics, device=args.device, seed=args.seed,
                       sandbox=args.sandbox, timeout=args.timeout, memory_mb=args.memory_mb, junit=args.junit,
                       isolation=args.isolation, strict=args.strict, tasks=tasks)
    except (SubmissionError, ValueError, IsolationUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    if not args.no_progress and report.checks:
        record_progress(report, submission, args.progress)
    if args.quiet:
        print(f"{report.earned:g} / {report.possible:g}")
    else:
        print(render_table(report))
    if args.json:
        write_json(report, args.json)
    if args.gradescope:
        write_gradescope(report, args.gradescope, parse_hidden(args.hidden), args.hidden_visibility)
    return EXIT_OK if report.checks else EXIT_CANNOT_GRADE


def cmd_generate(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder generate",
                                description="Write exercises/ from solutions/ (the single source).")
    p.add_argument("--check", action="store_true", help="only report drift; exit 1 when exercises/ is out of date")
    args = p.parse_args(argv)
    try:
        if args.check:
            problems = stubgen.drift()
            for problem in problems:
                print(problem)
            print("exercises/ is up to date" if not problems else f"{len(problems)} exercise file(s) out of date")
            return 1 if problems else 0
        written = stubgen.write()
    except stubgen.StubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    print("\n".join(f"wrote exercises/{n}" for n in written) or "exercises/ is up to date")
    return 0


def cmd_mutants(argv: list[str]) -> int:
    import os

    from autograder import mutants

    p = argparse.ArgumentParser(
        prog="python -m autograder mutants",
        description="Prove the checks: grade every catalogued learner bug (mutant) and valid variant "
        "(autograder/mutants/<topic>.py) in-process on its own task. A mutant must lose points there with feedback "
        "naming the property; a variant must keep full marks. Exit 1 when any entry misbehaves.")
    p.add_argument("--only", metavar="TOPIC[.TASK][,...]", help="entries of these topics or tasks (default: all)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes grading in parallel (default: cores)")
    p.add_argument("--seed", type=int, default=mutants.MUTANT_SEED, help=f"grading seed (default {mutants.MUTANT_SEED})")
    p.add_argument("--device", default="cpu", help="auto|cpu|cuda (default cpu)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the outcomes as JSON")
    p.add_argument("--fast", action="store_true", help="stop each mutant at its first failing check (as the test "
                   "suite does; 'after' then counts only the checks that ran)")
    args = p.parse_args(argv)
    try:
        topics, tasks = parse_selection(args.only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    topics = [t for t in topics if t in mutants.catalogue_topics()]
    selection = [(t, e) for t in topics for e in mutants.catalogue(t) if t not in tasks or set(e.tasks) & tasks[t]]
    if not selection:
        print("error: no catalogue entries match --only", file=sys.stderr)
        return EXIT_USAGE
    reference = {t: grade(stubgen.SOLUTIONS, [t], device=args.device, seed=args.seed, sandbox=False,
                          tasks={t: tasks[t]} if t in tasks else None) for t in topics}
    before = {(t, c.task): 0.0 for t, r in reference.items() for c in r.checks}
    for t, r in reference.items():
        for c in r.checks:
            before[(t, c.task)] += c.points if c.passed else 0.0
    outcomes = mutants.grade_catalogue(selection, seed=args.seed, device=args.device, jobs=args.jobs, fast=args.fast)
    print(mutants.render(outcomes, before))
    if args.json:
        import json
        from dataclasses import asdict

        args.json.write_text(json.dumps([asdict(o) | {"verdict": o.verdict()} for o in outcomes], indent=2) + "\n")
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_hint(argv: list[str]) -> int:
    from autograder import hints
    from autograder.progress import Progress, ProgressError

    p = argparse.ArgumentParser(
        prog="python -m autograder hint",
        description="Show the hint ladder of one task: level 1 the concept and the pitfall, 2 the approach step by step, "
        "3 the key line. Level n+1 opens after a graded attempt at the task fails since level n was shown.")
    p.add_argument("task", metavar="TOPIC.TASK", help="e.g. fusion.GatedFusion")
    p.add_argument("--level", type=int, choices=range(1, hints.LEVELS + 1), help="this level (default: the highest open)")
    p.add_argument("--force", action="store_true", help="open every level (instructors)")
    p.add_argument("--progress", metavar="PATH", help="progress file (default $MMPREP_PROGRESS or ~/.mmprep/progress.sqlite)")
    args = p.parse_args(argv)
    try:
        print(hints.show(args.task, args.level, force=args.force, progress=Progress(args.progress)))
    except (ValueError, ProgressError) as exc:  # HintError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_progress(argv: list[str]) -> int:
    from autograder import progress
    from autograder.grading import tasks_of

    p = argparse.ArgumentParser(prog="python -m autograder progress",
                                description="Your progress per topic and task: status, best score, attempts, hints used, "
                                "and what to do next (from every grading run of your exercises).")
    p.add_argument("--progress", metavar="PATH", help="progress file (default $MMPREP_PROGRESS or ~/.mmprep/progress.sqlite)")
    p.add_argument("--only", metavar="TOPIC[,TOPIC]", help="these topics only")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = p.parse_args(argv)
    try:
        topics = parse_selection(args.only)[0]
        rows = progress.Progress(args.progress).tasks({t: tasks_of(t) for t in topics})
    except (ValueError, progress.ProgressError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        import json
        from dataclasses import asdict

        print(json.dumps([asdict(r) | {"status": r.status} for r in rows], indent=2))
    else:
        print(progress.render(rows))
    return EXIT_OK


def cmd_site(argv: list[str]) -> int:
    from autograder import site

    return site.main(argv)


LEARNER_COMMANDS = {"mutants": cmd_mutants, "hint": cmd_hint, "progress": cmd_progress, "site": cmd_site}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        return cmd_generate(argv[1:])
    if argv and argv[0] in LEARNER_COMMANDS:
        return LEARNER_COMMANDS[argv[0]](argv[1:])
    if argv and argv[0] in SUBCOMMANDS:
        from autograder.cli_classroom import COMMANDS

        return COMMANDS[argv[0]](argv[1:])
    return cmd_grade(argv)
