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
    ### BEGIN SOLUTION
    ### HINT 1
    # Accuracy is the share of positions where y_pred equals y_true (not the error rate).
    # Call the given _check_pair first: it rejects empty or mismatched input (np.mean of nothing is NaN).
    ### HINT 2
    # 1. a, b = _check_pair(y_true, y_pred): two (N,) arrays
    # 2. a == b is an (N,) bool array; its mean is the share of matches (divide by N, no //)
    # 3. return it as a Python float
    ### HINT 3
    # return float(np.mean(a == b))
    ### END HINTS
    a, b = _check_pair(y_true, y_pred)
    return float(np.mean(a == b))
    ### END SOLUTION


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true label, predicted label) pairs.

    y_true, y_pred: (N,) integer labels in [0, C).
    num_classes:    C; None means 1 + the largest label seen in either array.
    Returns (C, C) int64: rows are true labels, columns predicted labels (as scikit-learn).
    Hint: np.bincount on `true * C + pred` counts every pair in one pass.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # Entry [i, j] counts samples with true label i predicted as j: rows true, columns predicted.
    # Traps: C = 1 + the largest label in EITHER array (not the number of distinct labels); a given
    # num_classes sets the size, and a label >= num_classes raises ValueError.
    ### HINT 2
    # 1. _check_pair; labels must be whole and >= 0; cast both to int64
    # 2. seen = 1 + max(a.max(), b.max()); C = num_classes if given (ValueError if seen > C) else seen
    # 3. each pair (i, j) becomes one flat index i*C + j in [0, C*C)
    # 4. count the flat indices, reshape to (C, C), int64
    ### HINT 3
    # np.bincount(a * c + b, minlength=c * c).reshape(c, c)
    ### END HINTS
    a, b = _check_pair(y_true, y_pred)
    if a.dtype.kind == "f" and (np.any(a != np.round(a)) or np.any(b != np.round(b))):
        raise ValueError("labels must be integers")
    a, b = a.astype(np.int64), b.astype(np.int64)
    if a.min() < 0 or b.min() < 0:
        raise ValueError("labels must be non-negative")
    seen = int(max(a.max(), b.max())) + 1
    if num_classes is None:
        num_classes = seen
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    elif seen > num_classes:
        raise ValueError(f"label {seen - 1} is out of range for num_classes={num_classes}")
    c = int(num_classes)
    return np.bincount(a * c + b, minlength=c * c).reshape(c, c).astype(np.int64)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # Per class c: TP = true c & pred c, FP = pred c & true not c, FN = true c & pred not c.
    # The traps are in the averaging: micro POOLS the counts first; macro/weighted average the per-class
    # F1s (not F1 of the averaged P and R); weighted uses support in y_true; binary scores pos_label only.
    ### HINT 2
    # 1. classes = np.union1d(y_true, y_pred): a class that is only predicted still counts
    # 2. binary: at most 2 classes, pos_label among them; then classes = [pos_label]
    # 3. tp, fp, fn: (C,) float arrays; for micro, sum each to a single count
    # 4. P = tp/(tp+fp), R = tp/(tp+fn), F1 = 2tp/(2tp+fp+fn); a 0 denominator gives zero_division
    # 5. None -> the arrays; weighted -> dot with support / support.sum(); else the mean of each
    ### HINT 3
    # np.divide(num, den, out=np.full(num.shape, float(zero_division)), where=den > 0)
    # f1 = ratio(2 * tp, 2 * tp + fp + fn);  weights = (tp + fn) / (tp + fn).sum()
    ### END HINTS
    a, b = _check_pair(y_true, y_pred)
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    if not isinstance(zero_division, (int, float)) or isinstance(zero_division, bool) or np.isnan(zero_division):
        raise ValueError(f"zero_division must be a number, got {zero_division!r}")
    classes = np.union1d(a, b)

    def ratio(num, den):
        num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
        out = np.full(num.shape, float(zero_division))
        np.divide(num, den, out=out, where=den > 0)
        return out

    if average == "binary":
        if classes.size > 2:
            raise ValueError(f"average='binary' needs at most two classes, got {classes.tolist()}")
        if classes.size == 2 and pos_label not in classes:
            raise ValueError(f"pos_label={pos_label!r} is not one of the classes {classes.tolist()}")
        classes = np.array([pos_label])
    tp = np.array([np.sum((a == c) & (b == c)) for c in classes], dtype=np.float64)
    fp = np.array([np.sum((a != c) & (b == c)) for c in classes], dtype=np.float64)
    fn = np.array([np.sum((a == c) & (b != c)) for c in classes], dtype=np.float64)
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    if average is None:
        return precision, recall, f1
    if average == "weighted":
        support = tp + fn
        if support.sum() == 0:
            return float(zero_division), float(zero_division), float(zero_division)
        w = support / support.sum()
        return float(precision @ w), float(recall @ w), float(f1 @ w)
    return float(precision.mean()), float(recall.mean()), float(f1.mean())
    ### END SOLUTION


def roc_curve(y_true: np.ndarray, y_score: np.ndarray):
    """ROC curve as scikit-learn's `roc_curve(..., drop_intermediate=False)`.

    y_true:  (N,) labels in {0, 1}, both classes present.
    y_score: (N,) real scores; higher means "more positive".
    Returns (fpr, tpr, thresholds), each (K + 1,) float64 where K is the number of distinct
    scores: thresholds are the distinct scores in decreasing order preceded by +inf, and
    point i counts the samples with score >= thresholds[i] as positive (so fpr[0] = tpr[0] = 0).
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # Lower a threshold through the scores; at each one, samples with score >= it count as positive.
    # Traps: tied scores make ONE point (cut only at the end of a tie run); the curve starts at (0, 0)
    # with threshold +inf (not max + 1); fpr divides by the number of negatives, not by N.
    ### HINT 2
    # 1. sort by decreasing score (stable), labels alongside
    # 2. ends = the last index of each run of equal scores (where np.diff != 0, plus N - 1)
    # 3. tps = cumsum(labels)[ends]; fps = (ends + 1) - tps
    # 4. fpr = fps / fps[-1], tpr = tps / tps[-1], thresholds = sorted scores at ends;
    #    prepend 0, 0 and +inf
    ### HINT 3
    # ends = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    # fpr = np.r_[0.0, fps / fps[-1]];  thresholds = np.r_[np.inf, s_sorted[ends]]
    ### END HINTS
    y, s = _check_pair(y_true, y_score, "y_score", dtype=np.float64)
    y = _check_binary("y_true", y)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # last index of each run of equal scores: the cut points of the curve
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[ends]
    fps = (ends + 1) - tps
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    thresholds = np.r_[np.inf, s_sorted[ends]]
    return fpr, tpr, thresholds
    ### END SOLUTION


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve for binary labels.

    y_true:  (N,) labels in {0, 1}, both classes present.
    y_score: (N,) real scores; higher means "more positive".
    Ties between a positive and a negative count 1/2 (as scikit-learn).
    Runs in O(N log N): use the rank-sum (Mann-Whitney U) identity, not an O(N^2) pair loop.
    Hint: AUC = (sum of positives' ranks - P(P+1)/2) / (P·N), with tied scores sharing
    the average of their ranks.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # AUC = P(a random positive scores above a random negative), a tie counting 1/2: the Mann-Whitney U.
    # Traps: ranks are 1-BASED from the LOWEST score, tied scores share their average rank, and the
    # offset subtracted is P(P+1)/2.
    ### HINT 2
    # 1. sort scores ascending (stable), labels alongside
    # 2. tie groups: starts = 0 and every index where the sorted score changes; ends = next start (or N)
    # 3. a group's average 1-based rank is (start + end + 1) / 2
    # 4. rank_sum = sum over groups of (average rank × positives in the group)
    # 5. AUC = (rank_sum - P(P+1)/2) / (P · N_neg)
    ### HINT 3
    # mean_rank = (starts + ends + 1) / 2.0;  positives_per_group = np.add.reduceat(y_sorted, starts)
    ### END HINTS
    y, s = _check_pair(y_true, y_score, "y_score", dtype=np.float64)
    y = _check_binary("y_true", y)
    order = np.argsort(s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted)) + 1]
    ends = np.r_[starts[1:], s_sorted.size]
    mean_rank = (starts + ends + 1) / 2.0  # 1-based average rank of each tie group
    positives_per_group = np.add.reduceat(y_sorted, starts)
    n_pos = float(y_sorted.sum())
    n_neg = float(y_sorted.size) - n_pos
    rank_sum = float(mean_rank @ positives_per_group)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    ### END SOLUTION


# ----------------------------------------------------------------------------- regression
def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error. y_true, y_pred: (N,) real values."""
    ### BEGIN SOLUTION
    ### HINT 1
    # The mean of |y_true - y_pred|: without the absolute value over- and under-predictions cancel.
    # Divide by N (a mean, not a sample variance's N - 1); keep _check_pair: (N,) vs (N, 1) must raise.
    ### HINT 2
    # 1. a, b = _check_pair(y_true, y_pred, dtype=np.float64): (N,) float64 each
    # 2. the (N,) absolute differences
    # 3. their mean, as a Python float
    ### HINT 3
    # float(np.mean(np.abs(a - b)))
    ### END HINTS
    a, b = _check_pair(y_true, y_pred, dtype=np.float64)
    return float(np.mean(np.abs(a - b)))
    ### END SOLUTION


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error. y_true, y_pred: (N,) real values."""
    ### BEGIN SOLUTION
    ### HINT 1
    # The mean of the SQUARED errors: not its root (RMSE), not the square of the mean error, not |error|.
    # Keep _check_pair: it rejects NaN and mismatched shapes.
    ### HINT 2
    # 1. a, b = _check_pair(y_true, y_pred, dtype=np.float64): (N,) float64 each
    # 2. square each difference, (N,)
    # 3. average, as a Python float
    ### HINT 3
    # float(np.mean((a - b) ** 2))
    ### END HINTS
    a, b = _check_pair(y_true, y_pred, dtype=np.float64)
    return float(np.mean((a - b) ** 2))
    ### END SOLUTION


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation coefficient of two (N,) arrays, N >= 2.

    Undefined when either array is constant: raise ValueError then (scipy returns NaN).
    Hint: centre both arrays before taking the dot product; it keeps precision.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # r = cov(x, y) / (std x · std y), i.e. the cosine of the CENTRED arrays. Traps: no centring (plain
    # cosine), mixing N - 1 and N divisors, the one-pass sum(xy) - N·x̄·ȳ formula (cancels badly), and
    # checking only one input for being constant: either one makes r undefined (ValueError).
    ### HINT 2
    # 1. _check_pair(x, y, "y", dtype=np.float64); N >= 2
    # 2. centre both: a - a.mean(), b - b.mean()
    # 3. norm = sqrt((a·a)(b·b)); ValueError when it is 0
    # 4. r = (a·b) / norm, clipped to [-1, 1] against rounding
    ### HINT 3
    # a, b = a - a.mean(), b - b.mean();  r = (a @ b) / np.sqrt((a @ a) * (b @ b))
    ### END HINTS
    a, b = _check_pair(x, y, "y", dtype=np.float64)
    if a.size < 2:
        raise ValueError("pearson_r needs at least two points")
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a @ a) * (b @ b))
    if norm == 0:
        raise ValueError("pearson_r is undefined when an input is constant")
    return float(np.clip((a @ b) / norm, -1.0, 1.0))
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # MMSA's conventions, each one a trap: predictions come FIRST; Has0 classes are score >= 0 (zeros kept),
    # Non0 drops zero labels and uses > 0; acc5/acc7 clip, then np.round (half to even, not floor); F1 is
    # the weighted F1; corr is NaN (not an exception) when either side is constant.
    ### HINT 2
    # 1. p (predictions), t (labels): checked (N,) float64 arrays
    # 2. has0: classes t >= 0 and p >= 0 -> accuracy, and weighted F1 via precision_recall_f1
    # 3. non0: keep = t != 0; classes t[keep] > 0 and p[keep] > 0; both NaN when nothing is kept
    # 4. acc5 / acc7: np.round(np.clip(., -2, 2)) / np.round(np.clip(., -3, 3)) on both, share equal
    # 5. mae; corr = NaN if np.ptp(p) == 0 or np.ptp(t) == 0, else pearson_r(p, t)
    ### HINT 3
    # "acc7": float(np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3))))
    # f1 = precision_recall_f1(truth.astype(int), pred.astype(int), average="weighted")[2]
    ### END HINTS
    p, t = _check_pair(y_true=y_pred, y_other=y_true, other_name="y_true", dtype=np.float64)

    def weighted_f1(truth, pred):
        return precision_recall_f1(truth.astype(int), pred.astype(int), average="weighted")[2]

    has0_t, has0_p = t >= 0, p >= 0
    nonzero = t != 0
    if nonzero.any():
        non0_t, non0_p = t[nonzero] > 0, p[nonzero] > 0
        non0_acc2, non0_f1 = float(np.mean(non0_t == non0_p)), weighted_f1(non0_t, non0_p)
    else:
        non0_acc2 = non0_f1 = float("nan")
    constant = np.ptp(p) == 0 or np.ptp(t) == 0
    return {
        "has0_acc2": float(np.mean(has0_t == has0_p)),
        "has0_f1": weighted_f1(has0_t, has0_p),
        "non0_acc2": non0_acc2,
        "non0_f1": non0_f1,
        "acc5": float(np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(t, -2, 2)))),
        "acc7": float(np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3)))),
        "mae": float(np.mean(np.abs(p - t))),
        "corr": float("nan") if constant else pearson_r(p, t),
    }
    ### END SOLUTION


# ----------------------------------------------------------------------------- retrieval
def _best_relevant_rank(scores: np.ndarray, relevant: np.ndarray, chunk: int = 256) -> np.ndarray:
    """0-based rank of each query's best-ranked relevant item: (Q,) int64.

    An item's rank counts the items scored strictly higher plus the tied items with a lower
    index. Works on blocks of `chunk` queries so memory stays O(chunk · N).
    """
    ### BEGIN SOLUTION
    s, r = _check_retrieval(scores, relevant)
    q, n = s.shape
    cols = np.arange(n)
    ranks = np.empty(q, dtype=np.int64)
    for lo in range(0, q, chunk):
        sb, rb = s[lo : lo + chunk], r[lo : lo + chunk]
        best = np.where(rb, sb, -np.inf).max(axis=1, keepdims=True)
        # lowest-index relevant item among those with the best score
        j_best = np.argmax(rb & (sb == best), axis=1)[:, None]
        ranks[lo : lo + chunk] = (sb > best).sum(axis=1) + ((sb == best) & (cols < j_best)).sum(axis=1)
    return ranks
    ### END SOLUTION


def recall_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Share of queries with at least one relevant item among their top k.

    scores:   (Q, N) similarity of each query to each item; higher is better.
    relevant: (Q, N) bool; every query has at least one relevant item
              (image→text retrieval on COCO/Flickr has five relevant captions per image).
    k:        >= 1; k > N counts every query as a hit.
    Rank convention: items scored strictly higher, plus tied items with a lower index.
    Memory must stay bounded on a 5,000 × 25,000 matrix: no full argsort of every row needed.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # A query is a hit when ANY of its relevant items is in its top k: one yes/no per query, not the share
    # of its relevant items. Ties: items scored strictly higher plus TIED items with a lower index rank
    # first. A 0-based rank r is in the top k when r < k (not <= k). Fill in _best_relevant_rank first.
    ### HINT 2
    # _best_relevant_rank, per block of queries ((chunk, N) at a time, no full argsort):
    # 1. best = the highest score among the query's relevant items; j_best = lowest relevant index with it
    # 2. 0-based rank = #(scores > best) + #(scores == best and index < j_best): (Q,) int64
    # recall_at_k: the mean over queries of (rank < k)
    ### HINT 3
    # ranks = (sb > best).sum(axis=1) + ((sb == best) & (cols < j_best)).sum(axis=1)
    # return float(np.mean(_best_relevant_rank(scores, relevant) < k))
    ### END HINTS
    k = _check_k(k)
    return float(np.mean(_best_relevant_rank(scores, relevant) < k))
    ### END SOLUTION


def mean_reciprocal_rank(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean over queries of 1 / (1 + 0-based rank of the best-ranked relevant item).

    scores, relevant: (Q, N) as in `recall_at_k`, with the same rank convention.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # A query's reciprocal rank is 1 / (1-based rank of its best relevant item); MRR averages those.
    # Traps: 1/rank with the 0-based rank, the reciprocal of the mean rank (not the mean of reciprocals),
    # and ties: the lower index ranks first, as in recall_at_k.
    ### HINT 2
    # 1. the (Q,) 0-based best ranks, as in recall_at_k (_best_relevant_rank)
    # 2. make them 1-based: rank + 1
    # 3. the mean over queries of 1 / (rank + 1), as a float
    ### HINT 3
    # float(np.mean(1.0 / (1.0 + ranks)))
    ### END HINTS
    return float(np.mean(1.0 / (1.0 + _best_relevant_rank(scores, relevant))))
    ### END SOLUTION


def median_rank(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Median rank as VSE++ reports it: floor(median of the 0-based best ranks) + 1.

    scores, relevant: (Q, N) as in `recall_at_k`. The result is 1 when most queries hit at top 1.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # VSE++'s MedR: the median of the 0-BASED best ranks, floored, then + 1. Traps: no floor (2.5 for an
    # even count), ceil, taking the upper middle element, the mean, or forgetting the + 1.
    ### HINT 2
    # 1. the (Q,) 0-based best ranks, as in recall_at_k (_best_relevant_rank)
    # 2. np.median (averages the two middle values when Q is even)
    # 3. floor it, add 1, return a float
    ### HINT 3
    # float(np.floor(np.median(ranks)) + 1)
    ### END HINTS
    return float(np.floor(np.median(_best_relevant_rank(scores, relevant))) + 1)
    ### END SOLUTION


def mean_average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Mean over queries of average precision over the full ranking.

    scores, relevant: (Q, N) as in `recall_at_k`; ties broken by lower index.
    AP = (1/R) · sum over relevant items at 1-based position p of (relevant items in top p) / p,
    where R is the query's number of relevant items.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # A query's AP averages precision@p over the positions p of its RELEVANT items only, divided by R (its
    # number of relevant items, not N); mAP then averages over queries (no pooling of all queries' hits).
    # Positions are 1-based; ties keep the lower index first.
    ### HINT 2
    # 1. order each row by decreasing score, stable (lower index first on ties): (Q, N)
    # 2. hits = relevant reordered the same way (np.take_along_axis), float (Q, N)
    # 3. precision@p = cumsum(hits) / p for p = 1..N, kept only where hits == 1
    # 4. AP = row sum / hits.sum(axis=1), (Q,); return its mean
    ### HINT 3
    # precision_at_hit = np.cumsum(hits, axis=1) / np.arange(1, N + 1) * hits
    ### END HINTS
    s, r = _check_retrieval(scores, relevant)
    order = np.argsort(-s, axis=1, kind="stable")  # stable: ties keep the lower index first
    hits = np.take_along_axis(r, order, axis=1).astype(np.float64)
    positions = np.arange(1, s.shape[1] + 1)
    precision_at_hit = np.cumsum(hits, axis=1) / positions * hits
    return float(np.mean(precision_at_hit.sum(axis=1) / hits.sum(axis=1)))
    ### END SOLUTION
