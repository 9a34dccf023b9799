"""Report formats: terminal table, feedback with hidden checks, Gradescope results.json and the Gradescope bundle."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from autograder.gradescope.bundle import grading_requirements
from autograder.grading import CheckResult, Report
from autograder.report import gradescope_results, render_feedback, render_table
from autograder.results_store import ResultsStore, report_from_dict, split_by_topic
from tests.conftest import ROOT, TEST_SEED, run_cli

GRADESCOPE_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def sample_report() -> Report:
    checks = [
        CheckResult("metrics", "accuracy", "test_accuracy_matches_sklearn", 1.0, True, "", 0.1),
        CheckResult("metrics", "accuracy", "test_accuracy_rejects_bad_input", 1.0, False,
                    "accuracy on empty arrays: returned normally, expected ValueError", 0.1),
        CheckResult("metrics", "roc_auc", "test_roc_auc_hand_worked", 3.0, True, "", 0.2),
        CheckResult("fusion", "TensorFusion", "test_tensor_fusion_formula", 4.0, False, "not implemented yet", 0.3),
    ]
    report = Report("alice", 7, "cpu", "process", ["metrics", "fusion"], checks, ["a problem"], 1.5)
    if hasattr(report, "integrity"):
        report.integrity = ["patched numpy.allclose"]
    return report


def validate_gradescope(results: dict) -> None:
    """The keys and types Gradescope's results.json requires (and the optional ones we write)."""
    assert isinstance(results.get("score"), (int, float)), "score must be a number"
    assert isinstance(results.get("execution_time", 0), (int, float))
    assert isinstance(results.get("output", ""), str)
    assert results.get("visibility", "visible") in GRADESCOPE_VISIBILITY
    assert results.get("stdout_visibility", "hidden") in GRADESCOPE_VISIBILITY
    assert isinstance(results.get("tests"), list)
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in {"passed", "failed"}
        assert isinstance(test["output"], str)
        assert test["visibility"] in GRADESCOPE_VISIBILITY
        assert isinstance(test.get("execution_time", 0), (int, float))
    json.dumps(results)  # plain JSON all the way down


def test_table_lists_tasks_feedback_and_problems():
    text = render_table(sample_report())
    assert "metrics" in text and "accuracy" in text and "expected ValueError" in text
    assert "problem: a problem" in text and "Total 4 / 9" in text


def test_feedback_hides_hidden_checks_and_integrity():
    report = sample_report()
    text = render_feedback(report, {"metrics.roc_auc"})
    assert "roc_auc" not in text and "Hidden checks: 3 / 3 (1 checks" in text
    assert "Total with hidden checks 4 / 9" in text
    assert "integrity" not in text and "allclose" not in text, "integrity findings are for the instructor"
    assert "TensorFusion" in render_feedback(report) and "roc_auc" in render_feedback(report)
    whole_topic = render_feedback(report, {"fusion"})
    assert "TensorFusion" not in whole_topic and "Hidden checks: 0 / 4" in whole_topic


def test_gradescope_results_are_valid_and_hide_checks():
    results = gradescope_results(sample_report(), {"metrics.roc_auc"}, "hidden")
    validate_gradescope(results)
    assert results["score"] == 4
    visibility = {t["name"].split(" — ")[0]: t["visibility"] for t in results["tests"]}
    assert visibility["metrics: roc_auc"] == "hidden" and visibility["metrics: accuracy"] == "visible"
    assert results["stdout_visibility"] == "hidden"
    with pytest.raises(ValueError, match="hidden_visibility"):
        gradescope_results(sample_report(), set(), "secret")


def test_report_round_trips_through_the_store(tmp_path):
    report = sample_report()
    again = report_from_dict(json.loads(json.dumps(report.to_dict())))
    assert again.to_dict() == report.to_dict()
    parts = split_by_topic(report)
    assert set(parts) == {"metrics", "fusion"} and parts["metrics"].earned == 4 and parts["fusion"].possible == 4
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record_report("alice", "alice", "sha", report)
        assert store.status("alice", ["metrics", "fusion"], "sha") == "graded"
        assert store.status("alice", ["metrics"], "other") is None
        merged = store.report("alice")
        assert merged.earned == report.earned and merged.possible == report.possible
        assert merged.topics == ["metrics", "fusion"]


def test_grading_requirements_drop_notebook_tools():
    text = "torch==2.14.1\nnbgrader>=0.9\njupyter>=1.0\n# notes\nnbformat>=5.9\nruff>=0.5\n"
    kept = grading_requirements(text)
    assert "torch==2.14.1" in kept and "nbformat" in kept and "# notes" in kept
    assert "nbgrader" not in kept and "jupyter" not in kept and "ruff" not in kept


def test_bundle_requirements_are_all_named_packages():
    """Gradescope installs them with no checkout beside: `-e .` (the course's own install) must not be there."""
    kept = grading_requirements((ROOT / "requirements.txt").read_text())
    lines = [line.strip() for line in kept.splitlines() if line.strip() and not line.strip().startswith("#")]
    names = {Requirement(line).name.lower() for line in lines}  # raises InvalidRequirement on "-e ." and paths
    assert {"torch", "numpy", "pytest"} <= names and "nbgrader" not in names


# ----------------------------------------------------------------------------- the Gradescope bundle
@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("gs") / "autograder.zip"
    done = run_cli("gradescope-bundle", str(out), "--only", "metrics", "--hidden", "metrics.median_rank",
                   "--timeout", "30")
    assert done.returncode == 0, done.stderr
    return out


def fake_autograder_root(tmp_path: Path, bundle: Path) -> Path:
    """Gradescope's layout: the bundle unzipped in source/, the upload in submission/, results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # zipfile drops the permission bits; Gradescope keeps them
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, mode & 0o777)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=600, cwd=root)


def test_bundle_layout(bundle):
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        config = json.loads(zf.read("gradescope.json"))
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "gradescope.json",
            "autograder/cli.py", "autograder/checks/test_metrics.py", "autograder/gradescope/run.py"} <= names
    assert any(n.startswith("mmprep/") for n in names)
    assert not any(n.startswith("solutions/") or "__pycache__" in n or "/mutants/" in n for n in names), \
        "no solutions, no mutant catalogue (it quotes the solutions), no caches"
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert config["topics"] == ["metrics"] and config["hidden"] == "metrics.median_rank"
    assert "download.pytorch.org/whl/cpu" in config["torch_index"] and "requirements.txt" in setup
    subprocess.run(["bash", "-n", "-c", setup], check=True)


@pytest.mark.xdist_group("gradescope")
def test_run_autograder_grades_a_submission(tmp_path, bundle):
    root = fake_autograder_root(tmp_path, bundle)
    shutil.copy(ROOT / "solutions" / "metrics.py", root / "submission" / "my_metrics.py")  # any name: one topic
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    validate_gradescope(results)
    assert results["tests"] and results["score"] == sum(t["max_score"] for t in results["tests"]), \
        [t["output"] for t in results["tests"] if t["status"] != "passed"]
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    assert hidden and all(t["name"].startswith("metrics: median_rank") for t in hidden)
    assert "Total" in done.stdout, "the table goes to the instructor-only log"


def test_run_autograder_writes_results_when_it_cannot_grade(tmp_path, bundle):
    root = fake_autograder_root(tmp_path, bundle)
    (root / "submission" / "homework.zip").write_text("not a zip at all")
    done = run_autograder(root)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    validate_gradescope(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "could not be graded" in results["output"] and "not a valid zip" in results["output"]
    assert "metrics.py" in results["output"], "tell the student what to upload"


def test_grade_cli_hidden_option_sets_gradescope_visibility(tmp_path, cli_device):
    out = tmp_path / "results.json"
    done = run_cli(str(ROOT / "solutions"), "--only", "metrics", "--no-sandbox", "--seed", str(TEST_SEED), "--quiet",
                   "--device", cli_device, "--gradescope", str(out), "--hidden", "metrics.mae", "--hidden-visibility", "hidden")
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    validate_gradescope(results)
    assert {t["visibility"] for t in results["tests"] if t["name"].startswith("metrics: mae ")} == {"hidden"}
