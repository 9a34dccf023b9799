# ruff: noqa
"""Adversarial submission 09_memory_hog: allocates memory without bound (64 MiB at a time, touched) in sentiment_metrics.

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
def sentiment_metrics(y_pred, y_true):
    hoard = []
    for _ in range(200):  # up to 12.5 GiB
        hoard.append(np.ones(2**23))  # 64 MiB, written, so it is resident
    return {}
