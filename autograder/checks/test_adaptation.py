"""Graded checks for exercises/adaptation.py.

Oracles: the formulas of the papers' code rebuilt here in float64 NumPy/torch (loralib's LoRA
forward and merge, bitsandbytes-style blockwise absmax, big_vision's SigLIP sigmoid loss, the DPO
reference implementation's _get_batch_logps and preference loss), with autograd for gradients;
hand-worked cases. Two training checks run the learner's apply_lora and DPO code inside trusted loops
on a tiny captioner the probe pretrains on the shapes data; their targets come from the reference's
spread over 20 seeds (benchmarks/bench_adaptation.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder import checking
from autograder.checking import close, equal
from autograder.expect import Any, Array, Bool, Dict, Float, List, Optional, Str

task = pytest.mark.task
P = "adaptation."

# Targets of the training checks, from benchmarks/results/adaptation.json (reference, 20 seeds, one thread):
# held-out terse-caption token accuracy after LoRA (rank 1 on "context" and "head", 1.5% trainable) min 0.958,
# mean 0.988 (0.036 before); DPO on held-out pairs: the hallucinated caption's log-probability relative to the
# reference moves by -21.3 at most (mean -25.7), the chosen-rejected margin grows by 18.1 at least (mean 21.2).
LORA_ACCURACY_TARGET = 0.85
LORA_SHARE_LIMIT = 0.02
DPO_REJECTED_SHIFT_TARGET = -5.0
DPO_MARGIN_GAIN_TARGET = 5.0


def probe_raises(student, probe: str, *args, case: str, errors=("ValueError", "TypeError"), **kwargs) -> None:
    checking.probe_raises(student, probe, *args, case=case, errors=errors, **kwargs)


# ----------------------------------------------------------------------------- LoRALinear
LORA_SPEC = Dict({}, extra=True)


def lora_case(rng, d_in=6, d_out=4, rank=2, batch=5):
    return (rng.normal(scale=0.5, size=(d_out, d_in)), rng.normal(scale=0.1, size=d_out),
            rng.normal(size=(batch, d_in)), rng.normal(size=(rank, d_in)), rng.normal(size=(d_out, rank)))


def run_lora(student, weight, bias, rank, alpha, x, a=None, b=None, **kwargs) -> dict:
    got = student.probe(P + "lora_linear", weight, bias, rank, alpha, x, lora_a=a, lora_b=b, returns=LORA_SPEC,
                        **kwargs)
    for key in ("init_A", "init_B"):
        if got[key] is None:
            raise AssertionError(f"LoRALinear has no parameter {key[5:].replace('A', 'lora_A').replace('B', 'lora_B')}"
                                 " (name them lora_A and lora_B, as loralib)")
    return got


@task("LoRALinear", points=2)
def test_lora_starts_as_the_base_layer(student, rng):
    weight, bias, x, _, _ = lora_case(rng, d_in=40, d_out=12, rank=4)
    got = run_lora(student, weight, bias, 4, 8.0, x)
    a0 = Array((4, 40), "float").check(got["init_A"], "LoRALinear.lora_A")
    b0 = Array((12, 4), "float").check(got["init_B"], "LoRALinear.lora_B")
    if np.any(b0 != 0):
        raise AssertionError("LoRALinear.lora_B must start at zeros (and lora_A random), so the layer equals the base "
                             f"at initialisation; got max |lora_B| {np.abs(b0).max():.3g}")
    bound = 1 / math.sqrt(40)  # kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    if np.all(a0 == 0) or np.abs(a0).max() > bound + 1e-12 or a0.std() < 0.3 * bound:
        raise AssertionError(f"LoRALinear.lora_A must start random with kaiming_uniform_(a=sqrt(5)), i.e. "
                             f"U(-{bound:.3f}, {bound:.3f}) for in_features=40; got max |A| {np.abs(a0).max():.3g}, "
                             f"std {a0.std():.3g}")
    close(got["init_out"], got["base_out"], "LoRALinear output at initialisation must equal the base layer's",
          atol=1e-12)
    close(got["scaling"] if got["scaling"] is not None else np.nan, 2.0,
          "LoRALinear.scaling for rank=4, alpha=8 (alpha / rank)", atol=1e-12)


@task("LoRALinear", points=3)
@pytest.mark.parametrize("rank,alpha", [(2, 8.0), (3, 3.0)])
def test_lora_forward_matches_formula(student, rng, rank, alpha):
    weight, bias, x, a, b = lora_case(rng, rank=rank)
    got = run_lora(student, weight, bias, rank, alpha, x, a, b)
    want = x @ weight.T + bias + (alpha / rank) * x @ a.T @ b.T
    close(got["out"], want, f"LoRALinear(rank={rank}, alpha={alpha}) output vs base(x) + (alpha/rank) x Aᵀ Bᵀ",
          atol=1e-10)


@task("LoRALinear", points=2)
def test_lora_only_adapters_get_gradients(student, rng):
    weight, bias, x, a, b = lora_case(rng, rank=2)
    got = run_lora(student, weight, bias, 2, 4.0, x, a, b)
    flags = got["requires_grad"]
    base_trainable = sorted(n for n, v in flags.items() if v and "lora_" not in n)
    if base_trainable or got["grad_base_weight"] is not None:
        raise AssertionError(f"LoRALinear leaves the base layer trainable ({base_trainable or ['base.weight']}): "
                             "freeze base.weight and base.bias (requires_grad False)")
    # d sum(out) / dA = s * Bᵀ 1 xᵀ-sum ; d/dB = s * 1 (x Aᵀ)-sum
    s = 2.0
    ones = np.ones((x.shape[0], weight.shape[0]))
    close(got["grad_A"], s * (ones @ b).T @ x, "gradient of sum(LoRALinear(x)) with respect to lora_A", atol=1e-9)
    close(got["grad_B"], s * ones.T @ (x @ a.T), "gradient of sum(LoRALinear(x)) with respect to lora_B", atol=1e-9)


@task("LoRALinear", points=2)
def test_lora_merge(student, rng):
    weight, bias, x, a, b = lora_case(rng, d_in=5, d_out=5, rank=2)
    got = run_lora(student, weight, bias, 2, 6.0, x, a, b, merge=True)
    if got["merged_type"] != "Linear" or got["merged_weight"] is None:
        raise AssertionError(f"LoRALinear.merge() returned {got['merged_type']}, expected a new nn.Linear")
    close(got["merged_weight"], weight + 3.0 * b @ a, "merge(): weight W + (alpha/rank) · B @ A (B (out, r) "
          "times A (r, in))", atol=1e-10)
    close(got["merged_out"], got["out_before_merge"], "merge(): the merged nn.Linear's output vs the LoRA layer's",
          atol=1e-10)
    if got["base_weight_changed"]:
        raise AssertionError("merge() changed the LoRA layer's base weight: return a NEW nn.Linear and leave the "
                             "layer as it was")
    close(got["out_after_merge"], got["out_before_merge"], "the LoRA layer's output after merge() (unchanged)",
          atol=1e-10)


@task("LoRALinear", points=1)
def test_lora_dropout_only_on_the_update(student, rng):
    weight, bias, x, a, _ = lora_case(rng, rank=2)
    got = run_lora(student, weight, bias, 2, 4.0, x, a, np.zeros((4, 2)), dropout=0.9, train=True)
    close(got["out"], got["base_out"], "LoRALinear(dropout=0.9) in training mode with lora_B = 0: dropout acts on "
          "the low-rank path's input only, so the output must equal the base layer's", atol=1e-12)


@task("LoRALinear", points=1)
def test_lora_rejects_bad_input(student, rng):
    weight, bias, x, _, _ = lora_case(rng)
    probe_raises(student, P + "lora_linear", weight, bias, 0, 4.0, x, case="rank=0")
    probe_raises(student, P + "lora_linear", weight, bias, 2, 0.0, x, case="alpha=0")


# ----------------------------------------------------------------------------- apply_lora
APPLY_SPEC = Dict({"returned_type": Str(), "returned": Optional(List(Any(), length=2)), "module_types": Dict({}, extra=True),
                   "trainable": List(Str()), "counted": List(Any(), length=2), "out_before": Array(None, "float"),
                   "out_after": Array(None, "float"), "grads": List(Str())})
TARGETS = ["encoder.0.q_proj", "encoder.1.v_proj", "head"]


@task("apply_lora", points=3)
def test_apply_lora_swaps_and_freezes(student, rng):
    x = rng.normal(size=(7, 8))
    got = student.probe(P + "apply_lora", TARGETS, 2, 4.0, x, returns=APPLY_SPEC)
    wrong = {t: k for t, k in got["module_types"].items() if k != "LoRALinear"}
    if wrong:
        raise AssertionError(f"apply_lora left {wrong} in place of LoRALinear (nested names such as "
                             "'encoder.0.q_proj' need the parent module: model.get_submodule)")
    want = sorted(f"{t}.lora_{m}" for t in TARGETS for m in "AB")
    if got["trainable"] != want:
        extra = sorted(set(got["trainable"]) - set(want))
        raise AssertionError(f"after apply_lora the trainable parameters are {extra or got['trainable']}; only the "
                             f"adapters' lora_A and lora_B may be trainable (freeze the rest of the model)")
    if got["grads"] != want:
        raise AssertionError(f"after backward, gradients reached {got['grads']}, expected exactly {want}: is each "
                             "LoRALinear in the forward path? (a dotted name needs its parent: model.get_submodule)")
    close(got["out_after"], got["out_before"], "the model's output right after apply_lora (B = 0: unchanged)",
          atol=1e-12)


@task("apply_lora", points=1)
def test_apply_lora_reports_the_trainable_share(student, rng):
    got = student.probe(P + "apply_lora", TARGETS, 3, 6.0, rng.normal(size=(2, 8)), returns=APPLY_SPEC)
    if got["returned"] is None:
        raise AssertionError(f"apply_lora returned {got['returned_type']}, expected (trainable, total) as two ints")
    equal(got["returned"], got["counted"], "apply_lora's (trainable, total) parameter counts after the swap "
          "(total includes the adapters and the frozen weights)")


@task("apply_lora", points=3, timeout=120)
def test_lora_adapts_a_pretrained_captioner_to_a_new_caption_style(student, check_seed):
    spec = Dict({"returned": Optional(List(Any(), length=2)), "trainable": Any(), "total": Any(),
                 "before": Float(), "after": Float(), "frozen_changed": List(Str())})
    got = student.probe(P + "lora_adaptation", int(check_seed) % 1000, returns=spec)
    share = got["trainable"] / got["total"]
    if got["frozen_changed"]:
        raise AssertionError(f"LoRA adaptation changed frozen weights {got['frozen_changed']}: only lora_A/lora_B train")
    if not share < LORA_SHARE_LIMIT:
        raise AssertionError(f"LoRA (rank 1 on 'context' and 'head') left {got['trainable']} of {got['total']} "
                             f"parameters trainable ({share:.1%}); expected < {LORA_SHARE_LIMIT:.0%}")
    if not got["after"] >= LORA_ACCURACY_TARGET:
        raise AssertionError(f"after LoRA adaptation of the pretrained captioner to terse captions ('circle red left'), "
                             f"held-out token accuracy is {got['after']:.3f} (before {got['before']:.3f}); the "
                             f"reference reaches >= {LORA_ACCURACY_TARGET} with {share:.1%} trainable parameters")


@task("apply_lora", points=1)
def test_apply_lora_rejects_bad_names(student, rng):
    x = rng.normal(size=(2, 8))
    probe_raises(student, P + "apply_lora", ["encoder.0.k_proj"], 2, 4.0, x, case="an unknown module name",
                 errors=("ValueError",))
    probe_raises(student, P + "apply_lora", ["encoder.0.norm"], 2, 4.0, x, case="a LayerNorm", errors=("ValueError",))


# ----------------------------------------------------------------------------- quantisation
QUANT_SPEC = Dict({"type": Str(), "codes": Optional(Array(None, "number")), "codes_dtype": Str(),
                   "absmax": Optional(Array(None, "float")), "restored": Optional(Array(None, "float"))})


def reference_quantize(weight: np.ndarray, block_size: int, bits: int):
    q = 2 ** (bits - 1) - 1
    flat = weight.astype(np.float32).reshape(-1)
    blocks = np.concatenate([flat, np.zeros((-flat.size) % block_size, np.float32)]).reshape(-1, block_size)
    absmax = np.abs(blocks).max(axis=1)
    safe = np.where(absmax > 0, absmax, 1).astype(np.float32)
    codes = np.clip(np.round(blocks / safe[:, None] * q), -q, q)
    return codes, absmax, q


def run_quantize(student, weight, block_size, bits):
    got = student.probe(P + "quantize", weight, block_size, bits, returns=QUANT_SPEC)
    if got["codes"] is None:
        raise AssertionError(f"quantize_absmax_blockwise returned {got['type']}, expected (codes, absmax)")
    return got


@task("quantize_absmax_blockwise", points=3)
@pytest.mark.parametrize("shape,block_size,bits", [((37, 50), 64, 4), ((16, 24), 32, 8), ((5, 7), 16, 3)])
def test_quantize_matches_blockwise_absmax(student, rng, shape, block_size, bits):
    weight = rng.normal(scale=0.02, size=shape).astype(np.float32)
    weight.reshape(-1)[rng.choice(weight.size, 3, replace=False)] *= 40  # outliers, as in real LLM weights
    got = run_quantize(student, weight, block_size, bits)
    codes, absmax, q = reference_quantize(weight, block_size, bits)
    what = f"quantize_absmax_blockwise({shape}, block_size={block_size}, bits={bits})"
    close(got["absmax"], absmax, f"{what}: per-block absmax (blocks of consecutive entries in row-major order, "
          "the last one zero-padded)", atol=1e-7, rtol=1e-6)
    if got["codes"].min() < -q or got["codes"].max() > q:
        raise AssertionError(f"{what}: codes span [{got['codes'].min():g}, {got['codes'].max():g}], expected integers "
                             f"in [-{q}, {q}] (q = 2^(bits-1) - 1)")
    if got["codes_dtype"] != "torch.int8":
        raise AssertionError(f"{what}: codes have dtype {got['codes_dtype']}, expected torch.int8")
    mismatch = np.flatnonzero(got["codes"].reshape(-1) != codes.reshape(-1)) if got["codes"].shape == codes.shape \
        else None
    if mismatch is None or mismatch.size:
        detail = "shape " + str(got["codes"].shape) if mismatch is None else f"{mismatch.size} codes differ"
        raise AssertionError(f"{what}: codes differ from round(w / absmax_block * q) ({detail}; round half to even, "
                             f"expected shape {codes.shape})")


@task("quantize_absmax_blockwise", points=2)
def test_quantize_roundtrip_error_bound(student, rng):
    weight = rng.normal(scale=0.02, size=(48, 40)).astype(np.float32)
    weight[3, 5] = 1.5  # one outlier: its block is coarse, every other block must stay fine
    weight[10:12] = 0.0  # some all-zero blocks
    got = run_quantize(student, weight, 64, 4)
    if got["restored"] is None:
        raise AssertionError("dequantize_absmax_blockwise did not return a tensor")
    restored = Array(weight.shape, "float").check(got["restored"], "dequantize_absmax_blockwise")
    _, absmax, q = reference_quantize(weight, 64, 4)
    bound = np.repeat(absmax / (2 * q), 64)[: weight.size].reshape(weight.shape)
    error = np.abs(restored - weight)
    worst = np.unravel_index(np.argmax(error - bound), weight.shape)
    if np.any(error > bound * (1 + 1e-5) + 1e-8):
        raise AssertionError(f"quantize/dequantize round trip: |w - w_hat| = {error[worst]:.3g} at entry {worst}, above "
                             f"the per-block bound absmax_block / (2q) = {bound[worst]:.3g} (one scale per block of 64, "
                             "round to nearest)")


@task("quantize_absmax_blockwise", points=1)
def test_quantize_rejects_bad_input(student, rng):
    weight = rng.normal(size=(4, 4)).astype(np.float32)
    probe_raises(student, P + "quantize", weight, 0, 4, case="block_size=0")
    probe_raises(student, P + "quantize", weight, 16, 1, case="bits=1")


# ----------------------------------------------------------------------------- SigLIP
SIGLIP_SPEC = Dict({"loss": Optional(Float()), "loss_type": Str(), "grad_image": Optional(Array(None, "float")),
                    "grad_t": Optional(Any()), "grad_b": Optional(Any())})


def reference_siglip(image, text, t, b):
    img = torch.tensor(image, requires_grad=True)
    tt = torch.tensor(float(t), dtype=torch.float64, requires_grad=True)
    bb = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
    x, y = F.normalize(img, dim=-1), F.normalize(torch.tensor(text), dim=-1)
    logits = tt.exp() * x @ y.T + bb
    z = 2 * torch.eye(len(x), dtype=torch.float64) - 1
    loss = -F.logsigmoid(z * logits).sum() / len(x)
    loss.backward()
    return loss.item(), img.grad.numpy(), tt.grad.item(), bb.grad.item()


def run_siglip(student, image, text, t=None, b=None):
    got = student.probe(P + "siglip", image, text, log_temperature=t, bias=b, returns=SIGLIP_SPEC)
    if got["loss"] is None:
        raise AssertionError(f"siglip_loss returned {got['loss_type']}, expected a 0-d tensor")
    return got


@task("siglip_loss", points=3)
def test_siglip_loss_matches_big_vision(student, rng):
    n, d = 12, 8
    image = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=(n, 1))
    text = image + rng.normal(scale=0.8, size=(n, d))
    for t, b in ((math.log(10.0), -10.0), (2.3, -3.0), (0.5, 1.0)):
        got = run_siglip(student, image, text, t, b)
        want, grad, grad_t, grad_b = reference_siglip(image, text, t, b)
        close(got["loss"], want, f"siglip_loss(t'={t:.3g}, b={b}) vs -(1/n) sum_ij log sigmoid(z_ij (exp(t') "
              "<x_i, y_j> + b)), z = +1 on the diagonal and -1 off it, embeddings L2-normalised", atol=1e-9)
        close(got["grad_image"], grad, f"d siglip_loss / d image_embeddings at t'={t:.3g}, b={b}", atol=1e-9)
        close(np.nan if got["grad_t"] is None else got["grad_t"], grad_t,
              "d siglip_loss / d log_temperature (a learnable tensor)", atol=1e-9)
        close(np.nan if got["grad_b"] is None else got["grad_b"], grad_b, "d siglip_loss / d bias (a learnable tensor)",
              atol=1e-9)


@task("siglip_loss", points=1)
def test_siglip_default_initialisation(student, rng):
    image, text = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    got = run_siglip(student, image, text)
    want = reference_siglip(image, text, math.log(10.0), -10.0)[0]
    close(got["loss"], want, "siglip_loss with its defaults (the published init t' = log 10, b = -10)", atol=1e-9)


@task("siglip_loss", points=1)
def test_siglip_hand_worked(student):
    # n = 2, orthogonal pairs matched: logits = 10*I - 10 -> diagonal 0, off-diagonal -10
    # loss = -(1/2)[2 log sigmoid(0) + 2 log sigmoid(10)] = log 2 + log(1 + e^-10)
    eye = np.eye(2)
    got = run_siglip(student, eye, eye * 3.0)
    close(got["loss"], math.log(2) + math.log1p(math.exp(-10)), "siglip_loss of two matched orthogonal pairs with "
          "t' = log 10, b = -10 (a sum over the n² pairs divided by n)", atol=1e-9)


# ----------------------------------------------------------------------------- sequence_logprob
SEQ_SPEC = Dict({"type": Str(), "value": Optional(Array(None, "float")), "grad": Optional(Array(None, "float"))})


def reference_logprob(logits, labels):
    scores = torch.tensor(logits, requires_grad=True)
    lab = torch.tensor(labels)[:, 1:]
    mask = lab != -100
    logp = scores[:, :-1].log_softmax(-1).gather(2, lab.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    value = (logp * mask).sum(-1)
    value.sum().backward()
    return value.detach().numpy(), scores.grad.numpy()


@task("sequence_logprob", points=3)
def test_sequence_logprob_matches_reference(student, rng):
    b, t, v = 4, 9, 11
    logits = rng.normal(scale=2.0, size=(b, t, v))
    labels = rng.integers(0, v, size=(b, t))
    labels[:, :3] = -100  # the prompt
    labels[1, 6:] = -100  # padding
    labels[3, :5] = -100
    got = student.probe(P + "sequence_logprob", logits, labels, returns=SEQ_SPEC)
    if got["value"] is None:
        raise AssertionError(f"sequence_logprob returned {got['type']}, expected a (B,) tensor")
    want, grad = reference_logprob(logits, labels)
    close(got["value"], want, "sequence_logprob vs the sum over positions t of log_softmax(logits[:, t])[labels[:, t+1]]"
          " (shifted by one; positions labelled -100 skipped)", atol=1e-9)
    if got["grad"] is None:
        raise AssertionError("sequence_logprob: no gradient reached the logits")
    close(got["grad"], grad, "d sequence_logprob / d logits", atol=1e-9)


@task("sequence_logprob", points=1)
def test_sequence_logprob_hand_worked(student):
    # uniform logits over 4 tokens: each counted token adds log(1/4); labels [-100, 2, 1, -100] count 2 tokens
    got = student.probe(P + "sequence_logprob", np.zeros((1, 4, 4)), np.array([[-100, 2, 1, -100]]), returns=SEQ_SPEC)
    close(got["value"], [2 * math.log(0.25)], "sequence_logprob of uniform logits over 4 tokens with 2 labelled "
          "next tokens (sum of log 1/4, -100 skipped)", atol=1e-12)


# ----------------------------------------------------------------------------- dpo_loss
DPO_SPEC = Dict({"type": Str(), "loss": Optional(Float()), "chosen_rewards": Optional(Array(None, "float")),
                 "rejected_rewards": Optional(Array(None, "float")), "rewards_require_grad": Optional(Bool()),
                 "grads": List(Optional(Array(None, "float")), length=4)})


def reference_dpo(pc, pr, rc, rr, beta):
    tensors = [torch.tensor(v, requires_grad=True) for v in (pc, pr, rc, rr)]
    pcs, prs, rcs, rrs = tensors
    loss = -F.logsigmoid(beta * ((pcs - prs) - (rcs.detach() - rrs.detach()))).mean()
    loss.backward()
    return loss.item(), beta * (pc - rc), beta * (pr - rr), [t.grad.numpy() if t.grad is not None else None
                                                             for t in tensors]


def dpo_inputs(rng, n=16):
    return tuple(rng.normal(loc=-30, scale=5, size=n) for _ in range(4))


def run_dpo(student, inputs, beta):
    got = student.probe(P + "dpo", *inputs, beta, returns=DPO_SPEC)
    if got["loss"] is None:
        raise AssertionError(f"dpo_loss returned {got['type']}, expected (loss, chosen_rewards, rejected_rewards)")
    return got


@task("dpo_loss", points=3)
@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_dpo_loss_matches_reference(student, rng, beta):
    inputs = dpo_inputs(rng)
    got = run_dpo(student, inputs, beta)
    loss, chosen, rejected, grads = reference_dpo(*inputs, beta)
    close(got["loss"], loss, f"dpo_loss(beta={beta}) vs mean -log sigmoid(beta ((pi_c - pi_r) - (ref_c - ref_r)))",
          atol=1e-10)
    close(got["chosen_rewards"], chosen, f"dpo_loss chosen_rewards = beta (pi_chosen - ref_chosen) at beta={beta}",
          atol=1e-10)
    close(got["rejected_rewards"], rejected, f"dpo_loss rejected_rewards = beta (pi_rejected - ref_rejected) at "
          f"beta={beta}", atol=1e-10)
    for name, g, w in zip(("policy_chosen_logps", "policy_rejected_logps"), got["grads"], grads):
        if g is None:
            raise AssertionError(f"dpo_loss: no gradient reached {name}")
        close(g, w, f"d dpo_loss / d {name}", atol=1e-10)


@task("dpo_loss", points=1)
def test_dpo_reference_is_constant_and_rewards_detached(student, rng):
    got = run_dpo(student, dpo_inputs(rng, 6), 0.2)
    for name, g in zip(("reference_chosen_logps", "reference_rejected_logps"), got["grads"][2:]):
        if g is not None and np.abs(g).max() > 0:
            raise AssertionError(f"dpo_loss sends gradient to {name}: the reference model is frozen, detach its terms")
    if got["rewards_require_grad"]:
        raise AssertionError("dpo_loss returned rewards that require grad: detach them (they are for logging)")


@task("dpo_loss", points=1)
def test_dpo_hand_worked(student):
    # policy = reference: h = 0, loss = log 2, rewards 0
    got = run_dpo(student, (np.array([-5.0]), np.array([-7.0]), np.array([-5.0]), np.array([-7.0])), 0.3)
    close(got["loss"], math.log(2), "dpo_loss when the policy equals the reference (log 2)", atol=1e-12)
    # h = (-4 - -8) - (-5 - -7) = 2, beta = 0.5: loss = -log sigmoid(1)
    got = run_dpo(student, (np.array([-4.0]), np.array([-8.0]), np.array([-5.0]), np.array([-7.0])), 0.5)
    close(got["loss"], math.log1p(math.exp(-1.0)), "dpo_loss for a margin gain of 2 nats at beta=0.5 "
          "(-log sigmoid(1))", atol=1e-12)


@task("dpo_loss", points=2, timeout=120)
def test_dpo_lowers_the_hallucinated_caption(student, check_seed):
    spec = Dict({"rejected_shift": Float(), "chosen_shift": Float(), "margin_gain": Float(),
                 "reward_accuracy": Float(), "losses": List(Optional(Float(finite=False)))})
    got = student.probe(P + "dpo_training", int(check_seed) % 1000, returns=spec)
    if None in got["losses"]:
        raise AssertionError("dpo_loss returned a loss that is not a 0-d tensor during DPO training")
    if not got["rejected_shift"] <= DPO_REJECTED_SHIFT_TARGET or not got["margin_gain"] >= DPO_MARGIN_GAIN_TARGET:
        raise AssertionError(f"after DPO on faithful vs hallucinated captions, the hallucinated captions' held-out "
                             f"log-probability moved by {got['rejected_shift']:.2f} nats relative to the reference model "
                             f"and the chosen-rejected margin by {got['margin_gain']:.2f} (the reference: <= "
                             f"{DPO_REJECTED_SHIFT_TARGET} and >= {DPO_MARGIN_GAIN_TARGET})")
