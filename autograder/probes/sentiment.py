"""Trusted probes for the sentiment topic: they build, load, run and train the learner's modules.

They return plain data (arrays, floats, dicts); every verdict is computed by the checks in
autograder/checks/test_sentiment.py. Training uses a fixed trusted loop (Adam, L1 loss, a one-cycle
schedule), so the model checks do not depend on the learner's training function; that function is
checked separately on a small trusted model defined here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autograder.probes import one_cpu_thread
from mmprep.data.sentiment import batch_to_device, collate_sentiment, make_sentiment_data


# ----------------------------------------------------------------------------- helpers
def _tensors(features: dict, masks: dict, device: str) -> tuple[dict, dict]:
    return ({m: torch.as_tensor(np.asarray(x, dtype=np.float32), device=device) for m, x in features.items()},
            {m: torch.as_tensor(np.asarray(x, dtype=bool), device=device) for m, x in masks.items()})


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float64).numpy()


def _build_model(module, input_dims: dict, config: dict, seed: int, device: str) -> nn.Module:
    torch.manual_seed(int(seed))
    model = module.MultimodalSentimentTransformer(dict(input_dims), **config)
    return model.to(device)


# ----------------------------------------------------------------------------- building blocks
def positional_encoding(module, x: np.ndarray, d_model: int, max_len: int = 512, *, device: str) -> dict:
    """PositionalEncoding(d_model, max_len)(x): its output and how many trainable parameters it has."""
    encoding = module.PositionalEncoding(d_model, max_len).to(device).eval()
    with torch.no_grad():
        out = encoding(torch.as_tensor(x, dtype=torch.float32, device=device))
    return {"output": _numpy(out), "trainable_parameters": int(sum(p.numel() for p in encoding.parameters() if p.requires_grad))}


def cross_modal_block(module, state: dict, target: np.ndarray, source: np.ndarray, source_padding_mask,
                      d_model: int, num_heads: int, *, device: str) -> np.ndarray:
    """CrossModalBlock(d_model, num_heads, dropout=0) with the weights `state` (strict), in eval mode."""
    block = module.CrossModalBlock(d_model, num_heads, dropout=0.0)
    block.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32) for k, v in state.items()}, strict=True)
    block = block.to(device).eval()
    mask = None if source_padding_mask is None else torch.as_tensor(np.asarray(source_padding_mask, dtype=bool), device=device)
    with torch.no_grad():
        out = block(torch.as_tensor(target, dtype=torch.float32, device=device),
                    torch.as_tensor(source, dtype=torch.float32, device=device), mask)
    return _numpy(out)


# ----------------------------------------------------------------------------- the model
def model_outputs(module, input_dims: dict, config: dict, cases: list, seed: int = 0, weight_scale: float = 1.0, *,
                  device: str) -> list:
    """Build the model once (eval mode) and return its (B,) output for each (features, masks) case.

    weight_scale multiplies every parameter first (large values push any unbounded head far outside [-3, 3]).
    """
    model = _build_model(module, input_dims, config, seed, device).eval()
    if weight_scale != 1.0:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(float(weight_scale))
    outputs = []
    with torch.no_grad():
        for features, masks in cases:
            outputs.append(_numpy(model(*_tensors(features, masks, device))))
    return outputs


def model_gradients(module, input_dims: dict, config: dict, features: dict, masks: dict, seed: int = 0, *,
                    device: str) -> dict:
    """Backpropagate sum(outputs): gradient norms w.r.t. each modality's input and projection weight."""
    model = _build_model(module, input_dims, config, seed, device).train()
    inputs, mask_tensors = _tensors(features, masks, device)
    for x in inputs.values():
        x.requires_grad_(True)
    model(inputs, mask_tensors).sum().backward()
    projections = getattr(model, "projections", None)
    out = {"input": {}, "projection": {}}
    for m, x in inputs.items():
        out["input"][m] = float(x.grad.norm()) if x.grad is not None else 0.0
        weight = getattr(projections[m], "weight", None) if projections is not None and m in projections else None
        out["projection"][m] = -1.0 if weight is None else (float(weight.grad.norm()) if weight.grad is not None else 0.0)
    return out


def cross_modal_block_calls(module, input_dims: dict, config: dict, features: dict, masks: dict, seed: int = 0, *,
                            device: str) -> list:
    """Run the model once (eval mode) and list every call of a learner CrossModalBlock inside it.

    Each call is [target length, source length, source length of the mask (-1: no mask)], the lengths
    being the sequences' dim 1; the grader matches them with the modalities' (distinct) lengths.
    """
    model = _build_model(module, input_dims, config, seed, device).eval()
    calls = []

    def record(block, args, kwargs):
        values = list(args) + [kwargs[k] for k in ("target", "source", "source_padding_mask") if k in kwargs]
        target, source = values[0], values[1]
        mask = values[2] if len(values) > 2 else None
        calls.append([int(target.shape[1]), int(source.shape[1]), -1 if mask is None else int(mask.shape[-1])])

    handles = [m.register_forward_pre_hook(record, with_kwargs=True) for m in model.modules()
               if isinstance(m, module.CrossModalBlock)]
    try:
        with torch.no_grad():
            model(*_tensors(features, masks, device))
    finally:
        for handle in handles:
            handle.remove()
    return calls


def train_model_and_predict(module, input_dims: dict, config: dict, train_seed: int, n_train: int, epochs: int,
                            heldout: list, lr: float = 3e-3, batch_size: int = 32, *, device: str) -> dict:
    """Train the learner's model with the trusted loop on make_sentiment_data(n_train, train_seed).

    heldout: a list of (features, masks) input sets (the check's, no labels); returns the trained
    model's (N,) predictions for each, and the mean training loss per epoch.
    """
    with one_cpu_thread():
        return _train_model_and_predict(module, input_dims, config, train_seed, n_train, epochs, heldout, lr,
                                        batch_size, device)


def _train_model_and_predict(module, input_dims, config, train_seed, n_train, epochs, heldout, lr, batch_size, device):
    torch.manual_seed(int(train_seed))
    data = make_sentiment_data(int(n_train), int(train_seed))
    model = _build_model(module, input_dims, config, train_seed, device)
    loader = torch.utils.data.DataLoader(data, batch_size=int(batch_size), shuffle=True, collate_fn=collate_sentiment,
                                         generator=torch.Generator().manual_seed(int(train_seed)))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=float(lr), total_steps=int(epochs) * len(loader),
                                                   pct_start=0.25)
    losses = []
    for _ in range(int(epochs)):
        model.train()
        total = 0.0
        for batch in loader:
            batch = batch_to_device(batch, device)
            features = {m: batch["features"][m] for m in input_dims}
            masks = {m: batch["padding_masks"][m] for m in input_dims}
            loss = nn.functional.l1_loss(model(features, masks), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch["labels"])
        losses.append(total / len(data))
    model.eval()
    predictions = []
    with torch.no_grad():
        for features, masks in heldout:
            predictions.append(_numpy(model(*_tensors(features, masks, device))))
    return {"predictions": predictions, "train_loss": losses}


# ----------------------------------------------------------------------------- train / evaluate functions
class PooledLinear(nn.Module):
    """A small trusted model with the same interface: masked mean per modality, dropout, linear, 3·tanh."""

    def __init__(self, input_dims: dict, dropout: float = 0.0):
        super().__init__()
        self.modalities = tuple(input_dims)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(sum(input_dims.values()), 1)
        self.modes_seen: list[bool] = []  # self.training at every call

    def forward(self, features: dict, padding_masks: dict) -> torch.Tensor:
        self.modes_seen.append(bool(self.training))
        pooled = []
        for m in self.modalities:
            real = (~padding_masks[m]).unsqueeze(-1).to(features[m].dtype)
            pooled.append((features[m] * real).sum(1) / real.sum(1))
        return 3.0 * torch.tanh(self.linear(self.dropout(torch.cat(pooled, dim=-1))).squeeze(-1))


def _pooled_linear(input_dims: dict, seed: int, dropout: float, device: str) -> PooledLinear:
    torch.manual_seed(int(seed))
    model = PooledLinear(dict(input_dims), dropout)
    with torch.no_grad():
        model.linear.weight.mul_(0.1)  # start near 0: the untrained model predicts ~0
    return model.to(device)


def train_function(module, input_dims: dict, train_seed: int, n_train: int, epochs: int, lr: float, batch_size: int,
                   heldout_features: dict, heldout_masks: dict, *, device: str) -> dict:
    """Call the learner's train_sentiment_model on the trusted PooledLinear model.

    Returns the learner's history, and the model's held-out predictions before and after training.
    """
    data = make_sentiment_data(int(n_train), int(train_seed))
    model = _pooled_linear(input_dims, train_seed, 0.0, device)
    inputs = _tensors(heldout_features, heldout_masks, device)
    with torch.no_grad():
        before = _numpy(model.eval()(*inputs))
    with one_cpu_thread():
        history = module.train_sentiment_model(model, data, epochs=int(epochs), lr=float(lr), batch_size=int(batch_size),
                                               device=device, seed=int(train_seed))
    model.to(device).eval()
    with torch.no_grad():
        after = _numpy(model(*inputs))
    plain_history = {str(k): [float(v) for v in values] for k, values in dict(history).items()}
    return {"history": plain_history, "before": before, "after": after}


def train_steps(module, input_dims: dict, train_seed: int, n_train: int, epochs: int, lr: float,
                max_grad_norm, weight_decay: float, *, device: str) -> dict:
    """A few full-batch steps of the learner's train_sentiment_model on a trusted PooledLinear (dropout 0).

    With batch_size = n_train every epoch is one optimizer step on the whole set, whatever the
    shuffling, so the grader can recompute every step. The model is handed over in eval mode.
    Returns its parameters before and after, the learner's history, the mode of every forward call
    during training and the mode it was left in.
    """
    data = make_sentiment_data(int(n_train), int(train_seed))
    model = _pooled_linear(input_dims, train_seed, 0.0, device).eval()
    initial = {name: _numpy(p) for name, p in model.named_parameters()}
    with one_cpu_thread():
        history = module.train_sentiment_model(model, data, epochs=int(epochs), lr=float(lr), batch_size=int(n_train),
                                               device=device, seed=int(train_seed), max_grad_norm=max_grad_norm,
                                               weight_decay=float(weight_decay))
    return {"initial": initial, "final": {name: _numpy(p) for name, p in model.named_parameters()},
            "train_loss": [float(v) for v in dict(history)["train_loss"]],
            "modes_during_training": [bool(v) for v in model.modes_seen], "training_after": bool(model.training)}


def evaluate_function(module, input_dims: dict, data_seed: int, n: int, with_predictions: bool = False, *,
                      device: str) -> dict:
    """The learner's evaluate_sentiment_model on a trusted PooledLinear (dropout 0.5), and its true predictions.

    Called on the model in training mode (its metrics are returned), then in eval mode; reports the
    mode the model was left in after each call. with_predictions: a third call with
    return_predictions=True, whose predictions are returned as "returned_predictions".
    """
    data = make_sentiment_data(int(n), int(data_seed))
    model = _pooled_linear(input_dims, data_seed, 0.5, device)
    with torch.no_grad():
        model.linear.weight.mul_(10.0)  # spread the predictions over the score range
    model.train()  # the learner's function must switch dropout off itself
    metrics = module.evaluate_sentiment_model(model, data, device=device)
    mode_after = bool(model.training)
    model.eval()
    module.evaluate_sentiment_model(model, data, device=device)
    eval_mode_kept = not model.training
    reply = {"metrics": {str(k): float(v) for k, v in dict(metrics).items()}, "training_mode_restored": mode_after,
             "eval_mode_kept": eval_mode_kept}
    if with_predictions:
        model.eval()
        returned = module.evaluate_sentiment_model(model, data, device=device, return_predictions=True)
        predictions = returned[1] if isinstance(returned, tuple) and len(returned) == 2 else returned
        if isinstance(predictions, torch.Tensor):
            predictions = predictions.detach().cpu().numpy()
        if isinstance(predictions, (list, np.ndarray)):
            predictions = np.asarray(predictions, dtype=np.float64)
        reply["returned_predictions"] = predictions
    features, masks = data.padded(tuple(input_dims))
    model.eval()
    with torch.no_grad():
        reply["predictions"] = _numpy(model(*_tensors(features, masks, device)))
    return reply
