# ruff: noqa
"""Adversarial submission 11_daemon: leaves a daemon behind (double fork + setsid) that keeps running and writing.

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


def mean_average_precision(scores, relevant):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            stop = time.monotonic() + 120
            while time.monotonic() < stop:
                try:
                    with open("daemon.txt", "a") as f:
                        f.write("still here\n")
                except OSError:
                    pass
                time.sleep(0.05)
        os._exit(0)
    os.wait()
    return 0.0
