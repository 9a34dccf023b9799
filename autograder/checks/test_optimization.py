"""Graded checks for exercises/optimization.py.

Oracles: torch's own F.cross_entropy / F.kl_div and autograd on the concatenated batch (computed
here, in the grader), exact binomial and multinomial expectations for modality dropout, and
hand-worked early-stopping sequences. Probes only run the learner's code and send back values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from autograder.checking import close, probe_raises
from autograder.expect import Array, Bool, Dict, Float, Int, List, Optional, Str

task = pytest.mark.task
P = "optimization."


# ----------------------------------------------------------------------------- distillation_loss
DISTILL_SPEC = Dict({"loss_type": Str(), "loss": Optional(Float()), "ndim": Int(),
                     "student_grad": Optional(Array(None, "float")), "teacher_grad": Optional(Array(None, "float"))})


def reference_distillation(student_logits, teacher_logits, labels, temperature, alpha, slip: str | None = None):
    """(loss, d loss / d student_logits) from torch's built-ins, in float64; `slip` builds a known mistake instead."""
    s = torch.tensor(student_logits, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(teacher_logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.long)
    T = temperature
    hard = F.cross_entropy(s / T if slip == "ce" else s, y)
    student_in = F.softmax(s / T, dim=1) if slip == "softmax" else F.log_softmax(s / T, dim=1)
    teacher_probs = F.softmax(t if slip == "teacher" else t / T, dim=1)
    if slip == "direction":
        soft = F.kl_div(F.log_softmax(t / T, dim=1), F.softmax(s / T, dim=1), reduction="batchmean")
    else:
        soft = F.kl_div(student_in, teacher_probs, reduction="mean" if slip == "reduction" else "batchmean")
    scale = 1.0 if slip == "t2" else T**2
    if slip == "alpha":
        loss = (1 - alpha) * hard + alpha * scale * soft
    else:
        loss = alpha * hard + (1 - alpha) * scale * soft
    loss.backward()
    return loss.item(), s.grad.numpy()


# the slips learners make, so that feedback can name the one a wrong value matches
DISTILL_SLIPS = {
    "t2": "the formula without the T² factor on the KL term",
    "direction": "KL(student || teacher): the KL direction swapped (F.kl_div(input, target) computes KL(target || input))",
    "softmax": "F.kl_div given the student's softmax instead of its log_softmax",
    "teacher": "the teacher's softmax without the temperature (softmax(teacher_logits) instead of softmax(teacher_logits / T))",
    "alpha": "alpha and 1 - alpha swapped (alpha weighs the hard-label CE)",
    "reduction": "F.kl_div with reduction='mean' (divides by C too; 'batchmean' is the true KL)",
    "ce": "the hard-label CE on softened logits (student_logits / T); it takes the raw logits",
}


def name_the_slip(got: float, s, t, y, temperature, alpha) -> None:
    """Raise naming the known slip that `got` matches, when it misses the reference."""
    want, _ = reference_distillation(s, t, y, temperature, alpha)
    if math.isclose(got, want, rel_tol=1e-8, abs_tol=1e-10):
        return
    for slip, words in DISTILL_SLIPS.items():
        if math.isclose(got, reference_distillation(s, t, y, temperature, alpha, slip)[0], rel_tol=1e-8, abs_tol=1e-10):
            raise AssertionError(f"distillation_loss(T={temperature}, alpha={alpha}) = {got:.6g} matches {words}; "
                                 f"expected alpha*CE + (1-alpha)*T²*KL(teacher||student) = {want:.6g}")


def distill_case(rng, batch=16, classes=7):
    student = rng.normal(scale=2.0, size=(batch, classes))
    teacher = rng.normal(scale=3.0, size=(batch, classes))
    return student, teacher, rng.integers(0, classes, size=batch)


def run_distillation(student, s, t, y, temperature, alpha) -> dict:
    got = student.probe(P + "distillation_loss", s, t, y, temperature, alpha, returns=DISTILL_SPEC)
    if got["loss"] is None:
        shape = f" with {got['ndim']} dimensions" if got["ndim"] > 0 else ""
        raise AssertionError(f"distillation_loss returned {got['loss_type']}{shape}, expected a 0-d torch tensor")
    return got


SETTINGS = [(1.0, 0.5), (4.0, 0.3), (2.5, 0.0), (10.0, 1.0), (0.5, 0.9)]


@task("distillation_loss", points=3)
def test_distillation_loss_matches_torch(student, rng):
    for temperature, alpha in SETTINGS:
        s, t, y = distill_case(rng)
        got = run_distillation(student, s, t, y, temperature, alpha)
        name_the_slip(got["loss"], s, t, y, temperature, alpha)
        want, _ = reference_distillation(s, t, y, temperature, alpha)
        close(got["loss"], want, f"distillation_loss(T={temperature}, alpha={alpha}) differs from "
              "alpha*CE + (1-alpha)*T²*KL(teacher||student) (batchmean) built from F.cross_entropy and F.kl_div",
              atol=1e-10, rtol=1e-8)


@task("distillation_loss", points=2)
def test_distillation_loss_gradient(student, rng):
    for temperature, alpha in SETTINGS[:3]:
        s, t, y = distill_case(rng, batch=9, classes=5)
        got = run_distillation(student, s, t, y, temperature, alpha)
        if got["student_grad"] is None:
            raise AssertionError("distillation_loss: no gradient reached student_logits (detached, or computed in NumPy?)")
        _, want = reference_distillation(s, t, y, temperature, alpha)
        close(got["student_grad"], want, f"d distillation_loss / d student_logits at T={temperature}, alpha={alpha}",
              atol=1e-10, rtol=1e-7)


@task("distillation_loss", points=1)
def test_distillation_loss_treats_teacher_as_constant(student, rng):
    s, t, y = distill_case(rng, batch=6, classes=4)
    got = run_distillation(student, s, t, y, 3.0, 0.2)
    grad = got["teacher_grad"]
    if grad is not None and np.abs(grad).max() > 0:
        raise AssertionError(f"distillation_loss sends gradient to teacher_logits (max |grad| {np.abs(grad).max():.2g}): "
                             "the teacher is a constant target — detach it")


@task("distillation_loss", points=1)
def test_distillation_loss_hand_worked(student):
    # Two identical rows, two classes; the student is uniform, the teacher says (3/4, 1/4) at T = 1 and at T = 2.
    # KL((.75,.25) || (.5,.5)) = .75 ln 1.5 + .25 ln .5 = 0.130812...; T² = 4 at T = 2.
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    s, y = np.zeros((2, 2)), np.array([0, 1])
    for temperature in (1.0, 2.0):
        t = np.tile([temperature * math.log(3.0), 0.0], (2, 1))
        got = run_distillation(student, s, t, y, temperature, 0.0)
        close(got["loss"], temperature**2 * kl,
              f"distillation_loss(alpha=0, T={temperature}) for a uniform student and teacher probabilities (3/4, 1/4) "
              f"(expected T²·KL, KL summed over classes and averaged over the 2 samples)", atol=1e-10)
    # identical logits: the KL term vanishes and only alpha * CE = alpha * ln 2 is left
    got = run_distillation(student, s, s.copy(), y, 4.0, 0.25)
    close(got["loss"], 0.25 * math.log(2.0), "distillation_loss(alpha=0.25) when teacher and student logits are equal",
          atol=1e-10)


@task("distillation_loss", points=1)
def test_distillation_loss_rejects_bad_input(student, rng):
    s, t, y = distill_case(rng, batch=4, classes=3)
    probe_raises(student, P + "distillation_loss", s, t, y, 0.0, 0.5, case="temperature=0")
    probe_raises(student, P + "distillation_loss", s, t, y, 2.0, 1.5, case="alpha=1.5")
    probe_raises(student, P + "distillation_loss", s, t[:, :2], y, 2.0, 0.5, case="teacher logits (4, 2) vs student (4, 3)")


# ----------------------------------------------------------------------------- accumulate_gradients
PARAM_NAMES = ("0.weight", "0.bias", "2.weight", "2.bias")
ACCUM_SPEC = Dict({"loss_type": Str(), "loss": Optional(Float()),
                   "grads": Dict({k: Optional(Array(None, "float")) for k in PARAM_NAMES}), "events": List(Str())})


def mlp_weights(rng, d_in=6, hidden=10, d_out=4) -> dict:
    return {"0.weight": rng.normal(scale=0.5, size=(hidden, d_in)), "0.bias": rng.normal(scale=0.1, size=hidden),
            "2.weight": rng.normal(scale=0.5, size=(d_out, hidden)), "2.bias": rng.normal(scale=0.1, size=d_out)}


def micro_batches(rng, sizes, d_in, d_out, loss):
    out = []
    for n in sizes:
        x = rng.normal(size=(n, d_in))
        y = rng.integers(0, d_out, size=n) if loss == "cross_entropy" else rng.normal(size=(n, d_out))
        out.append((x, y))
    return out


def reference_gradients(weights, batches, loss, *, mode: str = "full"):
    """(loss, {name: grad}) of the MLP: mode "full" is the mean over the concatenated batch; the others are the
    classic mistakes: "naive" averages the micro-batch means (wrong with unequal sizes), "sum" adds them unscaled,
    "last" keeps only the last micro-batch's share n_last / N (zero_grad inside the loop)."""
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in weights.items()}
    base = F.cross_entropy if loss == "cross_entropy" else F.mse_loss
    target_dtype = torch.long if loss == "cross_entropy" else torch.float64

    def mean_loss(x, y):
        hidden = torch.tanh(torch.as_tensor(x, dtype=torch.float64) @ params["0.weight"].T + params["0.bias"])
        return base(hidden @ params["2.weight"].T + params["2.bias"], torch.as_tensor(y, dtype=target_dtype))

    if mode == "naive":
        total = sum(mean_loss(x, y) for x, y in batches) / len(batches)
    elif mode == "sum":
        total = sum(mean_loss(x, y) for x, y in batches)
    elif mode == "last":
        total = mean_loss(*batches[-1]) * len(batches[-1][0]) / sum(len(x) for x, _ in batches)
    else:
        total = mean_loss(np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches]))
    total.backward()
    return total.item(), {k: p.grad.numpy() for k, p in params.items()}


ACCUMULATION_SLIPS = {
    "naive": "the plain average of the micro-batch means, not the full-batch mean: weight each by n_i / N",
    "sum": "the SUM of the micro-batch means: scale each micro-batch's loss by n_i / N before backward",
    "last": "the last micro-batch's share only: zero the gradients once before the loop, not inside it",
}


def run_accumulation(student, weights, batches, loss, stale_grads=False) -> dict:
    got = student.probe(P + "accumulate_gradients", weights, batches, loss, stale_grads=stale_grads, returns=ACCUM_SPEC)
    if got["loss"] is None:
        raise AssertionError(f"accumulate_gradients returned {got['loss_type']}, expected a Python float (hint: .item())")
    empty = [k for k in PARAM_NAMES if got["grads"][k] is None]
    if empty:
        raise AssertionError(f"accumulate_gradients left .grad of parameter(s) {empty} empty (was backward called?)")
    return got


def compare_gradients(got, weights, batches, loss, what):
    want_loss, want = reference_gradients(weights, batches, loss)
    sizes = [len(x) for x, _ in batches]
    for name in PARAM_NAMES:
        g = got["grads"][name]
        if g.shape == want[name].shape and not np.allclose(g, want[name], rtol=1e-7, atol=1e-10):
            for mode, words in ACCUMULATION_SLIPS.items():
                if np.allclose(g, reference_gradients(weights, batches, loss, mode=mode)[1][name], rtol=1e-7, atol=1e-10):
                    raise AssertionError(f"{what}: .grad of {name} on micro-batches of sizes {sizes} equals {words}")
        close(g, want[name], f"{what}: .grad of {name} on micro-batches of sizes {sizes} vs one batch of {sum(sizes)}",
              atol=1e-10, rtol=1e-7)
    if len(sizes) > 1 and not math.isclose(got["loss"], want_loss, rel_tol=1e-8, abs_tol=1e-10) and math.isclose(
            got["loss"], float(np.mean(micro_batch_means(weights, batches, loss))), rel_tol=1e-8, abs_tol=1e-10):
        raise AssertionError(f"{what}: the returned loss {got['loss']:.6g} is the plain average of the micro-batch means "
                             f"over sizes {sizes}; expected the mean over all {sum(sizes)} samples {want_loss:.6g} "
                             "(weight each by n_i / N)")
    close(got["loss"], want_loss, f"{what}: the returned loss vs the mean loss over all {sum(sizes)} samples",
          atol=1e-10, rtol=1e-8)


def micro_batch_means(weights, batches, loss) -> list[float]:
    return [reference_gradients(weights, [batch], loss)[0] for batch in batches]


@task("accumulate_gradients", points=3)
def test_accumulate_gradients_equals_one_large_batch(student, rng):
    weights = mlp_weights(rng)
    batches = micro_batches(rng, [7, 2, 12, 1], 6, 4, "cross_entropy")
    got = run_accumulation(student, weights, batches, "cross_entropy")
    compare_gradients(got, weights, batches, "cross_entropy", "accumulate_gradients with cross-entropy")


@task("accumulate_gradients", points=1)
def test_accumulate_gradients_regression_and_single_batch(student, rng):
    weights = mlp_weights(rng, d_in=3, hidden=5, d_out=2)
    for sizes in ([3, 9, 4], [5]):
        batches = micro_batches(rng, sizes, 3, 2, "mse")
        got = run_accumulation(student, weights, batches, "mse")
        compare_gradients(got, weights, batches, "mse", "accumulate_gradients with MSE")


@task("accumulate_gradients", points=1)
def test_accumulate_gradients_discards_stale_gradients(student, rng):
    weights = mlp_weights(rng, d_in=4, hidden=6, d_out=3)
    batches = micro_batches(rng, [4, 6], 4, 3, "cross_entropy")
    got = run_accumulation(student, weights, batches, "cross_entropy", stale_grads=True)
    compare_gradients(got, weights, batches, "cross_entropy",
                      "accumulate_gradients when every .grad held ones from an earlier step (zero them first)")


@task("accumulate_gradients", points=1)
def test_accumulate_gradients_one_micro_batch_at_a_time(student, rng):
    weights = mlp_weights(rng, d_in=4, hidden=6, d_out=3)
    batches = micro_batches(rng, [3, 5, 2, 4], 4, 3, "cross_entropy")
    got = run_accumulation(student, weights, batches, "cross_entropy")
    expected = ["forward", "backward"] * len(batches)
    if got["events"] != expected:
        raise AssertionError(f"accumulate_gradients ran {' '.join(got['events'])}, expected {' '.join(expected)}: "
                             "call backward on each micro-batch before the next forward, or every graph stays in memory")


@task("accumulate_gradients", points=1)
def test_accumulate_gradients_rejects_bad_input(student, rng):
    weights = mlp_weights(rng, d_in=4, hidden=6, d_out=3)
    probe_raises(student, P + "accumulate_gradients", weights, [], "cross_entropy", case="an empty list of batches")
    empty = [(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))]
    probe_raises(student, P + "accumulate_gradients", weights, empty, "cross_entropy", case="a micro-batch of 0 samples")


# ----------------------------------------------------------------------------- modality_dropout
SHAPES = {"image": (4,), "text": (2, 3), "audio": (2,)}


def modality_features(rng, batch, shapes=SHAPES) -> dict:
    """Features with no zero entry, so a zeroed row can only mean a dropped modality."""
    return {k: (rng.uniform(0.5, 2.0, size=(batch, *s)) * rng.choice([-1, 1], size=(batch, *s))).astype(np.float32)
            for k, s in shapes.items()}


def run_dropout(student, features, p, training=True, calls=1) -> list[dict]:
    spec = Dict({"outputs": List(Dict({}, extra=True)), "keys": List(List(Str())), "types": List(Str())})
    got = student.probe(P + "modality_dropout", features, p, training=training, calls=calls, returns=spec)
    for kind, keys in zip(got["types"], got["keys"]):
        if kind != "dict":
            raise AssertionError(f"modality_dropout returned {kind}, expected a dict of tensors")
        if keys != list(features):
            raise AssertionError(f"modality_dropout returned keys {keys}, expected {list(features)}")
    return got["outputs"]


def keep_mask(features: dict, output: dict, p) -> np.ndarray:
    """(B, M) bool: True where the sample's modality came back unchanged, False where it is all zeros."""
    columns = []
    for name, x in features.items():
        y = Array(x.shape, "float").check(output[name], f"modality_dropout(p={p})[{name!r}]")
        if y.dtype != x.dtype:
            raise AssertionError(f"modality_dropout(p={p})[{name!r}] has dtype {y.dtype}, expected {x.dtype} (the input's)")
        rows_x, rows_y = x.reshape(len(x), -1), y.reshape(len(y), -1)
        kept, zeroed = (rows_y == rows_x).all(axis=1), (rows_y == 0).all(axis=1)
        odd = np.flatnonzero(~kept & ~zeroed)
        if odd.size:
            i = int(odd[0])
            ratio = float(np.median(rows_y[i] / rows_x[i]))
            raise AssertionError(f"modality_dropout(p={p})[{name!r}]: {odd.size} samples are neither unchanged nor all zeros "
                                 f"(sample {i}: output/input ≈ {ratio:.3g}); drop whole modalities and do not rescale the others")
        columns.append(kept)
    return np.stack(columns, axis=1)


def expected_drop_rate(p: float, m: int) -> float:
    return p - p**m / m


@task("modality_dropout", points=1)
def test_modality_dropout_is_identity_at_eval(student, rng):
    features = modality_features(rng, 50)
    for p, training in ((0.7, False), (1.0, False), (0.0, True)):
        out = run_dropout(student, features, p, training=training)[0]
        for name, x in features.items():
            close(out[name], x, f"modality_dropout(p={p}, training={training})[{name!r}] must return the input unchanged",
                  atol=0, rtol=0)


@task("modality_dropout", points=1)
def test_modality_dropout_drops_whole_modalities_never_all(student, rng):
    features = modality_features(rng, 2000)
    for p in (0.5, 0.9):
        mask = keep_mask(features, run_dropout(student, features, p)[0], p)
        none_kept = int((~mask.any(axis=1)).sum())
        if none_kept:
            raise AssertionError(f"modality_dropout(p={p}) dropped every modality of {none_kept} of 2000 samples; "
                                 "a sample never loses all its inputs: keep one, chosen uniformly")
        if mask.all():
            raise AssertionError(f"modality_dropout(p={p}, training=True) dropped nothing in 2000 samples")
    single = {"image": features["image"][:300]}
    mask = keep_mask(single, run_dropout(student, single, 0.8)[0], 0.8)
    if not mask.all():
        raise AssertionError(f"modality_dropout with one modality dropped it for {int((~mask).sum())} of 300 samples; "
                             "a lone modality is never dropped")


@task("modality_dropout", points=2, timeout=30)
def test_modality_dropout_rates_match_the_rule(student, rng):
    batch = 12_000
    features = modality_features(rng, batch)
    m = len(features)
    for p in (0.3, 0.6, 1.0):
        mask = keep_mask(features, run_dropout(student, features, p)[0], p)
        want = expected_drop_rate(p, m)
        tolerance = 5 * math.sqrt(want * (1 - want) / batch)
        for j, name in enumerate(features):
            rate = 1 - mask[:, j].mean()
            if abs(rate - want) > tolerance:
                raise AssertionError(f"modality_dropout(p={p}) dropped {name!r} in {rate:.4f} of {batch} samples, expected "
                                     f"p - p^M/M = {want:.4f} ± {tolerance:.4f} (M={m}: keep one uniformly when all are drawn)")
        # joint patterns: independent draws per modality, plus the rescue of all-dropped samples
        patterns = mask @ (1 << np.arange(m))
        counts = np.bincount(patterns, minlength=2**m)
        probs = np.array([_pattern_probability(k, p, m) for k in range(2**m)])
        support = probs > 0
        if counts[~support].any():
            raise AssertionError(f"modality_dropout(p={p}): {int(counts[~support].sum())} samples lost every modality")
        pvalue = scipy.stats.chisquare(counts[support], probs[support] * batch).pvalue
        if pvalue < 1e-6:
            raise AssertionError(f"modality_dropout(p={p}): the joint keep/drop patterns over {m} modalities do not match "
                                 "the rule: independent draws per modality, and when all are drawn as dropped one kept, "
                                 f"chosen uniformly (chi-square p-value {pvalue:.1e}); counts {counts.tolist()}")


def _pattern_probability(bits: int, p: float, m: int) -> float:
    """Probability of a keep pattern (bit j set = modality j kept) under the documented rule."""
    kept = bin(bits).count("1")
    if kept == 0:
        return 0.0
    prob = (1 - p) ** kept * p ** (m - kept)
    return prob + (p**m / m if kept == 1 else 0.0)


@task("modality_dropout", points=1)
def test_modality_dropout_draws_per_sample_and_per_call(student, rng):
    features = modality_features(rng, 4000)
    outputs = run_dropout(student, features, 0.4, calls=2)
    first, second = (keep_mask(features, out, 0.4) for out in outputs)
    if np.array_equal(first, second):
        raise AssertionError("modality_dropout gave identical masks on two calls: draw new random numbers each call "
                             "(do not reseed inside)")
    column = first[:, 0].astype(float)
    lag1 = np.corrcoef(column[:-1], column[1:])[0, 1]
    if abs(lag1) > 5 / math.sqrt(len(column)):
        raise AssertionError(f"modality_dropout: neighbouring samples' masks correlate ({lag1:.3f}); draw each sample independently")


@task("modality_dropout", points=1)
def test_modality_dropout_honours_the_generator(student, rng):
    # p = 0.9: most samples draw every modality as dropped, so the rescue draw matters too
    features, p = modality_features(rng, 600), 0.9
    seed, other = (int(v) for v in rng.choice(2**31, size=2, replace=False))
    draws = [(seed, 1), (seed, 2), (other, 1)]  # (generator seed, global seed) before each call
    spec = Dict({"outputs": List(Dict({}, extra=True)), "keys": List(List(Str())), "types": List(Str()),
                 "global_rng_used": List(Bool())})
    got = student.probe(P + "modality_dropout_generator", features, p, draws, returns=spec)
    for kind, keys in zip(got["types"], got["keys"]):
        if kind != "dict" or keys != list(features):
            raise AssertionError(f"modality_dropout(generator=...) returned {kind} with keys {keys}, expected a dict with "
                                 f"keys {list(features)}")
    same, reseeded, other_seed = (keep_mask(features, out, p) for out in got["outputs"])
    if not np.array_equal(same, reseeded):
        differ = int((same != reseeded).any(axis=1).sum())
        raise AssertionError(f"modality_dropout(p={p}, generator=g): two calls with g in the same state gave different "
                             f"masks for {differ} of {len(same)} samples (only torch's global RNG differed): draw every "
                             "random number, the keep/drop draws and the rescue choice, from `generator`")
    if any(got["global_rng_used"]):
        raise AssertionError(f"modality_dropout(p={p}, generator=g) advanced torch's global RNG: with a generator, draw "
                             "every random number from it")
    if np.array_equal(same, other_seed):
        raise AssertionError(f"modality_dropout(p={p}): generators seeded {seed} and {other} gave the same mask for all "
                             f"{len(same)} samples: the draws must come from `generator`")


@task("modality_dropout", points=1)
def test_modality_dropout_rejects_bad_input(student, rng):
    features = modality_features(rng, 5)
    probe_raises(student, P + "modality_dropout", features, 1.5, case="p=1.5")
    probe_raises(student, P + "modality_dropout", features, -0.1, case="p=-0.1")
    probe_raises(student, P + "modality_dropout", {}, 0.5, case="an empty dict", errors=("ValueError", "TypeError"))
    uneven = {"image": features["image"], "text": features["text"][:3]}
    probe_raises(student, P + "modality_dropout", uneven, 0.5, case="batch sizes 5 and 3")


# ----------------------------------------------------------------------------- EarlyStopping
ATTRIBUTE_SPEC = Dict({name: Dict({"kind": Str(), "value": Optional(Float(finite=False))})
                       for name in ("best", "best_epoch", "num_bad_epochs", "should_stop")})
STOP_SPEC = Dict({"initial": ATTRIBUTE_SPEC, "flags": List(Optional(Bool())), "flag_types": List(Str()),
                  "attributes": List(ATTRIBUTE_SPEC)})
ATTRIBUTE_KINDS = {"best": ("float", "int"), "best_epoch": ("int",), "num_bad_epochs": ("int",), "should_stop": ("bool",)}


def reference_early_stopping(metrics, patience, min_delta, mode):
    """Per step, the attributes straight from the definition: [{best, best_epoch, num_bad_epochs, should_stop}, ...]."""
    best, best_epoch, bad = (math.inf if mode == "min" else -math.inf), -1, 0
    states = []
    for epoch, value in enumerate(metrics):
        improved = value < best - min_delta if mode == "min" else value > best + min_delta
        if improved:
            best, best_epoch, bad = value, epoch, 0
        else:
            bad += 1
        states.append({"best": best, "best_epoch": best_epoch, "num_bad_epochs": bad,
                       "should_stop": not improved and bad >= patience})
    return states


def first_stop(states) -> int | None:
    return next((epoch for epoch, state in enumerate(states) if state["should_stop"]), None)


def check_attributes(got: dict, want: dict, where: str) -> None:
    """Every attribute the docstring promises: present, of the promised type, with the reference value."""
    for name, kinds in ATTRIBUTE_KINDS.items():
        kind, value = got[name]["kind"], got[name]["value"]
        if kind == "missing":
            raise AssertionError(f"{where}: EarlyStopping has no attribute {name!r}; the docstring promises best, "
                                 "best_epoch, num_bad_epochs and should_stop")
        if kind not in kinds:
            raise AssertionError(f"{where}: EarlyStopping.{name} is {kind}, expected {' or '.join(kinds)}")
        expected = float(want[name])
        if not (value == expected or (math.isnan(expected) and math.isnan(value))):
            shown = (lambda v: str(bool(v))) if name == "should_stop" else (lambda v: f"{v:g}")
            raise AssertionError(f"{where}: EarlyStopping.{name} is {shown(value)}, expected {shown(expected)}")


def check_stopping(student, metrics, patience, min_delta, mode, why="", *, hand_worked_stop: int | None | str = "-"):
    states = reference_early_stopping(metrics, patience, min_delta, mode)
    stop = first_stop(states)
    assert hand_worked_stop in ("-", stop), f"grader bug: reference stops at {stop}, worked by hand {hand_worked_stop}"
    got = student.probe(P + "early_stopping", list(metrics), patience, min_delta=min_delta, mode=mode, returns=STOP_SPEC)
    setting = f"EarlyStopping(patience={patience}, min_delta={min_delta}, mode={mode!r}) on {[round(v, 4) for v in metrics]}"
    initial = {"best": math.inf if mode == "min" else -math.inf, "best_epoch": -1, "num_bad_epochs": 0, "should_stop": False}
    check_attributes(got["initial"], initial, f"{setting}, before any step")
    last = len(metrics) - 1 if stop is None else stop
    for epoch in range(last + 1):
        if got["flags"][epoch] is None:
            raise AssertionError(f"EarlyStopping.step returned {got['flag_types'][epoch]}, expected a bool")
    first_true = next((e for e, f in enumerate(got["flags"][: last + 1]) if f), None)
    if first_true != stop:
        said = f"did not stop by epoch {last}" if first_true is None else f"stopped at epoch {first_true}"
        want = "never stop" if stop is None else f"stop at epoch {stop}"
        raise AssertionError(f"{setting}: {said} (0-based), expected to {want}{why}")
    for epoch in range(last + 1):
        check_attributes(got["attributes"][epoch], states[epoch], f"{setting}, after step {epoch}")


@task("EarlyStopping", points=2)
def test_early_stopping_min_mode_hand_worked(student):
    check_stopping(student, [1.0, 0.8, 0.9, 0.85, 0.7, 0.75], 2, 0.0, "min",
                   " (two epochs in a row without a new minimum after epoch 1)", hand_worked_stop=3)
    check_stopping(student, [1.0, 2.0, 0.5, 2.0, 2.0, 2.0], 2, 0.0, "min",
                   " (the improvement at epoch 2 restarts the count)", hand_worked_stop=4)
    check_stopping(student, [3.0, 2.0, 2.0, 1.0], 0, 0.0, "min",
                   " (patience=0 stops at the first epoch that does not improve; a tie is no improvement)",
                   hand_worked_stop=2)
    check_stopping(student, [5.0, 4.0, 3.0, 2.0, 1.0], 1, 0.0, "min", " (it improves every epoch)", hand_worked_stop=None)


@task("EarlyStopping", points=2)
def test_early_stopping_min_delta_and_max_mode(student):
    check_stopping(student, [1.0, 0.97, 0.96, 0.94, 0.5], 2, 0.05, "min",
                   " (gains of 0.03 and 0.04 are not more than min_delta=0.05, and do not move best)", hand_worked_stop=2)
    check_stopping(student, [0.50, 0.60, 0.605, 0.62, 0.615, 0.61, 0.60, 0.9], 3, 0.01, "max",
                   " (mode='max': an improvement must exceed best + min_delta)", hand_worked_stop=6)


@task("EarlyStopping", points=1)
def test_early_stopping_nan_is_no_improvement(student):
    check_stopping(student, [1.0, float("nan"), 0.5], 1, 0.0, "min", " (a NaN metric is a bad epoch)", hand_worked_stop=1)


@task("EarlyStopping", points=1)
def test_early_stopping_random_sequences(student, rng):
    for _ in range(6):
        mode = str(rng.choice(["min", "max"]))
        # metrics on a 0.001 grid and min_delta off it: no case sits on the boundary, where
        # `metric < best - min_delta` and `best - metric > min_delta` could round differently
        patience, min_delta = int(rng.integers(0, 5)), float(rng.choice([0.0, 0.0105, 0.0505]))
        metrics = (np.cumsum(rng.normal(scale=0.05, size=25)) + 1.0).round(3).tolist()
        check_stopping(student, metrics, patience, min_delta, mode)


@task("EarlyStopping", points=1)
def test_early_stopping_rejects_bad_input(student):
    probe_raises(student, P + "early_stopping", [1.0], -1, case="patience=-1")
    probe_raises(student, P + "early_stopping", [1.0], 2, mode="median", case="mode='median'")
    probe_raises(student, P + "early_stopping", [1.0], 2, min_delta=-0.1, case="min_delta=-0.1")
