"""Graded checks for exercises/metrics.py.

Oracles: scikit-learn and SciPy on inputs drawn from the grading seed (with ties), plus
hand-worked cases. MOSI-style sentiment metrics follow MMSA's code, rebuilt here from sklearn.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as skm

from autograder.checking import best_relevant_ranks, close, equal, raises_value_error, ranking
from autograder.expect import Array, Dict, Float, Tuple
from autograder.student import StudentRaised

task = pytest.mark.task
M = "metrics."


def labels(rng, n, classes):
    return rng.integers(0, classes, size=n)


def tied_scores(rng, n, levels=7):
    """Scores on a coarse grid, so ties between positives and negatives are common."""
    return rng.integers(0, levels, size=n) / (levels - 1)


def both_classes(rng, n):
    y = rng.integers(0, 2, size=n)
    y[:2] = (0, 1)
    return rng.permutation(y)


# ----------------------------------------------------------------------------- accuracy
@task("accuracy", points=1)
def test_accuracy_matches_sklearn(student, rng):
    y, p = labels(rng, 300, 4), labels(rng, 300, 4)
    got = student.call(M + "accuracy", y, p, returns=Float())
    close(got, skm.accuracy_score(y, p), "accuracy differs from sklearn.metrics.accuracy_score on 300 labels")


@task("accuracy", points=1)
def test_accuracy_rejects_bad_input(student):
    raises_value_error(student, M + "accuracy", np.array([0, 1, 1]), np.array([0, 1]), case="arrays of lengths 3 and 2")
    raises_value_error(student, M + "accuracy", np.array([]), np.array([]), case="empty arrays")


# ----------------------------------------------------------------------------- confusion matrix
@task("confusion_matrix", points=2)
def test_confusion_matrix_matches_sklearn(student, rng):
    y, p = labels(rng, 500, 5), labels(rng, 500, 5)
    got = student.call(M + "confusion_matrix", y, p, returns=Array((5, 5), "int"))
    equal(got, skm.confusion_matrix(y, p, labels=range(5)), "confusion_matrix (rows true, columns predicted) differs from sklearn")


@task("confusion_matrix", points=1)
def test_confusion_matrix_size_from_both_arrays_or_num_classes(student):
    # num_classes=None: C = 1 + the largest label in EITHER array (y_pred's in the first case, y_true's in the
    # second); a label seen in neither array (1 in the last two) still gets its row and column
    for y, p in (([0, 2, 1], [3, 0, 0]), ([3, 0, 3], [0, 2, 0]), ([0, 2, 2], [2, 2, 0])):
        case = f"confusion_matrix(y_true={y}, y_pred={p}) with num_classes=None"
        rule = "C is 1 + the largest label in either array (not in y_true alone, not the number of distinct labels)"
        top = max(*y, *p)
        try:
            got = student.call(M + "confusion_matrix", np.array(y), np.array(p), returns=Array((None, None), "int"))
        except StudentRaised as exc:
            raise AssertionError(f"{case} raised {exc.type_name}, expected a ({top + 1}, {top + 1}) matrix: {rule}") from None
        if got.shape != (top + 1, top + 1):
            raise AssertionError(f"{case} has shape {got.shape}, expected ({top + 1}, {top + 1}): {rule}")
        equal(got, skm.confusion_matrix(y, p, labels=range(top + 1)), f"{case} differs from sklearn")
    got = student.call(M + "confusion_matrix", np.array([0, 1, 1]), np.array([1, 1, 0]), num_classes=4,
                       returns=Array((None, None), "int"))
    if got.shape != (4, 4):
        raise AssertionError(f"confusion_matrix with num_classes=4 for labels up to 1 has shape {got.shape}, expected "
                             "(4, 4): a given num_classes sets C, classes never seen get rows and columns of zeros")
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 1], expected[1, 1], expected[1, 0] = 1, 1, 1
    equal(got, expected, "confusion_matrix with num_classes=4 for labels [0,1,1] vs predictions [1,1,0] "
          "(a (4, 4) matrix padded with zeros)")


@task("confusion_matrix", points=1)
def test_confusion_matrix_rejects_bad_input(student):
    raises_value_error(student, M + "confusion_matrix", np.array([0, 3]), np.array([0, 1]), num_classes=2,
                       case="label 3 with num_classes=2")
    raises_value_error(student, M + "confusion_matrix", np.array([0, 0]), np.array([0, 2]), num_classes=2,
                       case="a predicted label 2 with num_classes=2 (check y_pred's range too)")
    raises_value_error(student, M + "confusion_matrix", np.array([0, 1]), np.array([0]), case="a length mismatch")


# ----------------------------------------------------------------------------- precision / recall / F1
@task("precision_recall_f1", points=1)
@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
def test_precision_recall_f1_matches_sklearn(student, rng, average):
    classes = 2 if average == "binary" else 4
    y, p = labels(rng, 400, classes), labels(rng, 400, classes)
    spec = Tuple(Array((classes,), "float"), Array((classes,), "float"), Array((classes,), "float")) if average is None \
        else Tuple(Float(), Float(), Float())
    # binary: the scores of pos_label, so class 0 as the positive class must give other numbers than class 1
    for pos_label in ((0, 1) if average == "binary" else (1,)):
        got = student.call(M + "precision_recall_f1", y, p, average=average, pos_label=pos_label, returns=spec)
        expected = skm.precision_recall_fscore_support(y, p, average=average, pos_label=pos_label, zero_division=0.0)[:3]
        setting = f"average={average!r}" + (f", pos_label={pos_label} (the scores of class {pos_label})"
                                            if average == "binary" else "")
        for name, g, e in zip(("precision", "recall", "f1"), got, expected):
            close(g, e, f"{name} with {setting} differs from sklearn.metrics.precision_recall_fscore_support")


@task("precision_recall_f1", points=1)
def test_precision_recall_f1_zero_division(student):
    # class 2 is never predicted and class 3 never occurs: precision of 2 and recall of 3 are 0/0
    y, p = np.array([0, 1, 2, 2, 0]), np.array([0, 1, 3, 1, 0])
    for zd in (0.0, 1.0):
        got = student.call(M + "precision_recall_f1", y, p, average=None, zero_division=zd,
                           returns=Tuple(Array((None,), "float"), Array((None,), "float"), Array((None,), "float")))
        if got[0].shape != (4,):
            raise AssertionError(f"precision_recall_f1(average=None) for y_true={y.tolist()}, y_pred={p.tolist()} returned "
                                 f"{got[0].shape[0]} per-class values, expected 4: one per class of the sorted union of "
                                 "both arrays (class 3 is only predicted)")
        expected = skm.precision_recall_fscore_support(y, p, average=None, zero_division=zd)[:3]
        for name, g, e in zip(("precision", "recall", "f1"), got, expected):
            close(g, e, f"per-class {name} with zero_division={zd} (a class never predicted, one never true)")


@task("precision_recall_f1", points=1)
def test_precision_recall_f1_rejects_bad_input(student):
    raises_value_error(student, M + "precision_recall_f1", np.array([0, 1, 2]), np.array([0, 1, 2]),
                       average="binary", case="three classes with average='binary'")
    raises_value_error(student, M + "precision_recall_f1", np.array([0, 1]), np.array([0, 1]),
                       average="mean", case="average='mean'")


# ----------------------------------------------------------------------------- ROC
@task("roc_curve", points=2)
def test_roc_curve_matches_sklearn(student, rng):
    y, s = both_classes(rng, 300), tied_scores(rng, 300)
    fpr, tpr, thresholds = student.call(M + "roc_curve", y, s, returns=Tuple(
        Array((None,), "float"), Array((None,), "float"), Array((None,), "float", finite=False)))
    distinct = np.unique(s).size
    for name, got in (("fpr", fpr), ("tpr", tpr), ("thresholds", thresholds)):
        if got.shape != (distinct + 1,):
            raise AssertionError(f"roc_curve {name} has {got.size} points for {distinct} distinct scores (300 samples with "
                                 f"ties), expected {distinct + 1}: one point per distinct score (tied samples cross the "
                                 "threshold together) after the (0, 0) start")
    if not thresholds[0] == np.inf:
        raise AssertionError(f"roc_curve thresholds[0] is {thresholds[0]:.6g}, expected +inf: the first point calls "
                             "nothing positive, whatever the scores")
    expected = skm.roc_curve(y, s, drop_intermediate=False)
    for name, g, e in zip(("fpr", "tpr", "thresholds"), (fpr, tpr, thresholds), expected):
        close(g, e, f"roc_curve {name} differs from sklearn.metrics.roc_curve(drop_intermediate=False) on tied scores")


@task("roc_curve", points=1)
def test_roc_curve_rejects_single_class(student):
    raises_value_error(student, M + "roc_curve", np.ones(5, dtype=int), np.linspace(0, 1, 5), case="labels of one class")


@task("roc_auc", points=1)
def test_roc_auc_hand_worked(student):
    # pairs (pos, neg): (0.35, 0.1) ok, (0.35, 0.4) wrong, (0.8, 0.1) ok, (0.8, 0.4) ok -> 3/4
    close(student.call(M + "roc_auc", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), returns=Float()), 0.75,
          "roc_auc for y=[0,0,1,1], scores=[0.1,0.4,0.35,0.8] (no ties; 3 of 4 positive/negative pairs ordered)")
    # one positive-negative pair tied: counts one half (average ranks), neither 0 nor 1
    for y, s, want in (([0, 1], [0.5, 0.5], 0.5), ([1, 0, 1, 0], [0.7, 0.7, 0.9, 0.2], 0.875)):
        close(student.call(M + "roc_auc", np.array(y), np.array(s), returns=Float()), want,
              f"roc_auc for y={y}, scores={s}: a tie between a positive and a negative counts 1/2 (expected {want})")


@task("roc_auc", points=2)
def test_roc_auc_matches_sklearn_with_ties(student, rng):
    y, s = both_classes(rng, 500), tied_scores(rng, 500, levels=5)
    got = student.call(M + "roc_auc", y, s, returns=Float())
    close(got, skm.roc_auc_score(y, s), "roc_auc differs from sklearn.metrics.roc_auc_score on 500 scores with ties",
          atol=1e-10, rtol=1e-9)


@task("roc_auc", points=1)
def test_roc_auc_rejects_bad_labels(student):
    raises_value_error(student, M + "roc_auc", np.zeros(4, dtype=int), np.arange(4.0), case="labels of one class")
    raises_value_error(student, M + "roc_auc", np.array([0, 1, 2]), np.arange(3.0), case="labels [0, 1, 2]")
    raises_value_error(student, M + "roc_auc", np.array([0, 1]), np.array([0.3, np.nan]), case="a NaN score")


@task("roc_auc", points=1, timeout=30)
def test_roc_auc_scales_to_large_inputs(student, rng):
    # an O(N^2) pair loop (or an N x N matrix) does not finish or does not fit at N = 300,000
    n = 300_000
    y, s = both_classes(rng, n), rng.normal(size=n) + 0.0
    y_score = s + 0.8 * y
    got = student.call(M + "roc_auc", y, y_score, returns=Float())
    close(got, skm.roc_auc_score(y, y_score), "roc_auc on 300,000 scores", atol=1e-9, rtol=1e-9)


# ----------------------------------------------------------------------------- regression
@task("mae", points=1)
def test_mae_matches_sklearn(student, rng):
    a, b = rng.normal(size=200), rng.normal(size=200)
    close(student.call(M + "mae", a, b, returns=Float()), skm.mean_absolute_error(a, b),
          "mae (the mean of |y_true - y_pred|) differs from sklearn.metrics.mean_absolute_error")
    raises_value_error(student, M + "mae", a, b[:-1], case="arrays of lengths 200 and 199")
    raises_value_error(student, M + "mae", a, b[:, None], case="y_pred of shape (200, 1) (NumPy would broadcast it "
                       "against (200,) to a (200, 200) difference)")


@task("mse", points=1)
def test_mse_matches_sklearn(student, rng):
    a, b = rng.normal(size=200), rng.normal(size=200)
    close(student.call(M + "mse", a, b, returns=Float()), skm.mean_squared_error(a, b),
          "mse (the mean of (y_true - y_pred)², not its root) differs from sklearn.metrics.mean_squared_error")
    raises_value_error(student, M + "mse", a, np.full(200, np.nan), case="a NaN prediction")
    raises_value_error(student, M + "mse", a[:1], b, case="y_true of length 1 and y_pred of length 200 (NumPy would "
                       "broadcast the single value)")


@task("pearson_r", points=1)
def test_pearson_r_matches_scipy(student, rng):
    a = rng.normal(size=300)
    b = 0.6 * a + rng.normal(size=300) + 1e6  # large offsets punish the uncentred and one-pass (E[xy] - E[x]E[y]) formulas
    a = a - 3e5
    close(student.call(M + "pearson_r", a, b, returns=Float()), scipy.stats.pearsonr(a, b)[0],
          "pearson_r differs from scipy.stats.pearsonr (inputs offset by -3e5 and 1e6)", atol=1e-9)


@task("pearson_r", points=1)
def test_pearson_r_rejects_constant_input(student):
    # undefined (0/0) when EITHER side is constant
    raises_value_error(student, M + "pearson_r", np.ones(5), np.arange(5.0), case="a constant x")
    raises_value_error(student, M + "pearson_r", np.arange(5.0), np.full(5, 2.5), case="a constant y")


# ----------------------------------------------------------------------------- sentiment (MMSA)
SENTIMENT_KEYS = ("has0_acc2", "has0_f1", "non0_acc2", "non0_f1", "acc5", "acc7", "mae", "corr")


def mmsa_reference(pred: np.ndarray, truth: np.ndarray) -> dict:
    """MMSA's __eval_mosi_regression, without its rounding to 4 decimals."""
    nonzero = truth != 0
    out = {
        "has0_acc2": skm.accuracy_score(truth >= 0, pred >= 0),
        "has0_f1": skm.f1_score(truth >= 0, pred >= 0, average="weighted"),
        "non0_acc2": skm.accuracy_score(truth[nonzero] > 0, pred[nonzero] > 0) if nonzero.any() else np.nan,
        "non0_f1": skm.f1_score(truth[nonzero] > 0, pred[nonzero] > 0, average="weighted") if nonzero.any() else np.nan,
        "acc5": np.mean(np.round(np.clip(pred, -2, 2)) == np.round(np.clip(truth, -2, 2))),
        "acc7": np.mean(np.round(np.clip(pred, -3, 3)) == np.round(np.clip(truth, -3, 3))),
        "mae": np.mean(np.abs(pred - truth)),
        "corr": np.corrcoef(pred, truth)[0, 1] if np.ptp(pred) and np.ptp(truth) else np.nan,
    }
    return {k: float(v) for k, v in out.items()}


CONVENTIONS = {
    "has0_acc2": "class = score >= 0, zero labels kept", "has0_f1": "weighted F1 of score >= 0, zero labels kept",
    "non0_acc2": "zero labels dropped, class = score > 0", "non0_f1": "weighted F1 of score > 0, zero labels dropped",
    "acc5": "clip both to [-2, 2], then np.round", "acc7": "clip both to [-3, 3], then np.round (half to even)",
    "mae": "mean |pred - truth|", "corr": "Pearson r",
}


def sentiment_spec(finite: bool = True) -> Dict:
    return Dict({k: Float(finite=finite) for k in SENTIMENT_KEYS})


@task("sentiment_metrics", points=3)
def test_sentiment_metrics_match_mmsa(student, rng):
    # CMU-MOSI labels average 5 annotators' integer scores (multiples of 0.2); CMU-MOSEI's average 3 (multiples of 1/3):
    # half the labels on each grid, with exact zeros; predictions with half-way values that np.round sends to even
    truth = np.r_[rng.integers(-15, 16, size=200) / 5.0, rng.integers(-9, 10, size=200) / 3.0]
    truth[rng.choice(400, size=20, replace=False)] = 0.0
    pred = np.clip(truth + rng.normal(scale=1.2, size=400), -3.5, 3.5)
    pred[rng.choice(400, size=16, replace=False)] = rng.choice([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], size=16)
    got = student.call(M + "sentiment_metrics", pred, truth, returns=sentiment_spec())
    expected, swapped = mmsa_reference(pred, truth), mmsa_reference(truth, pred)
    wrong = [k for k in SENTIMENT_KEYS if not np.isclose(got[k], expected[k], rtol=1e-6, atol=1e-8)]
    if wrong and all(np.isclose(got[k], swapped[k], rtol=1e-6, atol=1e-8) for k in SENTIMENT_KEYS):
        raise AssertionError(f"sentiment_metrics: {wrong} match MMSA's metrics with y_pred and y_true swapped: the "
                             "signature is sentiment_metrics(y_pred, y_true), predictions first")
    for key in SENTIMENT_KEYS:
        close(got[key], expected[key], f"sentiment_metrics[{key!r}] differs from MMSA's convention ({CONVENTIONS[key]})")


@task("sentiment_metrics", points=1)
def test_sentiment_metrics_hand_worked(student):
    # Has0 counts label 0 as positive; Non0 drops it; 2.5 rounds to 2 and 0.5 to 0 (half to even), -0.5 to -0.
    pred = np.array([2.5, -0.5, 0.2, -1.0, 0.5])
    truth = np.array([2.0, 0.0, -0.2, -3.0, 0.4])
    got = student.call(M + "sentiment_metrics", pred, truth, returns=sentiment_spec())
    # has0: pred>=0 [T,F,T,F,T] vs truth>=0 [T,T,F,F,T] -> 3/5; non0 drops index 1: [T,T,F,T] vs [T,F,F,T] -> 3/4
    # acc7: round(pred) [2,-0,0,-1,0] vs round(truth) [2,0,-0,-3,0] -> 4/5
    # acc5: round(clip(pred, -2, 2)) [2,-0,0,-1,0] vs round(clip(truth, -2, 2)) [2,0,-0,-2,0] -> 4/5
    for key, want in (("has0_acc2", 0.6), ("non0_acc2", 0.75), ("acc7", 0.8), ("acc5", 0.8)):
        close(got[key], want, f"sentiment_metrics[{key!r}] for pred={pred.tolist()}, truth={truth.tolist()} "
              f"({CONVENTIONS[key]})")


@task("sentiment_metrics", points=1)
def test_sentiment_metrics_all_zero_labels(student, rng):
    truth, pred = np.zeros(10), rng.normal(size=10)
    try:
        got = student.call(M + "sentiment_metrics", pred, truth, returns=sentiment_spec(finite=False))
    except StudentRaised as exc:
        raise AssertionError(f"sentiment_metrics with all-zero labels raised {exc.type_name}: non0_acc2, non0_f1 and corr "
                             "are undefined there and must be NaN, the other metrics still numbers") from None
    for key in ("non0_acc2", "non0_f1", "corr"):
        if not np.isnan(got[key]):
            raise AssertionError(f"sentiment_metrics[{key!r}] with all-zero labels: got {got[key]}, expected NaN (undefined)")
    for key in ("has0_acc2", "has0_f1", "acc5", "acc7", "mae"):
        close(got[key], mmsa_reference(pred, truth)[key], f"sentiment_metrics[{key!r}] with all-zero labels")


# ----------------------------------------------------------------------------- retrieval
def retrieval_case(rng, q=60, n=150, per_query=(1, 5)):
    scores = rng.integers(0, 8, size=(q, n)) / 7.0  # many ties
    relevant = np.zeros((q, n), dtype=bool)
    for i in range(q):
        relevant[i, rng.choice(n, size=rng.integers(*per_query, endpoint=True), replace=False)] = True
    return scores, relevant


@task("recall_at_k", points=1)
def test_recall_at_k_hand_worked_ties(student):
    # no ties: the relevant item 1 ranks second (0-based rank 1), a hit for k >= 2 only
    scores, relevant = np.array([[0.1, 0.5, 0.9, 0.3]]), np.array([[False, True, False, False]])
    for k, want in ((1, 0.0), (2, 1.0)):
        close(student.call(M + "recall_at_k", scores, relevant, k, returns=Float()), want,
              f"recall_at_k(k={k}) when the only relevant item ranks second (0-based rank 1 is in the top k iff 1 < k)")
    # item 0 and the relevant item 2 tie at the top: item 2 ranks after item 0 (lower index first)
    scores = np.array([[0.9, 0.1, 0.9]])
    relevant = np.array([[False, False, True]])
    close(student.call(M + "recall_at_k", scores, relevant, 1, returns=Float()), 0.0,
          "recall_at_k(k=1) when a relevant item ties with a lower-index irrelevant one (ties go to the lower index)")
    close(student.call(M + "recall_at_k", scores, relevant, 2, returns=Float()), 1.0, "recall_at_k(k=2) same case")
    # the relevant item 0 ties with the irrelevant item 1: item 0 comes first
    close(student.call(M + "recall_at_k", np.array([[0.9, 0.9, 0.1]]), np.array([[True, False, False]]), 1,
                       returns=Float()), 1.0,
          "recall_at_k(k=1) when a relevant item ties with a higher-index irrelevant one (ties go to the lower index)")
    close(student.call(M + "recall_at_k", scores, relevant, 50, returns=Float()), 1.0, "recall_at_k with k > N")


@task("recall_at_k", points=2)
@pytest.mark.parametrize("k", [1, 5, 10])
def test_recall_at_k_matches_reference(student, rng, k):
    scores, relevant = retrieval_case(rng)
    got = student.call(M + "recall_at_k", scores, relevant, k, returns=Float())
    close(got, np.mean(best_relevant_ranks(scores, relevant) < k),
          f"recall_at_k(k={k}) with tied scores and 1-5 relevant items per query differs from a full-sort reference "
          "(a query is a hit when ANY of its relevant items is in its top k)")


@task("recall_at_k", points=1)
def test_recall_at_k_rejects_bad_input(student):
    scores, relevant = np.zeros((2, 3)), np.eye(2, 3, dtype=bool)
    raises_value_error(student, M + "recall_at_k", scores, relevant, 0, case="k=0")
    raises_value_error(student, M + "recall_at_k", scores, relevant[:, :2], 1, case="relevant of another shape")
    raises_value_error(student, M + "recall_at_k", scores, np.zeros((2, 3), dtype=bool), 1, case="a query with no relevant item")


def ranked_case(best_ranks, n=6):
    """One query per entry, its single relevant item placed at that 0-based rank; distinct scores, no ties."""
    relevant = np.eye(len(best_ranks), n, dtype=bool)
    scores = np.tile(np.linspace(1.0, 0.5, n), (len(best_ranks), 1))
    for i, r in enumerate(best_ranks):
        scores[i, i], scores[i, r] = scores[i, r], scores[i, i]
    return scores, relevant


@task("mean_reciprocal_rank", points=1)
def test_mean_reciprocal_rank_matches_reference(student, rng):
    scores, relevant = ranked_case([0, 1, 3])
    close(student.call(M + "mean_reciprocal_rank", scores, relevant, returns=Float(finite=False)), (1 + 1 / 2 + 1 / 4) / 3,
          "mean_reciprocal_rank for relevant items at 1-based ranks 1, 2 and 4 (expected the mean of 1/rank: "
          "(1 + 1/2 + 1/4) / 3)")
    scores, relevant = retrieval_case(rng)
    got = student.call(M + "mean_reciprocal_rank", scores, relevant, returns=Float())
    close(got, np.mean(1.0 / (1 + best_relevant_ranks(scores, relevant))),
          "mean_reciprocal_rank differs from the full-sort reference (tied scores: the lower index ranks first)")


@task("median_rank", points=1)
def test_median_rank_matches_vsepp(student, rng):
    # hand-worked: 0-based ranks [0, 1, 2, 5] -> median 1.5 -> floor 1 -> 2
    scores, relevant = ranked_case([0, 1, 2, 5])
    close(student.call(M + "median_rank", scores, relevant, returns=Float()), 2.0,
          "median_rank for 0-based best ranks [0, 1, 2, 5]: VSE++ takes floor(median 1.5) + 1 = 2")
    scores, relevant = retrieval_case(rng, q=61)
    got = student.call(M + "median_rank", scores, relevant, returns=Float())
    close(got, np.floor(np.median(best_relevant_ranks(scores, relevant))) + 1,
          "median_rank differs from VSE++'s floor(median of 0-based ranks) + 1 on 61 queries with tied scores")


@task("mean_average_precision", points=2)
def test_mean_average_precision_matches_sklearn(student, rng):
    # hand-worked: query 0 finds its 2 relevant items at positions 1 and 3 -> AP (1/1 + 2/3) / 2 = 5/6;
    # query 1 its single one at position 2 -> AP 1/2; the mean over queries is 2/3
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.2, 0.9, 0.4, 0.3, 0.1]])
    relevant = np.array([[True, False, True, False, False], [False, False, True, False, False]])
    close(student.call(M + "mean_average_precision", scores, relevant, returns=Float(finite=False)), 2 / 3,
          "mean_average_precision for APs (1/1 + 2/3)/2 and 1/2 (precision at each relevant item's 1-based position, "
          "averaged over that query's relevant items, then over queries)")
    scores, relevant = retrieval_case(rng, q=30, n=80)
    got = student.call(M + "mean_average_precision", scores, relevant, returns=Float())
    # sklearn's AP on a tie-free score (minus the position) equals AP with ties broken by lower index
    position = np.argsort(ranking(scores), axis=1)
    expected = np.mean([skm.average_precision_score(relevant[i], -position[i]) for i in range(len(scores))])
    close(got, expected, "mean_average_precision differs from sklearn.average_precision_score (ties by lower index)")
