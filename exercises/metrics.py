# Exercise generated from solutions/metrics.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""Evaluation metrics for multimodal models: classification, regression, MOSI-style sentiment, retrieval.

Everything takes NumPy arrays (or anything `np.asarray` accepts) and returns Python floats or
NumPy arrays. Conventions follow scikit-learn (classification), MMSA (sentiment) and VSE++
(retrieval); each docstring says which, because papers disagree and interviewers ask.

Bad input raises ValueError naming the argument. The `_check_*` helpers at the top are given:
call them at the start of your implementation.
"""

from __future__ import annotations

import numpy as np

AVERAGES = ("binary", "micro", "macro", "weighted", None)


# ----------------------------------------------------------------------------- given helpers
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


# ----------------------------------------------------------------------------- classification
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions equal to the label.

    y_true: (N,) labels; y_pred: (N,) predicted labels. Returns a float in [0, 1].
    """
    raise NotImplementedError('metrics: task accuracy — Share of predictions equal to the label')


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true label, predicted label) pairs.

    y_true, y_pred: (N,) integer labels in [0, C).
    num_classes:    C; None means 1 + the largest label seen in either array.
    Returns (C, C) int64: rows are true labels, columns predicted labels (as scikit-learn).
    Hint: np.bincount on `true * C + pred` counts every pair in one pass.
    """
    raise NotImplementedError('metrics: task confusion_matrix — Counts of (true label, predicted label) pairs')


def precision_recall_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    average: str | None = "binary",
    pos_label: int = 1,
    zero_division: float = 0.0,
):
    """Precision, recall and F1 with scikit-learn's semantics.

    y_true, y_pred: (N,) labels. The classes are the sorted union of both arrays.
    average: "binary" (scores of `pos_label` only; at most two classes),
             "micro" (global TP/FP/FN counts), "macro" (unweighted mean over classes),
             "weighted" (mean weighted by each class's support in y_true),
             None (per-class arrays, one entry per class in sorted order).
    zero_division: the value used where a ratio has a zero denominator.
    F1 is 2·TP / (2·TP + FP + FN) per class (equal to the harmonic mean where defined);
    macro/weighted F1 average the per-class F1s, not the averaged P and R.
    Returns (precision, recall, f1): floats, or three (C,) float arrays when average is None.
    """
    raise NotImplementedError("metrics: task precision_recall_f1 — Precision, recall and F1 with scikit-learn's semantics")


def roc_curve(y_true: np.ndarray, y_score: np.ndarray):
    """ROC curve as scikit-learn's `roc_curve(..., drop_intermediate=False)`.

    y_true:  (N,) labels in {0, 1}, both classes present.
    y_score: (N,) real scores; higher means "more positive".
    Returns (fpr, tpr, thresholds), each (K + 1,) float64 where K is the number of distinct
    scores: thresholds are the distinct scores in decreasing order preceded by +inf, and
    point i counts the samples with score >= thresholds[i] as positive (so fpr[0] = tpr[0] = 0).
    """
    raise NotImplementedError("metrics: task roc_curve — ROC curve as scikit-learn's `roc_curve(..., drop_intermediate=False)`")


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve for binary labels.

    y_true:  (N,) labels in {0, 1}, both classes present.
    y_score: (N,) real scores; higher means "more positive".
    Ties between a positive and a negative count 1/2 (as scikit-learn).
    Runs in O(N log N): use the rank-sum (Mann-Whitney U) identity, not an O(N^2) pair loop.
    Hint: AUC = (sum of positives' ranks - P(P+1)/2) / (P·N), with tied scores sharing
    the average of their ranks.
    """
    raise NotImplementedError('metrics: task roc_auc — Area under the ROC curve for binary labels')


# ----------------------------------------------------------------------------- regression
def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error. y_true, y_pred: (N,) real values."""
    raise NotImplementedError('metrics: task mae — Mean absolute error. y_true, y_pred: (N,) real values')


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error. y_true, y_pred: (N,) real values."""
    raise NotImplementedError('metrics: task mse — Mean squared error. y_true, y_pred: (N,) real values')


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two (N,) arrays, N >= 2.

    Undefined when either array is constant: raise ValueError then (scipy returns NaN).
    Hint: centre both arrays before taking the dot product; it keeps precision.
    """
    raise NotImplementedError('metrics: task pearson_r — Pearson correlation coefficient of two (N,) arrays, N >= 2')


# ----------------------------------------------------------------------------- sentiment (MMSA)
def sentiment_metrics(y_pred: np.ndarray, y_true: np.ndarray) -> dict:
    """CMU-MOSI / MOSEI regression metrics in MMSA's conventions (note: predictions first).

    y_pred, y_true: (N,) sentiment scores, labels in [-3, 3].
    Returns a dict of floats with keys:
      has0_acc2, has0_f1  – binary "non-negative vs negative": class = (score >= 0), zeros kept;
      non0_acc2, non0_f1  – zero labels dropped, class = (score > 0); NaN when every label is 0;
      acc5                – clip both to [-2, 2], np.round (half to even), share equal;
      acc7                – clip both to [-3, 3], np.round, share equal;
      mae                 – mean absolute error;
      corr                – Pearson r; NaN when either side is constant.
    F1 scores are scikit-learn's average="weighted". No rounding to 4 decimals.
    """
    raise NotImplementedError("metrics: task sentiment_metrics — CMU-MOSI / MOSEI regression metrics in MMSA's conventions (note: predictions first)")


# ----------------------------------------------------------------------------- retrieval
def _best_relevant_rank(scores: np.ndarray, relevant: np.ndarray, chunk: int = 256) -> np.ndarray:
    """0-based rank of each query's best-ranked relevant item: (Q,) int64.

    An item's rank counts the items scored strictly higher plus the tied items with a lower
    index. Works on blocks of `chunk` queries so memory stays O(chunk · N).
    """
    raise NotImplementedError("metrics: task _best_relevant_rank — 0-based rank of each query's best-ranked relevant item: (Q,) int64")


def recall_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Share of queries with at least one relevant item among their top k.

    scores:   (Q, N) similarity of each query to each item; higher is better.
    relevant: (Q, N) bool; every query has at least one relevant item
              (image→text retrieval on COCO/Flickr has five relevant captions per image).
    k:        >= 1; k > N counts every query as a hit.
    Rank convention: items scored strictly higher, plus tied items with a lower index.
    Memory must stay bounded on a 5,000 × 25,000 matrix: no full argsort of every row needed.
    """
    raise NotImplementedError('metrics: task recall_at_k — Share of queries with at least one relevant item among their top k')


def mean_reciprocal_rank(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean over queries of 1 / (1 + 0-based rank of the best-ranked relevant item).

    scores, relevant: (Q, N) as in `recall_at_k`, with the same rank convention.
    """
    raise NotImplementedError('metrics: task mean_reciprocal_rank — Mean over queries of 1 / (1 + 0-based rank of the best-ranked relevant item)')


def median_rank(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Median rank as VSE++ reports it: floor(median of the 0-based best ranks) + 1.

    scores, relevant: (Q, N) as in `recall_at_k`. The result is 1 when most queries hit at top 1.
    """
    raise NotImplementedError('metrics: task median_rank — Median rank as VSE++ reports it: floor(median of the 0-based best ranks) + 1')


def mean_average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean over queries of average precision over the full ranking.

    scores, relevant: (Q, N) as in `recall_at_k`; ties broken by lower index.
    AP = (1/R) · sum over relevant items at 1-based position p of (relevant items in top p) / p,
    where R is the query's number of relevant items.
    """
    raise NotImplementedError('metrics: task mean_average_precision — Mean over queries of average precision over the full ranking')
