# ruff: noqa
"""Adversarial submission 04_wrong_types: returns bools, strings, lists, 0-d arrays and tuples of the wrong length where floats or arrays are due.

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
def roc_auc(y_true, y_score):
    return True


def pearson_r(x, y):
    return "0.6"


def confusion_matrix(y_true, y_pred, num_classes=None):
    return [[0] * 5 for _ in range(5)]


def precision_recall_f1(y_true, y_pred, average="binary", pos_label=1, zero_division=0.0):
    return (0.5, 0.5, 0.5, 0.5)


def recall_at_k(scores, relevant, k):
    return np.array([0.5], dtype=np.float16)


def median_rank(scores, relevant):
    return None
