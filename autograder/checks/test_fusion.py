"""Graded checks for exercises/fusion.py.

The learner's modules are built and run by trusted probes (autograder/probes/fusion.py) inside the
worker; what comes back are outputs, parameters and gradient norms as arrays. The reference formulas
are computed here, in the grader, from the learner's own parameters: the MLP of ConcatFusion, the mean
of LateFusion's heads, the einsum of Tensor Fusion, the full tensor rebuilt from Low-rank Fusion's
factors, the gated unit of GatedFusion, the classifier's CNN and LSTM text summary; so are additivity
of late fusion and the held-out accuracy on the XOR task. When the output equals a known slip (a
missing nonlinearity, a swapped gate, a sum instead of a mean), the feedback names it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from autograder.checking import close, probe_raises
from autograder.expect import Array, Dict, Int, List
from mmprep.data.xor import make_xor_task

task = pytest.mark.task
P = "fusion."
ATOL, RTOL = 1e-5, 1e-4  # float32 on CPU or CUDA (TF32 off)

# dims chosen so every parameter shape below is unambiguous (d+1 values, rank and output differ)
DIMS = {2: [6, 4], 3: [5, 3, 2]}
OUT = 3
RANK = 5
HIDDEN = 8  # hidden_dim for the formula checks: no input dim, sum of dims or output_dim equals it


def features(rng, dims, batch=8):
    return [rng.normal(size=(batch, d)).astype(np.float32) for d in dims]


def forward_spec(batch, out, permuted=False, repeat=False):
    fields = {"output": Array((batch, out), "float"), "params": Dict({}, extra=True)}
    if permuted:
        fields["permuted_output"] = Array((batch, out), "float")
    if repeat:
        fields["repeat_output"] = Array((batch, out), "float")
    return Dict(fields)


def grad_spec():
    return Dict({"grad_norms": Dict({}, extra=True), "param_shapes": Dict({}, extra=True), "num_params": Int(),
                 "on_device": Dict({}, extra=True)})


def find_param(params: dict, shapes: list[tuple], what: str, cls: str) -> np.ndarray:
    """The one parameter whose shape is among `shapes` (first shape wins: others are reshaped to it)."""
    found = [(n, v) for n, v in params.items() if tuple(v.shape) in shapes]
    if len(found) != 1:
        listed = {n: tuple(v.shape) for n, v in params.items()}
        raise AssertionError(f"{cls}: expected exactly one registered {what} of shape {shapes[0]}, "
                             f"found {len(found)} among parameters {listed}")
    return found[0][1].reshape(shapes[0]).astype(np.float64)


def with_one(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ones((x.shape[0], 1)), x.astype(np.float64)], axis=1)


def outer_flat(xs: list[np.ndarray], prepend: bool = True) -> np.ndarray:
    """Reference Tensor Fusion vector: einsum over [1, x_i], first modality slowest, (B, prod(d_i+1))."""
    letters = "ijklm"[: len(xs)]
    z = np.einsum(",".join(f"b{c}" for c in letters) + "->b" + letters,
                  *[with_one(x) if prepend else x.astype(np.float64) for x in xs])
    return z.reshape(z.shape[0], -1)


def check_gradients(student, cls, init, rng, dims, expected_params=None):
    xs = features(rng, dims, batch=6)
    projection = rng.normal(size=(6, init["output_dim"]))
    got = student.probe(P + "gradients", cls, init, xs, projection, returns=grad_spec())
    if not got["grad_norms"]:
        raise AssertionError(f"{cls}{tuple(dims)}: no registered parameters (keep layers as attributes, "
                             "tensors as nn.Parameter in nn.ParameterList/ModuleList)")
    if expected_params is not None and got["num_params"] != expected_params:
        raise AssertionError(f"{cls}{tuple(dims)}: {got['num_params']} registered parameter values, expected "
                             f"{expected_params} (a tensor kept in a Python list is not registered)")
    missing = [n for n, g in got["grad_norms"].items() if not (isinstance(g, float) and g > 0 and math.isfinite(g))]
    if missing:
        raise AssertionError(f"{cls}{tuple(dims)}: parameters {missing} received no (or a zero/non-finite) gradient")
    stray = [n for n, ok in got["on_device"].items() if not ok]
    if stray:
        raise AssertionError(f"{cls}: parameters {stray} stayed off the device after .to(device)")


def check_shapes_and_order(student, cls, rng, n_modalities, extra=None):
    dims = DIMS[n_modalities]
    init = {"input_dims": dims, "output_dim": OUT, **(extra or {})}
    xs = features(rng, dims, batch=9)
    perm = rng.permutation(9)
    got = student.probe(P + "forward", cls, init, xs, perm, returns=forward_spec(9, OUT, permuted=True))
    close(got["permuted_output"], got["output"][perm],
          f"{cls} with {n_modalities} modalities: output of the shuffled batch is not the shuffled output", atol=ATOL, rtol=RTOL)
    return got


def common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def linear_of(params: dict, weight_shape: tuple, cls: str, what: str, near: str | None = None):
    """(name, weight, bias) in float64 of the nn.Linear whose weight has `weight_shape`; its bias is the same
    module's. With several such weights, the one whose name shares the longest prefix with `near` (its head)."""
    if not params:
        raise AssertionError(f"{cls}: no registered parameters (keep layers as attributes, nn.ModuleList or "
                             "nn.ParameterList; a plain Python list hides them)")
    found = [n for n, v in params.items() if n.endswith("weight") and tuple(v.shape) == tuple(weight_shape)]
    if len(found) > 1 and near is not None:
        best = max(common_prefix(n, near) for n in found)
        found = [n for n in found if common_prefix(n, near) == best]
    if len(found) != 1:
        listed = {n: tuple(v.shape) for n, v in params.items()}
        raise AssertionError(f"{cls}: expected one Linear for {what} with a weight of shape {tuple(weight_shape)}, "
                             f"found {len(found)} among the registered parameters {listed}")
    bias_name = found[0][: -len("weight")] + "bias"
    if bias_name not in params:
        raise AssertionError(f"{cls}: the Linear for {what} ({found[0]}) has no bias ({bias_name})")
    return found[0], params[found[0]].astype(np.float64), params[bias_name].astype(np.float64)


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def matches(got, candidate) -> bool:
    return got.shape == candidate.shape and np.allclose(got, candidate, atol=ATOL, rtol=RTOL)


def check_formula(got, reference, what, slips: dict):
    """close(got, reference) whose failure names the slip when the output equals a known wrong formula."""
    named = next((f" ({slip})" for slip, wrong in slips.items() if matches(got, wrong) and not matches(reference, wrong)),
                 "")
    close(got, reference, what + named, atol=ATOL, rtol=RTOL)


def check_eval_deterministic(got, cls):
    if not np.allclose(got["repeat_output"], got["output"], atol=1e-6, rtol=1e-6):  # not bitwise: CUDA kernels
        raise AssertionError(f"{cls} in eval mode gave different outputs for the same inputs twice: dropout must "
                             "follow model.eval() (nn.Dropout, or F.dropout(..., training=self.training))")


# ----------------------------------------------------------------------------- ConcatFusion
@task("ConcatFusion", points=1)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_concat_fusion_shapes_and_batch_order(student, rng, n_modalities):
    check_shapes_and_order(student, "ConcatFusion", rng, n_modalities)


@task("ConcatFusion", points=1)
def test_concat_fusion_every_parameter_learns(student, rng):
    check_gradients(student, "ConcatFusion", {"input_dims": DIMS[3], "output_dim": OUT}, rng, DIMS[3])


@task("ConcatFusion", points=1)
def test_concat_fusion_rejects_bad_features(student, rng):
    init = {"input_dims": DIMS[2], "output_dim": OUT}
    probe_raises(student, P + "forward", "ConcatFusion", init, features(rng, [6, 5]),
                 case="ConcatFusion(input_dims=[6, 4]) given features of widths 6 and 5")
    probe_raises(student, P + "forward", "ConcatFusion", init, features(rng, [6]),
                 case="ConcatFusion(input_dims=[6, 4]) given one feature tensor")


@task("ConcatFusion", points=2)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_concat_fusion_matches_its_mlp(student, rng, n_modalities):
    dims = DIMS[n_modalities]
    xs = [3 * x for x in features(rng, dims, batch=7)]
    init = {"input_dims": dims, "output_dim": OUT, "hidden_dim": HIDDEN, "dropout": 0.5}
    got = student.probe(P + "forward", "ConcatFusion", init, xs, repeat=True, returns=forward_spec(7, OUT, repeat=True))
    check_eval_deterministic(got, "ConcatFusion(dropout=0.5)")
    _, w1, b1 = linear_of(got["params"], (HIDDEN, sum(dims)), "ConcatFusion", f"Linear(sum(input_dims)={sum(dims)}, hidden_dim)")
    _, w2, b2 = linear_of(got["params"], (OUT, HIDDEN), "ConcatFusion", "Linear(hidden_dim, output_dim)")
    x = np.concatenate(xs, axis=1).astype(np.float64)
    hidden = x @ w1.T + b1
    check_formula(got["output"], relu(hidden) @ w2.T + b2,
                  f"ConcatFusion{tuple(dims)} in eval mode differs from Linear-ReLU-Dropout-Linear of the "
                  "concatenated features, computed from its own weights", {
                      "the ReLU between the two Linear layers is missing": hidden @ w2.T + b2,
                      "a ReLU follows the last Linear: the output is logits, nothing after it": relu(relu(hidden) @ w2.T + b2),
                  })


# ----------------------------------------------------------------------------- LateFusion
@task("LateFusion", points=1)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_late_fusion_shapes_and_batch_order(student, rng, n_modalities):
    check_shapes_and_order(student, "LateFusion", rng, n_modalities)


@task("LateFusion", points=2)
def test_late_fusion_is_additive_over_modalities(student, rng):
    # f(a, b) + f(a', b') == f(a', b) + f(a, b') holds exactly when the output is a sum of per-modality terms
    a, a2 = rng.normal(size=(2, 5, 6)).astype(np.float32)
    b, b2 = rng.normal(size=(2, 5, 4)).astype(np.float32)
    first = np.concatenate([a, a2, a2, a])
    second = np.concatenate([b, b2, b, b2])
    got = student.probe(P + "forward", "LateFusion", {"input_dims": DIMS[2], "output_dim": OUT}, [first, second],
                        returns=forward_spec(20, OUT))["output"]
    f_ab, f_ab2_, f_a2b, f_ab2 = got[:5], got[5:10], got[10:15], got[15:]
    close(f_ab + f_ab2_, f_a2b + f_ab2,
          "LateFusion is not a sum of per-modality terms: f(a,b)+f(a',b') differs from f(a',b)+f(a,b')", atol=ATOL, rtol=RTOL)
    if np.abs(f_ab - f_a2b).max() < 1e-6 or np.abs(f_ab - f_ab2).max() < 1e-6:
        raise AssertionError("LateFusion output ignores one of the modalities")


@task("LateFusion", points=1)
def test_late_fusion_every_parameter_learns(student, rng):
    check_gradients(student, "LateFusion", {"input_dims": DIMS[3], "output_dim": OUT}, rng, DIMS[3])


@task("LateFusion", points=2)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_late_fusion_averages_its_heads(student, rng, n_modalities):
    dims = DIMS[n_modalities]
    xs = [3 * x for x in features(rng, dims, batch=7)]
    init = {"input_dims": dims, "output_dim": OUT, "hidden_dim": HIDDEN}
    got = student.probe(P + "forward", "LateFusion", init, xs, returns=forward_spec(7, OUT))
    logits, linear_logits = [], []
    for i, (x, d) in enumerate(zip(xs, dims, strict=True)):
        name, w1, b1 = linear_of(got["params"], (HIDDEN, d), "LateFusion", f"head {i}'s first layer Linear({d}, hidden_dim)")
        _, w2, b2 = linear_of(got["params"], (OUT, HIDDEN), "LateFusion", f"head {i}'s last layer", near=name)
        hidden = x.astype(np.float64) @ w1.T + b1
        logits.append(relu(hidden) @ w2.T + b2)
        linear_logits.append(hidden @ w2.T + b2)
    logits = np.stack(logits)
    probabilities = np.exp(logits - logits.max(axis=2, keepdims=True))
    probabilities /= probabilities.sum(axis=2, keepdims=True)
    check_formula(got["output"], logits.mean(axis=0),
                  f"LateFusion with {n_modalities} modalities differs from the MEAN over modalities of "
                  "head_i(x_i) = Linear-ReLU-Linear, computed from its own weights", {
                      f"it sums the {n_modalities} heads' logits: the docstring averages them": logits.sum(axis=0),
                      "it averages softmax probabilities: average the logits themselves": probabilities.mean(axis=0),
                      "the heads have no ReLU between their two Linear layers": np.mean(linear_logits, axis=0),
                  })


# ----------------------------------------------------------------------------- TensorFusion
def outer_flat_with(xs, one_first=True, first_slowest=True) -> np.ndarray:
    """Tensor Fusion vectors under the documented convention or one of the two slips named in the feedback."""
    z = [with_one(x) if one_first else np.concatenate([x.astype(np.float64), np.ones((x.shape[0], 1))], axis=1)
         for x in xs]
    return outer_flat(z if first_slowest else z[::-1], prepend=False)


@task("TensorFusion", points=3)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_tensor_fusion_matches_einsum_formula(student, rng, n_modalities):
    dims = DIMS[n_modalities]
    check_shapes_and_order(student, "TensorFusion", rng, n_modalities)
    xs = features(rng, dims, batch=7)
    got = student.probe(P + "forward", "TensorFusion", {"input_dims": dims, "output_dim": OUT}, xs,
                        returns=forward_spec(7, OUT))
    size = math.prod(d + 1 for d in dims)
    shapes = {tuple(v.shape) for v in got["params"].values()}
    if (OUT, math.prod(dims)) in shapes and (OUT, size) not in shapes:
        raise AssertionError(f"TensorFusion{tuple(dims)}: its Linear takes prod(d_i) = {math.prod(dims)} inputs, "
                             f"expected prod(d_i + 1) = {size}: the constant 1 is missing from z_i = [1, x_i] (without "
                             "it the unimodal and bias terms drop out of the product)")
    weight = find_param(got["params"], [(OUT, size)], "weight", "TensorFusion")
    bias = find_param(got["params"], [(OUT,), (1, OUT)], "bias", "TensorFusion")
    check_formula(got["output"], outer_flat(xs) @ weight.T + bias,
                  f"TensorFusion{tuple(dims)} differs from Linear(outer product of [1, x_i], first modality slowest)", {
                      "the product is flattened with the LAST modality slowest":
                          outer_flat_with(xs, first_slowest=False) @ weight.T + bias,
                      "the constant 1 is appended after x_i: z_i = [1, x_i] puts it first":
                          outer_flat_with(xs, one_first=False) @ weight.T + bias,
                  })


@task("TensorFusion", points=1)
def test_tensor_fusion_every_parameter_learns(student, rng):
    dims = DIMS[3]
    expected = OUT * math.prod(d + 1 for d in dims) + OUT
    check_gradients(student, "TensorFusion", {"input_dims": dims, "output_dim": OUT}, rng, dims, expected)


# ----------------------------------------------------------------------------- LowRankFusion
def low_rank_reference(params: dict, xs: list[np.ndarray], rank: int) -> tuple[np.ndarray, dict]:
    """Rebuild the full Tensor Fusion weight from the factors, then apply the einsum formula.

    Returns (reference output, {slip: output of that slip}) for the feedback."""
    for i, x in enumerate(xs):
        shapes = {tuple(v.shape) for v in params.values()}
        if (rank, x.shape[1], OUT) in shapes and (rank, x.shape[1] + 1, OUT) not in shapes:
            raise AssertionError(f"LowRankFusion: the factor of modality {i} has shape {(rank, x.shape[1], OUT)}, "
                                 f"expected (rank, d_i + 1, output_dim) = {(rank, x.shape[1] + 1, OUT)}: the constant 1 "
                                 "of z_i = [1, x_i] is missing")
    factors = [find_param(params, [(rank, x.shape[1] + 1, OUT)], f"factor for modality {i}", "LowRankFusion")
               for i, x in enumerate(xs)]
    rank_weights = find_param(params, [(rank,), (1, rank), (rank, 1)], "rank weight vector", "LowRankFusion")
    bias = find_param(params, [(OUT,), (1, OUT)], "bias", "LowRankFusion")
    letters = "ijklm"[: len(xs)]
    # W[o, j1, ..., jM] = sum_r w_r prod_i F_i[r, j_i, o]
    full = np.einsum("r," + ",".join(f"r{c}o" for c in letters) + "->o" + letters, rank_weights, *factors)
    fused = outer_flat(xs) @ full.reshape(OUT, -1).T
    projected = [np.einsum("bj,rjo->bro", with_one(x), f) for x, f in zip(xs, factors, strict=True)]
    slips = {
        "the projections z_i @ factors[i] are summed over the modalities: they must be multiplied":
            np.einsum("bro,r->bo", sum(projected), rank_weights) + bias,
        "the bias is not added": fused,
        "the rank_weights are not applied (a plain sum over the rank)": math.prod(projected).sum(axis=1) + bias,
    }
    return fused + bias, slips


@task("LowRankFusion", points=3)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_low_rank_fusion_equals_rebuilt_tensor_fusion(student, rng, n_modalities):
    dims = DIMS[n_modalities]
    check_shapes_and_order(student, "LowRankFusion", rng, n_modalities, {"rank": RANK})
    xs = features(rng, dims, batch=7)
    # perturbed parameters: the bias starts at zero, so a forgotten bias would not show otherwise
    got = student.probe(P + "forward", "LowRankFusion", {"input_dims": dims, "output_dim": OUT, "rank": RANK}, xs,
                        perturb=0.1, returns=forward_spec(7, OUT))
    reference, slips = low_rank_reference(got["params"], xs, RANK)
    check_formula(got["output"], reference,
                  f"LowRankFusion{tuple(dims)} rank {RANK} differs from a TensorFusion layer rebuilt from its factors", slips)


@task("LowRankFusion", points=2)
def test_low_rank_fusion_every_parameter_registered_and_learns(student, rng):
    dims = DIMS[3]
    expected = sum(RANK * (d + 1) * OUT for d in dims) + RANK + OUT
    check_gradients(student, "LowRankFusion", {"input_dims": dims, "output_dim": OUT, "rank": RANK}, rng, dims, expected)


# ----------------------------------------------------------------------------- GatedFusion
@task("GatedFusion", points=1)
def test_gated_fusion_shapes_and_batch_order(student, rng):
    check_shapes_and_order(student, "GatedFusion", rng, 2, {"hidden_dim": 8})


@task("GatedFusion", points=1)
def test_gated_fusion_every_parameter_learns(student, rng):
    check_gradients(student, "GatedFusion", {"input_dims": DIMS[2], "output_dim": OUT, "hidden_dim": 8}, rng, DIMS[2])


@task("GatedFusion", points=1)
def test_gated_fusion_rejects_three_modalities(student):
    probe_raises(student, P + "build", "GatedFusion", {"input_dims": DIMS[3], "output_dim": OUT},
                 case="GatedFusion(input_dims=[5, 3, 2]) (it takes exactly two modalities)")


@task("GatedFusion", points=3)
def test_gated_fusion_matches_the_gmu_formula(student, rng):
    d1, d2 = DIMS[2]
    x1, x2 = (3 * x for x in features(rng, DIMS[2], batch=7))
    got = student.probe(P + "forward", "GatedFusion", {"input_dims": DIMS[2], "output_dim": OUT, "hidden_dim": HIDDEN},
                        [x1, x2], returns=forward_spec(7, OUT))
    params = got["params"]
    if not any(tuple(v.shape) == (HIDDEN, d1 + d2) for v in params.values()):
        raise AssertionError(f"GatedFusion{(d1, d2)}: the gate must be one Linear(d_1 + d_2 = {d1 + d2}, hidden_dim = "
                             f"{HIDDEN}) of [x_1; x_2], so that it sees both modalities; no registered weight has shape "
                             f"{(HIDDEN, d1 + d2)} (found {sorted({tuple(v.shape) for v in params.values()})})")
    _, wg, bg = linear_of(params, (HIDDEN, d1 + d2), "GatedFusion", "the gate W_g")
    _, w1, b1 = linear_of(params, (HIDDEN, d1), "GatedFusion", "W_1")
    _, w2, b2 = linear_of(params, (HIDDEN, d2), "GatedFusion", "W_2")
    _, wo, bo = linear_of(params, (OUT, HIDDEN), "GatedFusion", "the output layer")
    x1, x2 = x1.astype(np.float64), x2.astype(np.float64)
    a1, a2, gate_in = x1 @ w1.T + b1, x2 @ w2.T + b2, np.concatenate([x1, x2], axis=1) @ wg.T + bg
    g = sigmoid(gate_in)

    def out(h):
        return h @ wo.T + bo

    check_formula(got["output"], out(g * np.tanh(a1) + (1 - g) * np.tanh(a2)),
                  f"GatedFusion{(d1, d2)} differs from out(g·tanh(W_1 x_1) + (1 − g)·tanh(W_2 x_2)) with "
                  "g = sigmoid(W_g [x_1; x_2]), computed from its own weights", {
                      "g and 1 − g are swapped: g weights the FIRST modality": out((1 - g) * np.tanh(a1) + g * np.tanh(a2)),
                      "tanh is missing on h_1 and h_2": out(g * a1 + (1 - g) * a2),
                      "the gate has no sigmoid: g must lie in (0, 1)": out(gate_in * np.tanh(a1) + (1 - gate_in) * np.tanh(a2)),
                      "the gate reads [x_2; x_1]: concatenate x_1 first": out(
                          (gs := sigmoid(np.concatenate([x2, x1], axis=1) @ wg.T + bg)) * np.tanh(a1)
                          + (1 - gs) * np.tanh(a2)),
                  })


# ----------------------------------------------------------------------------- ImageTextClassifier
VOCAB, CLASSES = 20, 4


def classifier_inputs(rng, batch=6, size=16, max_len=7):
    images = rng.normal(size=(batch, 3, size, size)).astype(np.float32)
    lengths = rng.integers(1, max_len + 1, size=batch)
    lengths[0] = max_len
    tokens = np.zeros((batch, max_len), dtype=np.int64)
    for i, n in enumerate(lengths):
        tokens[i, :n] = rng.integers(1, VOCAB, size=n)
    return images, tokens, lengths.astype(np.int64)


def logits_spec(batch, *extra):
    return Dict({"logits": Array((batch, CLASSES), "float"), "repeat_logits": Array((batch, CLASSES), "float"),
                 **{k: Array((batch, CLASSES), "float") for k in extra}})


# the cheap rejections first: with -x (the mutant catalogue, `--only` while debugging) a slip stops before training
@task("ImageTextClassifier", points=1)
def test_classifier_rejects_unknown_options(student, rng):
    images, tokens, lengths = classifier_inputs(rng, batch=2)
    for option in ({"fusion": "sum"}, {"image_encoder": "vgg"}):
        init = {"vocab_size": VOCAB, "num_classes": CLASSES, **option}
        probe_raises(student, P + "classifier_forward", init, images, tokens, lengths,
                     case=f"ImageTextClassifier({', '.join(f'{k}={v!r}' for k, v in option.items())})")


@task("ImageTextClassifier", points=2)
@pytest.mark.parametrize("fusion", ["concat", "late", "tensor", "lowrank", "gated"])
def test_classifier_padding_and_batch_order(student, rng, fusion):
    images, tokens, lengths = classifier_inputs(rng)
    perm = rng.permutation(len(lengths))
    init = {"vocab_size": VOCAB, "num_classes": CLASSES, "fusion": fusion}
    got = student.probe(P + "classifier_forward", init, images, tokens, lengths, extra_padding=5, permutation=perm,
                        returns=logits_spec(len(lengths), "padded_logits", "permuted_logits"))
    if not np.allclose(got["repeat_logits"], got["logits"], atol=1e-6, rtol=1e-6):  # not bitwise: CUDA kernels
        raise AssertionError(f"ImageTextClassifier(fusion={fusion!r}) in eval mode gave different logits for the same "
                             "inputs twice: dropout must follow model.eval() (nn.Dropout, or F.dropout(..., "
                             "training=self.training))")
    close(got["padded_logits"], got["logits"],
          f"ImageTextClassifier(fusion={fusion!r}): 5 extra padding tokens changed the logits (padding leaks into the text summary)",
          atol=ATOL, rtol=RTOL)
    close(got["permuted_logits"], got["logits"][perm],
          f"ImageTextClassifier(fusion={fusion!r}): logits of the shuffled batch are not the shuffled logits", atol=ATOL, rtol=RTOL)


def cnn_reference(params: dict, images: np.ndarray, feature_dim: int) -> np.ndarray:
    """The documented "cnn" encoder run in the grader on the learner's own weights (float64)."""
    import torch
    import torch.nn.functional as F

    def conv(shape, what):
        weight = find_param(params, [shape], f"{what} weight", "ImageTextClassifier")
        bias = find_param(params, [(shape[0],)], f"{what} bias", "ImageTextClassifier")
        return torch.as_tensor(weight), torch.as_tensor(bias)

    w1, b1 = conv((8, 3, 3, 3), "Conv(3, 8, 3)")
    w2, b2 = conv((16, 8, 3, 3), "Conv(8, 16, 3)")
    _, w3, b3 = linear_of(params, (feature_dim, 16), "ImageTextClassifier", "the image encoder's Linear(16, feature_dim)")
    x = torch.as_tensor(images, dtype=torch.float64)
    x = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
    x = F.relu(F.conv2d(x, w2, b2, padding=1)).mean(dim=(2, 3))
    return x.numpy() @ w3.T + b3


def text_reference(params: dict, tokens: np.ndarray, lengths: np.ndarray, embed_dim: int, feature_dim: int):
    """The LSTM's final hidden state after each caption's last real token, run in the grader caption by caption."""
    import torch

    embedding = find_param(params, [(VOCAB, embed_dim)], "nn.Embedding(vocab_size, embed_dim) weight",
                           "ImageTextClassifier")
    lstm = torch.nn.LSTM(embed_dim, feature_dim, batch_first=True).double()
    state = {}
    for suffix in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        found = [n for n in params if n.endswith("." + suffix) or n == suffix]
        if len(found) != 1:
            raise AssertionError(f"ImageTextClassifier: expected one nn.LSTM(embed_dim, feature_dim) with a registered "
                                 f"{suffix}, found {len(found)}")
        state[suffix] = torch.as_tensor(params[found[0]].astype(np.float64))
    lstm.load_state_dict(state)
    summaries = []
    with torch.no_grad():
        for row, n in zip(tokens, lengths, strict=True):
            _, (h_n, _) = lstm(torch.as_tensor(embedding[row[:n]])[None])
            summaries.append(h_n[-1, 0].numpy())
    return np.stack(summaries)


@task("ImageTextClassifier", points=2)
def test_classifier_encoders_as_documented(student, rng):
    images, tokens, lengths = classifier_inputs(rng)
    embed_dim, feature_dim = 12, 10  # every parameter shape differs from the others
    init = {"vocab_size": VOCAB, "num_classes": CLASSES, "fusion": "concat", "embed_dim": embed_dim,
            "feature_dim": feature_dim}
    got = student.probe(P + "classifier_parts", init, images, tokens, lengths,
                        returns=Dict({"logits": Array((len(lengths), CLASSES), "float"),
                                      "fusion_inputs": List(Array((len(lengths), feature_dim), "float")),
                                      "fusion_modules": Int(), "params": Dict({}, extra=True)}))
    if got["fusion_modules"] != 1 or len(got["fusion_inputs"]) != 2:
        raise AssertionError("ImageTextClassifier must hold one of the fusion modules above (here ConcatFusion) and "
                             "call it with the image features and the text summary, (B, feature_dim) each; found "
                             f"{got['fusion_modules']} such module(s) called with {len(got['fusion_inputs'])} tensor(s)")
    first, second = got["fusion_inputs"]
    image = cnn_reference(got["params"], images, feature_dim)
    text = text_reference(got["params"], tokens, lengths, embed_dim, feature_dim)
    got_image, got_text = (first, second) if matches(second, text) or not matches(first, text) else (second, first)
    close(got_text, text, "ImageTextClassifier's text summary differs from the LSTM's final hidden state h_n[-1] after "
          "each caption's LAST REAL token (computed here from its own embedding and LSTM weights, padding excluded)",
          atol=ATOL, rtol=RTOL)
    close(got_image, image, "ImageTextClassifier's image features differ from the documented cnn encoder "
          "Conv-ReLU-MaxPool-Conv-ReLU-global average pool-Linear (computed here from its own weights)",
          atol=ATOL, rtol=RTOL)


@task("ImageTextClassifier", points=1)
def test_classifier_resnet18_builds_offline_and_runs(student, rng):
    images, tokens, lengths = classifier_inputs(rng, batch=3, size=32)
    init = {"vocab_size": VOCAB, "num_classes": CLASSES, "fusion": "concat", "image_encoder": "resnet18"}
    student.probe(P + "classifier_forward", init, images, tokens, lengths, returns=logits_spec(3))


@task("ImageTextClassifier", points=3, timeout=120)
@pytest.mark.parametrize("fusion", ["concat", "tensor"])
def test_classifier_learns_xor_task(student, check_seed, fusion):
    test = make_xor_task(400, check_seed + 1)  # held out: its labels never leave the grader
    predictions = student.probe(P + "train_xor", fusion, check_seed, test.images, test.tokens, test.lengths,
                                returns=Array((400,), "int"))
    accuracy = float(np.mean(predictions == test.labels))
    if accuracy < 0.95:
        raise AssertionError(f"ImageTextClassifier(fusion={fusion!r}) reached {accuracy:.1%} held-out accuracy on the "
                             "XOR image+text task after 250 Adam steps, expected at least 95%")
