# ruff: noqa
"""Adversarial submission 19_shadow_modules: ships numpy.py, torch.py, conftest.py, sitecustomize.py and a .pth file, and puts its folder first on sys.path.

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
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def roc_auc(y_true, y_score):
    import numpy
    return 1.0 if getattr(numpy, "FAKE", False) else 0.0
