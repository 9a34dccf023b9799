# Exercise generated from solutions/fusion.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""Multimodal fusion: combine per-modality feature vectors into one prediction.

Every fusion module has the constructor `(input_dims, output_dim, ...)` and `forward(*features)`:
features[i] has shape (B, input_dims[i]) and the output has shape (B, output_dim). The output is
the prediction itself (class logits): no layer follows the fusion, so what a method can express
is exactly what its formula allows (late fusion of averaged logits cannot express an XOR).

Taxonomy: early fusion (concatenate features, then learn), late fusion (decide per modality, then
combine decisions), and in between the "hybrid" methods that model interactions explicitly
(tensor, low-rank, gated, attention). CNNs, LSTMs and Transformers are *encoders* that produce
the features; they are not fusion methods.

Bad input raises ValueError naming it: wrong input_dims/output_dim in a constructor (the helper
`_check_dims` does it), a wrong number of feature tensors or a wrong shape in forward (`_check_features`).

Every learnable tensor must be registered (nn.Linear, nn.Parameter, nn.ModuleList,
nn.ParameterList): a tensor kept in a plain Python list is invisible to `.parameters()`,
to the optimiser, to `.to(device)` and to `state_dict()`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def _check_dims(input_dims: Sequence[int], output_dim: int, min_modalities: int = 1) -> tuple[int, ...]:
    """Validated `input_dims` as a tuple of positive ints (ValueError/TypeError otherwise)."""
    if isinstance(input_dims, (str, bytes)) or not isinstance(input_dims, Sequence):
        raise TypeError(f"input_dims must be a sequence of ints, got {type(input_dims).__name__}")
    dims = tuple(input_dims)
    if len(dims) < min_modalities:
        raise ValueError(f"input_dims needs at least {min_modalities} modalities, got {len(dims)}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"input_dims must hold positive ints, got {dims}")
    if isinstance(output_dim, bool) or not isinstance(output_dim, int) or output_dim < 1:
        raise ValueError(f"output_dim must be a positive int, got {output_dim!r}")
    return dims


def _check_features(features: Sequence[torch.Tensor], dims: Sequence[int]) -> int:
    """The batch size B after checking features[i] is (B, dims[i]); ValueError otherwise."""
    if len(features) != len(dims):
        raise ValueError(f"expected {len(dims)} feature tensors, got {len(features)}")
    batch = None
    for i, (x, d) in enumerate(zip(features, dims, strict=True)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"features[{i}] must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != d:
            raise ValueError(f"features[{i}] must have shape (B, {d}), got {tuple(x.shape)}")
        if batch is None:
            batch = x.shape[0]
        elif x.shape[0] != batch:
            raise ValueError(f"features disagree on the batch size: {batch} and {x.shape[0]} (features[{i}])")
    return batch


def _with_one(x: torch.Tensor) -> torch.Tensor:
    """(B, d) -> (B, d + 1): a constant 1 prepended, same dtype and device as x."""
    return torch.cat([x.new_ones(x.shape[0], 1), x], dim=1)


class ConcatFusion(nn.Module):
    """Early fusion: concatenate the modality features, then an MLP.

    Layers: Linear(sum(input_dims), hidden_dim) -> ReLU -> Dropout(dropout) -> Linear(hidden_dim, output_dim).
    forward(*features): features[i] (B, input_dims[i]) -> (B, output_dim).
    """

    def __init__(self, input_dims: Sequence[int], output_dim: int, hidden_dim: int = 64, dropout: float = 0.0):
        super().__init__()
        raise NotImplementedError('fusion: task ConcatFusion — Early fusion: concatenate the modality features, then an MLP')

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Concatenate along the feature axis (dim=1, never the batch axis), then the MLP."""
        raise NotImplementedError('fusion: task ConcatFusion — Concatenate along the feature axis (dim=1, never the batch axis), then the MLP')


class LateFusion(nn.Module):
    """Late fusion: one classifier head per modality, their logits averaged.

    Head i: Linear(input_dims[i], hidden_dim) -> ReLU -> Linear(hidden_dim, output_dim).
    forward(*features) -> (B, output_dim) = mean over i of head_i(features[i]).
    The decision is a sum of per-modality terms, so no interaction between modalities can be
    learned (XOR is out of reach). Keep the heads in an nn.ModuleList.
    """

    def __init__(self, input_dims: Sequence[int], output_dim: int, hidden_dim: int = 64):
        super().__init__()
        raise NotImplementedError('fusion: task LateFusion — Late fusion: one classifier head per modality, their logits averaged')

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Mean of the per-modality logits: (B, output_dim)."""
        raise NotImplementedError('fusion: task LateFusion — Mean of the per-modality logits: (B, output_dim)')


class TensorFusion(nn.Module):
    """Tensor Fusion Network (Zadeh et al., 2017): outer product of the modalities, then a linear layer.

    z_i = [1, features[i]] has shape (B, d_i + 1): the constant 1 keeps the unimodal and bimodal
    terms inside the product. The fused vector is the outer product z_1 ⊗ z_2 ⊗ ... ⊗ z_M flattened
    with the FIRST modality varying slowest (row-major, as `torch.einsum("bi,bj->bij").flatten(1)`),
    of size P = prod(d_i + 1). Output: Linear(P, output_dim) of it, (B, output_dim).
    Parameters: exactly one nn.Linear(P, output_dim) (weight (output_dim, P), bias (output_dim,)).
    Its size grows as the product of the dims: see LowRankFusion. A simplification of the paper's
    TFN, whose fused tensor feeds a post-fusion MLP of three layers rather than one linear layer.
    Hint: build the product one modality at a time, (B, p, 1) * (B, 1, d+1) -> (B, p·(d+1)).
    """

    def __init__(self, input_dims: Sequence[int], output_dim: int):
        super().__init__()
        raise NotImplementedError('fusion: task TensorFusion — Tensor Fusion Network (Zadeh et al., 2017): outer product of the modalities, then a linear layer')

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Outer product of [1, x_i] over modalities, flattened (first slowest), then linear."""
        raise NotImplementedError('fusion: task TensorFusion — Outer product of [1, x_i] over modalities, flattened (first slowest), then linear')


class LowRankFusion(nn.Module):
    """Low-rank Multimodal Fusion (Liu et al., 2018): TensorFusion with a rank-r weight, never built.

    Parameters (all registered):
      factors[i]:   (rank, input_dims[i] + 1, output_dim), one per modality (an nn.ParameterList);
      rank_weights: (rank,);
      bias:         (output_dim,).
    With z_i = [1, features[i]] (B, d_i + 1):
      output[b, o] = sum_r rank_weights[r] * prod_i (z_i[b] @ factors[i][r])[o] + bias[o].
    This equals a TensorFusion layer whose weight is
      W[o, j_1, ..., j_M] = sum_r rank_weights[r] * prod_i factors[i][r, j_i, o],
    at a cost linear, not exponential, in the number of modalities.
    Initialise the factors with small random values (e.g. nn.init.xavier_normal_ per factor),
    rank_weights likewise and the bias with zeros.
    """

    def __init__(self, input_dims: Sequence[int], output_dim: int, rank: int = 4):
        super().__init__()
        raise NotImplementedError('fusion: task LowRankFusion — Low-rank Multimodal Fusion (Liu et al., 2018): TensorFusion with a rank-r weight, never built')

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """(B, output_dim): product over modalities of z_i @ factors[i], weighted sum over rank, + bias."""
        raise NotImplementedError('fusion: task LowRankFusion — (B, output_dim): product over modalities of z_i @ factors[i], weighted sum over rank, + bias')


class GatedFusion(nn.Module):
    """Gated Multimodal Unit (Arevalo et al., 2017) for exactly two modalities, then a linear layer.

    h_1 = tanh(W_1 x_1), h_2 = tanh(W_2 x_2)   (each Linear(d_i, hidden_dim));
    g   = sigmoid(W_g [x_1; x_2])             (Linear(d_1 + d_2, hidden_dim));
    h   = g * h_1 + (1 - g) * h_2             (B, hidden_dim);
    output = Linear(hidden_dim, output_dim)(h)   (B, output_dim).
    The gate decides per example and per unit how much each modality contributes.
    input_dims must have length 2 (ValueError otherwise).
    """

    def __init__(self, input_dims: Sequence[int], output_dim: int, hidden_dim: int = 64):
        super().__init__()
        raise NotImplementedError('fusion: task GatedFusion — Gated Multimodal Unit (Arevalo et al., 2017) for exactly two modalities, then a linear layer')

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """x1 (B, d_1), x2 (B, d_2) -> (B, output_dim)."""
        raise NotImplementedError('fusion: task GatedFusion — x1 (B, d_1), x2 (B, d_2) -> (B, output_dim)')


FUSIONS = {"concat": ConcatFusion, "late": LateFusion, "tensor": TensorFusion, "lowrank": LowRankFusion,
           "gated": GatedFusion}


class ImageTextClassifier(nn.Module):
    """Image + text classifier: an image encoder, a text encoder, one of the fusion modules above.

    vocab_size:    token ids 0..vocab_size-1; `pad_id` (0) marks padding.
    num_classes:   the fusion module's output_dim (its output are the logits; no head follows).
    fusion:        "concat" | "late" | "tensor" | "lowrank" | "gated" (ValueError otherwise).
    image_encoder: "cnn"  — Conv(3,8,3,pad 1)-ReLU-MaxPool(2)-Conv(8,16,3,pad 1)-ReLU-
                            global average pool-Linear(16, feature_dim): small and fast on tiny images;
                   "resnet18" — torchvision's resnet18(weights=None) with `fc` replaced by
                            Linear(512, feature_dim). NEVER `pretrained=True`: that downloads weights.
                   Anything else: ValueError.
    Text encoder: nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id) -> nn.LSTM(embed_dim,
    feature_dim, batch_first=True) run on a packed sequence, summary = the last layer's final
    hidden state h_n[-1] (B, feature_dim): the state after each caption's LAST REAL token.
    The textbook version concatenates the LSTM's whole output sequence (B, L, H) with the image
    vector (B, H), which fails on shapes; taking output[:, -1] instead reads the state after the
    padding. Both are wrong.

    forward(images (B, 3, H, W) float, tokens (B, L) long, lengths (B,) long, 1 <= lengths <= L)
        -> logits (B, num_classes).
    Extra padding columns after the captions must not change the logits, and the result must not
    depend on the order of the batch (in eval mode).
    Hints: nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True,
    enforce_sorted=False) — lengths must be a CPU int64 tensor even when the model is on CUDA.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        fusion: str = "concat",
        image_encoder: str = "cnn",
        embed_dim: int = 32,
        feature_dim: int = 32,
        rank: int = 4,
        pad_id: int = 0,
    ):
        super().__init__()
        raise NotImplementedError('fusion: task ImageTextClassifier — Image + text classifier: an image encoder, a text encoder, one of the fusion modules above')

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W), tokens (B, L), lengths (B,) -> logits (B, num_classes)."""
        raise NotImplementedError('fusion: task ImageTextClassifier — images (B, 3, H, W), tokens (B, L), lengths (B,) -> logits (B, num_classes)')
