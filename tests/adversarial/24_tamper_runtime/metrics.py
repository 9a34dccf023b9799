# ruff: noqa
"""Adversarial submission 24_tamper_runtime: overwrites the worker's own runtime (autograder/wire.py, worker.py, probes) and the course checkout's checks.

Honest part: accuracy, mae, mse. Everything else is missing or hostile.
"""

from __future__ import annotations

# the honest part: unchanged reference code, copied in as _given.py when the battery runs
from ._given import (  # noqa: F401
    AVERAGES,
    _check_1d,
    _check_pair,
    _check_binary,
    _check_retrieval,
    _check_k,
    accuracy,
    mae,
    mse,
)

import numpy as np


# ----------------------------------------------------------------------------- hostile part
import os
import sys

PAYLOAD = "raise SystemExit('tampered')\n"


def _tamper():
    targets = []
    for name in ("autograder.wire", "autograder.worker", "autograder.integrity", "autograder.probes"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            targets.append(module.__file__)
    targets += ["/work/main/autograder/checking.py", "/work/main/autograder/checks/test_metrics.py",
                "/work/main/autograder/expect.py"]
    for path in targets:
        try:
            with open(path, "w") as f:
                f.write(PAYLOAD)
        except OSError:
            pass


_tamper()


def roc_auc(y_true, y_score):
    _tamper()
    return 0.0
