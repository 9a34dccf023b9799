"""The grading contract end to end: single source, 100% / 0%, clean feedback, bad submissions graded check by check."""


from __future__ import annotations

import json
import shutil
import textwrap
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import stubgen
from autograder.grading import available_topics, grade
from autograder.report import NOT_IMPLEMENTED, task_feedback
from tests.conftest import ROOT, TEST_SEED, run_cli

# one xdist worker runs this module, so its expensive module fixtures are built once
pytestmark = pytest.mark.xdist_group("grading_contract")


# ----------------------------------------------------------------------------- single source
def test_exercises_are_generated_from_solutions():
    problems = stubgen.drift(committed=True)
    assert not problems, "exercises/ differs from `python -m autograder generate` output:\n" + "\n".join(problems)


def test_every_topic_has_solution_exercise_and_checks():
    solutions = {p.stem for p in (ROOT / "solutions").glob("*.py")} - {"__init__"}
    exercises = {p.stem for p in (ROOT / "exercises").glob("*.py")} - {"__init__"}
    assert solutions == exercises, f"solutions {sorted(solutions)} vs exercises {sorted(exercises)}"
    assert set(available_topics()) == solutions, f"checks for {available_topics()}, solutions {sorted(solutions)}"


def test_stub_generator_keeps_signature_docstring_and_names_the_task():
    source = textwrap.dedent('''
        def area(w: float, h: float) -> float:
            """Area of a w x h rectangle."""
            # hint: multiply
            ### BEGIN SOLUTION
            return w * h
            ### END SOLUTION

        class Box:
            """A box."""

            def volume(self, d: int) -> int:
                """Volume of the box."""
                ### BEGIN SOLUTION
                return d ** 3
                ### END SOLUTION
    ''')
    stub = stubgen.make_stub(source, "geometry", "solutions/geometry.py")
    assert "def area(w: float, h: float) -> float:" in stub
    assert '"""Area of a w x h rectangle."""' in stub and "# hint: multiply" in stub
    assert "return w * h" not in stub and "d ** 3" not in stub
    assert "raise NotImplementedError('geometry: task area — Area of a w x h rectangle')" in stub
    assert "raise NotImplementedError('geometry: task Box — Volume of the box')" in stub


@pytest.mark.parametrize("bad, why", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "inside a top-level function or class"),
])
def test_stub_generator_rejects_broken_markers(bad, why):
    with pytest.raises(stubgen.StubError, match=why):
        stubgen.make_stub(bad, "t", "solutions/t.py")


def test_generate_check_reports_drift(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    (tmp_path / "solutions" / "t.py").write_text('def f():\n    """F."""\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n')
    assert stubgen.drift(tmp_path / "exercises", tmp_path / "solutions"), "a missing exercise file must count as drift"
    stubgen.write(tmp_path / "exercises", tmp_path / "solutions")
    assert stubgen.drift(tmp_path / "exercises", tmp_path / "solutions") == []
    (tmp_path / "exercises" / "t.py").write_text("def f():\n    return 1\n")  # hand-edited
    assert stubgen.drift(tmp_path / "exercises", tmp_path / "solutions")


# ----------------------------------------------------------------------------- 100% and 0%
@pytest.fixture(scope="module")
def solutions_report(tmp_path_factory, cli_device):
    out = tmp_path_factory.mktemp("sol") / "report.json"
    done = run_cli("solutions", "--seed", str(TEST_SEED), "--device", cli_device, "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text()), done.stdout


def test_solutions_score_full_marks_in_the_sandbox(solutions_report):
    report, table = solutions_report
    failures = [f"{t}.{task}: {c['feedback']}" for t, tasks in report["topics"].items()
                for task, info in tasks.items() for c in info["checks"] if not c["passed"]]
    assert not failures, "reference solutions lost points:\n" + "\n".join(failures)
    assert report["earned"] == report["possible"] > 0
    assert "(100.0%)" in table
    assert report["topics"].keys() == set(available_topics())


@pytest.fixture(scope="module")
def stubs_run(tmp_path_factory, cli_device):
    # grade freshly generated stubs, so a learner's own edits in exercises/ cannot break this test
    folder = tmp_path_factory.mktemp("stubs")
    stubgen.write(folder)
    out = folder / "report.json"
    done = run_cli(str(folder), "--seed", str(TEST_SEED), "--device", cli_device, "--json", str(out))
    return done, json.loads(out.read_text())


def test_untouched_exercises_score_zero_with_not_implemented_per_task(stubs_run):
    done, report = stubs_run
    assert done.returncode == 0, done.stderr[-2000:]
    assert report["earned"] == 0 and report["possible"] > 0
    for topic, tasks in report["topics"].items():
        for task, info in tasks.items():
            feedback = {c["feedback"] for c in info["checks"]}
            assert feedback == {NOT_IMPLEMENTED}, f"{topic}.{task}: {feedback}"
            assert f"{task}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "(0.0%)" in done.stdout


def test_default_submission_is_exercises_and_only_selects_topics(tmp_path):
    done = run_cli("--only", "metrics", "--seed", "1", "--quiet", "--json", str(tmp_path / "r.json"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["submission"].endswith("exercises") and list(report["topics"]) == ["metrics"]


def test_cli_usage_errors_have_nonzero_exit_and_one_line():
    done = run_cli("--only", "no_such_topic")
    assert done.returncode == 3 and "unknown topic 'no_such_topic'" in done.stderr
    done = run_cli("/no/such/folder", "--only", "metrics")
    assert done.returncode == 3 and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- a broken submission
BROKEN = '''
import time
from ._reference import *  # the honest part: every function as in the reference
from ._reference import mse as _mse

def accuracy(y_true, y_pred):
    return 1 / 0                                    # raises

def confusion_matrix(y_true, y_pred, num_classes=None):
    while True:                                     # hangs
        time.sleep(0.1)

def roc_curve(y_true, y_score):
    return "a curve"                                # wrong type

class Sneaky(float):
    def __eq__(self, other):
        return True

def mae(y_true, y_pred):
    return Sneaky(0.0)                              # an object posing as a number

def mse(y_true, y_pred):
    print("x" * 3_000_000)                          # floods stdout, then answers correctly
    return _mse(y_true, y_pred)

def pearson_r(x, y):
    return float("nan")                             # NaN never passes a tolerance
'''


@pytest.fixture(scope="module")
def broken_report(tmp_path_factory, cli_device):
    folder = tmp_path_factory.mktemp("broken")
    shutil.copy(ROOT / "solutions" / "metrics.py", folder / "_reference.py")
    (folder / "metrics.py").write_text(BROKEN)
    return grade(folder, ["metrics"], device=cli_device, seed=TEST_SEED, sandbox=True, timeout=4)


def _task(report, name):
    return [c for c in report.checks if c.task == name]


def test_broken_submission_is_graded_check_by_check(broken_report):
    r = broken_report
    expected_zero = {"accuracy": "ZeroDivisionError", "confusion_matrix": "timed out",
                     "roc_curve": "returned a str", "mae": "metrics.Sneaky", "pearson_r": "nan"}
    for task, why in expected_zero.items():
        checks = _task(r, task)
        # input validation checks of a broken function may pass or fail; its value checks must fail
        failed = [c for c in checks if not c.passed]
        assert failed, f"{task} should lose points"
        assert any(why in c.feedback for c in failed), f"{task}: {[c.feedback for c in failed]}"
        assert all("\n" not in c.feedback and "Traceback" not in c.feedback for c in checks)
    for task in ("mse", "roc_auc", "sentiment_metrics", "recall_at_k", "mean_average_precision"):
        assert all(c.passed for c in _task(r, task)), f"{task} (honest) lost points: {[c.feedback for c in _task(r, task)]}"


def test_hang_fails_only_its_own_checks_and_the_worker_restarts(broken_report):
    hung = [c for c in broken_report.checks if "timed out" in c.feedback]
    assert hung and all(c.task == "confusion_matrix" for c in hung)
    after = [c for c in broken_report.checks if c.task in ("roc_auc", "median_rank")]
    assert after and all(c.passed for c in after)


def test_in_process_mode_grades_like_the_sandbox(cli_device):
    sandboxed = grade(ROOT / "solutions", ["metrics"], device=cli_device, seed=5, sandbox=True)
    in_process = grade(ROOT / "solutions", ["metrics"], device=cli_device, seed=5, sandbox=False)
    assert sandboxed.earned == sandboxed.possible == in_process.earned == in_process.possible
    assert [c.check for c in sandboxed.checks] == [c.check for c in in_process.checks]


def test_runs_without_seed_draw_different_seeds(tmp_path, cli_device, capsys, monkeypatch):
    """A constant default seed would let a submission learn the graded inputs from one run and replay them."""
    from autograder.cli import main

    monkeypatch.setenv("MMPREP_PROGRESS", str(tmp_path / "progress.sqlite"))  # not the user's progress record
    seeds = []
    for run in range(2):  # the command line's own path (argparse default, then grade()), one small task
        out = tmp_path / f"run{run}.json"
        code = main([str(ROOT / "solutions"), "--only", "metrics.mse", "--no-sandbox", "--device", cli_device,
                     "--quiet", "--json", str(out)])
        report = json.loads(out.read_text())
        assert code == 0 and report["earned"] == report["possible"] > 0, capsys.readouterr()
        seeds.append(report["seed"])
    assert seeds[0] != seeds[1], f"two runs without --seed both graded with seed {seeds[0]}"


def test_syntax_error_fails_each_check_with_one_line(tmp_path, cli_device):
    (tmp_path / "metrics.py").write_text("def accuracy(:\n")
    report = grade(tmp_path, ["metrics"], device=cli_device, seed=1, timeout=20)
    assert report.earned == 0 and report.checks
    assert all(c.feedback.startswith("could not import metrics.py: SyntaxError") for c in report.checks)


# ----------------------------------------------------------------------------- formats
def _solution_copy_as(tmp_path: Path, kind: str) -> Path:
    source = ROOT / "solutions" / "metrics.py"
    if kind == "py":
        target = tmp_path / "metrics.py"
        shutil.copy(source, target)
    elif kind == "zip":
        target = tmp_path / "alice.zip"
        with zipfile.ZipFile(target, "w") as zf:
            zf.write(source, "alice/exercises/metrics.py")
    else:
        target = tmp_path / "metrics.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# my metrics"),
                    nbformat.v4.new_code_cell("%matplotlib inline"),
                    nbformat.v4.new_code_cell(source.read_text())]
        nbformat.write(nb, target)
    return target


@pytest.mark.parametrize("kind", ["py", "zip", "ipynb"])
def test_submission_formats(tmp_path, kind, cli_device):
    report = grade(_solution_copy_as(tmp_path, kind), ["metrics"], device=cli_device, seed=2, sandbox=False)
    assert report.earned == report.possible > 0, [c.feedback for c in report.checks if not c.passed]


def test_zip_with_path_traversal_is_refused(tmp_path):
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../escaped.py", "x = 1")
    done = run_cli(str(bad), "--only", "metrics")
    assert done.returncode == 3 and "unsafe entry" in done.stderr
    assert not (tmp_path.parent.parent / "escaped.py").exists()


def test_json_junit_and_gradescope_outputs(tmp_path, cli_device):
    paths = {k: tmp_path / f"out.{k}" for k in ("json", "xml", "gs.json")}
    done = run_cli(str(_solution_copy_as(tmp_path, "py")), "--only", "metrics", "--seed", "3", "--no-sandbox",
                   "--device", cli_device, "--json", str(paths["json"]), "--junit", str(paths["xml"]),
                   "--gradescope", str(paths["gs.json"]))
    assert done.returncode == 0, done.stderr
    report = json.loads(paths["json"].read_text())
    assert report["seed"] == 3 and report["earned"] == report["possible"]
    suite = ET.parse(paths["xml"]).getroot()
    cases = suite.iter("testcase")
    props = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    assert props and all(p.get("topic") == "metrics" and p.get("task") for p in props)
    gs = json.loads(paths["gs.json"].read_text())
    assert gs["score"] == report["earned"]
    assert all({"name", "score", "max_score", "status", "output", "visibility"} <= set(t) for t in gs["tests"])


def test_task_feedback_collapses_not_implemented():
    class C:
        def __init__(self, passed, feedback):
            self.passed, self.feedback = passed, feedback
    assert task_feedback([C(False, NOT_IMPLEMENTED), C(False, NOT_IMPLEMENTED)]) == [NOT_IMPLEMENTED]
    assert task_feedback([C(True, ""), C(False, "a"), C(False, "a"), C(False, "b")]) == ["a", "b"]
