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
        ### BEGIN SOLUTION
        ### HINT 1
        # A fixed (max_len, d_model) table of sines and cosines ADDED to x (no sqrt(d) scale, no parameters).
        # Traps: sin in the EVEN columns, cos in the odd ones; the exponent is 2i/d (i indexes the pairs);
        # batch-first input, so index the table by the length L = x.shape[1], not by x.shape[0].
        ### HINT 2
        # 1. check d_model even; position = arange(max_len)[:, None] (max_len, 1)
        # 2. inverse_frequency = exp(arange(0, d, 2) * (-ln(10000) / d))  (d/2,)
        # 3. table[:, 0::2] = sin(position * inverse_frequency), table[:, 1::2] = cos(...); register_buffer
        # 4. forward: check x (B, L, d), L <= max_len; return x + table[:L] (broadcast over B, x's dtype)
        ### HINT 3
        # table[:, 0::2] = torch.sin(position * inverse_frequency)   # and cos for the odd columns 1::2
        # return x + self.pe[:, : x.shape[1]].to(x.dtype)      # with self.pe of shape (1, max_len, d)
        ### END HINTS
        d_model = _check_positive_int("d_model", d_model)
        max_len = _check_positive_int("max_len", max_len)
        if d_model % 2:
            raise ValueError(f"d_model must be even (sin/cos pairs), got {d_model}")
        self.d_model, self.max_len = d_model, max_len
        position = torch.arange(max_len, dtype=torch.float64)[:, None]
        inverse_frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
        table = torch.zeros(max_len, d_model, dtype=torch.float64)
        table[:, 0::2] = torch.sin(position * inverse_frequency)
        table[:, 1::2] = torch.cos(position * inverse_frequency)
        self.register_buffer("pe", table.float()[None], persistent=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, d_model) -> x + PE[:L]."""
        ### BEGIN SOLUTION
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must be a (B, L, {self.d_model}) tensor, got {getattr(x, 'shape', type(x).__name__)}")
        if x.shape[1] > self.max_len:
            raise ValueError(f"sequence length {x.shape[1]} exceeds max_len={self.max_len}")
        return x + self.pe[:, : x.shape[1]].to(x.dtype)
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # Cross-modal attention: QUERIES from the target, keys/values from the source; pre-LN with residuals.
        # Traps: the residual adds the RAW target (not LN_t(target)); LN_s normalises the source (its own
        # LayerNorm); the mask (True = padding) goes to key_padding_mask as is, not inverted, not attn_mask.
        ### HINT 2
        # 1. __init__: submodules with exactly the docstring's names: norm_target, norm_source, attention
        #    (batch_first=True), norm_feed_forward, feed_forward = Linear(d, 4d), ReLU, Dropout, Linear(4d,d)
        # 2. forward: q = LN_t(target) (B, Lt, d); kv = LN_s(source) (B, Ls, d)
        # 3. h = target + Dropout(MHA(q, kv, kv, key_padding_mask=mask)) (B, Lt, d)
        # 4. out = h + Dropout(feed_forward(LN_ff(h)))
        ### HINT 3
        # attended, _ = self.attention(query, key_value, key_value, key_padding_mask=source_padding_mask)
        # h = target + self.attention_dropout(attended)
        ### END HINTS
        d_model = _check_positive_int("d_model", d_model)
        num_heads = _check_positive_int("num_heads", num_heads)
        dropout = _check_dropout(dropout)
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.d_model = d_model
        self.norm_target = nn.LayerNorm(d_model)
        self.norm_source = nn.LayerNorm(d_model)
        self.attention = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        self.attention_dropout = nn.Dropout(dropout)
        self.norm_feed_forward = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4 * d_model, d_model)
        )
        self.output_dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, target: torch.Tensor, source: torch.Tensor, source_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """target: (B, Lt, d) queries; source: (B, Ls, d) keys/values; mask (B, Ls) True = padding."""
        ### BEGIN SOLUTION
        for name, x in (("target", target), ("source", source)):
            if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
                raise ValueError(f"{name} must be a (B, L, {self.d_model}) tensor, got {getattr(x, 'shape', type(x).__name__)}")
        if source.shape[0] != target.shape[0]:
            raise ValueError(f"source batch size {source.shape[0]} differs from target batch size {target.shape[0]}")
        if source_padding_mask is not None:
            source_padding_mask = _check_mask("source_padding_mask", source_padding_mask, source.shape[0], source.shape[1], source.device)
        query = self.norm_target(target)
        key_value = self.norm_source(source)
        attended, _ = self.attention(query, key_value, key_value, key_padding_mask=source_padding_mask, need_weights=False)
        h = target + self.attention_dropout(attended)
        return h + self.output_dropout(self.feed_forward(self.norm_feed_forward(h)))
        ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # MulT: each modality (target) is updated by every OTHER one (source); 3 * tanh bounds the score.
        # Traps: padding must never count: the source's mask to the cross blocks, the target's to its
        # self-attention, and pool over REAL steps only (not .mean(dim=1), not h[:, -1]).
        ### HINT 2
        # 1. __init__: projections {m: Linear(D_m, d)}; cross {pair(s, t): num_layers blocks} for s != t;
        #    per target a merge Linear((M-1)d, d) and a self-attention layer; a head MLP over M*d
        # 2. forward: x_m -> projection -> + positions -> dropout (B, L_m, d); per target run each source's
        #    blocks, concat (B, Lt, (M-1)d), merge, self-attend with its own mask, masked mean (B, d)
        # 3. cat the M summaries (B, M*d) -> head -> (B,) -> 3 * tanh
        ### HINT 3
        # for block in self.cross[self.pair(source, target)]: h = block(h, sequences[source], masks[source])
        # pooled = where(real, h, 0).sum(dim=1) / real.sum(dim=1)      # real = ~mask[..., None], (B, Lt, 1)
        ### END HINTS
        if not isinstance(input_dims, Mapping) or len(input_dims) < 2:
            raise ValueError(f"input_dims must map two or more modality names to feature sizes, got {input_dims!r}")
        for name, dim in input_dims.items():
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"input_dims keys must be non-empty modality names without '.', got {name!r}")
            _check_positive_int(f"input_dims[{name!r}]", dim)
        d_model = _check_positive_int("d_model", d_model)
        num_heads = _check_positive_int("num_heads", num_heads)
        num_layers = _check_positive_int("num_layers", num_layers)
        dropout = _check_dropout(dropout)
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.modalities = tuple(input_dims)
        self.input_dims = {m: int(d) for m, d in input_dims.items()}
        self.projections = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in self.input_dims.items()})
        self.positions = PositionalEncoding(d_model)
        self.embedding_dropout = nn.Dropout(dropout)
        self.cross = nn.ModuleDict({
            self.pair(source, target): nn.ModuleList([CrossModalBlock(d_model, num_heads, dropout) for _ in range(num_layers)])
            for target in self.modalities for source in self.modalities if source != target
        })
        sources = len(self.modalities) - 1
        self.merge = nn.ModuleDict({m: nn.Linear(sources * d_model, d_model) for m in self.modalities})
        self.self_attention = nn.ModuleDict({
            m: nn.TransformerEncoderLayer(d_model, num_heads, 4 * d_model, dropout, batch_first=True, norm_first=True)
            for m in self.modalities
        })
        width = len(self.modalities) * d_model
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, d_model), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(d_model, 1))
        ### END SOLUTION

    @staticmethod
    def pair(source: str, target: str) -> str:
        """The ModuleDict key of the blocks where `target` attends to `source`."""
        return f"{source}_to_{target}"

    def forward(self, features: dict[str, torch.Tensor], padding_masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """features {m: (B, L_m, D_m)}, padding_masks {m: (B, L_m) bool} -> (B,) scores in [-3, 3]."""
        ### BEGIN SOLUTION
        missing = [m for m in self.modalities if m not in features or m not in padding_masks]
        if missing:
            raise ValueError(f"features and padding_masks need the modalities {list(self.modalities)}; missing {missing}")
        batch = features[self.modalities[0]].shape[0]
        sequences, masks = {}, {}
        for m in self.modalities:
            x = features[m]
            if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] != batch or x.shape[2] != self.input_dims[m]:
                raise ValueError(f"features[{m!r}] must be a ({batch}, L, {self.input_dims[m]}) tensor, "
                                 f"got {getattr(x, 'shape', type(x).__name__)}")
            masks[m] = _check_mask(f"padding_masks[{m!r}]", padding_masks[m], batch, x.shape[1], x.device)
            sequences[m] = self.embedding_dropout(self.positions(self.projections[m](x)))
        pooled = []
        for target in self.modalities:
            updated = []
            for source in self.modalities:
                if source == target:
                    continue
                h = sequences[target]
                for block in self.cross[self.pair(source, target)]:
                    h = block(h, sequences[source], masks[source])
                updated.append(h)
            h = self.merge[target](torch.cat(updated, dim=-1))
            h = self.self_attention[target](h, src_key_padding_mask=masks[target])
            real = (~masks[target]).unsqueeze(-1).to(h.dtype)  # (B, Lt, 1)
            # where() rather than multiply: a padded row may hold anything, even NaN from the fast path
            pooled.append(torch.where(real.bool(), h, torch.zeros_like(h)).sum(dim=1) / real.sum(dim=1))
        return SCORE_RANGE * torch.tanh(self.head(torch.cat(pooled, dim=-1)).squeeze(-1))
        ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # A standard loop with L1 loss (MulT/MMSA's, not MSE or smooth-L1) and Adam with the given weight_decay.
    # Traps: zero the gradients every step; model.train() at each epoch (it may arrive in eval mode) and
    # model.eval() at the end; clip to max_grad_norm when it is not None.
    ### HINT 2
    # 1. validate; seed torch; DataLoader(shuffle=True, collate_fn=collate_sentiment, seeded torch.Generator)
    # 2. model.to(device); Adam(model.parameters(), lr, weight_decay)
    # 3. per batch: batch_to_device; pred = model(features, padding_masks) (B,); L1 vs labels; zero_grad,
    #    backward, clip_grad_norm_, step; add loss * B to a running total
    # 4. per epoch: total / N into "train_loss"; with val_data, evaluate_sentiment_model(...)["mae"]
    ### HINT 3
    # loss = F.l1_loss(model(batch["features"], batch["padding_masks"]), batch["labels"])
    # nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    ### END HINTS
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if len(train_data) == 0:
        raise ValueError("train_data is empty")
    torch.manual_seed(int(seed))
    loader = torch.utils.data.DataLoader(train_data, batch_size=batch_size, shuffle=True, collate_fn=collate_sentiment,
                                         generator=torch.Generator().manual_seed(int(seed)))
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(lr), weight_decay=float(weight_decay))
    history: dict[str, list[float]] = {"train_loss": []}
    if val_data is not None:
        history["val_mae"] = []
    for _ in range(epochs):
        model.train()
        total, count = 0.0, 0
        for batch in loader:
            batch = batch_to_device(batch, device)
            prediction = model(batch["features"], batch["padding_masks"])
            loss = F.l1_loss(prediction, batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            total += loss.item() * len(batch["labels"])
            count += len(batch["labels"])
        history["train_loss"].append(total / count)
        if val_data is not None:
            history["val_mae"].append(evaluate_sentiment_model(model, val_data, device)["mae"])
    model.eval()
    return history
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # Inference over the whole dataset, then the metrics exercise's sentiment_metrics(predictions, labels).
    # Traps: eval mode and no gradients (dropout off), NO shuffling (results in data order), arguments in
    # the order (predictions, labels), and restore the mode the model HAD (not always train()).
    ### HINT 2
    # 1. DataLoader(data, batch_size, shuffle=False, collate_fn=collate_sentiment)
    # 2. was_training = model.training; model.eval(); under torch.no_grad() collect predictions and labels
    # 3. model.train(was_training); concatenate to (N,) float64 NumPy arrays
    # 4. metrics = sentiment_metrics(pred, truth); return (metrics, pred) when return_predictions
    ### HINT 3
    # model.train(was_training); metrics = sentiment_metrics(pred, truth)
    ### END HINTS
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    batch_size = _check_positive_int("batch_size", batch_size)
    if len(data) == 0:
        raise ValueError("data is empty")
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_sentiment)
    was_training = model.training
    model.eval()
    predictions, labels = [], []
    with torch.no_grad():
        for batch in loader:
            batch = batch_to_device(batch, device)
            predictions.append(model(batch["features"], batch["padding_masks"]).double().cpu())
            labels.append(batch["labels"].double().cpu())
    model.train(was_training)
    pred, truth = torch.cat(predictions).numpy(), torch.cat(labels).numpy()
    metrics = sentiment_metrics(pred, truth)
    return (metrics, pred) if return_predictions else metrics
    ### END SOLUTION
