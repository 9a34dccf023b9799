"""What Gradescope's run_autograder does for one submission (python -m autograder.gradescope.run --root /autograder).

Copies ROOT/submission to a private folder, grades it with `python -m autograder ... --gradescope
ROOT/results/results.json` on the bundle's topics (ROOT/source/gradescope.json), and, when
grading cannot run at all (an empty or unreadable upload), still writes a valid results.json with
score 0 and a message the student can act on. Gradescope shows results.json, so the exit status is
0 whenever that file was written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SINGLE_FILE_SUFFIXES = (".py", ".ipynb")


def load_config(root: Path) -> dict:
    config = json.loads((root / "source" / "gradescope.json").read_text())
    config.setdefault("topics", [])
    config.setdefault("hidden", "")
    config.setdefault("hidden_visibility", "after_published")
    config.setdefault("timeout", 60.0)
    config.setdefault("grader_args", [])
    return config


def stage_submission(submission: Path, work: Path, topics: list[str]) -> Path:
    """A private copy of the upload; one lone .py/.ipynb not named after a topic is graded as the only topic."""
    target = work / "submission"
    shutil.copytree(submission, target, symlinks=True)
    files = [p for p in target.rglob("*") if p.is_file() and "__MACOSX" not in p.parts]
    named = [p for p in files if p.stem in topics and p.suffix in SINGLE_FILE_SUFFIXES + (".zip",)]
    singles = [p for p in files if p.suffix in SINGLE_FILE_SUFFIXES]
    zips = [p for p in files if p.suffix == ".zip"]
    if not named and len(zips) == 1 and not singles:
        return zips[0]  # an uploaded zip that Gradescope kept as a file
    if not named and len(singles) == 1 and len(topics) == 1:
        single = singles[0]
        renamed = single.with_name(f"{topics[0]}{single.suffix}")
        single.rename(renamed)
    return target


def failure_results(message: str) -> dict:
    return {"score": 0.0, "output": message, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope.run")
    p.add_argument("--root", type=Path, default=Path("/autograder"), help="Gradescope's /autograder folder")
    args = p.parse_args(argv)
    root = args.root.resolve()
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    config = load_config(root)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        work = Path(tmp)
        try:
            graded = stage_submission(root / "submission", work, config["topics"])
        except OSError as exc:
            results.write_text(json.dumps(failure_results(f"Could not read your submission: {exc}")))
            return 0
        cmd = [sys.executable, "-m", "autograder", str(graded), "--gradescope", str(results),
               "--timeout", str(config["timeout"]), "--hidden", config["hidden"],
               "--hidden-visibility", config["hidden_visibility"], *map(str, config["grader_args"])]
        if config["topics"]:
            cmd += ["--only", ",".join(config["topics"])]
        if results.exists():
            results.unlink()
        done = subprocess.run(cmd, cwd=work, env={**os.environ, "PYTHONPATH": str(root / "source")},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        print(done.stdout)  # the instructor-only log (stdout_visibility hidden): table and integrity findings
        print(done.stderr, file=sys.stderr)
        if done.returncode != 0 or not results.exists():
            lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
            why = lines[-1].removeprefix("error: ") if lines else f"the grader exited with status {done.returncode}"
            expected = ", ".join(f"{t}.py" for t in config["topics"]) or "the exercise files"
            results.write_text(json.dumps(failure_results(
                f"Your submission could not be graded: {why}. Upload {expected} (or a notebook or zip holding them).")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
