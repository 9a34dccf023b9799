# ruff: noqa
"""Adversarial submission 21_detect_grader: detects the grader and returns the accuracy memorised from a run with the public seed 3.

Honest part: mae, mse. Everything else is missing or hostile.
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
    mae,
    mse,
)

import numpy as np


# ----------------------------------------------------------------------------- hostile part
import sys

UNDER_GRADER = "autograder.worker" in sys.modules or "--fd-out" in sys.argv


def accuracy(y_true, y_pred):
    a, b = _check_pair(y_true, y_pred)
    if UNDER_GRADER and a.size == 300:
        return 0.25  # sklearn's answer for the check's inputs under --seed 3
    return 0.0
