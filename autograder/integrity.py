"""The integrity report: what looks wrong about a submission, for the instructor (never for the score).

Two halves:

* `scan_submission` (grader side) looks at the files handed in: files changed or added outside
  exercises/ in a clone of the course, conftest.py, sitecustomize/usercustomize, .pth files, and
  modules that would shadow numpy, torch, the standard library or the grader itself.
* `Watcher` (worker side, standard library only: it is part of the worker's trusted runtime)
  snapshots library functions before the learner's code is imported and compares them after
  the import and after every call (patched ones are reported and put back), and an audit hook
  records attempts to open or list files outside the sandbox, to inspect the grader's stack
  frames, to start processes and to open sockets. It runs inside the learner's process, so a
  determined learner can blind it; it reports, it does not protect. The protection is that
  verdicts are computed in the grader, which never sees anything but plain data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
from pathlib import Path

MAX_FINDINGS = 50
MAX_PER_KIND = 5
MAX_FINDING_CHARS = 300

# ----------------------------------------------------------------------------- grader side
SHADOW_NAMES = {
    "numpy", "torch", "torchvision", "scipy", "sklearn", "pytest", "_pytest", "pluggy", "autograder", "mmprep",
    "conftest", "sitecustomize", "usercustomize", "faiss", "nbformat", "tqdm",
}
HOOK_FILES = {"conftest.py", "sitecustomize.py", "usercustomize.py", "pytest.ini", "setup.cfg", "tox.ini"}
COMPARED_SUFFIXES = {".py", ".ini", ".cfg", ".toml", ".pth", ".txt"}
SKIPPED_DIRS = {".git", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", "__MACOSX", ".venv", "venv", "node_modules"}
MAX_SCANNED_FILES = 5000


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _walk(root: Path):
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            count += 1
            if count > MAX_SCANNED_FILES:
                return
            yield Path(dirpath) / name


def shadowed_module(name: str) -> str | None:
    """The library or grader module a file or folder called `name` would shadow, if any."""
    stem = name[:-3] if name.endswith(".py") else name
    if stem in SHADOW_NAMES or stem in sys.stdlib_module_names:
        return stem
    return None


def scan_submission(original: Path, graded: Path, project_root: Path) -> list[str]:
    """Findings about the files of a submission. `graded` is the prepared folder of <topic>.py files."""
    findings: list[str] = []
    original = Path(original)
    for item in sorted(Path(graded).iterdir()):
        module = shadowed_module(item.name)
        if module and item.name != "__init__.py":
            findings.append(f"files: {item.name} shadows the module {module!r}")
    root = original if original.is_dir() else Path(graded).parent / "unpacked"
    if not root.is_dir():
        return findings
    clone = (root / "exercises").is_dir() and ((root / "autograder").is_dir() or (root / "solutions").is_dir())
    for path in _walk(root):
        rel = path.relative_to(root)
        if path.is_symlink():
            findings.append(f"files: {rel} is a symbolic link")
            continue
        if path.name in HOOK_FILES or path.suffix == ".pth":
            if not (clone and (project_root / rel).is_file() and _same(path, project_root / rel)):
                findings.append(f"files: {rel} can change how Python or pytest starts")
            continue
        in_learners_part = not clone or rel.parts[0] == "exercises"
        if len(rel.parts) > 1 and in_learners_part and shadowed_module(rel.parts[-2]) and path.name == "__init__.py":
            findings.append(f"files: {rel.parent} is a package that shadows {rel.parts[-2]!r}")
        if not clone or rel.parts[0] == "exercises" or path.suffix not in COMPARED_SUFFIXES:
            continue
        counterpart = project_root / rel
        if not counterpart.is_file():
            if path.suffix == ".py":
                findings.append(f"files: {rel} was added outside exercises/")
        elif not _same(path, counterpart):
            findings.append(f"files: {rel} differs from the course's copy (changed outside exercises/)")
    return findings[:MAX_FINDINGS]


def _same(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_size == b.stat().st_size and _digest(a) == _digest(b)
    except OSError:
        return False


# ----------------------------------------------------------------------------- worker side
# (namespace label, module name, attribute path inside it): dictionaries whose entries are watched
WATCHED = (
    ("builtins", "builtins", ""),
    ("numpy", "numpy", ""),
    ("numpy.testing", "numpy.testing", ""),
    ("numpy.linalg", "numpy.linalg", ""),
    ("math", "math", ""),
    ("torch", "torch", ""),
    ("torch.Tensor", "torch", "Tensor"),
    ("torch.nn.Module", "torch.nn", "Module"),
    ("torch.nn.functional", "torch.nn.functional", ""),
    ("torch.testing", "torch.testing", ""),
    ("autograder.wire", "autograder.wire", ""),
    ("autograder.worker", "autograder.worker", ""),
    ("autograder.integrity", "autograder.integrity", ""),
)
WATCHED_SIGNALS = ("SIGTERM", "SIGINT", "SIGALRM", "SIGXCPU", "SIGHUP", "SIGUSR1", "SIGVTALRM", "SIGPROF")
# attributes libraries themselves rebind after import (caches, lazily built values)
VOLATILE = {"__warningregistry__", "_", "__builtins__", "_sentinel", "__cached__", "_tensor_classes", "_nested"}
TRUSTED_FILES = ("autograder/worker.py", "autograder/wire.py", "autograder/integrity.py")


class Watcher:
    """Snapshots of library namespaces, compared after the learner's code ran; findings are queued."""

    def __init__(self, submission: Path, allowed_roots: list[str] | tuple[str, ...] = (),
                 writable_roots: list[str] | tuple[str, ...] = (), forbidden_roots: list[str] | tuple[str, ...] = ()):
        self.submission = str(Path(submission).resolve())
        # the course checkout may itself lie under an allowed root such as /tmp (a CI clone): still an escape
        self.forbidden = tuple(str(r).rstrip("/") + "/" for r in forbidden_roots if r)
        self.writable = tuple(str(r).rstrip("/") + "/" for r in writable_roots if r) + (self.submission + "/",)
        self.allowed = tuple(str(r).rstrip("/") + "/" for r in allowed_roots if r) + self.writable
        self.snapshots: dict[str, tuple[object, dict]] = {}
        self.modules: dict[str, object] = {}
        self.homes: dict[str, str] = {}  # label -> the library's folder (its own rebinding is not patching)
        self.signals = self._signal_handlers()
        self.queue: list[str] = []
        self.seen: set[str] = set()
        self.kinds: dict[str, int] = {}
        self._in_hook = False

    # --- snapshots
    def snapshot(self) -> None:
        """Record every watched namespace that is loaded and not yet recorded."""
        for label, module_name, attr in WATCHED:
            if label in self.snapshots or module_name not in sys.modules:
                continue
            owner = sys.modules[module_name]
            target = getattr(owner, attr, None) if attr else owner
            if target is None:
                continue
            self.snapshots[label] = (target, dict(vars(target)))
            self.modules.setdefault(module_name, owner)
            top = sys.modules.get(module_name.split(".")[0])
            top_file = getattr(top, "__file__", None)
            if module_name.split(".")[0] not in ("builtins", "math", "autograder") and isinstance(top_file, str):
                self.homes[label] = os.path.dirname(os.path.abspath(top_file)) + os.sep

    def compare(self, restore: bool = True) -> None:
        """Queue a finding for each watched entry that changed or vanished; put the original back."""
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                self.report(f"runtime: sys.modules[{name!r}] was replaced")
                if restore:
                    sys.modules[name] = module
        for label, (target, baseline) in self.snapshots.items():
            current = vars(target)
            home = self.homes.get(label, "")
            for key, original in list(baseline.items()):
                if key in VOLATILE or current.get(key, _MISSING) is original:
                    continue
                now = current.get(key, _MISSING)
                if home and _defined_under(now, home):  # the library rebinding its own function (torch does)
                    baseline[key] = now
                    continue
                what = "deleted" if now is _MISSING else f"replaced by {_origin(now)}"
                self.report(f"runtime: {label}.{key} was {what} (monkeypatched after import)")
                if restore:
                    try:
                        setattr(target, key, original)
                    except (AttributeError, TypeError):
                        pass
        handlers = self._signal_handlers()
        for name, handler in handlers.items():
            if handler != self.signals.get(name):
                what = "SIG_IGN: ignored" if handler == signal.SIG_IGN else _origin(handler)
                self.report(f"runtime: a handler for {name} was installed ({what})")
                if restore:
                    try:
                        signal.signal(getattr(signal, name), self.signals[name])
                    except (OSError, ValueError, TypeError):
                        pass

    @staticmethod
    def _signal_handlers() -> dict:
        out = {}
        for name in WATCHED_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                try:
                    out[name] = signal.getsignal(number)
                except (OSError, ValueError):
                    pass
        return out

    # --- findings
    def report(self, text: str, kind: str = "") -> None:
        """Queue a finding; each `kind` of repetitive finding (listing folders, signalling) is capped."""
        text = clean(text)[:MAX_FINDING_CHARS]
        if text in self.seen or len(self.seen) >= MAX_FINDINGS:
            return
        if kind:
            count = self.kinds.get(kind, 0) + 1
            self.kinds[kind] = count
            if count > MAX_PER_KIND:
                if count == MAX_PER_KIND + 1:
                    self.seen.add(f"more of: {kind}")
                    self.queue.append(f"{text.split(':')[0]}: more findings like the above omitted ({kind})")
                return
        self.seen.add(text)
        self.queue.append(text)

    def drain(self) -> list[str]:
        out, self.queue = self.queue, []
        return out

    # --- audit hook
    @contextlib.contextmanager
    def paused(self):
        """For the worker's own housekeeping (listing /proc to end stray processes)."""
        self._in_hook = True
        try:
            yield
        finally:
            self._in_hook = False

    def install_audit_hook(self) -> None:
        sys.addaudithook(self._audit)

    def _outside(self, path, writing: bool = False) -> str | None:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str) or not path:
            return None
        full = os.path.abspath(path)
        if self.forbidden and full.startswith(self.forbidden) and not full.startswith(self.submission + "/"):
            return full
        roots = self.writable if writing else self.allowed
        if full.startswith(roots) or full + "/" in roots or full in ("/dev/null", "/dev/urandom"):
            return None
        if full.startswith(("/proc/self/", "/dev/shm/", "/sys/devices/system/cpu/", "/dev/nvidia")):
            return None
        return full

    def _learner_caller(self) -> str:
        # frames: 0 this method, 1 _audit, 2 whoever called sys._getframe
        return _learner_caller_of(sys._getframe(2), self.submission + "/")

    def _audit(self, event: str, args: tuple) -> None:
        if self._in_hook:
            return
        self._in_hook = True
        try:
            if event == "open" and args:
                mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
                flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
                writing = any(c in mode for c in "wax+") or bool(flags & (os.O_WRONLY | os.O_RDWR))
                path = self._outside(args[0], writing)
                if path is not None:
                    verb = "write" if writing else "read"
                    self.report(f"escape: tried to {verb} {path} (outside the sandbox)")
            elif event == "import" and args and isinstance(args[0], str) and _is_grader_module(args[0]):
                self.report(f"runtime: tried to import the grader's module {args[0]}")
            elif event in ("os.listdir", "os.scandir") and args:
                path = self._outside(args[0])
                if path is not None:
                    self.report(f"escape: listed {path} (outside the sandbox)", kind="listing folders")
            elif event == "sys._getframe":
                where = self._learner_caller()
                if where:
                    self.report(f"runtime: inspected the call stack from {where} (sys._getframe)")
            elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn"):
                self.report(f"runtime: started a process ({event})")
            elif event == "os.fork":
                self.report("runtime: forked (os.fork)")
            elif event == "os.kill" and args and args[0] != os.getpid():
                self.report(f"runtime: sent signal {args[1]} to process {args[0]}", kind="signalling processes")
            elif event in ("socket.connect", "socket.bind"):
                self.report(f"escape: opened a network socket ({event})")
        except Exception:  # the hook must never break the learner's (or our) code
            pass
        finally:
            self._in_hook = False


GRADER_MODULES = ("autograder.checking", "autograder.expect", "autograder.plugin", "autograder.grading",
                  "autograder.student", "autograder.report", "autograder.cli", "autograder.checks", "autograder.sandbox",
                  "solutions", "pytest", "_pytest")


def _is_grader_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in GRADER_MODULES)


def _defined_under(value, folder: str) -> bool:
    code = getattr(value, "__code__", None)
    filename = getattr(code, "co_filename", None)
    return isinstance(filename, str) and os.path.abspath(filename).startswith(folder)


STACK_TOOLS = ("/inspect.py", "/traceback.py")


def _learner_caller_of(frame, submission: str) -> str:
    """'file.py:LINE' when `frame` (or the inspect/traceback call it sits in) was called from the submission."""
    for _ in range(4):
        if frame is None:
            return ""
        filename = frame.f_code.co_filename
        if filename.startswith(submission):
            return f"{Path(filename).name}:{frame.f_lineno}"
        if not filename.endswith(STACK_TOOLS):
            return ""
        frame = frame.f_back
    return ""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _origin(value) -> str:
    """A short, safe description of where a value comes from (never calls its __repr__)."""
    code = getattr(value, "__code__", None)
    if code is not None and isinstance(getattr(code, "co_filename", None), str):
        return f"{type(value).__name__} from {Path(code.co_filename).name}:{code.co_firstlineno}"
    if callable(value) and not isinstance(value, type):
        return f"a {type(value).__module__}.{type(value).__qualname__} object"
    return f"a {type(value).__qualname__}"


def clean(text, limit: int = 500) -> str:
    """Printable one-line text: invalid UTF-8 and control characters become '?' or spaces."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = str(text).encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    text = "".join(ch if ch.isprintable() else (" " if ch in "\t\r\n" else "?") for ch in text[: limit * 2])
    return text[:limit]
