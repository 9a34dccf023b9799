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
        ### BEGIN SOLUTION
        ### HINT 1
        # Early fusion: join the modality features into one (B, sum(d_i)) vector, then an ordinary MLP.
        # Traps: concatenate on dim=1 (never the batch axis); no ReLU after the last Linear (logits may be
        # negative); use the nn.Dropout module, so that eval() switches dropout off.
        ### HINT 2
        # 1. __init__: self.input_dims = _check_dims(input_dims, output_dim)
        # 2. self.mlp = nn.Sequential(Linear(sum(dims), hidden), ReLU, Dropout, Linear(hidden, output_dim))
        ### END HINTS
        self.input_dims = _check_dims(input_dims, output_dim)
        self.mlp = nn.Sequential(
            nn.Linear(sum(self.input_dims), hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, output_dim),
        )
        ### END SOLUTION

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Concatenate along the feature axis (dim=1, never the batch axis), then the MLP."""
        ### BEGIN SOLUTION
        ### HINT 2
        # 3. forward: _check_features, then concatenate to (B, sum(d_i)) and apply the MLP
        ### HINT 3
        # return self.mlp(torch.cat(features, dim=1))
        ### END HINTS
        _check_features(features, self.input_dims)
        return self.mlp(torch.cat(features, dim=1))
        ### END SOLUTION


class LateFusion(nn.Module):
    """Late fusion: one classifier head per modality, their logits averaged.

    Head i: Linear(input_dims[i], hidden_dim) -> ReLU -> Linear(hidden_dim, output_dim).
    forward(*features) -> (B, output_dim) = mean over i of head_i(features[i]).
    The decision is a sum of per-modality terms, so no interaction between modalities can be
    learned (XOR is out of reach). Keep the heads in an nn.ModuleList.
    """

    def __init__(self, input_dims: Sequence[int], output_dim: int, hidden_dim: int = 64):
        super().__init__()
        ### BEGIN SOLUTION
        ### HINT 1
        # Late fusion: each modality gets its own classifier head; the heads' LOGITS are averaged.
        # Traps: the mean, not the sum, of logits, not of softmax probabilities; keep the heads in an
        # nn.ModuleList (a Python list hides them from .parameters() and .to()); each head has its ReLU.
        ### HINT 2
        # 1. __init__: per d in input_dims a head Linear(d, hidden) -> ReLU -> Linear(hidden, output_dim)
        ### END HINTS
        self.input_dims = _check_dims(input_dims, output_dim)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim))
            for d in self.input_dims
        )
        ### END SOLUTION

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Mean of the per-modality logits: (B, output_dim)."""
        ### BEGIN SOLUTION
        ### HINT 2
        # 2. forward: check the features; head i on features[i] gives M tensors of (B, output_dim)
        # 3. stack them to (M, B, output_dim) and average over dim 0
        ### HINT 3
        # torch.stack([head(x) for head, x in zip(self.heads, features)]).mean(dim=0)
        ### END HINTS
        _check_features(features, self.input_dims)
        return torch.stack([head(x) for head, x in zip(self.heads, features, strict=True)]).mean(dim=0)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # Tensor fusion: the outer product of z_i = [1, x_i] holds every unimodal and cross-modal term.
        # Traps: the 1 goes FIRST ([1, x], not [x, 1], not left out), and the flattening must let the FIRST
        # modality vary slowest; another layout no longer matches the Linear(P, output_dim) weight.
        ### HINT 2
        # 1. __init__: P = prod(d_i + 1); exactly one nn.Linear(P, output_dim)
        ### END HINTS
        self.input_dims = _check_dims(input_dims, output_dim)
        self.linear = nn.Linear(math.prod(d + 1 for d in self.input_dims), output_dim)
        ### END SOLUTION

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """Outer product of [1, x_i] over modalities, flattened (first slowest), then linear."""
        ### BEGIN SOLUTION
        ### HINT 2
        # 2. forward: fused = [1, x_0] (B, d_0 + 1), e.g. with the helper _with_one
        # 3. for each next x: (B, p, 1) * (B, 1, d + 1) -> (B, p, d + 1), flatten(1) -> (B, p(d + 1))
        # 4. the linear layer maps (B, P) -> (B, output_dim)
        ### HINT 3
        # fused = (fused.unsqueeze(2) * _with_one(x).unsqueeze(1)).flatten(1)
        ### END HINTS
        _check_features(features, self.input_dims)
        fused = _with_one(features[0])
        for x in features[1:]:
            fused = (fused.unsqueeze(2) * _with_one(x).unsqueeze(1)).flatten(1)
        return self.linear(fused)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # Low-rank fusion: TensorFusion's weight as a sum of rank-1 terms, one factor per modality; the big
        # tensor is never built. Traps: keep the 1 in [1, x_i]; MULTIPLY the projections across modalities
        # (not add); weight the rank terms by rank_weights; add the bias.
        ### HINT 2
        # 1. __init__: rank a positive int; factors = nn.ParameterList of (rank, d_i + 1, output_dim),
        #    xavier_normal_; rank_weights (rank,) (xavier needs 2-D: init (1, rank), squeeze); bias zeros
        ### END HINTS
        self.input_dims = _check_dims(input_dims, output_dim)
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive int, got {rank!r}")
        self.factors = nn.ParameterList(
            nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, d + 1, output_dim))) for d in self.input_dims
        )
        self.rank_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, rank)).squeeze(0))
        self.bias = nn.Parameter(torch.zeros(output_dim))
        ### END SOLUTION

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        """(B, output_dim): product over modalities of z_i @ factors[i], weighted sum over rank, + bias."""
        ### BEGIN SOLUTION
        ### HINT 2
        # 2. forward: per modality, [1, x] (B, d + 1) times its factor (rank, d + 1, out) -> (B, rank, out)
        # 3. multiply them elementwise over modalities; contract rank with rank_weights -> (B, out); + bias
        ### HINT 3
        # projected = torch.einsum("bj,rjo->bro", _with_one(x), factor)      # product *= projected
        # return torch.einsum("bro,r->bo", product, self.rank_weights) + self.bias
        ### END HINTS
        _check_features(features, self.input_dims)
        product = None
        for x, factor in zip(features, self.factors, strict=True):
            projected = torch.einsum("bj,rjo->bro", _with_one(x), factor)  # (B, rank, output_dim)
            product = projected if product is None else product * projected
        return torch.einsum("bro,r->bo", product, self.rank_weights) + self.bias
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # Gated Multimodal Unit: a sigmoid gate g in (0, 1), from BOTH inputs [x_1; x_2] in that order,
        # mixes tanh-squashed states: h = g * h_1 + (1 - g) * h_2. Traps: g weights h_1 (not h_2); keep both
        # the tanh and the sigmoid; exactly two modalities, else ValueError.
        ### HINT 2
        # 1. __init__: proj1 Linear(d_1, hidden), proj2 Linear(d_2, hidden), gate Linear(d_1 + d_2, hidden),
        #    out Linear(hidden, output_dim)
        ### END HINTS
        self.input_dims = _check_dims(input_dims, output_dim)
        if len(self.input_dims) != 2:
            raise ValueError(f"GatedFusion takes exactly 2 modalities, input_dims has {len(self.input_dims)}")
        d1, d2 = self.input_dims
        self.proj1, self.proj2 = nn.Linear(d1, hidden_dim), nn.Linear(d2, hidden_dim)
        self.gate = nn.Linear(d1 + d2, hidden_dim)
        self.out = nn.Linear(hidden_dim, output_dim)
        ### END SOLUTION

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """x1 (B, d_1), x2 (B, d_2) -> (B, output_dim)."""
        ### BEGIN SOLUTION
        ### HINT 2
        # 2. forward: g = sigmoid(gate(cat([x1, x2], dim=1))), h_i = tanh(proj_i(x_i)): each (B, hidden)
        # 3. h = g * h_1 + (1 - g) * h_2 (B, hidden), then out(h) -> (B, output_dim)
        ### HINT 3
        # g = torch.sigmoid(self.gate(torch.cat([x1, x2], dim=1)))
        ### END HINTS
        _check_features((x1, x2), self.input_dims)
        g = torch.sigmoid(self.gate(torch.cat([x1, x2], dim=1)))
        h = g * torch.tanh(self.proj1(x1)) + (1 - g) * torch.tanh(self.proj2(x2))
        return self.out(h)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # Two encoders each give a (B, feature_dim) vector; the chosen fusion module maps them to the logits.
        # Trap: the caption summary is the LSTM state after its LAST REAL token: pack the sequence and take
        # h_n[-1] (not output[:, -1], not a mean over padded steps, not the cell state c_n).
        ### HINT 2
        # 1. __init__: validate; the documented cnn (or resnet18(weights=None) with a new fc); Embedding with
        #    padding_idx=pad_id; LSTM(embed_dim, feature_dim, batch_first=True); FUSIONS[fusion]((f, f), C)
        ### END HINTS
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}")
        if image_encoder not in ("cnn", "resnet18"):
            raise ValueError(f"image_encoder must be 'cnn' or 'resnet18', got {image_encoder!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be in [0, vocab_size), got {pad_id}")
        self.pad_id = pad_id
        if image_encoder == "cnn":
            self.image_encoder = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, feature_dim),
            )
        else:
            from torchvision.models import resnet18

            backbone = resnet18(weights=None)  # random init: no download
            backbone.fc = nn.Linear(backbone.fc.in_features, feature_dim)
            self.image_encoder = backbone
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(embed_dim, feature_dim, batch_first=True)
        extra = {"rank": rank} if fusion == "lowrank" else {}
        self.fusion = FUSIONS[fusion]((feature_dim, feature_dim), num_classes, **extra)
        ### END SOLUTION

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W), tokens (B, L), lengths (B,) -> logits (B, num_classes)."""
        ### BEGIN SOLUTION
        ### HINT 2
        # 2. forward: validate shapes and 1 <= lengths <= L; image_encoder(images) -> (B, feature_dim)
        # 3. pack embedding(tokens) (B, L, e) with lengths on the CPU, enforce_sorted=False; run the LSTM;
        #    fuse the image features with h_n[-1] (B, feature_dim)
        ### HINT 3
        # packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        # _, (h_n, _) = self.lstm(packed); return self.fusion(image_features, h_n[-1])
        ### END HINTS
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        if tokens.dim() != 2 or tokens.shape[0] != images.shape[0]:
            raise ValueError(f"tokens must have shape (B, L) with B = {images.shape[0]}, got {tuple(tokens.shape)}")
        if lengths.shape != (tokens.shape[0],):
            raise ValueError(f"lengths must have shape ({tokens.shape[0]},), got {tuple(lengths.shape)}")
        lengths_cpu = lengths.detach().to("cpu", torch.int64)
        if (lengths_cpu < 1).any() or (lengths_cpu > tokens.shape[1]).any():
            raise ValueError(f"lengths must lie in [1, {tokens.shape[1]}], got min {int(lengths_cpu.min())}, max {int(lengths_cpu.max())}")
        image_features = self.image_encoder(images)
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(tokens), lengths_cpu, batch_first=True,
                                                   enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n is in the batch's original order
        return self.fusion(image_features, h_n[-1])
        ### END SOLUTION
