"""Graded checks for exercises/alignment.py.

Oracles: a brute-force loop for timestamp averaging; brute-force enumeration of warping paths, a
dynamic-programming table and the values in tslearn's documentation for DTW (tslearn itself is not
imported here: its numba compilation costs a minute on a busy machine; tests/ compares against it); torch's scaled_dot_product_attention
for cross-attention; the cross-entropy formula (SciPy's logsumexp) for InfoNCE; POT's log-domain
Sinkhorn, the documented iterations recomputed here, marginals and non-negativity for the transport plan,
in regimes where the kernel form exp(-cost/epsilon) underflows (float32 at epsilon = 0.01; float64 once
cost/epsilon > 745). Where a known slip explains a wrong answer (softmax over the wrong axis, a missing
scale or temperature, a one-sided loss), the feedback names it.
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


def check_words(got, frames, times, spans, what):
    """Compare with the loop, word by word, so the first wrong word names the rule it breaks."""
    expected = words_reference(frames, times, spans)
    for w, (start, end) in enumerate(spans):
        inside = [t for t in range(len(times)) if start <= times[t] < end]
        if inside:
            rule = (f"the mean of the {len(inside)} frame(s) with start <= t < end "
                    f"(t = {', '.join(f'{times[t]:.4g}' for t in inside[:4])}{', ...' if len(inside) > 4 else ''})")
        else:
            rule = (f"no frame has start <= t < end: the frame nearest the midpoint {(start + end) / 2:.4g} "
                    "(the one listed first on a tie)")
        if np.isnan(got[w]).any():
            raise AssertionError(f"{what}: word {w} [{start:.4g}, {end:.4g}) came back NaN; expected {rule} "
                                 "(a mean over zero frames is 0/0)")
        close(got[w], expected[w], f"{what}: word {w} [{start:.4g}, {end:.4g}) must be {rule}", atol=1e-6, rtol=1e-6)


@task("align_to_words", points=2)
def test_align_to_words_matches_loop(student, rng):
    t_frames = 120
    times = np.arange(t_frames) * 0.01 + 0.005  # 100 Hz, stamps at frame centres
    frames = rng.normal(size=(t_frames, 5))
    cuts = np.sort(rng.uniform(0.0, 1.2, size=16))
    spans = np.stack([cuts[:-1], cuts[1:]], axis=1)
    spans[3] = (spans[3, 0], spans[3, 0] + 0.004)  # shorter than a frame period: no frame inside
    order = rng.permutation(t_frames)  # frame_times may come in any order
    frames, times = frames[order], times[order]
    got = student.call(A + "align_to_words", frames, times, spans, returns=Array((15, 5), "float", finite=False))
    check_words(got, frames, times, spans, "align_to_words on 120 frames at 100 Hz (shuffled) and 15 words")


@task("align_to_words", points=1)
def test_align_to_words_hand_worked(student):
    # dyadic times, so midpoints and distances are exact
    frames = np.array([[0.0], [2.0], [4.0], [6.0]])
    times = np.array([0.0, 0.25, 0.5, 0.75])
    spans = np.array([
        [0.0, 0.5],     # frames at 0 and 0.25 (0.5 is the exclusive end) -> 1.0
        [0.5, 0.625],   # the frame at 0.5 (the start is inclusive) -> 4.0
        [0.3, 0.49],    # none inside: midpoint 0.395 is nearest 0.5 (the start 0.3 would pick 0.25) -> 4.0
        [0.25, 0.25],   # empty [0.25, 0.25): nearest the midpoint is the frame at 0.25 -> 2.0
    ])
    got = student.call(A + "align_to_words", frames, times, spans, returns=Array((4, 1), "float", finite=False))
    check_words(got, frames, times, spans, "align_to_words for frames [0, 2, 4, 6] at t = [0, .25, .5, .75]")
    # a tie between the frames at 0.75 and 0.5 (midpoint 0.625), listed out of time order: the first listed wins
    order = [3, 0, 1, 2]
    got = student.call(A + "align_to_words", frames[order], times[order], np.array([[0.5625, 0.6875]]),
                       returns=Array((1, 1), "float", finite=False))
    check_words(got, frames[order], times[order], np.array([[0.5625, 0.6875]]),
                "align_to_words with frame_times [.75, 0, .25, .5] (a tie: the frame listed first wins)")


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
def test_dtw_hand_worked_conventions(student):
    # every path starts at (0, 0): [1, 0] against [0] must pay 1² for the first cell (an open begin pays 0)
    distance, _ = student.call(A + "dtw", np.array([1.0, 0.0]), np.array([0.0]), returns=DTW_SPEC)
    close(distance, 1.0, "dtw([1, 0], [0]) must be sqrt(1² + 0²) = 1: every path starts at (0, 0) "
          "(only the table's corner [0][0] is 0; its first row and column are inf)", atol=1e-9)
    # the only path of [0] against [3, 4] costs 3² + 4² = 25: tslearn's distance is sqrt(25) = 5
    # (25 without the square root, 3 + 4 = 7 as a sum of Euclidean distances)
    distance, _ = student.call(A + "dtw", np.array([0.0]), np.array([3.0, 4.0]), returns=DTW_SPEC)
    close(distance, 5.0, "dtw([0], [3, 4]) must be sqrt(3² + 4²) = 5: the square root of the summed squared "
          "costs along the path (tslearn), not their sum (25) nor a sum of distances (7)", atol=1e-9)
    # the diagonal step (1, 1) is allowed: [0, 1] against itself costs 0 along (0, 0) -> (1, 1)
    distance, path = student.call(A + "dtw", np.array([0.0, 1.0]), np.array([0.0, 1.0]), returns=DTW_SPEC)
    close(distance, 0.0, "dtw([0, 1], [0, 1]) must be 0 along the diagonal path (0, 0) -> (1, 1) "
          "(the steps are (1, 0), (0, 1) and (1, 1))", atol=1e-9)
    equal(np.array(path), np.array([(0, 0), (1, 1)]), "dtw([0, 1], [0, 1]) path (one diagonal step)")


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
        inside = "" if window is None else " inside the Sakoe-Chiba band of radius 1 (is `window` applied?)"
        close(distance, brute_force_dtw(x, y, window),
              f"{what}: distance differs from the best path found by brute force{inside}", atol=1e-9, rtol=1e-9)
        check_path(path, x, y, distance, what, window)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(31, 3))
    distance, path = student.call(A + "dtw", x, y, window=window, returns=DTW_SPEC)
    inside = "" if window is None else " inside the Sakoe-Chiba band of radius 1 (is `window` applied?)"
    close(distance, table_dtw(x, y, window), f"dtw on (40, 3) and (31, 3) inputs with window={window}: differs from "
          f"the dynamic-programming table (tslearn's recursion){inside}",
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
    return Tuple(Array((b, lq, dv), "float", finite=False), Array((b, lq, lk), "float", finite=False))


def check_attention_weights(weights, q, k, mask, what):
    """The properties of the weights, each with its own line, before the entry-by-entry comparison."""
    padded = np.zeros(k.shape[:2], dtype=bool) if mask is None else mask
    empty = padded.all(axis=1)  # batch items whose keys are all padding
    live = ~empty
    if not np.isfinite(weights[live]).all():
        raise AssertionError(f"{what}: weights hold NaN or inf for items with real keys")
    leaked = np.abs(weights[live] * padded[live][:, None, :]).max(initial=0.0)
    if leaked > 1e-7:
        raise AssertionError(f"{what}: keys marked True in key_padding_mask (True = padding) must get weight 0, "
                             f"one got {leaked:.3g} (is the mask inverted?)")
    for b in np.flatnonzero(empty):
        if not (np.isfinite(weights[b]).all() and (weights[b] == 0).all()):
            raise AssertionError(f"{what}: item {b} has only padding keys, so its weights must all be 0 (never NaN, "
                                 f"never spread over padding): got {weights[b].ravel()[:4]} ...")
    sums = weights[live].sum(axis=-1)
    worst = np.abs(sums - 1).max(initial=0.0)
    if worst > 1e-5:
        over = "over the non-padded keys " if mask is not None else "over the keys "
        raise AssertionError(f"{what}: each query's weights {over}must sum to 1 (a softmax over the key axis, "
                             f"padding masked BEFORE it), a row sums to {sums.ravel()[np.argmax(np.abs(sums - 1))]:.4g}")
    for name, scale in (("not scaled at all", 1.0), ("divided by d instead of sqrt(d)", q.shape[-1])):
        _, wrong = attention_reference(q * math.sqrt(q.shape[-1]) / scale, k, k, mask)  # softmax(q kᵀ / scale)
        if np.abs(weights - wrong).max() < 1e-6:
            raise AssertionError(f"{what}: the scores are {name}: weights = softmax(q kᵀ / sqrt(d)) with d = "
                                 f"{q.shape[-1]}, the query/key size")


@task("cross_attention", points=2)
def test_cross_attention_matches_sdpa(student, rng):
    q, k, v = attention_inputs(rng)
    out, weights = student.call(A + "cross_attention", q, k, v, returns=attention_spec())
    ref_out, ref_weights = attention_reference(q, k, v, None)
    check_attention_weights(weights, q, k, None, "cross_attention without a mask")
    close(weights, ref_weights, "cross_attention weights differ from softmax(q kᵀ / sqrt(d))", atol=1e-6, rtol=1e-5)
    close(out, ref_out, "cross_attention output differs from torch scaled_dot_product_attention", atol=1e-6, rtol=1e-5)


@task("cross_attention", points=2)
def test_cross_attention_padding_mask(student, rng):
    q, k, v = attention_inputs(rng)
    mask = rng.random((3, 6)) < 0.4
    mask[0, :] = False
    mask[1, -1] = True
    mask[1, 0] = False  # item 1 keeps at least one real key
    mask[2, :] = True  # every key of item 2 is padding
    out, weights = student.call(A + "cross_attention", q, k, v, key_padding_mask=mask, returns=attention_spec())
    ref_out, ref_weights = attention_reference(q, k, v, mask)
    check_attention_weights(weights, q, k, mask, "cross_attention with a key_padding_mask")
    close(weights, ref_weights, "cross_attention weights with a key_padding_mask (True = padding; all-padding item -> 0)",
          atol=1e-6, rtol=1e-5)
    if not np.isfinite(out).all() or np.abs(out[2]).max() > 0:
        raise AssertionError("cross_attention with a key_padding_mask: item 2 has only padding keys, so its output must "
                             f"be zeros (never NaN), got {out[2].ravel()[:4]} ...")
    close(out, ref_out, "cross_attention output with a key_padding_mask (weights @ value over the real keys)",
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
def info_nce_terms(a, b, temperature, normalise=True, shift=0):
    """(mean cross-entropy a -> b over rows, mean cross-entropy b -> a over columns); the target of row i
    (and of column i) is index (i + shift) mod N (0: the diagonal, as documented)."""
    if normalise:
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = a @ b.T / temperature
    index, target = np.arange(len(a)), (np.arange(len(a)) + shift) % len(a)
    return (np.mean(logsumexp(logits, axis=1) - logits[index, target]),
            np.mean(logsumexp(logits, axis=0) - logits[target, index]))


def info_nce_reference(a, b, temperature):
    rows, cols = info_nce_terms(a, b, temperature)
    return (rows + cols) / 2


def diagnose_info_nce(got, a, b, temperature) -> str:
    """Name the slip when `got` equals a known wrong form of the loss ("" when none does)."""
    rows, cols = info_nce_terms(a, b, temperature)
    n = len(a)
    wrong = {
        "only the a -> b direction (the loss is symmetric: average it with b -> a)": rows,
        "only the b -> a direction (the loss is symmetric: average it with a -> b)": cols,
        "the two directions summed, not averaged": rows + cols,
        "no temperature (logits must be divided by it)": sum(info_nce_terms(a, b, 1.0)) / 2,
        "logits multiplied by the temperature instead of divided": sum(info_nce_terms(a, b, 1 / temperature)) / 2,
        "no L2-normalisation of the rows": sum(info_nce_terms(a, b, temperature, normalise=False)) / 2,
        f"a sum over the {n} pairs instead of the mean": n * (rows + cols) / 2,
        "targets shifted off the diagonal: row i's positive is column i": sum(info_nce_terms(a, b, temperature,
                                                                                             shift=1)) / 2,
    }
    for slip, value in wrong.items():
        if abs(got - value) <= 1e-6 * max(1.0, abs(value)) and abs(value - (rows + cols) / 2) > 1e-6:
            return f" (it equals {slip})"
    return ""


@task("info_nce", points=2)
@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_info_nce_matches_formula(student, rng, temperature):
    a = rng.normal(size=(12, 6))
    b = a + 0.8 * rng.normal(size=(12, 6))
    b[:, 0] *= 3.0  # unnormalised rows: the loss must L2-normalise
    got = student.call(A + "info_nce", a, b, temperature=temperature, returns=Float(finite=False))
    close(got, info_nce_reference(a, b, temperature),
          f"info_nce(temperature={temperature}) differs from the symmetric cross-entropy formula "
          f"(mean of the a -> b and b -> a cross-entropies of L2-normalised rows){diagnose_info_nce(got, a, b, temperature)}",
          atol=1e-6, rtol=1e-6)


@task("info_nce", points=1)
def test_info_nce_is_stable_at_low_temperature(student, rng):
    a = rng.normal(size=(8, 4))
    b = rng.normal(size=(8, 4))  # unrelated pairs at temperature 0.001: logits ~ 1000, softmax underflows to 0
    got = student.call(A + "info_nce", a, b, temperature=0.001, returns=Float(finite=False))
    if not math.isfinite(got):
        raise AssertionError(f"info_nce at temperature 0.001 returned {got}: softmax underflows to 0 there, so "
                             "log(softmax(...)) gives -inf; use a stable log-softmax (F.cross_entropy)")
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
    return Array((n, m), "float", finite=False)


def documented_sinkhorn(cost, epsilon, n_iters):
    """The docstring's iterations in float64 NumPy: from g = 0, update f then g, in the log domain."""
    n, m = cost.shape
    g = np.zeros(m)
    for _ in range(n_iters):
        f = -epsilon * math.log(n) - epsilon * logsumexp((g[None, :] - cost) / epsilon, axis=1)
        g = -epsilon * math.log(m) - epsilon * logsumexp((f[:, None] - cost) / epsilon, axis=0)
    return np.exp((f[:, None] + g[None, :] - cost) / epsilon)


def pot_plan(cost, epsilon):
    n, m = cost.shape
    return ot.sinkhorn(np.full(n, 1 / n), np.full(m, 1 / m), cost, epsilon, method="sinkhorn_log",
                       numItermax=20000, stopThr=1e-13)


def check_plan_is_finite(plan, what, why):
    if not np.isfinite(plan).all():
        bad = int((~np.isfinite(plan)).sum())
        raise AssertionError(f"{what}: {bad} plan entries are NaN or inf: {why}")


@task("sinkhorn", points=1)
@pytest.mark.parametrize("n_iters", [1, 3])
def test_sinkhorn_follows_the_documented_iterations(student, rng, n_iters):
    cost = rng.random((4, 6))
    got = student.call(A + "sinkhorn", cost, epsilon=0.2, n_iters=n_iters, returns=plan_spec(4, 6))
    what = f"sinkhorn(epsilon=0.2, n_iters={n_iters}) on a (4, 6) cost"
    check_plan_is_finite(got, what, "nothing overflows here")
    close(got.sum(axis=0), np.full(6, 1 / 6), f"{what}: column sums must be exactly 1/m = 1/6 after any number of "
          "iterations (each ends with the g update; the row marginals are 1/n = 1/4)", atol=1e-12, rtol=1e-9)
    close(got, documented_sinkhorn(cost, 0.2, n_iters),
          f"sinkhorn(epsilon=0.2, n_iters={n_iters}) differs from exactly {n_iters} documented iteration(s): "
          "from g = 0, update f then g with epsilon inside and outside the logsumexp, then "
          "plan = exp((f + g - cost) / epsilon)", atol=1e-10, rtol=1e-8)


@task("sinkhorn", points=2)
def test_sinkhorn_converges_to_pot(student, rng):
    cost = rng.random((6, 9))
    got = student.call(A + "sinkhorn", cost, epsilon=0.1, n_iters=500, returns=plan_spec(6, 9))
    check_plan_is_finite(got, "sinkhorn(epsilon=0.1, n_iters=500) on costs in [0, 1)", "nothing overflows here")
    close(got.sum(axis=0), np.full(9, 1 / 9), "sinkhorn(epsilon=0.1) column sums: the marginals are 1/n for the n = 6 "
          "rows and 1/m for the m = 9 columns (after the last g update the columns sum exactly to 1/m)",
          atol=1e-9, rtol=1e-6)
    close(got, pot_plan(cost, 0.1), "sinkhorn(epsilon=0.1, n_iters=500) differs from POT's ot.sinkhorn "
          "(log domain, converged)", atol=1e-7, rtol=1e-5)


@task("sinkhorn", points=2)
def test_sinkhorn_small_epsilon_float32(student, rng):
    # UNITER-style costs, 1 - cosine similarity, in float32 (the dtype of a network's features); word 3 matches
    # no region: all its costs exceed 1.1, so at epsilon = 0.01 its whole row of exp(-cost / epsilon) is below
    # e^-110, under float32's smallest subnormal (1.4e-45 = e^-103.3): the kernel is 0 there and a / (K v) is inf.
    words, regions = rng.normal(size=(7, 16)), rng.normal(size=(5, 16))
    words /= np.linalg.norm(words, axis=1, keepdims=True)
    regions /= np.linalg.norm(regions, axis=1, keepdims=True)
    cost = 1.0 - words @ regions.T
    cost[3] = rng.uniform(1.1, 1.9, size=5)
    plan = student.call(A + "sinkhorn", cost.astype(np.float32), epsilon=0.01, n_iters=300, returns=plan_spec(7, 5))
    what = "sinkhorn(epsilon=0.01) on float32 costs 1 - cosine"
    check_plan_is_finite(plan, what, "exp(-cost/epsilon) underflows to 0 in float32 once cost/epsilon > 103 "
                         "(and the scaling a / (K v) overflows past e^88.7): iterate on the potentials in the log domain")
    if (plan < 0).any():
        raise AssertionError(f"{what}: the plan has negative entries (min {plan.min():.3g})")
    close(plan.sum(axis=0), np.full(5, 1 / 5), f"{what}: column sums (the last update makes them 1/m)",
          atol=1e-6, rtol=1e-5)
    close(plan.sum(axis=1), np.full(7, 1 / 7), f"{what}, n_iters=300: row sums", atol=1e-5, rtol=1e-4)
    close(plan, pot_plan(cost, 0.01), f"{what}: plan vs POT's log-domain ot.sinkhorn (float64)", atol=1e-5, rtol=1e-3)


@task("sinkhorn", points=1)
def test_sinkhorn_large_costs_float64(student, rng):
    # Adding a constant to a row or a column of the cost leaves the plan unchanged (the potentials absorb it).
    # Shifted by 20..40 per row and per column, every cost/epsilon exceeds 800 at epsilon = 0.05: exp(-cost/epsilon)
    # is exactly 0 even in float64 (below e^-745), so only the log domain still finds the plan.
    cost = rng.random((6, 8))
    shifted = cost + rng.uniform(20, 40, size=(6, 1)) + rng.uniform(20, 40, size=(1, 8))
    plan = student.call(A + "sinkhorn", shifted, epsilon=0.05, n_iters=300, returns=plan_spec(6, 8))
    what = "sinkhorn(epsilon=0.05) on float64 costs between 40 and 81"
    check_plan_is_finite(plan, what, "exp(-cost/epsilon) < e^-800 underflows to exactly 0 even in float64 (below "
                         "e^-745): iterate on the potentials in the log domain")
    close(plan, pot_plan(cost, 0.05), f"{what}: the plan must equal the plan of the cost without its per-row and "
          "per-column constants (the potentials absorb them); compared with POT's log-domain ot.sinkhorn",
          atol=1e-7, rtol=1e-5)


@task("sinkhorn", points=1)
def test_sinkhorn_rejects_bad_input(student):
    cost = np.ones((3, 4))
    raises_value_error(student, A + "sinkhorn", cost, epsilon=0.0, case="epsilon=0")
    raises_value_error(student, A + "sinkhorn", cost, n_iters=0, case="n_iters=0")
    raises_value_error(student, A + "sinkhorn", np.ones(4), case="a 1-D cost")
    raises_value_error(student, A + "sinkhorn", np.array([[0.0, np.inf]]), case="an infinite cost")
