"""The learner's loop: one task at a time (`--only TOPIC.TASK`, `check(...)`), the hint ladder, and progress."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from autograder import hints, progress
from autograder.grading import available_topics, parse_selection, tasks_of
from autograder.notebook import check, grade_topic, untouched
from tests.conftest import ROOT, TEST_SEED, run_cli

CORRECT_ACCURACY = "    a, b = _check_pair(y_true, y_pred)\n    return float(np.mean(a == b))\n"


# ----------------------------------------------------------------------------- one task at a time
def test_parse_selection_takes_topics_and_tasks():
    assert parse_selection("metrics,fusion.TensorFusion") == (["metrics", "fusion"], {"fusion": {"TensorFusion"}})
    assert parse_selection("fusion.TensorFusion,fusion") == (["fusion"], {})  # the whole topic wins
    with pytest.raises(ValueError, match="fusion has no task 'Tensor'.*TensorFusion"):
        parse_selection("fusion.Tensor")
    with pytest.raises(ValueError, match="unknown topic 'fusio'"):
        parse_selection("fusio.TensorFusion")


def test_only_one_task_grades_just_that_task(tmp_path):
    done = run_cli(str(ROOT / "solutions"), "--only", "metrics.roc_auc,fusion.TensorFusion", "--seed", str(TEST_SEED),
                   "--json", str(tmp_path / "r.json"), "--no-progress")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert {t: list(v) for t, v in report["topics"].items()} == {"metrics": ["roc_auc"], "fusion": ["TensorFusion"]}
    assert report["earned"] == report["possible"] > 0
    bad = run_cli("--only", "metrics.rocauc")
    assert bad.returncode == 3 and "metrics has no task 'rocauc'" in bad.stderr


# ----------------------------------------------------------------------------- the hint ladder
SOURCE = '''
def gate(x):
    """Doc."""
    ### BEGIN SOLUTION
    ### HINT 1
    # Concept: the gate sees both inputs.
    # Pitfall: a swapped gate.
    ### HINT 2
    # Steps with shapes.
    ### HINT 3
    # g = sigmoid(W [a; b])
    ### END HINTS
    return x
    ### END SOLUTION


class Block:
    def __init__(self):
        ### BEGIN SOLUTION
        ### HINT 1
        # init part
        ### END HINTS
        self.w = 1
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        ### HINT 1
        # forward part
        ### END HINTS
        return x
        ### END SOLUTION
'''


def test_parse_hints_hand_worked():
    parsed = hints.parse_hints(SOURCE)
    assert parsed["gate"] == {1: "Concept: the gate sees both inputs.\nPitfall: a swapped gate.",
                              2: "Steps with shapes.", 3: "g = sigmoid(W [a; b])"}
    assert parsed["Block"] == {1: "init part\nforward part"}
    with pytest.raises(hints.HintError, match="comment lines"):
        hints.parse_hints(SOURCE.replace("    # Steps with shapes.", "    steps = 1"))


def test_strip_hints_keeps_the_code_and_drops_only_hint_comments():
    stripped = hints.strip_hints(SOURCE)
    assert "HINT" not in stripped and "Pitfall" not in stripped and "sigmoid" not in stripped
    assert stripped.count("### BEGIN SOLUTION") == 3 and "return x" in stripped and "self.w = 1" in stripped
    assert hints.parse_hints(stripped) == {}


def test_hints_are_stripped_from_the_stubs():
    from autograder.stubgen import make_stub

    stub = make_stub(SOURCE, "demo")
    assert "HINT" not in stub and "Pitfall" not in stub and "NotImplementedError" in stub


@pytest.mark.parametrize("topic", available_topics())
def test_every_task_has_three_hint_levels(topic):
    ladder = hints.hints_for(topic)
    missing = {t: sorted(set(range(1, 4)) - set(ladder.get(t, {}))) for t in tasks_of(topic)}
    missing = {t: levels for t, levels in missing.items() if levels}
    assert not missing, f"{topic}: tasks without hint levels: {missing}"


def test_hint_levels_open_only_after_a_failed_attempt(tmp_path, monkeypatch):
    monkeypatch.setattr(hints, "hints_for", lambda topic: {"accuracy": {1: "one", 2: "two", 3: "three"}})
    store = progress.Progress(tmp_path / "p.sqlite")
    assert "one" in hints.show("metrics.accuracy", progress=store)
    with pytest.raises(hints.HintError, match="opens after a graded attempt fails"):
        hints.show("metrics.accuracy", 2, progress=store)
    text = hints.show("metrics.accuracy", progress=store)  # still level 1: no attempt yet
    assert "two" not in text
    store._write([_attempt("accuracy", 2, 2)])  # a passing attempt does not open the next level
    assert store.hint_levels_open("metrics", "accuracy") == 1
    store._write([_attempt("accuracy", 0, 2)])
    assert store.hint_levels_open("metrics", "accuracy") == 2
    assert "two" in hints.show("metrics.accuracy", progress=store)
    assert store.hint_levels_open("metrics", "accuracy") == 2  # level 3 waits for a failure after hint 2
    assert "three" in hints.show("metrics.accuracy", 3, force=True, progress=store)


def _attempt(task, earned, possible, topic="metrics"):
    return {"kind": "attempt", "topic": topic, "task": task, "earned": earned, "possible": possible,
            "seconds": 0.1, "at": progress.now()}


# ----------------------------------------------------------------------------- progress
def test_progress_path_is_never_a_folder_or_inside_the_checkout(tmp_path):
    with pytest.raises(progress.ProgressError, match="is a folder"):
        progress.resolve_path(tmp_path)
    with pytest.raises(progress.ProgressError, match="inside the course checkout"):
        progress.resolve_path(ROOT / "progress.sqlite")


def test_scripted_learner_session_is_recorded_exactly(tmp_path, cli_device):
    work = tmp_path / "work"
    shutil.copytree(ROOT / "exercises", work)
    store = tmp_path / "progress.sqlite"
    args = ("--only", "metrics.accuracy", "--seed", str(TEST_SEED), "--device", cli_device, "--progress", str(store))
    assert run_cli(str(work), *args).returncode == 0  # untouched: 0 points
    assert run_cli("hint", "metrics.accuracy", "--progress", str(store)).returncode in (0, 2)
    source = (work / "metrics.py").read_text()
    stub_line = next(line for line in source.splitlines() if "task accuracy" in line)
    (work / "metrics.py").write_text(source.replace(stub_line + "\n", CORRECT_ACCURACY))
    assert run_cli(str(work), *args).returncode == 0  # now correct
    done = run_cli("progress", "--progress", str(store), "--only", "metrics", "--json")
    rows = {r["task"]: r for r in json.loads(done.stdout)}
    acc = rows["accuracy"]
    assert (acc["attempts"], acc["best"], acc["possible"], acc["last"], acc["status"]) == (2, 2.0, 2.0, 2.0, "done")
    assert rows["roc_auc"]["status"] == "not started" and rows["roc_auc"]["attempts"] == 0
    table = run_cli("progress", "--progress", str(store), "--only", "metrics").stdout
    assert "1/13 tasks done" in table and "next: implement metrics.confusion_matrix" in table


def test_corrupt_progress_file_loses_nothing_and_never_stops_grading(tmp_path):
    store = tmp_path / "progress.sqlite"
    store.write_bytes(b"this is not a database" * 100)
    before = store.read_bytes()
    warnings = []
    p = progress.Progress(store, warn=warnings.append)
    p._write([_attempt("accuracy", 1, 2)])
    assert store.read_bytes() == before, "a corrupt file is never overwritten, moved or renamed"
    assert warnings and p.journal.exists()
    assert p.tasks({"metrics": ["accuracy"]})[0].attempts == 1, "the journal is read while the file is bad"
    store.unlink()  # the learner removes the bad file: the next write merges the journal
    p._write([_attempt("accuracy", 2, 2)])
    assert not p.journal.exists()
    row = p.tasks({"metrics": ["accuracy"]})[0]
    assert (row.attempts, row.best) == (2, 2.0)


def test_locked_progress_file_keeps_the_results(tmp_path, monkeypatch):
    monkeypatch.setattr(progress, "LOCK_WAIT_S", 0.2)
    store = tmp_path / "progress.sqlite"
    p = progress.Progress(store, warn=lambda _: None)
    p._write([_attempt("accuracy", 0, 2)])
    holder = sqlite3.connect(store)
    holder.execute("BEGIN EXCLUSIVE")
    p._write([_attempt("accuracy", 2, 2)])
    assert p.journal.exists()
    holder.rollback()
    holder.close()
    p._write([_attempt("mae", 1, 1)])
    rows = {r.task: r for r in p.tasks({"metrics": ["accuracy", "mae"]})}
    assert (rows["accuracy"].attempts, rows["accuracy"].best, rows["mae"].attempts) == (2, 2.0, 1)
    assert not p.journal.exists()


# ----------------------------------------------------------------------------- check() in a notebook
def test_check_answers_at_once_for_an_untouched_task(capsys):
    assert untouched(ROOT / "exercises", "fusion", "GatedFusion")
    assert check("fusion.GatedFusion") is None
    assert "fusion.GatedFusion: not implemented yet" in capsys.readouterr().out


def test_grade_topic_answers_at_once_while_every_task_is_the_stub(tmp_path, capsys):
    assert grade_topic("fusion") is None
    out = capsys.readouterr().out
    assert "fusion: not implemented yet" in out and "check('fusion.ConcatFusion')" in out, out
    work = tmp_path / "work"  # one task written: the topic is graded, the stubs score 0
    work.mkdir()
    stub = (ROOT / "exercises" / "metrics.py").read_text()
    start = stub.index("def mae(")
    end = stub.index("\ndef ", start + 1)
    (work / "metrics.py").write_text(stub[:start] + "def mae(y_true, y_pred):\n    return 0.0\n\n" + stub[end:])
    assert not untouched(work, "metrics", "mae") and untouched(work, "metrics", "mse")
    report = grade_topic("metrics", work, seed=TEST_SEED, device="cpu")
    assert report is not None and {c.task for c in report.checks} == set(tasks_of("metrics")) and report.earned == 0
    assert "Isolation:" in capsys.readouterr().out


def test_check_grades_one_task_in_the_sandbox(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "solutions" / "metrics.py", work / "metrics.py")
    assert not untouched(work, "metrics", "mae")
    report = check("metrics.mae", work, seed=TEST_SEED)
    out = capsys.readouterr().out
    assert [c.task for c in report.checks] == ["mae"] and report.earned == report.possible
    assert "mae" in out and "Isolation:" in out
