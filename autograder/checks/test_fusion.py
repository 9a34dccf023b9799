"""Graded checks for exercises/fusion.py.

The learner's modules are built and run by trusted probes (autograder/probes/fusion.py) inside the
worker; what comes back are outputs, parameters and gradient norms as arrays. The reference formulas
(the einsum of Tensor Fusion, the full tensor rebuilt from Low-rank Fusion's factors, additivity of
late fusion) and the held-out accuracy on the XOR task are computed here, in the grader.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.checking import close
from autograder.expect import Array, Dict, Int
from autograder.student import StudentRaised
from mmprep.data.xor import make_xor_task

task = pytest.mark.task
P = "fusion."
ATOL, RTOL = 1e-5, 1e-4  # float32 on CPU or CUDA (TF32 off)

# dims chosen so every parameter shape below is unambiguous (d+1 values, rank and output differ)
DIMS = {2: [6, 4], 3: [5, 3, 2]}
OUT = 3
RANK = 5


def features(rng, dims, batch=8):
    return [rng.normal(size=(batch, d)).astype(np.float32) for d in dims]


def forward_spec(batch, out, permuted=False):
    fields = {"output": Array((batch, out), "float"), "params": Dict({}, extra=True)}
    if permuted:
        fields["permuted_output"] = Array((batch, out), "float")
    return Dict(fields)


def grad_spec():
    return Dict({"grad_norms": Dict({}, extra=True), "param_shapes": Dict({}, extra=True), "num_params": Int(),
                 "on_device": Dict({}, extra=True)})


def expect_raises(student, name, *args, case, error="ValueError", **kwargs):
    try:
        student.probe(name, *args, **kwargs)
    except StudentRaised as exc:
        if exc.is_a(error):
            return
        raise AssertionError(f"{case}: raised {exc.type_name}, expected {error}") from None
    raise AssertionError(f"{case}: returned normally, expected {error}")


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


def outer_flat(xs: list[np.ndarray]) -> np.ndarray:
    """Reference Tensor Fusion vector: einsum over [1, x_i], first modality slowest, (B, prod(d_i+1))."""
    letters = "ijklm"[: len(xs)]
    z = np.einsum(",".join(f"b{c}" for c in letters) + "->b" + letters, *[with_one(x) for x in xs])
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
    expect_raises(student, P + "forward", "ConcatFusion", init, features(rng, [6, 5]),
                  case="ConcatFusion(input_dims=[6, 4]) given features of widths 6 and 5")
    expect_raises(student, P + "forward", "ConcatFusion", init, features(rng, [6]),
                  case="ConcatFusion(input_dims=[6, 4]) given one feature tensor")


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


# ----------------------------------------------------------------------------- TensorFusion
@task("TensorFusion", points=3)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_tensor_fusion_matches_einsum_formula(student, rng, n_modalities):
    dims = DIMS[n_modalities]
    check_shapes_and_order(student, "TensorFusion", rng, n_modalities)
    xs = features(rng, dims, batch=7)
    got = student.probe(P + "forward", "TensorFusion", {"input_dims": dims, "output_dim": OUT}, xs,
                        returns=forward_spec(7, OUT))
    size = math.prod(d + 1 for d in dims)
    weight = find_param(got["params"], [(OUT, size)], "weight", "TensorFusion")
    bias = find_param(got["params"], [(OUT,), (1, OUT)], "bias", "TensorFusion")
    close(got["output"], outer_flat(xs) @ weight.T + bias,
          f"TensorFusion{tuple(dims)} differs from Linear(outer product of [1, x_i], first modality slowest)",
          atol=ATOL, rtol=RTOL)


@task("TensorFusion", points=1)
def test_tensor_fusion_every_parameter_learns(student, rng):
    dims = DIMS[3]
    expected = OUT * math.prod(d + 1 for d in dims) + OUT
    check_gradients(student, "TensorFusion", {"input_dims": dims, "output_dim": OUT}, rng, dims, expected)


# ----------------------------------------------------------------------------- LowRankFusion
def low_rank_reference(params: dict, xs: list[np.ndarray], rank: int) -> np.ndarray:
    """Rebuild the full Tensor Fusion weight from the factors, then apply the einsum formula."""
    factors = [find_param(params, [(rank, x.shape[1] + 1, OUT)], f"factor for modality {i}", "LowRankFusion")
               for i, x in enumerate(xs)]
    rank_weights = find_param(params, [(rank,), (1, rank), (rank, 1)], "rank weight vector", "LowRankFusion")
    bias = find_param(params, [(OUT,), (1, OUT)], "bias", "LowRankFusion")
    letters = "ijklm"[: len(xs)]
    # W[o, j1, ..., jM] = sum_r w_r prod_i F_i[r, j_i, o]
    full = np.einsum("r," + ",".join(f"r{c}o" for c in letters) + "->o" + letters, rank_weights, *factors)
    return outer_flat(xs) @ full.reshape(OUT, -1).T + bias


@task("LowRankFusion", points=3)
@pytest.mark.parametrize("n_modalities", [2, 3])
def test_low_rank_fusion_equals_rebuilt_tensor_fusion(student, rng, n_modalities):
    dims = DIMS[n_modalities]
    check_shapes_and_order(student, "LowRankFusion", rng, n_modalities, {"rank": RANK})
    xs = features(rng, dims, batch=7)
    got = student.probe(P + "forward", "LowRankFusion", {"input_dims": dims, "output_dim": OUT, "rank": RANK}, xs,
                        returns=forward_spec(7, OUT))
    close(got["output"], low_rank_reference(got["params"], xs, RANK),
          f"LowRankFusion{tuple(dims)} rank {RANK} differs from a TensorFusion layer rebuilt from its factors",
          atol=ATOL, rtol=RTOL)


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
    expect_raises(student, P + "build", "GatedFusion", {"input_dims": DIMS[3], "output_dim": OUT},
                  case="GatedFusion(input_dims=[5, 3, 2]) (it takes exactly two modalities)")


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
    return Dict({"logits": Array((batch, CLASSES), "float"), **{k: Array((batch, CLASSES), "float") for k in extra}})


@task("ImageTextClassifier", points=2)
@pytest.mark.parametrize("fusion", ["concat", "late", "tensor", "lowrank", "gated"])
def test_classifier_padding_and_batch_order(student, rng, fusion):
    images, tokens, lengths = classifier_inputs(rng)
    perm = rng.permutation(len(lengths))
    init = {"vocab_size": VOCAB, "num_classes": CLASSES, "fusion": fusion}
    got = student.probe(P + "classifier_forward", init, images, tokens, lengths, extra_padding=5, permutation=perm,
                        returns=logits_spec(len(lengths), "padded_logits", "permuted_logits"))
    close(got["padded_logits"], got["logits"],
          f"ImageTextClassifier(fusion={fusion!r}): 5 extra padding tokens changed the logits (padding leaks into the text summary)",
          atol=ATOL, rtol=RTOL)
    close(got["permuted_logits"], got["logits"][perm],
          f"ImageTextClassifier(fusion={fusion!r}): logits of the shuffled batch are not the shuffled logits", atol=ATOL, rtol=RTOL)


@task("ImageTextClassifier", points=1)
def test_classifier_resnet18_builds_offline_and_runs(student, rng):
    images, tokens, lengths = classifier_inputs(rng, batch=3, size=32)
    init = {"vocab_size": VOCAB, "num_classes": CLASSES, "fusion": "concat", "image_encoder": "resnet18"}
    student.probe(P + "classifier_forward", init, images, tokens, lengths, returns=logits_spec(3))


@task("ImageTextClassifier", points=1)
def test_classifier_rejects_unknown_options(student, rng):
    images, tokens, lengths = classifier_inputs(rng, batch=2)
    for option in ({"fusion": "sum"}, {"image_encoder": "vgg"}):
        init = {"vocab_size": VOCAB, "num_classes": CLASSES, **option}
        expect_raises(student, P + "classifier_forward", init, images, tokens, lengths,
                      case=f"ImageTextClassifier({', '.join(f'{k}={v!r}' for k, v in option.items())})")


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
