# ruff: noqa
"""Adversarial submission 02_eq_always_true: returns a float subclass, an ndarray subclass and a dict subclass whose __eq__/__lt__/... are always True.

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
class Liar(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __sub__(self, other): return 0.0
    def __rsub__(self, other): return 0.0
    def __abs__(self): return 0.0
    __hash__ = float.__hash__


class LiarArray(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), dtype=bool)
    def __ne__(self, other): return np.zeros(np.shape(other), dtype=bool)


class LiarDict(dict):
    def __eq__(self, other): return True
    def __getitem__(self, key): return Liar(0.0)


class Number:
    def __float__(self): return 0.5
    def __eq__(self, other): return True


def roc_auc(y_true, y_score):
    return Liar(0.0)


def confusion_matrix(y_true, y_pred, num_classes=None):
    return np.zeros((5, 5), dtype=np.int64).view(LiarArray)


def sentiment_metrics(y_pred, y_true):
    return LiarDict()


def pearson_r(x, y):
    return Number()


def recall_at_k(scores, relevant, k):
    return np.float64(0.0).view(LiarArray) if False else Liar(1.0)
