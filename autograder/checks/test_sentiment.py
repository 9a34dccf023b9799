"""Graded checks for exercises/sentiment.py (MulT-style multimodal sentiment analysis).

Oracles: the sinusoidal formula in float64; a CrossModalBlock rebuilt here from
torch.nn.MultiheadAttention, LayerNorm and Linear with the same weights; MMSA's sentiment metrics
(rebuilt from scikit-learn in test_metrics.py); and, for the trained model, a text-only baseline
that reads the words perfectly (`mmprep.data.sentiment.lexicon_sentiment`: polarity, strength and
negation of every word — the ceiling of any text-only model on this data, since only sarcasm
separates what the words say from the label).

The trained-model checks share one training run per grading seed: the probe trains the learner's
model with a fixed trusted loop (so these checks do not depend on train_sentiment_model) on data
it generates from a seed, and predicts on held-out inputs generated here; labels never leave the grader.

train_sentiment_model is checked step by step: a few full-batch steps on a trusted linear model,
recomputed here with torch.optim.Adam and F.l1_loss in float64. When a check fails, the feedback
names the slip whose recomputation the learner's output matches (MSE loss, gradients not zeroed,
queries from the source, an inverted mask, post-LN, sin/cos swapped, ...).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autograder.checking import close, equal, raises_value_error
from autograder.checks.test_metrics import mmsa_reference
from autograder.expect import Array, Bool, Dict, Float, Int, List
from autograder.student import StudentRaised
from mmprep.data.sentiment import feature_dims, lexicon_sentiment, make_sentiment_data

task = pytest.mark.task
S = "sentiment."
P = "sentiment."  # probes live in autograder/probes/sentiment.py

# the trained-model checks: small enough for seconds on one CPU core, big enough to be robust
TRAIN_CONFIG = {"d_model": 16, "num_heads": 2, "num_layers": 1, "dropout": 0.0}
TRAIN_SAMPLES, TRAIN_EPOCHS, TRAIN_LR, HELDOUT_SAMPLES = 480, 6, 6e-3, 400
MIN_NON0_ACC2 = 0.90
MIN_SARCASM_DAMAGE = 0.25  # MAE on sarcastic utterances must grow by this much without audio and vision


def probe_raises_value_error(student, target: str, *args, case: str, **kwargs) -> None:
    """Assert that a probe fails because the learner's code raised ValueError."""
    try:
        student.probe(target, *args, **kwargs)
    except StudentRaised as exc:
        if exc.is_a("ValueError"):
            return
        raise AssertionError(f"{case}: raised {exc.type_name} ({exc.message.splitlines()[0] if exc.message else ''}), "
                             "expected ValueError") from None
    raise AssertionError(f"{case}: ran normally, expected ValueError")


def padded_inputs(rng, dims: dict, batch: int, lengths: dict, garbage: float = 5.0):
    """Random (B, L_m, D_m) features whose padded steps hold large garbage, and their padding masks."""
    features, masks = {}, {}
    for m, dim in dims.items():
        length = lengths[m]
        real = rng.integers(1, length + 1, size=batch)
        real[0] = length  # one full row: the padded length is the longest sequence
        mask = np.arange(length)[None, :] >= real[:, None]
        x = rng.normal(size=(batch, length, dim))
        x[mask] = rng.normal(scale=garbage, size=(int(mask.sum()), dim))
        features[m], masks[m] = x.astype(np.float32), mask
    return features, masks


def extend_padding(rng, features: dict, masks: dict, extra: int = 4, garbage: float = 5.0):
    """The same batch with `extra` more padded steps of garbage on every modality."""
    out_f, out_m = {}, {}
    for m, x in features.items():
        b, _, d = x.shape
        out_f[m] = np.concatenate([x, rng.normal(scale=garbage, size=(b, extra, d)).astype(np.float32)], axis=1)
        out_m[m] = np.concatenate([masks[m], np.ones((b, extra), dtype=bool)], axis=1)
    return out_f, out_m


# ----------------------------------------------------------------------------- PositionalEncoding
def sinusoid_table(length: int, d_model: int) -> np.ndarray:
    position = np.arange(length)[:, None]
    angle = position / np.power(10000.0, np.arange(0, d_model, 2) / d_model)
    table = np.zeros((length, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(angle), np.cos(angle)
    return table


def positional_encoding_diagnosis(output: np.ndarray, x: np.ndarray, d_model: int, tol: float = 1e-5) -> str | None:
    """What is wrong with PositionalEncoding(d_model)(x) == output, in words (None: it is x + PE)."""
    table = sinusoid_table(x.shape[1], d_model)
    near = lambda a, b: np.allclose(a, b, atol=tol, rtol=tol)  # noqa: E731
    added = output - x
    if near(added, table[None]):
        return None
    if near(added, 0.0):
        return "PositionalEncoding returned x unchanged: nothing was added (forward must return x + PE[:L])"
    if near(output - np.sqrt(d_model) * x, table[None]):
        return (f"PositionalEncoding scaled x by sqrt(d_model) = {np.sqrt(d_model):.3g} before adding PE: this module "
                "returns x + PE[:L], unscaled")
    if near(added, 2 * table[None]):
        return "PositionalEncoding added the table twice: forward must return x + PE[:L] once"
    if not near(added, added[:1]):
        return ("PositionalEncoding added a different table to each batch row: positions run along dim 1 of a "
                "(B, L, d) input, and every row gets the same PE[:L] (indexing PE by x.size(0) is the seq-first layout)")
    at_zero = added[0, 0]
    if near(at_zero[0::2], 1.0) and near(at_zero[1::2], 0.0):
        return ("PositionalEncoding has sin and cos swapped: even columns 2i hold sin, odd columns 2i+1 cos "
                f"(PE[0] must be [0, 1, 0, 1, ...], got {np.round(at_zero[:4], 3).tolist()}...)")
    for pair in range(d_model // 2):
        if not near(added[0, :, 2 * pair], table[:, 2 * pair]):
            expected = 10000.0 ** (-2 * pair / d_model)
            got = float(np.arcsin(np.clip(added[0, 1, 2 * pair], -1, 1)))  # position 1: sin(frequency)
            return (f"PositionalEncoding's frequencies differ from 1 / 10000^(2i / d_model): column pair i={pair} "
                    f"(columns {2 * pair}, {2 * pair + 1}) has frequency ~{got:.4g}, expected {expected:.4g}")
    return None if near(added, table[None]) else "PositionalEncoding(12)(x) differs from x + the sinusoidal table"


@task("PositionalEncoding", points=2)
def test_positional_encoding_matches_formula(student, rng):
    x = rng.normal(size=(3, 50, 12)).astype(np.float32)
    got = student.probe(P + "positional_encoding", x, 12, 64,
                        returns=Dict({"output": Array((3, 50, 12), "float"), "trainable_parameters": Int()}))
    problem = positional_encoding_diagnosis(got["output"], x, 12)
    if problem:
        raise AssertionError(problem)
    close(got["output"], x + sinusoid_table(50, 12)[None], "PositionalEncoding(12)(x) differs from x + the sinusoidal table "
          "(PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...))", atol=1e-5, rtol=1e-5)
    equal(got["trainable_parameters"], 0, "PositionalEncoding's number of trainable parameters (the table is fixed)")


@task("PositionalEncoding", points=1)
def test_positional_encoding_rejects_bad_input(student, rng):
    raises_value_error(student, S + "PositionalEncoding", 7, case="an odd d_model=7")
    probe_raises_value_error(student, P + "positional_encoding", rng.normal(size=(1, 20, 8)), 8, 16,
                             case="PositionalEncoding(8, max_len=16) on a sequence of length 20")


# ----------------------------------------------------------------------------- CrossModalBlock
def block_weights(rng, d: int) -> dict:
    """Random weights under CrossModalBlock's documented parameter names (LayerNorms not at 1/0)."""
    def linear(out_features, in_features):
        return rng.normal(scale=1 / np.sqrt(in_features), size=(out_features, in_features)), rng.normal(scale=0.1, size=out_features)

    state = {}
    for norm in ("norm_target", "norm_source", "norm_feed_forward"):
        state[f"{norm}.weight"], state[f"{norm}.bias"] = 1 + 0.2 * rng.normal(size=d), 0.1 * rng.normal(size=d)
    state["attention.in_proj_weight"], state["attention.in_proj_bias"] = linear(3 * d, d)
    state["attention.out_proj.weight"], state["attention.out_proj.bias"] = linear(d, d)
    state["feed_forward.0.weight"], state["feed_forward.0.bias"] = linear(4 * d, d)
    state["feed_forward.3.weight"], state["feed_forward.3.bias"] = linear(d, 4 * d)
    return {k: v.astype(np.float32) for k, v in state.items()}


BLOCK_SLIPS = {  # slip -> what the feedback says when the learner's output matches it
    "roles_swapped": "queries must come from the target and keys/values from the source (the output matches the "
                     "two roles swapped)",
    "mask_inverted": "True in source_padding_mask means padding (ignore that key): the output matches an inverted mask",
    "mask_ignored": "the source padding mask was ignored: pass it as key_padding_mask so padded source steps get no "
                    "attention",
    "no_attention_residual": "the attention output must be added to the target (h = target + MHA(...)): the residual "
                             "connection is missing",
    "residual_from_normalised": "the residual must add the raw target, not LN_t(target) (pre-LN: h = target + "
                                "MHA(LN_t(target), ...))",
    "post_norm": "LayerNorm in the wrong place: pre-LN normalises the inputs of the attention and the FFN "
                 "(h = target + MHA(LN_t(target), LN_s(source)), out = h + FFN(LN_ff(h))), the output matches post-LN",
    "source_with_target_norm": "keys/values must be normalised with norm_source (LN_s), not norm_target",
    "source_not_normalised": "keys/values must be LN_s(source): the source was not normalised",
    "no_feed_forward_residual": "the FFN output must be added to h (out = h + FFN(LN_ff(h))): the second residual is "
                                "missing",
}


def reference_block(state: dict, target, source, mask, d: int, heads: int, slip: str | None = None) -> np.ndarray:
    """Pre-LN cross-modal block from torch built-ins, in float64 (`slip`: one of BLOCK_SLIPS, for diagnosis)."""
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    norms = {name: nn.LayerNorm(d).double() for name in ("norm_target", "norm_source", "norm_feed_forward")}
    attention = nn.MultiheadAttention(d, heads, batch_first=True).double()
    ff_in, ff_out = nn.Linear(d, 4 * d).double(), nn.Linear(4 * d, d).double()
    with torch.no_grad():
        for name, norm in norms.items():
            norm.weight.copy_(t(state[f"{name}.weight"]))
            norm.bias.copy_(t(state[f"{name}.bias"]))
        attention.in_proj_weight.copy_(t(state["attention.in_proj_weight"]))
        attention.in_proj_bias.copy_(t(state["attention.in_proj_bias"]))
        attention.out_proj.weight.copy_(t(state["attention.out_proj.weight"]))
        attention.out_proj.bias.copy_(t(state["attention.out_proj.bias"]))
        for layer, key in ((ff_in, "feed_forward.0"), (ff_out, "feed_forward.3")):
            layer.weight.copy_(t(state[f"{key}.weight"]))
            layer.bias.copy_(t(state[f"{key}.bias"]))
        target, source = t(target), t(source)
        query = norms["norm_target"](target)
        key_value = {"source_with_target_norm": norms["norm_target"], "source_not_normalised": lambda z: z}.get(
            slip, norms["norm_source"])(source)
        if slip == "roles_swapped":
            query, key_value = norms["norm_source"](source), norms["norm_target"](target)
        if slip == "post_norm":
            query, key_value = target, source
        key_padding_mask = None if mask is None or slip == "mask_ignored" else torch.as_tensor(mask)
        if key_padding_mask is not None and slip == "mask_inverted":
            key_padding_mask = ~key_padding_mask
        attended, _ = attention(query, key_value, key_value, key_padding_mask=key_padding_mask, need_weights=False)
        residual = {"no_attention_residual": 0.0, "residual_from_normalised": query}.get(slip, target)
        h = residual + attended
        if slip == "post_norm":
            h = norms["norm_target"](h)
            out = norms["norm_feed_forward"](h + ff_out(torch.relu(ff_in(h))))
        else:
            out = (0.0 if slip == "no_feed_forward_residual" else h) + ff_out(torch.relu(ff_in(norms["norm_feed_forward"](h))))
    return out.numpy()


def block_diagnosis(got: np.ndarray, state: dict, target, source, mask, d: int, heads: int) -> str | None:
    """The BLOCK_SLIPS feedback whose reference the learner's output matches (None: no known slip matches)."""
    for slip, feedback in BLOCK_SLIPS.items():
        if slip == "roles_swapped" and source.shape[1] != target.shape[1]:
            continue  # needs equal lengths (the learner's swapped block would not even run otherwise)
        if slip.startswith("mask") and mask is None:
            continue
        candidate = reference_block(state, target, source, mask, d, heads, slip)
        if np.allclose(got, candidate, atol=2e-4, rtol=1e-4, equal_nan=True):
            return f"CrossModalBlock: {feedback}"
    return None


def block_matches_reference(got, state, target, source, mask, d, heads, what: str) -> None:
    expected = reference_block(state, target, source, mask, d, heads)
    if not np.allclose(got, expected, atol=2e-4, rtol=1e-4):
        problem = block_diagnosis(got, state, target, source, mask, d, heads)
        if problem:
            raise AssertionError(problem)
    close(got, expected, what, atol=2e-4, rtol=1e-4)


def block_case(rng, batch=4, lt=7, ls=11, d=16):
    target = rng.normal(size=(batch, lt, d)).astype(np.float32)
    source, mask = padded_inputs(rng, {"s": d}, batch, {"s": ls})
    return target, source["s"], mask["s"]


@task("CrossModalBlock", points=1)
def test_cross_modal_block_roles_residuals_and_norms(student, rng):
    # equal lengths and no mask: a block with the roles swapped still runs, so the slip can be named
    d, heads = 16, 4
    state = block_weights(rng, d)
    target = rng.normal(size=(3, 8, d)).astype(np.float32)
    source = (0.5 + 2.0 * rng.normal(size=(3, 8, d))).astype(np.float32)  # other statistics than the target
    got = student.probe(P + "cross_modal_block", state, target, source, None, d, heads,
                        returns=Array(target.shape, "float", finite=False))
    block_matches_reference(got, state, target, source, None, d, heads,
                            "CrossModalBlock(16, 4) with target and source of length 8 and no mask differs from the "
                            "pre-LN reference built from nn.MultiheadAttention, LayerNorm and Linear")


@task("CrossModalBlock", points=3)
def test_cross_modal_block_matches_reference(student, rng):
    d, heads = 16, 4
    state = block_weights(rng, d)
    target, source, mask = block_case(rng, d=d)
    got = student.probe(P + "cross_modal_block", state, target, source, mask, d, heads,
                        returns=Array(target.shape, "float", finite=False))
    block_matches_reference(got, state, target, source, mask, d, heads,
                            "CrossModalBlock(16, 4) with a padded source differs from the pre-LN reference built from "
                            "nn.MultiheadAttention(key_padding_mask), LayerNorm and Linear")


@task("CrossModalBlock", points=1)
def test_cross_modal_block_without_mask_and_other_sizes(student, rng):
    d, heads = 8, 2
    state = block_weights(rng, d)
    target = rng.normal(size=(1, 9, d)).astype(np.float32)
    source = rng.normal(size=(1, 3, d)).astype(np.float32)
    got = student.probe(P + "cross_modal_block", state, target, source, None, d, heads,
                        returns=Array((1, 9, d), "float", finite=False))
    block_matches_reference(got, state, target, source, None, d, heads,
                            "CrossModalBlock(8, 2) with target length 9, source length 3 and no mask differs from the "
                            "reference")


@task("CrossModalBlock", points=1)
def test_cross_modal_block_ignores_extra_masked_source_steps(student, rng):
    d, heads = 16, 4
    state = block_weights(rng, d)
    target, source, mask = block_case(rng, d=d)
    longer, longer_mask = extend_padding(rng, {"s": source}, {"s": mask}, extra=6)
    spec = Array(target.shape, "float")
    short = student.probe(P + "cross_modal_block", state, target, source, mask, d, heads, returns=spec)
    long = student.probe(P + "cross_modal_block", state, target, longer["s"], longer_mask["s"], d, heads, returns=spec)
    close(long, short, "CrossModalBlock output changed when 6 masked padding steps (random values) were appended to the source",
          atol=5e-5, rtol=1e-5)


@task("CrossModalBlock", points=1)
def test_cross_modal_block_rejects_bad_input(student):
    raises_value_error(student, S + "CrossModalBlock", 10, 4, case="d_model=10 with num_heads=4 (not divisible)")


# ----------------------------------------------------------------------------- the model
MODEL_CONFIG = {"d_model": 16, "num_heads": 2, "num_layers": 2, "dropout": 0.1}
DIMS = {"text": 9, "audio": 5, "vision": 6}
LENGTHS = {"text": 6, "audio": 13, "vision": 9}


@task("MultimodalSentimentTransformer", points=2)
def test_model_shape_and_score_range(student, rng):
    features, masks = padded_inputs(rng, DIMS, 5, LENGTHS)
    loud = {m: 1000.0 * x for m, x in features.items()}  # saturating inputs: the score must still stay in range
    got = student.probe(P + "model_outputs", DIMS, MODEL_CONFIG, [(features, masks), (loud, masks)],
                        returns=List(Array((5,), "float"), length=2))
    # every parameter x30: the head's pre-activation is huge, so only a bounding squash keeps the score in range
    got += student.probe(P + "model_outputs", DIMS, MODEL_CONFIG, [(features, masks)], weight_scale=30.0,
                         returns=List(Array((5,), "float"), length=1))
    for out, what in zip(got, ("random inputs", "inputs scaled by 1000", "every parameter scaled by 30")):
        worst = float(np.abs(out).max())
        if worst > 3.0:
            raise AssertionError(f"MultimodalSentimentTransformer scores on {what} leave [-3, 3]: max |score| {worst:.4g}")


@task("MultimodalSentimentTransformer", points=1)
def test_model_works_with_two_modalities_of_any_name(student, rng):
    dims = {"words": 7, "gaze": 3}
    features, masks = padded_inputs(rng, dims, 4, {"words": 5, "gaze": 12})
    student.probe(P + "model_outputs", dims, MODEL_CONFIG, [(features, masks)], returns=List(Array((4,), "float"), length=1))
    raises_value_error(student, S + "MultimodalSentimentTransformer", {"text": 9}, case="a single modality")


@task("MultimodalSentimentTransformer", points=2)
def test_model_ignores_masked_padding(student, rng):
    features, masks = padded_inputs(rng, DIMS, 6, LENGTHS)
    longer, longer_masks = extend_padding(rng, features, masks, extra=5)
    short, long = student.probe(P + "model_outputs", DIMS, MODEL_CONFIG, [(features, masks), (longer, longer_masks)],
                                returns=List(Array((6,), "float"), length=2))
    close(long, short, "MultimodalSentimentTransformer scores changed when 5 masked padding steps (random values) were "
          "appended to every modality (eval mode)", atol=1e-4, rtol=1e-5)


@task("MultimodalSentimentTransformer", points=1)
def test_model_runs_cross_modal_blocks_for_every_ordered_pair(student, rng):
    features, masks = padded_inputs(rng, DIMS, 3, LENGTHS)
    calls = student.probe(P + "cross_modal_block_calls", DIMS, MODEL_CONFIG, features, masks,
                          returns=List(List(Int(), length=3)))
    name = {length: m for m, length in LENGTHS.items()}  # the lengths are distinct: they name the modalities
    seen = sorted(tuple(c) for c in calls)
    expected = sorted((LENGTHS[t], LENGTHS[s], LENGTHS[s]) for t in DIMS for s in DIMS if s != t
                      for _ in range(MODEL_CONFIG["num_layers"]))
    if seen != expected:
        def show(entries):
            return ", ".join(f"{name.get(s, s)}->{name.get(t, t)}" + ("" if k == s else " (no source mask)" if k < 0 else
                                                                       " (wrong mask)") for t, s, k in entries) or "none"
        raise AssertionError(
            f"the model's CrossModalBlock calls (source->target, {MODEL_CONFIG['num_layers']} layers each) should be "
            f"every ordered pair of different modalities with the source's padding mask: expected "
            f"[{show(expected)}], saw [{show(seen)}]")


@task("MultimodalSentimentTransformer", points=1)
def test_model_gradient_reaches_every_modality(student, rng):
    features, masks = padded_inputs(rng, DIMS, 4, LENGTHS)
    per_modality = Dict({m: Float() for m in DIMS})
    got = student.probe(P + "model_gradients", DIMS, MODEL_CONFIG, features, masks,
                        returns=Dict({"input": per_modality, "projection": per_modality}))
    for m in DIMS:
        if got["projection"][m] < 0:
            raise AssertionError(f"model.projections[{m!r}] is not an nn.Linear with a weight (see the docstring)")
        for where in ("input", "projection"):
            if not got[where][m] > 0:
                raise AssertionError(f"no gradient reaches the {m!r} {where} (gradient norm {got[where][m]:.3g}): "
                                     f"that modality does not influence the score")


# ----------------------------------------------------------------------------- the trained model
_trained: dict = {}


def trained_model(student, grading_seed: int):
    """One training run per grading seed, shared by the three checks below; returns (held-out data, predictions)."""
    key = (id(student), grading_seed)
    if key not in _trained:
        train_seed = grading_seed % 1_000_000
        heldout = make_sentiment_data(HELDOUT_SAMPLES, 1_000_000 + grading_seed % 1_000_000)
        features, masks = heldout.padded()
        silent = {**features, "audio": np.zeros_like(features["audio"]), "vision": np.zeros_like(features["vision"])}
        try:
            got = student.probe(P + "train_model_and_predict", feature_dims(), TRAIN_CONFIG, train_seed, TRAIN_SAMPLES,
                                TRAIN_EPOCHS, [(features, masks), (silent, masks)], lr=TRAIN_LR,
                                returns=Dict({"predictions": List(Array((HELDOUT_SAMPLES,), "float"), length=2),
                                              "train_loss": List(Float(), length=TRAIN_EPOCHS)}))
            _trained[key] = (heldout, got["predictions"])
        except Exception as exc:  # the same failure for all three checks, without training three times
            _trained[key] = exc
    if isinstance(_trained[key], Exception):
        raise _trained[key]
    return _trained[key]


@task("MultimodalSentimentTransformer", points=3, timeout=240)
def test_trained_model_accuracy(student, grading_seed):
    heldout, (prediction, _) = trained_model(student, grading_seed)
    metrics = mmsa_reference(prediction, heldout.labels.astype(np.float64))
    if not metrics["non0_acc2"] >= MIN_NON0_ACC2:
        raise AssertionError(
            f"trained MultimodalSentimentTransformer ({TRAIN_EPOCHS} epochs on {TRAIN_SAMPLES} utterances, config "
            f"{TRAIN_CONFIG}): held-out non0_acc2 {metrics['non0_acc2']:.3f}, expected >= {MIN_NON0_ACC2}")


@task("MultimodalSentimentTransformer", points=2, timeout=240)
def test_trained_model_beats_text_only_baseline(student, grading_seed):
    heldout, (prediction, _) = trained_model(student, grading_seed)
    text_only = np.array([lexicon_sentiment(words) for words in heldout.words])
    model_mae = float(np.mean(np.abs(prediction - heldout.labels)))
    text_mae = float(np.mean(np.abs(text_only - heldout.labels)))
    if not model_mae < text_mae:
        raise AssertionError(f"trained MultimodalSentimentTransformer: held-out MAE {model_mae:.3f} is not below the "
                             f"text-only baseline's {text_mae:.3f} (a perfect reading of the words)")


@task("MultimodalSentimentTransformer", points=2, timeout=240)
def test_trained_model_uses_audio_and_vision_on_sarcasm(student, grading_seed):
    heldout, (prediction, silent_prediction) = trained_model(student, grading_seed)
    sarcastic = heldout.sarcastic
    with_av = float(np.mean(np.abs(prediction - heldout.labels)[sarcastic]))
    without_av = float(np.mean(np.abs(silent_prediction - heldout.labels)[sarcastic]))
    if not without_av >= with_av + MIN_SARCASM_DAMAGE:
        raise AssertionError(
            f"zeroing audio and vision barely changes the trained model on the {int(sarcastic.sum())} sarcastic held-out "
            f"utterances: MAE {with_av:.3f} with them, {without_av:.3f} without (expected at least +{MIN_SARCASM_DAMAGE})")


# ----------------------------------------------------------------------------- train / evaluate functions
@task("train_sentiment_model", points=2, timeout=120)
def test_train_function_fits_a_small_model(student, grading_seed):
    epochs, seed = 4, grading_seed % 1_000_000
    heldout = make_sentiment_data(200, 2_000_000 + seed)
    features, masks = heldout.padded()
    got = student.probe(P + "train_function", feature_dims(), seed, 400, epochs, 0.05, 32, features, masks,
                        returns=Dict({"history": Dict({"train_loss": List(Float(), length=epochs)}, extra=True),
                                      "before": Array((200,), "float"), "after": Array((200,), "float")}))
    losses = got["history"]["train_loss"]
    if not losses[-1] < losses[0]:
        raise AssertionError(f"train_sentiment_model: the training loss did not go down over {epochs} epochs: {losses}")
    before = float(np.mean(np.abs(got["before"] - heldout.labels)))
    after = float(np.mean(np.abs(got["after"] - heldout.labels)))
    if not after < 0.8 * before:
        raise AssertionError(f"train_sentiment_model ({epochs} epochs, lr 0.05) on a small trusted model: held-out MAE "
                             f"{after:.3f} after vs {before:.3f} before training (expected at least 20 % lower)")


STEP_DIMS = {"audio": 5, "vision": 6}  # dense features: no gradient entry cancels to ~0 (Adam divides by |g|)
STEP_SAMPLES, STEP_EPOCHS, STEP_LR, STEP_CLIP, STEP_WEIGHT_DECAY = 24, 3, 0.05, 0.3, 0.5
TRAINING_SLIPS = {  # slip -> feedback when the learner's parameters match it
    "mse": "the update matches MSE loss: train with the L1 loss (F.l1_loss), as the docstring says",
    "smooth_l1": "the update matches smooth-L1 (Huber) loss: train with the plain L1 loss (F.l1_loss)",
    "no_zero_grad": "the update matches gradients accumulated over steps: call optimizer.zero_grad() every step",
    "no_clip": "the update matches training without gradient clipping: clip the global norm to max_grad_norm",
    "no_weight_decay": "the update matches Adam without weight_decay: pass weight_decay to the optimizer",
}


def pooled_audio_vision(data) -> np.ndarray:
    """PooledLinear's input: the masked mean of each modality of STEP_DIMS, concatenated (float64)."""
    features, masks = data.padded(tuple(STEP_DIMS))
    pooled = [(features[m] * ~masks[m][..., None]).sum(1) / (~masks[m]).sum(1, keepdims=True) for m in STEP_DIMS]
    return np.concatenate(pooled, axis=1).astype(np.float64)


def reference_training(initial: dict, pooled: np.ndarray, labels: np.ndarray, slip: str | None = None):
    """Full-batch steps of PooledLinear (3·tanh(pooled @ w + b)) in float64, written out (no torch.optim in the grader):
    L1 loss, clip_grad_norm_(max_grad_norm), then Adam as torch.optim.Adam (L2 weight decay added to the gradient,
    betas (0.9, 0.999), eps 1e-8). Returns (final parameters, loss per epoch); `slip` is one of TRAINING_SLIPS."""
    theta = np.concatenate([np.ravel(initial["linear.weight"]), np.ravel(initial["linear.bias"])]).astype(np.float64)
    inputs = np.concatenate([pooled, np.ones((len(pooled), 1))], axis=1)  # the bias as a constant feature
    labels = np.asarray(labels, dtype=np.float64)
    weight_decay = 0.0 if slip == "no_weight_decay" else STEP_WEIGHT_DECAY
    first, second, gradient = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    losses = []
    for step in range(1, STEP_EPOCHS + 1):
        squashed = np.tanh(inputs @ theta)
        residual = 3.0 * squashed - labels
        if slip == "mse":
            losses.append(float(np.mean(residual ** 2)))
            d_prediction = 2.0 * residual
        elif slip == "smooth_l1":  # Huber with beta 1
            losses.append(float(np.mean(np.where(np.abs(residual) < 1, 0.5 * residual ** 2, np.abs(residual) - 0.5))))
            d_prediction = np.where(np.abs(residual) < 1, residual, np.sign(residual))
        else:
            losses.append(float(np.mean(np.abs(residual))))
            d_prediction = np.sign(residual)
        step_gradient = inputs.T @ (d_prediction * 3.0 * (1.0 - squashed ** 2)) / len(labels)
        gradient = gradient + step_gradient if slip == "no_zero_grad" else step_gradient
        clipped = gradient
        if slip != "no_clip":
            clipped = gradient * min(1.0, STEP_CLIP / (np.linalg.norm(gradient) + 1e-6))
        if slip == "no_zero_grad":
            gradient = clipped  # clip_grad_norm_ rescales the stored .grad in place
        update = clipped + weight_decay * theta
        first = 0.9 * first + 0.1 * update
        second = 0.999 * second + 0.001 * update ** 2
        theta = theta - STEP_LR / (1 - 0.9 ** step) * first / (np.sqrt(second / (1 - 0.999 ** step)) + 1e-8)
    return {"linear.weight": theta[None, :-1], "linear.bias": theta[-1:]}, losses


def stepped(student, seed: int) -> tuple[dict, dict, dict]:
    """The learner's training steps, and the grader's recomputation of them ((final, losses) per slip)."""
    got = student.probe(P + "train_steps", STEP_DIMS, seed, STEP_SAMPLES, STEP_EPOCHS, STEP_LR, STEP_CLIP,
                        STEP_WEIGHT_DECAY,
                        returns=Dict({"initial": Dict({"linear.weight": Array((1, 11), "float"),
                                                       "linear.bias": Array((1,), "float")}),
                                      "final": Dict({"linear.weight": Array((1, 11), "float"),
                                                     "linear.bias": Array((1,), "float")}),
                                      "train_loss": List(Float(), length=STEP_EPOCHS),
                                      "modes_during_training": List(Bool()), "training_after": Bool()}))
    data = make_sentiment_data(STEP_SAMPLES, seed)
    pooled, labels = pooled_audio_vision(data), data.labels
    references = {slip: reference_training(got["initial"], pooled, labels, slip) for slip in (None, *TRAINING_SLIPS)}
    return got, references


def _flat(parameters: dict) -> np.ndarray:
    return np.concatenate([np.ravel(parameters["linear.weight"]), np.ravel(parameters["linear.bias"])])


@task("train_sentiment_model", points=2)
def test_train_function_steps_match_adam_on_l1(student, check_seed):
    got, references = stepped(student, check_seed % 1_000_000)
    expected, _ = references[None]
    learner = _flat(got["final"])
    if not np.allclose(learner, _flat(expected), atol=2e-5, rtol=1e-4):
        for slip, feedback in TRAINING_SLIPS.items():
            if np.allclose(learner, _flat(references[slip][0]), atol=2e-5, rtol=1e-4):
                raise AssertionError(f"train_sentiment_model, {STEP_EPOCHS} full-batch steps on a trusted linear model: "
                                     f"{feedback}")
    close(learner, _flat(expected),
          f"train_sentiment_model, {STEP_EPOCHS} full-batch steps (batch_size = all {STEP_SAMPLES} utterances, lr "
          f"{STEP_LR}, max_grad_norm {STEP_CLIP}, weight_decay {STEP_WEIGHT_DECAY}) on a trusted linear model: parameters "
          "differ from Adam on the L1 loss recomputed by the grader", atol=2e-5, rtol=1e-4)


@task("train_sentiment_model", points=1)
def test_train_function_history_is_the_mean_l1_per_epoch(student, check_seed):
    got, references = stepped(student, check_seed % 1_000_000)
    _, losses = references[None]
    if np.allclose(got["train_loss"], references["mse"][1], atol=1e-5, rtol=1e-4):
        raise AssertionError(f"train_sentiment_model's history['train_loss'] holds the MSE {got['train_loss']}, "
                             f"expected the mean L1 per epoch {np.round(losses, 5).tolist()}")
    close(got["train_loss"], losses, f"train_sentiment_model's history['train_loss'] on {STEP_EPOCHS} full-batch epochs "
          "(one step each) differs from the mean L1 loss per epoch", atol=1e-5, rtol=1e-4)


@task("train_sentiment_model", points=1)
def test_train_function_trains_in_train_mode_and_leaves_eval_mode(student, check_seed):
    got, _ = stepped(student, check_seed % 1_000_000)
    modes = got["modes_during_training"]
    if not modes or not all(modes):
        raise AssertionError(f"train_sentiment_model ran the model in eval mode during training ({modes.count(False)} of "
                             f"{len(modes)} forward calls; the model was handed over in eval mode): call model.train() "
                             "before the training steps, or dropout stays off")
    if got["training_after"]:
        raise AssertionError("train_sentiment_model left the model in training mode: the docstring promises it ends in "
                             "eval mode (model.eval() after the last epoch)")


@task("train_sentiment_model", points=1)
def test_train_function_rejects_bad_input(student, rng):
    heldout = make_sentiment_data(4, 7)
    features, masks = heldout.padded()
    probe_raises_value_error(student, P + "train_function", feature_dims(), 0, 16, 0, 0.01, 8, features, masks,
                             case="train_sentiment_model with epochs=0")
    probe_raises_value_error(student, P + "train_function", feature_dims(), 0, 16, 1, -0.01, 8, features, masks,
                             case="train_sentiment_model with lr=-0.01")


@task("evaluate_sentiment_model", points=2)
def test_evaluate_function_matches_mmsa(student, check_seed):
    seed, n = check_seed % 1_000_000, 150
    got = student.probe(P + "evaluate_function", feature_dims(), seed, n,
                        returns=Dict({"metrics": Dict({k: Float(finite=False) for k in
                                                       ("has0_acc2", "has0_f1", "non0_acc2", "non0_f1", "acc5", "acc7", "mae", "corr")}),
                                      "predictions": Array((n,), "float"), "training_mode_restored": Bool()}, extra=True))
    labels = make_sentiment_data(n, seed).labels.astype(np.float64)
    expected = mmsa_reference(got["predictions"], labels)
    swapped = mmsa_reference(labels, got["predictions"])
    if any(not np.isclose(got["metrics"][k], v, atol=1e-5, rtol=1e-5) for k, v in expected.items()) and all(
            np.isclose(got["metrics"][k], v, atol=1e-5, rtol=1e-5, equal_nan=True) for k, v in swapped.items()):
        raise AssertionError("evaluate_sentiment_model's metrics match sentiment_metrics(labels, predictions): the "
                             "arguments are swapped (predictions first, as the metrics exercise defines it)")
    for key, value in expected.items():
        close(got["metrics"][key], value, f"evaluate_sentiment_model()[{key!r}] differs from MMSA's metric on the model's "
              "eval-mode predictions (dropout must be off: model.eval() and torch.no_grad())", atol=1e-5, rtol=1e-5)


EVALUATE_REPLY = {"metrics": Dict({}, extra=True), "predictions": Array((20,), "float"), "training_mode_restored": Bool(),
                  "eval_mode_kept": Bool()}


@task("evaluate_sentiment_model", points=1)
def test_evaluate_function_restores_training_mode(student, check_seed):
    got = student.probe(P + "evaluate_function", feature_dims(), check_seed % 1_000_000, 20,
                        returns=Dict(EVALUATE_REPLY))
    if not got["training_mode_restored"]:
        raise AssertionError("evaluate_sentiment_model left a model that was in training mode in eval mode "
                             "(restore it with model.train(was_training))")
    if not got["eval_mode_kept"]:
        raise AssertionError("evaluate_sentiment_model left a model that was in eval mode in training mode "
                             "(restore the mode it had: model.train(was_training), not model.train())")


@task("evaluate_sentiment_model", points=1)
def test_evaluate_function_returns_predictions_in_data_order(student, check_seed):
    got = student.probe(P + "evaluate_function", feature_dims(), check_seed % 1_000_000, 20, with_predictions=True,
                        returns=Dict({**EVALUATE_REPLY, "returned_predictions": Array((20,), "float")}))
    returned, expected = got["returned_predictions"], got["predictions"]
    if not np.allclose(returned, expected, atol=1e-5, rtol=1e-5) and np.allclose(np.sort(returned), np.sort(expected),
                                                                                  atol=1e-5, rtol=1e-5):
        raise AssertionError("evaluate_sentiment_model(return_predictions=True): the predictions are right but not in the "
                             "order of data (no shuffling when evaluating)")
    close(returned, expected, "evaluate_sentiment_model(return_predictions=True)'s predictions differ from the model's "
          "eval-mode scores in data order", atol=1e-5, rtol=1e-5)
