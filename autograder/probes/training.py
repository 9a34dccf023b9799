"""Watching a learner's training loop from outside: torch's global optimizer step pre-hook and gradient hooks."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook


class GradientWatch:
    """Per optimizer step: whether the gradients the step found are the ones backward() computed since the previous
    step (cosine and norm ratio: 1 and 1 unless gradients pile up for want of zero_grad; clipping only lowers the
    ratio), and which of `model`'s parameters the optimizer holds and updates (holds with a gradient).

    Parameters that start frozen get their gradient hook once they require grad: call `hook_trainable()` before
    each forward. `on_step()` adds the caller's own record of the step (its inputs, say) to each step's dict.
    """

    def __init__(self, model: torch.nn.Module, on_step: Callable[[], dict] | None = None):
        self.model, self.on_step = model, on_step
        self.names = {id(p): name for name, p in model.named_parameters()}
        self.incoming: dict[int, torch.Tensor] = {}
        self.hooked: set[int] = set()
        self.steps: list[dict] = []
        self.not_optimised: set[str] = set()
        self.handles = [register_optimizer_step_pre_hook(self._before_step)]
        self.hook_trainable()

    def hook_trainable(self) -> None:
        for p in self.model.parameters():
            if p.requires_grad and id(p) not in self.hooked:
                self.hooked.add(id(p))
                self.handles.append(p.register_hook(self._incoming_hook(p)))

    def _incoming_hook(self, param):
        def hook(grad):
            key = id(param)
            g = grad.detach().clone()
            self.incoming[key] = g if key not in self.incoming else self.incoming[key] + g
        return hook

    def _before_step(self, optimizer, _args, _kwargs):
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        params = list(self.model.parameters())
        self.not_optimised |= {self.names[id(p)] for p in params if id(p) not in held}
        zeros = lambda p: torch.zeros(p.numel(), dtype=torch.float64, device=p.device)  # noqa: E731
        found = torch.cat([p.grad.detach().double().flatten() if p.grad is not None else zeros(p) for p in params])
        computed = torch.cat([self.incoming[id(p)].double().flatten() if id(p) in self.incoming else zeros(p)
                              for p in params])
        norms = float(found.norm()), float(computed.norm())
        cosine = float(found @ computed) / (norms[0] * norms[1]) if min(norms) > 0 else 0.0
        ratio = norms[0] / norms[1] if norms[1] > 0 else (1.0 if norms[0] == 0 else float("inf"))
        updated = [self.names[id(p)] for p in params if id(p) in held and p.grad is not None]
        self.steps.append({"cosine": cosine, "ratio": ratio, "updated": updated,
                           **(self.on_step() if self.on_step else {})})
        self.incoming = {}

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
