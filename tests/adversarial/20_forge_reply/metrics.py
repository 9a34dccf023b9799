# ruff: noqa
"""Adversarial submission 20_forge_reply: writes a forged reply (right id, chosen value) and garbage to the worker's reply pipe.

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

from autograder import wire


def _reply_fd():
    return int(sys.argv[sys.argv.index("--fd-out") + 1])


def _request_id():
    frame = sys._getframe(1)
    while frame is not None:
        header = frame.f_locals.get("header")
        if isinstance(header, dict) and "id" in header:
            return header["id"]
        frame = frame.f_back
    return 0


def roc_auc(y_true, y_score):
    wire.send(_reply_fd(), *wire.message({"id": _request_id(), "ok": True}, 0.75, with_value=True))
    return 0.5


def roc_curve(y_true, y_score):
    os.write(_reply_fd(), b"\x00\x00\x00\x00\x00\x00\x00\x05garbage")
    return 0.0


def pearson_r(x, y):
    os.write(_reply_fd(), b"\xff" * 8)  # a header length of 2**64 - 1
    return 0.0
