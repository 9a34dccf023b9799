# ruff: noqa
"""Adversarial submission 01_allclose_patch: patches torch.allclose, numpy.allclose/isclose/array_equal, Tensor.__eq__ and math.isclose to always agree.

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
import math
import torch

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: True
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
math.isclose = lambda *a, **k: True


def roc_auc(y_true, y_score):
    return torch.tensor(0.0)  # a tensor whose __eq__ now says True to everything


def pearson_r(x, y):
    return 0.0
