# ruff: noqa
"""Adversarial submission 03_nan_and_inf: returns NaN and inf, hoping a tolerance comparison with NaN passes.

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
    return float("nan")


def pearson_r(x, y):
    return float("inf")


def roc_curve(y_true, y_score):
    nan = np.full(len(y_score) + 1, np.nan)
    return nan, nan, nan


def sentiment_metrics(y_pred, y_true):
    keys = ("has0_acc2", "has0_f1", "non0_acc2", "non0_f1", "acc5", "acc7", "mae", "corr")
    return {k: float("nan") for k in keys}


def recall_at_k(scores, relevant, k):
    return np.float64("nan")


def mean_average_precision(scores, relevant):
    return np.float32("nan")
