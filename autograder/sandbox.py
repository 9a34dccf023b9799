"""Isolation levels for the grading worker, and what this machine can offer.

Levels, strongest first:

* ``strong`` (needs root and Linux namespaces, as on a grading server or in CI): the worker gets
  its own mount, PID, network, IPC and UTS namespaces (``unshare`` from util-linux), a private
  root file system that holds only the Python installation, system libraries, the trusted
  runtime and a size-limited tmpfs with its copy of the submission (the course checkout,
  solutions/, the checks, other submissions and results stores do not exist there), runs as an
  unprivileged user (``nobody``) with ``no_new_privs``, and sits in per-worker cgroup v1
  ``memory`` and ``pids`` groups, so the caps hold for every descendant and every descendant
  dies with the worker.
* ``process`` (any user): a separate worker process in a new session, rlimits (address space,
  file size, process count, core dumps), a temporary working directory. Enough to grade
  honest and buggy code correctly; a hostile submission can still read what the user can read.
* ``none``: in-process, for debugging only.

`detect()` says which level is available and, when ``strong`` is not, why.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STRONG, PROCESS, NONE = "strong", "process", "none"
LEVELS = (STRONG, PROCESS, NONE)
CHOICES = ("auto", STRONG, PROCESS)  # what a user may ask for with --isolation
SANDBOX_UID = SANDBOX_GID = 65534  # nobody / nogroup
UNSHARE_FLAGS = ("--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child=SIGKILL", "--propagation", "private")
# host paths the jailed worker sees read-only (besides the Python installation and the runtime copy)
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/sys", "/opt/conda", "/usr/local")
CGROUP_V1 = Path("/sys/fs/cgroup")


class IsolationUnavailable(RuntimeError):
    """The requested isolation level cannot be had on this machine (the message says why)."""


@dataclass(frozen=True)
class Limits:
    """Per-worker resource caps. 0 means "no cap" for memory."""

    memory_mb: int = 0  # cgroup memory (strong) or RLIMIT_DATA (process); 0: none
    pids: int = 256  # processes + threads of the worker and all its descendants
    output_mb: int = 16  # largest file the worker may write (its stdout/stderr log included)
    disk_mb: int = 256  # size of the jail's writable tmpfs (strong)


@dataclass(frozen=True)
class Capabilities:
    """What this machine offers: the strongest level and the reasons a stronger one is missing."""

    level: str
    cgroups: bool
    missing: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        return describe(self.level, self.cgroups)


def describe(level: str, cgroups: bool = False) -> str:
    """The one-line isolation statement that goes into every report."""
    if level == STRONG:
        caps = "cgroup memory+pids caps" if cgroups else "rlimit caps (no writable cgroup v1)"
        return (f"strong (namespaces: mount, pid, net; private root without the course files; "
                f"uid {SANDBOX_UID}; {caps})")
    if level == PROCESS:
        return "process (separate worker, new session, rlimits, temporary copy; no file-system isolation)"
    return "none (in-process, debugging only)"


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup v1 directory for `controller`, if mounted."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            root = CGROUP_V1 / controller
            return root / path.lstrip("/") if root.is_dir() else None
    return None


def _cgroups_writable() -> bool:
    for controller in ("memory", "pids"):
        base = _own_cgroup(controller)
        if base is None or not os.access(base, os.W_OK):
            return False
        probe = base / f"autograder-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError:
            return False
    return True


@functools.lru_cache(maxsize=1)
def detect() -> Capabilities:
    """Probe once per process for what the strong level needs."""
    missing = []
    if not sys.platform.startswith("linux"):
        missing.append("not Linux")
    elif os.geteuid() != 0:
        missing.append("not running as root")
    unshare = shutil.which("unshare")
    if unshare is None:
        missing.append("util-linux `unshare` not found")
    if not missing:
        try:
            subprocess.run([unshare, *UNSHARE_FLAGS, "--", "/bin/sh", "-c", "exit 0"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            missing.append(f"namespaces refused ({detail.decode(errors='replace').strip() or exc})")
    if missing:
        return Capabilities(PROCESS, False, tuple(missing))
    return Capabilities(STRONG, _cgroups_writable())


def choose(requested: str = "auto", strict: bool = False) -> Capabilities:
    """The level to grade with. `strict` (or asking for "strong") refuses anything weaker."""
    if requested not in CHOICES:
        raise ValueError(f"isolation must be one of {CHOICES}, got {requested!r}")
    found = detect()
    if (strict or requested == STRONG) and found.level != STRONG:
        raise IsolationUnavailable(
            "strong isolation is not available here (" + "; ".join(found.missing) + "); "
            "grade as root on Linux with util-linux `unshare`, or drop --strict to grade at the process level"
        )
    if requested == PROCESS:
        return Capabilities(PROCESS, False, ("process level requested",))
    return found


class WorkerCgroup:
    """A pair of cgroup v1 groups (memory, pids) for one worker and everything it starts."""

    def __init__(self, name: str, limits: Limits):
        self.dirs: dict[str, Path] = {}
        for controller in ("memory", "pids"):
            base = _own_cgroup(controller)
            if base is None:
                raise OSError(f"cgroup controller {controller} is not mounted")
            _remove_orphans(base)
            path = base / name
            path.mkdir(exist_ok=True)
            self.dirs[controller] = path
        self.dirs["pids"].joinpath("pids.max").write_text(str(max(8, limits.pids)))
        if limits.memory_mb:
            limit = str(limits.memory_mb * 2**20)
            self.dirs["memory"].joinpath("memory.limit_in_bytes").write_text(limit)
            try:  # swap too, where the kernel accounts it: otherwise the worker just swaps
                self.dirs["memory"].joinpath("memory.memsw.limit_in_bytes").write_text(limit)
            except OSError:
                pass

    def join_command(self) -> list[str]:
        """A shell prefix that moves itself into both groups, then execs the rest of the command."""
        procs = " ".join(f"'{d / 'cgroup.procs'}'" for d in self.dirs.values())
        return ["/bin/sh", "-c", f'for f in {procs}; do echo $$ > "$f" || exit 97; done; exec "$@"', "autograder-cg"]

    def out_of_memory(self) -> bool:
        try:
            control = self.dirs["memory"].joinpath("memory.oom_control").read_text()
            kills = [int(line.split()[1]) for line in control.splitlines() if line.startswith("oom_kill ")]
            failures = int(self.dirs["memory"].joinpath("memory.failcnt").read_text())
        except (OSError, ValueError, IndexError):
            return False
        return bool(kills and kills[0]) or failures > 0

    def hit_process_cap(self) -> bool:
        try:
            events = self.dirs["pids"].joinpath("pids.events").read_text().split()
            return int(events[events.index("max") + 1]) > 0
        except (OSError, ValueError, IndexError):
            return False

    def remove(self, wait: float = 3.0) -> None:
        """Kill whatever is still inside, wait for it to be gone, free the groups (left for the sweep if not)."""
        import time

        deadline = time.monotonic() + wait
        for path in self.dirs.values():
            while True:
                try:
                    pids = path.joinpath("cgroup.procs").read_text().split()
                except OSError:
                    break
                if not pids:
                    try:
                        path.rmdir()
                    except OSError:
                        pass
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), 9)
                    except (ProcessLookupError, ValueError):
                        pass
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)


def _remove_orphans(base: Path) -> None:
    """Free the groups of graders that died without cleaning up (named autograder-<pid>-...)."""
    for path in base.glob("autograder-*-*"):
        try:
            pid = int(path.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            try:
                path.rmdir()  # fails while processes are left inside: those are killed with their group
            except OSError:
                pass


def jail_paths(runtime: Path) -> list[str]:
    """Host paths bound read-only into the jail: system libraries, the Python installation, the runtime."""
    import site
    import sysconfig

    # CUDA: driver libraries may sit outside /usr (LD_LIBRARY_PATH, CUDA_HOME); devices come with /dev
    cuda = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p.startswith("/")]
    cuda += [os.environ["CUDA_HOME"]] if os.environ.get("CUDA_HOME", "").startswith("/") else []
    wanted = [*SYSTEM_PATHS, sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(),
              *site.getsitepackages(), str(Path(sys.executable).resolve().parent), *cuda, str(runtime)]
    out: list[str] = []
    for path in wanted:
        if os.path.lexists(path) and path not in out:
            out.append(path)
    return out


def jail_python() -> list[str]:
    """The sys.path entries the jailed worker needs besides the runtime (the installation's own paths)."""
    import site
    import sysconfig

    return [p for p in (*sysconfig.get_paths().values(), *site.getsitepackages()) if os.path.isdir(p)]


__all__ = [
    "CHOICES", "Capabilities", "IsolationUnavailable", "LEVELS", "Limits", "NONE", "PROCESS", "SANDBOX_GID",
    "SANDBOX_UID", "STRONG", "UNSHARE_FLAGS", "WorkerCgroup", "choose", "describe", "detect", "jail_paths", "jail_python",
]
