# ruff: noqa
"""Adversarial submission 22_system_exit_interrupt: raises SystemExit, KeyboardInterrupt and GeneratorExit, and calls sys.exit with a message.

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
import sys


def roc_auc(y_true, y_score):
    raise SystemExit(0)


def roc_curve(y_true, y_score):
    raise KeyboardInterrupt


def confusion_matrix(y_true, y_pred, num_classes=None):
    raise GeneratorExit


def recall_at_k(scores, relevant, k):
    sys.exit("all checks passed")
