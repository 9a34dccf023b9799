"""The `student` handle: the only way a check reaches a submission.

Both modes return plain data only (None, bool, int, float, str, list, tuple, dict, NumPy arrays of
plain dtypes), after the value has crossed `autograder.wire` and passed its `expect` spec:

* `InProcessStudent` imports the submission into the grading process (fast; use pdb).
* `SandboxedStudent` runs it in a worker process, with a per-check deadline: a hang or a crash
  fails only the current check, and the next call starts a fresh worker.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from autograder import expect, wire
from autograder.worker import Runner

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# what the worker may import besides the submission and installed libraries
TRUSTED_RUNTIME = ("autograder/__init__.py", "autograder/wire.py", "autograder/worker.py", "autograder/probes", "mmprep")


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
        self.type_name = str(error.get("type", "Exception"))
        self.bases = [str(b) for b in error.get("bases", [])]
        self.message = str(error.get("message", ""))
        self.where = str(error.get("where", ""))
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
        return StudentImportFailed(str(error.get("message", "could not import the submission")))
    if kind == "missing":
        return StudentError(str(error.get("message")))
    if kind == "protocol":
        return StudentCrashed(f"{target}: the worker sent an invalid reply ({error.get('message')})")
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

    def close(self) -> None:
        pass


class InProcessStudent(_StudentBase):
    """Imports the submission into this process: for debugging, not for untrusted code."""

    isolation = "none (in-process)"
    _packages = itertools.count()

    def __init__(self, submission: Path, device: str = "cpu", seed: int = 0, timeout: float = 60.0):
        super().__init__(submission, device, seed, timeout)
        self.runner = Runner(self.submission, package=f"_submission_{next(self._packages)}", device=device)

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


class SandboxedStudent(_StudentBase):
    """Runs the submission in a worker process that is killed and restarted on a hang or crash."""

    isolation = "process (separate worker process, new session, rlimits, private copy)"

    def __init__(
        self,
        submission: Path,
        device: str = "cpu",
        seed: int = 0,
        timeout: float = 60.0,
        memory_mb: int = 0,
        output_mb: int = 16,
    ):
        super().__init__(submission, device, seed, timeout)
        self.memory_mb, self.output_mb = memory_mb, output_mb
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-"))
        self.runtime = self.scratch / "runtime"
        for rel in TRUSTED_RUNTIME:
            src, dst = PROJECT_ROOT / rel, self.runtime / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(src, dst)
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def _start(self) -> None:
        # A fresh copy of the submission each start: what one check wrote does not reach the next.
        workdir = self.scratch / f"work{self.restarts}"
        shutil.copytree(self.submission, workdir / "submission", ignore=shutil.ignore_patterns("__pycache__"))
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        paths = [str(self.runtime), *sysconfig.get_paths().values(), *site.getsitepackages()]
        boot = (
            "import sys; sys.path[:0] = " + repr([str(self.runtime)]) + "; "
            "sys.path += [p for p in " + repr(paths[1:]) + " if p not in sys.path]; "
            "from autograder.worker import main; main(sys.argv[1:])"
        )
        log = workdir / "output.log"
        cmd = [
            sys.executable, "-I", "-S", "-c", boot,
            "--submission", str(workdir / "submission"), "--fd-in", str(req_r), "--fd-out", str(rep_w),
            "--log", str(log), "--device", self.device,
            "--memory-mb", str(self.memory_mb), "--output-mb", str(self.output_mb),
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
        for key in ("CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if key in os.environ:
                env[key] = os.environ[key]
        self.proc = subprocess.Popen(
            cmd, pass_fds=(req_r, rep_w), cwd=workdir, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(req_r)
        os.close(rep_w)
        os.set_blocking(self.req_w, False)
        self.restarts += 1

    def _kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole session: children die too
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for fd in (self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.proc = None

    def _exchange(self, target, header, buffers):
        if self.proc is None:
            self._start()
        deadline = self.deadline if self.deadline is not None else time.monotonic() + self.default_timeout
        try:
            wire.send(self.req_w, header, buffers, deadline=deadline)
            return wire.receive(self.rep_r, deadline=deadline)
        except wire.PeerTimeout:
            self._kill()
            budget = self.default_timeout if self.deadline is None else None
            raise StudentTimeout(
                f"{target}: timed out" + (f" after {budget:.0f} s" if budget else " (the check's time limit ran out)")
                + "; the worker was stopped and restarted"
            ) from None
        except wire.PeerClosed:
            code = self.proc.wait() if self.proc else None
            self._kill()
            if code is not None and code < 0:
                why = _signal_name(code) + (" (out of memory?)" if code == -signal.SIGKILL else "")
                raise StudentCrashed(f"{target}: the worker was killed by {why}; it was restarted") from None
            raise StudentCrashed(f"{target}: the worker exited with status {code} (sys.exit or os._exit in the submission?)") from None
        except wire.WireError as exc:
            self._kill()
            raise StudentCrashed(f"{target}: the worker sent an invalid message ({exc}); it was restarted") from None

    def close(self) -> None:
        if self.proc is not None:
            try:
                wire.send(self.req_w, {"op": "exit", "nbuf": 0}, deadline=time.monotonic() + 1)
            except (wire.PeerTimeout, wire.PeerClosed, OSError):
                pass
            self._kill()
        shutil.rmtree(self.scratch, ignore_errors=True)
