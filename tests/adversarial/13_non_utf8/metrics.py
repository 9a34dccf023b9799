# ruff: noqa
"""Adversarial submission 13_non_utf8: prints invalid UTF-8 and terminal escapes, raises errors whose messages and class names hold lone surrogates, NUL and newlines.

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

os.write(1, b"\xff\xfe\x00 not utf-8 \x1b[31m red \x1b[2J")
try:
    print("\udcff")
except UnicodeEncodeError:
    pass


def mean_average_precision(scores, relevant):
    raise ValueError("\udcff\x00\x1b[2J" + "\u00e9" * 2000 + "\nsecond line")


def median_rank(scores, relevant):
    raise type("Weird\nName\x00\udcff", (Exception,), {})("\ud800")


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no")


def pearson_r(x, y):
    raise Unprintable()
