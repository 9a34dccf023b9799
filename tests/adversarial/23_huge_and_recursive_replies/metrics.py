# ruff: noqa
"""Adversarial submission 23_huge_and_recursive_replies: returns a 36 MB array, a list that contains itself, an int beyond 64 bits and a dict of 100,000 keys.

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
def confusion_matrix(y_true, y_pred, num_classes=None):
    return np.zeros((6000, 6000), dtype=np.uint8)


def roc_curve(y_true, y_score):
    loop = []
    loop.append(loop)
    return loop


def recall_at_k(scores, relevant, k):
    return 2**70


def sentiment_metrics(y_pred, y_true):
    return {str(i): 0.0 for i in range(10**5)}
