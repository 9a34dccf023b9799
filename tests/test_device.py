"""`--device auto|cpu|cuda`: resolved the same way by the grader, the lessons and the project's tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mmprep.device import resolve_device


def test_cpu_is_resolved_without_importing_torch():
    # a metrics-only grading run (the adversarial battery, nbgrader's kernels) must not pay torch's import
    code = "import sys; from mmprep.device import resolve_device; print(resolve_device(' CPU '), 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["cpu", "False"], done.stdout + done.stderr


def test_auto_and_bad_names():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    with pytest.raises(TypeError, match="device must be a string"):
        resolve_device(0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
