"""Probes for fusion.py: build, run, backpropagate and train the learner's modules.

They return plain data (arrays, dicts of arrays, numbers); the checks decide pass or fail.
Only torch, numpy, the standard library, mmprep and autograder.probes are imported here.
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.probes import one_cpu_thread

FUSION_CLASSES = ("ConcatFusion", "LateFusion", "TensorFusion", "LowRankFusion", "GatedFusion")


def _fusion_class(module, cls: str):
    if cls not in FUSION_CLASSES:
        raise ValueError(f"unknown fusion class {cls!r}")  # a grader bug, not the learner's
    return getattr(module, cls)


def _tensors(arrays, device: str) -> list[torch.Tensor]:
    return [torch.as_tensor(np.asarray(a)).to(device) for a in arrays]


def _params(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().cpu().numpy() for name, p in model.named_parameters()}


@one_cpu_thread()
def build(module, cls: str, init: dict, *, device: str) -> dict:
    """Construct `cls(**init)` and describe it: {"param_shapes": {name: [dims]}, "num_params": int}."""
    model = _fusion_class(module, cls)(**init).to(device)
    shapes = {name: list(p.shape) for name, p in model.named_parameters()}
    return {"param_shapes": shapes, "num_params": int(sum(p.numel() for p in model.parameters()))}


def _perturb(model: torch.nn.Module, scale: float) -> None:
    """Add seeded noise to every parameter, so a zero-initialised bias (or any other constant) shows in a formula."""
    generator = torch.Generator().manual_seed(20170)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=torch.float32).to(p.device, p.dtype))


@one_cpu_thread()
def forward(module, cls: str, init: dict, inputs: list, permutation=None, perturb: float = 0.0, repeat: bool = False,
            *, device: str) -> dict:
    """Eval-mode outputs of `cls(**init)` on `inputs` (and on the permuted batch) plus its parameters.

    Returns {"output": (B, out), "params": {name: array}} and, when a permutation is given,
    "permuted_output": the output for every input reordered by `permutation`; with repeat=True,
    "repeat_output": a second forward pass on the same inputs (eval mode must be deterministic).
    perturb > 0 first adds that much seeded Gaussian noise to every parameter (the returned params
    are the perturbed ones).
    """
    model = _fusion_class(module, cls)(**init).to(device).eval()
    if perturb:
        _perturb(model, float(perturb))
    features = [x.float() for x in _tensors(inputs, device)]
    result = {}
    with torch.no_grad():
        result["output"] = model(*features).detach().cpu().numpy()
        if repeat:
            result["repeat_output"] = model(*features).detach().cpu().numpy()
        if permutation is not None:
            order = torch.as_tensor(np.asarray(permutation), device=device)
            result["permuted_output"] = model(*[x[order] for x in features]).detach().cpu().numpy()
    result["params"] = _params(model)
    return result


@one_cpu_thread()
def gradients(module, cls: str, init: dict, inputs: list, projection, *, device: str) -> dict:
    """Backpropagate sum(output * projection) through `cls(**init)` in train mode.

    Returns {"grad_norms": {name: float, or -1.0 when the gradient is None},
             "param_shapes": {name: [dims]}, "num_params": int, "on_device": {name: bool}}.
    """
    model = _fusion_class(module, cls)(**init).to(device).train()
    features = [x.float() for x in _tensors(inputs, device)]
    out = model(*features)
    (out * torch.as_tensor(np.asarray(projection), dtype=out.dtype, device=out.device)).sum().backward()
    expected_type = torch.device(device).type
    grads, on_device = {}, {}
    for name, p in model.named_parameters():
        grads[name] = -1.0 if p.grad is None else float(p.grad.detach().norm().cpu())
        on_device[name] = p.device.type == expected_type
    return {
        "grad_norms": grads,
        "param_shapes": {name: list(p.shape) for name, p in model.named_parameters()},
        "num_params": int(sum(p.numel() for p in model.parameters())),
        "on_device": on_device,
    }


@one_cpu_thread()
def classifier_forward(module, init: dict, images, tokens, lengths, extra_padding: int = 0, permutation=None,
                       *, device: str) -> dict:
    """Eval-mode logits of ImageTextClassifier(**init).

    Returns {"logits": (B, C), "repeat_logits": a second pass on the same inputs}; with extra_padding > 0
    also "padded_logits" for the same captions
    with that many more padding columns (id init.get("pad_id", 0)); with a permutation also
    "permuted_logits" for the reordered batch.
    """
    model = module.ImageTextClassifier(**init).to(device).eval()
    x, t, n = _tensors((images, tokens, lengths), device)
    x, t, n = x.float(), t.long(), n.long()
    out = {}
    with torch.no_grad():
        out["logits"] = model(x, t, n).cpu().numpy()
        out["repeat_logits"] = model(x, t, n).cpu().numpy()
        if extra_padding:
            pad = torch.full((t.shape[0], int(extra_padding)), int(init.get("pad_id", 0)), dtype=t.dtype, device=device)
            out["padded_logits"] = model(x, torch.cat([t, pad], dim=1), n).cpu().numpy()
        if permutation is not None:
            order = torch.as_tensor(np.asarray(permutation), device=device)
            out["permuted_logits"] = model(x[order], t[order], n[order]).cpu().numpy()
    return out


@one_cpu_thread()
def classifier_parts(module, init: dict, images, tokens, lengths, *, device: str) -> dict:
    """Eval-mode logits of ImageTextClassifier(**init), the two inputs its fusion module received, its parameters.

    Returns {"logits": (B, C), "fusion_inputs": [array, ...] (empty when no submodule is one of the
    topic's fusion classes), "fusion_modules": int (how many such submodules), "params": {name: array}}.
    """
    model = module.ImageTextClassifier(**init).to(device).eval()
    fusions = [m for m in model.modules() if isinstance(m, tuple(getattr(module, c) for c in FUSION_CLASSES))]
    captured = []
    hooks = [m.register_forward_hook(lambda _m, args, _out: captured.append(
        [a.detach().cpu().numpy() for a in args if isinstance(a, torch.Tensor)])) for m in fusions[:1]]
    x, t, n = _tensors((images, tokens, lengths), device)
    with torch.no_grad():
        logits = model(x.float(), t.long(), n.long()).cpu().numpy()
    for hook in hooks:
        hook.remove()
    return {"logits": logits, "fusion_inputs": captured[0] if captured else [], "fusion_modules": len(fusions),
            "params": _params(model)}


@one_cpu_thread()
def train_xor(module, fusion: str, train_seed: int, test_images, test_tokens, test_lengths, steps: int = 250,
              n_train: int = 2000, batch_size: int = 32, lr: float = 3e-3, image_encoder: str = "cnn",
              *, device: str) -> np.ndarray:
    """Train ImageTextClassifier(fusion=...) on the XOR task from `train_seed`; predict the test inputs.

    Adam, cross-entropy, `steps` minibatches drawn from `n_train` generated examples.
    Returns the predicted classes (N_test,) int64 for the held-out inputs the grader sent.
    """
    from mmprep.data.xor import make_xor_task

    data = make_xor_task(int(n_train), int(train_seed))
    model = module.ImageTextClassifier(data.vocab_size, 2, fusion=fusion, image_encoder=image_encoder).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    images, tokens, lengths, labels = _tensors((data.images, data.tokens, data.lengths, data.labels), device)
    draw = np.random.default_rng(int(train_seed))
    model.train()
    for _ in range(int(steps)):
        idx = torch.as_tensor(draw.integers(0, len(data), size=batch_size), device=device)
        loss = torch.nn.functional.cross_entropy(model(images[idx], tokens[idx], lengths[idx]), labels[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    x, t, n = _tensors((test_images, test_tokens, test_lengths), device)
    with torch.no_grad():
        return model(x.float(), t.long(), n.long()).argmax(dim=1).cpu().numpy().astype(np.int64)
