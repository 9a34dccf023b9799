"""The sandbox levels, their limits and the integrity report (the hostile battery is test_adversarial.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from autograder import landlock, sandbox
from autograder.expect import Any, Float
from autograder.grading import IsolationUnavailable, grade
from autograder.integrity import Watcher, clean, scan_submission
from autograder.student import (
    InProcessStudent,
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
LANDLOCK = landlock.abi_version()
needs_landlock = pytest.mark.skipif(LANDLOCK < 1, reason="the kernel has no Landlock (Linux 5.13+)")
ROOT_USER = os.geteuid() == 0

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


def square(x):
    return x * x


def pool_sum(n):
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        return int(sum(pool.map(square, range(n))))


def loader_sum(n):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(torch.arange(n, dtype=torch.float32))
    return float(sum(batch[0].sum() for batch in DataLoader(data, batch_size=4, num_workers=2)))


def tf32_seen():
    import torch

    seen = [torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32]
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    return seen


def grab(megabytes):
    return len(bytearray(megabytes * 2**20))


def snoop(path):
    out = {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd()}
    try:
        out["root"] = sorted(os.listdir("/"))
    except OSError as exc:
        out["root"] = type(exc).__name__
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
    try:  # strong: PID 1 is the worker itself; process: our parent is the grader (probe with signal 0)
        if os.getpid() != 1:
            os.kill(os.getppid(), 0)
        out["signal"] = "delivered" if os.getpid() != 1 else "no parent in the sandbox"
    except OSError as exc:
        out["signal"] = type(exc).__name__
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
    weak = sandbox.Capabilities(sandbox.PROCESS, "", ("not running as root",))
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


def test_report_names_the_isolation_level(tmp_path, cli_device):
    out = tmp_path / "r.json"
    from tests.test_adversarial import BATTERY, prepared

    done = run_cli(str(prepared(BATTERY / "21_detect_grader", tmp_path)), "--only", "metrics", "--seed", str(TEST_SEED),
                   "--device", cli_device, "--isolation", "process", "--json", str(out), timeout=300)
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


def test_honest_multiprocessing_works_at_every_level(student):
    """A pool, or a DataLoader with workers, needs shared memory (/dev/shm): the fence must not break it."""
    assert student.call("probe.pool_sum", 10, returns=Any()) == 285
    assert student.call("probe.loader_sum", 10, returns=Any()) == 45.0


def test_tf32_is_off_before_every_call_whatever_the_learner_set(student, probe_submission):
    """The checks compare float32 work with float64 references: TF32 matmuls (CUDA, Ampere+) would cost 3 digits."""
    student.call("probe.tf32_seen", returns=Any())  # imports torch and turns TF32 on
    assert student.call("probe.tf32_seen", returns=Any()) == [False, False]
    in_process = InProcessStudent(probe_submission, timeout=60)
    try:
        in_process.begin_check(60)
        in_process.call("probe.tf32_seen", returns=Any())
        assert in_process.call("probe.tf32_seen", returns=Any()) == [False, False]
    finally:
        in_process.close()


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


def snooped(probe_submission: Path, isolation: str) -> tuple[SandboxedStudent, dict]:
    """What probe.snoop sees of solutions/, the network and the grader at `isolation` (the handle, closed, keeps
    its isolation line and integrity findings); honest code must still run there."""
    handle = SandboxedStudent(probe_submission, isolation=isolation, timeout=30)
    try:
        handle.begin_check(30)
        seen = handle.call("probe.snoop", str(ROOT / "solutions" / "metrics.py"), returns=Any())
        assert handle.call("probe.ok", np.ones(4)) == 4.0, f"honest code must still run at the {isolation} level"
    finally:
        handle.close()
    return handle, seen


@needs_strong
def test_strong_level_hides_the_course_and_drops_privileges(probe_submission):
    handle, seen = snooped(probe_submission, "strong")
    assert seen["uid"] == sandbox.SANDBOX_UID and seen["pid"] == 1
    assert seen["read"] == "FileNotFoundError", "solutions/ must not exist inside the sandbox"
    assert seen["net"] != "connected"
    assert seen["cwd"] == "/sandbox"
    assert any("solutions/metrics.py" in f for f in handle.integrity), handle.integrity


# ----------------------------------------------------------------------------- the process level's fence
FENCE_SCRIPT = """
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
from autograder import landlock
inside, outside = sys.argv[2], sys.argv[3]
landlock.restrict_self(read=[sys.prefix, sys.base_prefix, "/usr", "/lib", "/lib64", "/etc", inside], write=[sys.argv[4]])
seen = {}
for name, action in [("read inside", lambda: open(os.path.join(inside, "note.txt")).read()),
                     ("write inside read-only", lambda: open(os.path.join(inside, "new.txt"), "w")),
                     ("write in writable", lambda: open(os.path.join(sys.argv[4], "out.txt"), "w").write("x")),
                     ("read outside", lambda: open(outside).read()),
                     ("list /", lambda: os.listdir("/")),
                     ("tcp connect", lambda: socket.create_connection(("127.0.0.1", 9), timeout=2)),
                     ("signal parent", lambda: os.kill(os.getppid(), 0))]:
    try:
        action()
        seen[name] = "allowed"
    except OSError as exc:
        seen[name] = type(exc).__name__
print(json.dumps(seen))
"""


@needs_landlock
def test_landlock_fence_allows_only_what_it_names(tmp_path):
    inside, writable = tmp_path / "inside", tmp_path / "writable"
    inside.mkdir()
    writable.mkdir()
    (inside / "note.txt").write_text("hello")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    done = subprocess.run([sys.executable, "-c", FENCE_SCRIPT, str(ROOT), str(inside), str(outside), str(writable)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["read inside"] == "allowed" and seen["write in writable"] == "allowed", seen
    assert seen["write inside read-only"] == "PermissionError", seen
    assert seen["read outside"] == "PermissionError" and seen["list /"] == "PermissionError", seen
    if LANDLOCK >= 4:  # unfenced, port 9 on localhost answers ConnectionRefusedError
        assert seen["tcp connect"] == "PermissionError", seen
    if LANDLOCK >= 6:
        assert seen["signal parent"] == "PermissionError", seen
    assert (writable / "out.txt").read_text() == "x"


def test_isolation_statement_names_the_fence_and_the_uid():
    line = sandbox.describe(sandbox.PROCESS, "v2", 6, "uid 65534")
    assert "Landlock ABI 6: files, TCP, signals fenced" in line and "uid 65534" in line and "cgroup v2" in line
    assert "no file-system isolation" in sandbox.describe(sandbox.PROCESS, "", 0)


@needs_landlock
def test_process_level_fences_the_worker_and_drops_root(probe_submission):
    handle, seen = snooped(probe_submission, "process")
    assert "Landlock" in handle.isolation
    if ROOT_USER:
        assert seen["uid"] == sandbox.SANDBOX_UID, f"started as root, the worker must run as nobody: {seen}"
        assert f"uid {sandbox.SANDBOX_UID}" in handle.isolation
    else:
        assert seen["uid"] == os.getuid()
    assert seen["read"] == "PermissionError", f"solutions/ must be fenced off: {seen}"
    assert seen["root"] == "PermissionError", seen
    if LANDLOCK >= 4:
        assert seen["net"] == "PermissionError", seen
    if LANDLOCK >= 6:
        assert seen["signal"] == "PermissionError", f"the worker must not reach the grader with signals: {seen}"
    assert any("solutions/metrics.py" in f for f in handle.integrity), handle.integrity


@needs_landlock
def test_a_fence_the_kernel_refused_is_not_claimed(probe_submission, monkeypatch):
    handle = SandboxedStudent(probe_submission, isolation="process", timeout=30)
    try:
        assert "Landlock" in handle.isolation
        refused = {"integrity": [f"{landlock.FENCE_FAILED} (Operation not permitted); files were not fenced"]}
        monkeypatch.setattr(handle, "_guarded", lambda *args, **kwargs: (refused, []))
        handle._load("probe")
    finally:
        handle.close()
    assert "fenced" not in handle.isolation and "no file-system isolation" in handle.isolation, handle.isolation
    assert any(f.startswith(landlock.FENCE_FAILED) for f in handle.integrity)


def test_others_can_read_follows_every_folder_on_the_way(tmp_path):
    shut, open_ = tmp_path / "shut", tmp_path / "open"
    for folder in (shut, open_):
        folder.mkdir()
        (folder / "lib.py").write_text("x = 1")
        (folder / "lib.py").chmod(0o644)
    shut.chmod(0o700)
    open_.chmod(0o755)
    tmp_path.chmod(0o755)
    assert not sandbox.others_can_read(shut / "lib.py"), "a 0700 folder on the way hides the file"
    assert sandbox.others_can_read(open_ / "lib.py") == all(
        os.stat(p).st_mode & 0o001 for p in (open_ / "lib.py").parents)
    (open_ / "lib.py").chmod(0o600)
    assert not sandbox.others_can_read(open_ / "lib.py")


def test_a_view_is_trusted_only_when_ours_and_closed(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    assert sandbox._trusted_view(str(mine))
    mine.chmod(0o777)
    assert not sandbox._trusted_view(str(mine)), "a folder others can write could hold a planted numpy"
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert not sandbox._trusted_view(str(link))
    if ROOT_USER:
        planted = tmp_path / "planted"
        planted.mkdir(mode=0o755)
        os.chown(planted, sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)
        assert not sandbox._trusted_view(str(planted)), "a folder another user made must not be used"


def test_a_view_missing_or_replacing_a_key_file_is_not_intact(tmp_path):
    root, view = tmp_path / "python", tmp_path / "view"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "os.py").write_text("# the standard library")
    shutil.copytree(root, view, copy_function=os.link)
    witnesses = [str(root / "lib" / "os.py"), "/elsewhere/not/under/root.py"]
    assert sandbox._view_intact(str(root), str(view), witnesses)
    (view / "lib" / "os.py").unlink()
    assert not sandbox._view_intact(str(root), str(view), witnesses), "a temp cleaner took a file"
    shutil.copy(root / "lib" / "os.py", view / "lib" / "os.py")
    assert not sandbox._view_intact(str(root), str(view), witnesses), "a copy is not the installation's own file"


def test_hardlink_view_is_reused_then_replaced_when_the_installation_changes(tmp_path, monkeypatch):
    root = tmp_path / "python"
    (root / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "lib" / "python3.11" / "os.py").write_text("# the standard library")
    try:
        first = sandbox._hardlink_view(str(root))
    except OSError as exc:  # the temporary folder lies on another file system than tmp_path
        pytest.skip(str(exc))
    try:
        assert os.stat(Path(first) / "lib/python3.11/os.py").st_ino == os.stat(root / "lib/python3.11/os.py").st_ino
        assert sandbox._trusted_view(first) and sandbox._hardlink_view(str(root)) == first, "built once, reused"
        (root / "lib" / "python3.11" / "site-packages" / "new_package.py").write_text("")  # pip install
        second = sandbox._hardlink_view(str(root))
        assert second != first and (Path(second) / "lib/python3.11/site-packages/new_package.py").exists()
        assert Path(first).exists(), "an earlier view stays a day for graders still running from it"
        monkeypatch.setattr(sandbox, "STALE_VIEW_SECONDS", -1)
        (root / "bin" / "python3.11").write_text("")
        third = sandbox._hardlink_view(str(root))
        assert not Path(first).exists() and not Path(second).exists() and Path(third).exists()
    finally:
        for view in Path(tempfile.gettempdir()).glob(Path(first).name.rsplit("-", 1)[0] + "-*"):
            shutil.rmtree(view, ignore_errors=True)


def venv_over_this_python(folder: Path) -> Path:
    """A virtual environment using this Python's packages (--system-site-packages); its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(folder)],
                   check=True, capture_output=True, timeout=300)
    return folder / "bin" / "python"


def unprivileged_python_of(python: Path) -> sandbox.Interpreter:
    """`sandbox.unprivileged_python()` as another interpreter (a venv) works it out."""
    script = ("import dataclasses, json; from autograder import sandbox; "
              "print(json.dumps(dataclasses.asdict(sandbox.unprivileged_python())))")
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    fields = json.loads(done.stdout.strip().splitlines()[-1])
    return sandbox.Interpreter(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


@pytest.mark.skipif(not ROOT_USER, reason="dropping to nobody needs root")
@pytest.mark.parametrize("shape", ["this python", "venv over it"])
def test_nobody_can_start_the_workers_python(shape, tmp_path):
    venv = tmp_path / "venv"
    readable = all(sandbox.others_can_read(p) for p in [*sandbox._python_paths(), *sandbox._view_witnesses()])
    if shape == "venv over it" and sandbox.others_can_read(sys.base_prefix):
        pytest.skip("this Python is readable by others: a venv over it needs no view of it")
    try:
        if shape == "this python":  # a plain installation others cannot read: one view; a venv: one per root
            python = sandbox.unprivileged_python()
            expected_views = 0 if readable else len(sandbox._installation_roots())
        else:  # a venv over a base others cannot read (pyenv under /root): a view of each
            python, expected_views = unprivileged_python_of(venv_over_this_python(venv)), 2
        assert isinstance(python.views, tuple) and len(python.views) == expected_views, python.views
        for view in python.views:
            assert os.path.isdir(view) and not os.stat(view).st_mode & 0o022 and os.stat(view).st_uid == 0, view
        assert python.read == python.views or not python.views, "the fence reads what the worker runs from"
        env = {"PATH": "/usr/bin:/bin"}
        if python.library_path:
            env["LD_LIBRARY_PATH"] = python.library_path
        boot = (f"import sys; sys.path[:0] = {list(python.paths)!r}; import numpy, os; "
                "print(os.getuid(), numpy.ones(3).sum())")
        done = subprocess.run([python.executable, "-I", "-S", "-c", boot], user=sandbox.SANDBOX_UID,
                              group=sandbox.SANDBOX_GID, extra_groups=[], env=env, capture_output=True, text=True,
                              timeout=120, cwd="/")
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.split() == [str(sandbox.SANDBOX_UID), "3.0"]
    finally:
        if shape == "venv over it":  # the venv's own view; the base's is this Python's, shared
            family = "autograder-python-" + hashlib.sha256(os.path.realpath(venv).encode()).hexdigest()[:10]
            for view in Path(tempfile.gettempdir()).glob(family + "-*"):
                shutil.rmtree(view, ignore_errors=True)


@pytest.mark.skipif(not (ROOT_USER and LANDLOCK >= 1 and sandbox.others_can_read(ROOT / "solutions" / "metrics.py")),
                    reason="needs root (to act as an ordinary user), Landlock and a checkout others can read")
def test_an_ordinary_user_grading_on_a_laptop_gets_the_fence(probe_submission):
    """Run the grader itself as uid 65534: the checkout is readable to it, yet not to its worker."""
    python = sandbox.unprivileged_python()
    work = Path(tempfile.mkdtemp(prefix="autograder-as-user-"))  # pytest's own tmp is root's, 0700
    (work / "probe").mkdir()
    (work / "probe" / "probe.py").write_text((probe_submission / "probe.py").read_text())
    sandbox.give_to(work, sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)
    script = textwrap.dedent(f"""
        import json, sys
        sys.path[:0] = [{str(ROOT)!r}, *{list(python.paths)!r}]
        from pathlib import Path
        from autograder.expect import Any
        from autograder.student import SandboxedStudent
        target = {str(ROOT / "solutions" / "metrics.py")!r}
        handle = SandboxedStudent(Path({str(work / "probe")!r}), isolation="process", timeout=60)
        handle.begin_check(60)
        seen = handle.call("probe.snoop", target, returns=Any())
        handle.close()
        print(json.dumps({{"grader_reads": len(open(target).read()) > 0, "worker": seen, "isolation": handle.isolation}}))
    """)
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(work), "HOME": str(work)}
    if python.library_path:
        env["LD_LIBRARY_PATH"] = python.library_path
    try:
        done = subprocess.run([python.executable, "-I", "-S", "-c", script], user=sandbox.SANDBOX_UID,
                              group=sandbox.SANDBOX_GID, extra_groups=[], env=env, capture_output=True, text=True,
                              timeout=300, cwd=str(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["grader_reads"], "the ordinary user can read the checkout"
    assert result["worker"]["uid"] == sandbox.SANDBOX_UID and "uid" not in result["isolation"].split("fenced")[1]
    assert result["worker"]["read"] == "PermissionError", f"its worker must not: {result}"


# ----------------------------------------------------------------------------- cgroup v2
@pytest.fixture
def fake_cgroup2(tmp_path, monkeypatch) -> Path:
    """A unified hierarchy as the kernel lays it out, with the grader in /grading."""
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    own = tmp_path / "grading"
    own.mkdir()
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    (own / "cgroup.procs").write_text(f"{os.getpid()}\n")
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(sandbox, "_cgroup_lines", lambda: [("", "/grading")])
    return own


def test_cgroup_v2_worker_group_gets_caps_beside_the_grader(fake_cgroup2):
    assert sandbox._cgroups_writable() == "v2"
    group = sandbox.WorkerCgroup.make("autograder-1-w-0", sandbox.Limits(memory_mb=600, pids=64), "v2")
    worker = fake_cgroup2 / "autograder-1-w-0"
    assert group.dirs == {"unified": worker}
    assert (worker / "memory.max").read_text() == str(600 * 2**20)
    assert (worker / "memory.swap.max").read_text() == "0"
    assert (worker / "pids.max").read_text() == "64"
    leaf = fake_cgroup2 / f"autograder-{os.getpid()}-grader"
    assert (leaf / "cgroup.procs").read_text() == str(os.getpid()), "the grader moves out of the group it delegates"
    assert (fake_cgroup2 / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert f"'{worker / 'cgroup.procs'}'" in group.join_command()[2]
    assert not group.out_of_memory() and not group.hit_process_cap()
    (worker / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    (worker / "pids.events").write_text("max 3\n")
    assert group.out_of_memory() and group.hit_process_cap()
    group.remove(wait=0.1)
    assert (worker / "cgroup.kill").read_text() == "1", "v2 ends the whole group with one write"


def test_cgroup_v2_without_memory_and_pids_falls_back_to_rlimits(fake_cgroup2):
    (fake_cgroup2 / "cgroup.controllers").write_text("cpu io\n")
    assert sandbox._cgroups_writable() == ""


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
