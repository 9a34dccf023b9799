"""The `student` handle: the only way a check reaches a submission.

Both modes return plain data only (None, bool, int, float, str, list, tuple, dict, NumPy arrays of
plain dtypes), after the value has crossed `autograder.wire` and passed its `expect` spec:

* `InProcessStudent` imports the submission into the grading process (fast; use pdb).
* `SandboxedStudent` runs it in a worker process, with a per-check deadline: a hang or a crash
  fails only the current check, and the next call starts a fresh worker.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import expect, landlock, sandbox, wire
from autograder.integrity import MAX_FINDINGS, Watcher, clean
from autograder.worker import Runner, worker_threads

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# what the worker may import besides the submission and installed libraries
TRUSTED_RUNTIME = ("autograder/__init__.py", "autograder/wire.py", "autograder/worker.py", "autograder/integrity.py",
                   "autograder/landlock.py", "autograder/sandbox.py", "autograder/probes", "mmprep")


class StudentError(Exception):
    """Something the learner's code did that fails the current check; `summary` is one line."""

    def __init__(self, summary: str):
        super().__init__(summary)
        self.summary = summary


class NotImplementedYet(StudentError):
    pass


class StudentRaised(StudentError):
    """The learner's code raised; `bases` lists the built-in exception classes it derives from."""

    def __init__(self, target: str, error: dict):
        bases = error.get("bases", [])
        self.type_name = clean(error.get("type", "Exception"), 100)
        self.bases = [str(b) for b in bases if type(b) is str] if type(bases) is list else []
        self.message = clean(error.get("message", ""), 500)
        self.where = clean(error.get("where", ""), 200)
        where = f" ({self.where})" if self.where else ""
        first_line = self.message.strip().splitlines()[0] if self.message.strip() else ""
        super().__init__(f"{target} raised {self.type_name}: {first_line}{where}".rstrip(": "))

    def is_a(self, name: str) -> bool:
        return name in self.bases


class StudentImportFailed(StudentError):
    pass


class StudentTimeout(StudentError):
    pass


class StudentCrashed(StudentError):
    pass


def _error_from_reply(target: str, error: dict) -> StudentError:
    kind = error.get("kind")
    if kind == "not_implemented":
        return NotImplementedYet(f"{target}: not implemented yet")
    if kind == "import":
        return StudentImportFailed(clean(error.get("message", "could not import the submission")))
    if kind == "missing":
        return StudentError(clean(error.get("message")))
    if kind == "protocol":
        return StudentCrashed(f"{target}: the worker sent an invalid reply ({clean(error.get('message'), 200)})")
    return StudentRaised(target, error)


class _StudentBase:
    """Request building, reply checking and seeding shared by both modes."""

    isolation = "none"

    def __init__(self, submission: Path, device: str = "cpu", seed: int = 0, timeout: float = 60.0):
        self.submission = Path(submission).resolve()
        self.device = device
        self.seed = seed
        self.default_timeout = timeout
        self.deadline: float | None = None
        self._ids = itertools.count(1)
        self.integrity: list[str] = []  # findings for the instructor, gathered from the worker's replies

    def note(self, finding: str) -> None:
        finding = clean(finding, 300)
        if finding not in self.integrity and len(self.integrity) < MAX_FINDINGS:
            self.integrity.append(finding)

    def begin_check(self, timeout: float | None = None) -> None:
        self.deadline = time.monotonic() + (timeout or self.default_timeout)

    def call(self, target: str, *args, returns: expect.Spec | None = None, seed: int | None = None, **kwargs):
        """Call `topic.function(*args, **kwargs)` in the submission; return its checked value."""
        return self._request("call", target, args, kwargs, returns, seed)

    def probe(self, name: str, *args, returns: expect.Spec | None = None, seed: int | None = None, **kwargs):
        """Run the trusted probe `autograder.probes.<topic>.<fn>` next to the submission."""
        return self._request("probe", name, args, kwargs, returns, seed)

    def _request(self, op, target, args, kwargs, returns, seed):
        header, buffers = wire.message(
            {"op": op, "target": target, "id": next(self._ids), "seed": self.seed if seed is None else int(seed)},
            {"args": list(args), "kwargs": dict(kwargs)},
            with_value=True,
        )
        reply, reply_buffers = self._exchange(target, header, buffers)
        while type(reply.get("id")) is int and reply["id"] < header["id"]:
            # a stale reply (the learner's code forged one earlier, or a child of the worker answered
            # too): the worker's own answer to this request is still to come
            self.note(f"protocol: an extra reply reached the grader before {target} (forged reply pipe?)")
            reply, reply_buffers = self._receive_again(target)
        findings = reply.get("integrity")
        if type(findings) is list:
            for finding in findings[:MAX_FINDINGS]:
                if type(finding) is str:
                    self.note(finding)
        if reply.get("id") != header["id"]:
            raise StudentCrashed(f"{target}: the worker answered another request")
        if not reply.get("ok"):
            error = reply.get("error")
            raise _error_from_reply(target, error if isinstance(error, dict) else {})
        try:
            value = wire.decode(reply.get("value"), reply_buffers)
        except wire.WireError as exc:
            raise StudentCrashed(f"{target}: the worker sent an invalid value ({exc})") from None
        return (returns or expect.Any()).check(value, target.split(".", 1)[-1])

    def _exchange(self, target, header, buffers):
        raise NotImplementedError

    def _receive_again(self, target):
        raise StudentCrashed(f"{target}: the worker answered another request")

    def close(self) -> None:
        pass


class InProcessStudent(_StudentBase):
    """Imports the submission into this process: for debugging, not for untrusted code."""

    isolation = sandbox.describe(sandbox.NONE)
    _packages = itertools.count()

    def __init__(self, submission: Path, device: str = "cpu", seed: int = 0, timeout: float = 60.0):
        super().__init__(submission, device, seed, timeout)
        # no audit hook here (it could never be removed from the grader); patched functions are still found and restored
        self.runner = Runner(self.submission, package=f"_submission_{next(self._packages)}", device=device,
                             watcher=Watcher(self.submission))

    def _exchange(self, target, header, buffers):
        # The same encode/decode path as the sandbox, so a check sees identical plain data.
        request_header, request_buffers = wire.unpack(wire.pack(header, buffers))
        reply, reply_buffers = self.runner.handle(request_header, request_buffers)
        return wire.unpack(wire.pack(reply, reply_buffers))


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _tasks_of_this_user() -> int:
    """Threads running under our real uid: RLIMIT_NPROC counts every thread of the user, not just ours."""
    total, uid = 0, os.getuid()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
            total += int(status.split("Threads:", 1)[1].split()[0])
        except (OSError, IndexError, ValueError):
            total += 1
    return total


class SandboxedStudent(_StudentBase):
    """Runs the submission in a worker process that is killed and restarted on a hang or crash.

    `isolation` is "auto" (the strongest level this machine offers), "strong" or "process";
    see `autograder.sandbox`. `strict=True` refuses to run below the strong level.
    """

    def __init__(
        self,
        submission: Path,
        device: str = "cpu",
        seed: int = 0,
        timeout: float = 60.0,
        memory_mb: int = 0,
        output_mb: int = 16,
        isolation: str = "auto",
        strict: bool = False,
        max_processes: int = 256,
        import_timeout: float = 120.0,
    ):
        super().__init__(submission, device, seed, timeout)
        # Starting a worker and importing a topic (torch alone takes seconds on a busy machine) has its
        # own time limit, so a check's limit measures the learner's function, not the import.
        self.import_timeout = max(import_timeout, timeout)
        self.loaded: set[str] = set()
        self.import_failed: dict[str, str] = {}
        self.capabilities = sandbox.choose(isolation, strict)
        self.level = self.capabilities.level
        use_cgroups = self.capabilities.cgroups  # "v1", "v2" or "": detected only for root, at either level
        if use_cgroups and not memory_mb:
            memory_mb = 4096  # a classroom default: one submission cannot take the grading machine down
        self.limits = sandbox.Limits(memory_mb=memory_mb, pids=max_processes, output_mb=output_mb)
        self.use_cgroups = use_cgroups
        # process level started as root: the worker drops to nobody, running a Python nobody can read
        self.interpreter: sandbox.Interpreter | None = None
        self._runs_as = ""
        self._fenced = bool(self.capabilities.landlock)
        if self.level == sandbox.PROCESS and os.geteuid() == 0:
            try:
                self.interpreter = sandbox.unprivileged_python()
                self._runs_as = f"uid {sandbox.SANDBOX_UID}" + (" (Python from a hard-link view)" if self.interpreter.views else "")
            except OSError as exc:
                self._runs_as = f"runs as root: {clean(exc, 160)}"
        self.isolation = self._describe()
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-"))
        self.runtime = self.scratch / "runtime"
        for rel in TRUSTED_RUNTIME:
            src, dst = PROJECT_ROOT / rel, self.runtime / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dst)
        for path in [self.runtime, *self.runtime.rglob("*")]:  # the unprivileged worker must read it
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.proc: subprocess.Popen | None = None
        self.cgroup: sandbox.WorkerCgroup | None = None
        self.restarts = 0
        # process level, not root: RLIMIT_NPROC caps forks at what the user runs now plus a margin
        # (root ignores the limit; a worker that runs as nobody gets a fixed cap or the cgroup's)
        self._user_processes = 0 if os.geteuid() == 0 or self.level == sandbox.STRONG else _tasks_of_this_user()

    def _describe(self) -> str:
        return sandbox.describe(self.level, self.use_cgroups, self.capabilities.landlock if self._fenced else 0,
                                self._runs_as)

    def _boot(self, python_paths: list[str]) -> str:
        return (
            "import sys; sys.path[:0] = " + repr([str(self.runtime)]) + "; "
            "sys.path += [p for p in " + repr(python_paths) + " if p not in sys.path]; "
            "from autograder.worker import main; main(sys.argv[1:])"
        )

    def _start(self) -> None:
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        # stdout and stderr: a log the worker cannot find, capped by RLIMIT_FSIZE
        log = os.open(self.scratch / f"output{self.restarts}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        common = ["--fd-in", str(req_r), "--fd-out", str(rep_w), "--device", self.device,
                  "--output-mb", str(self.limits.output_mb), "--course-root", str(PROJECT_ROOT)]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": str(worker_threads())}
        for key in ("CUDA_VISIBLE_DEVICES", "CUDA_HOME", "LD_LIBRARY_PATH", "NVIDIA_VISIBLE_DEVICES",
                    "NVIDIA_DRIVER_CAPABILITIES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "MKL_NUM_THREADS"):
            if key in os.environ:
                env[key] = os.environ[key]
        prefix: list[str] = []
        if self.use_cgroups:
            name = f"autograder-{os.getpid()}-{id(self):x}-{self.restarts}"
            try:
                self.cgroup = sandbox.WorkerCgroup.make(name, self.limits, self.use_cgroups)
                prefix = self.cgroup.join_command()
            except OSError as exc:  # cgroups went away (or filled up): rlimits from now on
                self.use_cgroups = ""
                self.isolation = self._describe()
                self.note(f"sandbox: cgroups unavailable ({clean(exc, 120)}); rlimits used instead")
        memory_mb = "0" if self.use_cgroups else str(self.limits.memory_mb)
        if self.level == sandbox.STRONG:
            jail_root = self.scratch / f"jail{self.restarts}"
            jail_root.mkdir()
            spec = {"root": str(jail_root), "binds": sandbox.jail_paths(self.runtime), "submission": str(self.submission),
                    "uid": sandbox.SANDBOX_UID, "gid": sandbox.SANDBOX_GID, "disk_mb": self.limits.disk_mb}
            cmd = [*prefix, shutil.which("unshare") or "unshare", *sandbox.UNSHARE_FLAGS, "--",
                   sys.executable, "-I", "-S", "-B", "-c", self._boot(sandbox.jail_python()),
                   "--submission", str(self.submission), "--jail", json.dumps(spec), *common, "--memory-mb", memory_mb,
                   # without cgroups every worker runs as nobody and RLIMIT_NPROC counts them together
                   "--max-processes", "0" if self.use_cgroups else str(16 * self.limits.pids)]
            env.update(HOME="/sandbox", TMPDIR="/tmp")
            cwd = self.scratch
        else:
            # A fresh copy of the submission each start: what one check wrote does not reach the next.
            workdir = self.scratch / f"work{self.restarts}"
            shutil.copytree(self.submission, workdir / "submission", ignore=shutil.ignore_patterns("__pycache__"))
            (workdir / "tmp").mkdir()
            python, paths = sys.executable, sandbox.jail_python()
            # /dev/shm: multiprocessing's semaphores and DataLoader workers' tensors (the jail has a private one)
            fence = {"read": [*sandbox.jail_paths(self.runtime), "/proc"], "write": [str(workdir), "/dev/shm"],
                     "devices": ["/dev"]}
            processes = self._user_processes + 2 * self.limits.pids if self._user_processes else 0
            extra: list[str] = []
            if self.interpreter is not None:  # root: the worker becomes nobody before any learner code
                python, paths = self.interpreter.executable, list(self.interpreter.paths)
                fence["read"] += self.interpreter.read
                if self.interpreter.library_path:
                    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [self.interpreter.library_path,
                                                                           env.get("LD_LIBRARY_PATH")]))
                sandbox.give_to(workdir, sandbox.SANDBOX_UID, sandbox.SANDBOX_GID)
                self.scratch.chmod(0o711)  # nobody may pass through to its copy and the runtime, not list
                extra += ["--drop-to", f"{sandbox.SANDBOX_UID}:{sandbox.SANDBOX_GID}"]
                processes = 0 if self.use_cgroups else 16 * self.limits.pids
            if self.capabilities.landlock:
                extra += ["--fence", json.dumps(fence)]
            cmd = [*prefix, python, "-I", "-S", "-B", "-c", self._boot(paths),
                   "--submission", str(workdir / "submission"), *common, "--memory-mb", memory_mb,
                   "--allowed", json.dumps([str(workdir)]), "--max-processes", str(processes), *extra]
            env.update(HOME=str(workdir), TMPDIR=str(workdir / "tmp"))
            cwd = workdir
        try:
            self.proc = subprocess.Popen(
                cmd, pass_fds=(req_r, rep_w), cwd=cwd, env=env, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )
        finally:
            for fd in (req_r, rep_w, log):
                os.close(fd)
        os.set_blocking(self.req_w, False)
        self.restarts += 1

    def _kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole session: children die too
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        for fd in (self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None
        if self.cgroup is not None:
            self.cgroup.remove()  # kills anything that escaped the session, then frees the groups
            self.cgroup = None
        for jail in self.scratch.glob("jail*"):
            try:
                jail.rmdir()
            except OSError:
                pass

    def _died_why(self, code: int | None) -> str:
        if self.cgroup is not None and self.cgroup.out_of_memory():
            return f"the worker exceeded the memory limit of {self.limits.memory_mb} MiB and was killed"
        if code is not None and code < 0:
            return "the worker was killed by " + _signal_name(code) + (" (out of memory?)" if code == -signal.SIGKILL else "")
        if code is not None and code >= 128 and self.level == sandbox.STRONG:  # unshare reports a signal as 128+n
            return "the worker was killed by " + _signal_name(128 - code)
        return f"the worker exited with status {code} (sys.exit or os._exit in the submission?)"

    def _exchange(self, target, header, buffers):
        if self.proc is None:
            self._start()
            self.loaded = set()
        topic = target.partition(".")[0]
        if topic in self.import_failed:
            raise StudentTimeout(self.import_failed[topic])
        if topic not in self.loaded:
            self._load(topic)
        return self._guarded(target, lambda deadline: (wire.send(self.req_w, header, buffers, deadline=deadline),
                                                       wire.receive(self.rep_r, deadline=deadline))[1])

    def _load(self, topic: str) -> None:
        """Start-up and import of `topic`.py under the import time limit (an import error shows on the call)."""
        header, buffers = wire.message({"op": "load", "target": f"{topic}.", "id": next(self._ids)})
        started = time.monotonic()
        deadline = started + self.import_timeout
        try:
            reply, _ = self._guarded(f"importing {topic}.py", lambda _: (
                wire.send(self.req_w, header, buffers, deadline=deadline), wire.receive(self.rep_r, deadline=deadline))[1],
                deadline=deadline)
        except StudentTimeout:
            self.import_failed[topic] = f"importing {topic}.py took longer than {self.import_timeout:.0f} s; its checks fail"
            raise StudentTimeout(self.import_failed[topic]) from None
        findings = reply.get("integrity")
        if type(findings) is list:
            for finding in findings[:MAX_FINDINGS]:
                if type(finding) is str:
                    self.note(finding)
                    if finding.startswith(landlock.FENCE_FAILED) and self._fenced:
                        self._fenced = False  # the report must not claim a fence the kernel refused
                        self.isolation = self._describe()
        self.loaded.add(topic)
        if self.deadline is not None:  # the check's own clock did not run while importing
            self.deadline += time.monotonic() - started

    def _receive_again(self, target):
        return self._guarded(target, lambda deadline: wire.receive(self.rep_r, deadline=deadline))

    def _guarded(self, target, talk, deadline: float | None = None):
        """Run one exchange with the worker under the check's deadline; any failure restarts the worker."""
        explicit = deadline is not None
        if deadline is None:
            deadline = self.deadline if self.deadline is not None else time.monotonic() + self.default_timeout
        try:
            return talk(deadline)
        except wire.PeerTimeout:
            self._kill()
            budget = self.default_timeout if self.deadline is None and not explicit else None
            raise StudentTimeout(
                f"{target}: timed out" + (f" after {budget:.0f} s" if budget else " (the check's time limit ran out)")
                + "; the worker was stopped and restarted"
            ) from None
        except wire.PeerClosed:
            code = None
            if self.proc is not None:
                try:
                    code = self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            why = self._died_why(code)
            self._kill()
            raise StudentCrashed(f"{target}: {why}; it was restarted") from None
        except wire.WireError as exc:
            self._kill()
            self.note(f"protocol: the worker sent a malformed message during {target} (forged reply pipe?)")
            raise StudentCrashed(f"{target}: the worker sent an invalid message ({clean(exc, 200)}); it was restarted") from None

    def close(self) -> None:
        if self.proc is not None:
            try:
                wire.send(self.req_w, {"op": "exit", "nbuf": 0}, deadline=time.monotonic() + 1)
            except (wire.PeerTimeout, wire.PeerClosed, OSError):
                pass
            self._kill()
        shutil.rmtree(self.scratch, ignore_errors=True)
