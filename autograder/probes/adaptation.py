"""Probes for adaptation.py: build, run and train with the learner's LoRA, quantiser, SigLIP and DPO code.

They return plain data; the checks in autograder/checks/test_adaptation.py compute the reference
formulas and every verdict. The two training probes use a tiny captioner that this module
pretrains itself (trusted code, fixed seed) on captions of the shapes data; only the piece under
test comes from the learner: apply_lora for the domain shift, sequence_logprob and dpo_loss for DPO.
"""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.probes import one_cpu_thread
from mmprep.data.shapes import COLOURS, POSITIONS, SHAPES, SIZES, caption_scene, random_scene


def _t(x, device, dtype=torch.float64, grad=False) -> torch.Tensor:
    return torch.tensor(np.asarray(x), dtype=dtype, device=device, requires_grad=grad)


def _np(x):
    return None if x is None else x.detach().to("cpu", torch.float64).numpy()


def _type_name(value) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _scalar(value):
    """A 0-d (or 1-element) tensor's float; None for anything else."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().cpu().reshape(()).item())
    return None


# ----------------------------------------------------------------------------- LoRALinear
def _linear(weight, bias, device) -> nn.Linear:
    weight = np.asarray(weight)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None).to(device=device, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(_t(weight, device))
        if bias is not None:
            layer.bias.copy_(_t(bias, device))
    return layer


def _grad_of(param):
    return None if param is None or param.grad is None else _np(param.grad)


@one_cpu_thread()
def lora_linear(module, weight, bias, rank, alpha, x, lora_a=None, lora_b=None, dropout=0.0, train=False,
                seed=0, merge=False, *, device: str):
    """LoRALinear(base, rank, alpha, dropout) on a float64 base; optionally load lora_A/lora_B.

    Returns the layer's init state (A, B, scaling, requires_grad flags), its output on x, the base
    output, the gradients of sum(output) with respect to lora_A, lora_B and the base weight, and with
    merge=True the merged layer's type/weight/output and whether merge() changed the layer.
    """
    torch.manual_seed(int(seed))
    base = _linear(weight, bias, device)
    base_weight_before = _np(base.weight).copy()
    layer = module.LoRALinear(base, rank, alpha, dropout=dropout)
    out = {"init_A": _np(getattr(layer, "lora_A", None)), "init_B": _np(getattr(layer, "lora_B", None)),
           "scaling": getattr(layer, "scaling", None)}
    out["scaling"] = float(out["scaling"]) if isinstance(out["scaling"], (int, float)) else None
    names = {name: bool(p.requires_grad) for name, p in layer.named_parameters()}
    out["requires_grad"] = names
    xs = _t(x, device)
    with torch.no_grad():
        out["base_out"] = _np(base(xs))
        layer.eval()
        out["init_out"] = _np(layer(xs))
    with torch.no_grad():
        if lora_a is not None:
            layer.lora_A.copy_(_t(lora_a, device))
        if lora_b is not None:
            layer.lora_B.copy_(_t(lora_b, device))
    layer.train(bool(train))
    y = layer(xs)
    out["out"] = _np(y)
    y.sum().backward()
    out["grad_A"], out["grad_B"] = _grad_of(layer.lora_A), _grad_of(layer.lora_B)
    out["grad_base_weight"] = _grad_of(base.weight)
    layer.zero_grad(set_to_none=True)
    if not merge:
        return out
    layer.eval()
    with torch.no_grad():
        before = _np(layer(xs))
        merged = layer.merge()
        out["merged_type"] = type(merged).__name__
        if isinstance(merged, nn.Linear):
            out["merged_weight"] = _np(merged.weight)
            out["merged_out"] = _np(merged(xs))
        else:
            out["merged_weight"] = out["merged_out"] = None
        out["out_after_merge"] = _np(layer(xs))
        out["base_weight_changed"] = bool(not np.array_equal(_np(layer.base.weight), base_weight_before))
        out["out_before_merge"] = before
    return out


# ----------------------------------------------------------------------------- apply_lora
class _Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.q_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return x + torch.tanh(self.q_proj(self.norm(x))) * self.v_proj(x)


class _Net(nn.Module):
    def __init__(self, width=16, classes=5):
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.encoder = nn.ModuleList([_Block(width), _Block(width)])
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        h = self.embed(x)
        for block in self.encoder:
            h = block(h)
        return self.head(h)


@one_cpu_thread()
def apply_lora(module, targets, rank, alpha, x, seed=0, *, device: str):
    """apply_lora on a small two-block network: what it returned, what is trainable, what got gradients.

    Returns {"returned": repr-safe value, "returned_type", "module_types": {target: type name},
    "trainable": [names with requires_grad], "counted": [trainable, total] counted here,
    "out_before", "out_after", "grads": [names whose .grad is not None after backward]}.
    """
    torch.manual_seed(int(seed))
    net = _Net().to(device=device, dtype=torch.float64)
    xs = _t(x, device)
    with torch.no_grad():
        before = _np(net(xs))
    returned = module.apply_lora(net, list(targets), rank, alpha)
    modules = dict(net.named_modules())
    out = {"returned_type": _type_name(returned),
           "returned": [int(v) for v in returned] if isinstance(returned, (tuple, list)) and len(returned) == 2
           and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in returned) else None,
           "module_types": {t: type(modules[t]).__name__ if t in modules else "missing" for t in targets},
           "trainable": sorted(n for n, p in net.named_parameters() if p.requires_grad),
           "counted": [sum(p.numel() for p in net.parameters() if p.requires_grad),
                       sum(p.numel() for p in net.parameters())],
           "out_before": before}
    net.train()
    y = net(xs)
    out["out_after"] = _np(y)
    if y.requires_grad:
        y.square().mean().backward()
    out["grads"] = sorted(n for n, p in net.named_parameters() if p.grad is not None)
    return out


# ----------------------------------------------------------------------------- quantisation
def quantize(module, weight, block_size, bits, *, device: str):
    """codes, absmax, and dequantize(codes, absmax, shape, bits) of the learner, for a float32 weight."""
    w = _t(weight, device, torch.float32)
    result = module.quantize_absmax_blockwise(w, block_size=block_size, bits=bits)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return {"type": _type_name(result), "codes": None, "absmax": None, "codes_dtype": "", "restored": None}
    codes, absmax = result
    restored = module.dequantize_absmax_blockwise(codes, absmax, tuple(w.shape), bits=bits)
    return {"type": _type_name(result), "codes": _np(codes), "codes_dtype": str(getattr(codes, "dtype", "")),
            "absmax": _np(absmax), "restored": _np(restored) if isinstance(restored, torch.Tensor) else None}


# ----------------------------------------------------------------------------- SigLIP
def siglip(module, image, text, log_temperature=None, bias=None, *, device: str):
    """The learner's siglip_loss on float64 embeddings (defaults when t'/b are None, tensors otherwise).

    Returns {"loss", "grad_image", "grad_t", "grad_b"} (the gradients when they arrived).
    """
    img, txt = _t(image, device, grad=True), _t(text, device, grad=True)
    kwargs, t, b = {}, None, None
    if log_temperature is not None:
        t = kwargs["log_temperature"] = _t(log_temperature, device, grad=True)
    if bias is not None:
        b = kwargs["bias"] = _t(bias, device, grad=True)
    loss = module.siglip_loss(img, txt, **kwargs)
    out = {"loss": _scalar(loss), "loss_type": _type_name(loss), "grad_image": None, "grad_t": None, "grad_b": None}
    if out["loss"] is not None and loss.requires_grad:
        loss.reshape(()).backward()
        out["grad_image"], out["grad_t"], out["grad_b"] = _grad_of(img), _grad_of(t), _grad_of(b)
    return out


# ----------------------------------------------------------------------------- sequence_logprob, dpo_loss
def sequence_logprob(module, logits, labels, *, device: str):
    scores = _t(logits, device, grad=True)
    result = module.sequence_logprob(scores, torch.tensor(np.asarray(labels), dtype=torch.long, device=device))
    out = {"type": _type_name(result), "value": None, "grad": None}
    if isinstance(result, torch.Tensor):
        out["value"] = _np(result)
        if result.requires_grad:
            result.sum().backward()
            out["grad"] = _grad_of(scores)
    return out


def dpo(module, policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta, *, device: str):
    tensors = [_t(v, device, grad=True) for v in (policy_chosen, policy_rejected, reference_chosen, reference_rejected)]
    result = module.dpo_loss(*tensors, beta=beta)
    out = {"type": _type_name(result), "loss": None, "chosen_rewards": None, "rejected_rewards": None,
           "rewards_require_grad": None, "grads": [None] * 4}
    if not (isinstance(result, (tuple, list)) and len(result) == 3):
        return out
    loss, chosen, rejected = result
    out["loss"] = _scalar(loss)
    out["chosen_rewards"], out["rejected_rewards"] = _np(chosen), _np(rejected)
    out["rewards_require_grad"] = bool(getattr(chosen, "requires_grad", False) or getattr(rejected, "requires_grad", False))
    if out["loss"] is not None and loss.requires_grad:
        loss.reshape(()).backward()
        out["grads"] = [_grad_of(t) for t in tensors]
    return out


# ----------------------------------------------------------------------------- a tiny pretrained captioner
FEATURES = len(COLOURS) + len(SHAPES) + len(SIZES) + len(POSITIONS)
PAD, BOS, EOS = 0, 1, 2


def scene_features(obj) -> np.ndarray:
    """A perfect image encoder for a one-object scene: one-hot colour, shape, size and position."""
    out = np.zeros(FEATURES, np.float32)
    offsets = np.cumsum([0, len(COLOURS), len(SHAPES), len(SIZES)])
    out[offsets[0] + list(COLOURS).index(obj.colour)] = 1
    out[offsets[1] + SHAPES.index(obj.shape)] = 1
    out[offsets[2] + SIZES.index(obj.size)] = 1
    out[offsets[3] + POSITIONS.index(obj.position)] = 1
    return out


def terse_caption(obj) -> str:
    """The shifted caption domain: 'circle red left' instead of 'there is a small red circle on the left'."""
    return f"{obj.shape} {obj.colour} {obj.position}"


def plain_caption(obj, shape=None) -> str:
    return f"a {obj.colour} {shape or obj.shape} {'on the' if obj.position in ('left', 'right') else 'at the'} " \
           f"{obj.position}"


class TinyCaptioner(nn.Module):
    """Next-token model: the last two tokens and the image features -> logits over the vocabulary."""

    def __init__(self, vocab_size: int, width: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width)
        self.visual = nn.Linear(FEATURES, width)
        self.context = nn.Linear(2 * width, width)
        self.hidden = nn.Linear(width, width)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        previous = F.pad(ids, (1, 0))[:, :-1]
        h = torch.tanh(self.context(torch.cat([self.embed(ids), self.embed(previous)], -1)) + self.visual(features)[:, None])
        h = h + torch.tanh(self.hidden(h))
        return self.head(h)


class Corpus:
    """Scenes, captions and a vocabulary covering the source, shifted and hallucinated captions."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.source = [random_scene(rng, 0.0)[0] for _ in range(300)]
        self.source_captions = [caption_scene((o,), rng) for o in self.source for _ in range(2)]
        self.target = [random_scene(rng, 0.0)[0] for _ in range(300)]
        words = {w for c in self.source_captions for w in c.split()} | set(SHAPES) | set(COLOURS) | set(POSITIONS)
        words |= {"a", "on", "at", "the"}
        self.vocab = ["<pad>", "<bos>", "<eos>", *sorted(words)]
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def encode(self, captions: list[str]) -> torch.Tensor:
        length = 2 + max(len(c.split()) for c in captions)
        ids = torch.zeros(len(captions), length, dtype=torch.long)
        for i, caption in enumerate(captions):
            tokens = [BOS] + [self.index[w] for w in caption.split()] + [EOS]
            ids[i, :len(tokens)] = torch.tensor(tokens)
        return ids

    @staticmethod
    def features(objects) -> torch.Tensor:
        return torch.from_numpy(np.stack([scene_features(o) for o in objects]))


def labels_of(ids: torch.Tensor) -> torch.Tensor:
    labels = ids.clone()
    labels[labels == PAD] = -100
    return labels


def caption_loss(model, features, ids):
    logits = model(features, ids)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels_of(ids)[:, 1:].reshape(-1),
                           ignore_index=-100)


def trusted_logprob(model, features, ids) -> torch.Tensor:
    logits = model(features, ids)[:, :-1].log_softmax(-1)
    labels = labels_of(ids)[:, 1:]
    mask = labels != -100
    return (logits.gather(2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask).sum(-1)


def token_accuracy(model, features, ids) -> float:
    with torch.no_grad():
        labels = labels_of(ids)[:, 1:]
        predicted = model(features, ids)[:, :-1].argmax(-1)
        mask = labels != -100
        return float(((predicted == labels) & mask).sum() / mask.sum())


PRETRAIN_STEPS, PRETRAIN_BATCH, PRETRAIN_LR = 80, 64, 2e-2


@lru_cache(maxsize=2)
def pretrained(seed: int):
    """(corpus, state_dict) of a TinyCaptioner pretrained on the shapes captions (cached per worker and seed)."""
    corpus = Corpus(seed)
    torch.manual_seed(seed)
    model = TinyCaptioner(len(corpus.vocab))
    features = Corpus.features(corpus.source).repeat_interleave(2, dim=0)
    ids = corpus.encode(corpus.source_captions)
    optimiser = torch.optim.Adam(model.parameters(), PRETRAIN_LR)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(PRETRAIN_STEPS):
        batch = torch.randint(len(ids), (PRETRAIN_BATCH,), generator=generator)
        loss = caption_loss(model, features[batch], ids[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return corpus, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _model(seed: int):
    corpus, state = pretrained(int(seed))
    model = TinyCaptioner(len(corpus.vocab))
    model.load_state_dict(state)
    return corpus, model


ADAPT_TRAIN, ADAPT_STEPS, ADAPT_LR = 200, 100, 2e-2


@one_cpu_thread()
def lora_adaptation(module, seed, targets=("context", "head"), rank=1, alpha=2.0, *, device: str):
    """Adapt the pretrained captioner to terse captions with the learner's apply_lora (trusted Adam loop).

    Returns {"returned": what apply_lora returned (2 ints or None), "trainable", "total" (counted here),
    "frozen_changed": [names of parameters that are not lora_A/lora_B whose values changed],
    "before", "after" (token accuracy on 100 held-out terse captions), "source_before"}.
    """
    module.apply_lora(_Net(), ["head"], rank, alpha)  # fails fast (before pretraining) when it is not written yet
    corpus, model = _model(seed)
    model = model.to(device)
    features = Corpus.features(corpus.target).to(device)
    ids = corpus.encode([terse_caption(o) for o in corpus.target]).to(device)
    train, test = slice(0, ADAPT_TRAIN), slice(ADAPT_TRAIN, None)
    before = token_accuracy(model, features[test], ids[test])
    returned = module.apply_lora(model, list(targets), rank, alpha)
    model = model.to(device)
    snapshot = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    trainable = [p for p in model.parameters() if p.requires_grad]
    out = {"returned": [int(v) for v in returned] if isinstance(returned, (tuple, list)) and len(returned) == 2 else None,
           "trainable": sum(p.numel() for p in trainable), "total": sum(p.numel() for p in model.parameters()),
           "before": before}
    if trainable:
        optimiser = torch.optim.Adam(trainable, ADAPT_LR)
        torch.manual_seed(int(seed))
        for _ in range(ADAPT_STEPS):
            loss = caption_loss(model, features[train], ids[train])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    out["after"] = token_accuracy(model, features[test], ids[test])
    out["frozen_changed"] = sorted(n for n, p in model.named_parameters() if n in snapshot
                                   and not torch.equal(p.detach(), snapshot[n]))
    return out


DPO_TRAIN, DPO_STEPS, DPO_LR = 120, 20, 5e-3


def hallucination_pairs(corpus: Corpus, objects, rng):
    """(features, chosen ids, rejected ids): the faithful caption, and the same naming another shape."""
    chosen, rejected = [], []
    for obj in objects:
        wrong = str(rng.choice([s for s in SHAPES if s != obj.shape]))
        chosen.append(plain_caption(obj))
        rejected.append(plain_caption(obj, shape=wrong))
    return Corpus.features(objects), corpus.encode(chosen), corpus.encode(rejected)


@one_cpu_thread()
def dpo_training(module, seed, beta=0.1, *, device: str):
    """DPO of the pretrained captioner on faithful vs hallucinated captions, with the learner's
    sequence_logprob and dpo_loss inside a trusted Adam loop (the reference is a frozen copy).

    Returns, on held-out pairs and measured with trusted code: "rejected_shift" and "chosen_shift"
    (mean policy minus reference log-probability of the hallucinated / faithful captions), "margin_gain"
    (mean change of chosen - rejected), "reward_accuracy" (share of pairs whose margin grew), "losses"
    (the learner's loss at each step, None where it was not a number).
    """
    probe = torch.zeros(2, 3, 4)
    module.dpo_loss(*[module.sequence_logprob(probe, torch.zeros(2, 3, dtype=torch.long))] * 4, beta=beta)  # fail fast
    corpus, reference = _model(seed)
    reference = reference.to(device).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    policy = copy.deepcopy(reference)
    for p in policy.parameters():
        p.requires_grad_(True)
    rng = np.random.default_rng(seed + 1)
    feats, chosen, rejected = (t.to(device) for t in hallucination_pairs(corpus, corpus.target, rng))
    train, test = slice(0, DPO_TRAIN), slice(DPO_TRAIN, None)
    optimiser = torch.optim.Adam(policy.parameters(), DPO_LR)
    losses = []
    with torch.no_grad():
        ref_chosen = module.sequence_logprob(reference(feats[train], chosen[train]), labels_of(chosen[train]))
        ref_rejected = module.sequence_logprob(reference(feats[train], rejected[train]), labels_of(rejected[train]))
    for _ in range(DPO_STEPS):
        pol_chosen = module.sequence_logprob(policy(feats[train], chosen[train]), labels_of(chosen[train]))
        pol_rejected = module.sequence_logprob(policy(feats[train], rejected[train]), labels_of(rejected[train]))
        loss, _, _ = module.dpo_loss(pol_chosen, pol_rejected, ref_chosen, ref_rejected, beta=beta)
        losses.append(_scalar(loss))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    policy.eval()
    with torch.no_grad():
        pc = trusted_logprob(policy, feats[test], chosen[test])
        pr = trusted_logprob(policy, feats[test], rejected[test])
        rc = trusted_logprob(reference, feats[test], chosen[test])
        rr = trusted_logprob(reference, feats[test], rejected[test])
    gain = (pc - pr) - (rc - rr)
    return {"rejected_shift": float((pr - rr).mean()), "chosen_shift": float((pc - rc).mean()),
            "margin_gain": float(gain.mean()), "reward_accuracy": float((gain > 0).double().mean()), "losses": losses}
