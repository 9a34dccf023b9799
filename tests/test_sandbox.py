"""The sandbox levels, their limits and the integrity report (the hostile battery is test_adversarial.py)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder import sandbox
from autograder.expect import Any, Float
from autograder.grading import IsolationUnavailable, grade
from autograder.integrity import Watcher, clean, scan_submission
from autograder.student import (
    SandboxedStudent,
    StudentCrashed,
    StudentError,
    StudentRaised,
    StudentTimeout,
)
from tests.conftest import ROOT, TEST_SEED, run_cli

pytestmark = pytest.mark.xdist_group("sandbox")  # one xdist worker: the module's workers share the CPU politely
STRONG = sandbox.detect().level == sandbox.STRONG
needs_strong = pytest.mark.skipif(not STRONG, reason="strong isolation needs root, Linux namespaces and `unshare`")

PROBE_SOURCE = '''
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np


def ok(x):
    return float(np.sum(x))


def hang():
    while True:
        pass


def exit_now(code):
    os._exit(code)


def flood():
    chunk = b"x" * 2**20
    written = 0
    for _ in range(256):
        try:
            written += os.write(1, chunk)
        except OSError:
            break
    return written


def daemon():
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            time.sleep(600)
        os._exit(0)
    os.wait()
    return int(os.read(read, 32))


def grab(megabytes):
    return len(bytearray(megabytes * 2**20))


def snoop(path):
    out = {"uid": os.getuid(), "pid": os.getpid(), "root": sorted(os.listdir("/")), "cwd": os.getcwd()}
    try:
        with open(path) as f:
            out["read"] = f.read(40)
    except OSError as exc:
        out["read"] = type(exc).__name__
    try:
        socket.create_connection(("10.255.255.1", 80), timeout=1)
        out["net"] = "connected"
    except OSError as exc:
        out["net"] = type(exc).__name__
    try:
        os.kill(1, signal.SIGKILL) if os.getpid() != 1 else None
    except OSError:
        pass
    return out
'''


@pytest.fixture(scope="module")
def probe_submission(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "probe.py").write_text(PROBE_SOURCE)
    return folder


def levels() -> list[str]:
    return [sandbox.PROCESS, sandbox.STRONG] if STRONG else [sandbox.PROCESS]


@pytest.fixture(params=levels())
def student(request, probe_submission):
    handle = SandboxedStudent(probe_submission, isolation=request.param, timeout=20, memory_mb=0)
    handle.begin_check(20)
    yield handle
    handle.close()


# ----------------------------------------------------------------------------- levels
def test_detect_names_a_level_and_why_not_stronger():
    found = sandbox.detect()
    assert found.level in (sandbox.STRONG, sandbox.PROCESS)
    if found.level != sandbox.STRONG:
        assert found.missing, "a weaker level must say what is missing"
    assert found.describe().startswith(found.level)


def test_strict_refuses_a_weaker_level_before_grading(monkeypatch):
    weak = sandbox.Capabilities(sandbox.PROCESS, False, ("not running as root",))
    monkeypatch.setattr(sandbox, "detect", lambda: weak)
    with pytest.raises(IsolationUnavailable, match="not running as root"):
        grade(ROOT / "solutions", ["metrics"], seed=TEST_SEED, strict=True)
    with pytest.raises(IsolationUnavailable):
        grade(ROOT / "solutions", ["metrics"], seed=TEST_SEED, isolation="strong")
    from autograder.cli import main

    assert main(["solutions", "--only", "metrics", "--strict"]) == 3


def test_strict_without_sandbox_exits_3():
    done = run_cli("solutions", "--only", "metrics", "--strict", "--no-sandbox", timeout=120)
    assert done.returncode == 3 and "strict" in done.stderr


def test_report_names_the_isolation_level(tmp_path):
    out = tmp_path / "r.json"
    from tests.test_adversarial import BATTERY, prepared

    done = run_cli(str(prepared(BATTERY / "21_detect_grader", tmp_path)), "--only", "metrics", "--seed", str(TEST_SEED),
                   "--isolation", "process", "--json", str(out), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["isolation"].startswith("process") and "Isolation: process" in done.stdout
    assert report["earned"] == 3 and report["integrity"] == []


# ----------------------------------------------------------------------------- per-check failures
def test_each_failure_costs_one_call_and_the_worker_comes_back(student):
    assert student.call("probe.ok", np.arange(4), returns=Float()) == 6.0
    student.begin_check(3)
    with pytest.raises(StudentTimeout, match="timed out"):
        student.call("probe.hang")
    student.begin_check(20)
    with pytest.raises(StudentCrashed, match="exited with status 7"):
        student.call("probe.exit_now", 7)
    assert student.call("probe.ok", np.ones(3), returns=Float()) == 3.0


def test_output_is_capped(student):
    written = student.call("probe.flood", returns=Any())
    assert written <= student.limits.output_mb * 2**20


def test_processes_left_behind_are_ended(student):
    pid = student.call("probe.daemon", returns=Any())
    assert any("process(es) running after the call" in f for f in student.integrity), student.integrity
    if student.level == sandbox.PROCESS:  # the same PID numbering as ours: check it is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_memory_limit(probe_submission):
    handle = SandboxedStudent(probe_submission, timeout=30, memory_mb=600)
    try:
        handle.begin_check(30)
        assert handle.call("probe.grab", 100) == 100 * 2**20
        with pytest.raises(StudentError) as info:
            handle.call("probe.grab", 2000)
        if handle.use_cgroups:
            assert "exceeded the memory limit of 600 MiB" in info.value.summary
        else:
            assert isinstance(info.value, StudentRaised) and info.value.type_name == "MemoryError"
        assert handle.call("probe.grab", 10) == 10 * 2**20
    finally:
        handle.close()


@needs_strong
def test_strong_level_hides_the_course_and_drops_privileges(probe_submission):
    handle = SandboxedStudent(probe_submission, isolation="strong", timeout=30)
    try:
        handle.begin_check(30)
        seen = handle.call("probe.snoop", str(ROOT / "solutions" / "metrics.py"), returns=Any())
    finally:
        handle.close()
    assert seen["uid"] == sandbox.SANDBOX_UID and seen["pid"] == 1
    assert seen["read"] == "FileNotFoundError", "solutions/ must not exist inside the sandbox"
    assert seen["net"] != "connected"
    assert seen["cwd"] == "/sandbox"
    assert any("solutions/metrics.py" in f for f in handle.integrity), handle.integrity


# ----------------------------------------------------------------------------- integrity
def test_scan_flags_tampered_clone_and_shadowing_files(tmp_path):
    clone = tmp_path / "clone"
    for rel in ("exercises/metrics.py", "autograder/checks/test_metrics.py", "autograder/checking.py"):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_bytes((ROOT / rel).read_bytes())
    (clone / "autograder/checking.py").write_text("def close(*a, **k):\n    pass\n")
    (clone / "conftest.py").write_text("")
    (clone / "exercises/numpy.py").write_text("")
    (clone / "exercises/zz.pth").write_text("import os\n")
    graded = tmp_path / "graded"
    graded.mkdir()
    (graded / "metrics.py").write_text("")
    (graded / "numpy.py").write_text("")
    findings = "\n".join(scan_submission(clone, graded, ROOT))
    assert "autograder/checking.py differs" in findings
    assert "test_metrics.py" not in findings, "an untouched course file is not a finding"
    assert "conftest.py can change" in findings and "zz.pth can change" in findings
    assert "numpy.py shadows the module 'numpy'" in findings


def test_watcher_reports_and_restores_patched_functions():
    watcher = Watcher(Path.cwd())
    watcher.snapshot()
    original = np.allclose
    try:
        np.allclose = lambda *a, **k: True
        watcher.compare()
    finally:
        patched_left = np.allclose is not original
        np.allclose = original
    assert not patched_left, "the watcher puts the original back"
    assert any("numpy.allclose was replaced" in f for f in watcher.drain())


def test_learner_text_is_made_printable():
    assert clean("a\udcffb\x1b[2J\nc") == "a?b?[2J c"
    assert clean(b"\xff\xfeok") == "\ufffd\ufffdok"
    assert len(clean("x" * 10_000)) == 500


def test_in_process_mode_restores_patches_too(tmp_path):
    (tmp_path / "metrics.py").write_text(textwrap.dedent("""
        import numpy as np
        np.isclose = lambda *a, **k: True

        def accuracy(y_true, y_pred):
            return 0.0
    """))
    original = np.isclose
    report = grade(tmp_path, ["metrics"], seed=TEST_SEED, sandbox=False)
    assert np.isclose is original
    assert any("numpy.isclose was replaced" in f for f in report.integrity), report.integrity
    assert report.isolation.startswith("none")
