"""Probes for optimization.py: run the learner's training tools on data the check sends.

Each probe turns the check's arrays into tensors on `device`, calls the learner's code and
returns what came out (values, gradients, masks, flags) as plain data. The checks compute the
reference formulas and every verdict themselves.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _type_name(value) -> str:
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _grad(t: torch.Tensor):
    return None if t.grad is None else t.grad.detach().cpu().numpy()


# ----------------------------------------------------------------------------- distillation_loss
def distillation_loss(module, student_logits, teacher_logits, labels, temperature, alpha, *, device: str):
    """The learner's loss on float64 logits, and the gradients that reach both logit tensors.

    Returns {"loss_type", "loss" (float or None), "ndim", "student_grad", "teacher_grad"}
    (gradients None where none arrived; both logits are leaves that require grad).
    """
    student = torch.tensor(student_logits, dtype=torch.float64, device=device, requires_grad=True)
    teacher = torch.tensor(teacher_logits, dtype=torch.float64, device=device, requires_grad=True)
    y = torch.tensor(labels, dtype=torch.long, device=device)
    loss = module.distillation_loss(student, teacher, y, temperature=temperature, alpha=alpha)
    out = {"loss_type": _type_name(loss), "loss": None, "ndim": -1, "student_grad": None, "teacher_grad": None}
    if isinstance(loss, torch.Tensor):
        out["ndim"] = loss.ndim
        if loss.numel() == 1:
            out["loss"] = float(loss.detach().cpu().reshape(()).item())
            if loss.requires_grad:
                loss.reshape(()).backward()
                out["student_grad"], out["teacher_grad"] = _grad(student), _grad(teacher)
    return out


# ----------------------------------------------------------------------------- accumulate_gradients
def _mlp(weights: dict, device: str) -> nn.Sequential:
    """Linear -> Tanh -> Linear in float64, loaded with the check's weights."""
    w0, w2 = np.asarray(weights["0.weight"]), np.asarray(weights["2.weight"])
    model = nn.Sequential(nn.Linear(w0.shape[1], w0.shape[0]), nn.Tanh(), nn.Linear(w2.shape[1], w2.shape[0]))
    model = model.to(device=device, dtype=torch.float64)
    model.load_state_dict({k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in weights.items()})
    return model


def accumulate_gradients(module, weights, batches, loss, stale_grads: bool = False, *, device: str):
    """Run the learner's accumulate_gradients on an MLP with the check's weights.

    weights: {"0.weight": (H, D), "0.bias": (H,), "2.weight": (C, H), "2.bias": (C,)}.
    batches: [(x (n_i, D), y (n_i,) or (n_i, C)), ...] of unequal sizes.
    loss:    "cross_entropy" (y: class indices) or "mse" (y: float targets).
    stale_grads: fill every .grad with ones first, as a previous step would have left them.
    Returns {"loss_type", "loss", "grads": {name: array or None}, "events": ["forward"/"backward", ...]}:
    the events record, in order, each forward through the model and each backward through a
    micro-batch's loss.
    """
    model = _mlp(weights, device)
    if stale_grads:
        for param in model.parameters():
            param.grad = torch.ones_like(param)
    events: list[str] = []
    model.register_forward_hook(lambda *_: events.append("forward"))
    base = {"cross_entropy": F.cross_entropy, "mse": F.mse_loss}[loss]

    def loss_fn(outputs, targets):
        value = base(outputs, targets)  # reduction="mean": the mean over this micro-batch
        if value.requires_grad:
            value.register_hook(lambda grad: events.append("backward"))
        return value

    target_dtype = torch.long if loss == "cross_entropy" else torch.float64
    data = [
        (torch.tensor(x, dtype=torch.float64, device=device), torch.tensor(y, dtype=target_dtype, device=device))
        for x, y in batches
    ]
    value = module.accumulate_gradients(model, loss_fn, data)
    # a NumPy float scalar IS a float (numpy.float64 subclasses it); a learner-made subclass is not let through
    plain = type(value) in (float, int) or (isinstance(value, np.floating) and type(value).__module__ == "numpy")
    return {
        "loss_type": _type_name(value),
        "loss": float(value) if plain else None,
        "grads": {name: _grad(param) for name, param in model.named_parameters()},
        "events": events,
    }


# ----------------------------------------------------------------------------- modality_dropout
def _dropout_reply(result, outputs: list, keys: list, types: list) -> None:
    types.append(_type_name(result))
    if not isinstance(result, dict):
        outputs.append({})
        keys.append([])
        return
    keys.append([str(k) for k in result])
    outputs.append({str(k): (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64))
                    for k, v in result.items()})


def modality_dropout(module, features, p, training: bool = True, calls: int = 1, *, device: str):
    """Call the learner's modality_dropout `calls` times on the same float32 features.

    Returns {"outputs": [{name: array}, ...] (one dict per call), "keys": [[names], ...],
    "types": [type of the returned value, ...]} — a call that returns something other than a
    dict contributes an empty dict.
    """
    inputs = {k: torch.tensor(np.asarray(v), dtype=torch.float32, device=device) for k, v in features.items()}
    outputs, keys, types = [], [], []
    for _ in range(calls):
        _dropout_reply(module.modality_dropout(dict(inputs), p, training=training), outputs, keys, types)
    return {"outputs": outputs, "keys": keys, "types": types}


def _global_rng_state(device: str) -> np.ndarray:
    """The global generator state that a draw on `device` without `generator=` would advance."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_rng_state(torch.device(device)).numpy().copy()
    return torch.get_rng_state().numpy().copy()


def modality_dropout_generator(module, features, p, draws, *, device: str):
    """Call the learner's modality_dropout once per (generator_seed, global_seed) in `draws`.

    Before each call torch's global generator is seeded with global_seed and a fresh
    torch.Generator on `device` with generator_seed; the call gets `generator=` that generator.
    Returns {"outputs", "keys", "types"} as `modality_dropout`, plus "global_rng_used": per call,
    whether the global generator's state changed during the call.
    """
    inputs = {k: torch.tensor(np.asarray(v), dtype=torch.float32, device=device) for k, v in features.items()}
    outputs, keys, types, used = [], [], [], []
    for generator_seed, global_seed in draws:
        torch.manual_seed(int(global_seed))
        generator = torch.Generator(device=device)
        generator.manual_seed(int(generator_seed))
        before = _global_rng_state(device)
        result = module.modality_dropout(dict(inputs), p, training=True, generator=generator)
        used.append(bool(not np.array_equal(before, _global_rng_state(device))))
        _dropout_reply(result, outputs, keys, types)
    return {"outputs": outputs, "keys": keys, "types": types, "global_rng_used": used}


# ----------------------------------------------------------------------------- EarlyStopping
ATTRIBUTES = ("best", "best_epoch", "num_bad_epochs", "should_stop")
_MISSING = object()


def _attributes(stopper) -> dict:
    """{name: {"kind": "missing" | "bool" | "int" | "float" | <type name>, "value": float or None}}."""
    out = {}
    for name in ATTRIBUTES:
        value = getattr(stopper, name, _MISSING)
        if value is _MISSING:
            kind, plain = "missing", None
        elif isinstance(value, (bool, np.bool_)):
            kind, plain = "bool", float(bool(value))
        elif isinstance(value, (int, np.integer)) and type(value).__module__ in ("builtins", "numpy"):
            kind, plain = "int", float(int(value))
        elif isinstance(value, (float, np.floating)) and type(value).__module__ in ("builtins", "numpy"):
            kind, plain = "float", float(value)
        else:
            kind, plain = _type_name(value), None
        out[name] = {"kind": kind, "value": plain}
    return out


def early_stopping(module, metrics, patience, min_delta=0.0, mode="min", *, device: str):
    """Build EarlyStopping(patience, min_delta=..., mode=...) and step it through `metrics`.

    Returns "initial" (the attributes before any step), and one entry per step: "flags" (the
    returned bools; None where step returned another type), "flag_types", "attributes" (after
    the step). Attributes come as {"kind", "value"} (see `_attributes`).
    """
    stopper = module.EarlyStopping(patience, min_delta=min_delta, mode=mode)
    out = {"initial": _attributes(stopper), "flags": [], "flag_types": [], "attributes": []}
    for metric in metrics:
        flag = stopper.step(float(metric))
        boolish = isinstance(flag, (bool, np.bool_))
        out["flags"].append(bool(flag) if boolish else None)
        out["flag_types"].append(_type_name(flag))
        out["attributes"].append(_attributes(stopper))
    return out
