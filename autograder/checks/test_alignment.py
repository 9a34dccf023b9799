"""Graded checks for exercises/alignment.py.

Oracles: a brute-force loop for timestamp averaging; brute-force enumeration of warping paths, a
dynamic-programming table and the values in tslearn's documentation for DTW (tslearn itself is not
imported here: its numba compilation costs a minute on a busy machine; tests/ compares against it); torch's scaled_dot_product_attention
for cross-attention; the cross-entropy formula (SciPy's logsumexp) for InfoNCE; POT's log-domain
Sinkhorn, marginals and non-negativity for the transport plan.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import ot
import pytest
import torch
from scipy.special import logsumexp

from autograder.checking import close, equal, raises_value_error
from autograder.expect import Array, Bool, Dict, Float, Int, List, Optional, Tuple

task = pytest.mark.task
A = "alignment."


# ----------------------------------------------------------------------------- align_to_words
def words_reference(frames, times, spans):
    out = np.empty((len(spans), frames.shape[1]))
    for w, (start, end) in enumerate(spans):
        inside = [t for t in range(len(times)) if start <= times[t] < end]
        if not inside:
            mid = (start + end) / 2
            inside = [min(range(len(times)), key=lambda t: (abs(times[t] - mid), t))]
        out[w] = frames[inside].mean(axis=0)
    return out


@task("align_to_words", points=2)
def test_align_to_words_matches_loop(student, rng):
    t_frames = 120
    times = np.arange(t_frames) * 0.01 + 0.005  # 100 Hz, stamps at frame centres
    frames = rng.normal(size=(t_frames, 5))
    cuts = np.sort(rng.uniform(0.0, 1.2, size=16))
    spans = np.stack([cuts[:-1], cuts[1:]], axis=1)
    spans[3] = (spans[3, 0], spans[3, 0] + 0.004)  # shorter than a frame period: no frame inside
    got = student.call(A + "align_to_words", frames, times, spans, returns=Array((15, 5), "float"))
    close(got, words_reference(frames, times, spans), "align_to_words differs from a loop over words "
          "(mean of frames with start <= t < end; nearest frame to the midpoint when none)", atol=1e-6, rtol=1e-6)


@task("align_to_words", points=1)
def test_align_to_words_hand_worked(student):
    frames = np.array([[0.0], [2.0], [4.0], [6.0]])
    times = np.array([0.0, 0.1, 0.2, 0.3])
    # [0, 0.2) holds frames 0, 1 -> 1.0; [0.2, 0.25) holds frame 2 -> 4.0;
    # [0.31, 0.33) holds none: midpoint 0.32 is nearest frame 3 -> 6.0; end is exclusive: [0.1, 0.1) -> frame 1
    spans = np.array([[0.0, 0.2], [0.2, 0.25], [0.31, 0.33], [0.1, 0.1]])
    got = student.call(A + "align_to_words", frames, times, spans, returns=Array((4, 1), "float"))
    close(got[:, 0], [1.0, 4.0, 6.0, 2.0], "align_to_words for frames [0,2,4,6] at t=[0,.1,.2,.3] "
          "and spans [0,.2), [.2,.25), [.31,.33), [.1,.1)", atol=1e-6)


@task("align_to_words", points=1)
def test_align_to_words_rejects_bad_input(student):
    frames, times = np.zeros((4, 2)), np.arange(4.0)
    raises_value_error(student, A + "align_to_words", frames, times[:3], np.array([[0.0, 1.0]]),
                       case="3 frame times for 4 frames")
    raises_value_error(student, A + "align_to_words", frames, times, np.array([[0.0, 1.0, 2.0]]),
                       case="word_spans of shape (1, 3)")
    raises_value_error(student, A + "align_to_words", frames, times, np.array([[2.0, 1.0]]),
                       case="a word ending before it starts")
    raises_value_error(student, A + "align_to_words", np.full((4, 2), np.nan), times, np.array([[0.0, 1.0]]),
                       case="NaN frames")


# ----------------------------------------------------------------------------- dtw
def brute_force_dtw(x, y, window=None):
    """Minimum over every monotone path of the summed squared costs, then the square root."""
    n, m = len(x), len(y)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)

    def allowed(i, j):
        if window is None:
            return True
        lag, slack = (j - i, m - n) if n <= m else (i - j, n - m)
        return -window <= lag <= slack + window

    best = math.inf

    def walk(i, j, total):
        nonlocal best
        if not allowed(i, j):
            return
        total += cost[i, j]
        if total >= best:
            return
        if (i, j) == (n - 1, m - 1):
            best = total
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                walk(i + di, j + dj, total)

    walk(0, 0, 0.0)
    return math.sqrt(best)


def table_dtw(x, y, window=None):
    """The accumulated-cost table of tslearn's dtw, filled cell by cell; returns the distance."""
    n, m = len(x), len(y)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            lag, slack = (j - i, m - n) if n <= m else (i - j, n - m)
            if window is None or -window <= lag <= slack + window:
                acc[i + 1, j + 1] = cost[i, j] + min(acc[i, j], acc[i, j + 1], acc[i + 1, j])
    return math.sqrt(acc[n, m])


def check_path(path, x, y, distance, what, window=None):
    n, m = len(x), len(y)
    if not path or tuple(path[0]) != (0, 0) or tuple(path[-1]) != (n - 1, m - 1):
        raise AssertionError(f"{what}: the path must run from (0, 0) to ({n - 1}, {m - 1}), got {path[:2]} ... {path[-2:]}")
    for (i0, j0), (i1, j1) in itertools.pairwise(path):
        if (i1 - i0, j1 - j0) not in ((1, 0), (0, 1), (1, 1)):
            raise AssertionError(f"{what}: step ({i0}, {j0}) -> ({i1}, {j1}) is not (1,0), (0,1) or (1,1)")
    if window is not None:
        for i, j in path:
            lag, slack = (j - i, m - n) if n <= m else (i - j, n - m)
            if not -window <= lag <= slack + window:
                raise AssertionError(f"{what}: cell ({i}, {j}) lies outside the Sakoe-Chiba band of radius {window}")
    along = math.sqrt(sum(float(((x[i] - y[j]) ** 2).sum()) for i, j in path))
    close(along, distance, f"{what}: sqrt of the summed squared costs along the returned path differs from the distance",
          atol=1e-8, rtol=1e-8)


DTW_SPEC = Tuple(Float(), List(Tuple(Int(), Int())))


@task("dtw", points=1)
def test_dtw_tslearn_documented_values(student):
    # tslearn's docs: dtw([1, 2, 3], [1., 2., 2., 3.]) == 0.0; dtw_path([1, 2, 3], [1., 2., 2., 3., 4.])
    # == ([(0, 0), (1, 1), (1, 2), (2, 3), (2, 4)], 1.0)
    distance, _ = student.call(A + "dtw", np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [2.0], [3.0]]),
                               returns=DTW_SPEC)
    close(distance, 0.0, "dtw([1, 2, 3], [1, 2, 2, 3]) (tslearn's documented value)")
    x, y = np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [2.0], [3.0], [4.0]])
    distance, path = student.call(A + "dtw", x, y, returns=DTW_SPEC)
    close(distance, 1.0, "dtw([1, 2, 3], [1, 2, 2, 3, 4]) (tslearn's documented value; sqrt of summed squares)")
    equal(np.array(path), np.array([(0, 0), (1, 1), (1, 2), (2, 3), (2, 4)]),
          "dtw([1, 2, 3], [1, 2, 2, 3, 4]) path (tslearn's documented path)")


@task("dtw", points=2)
@pytest.mark.parametrize("window", [None, 1])
def test_dtw_matches_brute_force_and_table(student, rng, window):
    for n, m in ((5, 6), (6, 4), (5, 5)):
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
        distance, path = student.call(A + "dtw", x, y, window=window, returns=DTW_SPEC)
        what = f"dtw on ({n}, 2) and ({m}, 2) inputs with window={window}"
        close(distance, brute_force_dtw(x, y, window), f"{what}: distance differs from brute force over all paths",
              atol=1e-9, rtol=1e-9)
        check_path(path, x, y, distance, what, window)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(31, 3))
    distance, path = student.call(A + "dtw", x, y, window=window, returns=DTW_SPEC)
    close(distance, table_dtw(x, y, window), f"dtw on (40, 3) and (31, 3) inputs with window={window}: differs from "
          "the dynamic-programming table (tslearn's recursion)",
          atol=1e-9, rtol=1e-9)
    check_path(path, x, y, distance, f"dtw on (40, 3) and (31, 3) inputs with window={window}", window)


@task("dtw", points=1)
def test_dtw_rejects_bad_input(student):
    raises_value_error(student, A + "dtw", np.zeros((3, 2)), np.zeros((4, 3)), case="feature sizes 2 and 3")
    raises_value_error(student, A + "dtw", np.zeros((3, 2)), np.full((4, 2), np.nan), case="a NaN in y")
    raises_value_error(student, A + "dtw", np.zeros((3, 2)), np.zeros((4, 2)), window=-1, case="window=-1")


# ----------------------------------------------------------------------------- cross_attention
def attention_reference(q, k, v, mask):
    """Weights from the formula; outputs from torch's scaled_dot_product_attention (rows with a key)."""
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask[:, None, :], -np.inf, scores)
    empty = np.isneginf(scores).all(axis=-1, keepdims=True)
    scores = np.where(empty, 0.0, scores)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = np.where(empty, 0.0, weights / weights.sum(axis=-1, keepdims=True))
    attn_mask = None if mask is None else torch.as_tensor(~mask)[:, None, :]  # SDPA: True = take part
    out = torch.nn.functional.scaled_dot_product_attention(
        torch.as_tensor(q), torch.as_tensor(k), torch.as_tensor(v), attn_mask=attn_mask).numpy()
    return np.where(empty, 0.0, out), weights


def attention_inputs(rng, b=3, lq=4, lk=6, d=8, dv=5):
    return (rng.normal(size=(b, lq, d)), rng.normal(size=(b, lk, d)), rng.normal(size=(b, lk, dv)))


def attention_spec(b=3, lq=4, lk=6, dv=5):
    return Tuple(Array((b, lq, dv), "float"), Array((b, lq, lk), "float"))


@task("cross_attention", points=2)
def test_cross_attention_matches_sdpa(student, rng):
    q, k, v = attention_inputs(rng)
    out, weights = student.call(A + "cross_attention", q, k, v, returns=attention_spec())
    ref_out, ref_weights = attention_reference(q, k, v, None)
    close(weights, ref_weights, "cross_attention weights differ from softmax(q kᵀ / sqrt(d))", atol=1e-6, rtol=1e-5)
    close(out, ref_out, "cross_attention output differs from torch scaled_dot_product_attention", atol=1e-6, rtol=1e-5)


@task("cross_attention", points=2)
def test_cross_attention_padding_mask(student, rng):
    q, k, v = attention_inputs(rng)
    mask = rng.random((3, 6)) < 0.4
    mask[0, :] = False
    mask[1, -1] = True
    mask[2, :] = True  # every key of item 2 is padding
    out, weights = student.call(A + "cross_attention", q, k, v, key_padding_mask=mask, returns=attention_spec())
    ref_out, ref_weights = attention_reference(q, k, v, mask)
    close(weights, ref_weights, "cross_attention weights with a key_padding_mask (True = padding; all-padding item -> 0)",
          atol=1e-6, rtol=1e-5)
    close(out, ref_out, "cross_attention output with a key_padding_mask (all-padding item -> zeros, never NaN)",
          atol=1e-6, rtol=1e-5)


@task("cross_attention", points=1)
def test_cross_attention_takes_tensors_on_device(student, rng):
    q, k, v = attention_inputs(rng)
    mask = np.zeros((3, 6), dtype=bool)
    mask[:, 4:] = True
    got = student.probe(A + "cross_attention_on_device", q, k, v, mask,
                        returns=Dict({"out": Array((3, 4, 5), "float"), "weights": Array((3, 4, 6), "float"),
                                      "on_device": Bool()}))
    if not got["on_device"]:
        raise AssertionError("cross_attention given tensors on the grading device returned results on another device")
    ref_out, _ = attention_reference(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), mask)
    close(got["out"], ref_out, "cross_attention on float32 tensors", atol=1e-5, rtol=1e-4)


@task("cross_attention", points=1)
def test_cross_attention_rejects_bad_input(student, rng):
    q, k, v = attention_inputs(rng)
    raises_value_error(student, A + "cross_attention", q, k[:, :, :7], v, case="query d=8 and key d=7")
    raises_value_error(student, A + "cross_attention", q, k, v[:, :5], case="6 keys and 5 values")
    raises_value_error(student, A + "cross_attention", q, k, v, key_padding_mask=np.zeros((3, 5), dtype=bool),
                       case="a key_padding_mask of shape (3, 5) for 6 keys")


# ----------------------------------------------------------------------------- info_nce
def info_nce_reference(a, b, temperature):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = a @ b.T / temperature
    diag = np.diag(logits)
    rows = np.mean(logsumexp(logits, axis=1) - diag)
    cols = np.mean(logsumexp(logits, axis=0) - diag)
    return (rows + cols) / 2


@task("info_nce", points=2)
@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_info_nce_matches_formula(student, rng, temperature):
    a = rng.normal(size=(12, 6))
    b = a + 0.8 * rng.normal(size=(12, 6))
    b[:, 0] *= 3.0  # unnormalised rows: the loss must L2-normalise
    got = student.call(A + "info_nce", a, b, temperature=temperature, returns=Float())
    close(got, info_nce_reference(a, b, temperature),
          f"info_nce(temperature={temperature}) differs from the symmetric cross-entropy formula", atol=1e-6, rtol=1e-6)


@task("info_nce", points=1)
def test_info_nce_is_stable_at_low_temperature(student, rng):
    a = rng.normal(size=(8, 4))
    b = rng.normal(size=(8, 4))  # unrelated pairs at temperature 0.001: logits ~ 1000, softmax underflows to 0
    got = student.call(A + "info_nce", a, b, temperature=0.001, returns=Float())
    close(got, info_nce_reference(a, b, 0.001), "info_nce at temperature 0.001 (needs log-softmax, not log(softmax))",
          atol=1e-6, rtol=1e-6)


@task("info_nce", points=1)
def test_info_nce_gradients_flow(student, rng):
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    got = student.probe(A + "info_nce_gradients", a, b, 0.5,
                        returns=Dict({"loss": Float(), "grad_a": Optional(Array((6, 4), "float")),
                                      "grad_b": Optional(Array((6, 4), "float")), "on_device": Bool()}))
    if got["grad_a"] is None or got["grad_b"] is None:
        raise AssertionError("info_nce on tensors that require grad returned a loss without gradients "
                             "(was it computed in NumPy or detached?)")
    ta, tb = (torch.tensor(x, requires_grad=True) for x in (a, b))
    na, nb = torch.nn.functional.normalize(ta, dim=1), torch.nn.functional.normalize(tb, dim=1)
    logits, target = na @ nb.T / 0.5, torch.arange(6)
    loss = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
    loss.backward()
    close(got["grad_a"], ta.grad.numpy(), "gradient of info_nce with respect to a", atol=1e-8, rtol=1e-6)
    close(got["grad_b"], tb.grad.numpy(), "gradient of info_nce with respect to b", atol=1e-8, rtol=1e-6)
    if not got["on_device"]:
        raise AssertionError("info_nce given tensors on the grading device returned a loss on another device")


@task("info_nce", points=1)
def test_info_nce_rejects_bad_input(student, rng):
    a = rng.normal(size=(5, 3))
    raises_value_error(student, A + "info_nce", a, a[:4], case="5 and 4 rows")
    raises_value_error(student, A + "info_nce", a, a, temperature=0.0, case="temperature=0")
    raises_value_error(student, A + "info_nce", a, np.where(a > 0, np.nan, a), case="NaN embeddings")


# ----------------------------------------------------------------------------- sinkhorn
def plan_spec(n, m):
    return Array((n, m), "float")


@task("sinkhorn", points=2)
def test_sinkhorn_converges_to_pot(student, rng):
    cost = rng.random((6, 9))
    got = student.call(A + "sinkhorn", cost, epsilon=0.1, n_iters=2000, returns=plan_spec(6, 9))
    expected = ot.sinkhorn(np.full(6, 1 / 6), np.full(9, 1 / 9), cost, 0.1, method="sinkhorn_log",
                           numItermax=10000, stopThr=1e-13)
    close(got, expected, "sinkhorn(epsilon=0.1, n_iters=2000) differs from POT's ot.sinkhorn (log domain, converged)",
          atol=1e-7, rtol=1e-5)


@task("sinkhorn", points=2)
def test_sinkhorn_small_epsilon_marginals(student, rng):
    # exp(-cost / 0.01) underflows for costs near 1: only the log domain survives
    cost = 0.5 + rng.random((7, 5))
    plan = student.call(A + "sinkhorn", cost, epsilon=0.01, n_iters=500, returns=plan_spec(7, 5))
    if (plan < 0).any():
        raise AssertionError(f"sinkhorn plan has negative entries (min {plan.min():.3g})")
    close(plan.sum(axis=0), np.full(5, 1 / 5), "sinkhorn(epsilon=0.01) column sums (the last update makes them 1/m)",
          atol=1e-8, rtol=1e-6)
    close(plan.sum(axis=1), np.full(7, 1 / 7), "sinkhorn(epsilon=0.01, n_iters=500) row sums", atol=1e-4, rtol=1e-3)
    expected = ot.sinkhorn(np.full(7, 1 / 7), np.full(5, 1 / 5), cost, 0.01, method="sinkhorn_log",
                           numItermax=20000, stopThr=1e-13)
    close((plan * cost).sum(), (expected * cost).sum(), "sinkhorn(epsilon=0.01) transport cost <plan, cost> vs POT",
          atol=1e-4, rtol=1e-3)


@task("sinkhorn", points=1)
def test_sinkhorn_rejects_bad_input(student):
    cost = np.ones((3, 4))
    raises_value_error(student, A + "sinkhorn", cost, epsilon=0.0, case="epsilon=0")
    raises_value_error(student, A + "sinkhorn", cost, n_iters=0, case="n_iters=0")
    raises_value_error(student, A + "sinkhorn", np.ones(4), case="a 1-D cost")
    raises_value_error(student, A + "sinkhorn", np.array([[0.0, np.inf]]), case="an infinite cost")
