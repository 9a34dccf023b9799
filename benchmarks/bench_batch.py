"""Batch grading throughput: `python -m autograder batch` with --jobs 1 and 2, against `nbgrader autograde`.

All three grade the same topic's reference solution for N students:
  * batch --jobs 1 / --jobs 2: each submission in its own grader process and sandbox worker;
  * nbgrader autograde: the topic's nbgrader notebook executed in a kernel, test cells in-kernel;
  * nbgrader + sandbox: `python -m autograder nbgrader grade` (autograde without execution, then
    the sandbox's scores written into the gradebook).

    python benchmarks/bench_batch.py [--students 4] [--topic metrics] [--device cpu]

Prints a table and writes benchmarks/results/bench_batch.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    import nbformat

    from autograder.nbgrader_course import build_course, notebook_source
    from autograder.nbgrader_grade import grade_submissions
    from benchmarks._common import save

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=4)
    p.add_argument("--topic", default="metrics")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    solution = (ROOT / "solutions" / f"{args.topic}.py").read_text()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        subs = tmp / "subs"
        for i in range(args.students):
            (subs / f"student{i}").mkdir(parents=True)
            (subs / f"student{i}" / f"{args.topic}.py").write_text(solution)
        for jobs in (1, 2):
            store = tmp / f"grades{jobs}" / "results.sqlite"
            seconds = timed([sys.executable, "-m", "autograder", "batch", str(subs), "--only", args.topic,
                             "--jobs", str(jobs), "--store", str(store), "--seed", str(args.seed),
                             "--device", args.device, "--no-progress"], cwd=tmp)
            rows.append({"method": f"batch --jobs {jobs} (sandbox)", "seconds": seconds})

        course = tmp / "course"
        build_course(course, [args.topic], cell_timeout=600)
        env = {**os.environ, "AUTOGRADER_SEED": str(args.seed)}
        nbgrader = [sys.executable, "-m", "nbgrader"]
        timed([*nbgrader, "generate_assignment", args.topic, "--force"], cwd=course, env=env)
        released = course / "release" / args.topic / f"{args.topic}.ipynb"
        for i in range(args.students):
            nb = nbformat.read(released, as_version=4)
            for cell in nb.cells:
                if cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = notebook_source(solution)
            folder = course / "submitted" / f"student{i}" / args.topic
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{args.topic}.ipynb")
        seconds = timed([*nbgrader, "autograde", args.topic], cwd=course, env=env)
        rows.append({"method": "nbgrader autograde (in-kernel, unsandboxed)", "seconds": seconds})
        started = time.perf_counter()
        scores = grade_submissions(course, args.topic, seed=args.seed, device=args.device)
        rows.append({"method": "nbgrader grade via sandbox (this course)", "seconds": time.perf_counter() - started})
        assert all(e == p for e, p in scores.values()), scores

    print(f"{args.students} submissions of {args.topic} (reference solution), device {args.device}")
    print(f"{'method':<46}{'seconds':>9}{'s/submission':>14}{'submissions/min':>17}")
    for row in rows:
        row["seconds"] = round(row["seconds"], 1)
        row["seconds_per_submission"] = round(row["seconds"] / args.students, 2)
        row["submissions_per_minute"] = round(60 * args.students / row["seconds"], 2)
        print(f"{row['method']:<46}{row['seconds']:>9.1f}{row['seconds_per_submission']:>14.2f}"
              f"{row['submissions_per_minute']:>17.2f}")
    out = save("bench_batch", rows, topic=args.topic, students=args.students, device=args.device,
               load_average=os.getloadavg())
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    from benchmarks._common import run_unthrottled

    run_unthrottled()
    main()
