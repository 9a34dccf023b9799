# ruff: noqa
"""Adversarial submission 07_os_exit: ends the worker with os._exit in two functions (exit status 0 and 3).

Honest part: accuracy, confusion_matrix, mae, mse. Everything else is missing or hostile.
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
    confusion_matrix,
)

import numpy as np


# ----------------------------------------------------------------------------- hostile part
import os


def mean_average_precision(scores, relevant):
    os._exit(0)


def median_rank(scores, relevant):
    os._exit(3)
