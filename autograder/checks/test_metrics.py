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
def test_confusion_matrix_num_classes_pads_unseen_classes(student):
    got = student.call(M + "confusion_matrix", np.array([0, 1, 1]), np.array([1, 1, 0]), num_classes=4,
                       returns=Array((4, 4), "int"))
    expected = np.zeros((4, 4), dtype=int)
    expected[0, 1], expected[1, 1], expected[1, 0] = 1, 1, 1
    equal(got, expected, "confusion_matrix with num_classes=4 for labels [0,1,1] vs predictions [1,1,0]")


@task("confusion_matrix", points=1)
def test_confusion_matrix_rejects_bad_input(student):
    raises_value_error(student, M + "confusion_matrix", np.array([0, 3]), np.array([0, 1]), num_classes=2,
                       case="label 3 with num_classes=2")
    raises_value_error(student, M + "confusion_matrix", np.array([0, 1]), np.array([0]), case="a length mismatch")


# ----------------------------------------------------------------------------- precision / recall / F1
@task("precision_recall_f1", points=1)
@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted", None])
def test_precision_recall_f1_matches_sklearn(student, rng, average):
    classes = 2 if average == "binary" else 4
    y, p = labels(rng, 400, classes), labels(rng, 400, classes)
    spec = Tuple(Array((classes,), "float"), Array((classes,), "float"), Array((classes,), "float")) if average is None \
        else Tuple(Float(), Float(), Float())
    got = student.call(M + "precision_recall_f1", y, p, average=average, returns=spec)
    expected = skm.precision_recall_fscore_support(y, p, average=average, zero_division=0.0)[:3]
    for name, g, e in zip(("precision", "recall", "f1"), got, expected):
        close(g, e, f"{name} with average={average!r} differs from sklearn.metrics.precision_recall_fscore_support")


@task("precision_recall_f1", points=1)
def test_precision_recall_f1_zero_division(student):
    # class 2 is never predicted and class 3 never occurs: precision of 2 and recall of 3 are 0/0
    y, p = np.array([0, 1, 2, 2, 0]), np.array([0, 1, 3, 1, 0])
    for zd in (0.0, 1.0):
        got = student.call(M + "precision_recall_f1", y, p, average=None, zero_division=zd,
                           returns=Tuple(Array((4,), "float"), Array((4,), "float"), Array((4,), "float")))
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
    got = student.call(M + "roc_curve", y, s,
                       returns=Tuple(Array((None,), "float"), Array((None,), "float"), Array((None,), "float", finite=False)))
    expected = skm.roc_curve(y, s, drop_intermediate=False)
    for name, g, e in zip(("fpr", "tpr", "thresholds"), got, expected):
        close(g, e, f"roc_curve {name} differs from sklearn.metrics.roc_curve(drop_intermediate=False) on tied scores")


@task("roc_curve", points=1)
def test_roc_curve_rejects_single_class(student):
    raises_value_error(student, M + "roc_curve", np.ones(5, dtype=int), np.linspace(0, 1, 5), case="labels of one class")


@task("roc_auc", points=2)
def test_roc_auc_matches_sklearn_with_ties(student, rng):
    y, s = both_classes(rng, 500), tied_scores(rng, 500, levels=5)
    got = student.call(M + "roc_auc", y, s, returns=Float())
    close(got, skm.roc_auc_score(y, s), "roc_auc differs from sklearn.metrics.roc_auc_score on 500 scores with ties",
          atol=1e-10, rtol=1e-9)


@task("roc_auc", points=1)
def test_roc_auc_hand_worked(student):
    # one positive-negative pair tied: counts one half
    close(student.call(M + "roc_auc", np.array([0, 1]), np.array([0.5, 0.5]), returns=Float()), 0.5,
          "roc_auc of a tied positive/negative pair (expected 1/2)")
    # pairs (pos, neg): (0.35, 0.1) ok, (0.35, 0.4) wrong, (0.8, 0.1) ok, (0.8, 0.4) ok -> 3/4
    close(student.call(M + "roc_auc", np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), returns=Float()), 0.75,
          "roc_auc for y=[0,0,1,1], scores=[0.1,0.4,0.35,0.8] (3 of 4 pairs ordered)")


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
    close(student.call(M + "mae", a, b, returns=Float()), skm.mean_absolute_error(a, b), "mae differs from sklearn")
    raises_value_error(student, M + "mae", a, b[:-1], case="arrays of lengths 200 and 199")


@task("mse", points=1)
def test_mse_matches_sklearn(student, rng):
    a, b = rng.normal(size=200), rng.normal(size=200)
    close(student.call(M + "mse", a, b, returns=Float()), skm.mean_squared_error(a, b), "mse differs from sklearn")
    raises_value_error(student, M + "mse", a, np.full(200, np.nan), case="a NaN prediction")


@task("pearson_r", points=1)
def test_pearson_r_matches_scipy(student, rng):
    a = rng.normal(size=300)
    b = 0.6 * a + rng.normal(size=300) + 1e6  # a large offset punishes the uncentred formula
    close(student.call(M + "pearson_r", a, b, returns=Float()), scipy.stats.pearsonr(a, b)[0],
          "pearson_r differs from scipy.stats.pearsonr", atol=1e-9)


@task("pearson_r", points=1)
def test_pearson_r_rejects_constant_input(student):
    raises_value_error(student, M + "pearson_r", np.ones(5), np.arange(5.0), case="a constant x")


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


def sentiment_spec(finite: bool = True) -> Dict:
    return Dict({k: Float(finite=finite) for k in SENTIMENT_KEYS})


@task("sentiment_metrics", points=3)
def test_sentiment_metrics_match_mmsa(student, rng):
    # labels on MOSI's grid of thirds, with exact zeros and half-way values that np.round sends to even
    truth = rng.integers(-9, 10, size=400) / 3.0
    truth[:20] = 0.0
    pred = np.clip(truth + rng.normal(scale=1.2, size=400), -3.5, 3.5)
    pred[20:30] = rng.choice([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], size=10)
    got = student.call(M + "sentiment_metrics", pred, truth, returns=sentiment_spec())
    expected = mmsa_reference(pred, truth)
    for key in SENTIMENT_KEYS:
        close(got[key], expected[key], f"sentiment_metrics[{key!r}] differs from MMSA's convention")


@task("sentiment_metrics", points=1)
def test_sentiment_metrics_hand_worked(student):
    # Has0 counts label 0 as positive; Non0 drops it; 2.5 rounds to 2 (half to even), -0.5 to -0.
    pred = np.array([2.5, -0.5, 0.2, -1.0])
    truth = np.array([2.0, 0.0, -0.2, -3.0])
    got = student.call(M + "sentiment_metrics", pred, truth, returns=sentiment_spec())
    # has0: pred>=0 [T,F,T,F] vs truth>=0 [T,T,F,F] -> 2/4; non0 drops index 1: [T,T,F] vs [T,F,F] -> 2/3
    # acc7: round(pred) [2,-0,0,-1] vs round(truth) [2,0,-0,-3] -> 3/4
    for key, want in (("has0_acc2", 0.5), ("non0_acc2", 2 / 3), ("acc7", 0.75)):
        close(got[key], want, f"sentiment_metrics[{key!r}] for pred={pred.tolist()}, truth={truth.tolist()}")


@task("sentiment_metrics", points=1)
def test_sentiment_metrics_all_zero_labels(student, rng):
    truth, pred = np.zeros(10), rng.normal(size=10)
    got = student.call(M + "sentiment_metrics", pred, truth, returns=sentiment_spec(finite=False))
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


@task("recall_at_k", points=2)
@pytest.mark.parametrize("k", [1, 5, 10])
def test_recall_at_k_matches_reference(student, rng, k):
    scores, relevant = retrieval_case(rng)
    got = student.call(M + "recall_at_k", scores, relevant, k, returns=Float())
    close(got, np.mean(best_relevant_ranks(scores, relevant) < k),
          f"recall_at_k(k={k}) with tied scores and 1-5 relevant items per query differs from a full-sort reference")


@task("recall_at_k", points=1)
def test_recall_at_k_hand_worked_ties(student):
    # item 0 and the relevant item 2 tie at the top: item 2 ranks after item 0 (lower index first)
    scores = np.array([[0.9, 0.1, 0.9]])
    relevant = np.array([[False, False, True]])
    close(student.call(M + "recall_at_k", scores, relevant, 1, returns=Float()), 0.0,
          "recall_at_k(k=1) when a relevant item ties with a lower-index irrelevant one")
    close(student.call(M + "recall_at_k", scores, relevant, 2, returns=Float()), 1.0, "recall_at_k(k=2) same case")
    close(student.call(M + "recall_at_k", scores, relevant, 50, returns=Float()), 1.0, "recall_at_k with k > N")


@task("recall_at_k", points=1)
def test_recall_at_k_rejects_bad_input(student):
    scores, relevant = np.zeros((2, 3)), np.eye(2, 3, dtype=bool)
    raises_value_error(student, M + "recall_at_k", scores, relevant, 0, case="k=0")
    raises_value_error(student, M + "recall_at_k", scores, relevant[:, :2], 1, case="relevant of another shape")
    raises_value_error(student, M + "recall_at_k", scores, np.zeros((2, 3), dtype=bool), 1, case="a query with no relevant item")


@task("mean_reciprocal_rank", points=1)
def test_mean_reciprocal_rank_matches_reference(student, rng):
    scores, relevant = retrieval_case(rng)
    got = student.call(M + "mean_reciprocal_rank", scores, relevant, returns=Float())
    close(got, np.mean(1.0 / (1 + best_relevant_ranks(scores, relevant))), "mean_reciprocal_rank differs from the full-sort reference")


@task("median_rank", points=1)
def test_median_rank_matches_vsepp(student, rng):
    scores, relevant = retrieval_case(rng, q=61)
    got = student.call(M + "median_rank", scores, relevant, returns=Float())
    close(got, np.floor(np.median(best_relevant_ranks(scores, relevant))) + 1, "median_rank differs from VSE++'s floor(median)+1")
    # hand-worked: 0-based ranks [0, 1, 2, 5] -> median 1.5 -> floor 1 -> 2
    eye = np.eye(4, 6, dtype=bool)
    s = np.zeros((4, 6))
    for i, r in enumerate((0, 1, 2, 5)):
        s[i] = np.linspace(1, 0.5, 6)
        s[i, i], s[i, r] = s[i, r], s[i, i]
    close(student.call(M + "median_rank", s, eye, returns=Float()), 2.0, "median_rank for 0-based ranks [0,1,2,5]")


@task("mean_average_precision", points=2)
def test_mean_average_precision_matches_sklearn(student, rng):
    scores, relevant = retrieval_case(rng, q=30, n=80)
    got = student.call(M + "mean_average_precision", scores, relevant, returns=Float())
    # sklearn's AP on a tie-free score (minus the position) equals AP with ties broken by lower index
    position = np.argsort(ranking(scores), axis=1)
    expected = np.mean([skm.average_precision_score(relevant[i], -position[i]) for i in range(len(scores))])
    close(got, expected, "mean_average_precision differs from sklearn.average_precision_score (ties by lower index)")
