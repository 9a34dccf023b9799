"""The worker: the only place a learner's code runs when grading is sandboxed.

Started by the grader with a clean interpreter (`python -I -S`), a private copy of this package
and the submission, and two pipe descriptors. It answers requests ("call a function", "run a
trusted probe") with plain data over `autograder.wire`. Its stdout and stderr go to a capped log
file, so however much the learner prints, nothing reaches the grader's protocol.

`Runner` is also used in-process (the debugging mode), so both modes answer the same way.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import re
import sys
import traceback
from pathlib import Path

from autograder import wire
from autograder.integrity import Watcher, clean

PACKAGE = "submission"


def load_submission_package(directory: Path, package: str = PACKAGE):
    """Import `directory` (which holds <topic>.py files) as the package `package`."""
    init = directory / "__init__.py"
    if not init.exists():
        init.write_text("")
    spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(directory)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
    return module


def _where(tb, directory: str) -> str:
    """The innermost traceback frame inside the submission, as 'file.py:LINE in name'."""
    found = ""
    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith(directory):
            found = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
    return found


def _describe_error(exc: BaseException, directory: str, kind: str = "exception") -> dict:
    if isinstance(exc, NotImplementedError):
        kind = "not_implemented"
    bases = [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"]
    try:
        text = str(exc)
    except Exception:  # a learner's exception whose __str__ itself fails
        text = "<unprintable message>"
    return {
        "kind": kind,
        "type": clean(type(exc).__name__, 100),
        "bases": bases,
        "message": clean(text, 500),
        "where": clean(_where(exc.__traceback__, directory), 200),
    }


class Runner:
    """Executes requests against one submission package."""

    def __init__(self, directory: Path, package: str = PACKAGE, device: str = "cpu", watcher: Watcher | None = None):
        self.directory = Path(directory).resolve()
        self.package = package
        self.device = device
        self.watcher = watcher
        self.modules: dict[str, object] = {}
        if watcher is not None:
            watcher.snapshot()
        try:
            load_submission_package(self.directory, package)
        finally:
            self._check_integrity()

    def _check_integrity(self) -> None:
        if self.watcher is not None:
            self.watcher.compare()
            self.watcher.snapshot()  # namespaces first loaded by the learner's code (torch) from now on

    def topic_module(self, topic: str):
        if topic not in self.modules:
            path = self.directory / f"{topic}.py"
            if not path.exists():
                raise ImportError(f"the submission has no {topic}.py")
            if self.watcher is not None:
                with self.watcher.paused():  # what torch's import does is not the learner's doing
                    _preload_libraries(path)
                self.watcher.snapshot()
            else:
                _preload_libraries(path)
            try:
                self.modules[topic] = importlib.import_module(f"{self.package}.{topic}")
            finally:
                self._check_integrity()
        return self.modules[topic]

    def _seed(self, seed) -> None:
        """Before every request: the check's seed, and full-precision float32 matmuls on CUDA.

        The checks compare with float64 references; TF32 (on by default for cuDNN on Ampere and
        newer) would cost three digits. Reset each time, in both modes, for every topic.
        """
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        if seed is None:
            return
        import random

        import numpy as np

        random.seed(seed)
        np.random.seed(seed % 2**32)
        if torch is not None:
            torch.manual_seed(seed)

    def handle(self, header: dict, buffers: list[bytes]) -> tuple[dict, list[bytes]]:
        """Answer one request; never raises for anything the learner's code does.

        Library functions the learner's code patched are reported under reply["integrity"]
        (and put back before the next request).
        """
        reply, reply_buffers = self._handle(header, buffers)
        try:
            self._check_integrity()
        except BaseException:  # a namespace made unreadable by the learner: report, do not crash
            pass
        if self.watcher is not None:
            findings = self.watcher.drain()
            if findings:
                reply = {**reply, "integrity": findings}
        return reply, reply_buffers

    def _handle(self, header: dict, buffers: list[bytes]) -> tuple[dict, list[bytes]]:
        reply = {"id": header.get("id")}
        op = header.get("op")
        try:
            payload = wire.decode(header.get("value"), buffers) if "value" in header else {}
            args, kwargs = list(payload.get("args", ())), dict(payload.get("kwargs", {}))
        except (wire.WireError, AttributeError, TypeError) as exc:
            return wire.message({**reply, "ok": False, "error": {"kind": "protocol", "message": str(exc)}})
        if op == "ping":
            return wire.message({**reply, "ok": True}, "pong", with_value=True)
        target = str(header.get("target", ""))
        topic, _, name = target.partition(".")
        try:
            module = self.topic_module(topic)
        except BaseException as exc:  # SyntaxError, ImportError, anything the module body raises
            error = _describe_error(exc, str(self.directory), kind="import")
            error["message"] = f"could not import {topic}.py: {error['type']}: {error['message']}"
            return wire.message({**reply, "ok": False, "error": error})
        if op == "load":  # import only: the grader gives importing its own, longer time limit
            try:
                self._seed(0)  # torch.manual_seed's first call imports torch._dynamo: seconds, not the learner's
            except BaseException:
                pass
            return wire.message({**reply, "ok": True})
        try:
            self._seed(header.get("seed"))
            if op == "call":
                fn = module
                for part in name.split("."):
                    fn = getattr(fn, part)
                value = fn(*args, **kwargs)
            elif op == "probe":
                probes = importlib.import_module(f"autograder.probes.{topic}")
                value = getattr(probes, name)(module, *args, device=self.device, **kwargs)
            else:
                return wire.message({**reply, "ok": False, "error": {"kind": "protocol", "message": f"unknown op {op!r}"}})
            try:
                return wire.message({**reply, "ok": True}, value, with_value=True)
            except BaseException as exc:  # a tensor subclass whose .numpy() raises, a recursive list, ...
                error = {"kind": "exception", "type": "UnsupportedReturn", "bases": [], "where": "",
                         "message": clean(f"the returned value could not be sent: {type(exc).__name__}", 300)}
                return wire.message({**reply, "ok": False, "error": error})
        except AttributeError as exc:
            if f"'{name.split('.')[-1]}'" in str(exc) and op == "call":
                error = _describe_error(exc, str(self.directory), kind="missing")
                error["message"] = f"{topic}.py does not define {name}"
                return wire.message({**reply, "ok": False, "error": error})
            return wire.message({**reply, "ok": False, "error": _describe_error(exc, str(self.directory))})
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from learner code too
            return wire.message({**reply, "ok": False, "error": _describe_error(exc, str(self.directory))})


def worker_threads() -> int:
    """Threads for a grading worker: OMP_NUM_THREADS where the caller set it (a test suite running a process per
    core sets 1), else up to 4: the course's models are small, more threads only contend."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return max(1, min(4, os.cpu_count() or 1))


TORCH_IMPORT = re.compile(r"^\s*(import|from)\s+torch", re.MULTILINE)


def _preload_libraries(path: Path) -> None:
    """Import torch before a topic that uses it, so its functions are snapshotted before the learner's code.

    torch is otherwise imported lazily: a topic without it (metrics) starts its worker in a
    fraction of the time.
    """
    try:
        source = path.read_text(errors="replace")
    except OSError:
        return
    if "torch" in sys.modules or not TORCH_IMPORT.search(source):
        return
    try:
        import torch

        torch.set_num_threads(worker_threads())
    except ImportError:
        pass


def _apply_limits(memory_mb: int, output_mb: int, max_processes: int = 0) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if output_mb:
        resource.setrlimit(resource.RLIMIT_FSIZE, (output_mb * 2**20, output_mb * 2**20))
    if memory_mb:
        # RLIMIT_DATA (heap and private mappings), not RLIMIT_AS: torch's libraries reserve gigabytes
        # of address space and fail to load under an address-space cap. torch needs about 1.5 GiB.
        resource.setrlimit(resource.RLIMIT_DATA, (memory_mb * 2**20, memory_mb * 2**20))
    if max_processes:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        except (ValueError, OSError):
            pass


# ----------------------------------------------------------------------------- the jail (strong level)
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_NO_NEW_PRIVS, _PR_SET_CHILD_SUBREAPER = 1, 38, 36


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    ctypes, libc = _libc()
    enc = lambda s: None if s is None else os.fsencode(s)  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _prctl(option: int, value: int) -> None:
    ctypes, libc = _libc()
    if libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option})")


def _bind_into(root: str, host: str, writable: bool = False) -> None:
    """Make `host` appear at the same path inside `root` (symlinks are recreated, not followed)."""
    inside = root + host
    if os.path.islink(host):
        os.makedirs(os.path.dirname(inside), mode=0o755, exist_ok=True)
        if not os.path.lexists(inside):
            os.symlink(os.readlink(host), inside)
        return
    if os.path.isdir(host):
        os.makedirs(inside, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(inside), mode=0o755, exist_ok=True)
        open(inside, "a").close()
    _mount(host, inside, None, _MS_BIND | _MS_REC)
    if not writable:
        _mount(None, inside, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID)


def enter_jail(spec: dict) -> Path:
    """As root, PID 1 of fresh namespaces: build a private root, enter it, become `nobody`.

    The new root is a tmpfs holding read-only binds of the Python installation, the system
    libraries and the trusted runtime, a new /proc, /dev, a small /tmp and /sandbox with the
    submission copy. Nothing else of the host file system exists inside. Returns the
    submission folder as seen from inside.
    """
    import shutil

    from autograder.sandbox import give_to

    root = spec["root"]
    uid, gid = int(spec["uid"]), int(spec["gid"])
    disk = f"size={int(spec['disk_mb'])}m"
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount("autograder-jail", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=16m")

    def scratch(mountpoint: str, mode: str) -> None:
        os.makedirs(root + mountpoint, mode=0o755, exist_ok=True)
        _mount("autograder-tmp", root + mountpoint, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode={mode},{disk}")

    # the small writable file systems first: the runtime copy may live under the host's /tmp and is bound below
    scratch("/tmp", "1777")
    scratch("/sandbox", "0755")
    for path in sorted(spec["binds"], key=lambda p: p.count("/")):
        _bind_into(root, path)
    _bind_into(root, "/dev", writable=True)
    scratch("/dev/shm", "1777")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", _MS_NOSUID | _MS_NODEV)
    inside = root + "/sandbox/submission"
    shutil.copytree(spec["submission"], inside, ignore=shutil.ignore_patterns("__pycache__"), symlinks=False)
    give_to(Path(root + "/sandbox"), uid, gid)
    os.chdir(root)
    os.chroot(root)
    os.chdir("/sandbox")
    drop_privileges(uid, gid)
    return Path("/sandbox/submission")


def drop_privileges(uid: int, gid: int) -> None:
    """Become `uid`:`gid` for good (no supplementary groups, no way back, no setuid gains)."""
    import signal

    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop failed
        raise RuntimeError("could not drop root privileges")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a uid change clears it; the grader dying must end us


def _stray_processes(in_jail: bool) -> list[int]:
    """Processes the learner's code left behind: all others in our PID namespace, or our descendants."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        if in_jail:
            found.append(int(entry))
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent, group = int(fields[1]), int(fields[2])
        if parent == me or group == os.getpgrp():
            found.append(int(entry))
    return found


def end_strays(in_jail: bool) -> int:
    """Kill what the learner's code left running (daemons, forks) and reap it; return how many."""
    import signal

    if not sys.platform.startswith("linux"):
        return 0
    total = 0
    for _ in range(20):  # killing a parent re-parents its children to us: repeat until none is left
        strays = _stray_processes(in_jail)
        if not strays:
            break
        total += len(strays)
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _reap()
    _reap()
    return total


def _reap() -> None:
    import time

    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autograder.worker")
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--output-mb", type=int, default=16)
    parser.add_argument("--max-processes", type=int, default=0)
    parser.add_argument("--jail", help="JSON spec of the private root (strong isolation; needs root)")
    parser.add_argument("--allowed", default="[]", help="JSON list of folders the learner's code may read and write")
    parser.add_argument("--course-root", default="", help="the course checkout: any access to it is reported, even under /tmp")
    parser.add_argument("--drop-to", default="", help="UID:GID to become first (process level started as root)")
    parser.add_argument("--fence", help="JSON {read, write, devices}: the Landlock fence (process level)")
    args = parser.parse_args(argv)

    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # stdout and stderr are the capped log the grader opened
    submission = args.submission
    allowed = list(json.loads(args.allowed))
    if args.jail:
        submission = enter_jail(json.loads(args.jail))
        allowed += ["/sandbox", "/tmp"]
    elif sys.platform.startswith("linux"):
        if args.drop_to:
            uid, _, gid = args.drop_to.partition(":")
            drop_privileges(int(uid), int(gid))
        try:  # orphans of the learner's processes come back to us, so they can be ended
            _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        except OSError:
            pass
    fence_failed = ""
    if args.fence:  # while this process has one thread: Landlock binds the calling thread
        from autograder import landlock

        fence = json.loads(args.fence)
        try:
            landlock.restrict_self(fence["read"], fence["write"], fence["devices"])
        except OSError as exc:
            fence_failed = f"{landlock.FENCE_FAILED} ({clean(str(exc), 120)}); files were not fenced"
    _apply_limits(args.memory_mb, args.output_mb, args.max_processes)

    # Import the libraries before the submission is on sys.path, so a numpy.py in it cannot shadow them.
    import numpy  # noqa: F401

    watcher = Watcher(submission, allowed_roots=[*allowed, *sys.path], writable_roots=allowed,
                      forbidden_roots=[args.course_root])
    watcher.snapshot()
    watcher.install_audit_hook()
    if fence_failed:
        watcher.report(fence_failed)
    runner = None
    while True:
        try:
            header, buffers = wire.receive(args.fd_in)
        except (wire.PeerClosed, wire.WireError):
            os._exit(0)
        if header.get("op") == "exit":
            os._exit(0)
        if runner is None:
            try:
                runner = Runner(submission, device=args.device, watcher=watcher)
            except BaseException as exc:
                error = _describe_error(exc, str(submission), kind="import")
                error["message"] = clean(f"could not import the submission: {error['type']}: {error['message']}")
                reply = {"id": header.get("id"), "ok": False, "error": error}
                findings = watcher.drain()
                if findings:
                    reply["integrity"] = findings
                wire.send(args.fd_out, *wire.message(reply))
                continue
        reply, reply_buffers = runner.handle(header, buffers)
        with watcher.paused():
            left = end_strays(in_jail=bool(args.jail))
        if left:
            reply = {**reply, "integrity": [*reply.get("integrity", []),
                                            f"runtime: left {left} process(es) running after the call (ended)"]}
        wire.send(args.fd_out, reply, reply_buffers)


if __name__ == "__main__":
    main()
