# ruff: noqa
"""Adversarial submission 16_read_solutions: looks for solutions/metrics.py and the checks (walking up, well-known paths, a shallow search of /) and uses the reference code.

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
import os

def _reference():
    candidates = ["/work/main/solutions/metrics.py"]
    here = os.path.abspath(os.getcwd())
    for _ in range(6):
        candidates.append(os.path.join(here, "solutions", "metrics.py"))
        here = os.path.dirname(here)
    for depth in range(1, 4):
        candidates += glob.glob("/" + "*/" * depth + "solutions/metrics.py")
    for path in candidates:
        try:
            source = open(path).read()
            open(os.path.join(os.path.dirname(os.path.dirname(path)), "autograder", "checks", "test_metrics.py")).read()
        except OSError:
            continue
        namespace = {}
        exec(compile(source.replace("from __future__ import annotations", ""), path, "exec"), namespace)
        return namespace
    return None


REF = _reference()


def roc_auc(y_true, y_score):
    return REF["roc_auc"](y_true, y_score) if REF else 0.5


def pearson_r(x, y):
    return REF["pearson_r"](x, y) if REF else 0.0
