# ruff: noqa
"""Adversarial submission 99_results_overwrite: rewrites the results store: every *.json it can find under /tmp and the grading folders, set to full marks.

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
import json

FAKE = json.dumps({"earned": 42, "possible": 42, "checks": []})


def _overwrite():
    for pattern in ("/tmp/autograder-battery-*/results/*.json", "/tmp/*/*.json", "/tmp/*.json", "/tmp/*/*/*.json",
                    "/tmp/*/*.db", "/tmp/*/*.sqlite"):
        for path in glob.glob(pattern):
            try:
                with open(path, "w") as f:
                    f.write(FAKE)
            except OSError:
                pass


_overwrite()


def roc_auc(y_true, y_score):
    _overwrite()
    return 0.0
