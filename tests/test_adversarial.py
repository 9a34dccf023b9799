"""The adversarial battery: hostile submissions, each graded to exactly what its honest part deserves.

Every folder in tests/adversarial/ is a submission of metrics.py that tries one known way to
cheat or break a grader (README.md says what, and `expected: N` its score out of 42). Its honest
part is imported from `_given.py`, a copy of solutions/metrics.py laid beside it when graded. One
subprocess grades them all in a row (sandboxed, fixed seed), writing each report into a
results store as it goes, like a class's batch run; then it checks that the grader finished,
that every score is exact, that no stored result was changed by a later submission, and that
the integrity report names what each submission did.

The battery runs at every level this machine offers: strong (root with namespaces, as in CI) and
process (started as root it also drops to `nobody`). Cases marked `fenced-only` attack what only a
fence protects (the same user could read the checkout, signal the grader, rewrite files, fork
without end): at the process level they are graded only inside a Landlock fence with signal
scoping (Linux 6.12+, ABI 6).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_SEED

pytestmark = pytest.mark.xdist_group("adversarial")  # the battery fixture runs once, on one xdist worker
BATTERY = ROOT / "tests" / "adversarial"
CHECK_TIMEOUT = 4.0  # seconds per check: the hangs cost this much each (the honest checks take ~0.05 s)
MEMORY_MB = {"cgroup": 512, "rlimit": 2048}  # RLIMIT_DATA counts reserved memory: torch does not load under 1.5 GiB
MARKER = "BATTERY-SUMMARY "


def cases() -> list[Path]:
    return sorted(p for p in BATTERY.iterdir() if (p / "README.md").is_file())


def readme(case: Path) -> dict:
    """`expected`, `fenced-only` and `integrity` lines of a case's README ({ROOT}: this checkout, wherever it is)."""
    info = {"expected": None, "fenced_only": False, "integrity": None}
    for line in (case / "README.md").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "expected":
            info["expected"] = float(value)
        elif key == "fenced-only":
            info["fenced_only"] = True
        elif key == "integrity":
            info["integrity"] = value.strip().replace("{ROOT}", str(ROOT))
    return info


def prepared(case: Path, into: Path) -> Path:
    """The case as graded: its own files plus the reference metrics as `_given.py`, its honest part."""
    target = into / case.name
    shutil.copytree(case, target)
    shutil.copy(ROOT / "solutions" / "metrics.py", target / "_given.py")
    return target


def levels() -> list:
    """The isolation levels to run the battery at: what `auto` picks, and the process level below strong.

    Each level is its own xdist group, so two workers can run the two batteries side by side.
    """
    from autograder.sandbox import STRONG, detect

    below = [pytest.param("process", marks=pytest.mark.xdist_group("adversarial-process"))]
    return ["auto", *below] if detect().level == STRONG else ["auto"]


def fenced(isolation: str) -> bool:
    """Whether `fenced-only` cases can be graded at this level: strong, or a Landlock fence that scopes signals."""
    from autograder.sandbox import STRONG, choose

    found = choose(isolation)
    return found.level == STRONG or found.landlock >= 6


def grade_all(isolation: str, store: Path) -> dict:
    """Grade every case in one process (sharing import time), storing each report as it finishes."""
    from autograder.grading import grade
    from autograder.report import render_table, write_json
    from autograder.sandbox import choose

    store.mkdir(parents=True, exist_ok=True)
    memory_mb = MEMORY_MB["cgroup" if choose(isolation).cgroups else "rlimit"]
    summary = {}
    copies = Path(tempfile.mkdtemp(prefix="battery-cases-"))
    for case in cases():
        if readme(case)["fenced_only"] and not fenced(isolation):
            continue
        entry = {}
        try:
            report = grade(prepared(case, copies), ["metrics"], device="cpu", seed=TEST_SEED, timeout=CHECK_TIMEOUT,
                           memory_mb=memory_mb, isolation=isolation)
            write_json(report, store / f"{case.name}.json")
            render_table(report).encode("utf-8")  # the table must print, whatever the learner's text
            entry = {"earned": report.earned, "possible": report.possible, "problems": report.problems,
                     "integrity": report.integrity, "isolation": report.isolation, "seconds": report.seconds,
                     "failed": sorted({f"{c.task}: {c.feedback}" for c in report.checks if not c.passed})}
        except Exception as exc:  # the test reports it; the battery goes on
            entry = {"error": f"{type(exc).__name__}: {exc}"}
        summary[case.name] = entry
    shutil.rmtree(copies, ignore_errors=True)
    for name, entry in summary.items():  # did a later submission change an earlier result?
        path = store / f"{name}.json"
        if "earned" in entry:
            stored = json.loads(path.read_text())
            entry["intact"] = stored.get("earned") == entry["earned"] and stored.get("integrity") == entry["integrity"]
    return summary


@pytest.fixture(scope="module", params=levels())
def battery(request) -> dict:
    with tempfile.TemporaryDirectory(prefix="autograder-battery-") as tmp:
        proc = subprocess.run([sys.executable, "-m", "tests.test_adversarial", str(Path(tmp) / "results"), request.param],
                              capture_output=True, text=True, timeout=900, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    assert proc.returncode == 0 and lines, f"the battery did not finish (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len(MARKER):])


def test_battery_has_at_least_twenty_hostile_submissions():
    hostile = [c for c in cases() if readme(c)["expected"] is not None and readme(c)["expected"] < 42]
    assert len(hostile) >= 20, [c.name for c in hostile]


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_hostile_submission_gets_exactly_its_honest_score(battery, case):
    info = readme(case)
    if case.name not in battery:
        pytest.skip("fenced-only case: neither strong isolation nor a Landlock fence with signal scoping here")
    entry = battery[case.name]
    assert "error" not in entry, entry.get("error")
    assert entry["problems"] == [], entry["problems"]
    assert entry["earned"] == info["expected"], (
        f"{case.name}: {entry['earned']:g} / {entry['possible']:g}, expected {info['expected']:g}; failed: {entry['failed']}")
    assert entry["intact"], f"{case.name}: its stored result was changed after it was written"
    if info["integrity"]:
        assert any(info["integrity"] in finding for finding in entry["integrity"]), (
            f"{case.name}: no integrity finding mentions {info['integrity']!r}: {entry['integrity']}")


def test_reading_the_solutions_works_without_the_sandbox(tmp_path, monkeypatch):
    """16_read_solutions finds the checkout from any folder: its 4 points in the battery are the sandbox's doing."""
    from autograder.grading import grade

    case = prepared(BATTERY / "16_read_solutions", tmp_path)
    monkeypatch.chdir(tmp_path)  # not below the checkout: the folders above lead nowhere
    report = grade(case, ["metrics"], device="cpu", seed=TEST_SEED, sandbox=False,
                   tasks={"metrics": {"roc_auc", "pearson_r"}})
    assert report.possible > 0 and report.earned == report.possible, (
        f"unconfined, the copied reference should earn {report.possible:g}, got {report.earned:g}: "
        f"{sorted({c.feedback for c in report.checks if not c.passed})}")


def test_honest_control_has_a_clean_integrity_report(battery):
    assert battery["00_honest_control"]["integrity"] == []


if __name__ == "__main__":
    results = grade_all(sys.argv[2] if len(sys.argv) > 2 else "auto", Path(sys.argv[1]))
    print(MARKER + json.dumps(results))
