# ruff: noqa
"""Adversarial submission 14_frame_inspection: walks the call stack (sys._getframe, inspect.stack) and gc for the expected value.

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
import gc
import inspect
import sys

NAMES = ("expected", "want", "reference", "answer", "target", "truth")


def _find():
    frame = sys._getframe(1)
    while frame is not None:
        for key, value in frame.f_locals.items():
            if key in NAMES and isinstance(value, float):
                return value
        frame = frame.f_back
    for info in inspect.stack():
        for key, value in info.frame.f_locals.items():
            if key in NAMES and isinstance(value, float):
                return value
    for obj in gc.get_objects():
        if isinstance(obj, dict) and isinstance(obj.get("expected"), float):
            return obj["expected"]
    return 0.123


def roc_auc(y_true, y_score):
    return _find()


def pearson_r(x, y):
    return _find()
