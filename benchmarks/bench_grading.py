"""Per-submission grading time: in-process vs sandboxed (process level, strong level).

For each mode, grades the reference solutions and the untouched exercises (the two ends of a
class: everything runs, or every call fails fast) on the chosen topics, best of --repeat, and
times a worker's start-up (start, import of the topic, one call) on its own.

    python benchmarks/bench_grading.py [--topics metrics] [--repeat 3] [--device cpu]
        [--modes in-process,process,strong] [--solutions-only] [--out FILE]

Prints a table and writes benchmarks/results/grading[_<topic>...].json (or --out). The strong level
needs root. To compare two versions of the course, run this same script from each checkout (copy
benchmarks/ into the older one) with the same options.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, best_of, run_unthrottled, save  # noqa: E402


def worker_start_seconds(level: str, topic: str, device: str) -> float:
    """Start a worker, import `topic`, answer one request (a missing function: no learner work)."""
    from autograder.student import SandboxedStudent, StudentError

    handle = SandboxedStudent(ROOT / "solutions", device=device, isolation=level, timeout=120)
    try:
        handle.begin_check(120)
        start = time.perf_counter()
        try:
            handle.call(f"{topic}.__no_such_function__")
        except StudentError:
            pass
        return time.perf_counter() - start
    finally:
        handle.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", default="metrics", help="comma-separated topics to grade (default metrics)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", default="in-process,process,strong", help="comma-separated subset")
    parser.add_argument("--solutions-only", action="store_true", help="skip the untouched exercises")
    parser.add_argument("--out", default=None, help="result file (default benchmarks/results/grading[_<topic>...].json)")
    args = parser.parse_args()

    from autograder import sandbox
    from autograder.grading import grade, parse_topics
    from autograder.stubgen import EXERCISES

    topics = parse_topics(args.topics)
    wanted = {m.strip() for m in args.modes.split(",") if m.strip()}
    modes = [m for m in [("in-process", False, "auto"), ("process", True, sandbox.PROCESS)] if m[0] in wanted]
    if "strong" in wanted and sandbox.detect().level == sandbox.STRONG:
        modes.append(("strong", True, sandbox.STRONG))
    elif "strong" in wanted:
        print(f"strong level skipped: {'; '.join(sandbox.detect().missing)}")
    grade(ROOT / "solutions", topics, device=args.device, seed=0, sandbox=False)  # warm imports (sklearn, pytest)

    rows = []
    for label, sandboxed, level in modes:
        row = {"mode": label}
        for name, folder in (("solutions", ROOT / "solutions"), ("exercises", EXERCISES))[: 1 if args.solutions_only else 2]:
            row[f"{name}_s"] = round(best_of(lambda f=folder, on=sandboxed, lv=level: grade(
                f, topics, device=args.device, seed=1, sandbox=on, isolation=lv), args.repeat), 2)
        row["worker_start_s"] = (round(min(worker_start_seconds(level, topics[0], args.device)
                                           for _ in range(args.repeat)), 2) if sandboxed else 0.0)
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["solutions_vs_first_mode"] = round(row["solutions_s"] / base["solutions_s"], 2)

    print(f"grading {', '.join(topics)} on {args.device}, best of {args.repeat} (seconds per submission)")
    print(f"{'mode':<12}{'solutions':>11}{'exercises':>11}{'worker start':>14}{'vs ' + base['mode']:>16}")
    for row in rows:
        print(f"{row['mode']:<12}{row['solutions_s']:>11.2f}{row.get('exercises_s', float('nan')):>11.2f}"
              f"{row['worker_start_s']:>14.2f}{row['solutions_vs_first_mode']:>15.2f}x")
    out = save("grading" + "".join(f"_{t}" for t in topics if t != "metrics"), rows,
               out=Path(args.out) if args.out else None, topics=topics, device=args.device, repeat=args.repeat)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_unthrottled()
    main()
