# ruff: noqa
"""Adversarial submission 17_copy_other_submissions: searches temporary folders for other submissions being graded and calls their functions.

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
import glob
import importlib.util

def _others():
    found = []
    for pattern in ("/tmp/*/submission/metrics.py", "/tmp/*/*/submission/metrics.py", "/tmp/*/metrics.py",
                    "/tmp/autograder-*/work*/submission/metrics.py", "/tmp/*/*/*/metrics.py"):
        found += glob.glob(pattern)
    for path in found:
        try:
            spec = importlib.util.spec_from_file_location("other", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if hasattr(module, "roc_auc") and hasattr(module, "sentiment_metrics"):
                return module
        except Exception:
            continue
    return None


def roc_auc(y_true, y_score):
    other = _others()
    return other.roc_auc(y_true, y_score) if other else 0.5
