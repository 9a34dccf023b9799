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
import os
import sys
import traceback
from pathlib import Path

from autograder import wire

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
        "type": type(exc).__name__,
        "bases": bases,
        "message": text[:500],
        "where": _where(exc.__traceback__, directory),
    }


class Runner:
    """Executes requests against one submission package."""

    def __init__(self, directory: Path, package: str = PACKAGE, device: str = "cpu"):
        self.directory = Path(directory).resolve()
        self.package = package
        self.device = device
        self.modules: dict[str, object] = {}
        load_submission_package(self.directory, package)

    def topic_module(self, topic: str):
        if topic not in self.modules:
            if not (self.directory / f"{topic}.py").exists():
                raise ImportError(f"the submission has no {topic}.py")
            self.modules[topic] = importlib.import_module(f"{self.package}.{topic}")
        return self.modules[topic]

    def _seed(self, seed) -> None:
        if seed is None:
            return
        import random

        import numpy as np

        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.manual_seed(seed)

    def handle(self, header: dict, buffers: list[bytes]) -> tuple[dict, list[bytes]]:
        """Answer one request; never raises for anything the learner's code does."""
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
            return wire.message({**reply, "ok": True}, value, with_value=True)
        except AttributeError as exc:
            if f"'{name.split('.')[-1]}'" in str(exc) and op == "call":
                error = _describe_error(exc, str(self.directory), kind="missing")
                error["message"] = f"{topic}.py does not define {name}"
                return wire.message({**reply, "ok": False, "error": error})
            return wire.message({**reply, "ok": False, "error": _describe_error(exc, str(self.directory))})
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from learner code too
            return wire.message({**reply, "ok": False, "error": _describe_error(exc, str(self.directory))})


def _apply_limits(memory_mb: int, output_mb: int) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if output_mb:
        resource.setrlimit(resource.RLIMIT_FSIZE, (output_mb * 2**20, output_mb * 2**20))
    if memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autograder.worker")
    parser.add_argument("--submission", required=True, type=Path)
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--output-mb", type=int, default=16)
    args = parser.parse_args(argv)

    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _apply_limits(args.memory_mb, args.output_mb)

    # Import the libraries before the submission is on sys.path, so a numpy.py in it cannot shadow them.
    import numpy  # noqa: F401

    try:
        import torch

        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    except ImportError:
        pass
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
                runner = Runner(args.submission, device=args.device)
            except BaseException as exc:
                error = _describe_error(exc, str(args.submission), kind="import")
                error["message"] = f"could not import the submission: {error['type']}: {error['message']}"
                wire.send(args.fd_out, *wire.message({"id": header.get("id"), "ok": False, "error": error}))
                continue
        reply, reply_buffers = runner.handle(header, buffers)
        wire.send(args.fd_out, reply, reply_buffers)


if __name__ == "__main__":
    main()
