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


@task("PositionalEncoding", points=2)
def test_positional_encoding_matches_formula(student, rng):
    x = rng.normal(size=(3, 50, 12)).astype(np.float32)
    got = student.probe(P + "positional_encoding", x, 12, 64,
                        returns=Dict({"output": Array((3, 50, 12), "float"), "trainable_parameters": Int()}))
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


def reference_block(state: dict, target, source, mask, d: int, heads: int) -> np.ndarray:
    """Pre-LN cross-modal block from torch built-ins, in float64."""
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
        key_value = norms["norm_source"](source)
        key_padding_mask = None if mask is None else torch.as_tensor(mask)
        attended, _ = attention(norms["norm_target"](target), key_value, key_value, key_padding_mask=key_padding_mask,
                                need_weights=False)
        h = target + attended
        out = h + ff_out(torch.relu(ff_in(norms["norm_feed_forward"](h))))
    return out.numpy()


def block_case(rng, batch=4, lt=7, ls=11, d=16):
    target = rng.normal(size=(batch, lt, d)).astype(np.float32)
    source, mask = padded_inputs(rng, {"s": d}, batch, {"s": ls})
    return target, source["s"], mask["s"]


@task("CrossModalBlock", points=3)
def test_cross_modal_block_matches_reference(student, rng):
    d, heads = 16, 4
    state = block_weights(rng, d)
    target, source, mask = block_case(rng, d=d)
    got = student.probe(P + "cross_modal_block", state, target, source, mask, d, heads, returns=Array(target.shape, "float"))
    close(got, reference_block(state, target, source, mask, d, heads),
          "CrossModalBlock(16, 4) with a padded source differs from the pre-LN reference built from "
          "nn.MultiheadAttention(key_padding_mask), LayerNorm and Linear", atol=2e-4, rtol=1e-4)


@task("CrossModalBlock", points=1)
def test_cross_modal_block_without_mask_and_other_sizes(student, rng):
    d, heads = 8, 2
    state = block_weights(rng, d)
    target = rng.normal(size=(1, 9, d)).astype(np.float32)
    source = rng.normal(size=(1, 3, d)).astype(np.float32)
    got = student.probe(P + "cross_modal_block", state, target, source, None, d, heads, returns=Array((1, 9, d), "float"))
    close(got, reference_block(state, target, source, None, d, heads),
          "CrossModalBlock(8, 2) with target length 9, source length 3 and no mask differs from the reference",
          atol=2e-4, rtol=1e-4)


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
    for out, what in zip(got, ("random inputs", "inputs scaled by 1000")):
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
                                      "predictions": Array((n,), "float"), "training_mode_restored": Bool()}))
    labels = make_sentiment_data(n, seed).labels.astype(np.float64)
    expected = mmsa_reference(got["predictions"], labels)
    for key, value in expected.items():
        close(got["metrics"][key], value, f"evaluate_sentiment_model()[{key!r}] differs from MMSA's metric on the model's "
              "eval-mode predictions (dropout must be off: model.eval() and torch.no_grad())", atol=1e-5, rtol=1e-5)


@task("evaluate_sentiment_model", points=1)
def test_evaluate_function_restores_training_mode(student, check_seed):
    got = student.probe(P + "evaluate_function", feature_dims(), check_seed % 1_000_000, 20,
                        returns=Dict({"metrics": Dict({}, extra=True), "predictions": Array((20,), "float"),
                                      "training_mode_restored": Bool()}))
    if not got["training_mode_restored"]:
        raise AssertionError("evaluate_sentiment_model left a model that was in training mode in eval mode "
                             "(restore it with model.train(was_training))")
