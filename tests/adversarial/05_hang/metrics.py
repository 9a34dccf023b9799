# ruff: noqa
"""Adversarial submission 05_hang: never returns (a busy loop) in median_rank.

Honest part: accuracy, mae, mse. Everything else is missing or hostile.
"""

from __future__ import annotations

import numpy as np

AVERAGES = ("binary", "micro", "macro", "weighted", None)

def _check_1d(name: str, x, dtype=None) -> np.ndarray:
    """Return `x` as a non-empty 1-D array without NaN; ValueError naming `name` otherwise."""
    arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr

def _check_pair(y_true, y_other, other_name: str = "y_pred", dtype=None):
    """Check two 1-D arrays of the same length; return them as arrays."""
    a = _check_1d("y_true", y_true, dtype)
    b = _check_1d(other_name, y_other, dtype)
    if a.shape != b.shape:
        raise ValueError(f"y_true and {other_name} differ in length: {a.shape[0]} vs {b.shape[0]}")
    return a, b

def _check_binary(name: str, y: np.ndarray) -> np.ndarray:
    """Check labels are in {0, 1} and both classes are present; return them as int64."""
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must be binary labels in {{0, 1}}, got values {values[:5].tolist()}")
    if values.size < 2:
        raise ValueError(f"{name} holds only class {int(values[0])}: both classes must be present")
    return y.astype(np.int64)

def _check_retrieval(scores, relevant):
    """Check a (Q, N) score matrix and its (Q, N) boolean relevance matrix."""
    s = np.asarray(scores)  # no float64 copy: a 5,000 x 25,000 float32 matrix stays as it is
    if s.dtype.kind not in "biuf":
        raise ValueError(f"scores must hold numbers, got dtype {s.dtype}")
    if s.dtype.kind != "f":
        s = s.astype(np.float64)  # negating unsigned ints would wrap around
    r = np.asarray(relevant)
    if s.ndim != 2 or s.size == 0:
        raise ValueError(f"scores must be a non-empty (Q, N) matrix, got shape {s.shape}")
    if r.shape != s.shape:
        raise ValueError(f"relevant must have the shape of scores {s.shape}, got {r.shape}")
    if r.dtype != np.bool_:
        if not np.isin(r, (0, 1)).all():
            raise ValueError("relevant must be boolean (or 0/1)")
        r = r.astype(bool)
    if s.dtype.kind == "f" and np.isnan(s).any():
        raise ValueError("scores contains NaN")
    if not r.any(axis=1).all():
        q = int(np.flatnonzero(~r.any(axis=1))[0])
        raise ValueError(f"query {q} has no relevant item: every row of relevant needs one")
    return s, r

def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return int(k)

def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions equal to the label.

    y_true: (N,) labels; y_pred: (N,) predicted labels. Returns a float in [0, 1].
    """
    a, b = _check_pair(y_true, y_pred)
    return float(np.mean(a == b))

def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error. y_true, y_pred: (N,) real values."""
    a, b = _check_pair(y_true, y_pred, dtype=np.float64)
    return float(np.mean(np.abs(a - b)))

def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error. y_true, y_pred: (N,) real values."""
    a, b = _check_pair(y_true, y_pred, dtype=np.float64)
    return float(np.mean((a - b) ** 2))


# ----------------------------------------------------------------------------- hostile part
def median_rank(scores, relevant):
    while True:
        pass
