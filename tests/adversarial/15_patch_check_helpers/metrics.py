# ruff: noqa
"""Adversarial submission 15_patch_check_helpers: patches the checks' helpers (autograder.checking/expect), pytest and unittest, and plants fake modules in sys.modules.

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
import types
import unittest

for path in ("/work/main", "../..", "../../.."):
    if path not in sys.path:
        sys.path.insert(0, path)
for name in ("autograder.checking", "autograder.expect", "autograder.plugin", "pytest"):
    try:
        module = __import__(name, fromlist=["x"])
    except Exception:
        module = types.ModuleType(name)
        sys.modules[name] = module
    for attr in ("close", "equal", "raises_value_error", "approx", "fail"):
        setattr(module, attr, lambda *a, **k: True)
unittest.TestCase.assertEqual = lambda *a, **k: None
unittest.TestCase.assertAlmostEqual = lambda *a, **k: None


def roc_auc(y_true, y_score):
    return 0.0
