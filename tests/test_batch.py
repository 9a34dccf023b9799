"""Batch grading: discovery, the SQLite results store, resuming, isolation of broken submissions, exports."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder import stubgen
from autograder.batch import BatchError, GradeOptions, find_submissions, fingerprint, run_batch
from autograder.grading import CheckResult, Report
from autograder.results_store import ResultsStore
from tests.conftest import ROOT, TEST_SEED, run_cli


def fake_report(path: Path, options: GradeOptions) -> Report:
    """A stand-in grader: full marks for anything whose text contains 'good', else half."""
    text = path.read_text() if path.is_file() else "".join(p.read_text() for p in sorted(path.rglob("*.py")))
    good = "good" in text
    checks = [CheckResult("metrics", "accuracy", "test_a", 2.0, True, "", 0.01),
              CheckResult("metrics", "roc_auc", "test_b", 3.0, good, "" if good else "roc_auc differs", 0.01)]
    return Report(str(path), options.seed, "cpu", "test", ["metrics"], checks)


def make_folder(tmp_path: Path, entries: dict[str, str]) -> Path:
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, text in entries.items():
        if name.endswith("/"):
            (subs / name).mkdir()
            (subs / name / "metrics.py").write_text(text)
        else:
            (subs / name).write_text(text)
    return subs


def test_find_submissions_ids_formats_and_collisions(tmp_path):
    subs = make_folder(tmp_path, {"alice/": "x", "bob.py": "x", "carol.ipynb": "{}", "notes.txt": "skip me",
                                  "dan.zip": "", "dan/": "x"})
    (subs / ".hidden").mkdir()
    (subs / "__pycache__").mkdir()
    ids = {s.student: s.path.name for s in find_submissions(subs)}
    assert ids == {"alice": "alice", "bob": "bob.py", "carol": "carol.ipynb", "dan.zip": "dan.zip", "dan": "dan"}
    with pytest.raises(BatchError, match="does not exist"):
        find_submissions(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no submissions"):
        find_submissions(tmp_path / "empty")


def test_fingerprint_follows_content(tmp_path):
    subs = make_folder(tmp_path, {"alice/": "v1"})
    before = fingerprint(subs / "alice")
    (subs / "alice" / "__pycache__").mkdir()
    (subs / "alice" / "__pycache__" / "x.pyc").write_bytes(b"cache")
    assert fingerprint(subs / "alice") == before, "caches must not count as a resubmission"
    (subs / "alice" / "metrics.py").write_text("v2")
    assert fingerprint(subs / "alice") != before


def test_batch_skips_graded_regrades_changes_and_isolates_errors(tmp_path):
    subs = make_folder(tmp_path, {"alice/": "good", "bob/": "bad", "carol.py": "good", "dave.zip": "not a zip"})
    seen: list[str] = []

    def grader(path: Path, options: GradeOptions) -> Report:
        seen.append(path.name)
        if path.suffix == ".zip":
            raise RuntimeError("dave.zip is not a valid zip file")
        return fake_report(path, options)

    options = GradeOptions(["metrics"], seed=1)
    with ResultsStore(tmp_path / "grades" / "results.sqlite") as store:
        summary = run_batch(subs, store, options, jobs=2, progress=False, grader=grader)
        assert (summary.count("graded"), summary.count("error")) == (3, 1), summary.line()
        assert "metrics.py" in seen, "a single .py not named after a topic is graded as the --only topic"
        assert {r["student"]: r["status"] for r in store.rows()} == {"alice": "graded", "bob": "graded",
                                                                      "carol": "graded", "dave": "error"}
        seen.clear()
        again = run_batch(subs, store, options, jobs=2, progress=False, grader=grader)
        assert seen == [] and again.count("skipped") == 4, "a rerun must skip what the store holds"
        (subs / "bob" / "metrics.py").write_text("good now")  # a resubmission
        again = run_batch(subs, store, options, progress=False, grader=grader)
        assert seen == ["bob"] and store.report("bob").earned == 5
        seen.clear()
        run_batch(subs, store, options, retry_errors=True, progress=False, grader=grader)
        assert seen == ["dave.zip"]
        seen.clear()
        run_batch(subs, store, options, regrade=True, progress=False, grader=grader)
        assert len(seen) == 4
        assert store.export_csv(tmp_path / "grades.csv") == 4


def test_single_file_needs_one_topic(tmp_path):
    subs = make_folder(tmp_path, {"alice.py": "good"})
    with ResultsStore(tmp_path / "r.sqlite") as store:
        summary = run_batch(subs, store, GradeOptions(["metrics", "fusion"], seed=1), progress=False, grader=fake_report)
        assert summary.count("error") == 1 and "--only TOPIC" in summary.outcomes[0].error


KILLABLE = '''
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from autograder.batch import GradeOptions, run_batch
from autograder.results_store import ResultsStore
from tests.test_batch import fake_report

def slow(path, options):
    with open({log!r}, "a") as fh:
        fh.write(path.name + "\\n")
    time.sleep(float({delay!r}))
    return fake_report(path, options)

with ResultsStore({store!r}) as store:
    run_batch(Path({subs!r}), store, GradeOptions(["metrics"], seed=1), jobs=1, progress=False, grader=slow)
'''


def test_batch_killed_half_way_resumes_and_loses_nothing(tmp_path):
    subs = make_folder(tmp_path, {f"s{i}/": "good" for i in range(6)})
    store_path, log = tmp_path / "grades" / "results.sqlite", tmp_path / "graded.log"

    def start(delay: float) -> subprocess.Popen:
        script = tmp_path / "run.py"
        script.write_text(KILLABLE.format(root=str(ROOT), log=str(log), delay=delay, store=str(store_path),
                                          subs=str(subs)))
        return subprocess.Popen([sys.executable, str(script)], cwd=ROOT, start_new_session=True)

    proc = start(delay=0.5)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and committed < 2:
        time.sleep(0.2)
        if store_path.exists():
            with sqlite3.connect(store_path) as db:
                try:
                    committed = db.execute("SELECT COUNT(*) FROM grades").fetchone()[0]
                except sqlite3.OperationalError:
                    committed = 0
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up of any kind
    proc.wait()
    assert committed >= 2, "the batch never committed a result"
    with ResultsStore(store_path) as store:
        kept = {r["student"]: r["graded_at"] for r in store.rows()}
    assert len(kept) >= 2 and len(kept) < 6, kept
    log.write_text("")
    proc = start(delay=0.0)
    assert proc.wait(timeout=120) == 0
    regraded = log.read_text().split()
    assert not set(regraded) & set(kept), f"resumed batch regraded {set(regraded) & set(kept)}"
    with ResultsStore(store_path) as store:
        rows = {r["student"]: r for r in store.rows()}
    assert sorted(rows) == [f"s{i}" for i in range(6)] and all(r["status"] == "graded" for r in rows.values())
    assert all(rows[s]["graded_at"] == kept[s] for s in kept)


# ----------------------------------------------------------------------------- the real thing, end to end
@pytest.fixture(scope="module")
def real_batch(tmp_path_factory, cli_device):
    tmp = tmp_path_factory.mktemp("batch")
    subs = tmp / "subs"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "metrics.py").write_text((ROOT / "solutions" / "metrics.py").read_text())
    stubs = tmp / "stubs"
    stubgen.write(stubs)
    with zipfile.ZipFile(subs / "bob.zip", "w") as zf:
        zf.write(stubs / "metrics.py", "bob/exercises/metrics.py")
    (subs / "dave.zip").write_text("this is not a zip")
    store = tmp / "grades" / "results.sqlite"
    args = ("batch", str(subs), "--only", "metrics", "--jobs", "2", "--seed", str(TEST_SEED), "--device", cli_device,
            "--store", str(store), "--no-progress", "--hidden", "metrics.roc_auc")
    first = run_cli(*args)
    second = run_cli(*args)
    return tmp, first, second


@pytest.mark.xdist_group("real_batch")
def test_real_batch_grades_in_parallel_and_exports(real_batch):
    tmp, first, _ = real_batch
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 graded, 1 could not be graded" in first.stdout, first.stdout
    with (tmp / "grades" / "grades.csv").open() as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["alice"]["status"] == "graded" and rows["alice"]["earned"] == rows["alice"]["possible"] != ""
    assert rows["alice"]["metrics.roc_auc"] not in ("", "0")
    assert rows["bob"]["earned"] == "0" and rows["bob"]["metrics"] == "0"
    assert rows["dave"]["status"] == "error" and "not a valid zip" in rows["dave"]["error"]
    feedback = {p.stem: p.read_text() for p in (tmp / "grades" / "feedback").glob("*.txt")}
    assert set(feedback) == {"alice", "bob", "dave"}
    assert "not implemented yet" in feedback["bob"] and "roc_auc" not in feedback["bob"], "hidden task shown"
    assert "Hidden checks:" in feedback["alice"] and "(100.0%)" in feedback["alice"]
    assert "could not be graded" in feedback["dave"]


@pytest.mark.xdist_group("real_batch")
def test_real_batch_rerun_skips_everything(real_batch):
    _, _, second = real_batch
    assert second.returncode == 0, second.stderr[-2000:]
    assert "0 graded, 0 could not be graded, 3 already in the store" in second.stdout, second.stdout


def test_batch_cli_usage_errors(tmp_path):
    (tmp_path / "subs").mkdir()
    done = run_cli("batch", str(tmp_path / "subs"), "--store", str(tmp_path / "subs" / "r.sqlite"))
    assert done.returncode == 2 and "outside the submissions folder" in done.stderr
    done = run_cli("batch", str(tmp_path / "missing"), "--store", str(tmp_path / "r.sqlite"), "--no-progress")
    assert done.returncode == 3 and "does not exist" in done.stderr
    done = run_cli("batch", str(tmp_path / "subs"), "--only", "nope", "--store", str(tmp_path / "r.sqlite"))
    assert done.returncode == 2 and "unknown topic" in done.stderr


def test_export_rewrites_csv_and_feedback(tmp_path):
    subs = make_folder(tmp_path, {"alice/": "good", "bob/": "bad"})
    store_path = tmp_path / "grades" / "results.sqlite"
    with ResultsStore(store_path) as store:
        run_batch(subs, store, GradeOptions(["metrics"], seed=1), progress=False, grader=fake_report)
    done = run_cli("export", "--store", str(store_path), "--csv", str(tmp_path / "out.csv"),
                   "--feedback", str(tmp_path / "fb"))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [(r["student"], r["earned"], r["metrics.roc_auc"]) for r in rows] == [("alice", "5", "3"), ("bob", "2", "0")]
    assert "roc_auc differs" in (tmp_path / "fb" / "bob.txt").read_text()
    assert run_cli("export", "--store", str(tmp_path / "none.sqlite")).returncode == 3

