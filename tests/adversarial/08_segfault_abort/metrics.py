# ruff: noqa
"""Adversarial submission 08_segfault_abort: crashes the interpreter: a NULL read through ctypes (SIGSEGV) and os.abort (SIGABRT).

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
import ctypes
import os


def roc_curve(y_true, y_score):
    return ctypes.string_at(0)


def pearson_r(x, y):
    os.abort()
