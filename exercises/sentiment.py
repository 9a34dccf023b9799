# Exercise generated from solutions/sentiment.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""Transformer-based multimodal sentiment analysis on unaligned text, audio and vision (MulT-style).

Tsai et al., "Multimodal Transformer for Unaligned Multimodal Language Sequences" (ACL 2019):
each modality attends to every other one with cross-modal attention — queries from the
*target* modality, keys and values from the *source* — so sequences of different lengths and
rates never need word-level alignment. Data: `mmprep.data.sentiment` (a synthetic CMU-MOSI).

Conventions used throughout (and held by the checks):
* shapes are batch first: (B, L, d); every modality has its own length L_m;
* a padding mask is a (B, L) bool tensor where True means "padding: ignore" (PyTorch's
  `key_padding_mask` convention); every sequence has at least one real step;
* sentiment scores live in [-3, 3] (CMU-MOSI); the loss is L1, as in MulT and MMSA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mmprep.data.sentiment import batch_to_device, collate_sentiment

from .metrics import sentiment_metrics

SCORE_RANGE = 3.0  # CMU-MOSI labels lie in [-3, 3]


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_dropout(dropout) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def _check_mask(name: str, mask, batch: int, length: int, device) -> torch.Tensor:
    """A (B, L) bool padding mask with at least one real step per row."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (batch, length):
        got = f"{tuple(mask.shape)} {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a ({batch}, {length}) bool tensor (True = padding), got {got}")
    if bool(mask.all(dim=1).any()):
        raise ValueError(f"{name} has a row that is all padding: every sequence needs one real step")
    return mask.to(device)


# ----------------------------------------------------------------------------- building blocks
class PositionalEncoding(nn.Module):
    """Sinusoidal positions (Vaswani et al., 2017) added to a batch of sequences.

    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)),  PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)).
    d_model must be even; there are no trainable parameters (keep the table in a buffer, e.g.
    `register_buffer("pe", table, persistent=False)`, so it follows `.to(device)`).
    forward(x: (B, L, d_model)) -> x + PE[:L], same shape and dtype; L > max_len raises ValueError.
    Hint: compute 1 / 10000^(2i/d) as exp(-2i · ln(10000) / d), one row of frequencies for all positions.
    """

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        raise NotImplementedError('sentiment: task PositionalEncoding — Sinusoidal positions (Vaswani et al., 2017) added to a batch of sequences')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, d_model) -> x + PE[:L]."""
        raise NotImplementedError('sentiment: task PositionalEncoding — x: (B, L, d_model) -> x + PE[:L]')


class CrossModalBlock(nn.Module):
    """One cross-modal Transformer block: the target modality attends to the source modality.

    Pre-LayerNorm, as MulT (which shares one LayerNorm between target and source; here each has
    its own, since the two modalities have different statistics):
        h   = target + Dropout(MHA(query=LN_t(target), key=LN_s(source), value=LN_s(source)))
        out = h + FFN(LN_ff(h)),   FFN(z) = Dropout(W2 · Dropout(ReLU(W1 z + b1)) + b2),  W1: d -> 4d
    The source's padded steps are masked out of the attention (key_padding_mask); target steps
    are never mixed with each other here, so a padded target step only affects its own output row.

    The grader loads weights with `load_state_dict(strict=True)`, so the parameter names must be
    exactly those of these submodules:
        norm_target, norm_source, norm_feed_forward: nn.LayerNorm(d_model)
        attention:    nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
                      (keys attention.in_proj_weight (3d, d), attention.in_proj_bias (3d,),
                       attention.out_proj.weight (d, d), attention.out_proj.bias (d,));
                      writing your own attention is fine as long as it keeps these names
        feed_forward: nn.Sequential(nn.Linear(d, 4d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4d, d))
                      (keys feed_forward.0.*, feed_forward.3.*)
    d_model must be divisible by num_heads.

    forward(target: (B, Lt, d), source: (B, Ls, d), source_padding_mask: (B, Ls) bool or None)
        -> (B, Lt, d). True in the mask means "padding: ignore this source step".
    Pitfall: the mask goes to `key_padding_mask` (which keys to ignore), not `attn_mask`.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError('sentiment: task CrossModalBlock — One cross-modal Transformer block: the target modality attends to the source modality')

    def forward(self, target: torch.Tensor, source: torch.Tensor, source_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """target: (B, Lt, d) queries; source: (B, Ls, d) keys/values; mask (B, Ls) True = padding."""
        raise NotImplementedError('sentiment: task CrossModalBlock — target: (B, Lt, d) queries; source: (B, Ls, d) keys/values; mask (B, Ls) True = padding')


# ----------------------------------------------------------------------------- the model
class MultimodalSentimentTransformer(nn.Module):
    """MulT-style regressor: unaligned modality sequences -> one sentiment score in [-3, 3].

    input_dims: {modality name: feature size D_m}, two or more modalities (any names), e.g.
                mmprep.data.sentiment.feature_dims() == {"text": 41, "audio": 5, "vision": 6}.
    Architecture (what the grader relies on is marked *):
      * self.projections: nn.ModuleDict {modality: nn.Linear(D_m, d_model)}, the per-modality
        projection (MulT uses a width-1 Conv1d, which is the same map);
      - + PositionalEncoding, then dropout;
      * for every ordered pair (source -> target), source != target: num_layers CrossModalBlocks
        (own weights per pair), called as block(target_sequence, source_sequence, source_mask),
        updating the target sequence from the source (the grader watches these calls);
      - per target: concatenate its (M - 1) cross-modal outputs, project back to d_model, one
        self-attention layer (e.g. nn.TransformerEncoderLayer(..., batch_first=True, norm_first=True),
        with the target's padding mask);
      - summarise each target's sequence: a masked mean over its real steps (this reference), or
        its hidden state at its last *real* step; either is accepted;
      - concatenate the M summaries; an MLP head; 3 · tanh keeps the score in [-3, 3] *.
    MulT itself (src/models.py) predicts from the last time step, h[-1], of each target's
    self-attention stack, then a residual MLP (proj2(ReLU(proj1(h))) + h, then a linear layer). It
    runs on fixed-length arrays without padding masks; here each batch is right-padded to its
    longest sequence, so index -1 is padding for every shorter one. The masked mean is the default
    because it reads every real step; the last real step is found per row from the mask.
    forward(features: {m: (B, L_m, D_m) float}, padding_masks: {m: (B, L_m) bool, True = padding})
        -> (B,) scores. Modalities the model was not built for are ignored; a missing one raises
        ValueError. Padded steps (whatever values they hold) must not change the output *.
    Pitfalls: pooling with .mean(dim=1) averages the padding too (divide by the count of real
    steps); h[:, -1] reads a padded step for every sequence shorter than the batch's longest.
    """

    def __init__(self, input_dims: dict[str, int], d_model: int = 32, num_heads: int = 4, num_layers: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        raise NotImplementedError('sentiment: task MultimodalSentimentTransformer — MulT-style regressor: unaligned modality sequences -> one sentiment score in [-3, 3]')

    @staticmethod
    def pair(source: str, target: str) -> str:
        """The ModuleDict key of the blocks where `target` attends to `source`."""
        return f"{source}_to_{target}"

    def forward(self, features: dict[str, torch.Tensor], padding_masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """features {m: (B, L_m, D_m)}, padding_masks {m: (B, L_m) bool} -> (B,) scores in [-3, 3]."""
        raise NotImplementedError('sentiment: task MultimodalSentimentTransformer — features {m: (B, L_m, D_m)}, padding_masks {m: (B, L_m) bool} -> (B,) scores in [-3, 3]')


# ----------------------------------------------------------------------------- training and evaluation
def train_sentiment_model(model: nn.Module, train_data, epochs: int = 10, lr: float = 3e-3, batch_size: int = 32,
                          device: str = "cpu", seed: int = 0, val_data=None, weight_decay: float = 0.0,
                          max_grad_norm: float | None = 1.0) -> dict[str, list[float]]:
    """Train `model` with L1 loss and Adam; return the per-epoch history.

    model:      an nn.Module called as model(features, padding_masks) -> (B,) scores
                (MultimodalSentimentTransformer or anything with that interface).
    train_data: a torch Dataset whose items `mmprep.data.sentiment.collate_sentiment` batches
                (e.g. make_sentiment_data(800, seed=0)).
    epochs, lr, batch_size: positive; device: "cpu", "cuda", ...; seed: shuffling and init of
                anything random during training (a DataLoader with a seeded torch.Generator).
    val_data:   optional dataset; adds "val_mae" (evaluate_sentiment_model's MAE) per epoch.
    max_grad_norm: clip the global gradient norm (None: no clipping).
    Returns {"train_loss": [mean L1 per epoch], "val_mae": [...] (only with val_data)}; the
    model ends on `device`, in eval mode.
    """
    raise NotImplementedError('sentiment: task train_sentiment_model — Train `model` with L1 loss and Adam; return the per-epoch history')


def evaluate_sentiment_model(model: nn.Module, data, device: str = "cpu", batch_size: int = 128,
                             return_predictions: bool = False):
    """Score `model` on `data` with the metrics exercise's `sentiment_metrics` (MMSA conventions).

    Needs metrics.sentiment_metrics (the metrics exercise) to be done first.

    model: called as model(features, padding_masks) -> (B,) scores; run in eval mode without
           gradients (dropout off), in the order of `data` (no shuffling).
    data:  a dataset as in `train_sentiment_model`, with labels in item["label"].
    Returns the dict of `sentiment_metrics(predictions, labels)` (has0_acc2, has0_f1, non0_acc2,
    non0_f1, acc5, acc7, mae, corr); with return_predictions=True, (that dict, (N,) float64 predictions).
    The model's train/eval mode is restored afterwards.
    """
    raise NotImplementedError("sentiment: task evaluate_sentiment_model — Score `model` on `data` with the metrics exercise's `sentiment_metrics` (MMSA conventions)")
