"""Probes for alignment.py: call the learner's functions with torch tensors on the grading device.

`student.call` sends NumPy arrays; these probes check the other half of the documented convention
(torch tensors in, on CPU or CUDA, gradients flowing back). They return plain data only.
"""

from __future__ import annotations

import numpy as np
import torch


def _on(device: str, *arrays, grad: bool = False) -> list[torch.Tensor]:
    return [torch.tensor(np.asarray(a), device=device, requires_grad=grad) for a in arrays]


def info_nce_gradients(module, a, b, temperature: float, *, device: str) -> dict:
    """Loss and d loss / d a, d loss / d b with float64 tensors on `device`.

    Returns {"loss": float, "grad_a": (N, d) or None, "grad_b": (N, d) or None,
             "on_device": whether the loss tensor lives on `device`}.
    """
    ta, tb = _on(device, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), grad=True)
    loss = module.info_nce(ta, tb, temperature=temperature)
    on_device = isinstance(loss, torch.Tensor) and loss.device.type == torch.device(device).type
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return {"loss": float(loss), "grad_a": None, "grad_b": None, "on_device": on_device}
    loss.backward()
    grads = [None if t.grad is None else t.grad.detach().cpu().numpy() for t in (ta, tb)]
    return {"loss": float(loss.detach().cpu()), "grad_a": grads[0], "grad_b": grads[1], "on_device": on_device}


def cross_attention_on_device(module, query, key, value, key_padding_mask, *, device: str) -> dict:
    """(out, weights) of cross_attention for float32 tensors (and a bool mask) on `device`.

    Returns {"out": array, "weights": array, "on_device": bool} (both results on `device`).
    """
    q, k, v = _on(device, *(np.asarray(x, dtype=np.float32) for x in (query, key, value)))
    mask = torch.as_tensor(np.asarray(key_padding_mask, dtype=bool), device=device)
    out, weights = module.cross_attention(q, k, v, key_padding_mask=mask)
    kind = torch.device(device).type
    on_device = all(isinstance(t, torch.Tensor) and t.device.type == kind for t in (out, weights))
    return {"out": torch.as_tensor(out).detach().cpu().numpy(), "weights": torch.as_tensor(weights).detach().cpu().numpy(),
            "on_device": on_device}
