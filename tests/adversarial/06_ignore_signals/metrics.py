# ruff: noqa
"""Adversarial submission 06_ignore_signals: ignores SIGTERM/SIGINT/SIGALRM/SIGXCPU and cancels alarms and timers (what in-process timeouts rely on), then sleeps forever.

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
import signal
import time

for _name in ("SIGTERM", "SIGINT", "SIGALRM", "SIGXCPU", "SIGHUP", "SIGVTALRM", "SIGPROF"):
    signal.signal(getattr(signal, _name), signal.SIG_IGN)
signal.alarm(0)
signal.setitimer(signal.ITIMER_REAL, 0)


def mean_reciprocal_rank(scores, relevant):
    for _name in ("SIGTERM", "SIGINT", "SIGALRM"):
        signal.signal(getattr(signal, _name), lambda *a: None)
    signal.alarm(0)
    while True:
        try:
            time.sleep(1000)
        except BaseException:
            pass
