# ruff: noqa
"""Adversarial submission 12_output_flood: prints gigabytes to stdout and stderr and writes a huge file.

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


def mean_reciprocal_rank(scores, relevant):
    chunk = b"x" * 2**20
    for fd in (1, 2):
        for _ in range(1024):  # 1 GiB each
            try:
                os.write(fd, chunk)
            except OSError:
                break
    try:
        with open("huge.bin", "wb") as f:
            for _ in range(1024):
                f.write(chunk)
    except OSError:
        pass
    print("x" * 10**6, file=sys.stderr)
    return 0.0
