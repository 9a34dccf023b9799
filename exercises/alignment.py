# Exercise generated from solutions/alignment.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""Multimodal alignment: find which parts of one modality correspond to which parts of another.

Alignment is more than "the same time point": it can be temporal (audio frames to words, video to
a script of different speed: timestamps, DTW), spatial (image regions to words: attention, optimal
transport) or semantic (an image and its caption close in a shared space: contrastive learning).

Convention for every function here: inputs may be NumPy arrays or torch tensors (anything
`torch.as_tensor` takes); the computation runs in torch, so it works on CUDA and is
differentiable where that makes sense. Floating inputs keep their dtype (NumPy float64 stays
float64); integer inputs become float32. Results are torch tensors, except `dtw`, which returns
(float, list of (i, j) tuples). Bad shapes, empty inputs or NaN/inf raise ValueError.
"""

from __future__ import annotations

import math

import torch


def _as_float(x, name: str, ndim: int | None = None, device: torch.device | None = None) -> torch.Tensor:
    """`x` as a floating torch tensor; ValueError naming `name` for a wrong ndim, no entries, or NaN/inf."""
    try:
        t = torch.as_tensor(x, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name} must be an array or tensor, got {type(x).__name__}") from exc
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf")
    return t


# ----------------------------------------------------------------------------- timestamps
def align_to_words(frames, frame_times, word_spans) -> torch.Tensor:
    """Average frame features over each word's time span (the aligned CMU-MOSI protocol).

    frames:      (T, D) features of T frames (e.g. audio at 100 Hz, video at 30 Hz).
    frame_times: (T,) time stamp of each frame, in seconds (any order).
    word_spans:  (W, 2) [start, end) of each word in seconds, start <= end.
    Returns (W, D): row w is the mean of the frames with start_w <= time < end_w. A word that
    contains no frame (shorter than the frame period) takes the single frame whose time is nearest
    the word's midpoint (start + end) / 2; on a tie, the frame listed first.
    Hint: a (W, T) boolean membership matrix gives every mean in one matrix product.
    """
    raise NotImplementedError("alignment: task align_to_words — Average frame features over each word's time span (the aligned CMU-MOSI protocol)")


# ----------------------------------------------------------------------------- dynamic time warping
def dtw(x, y, window: int | None = None) -> tuple[float, list[tuple[int, int]]]:
    """Dynamic time warping in tslearn's conventions: (distance, path).

    x: (n, d), y: (m, d) sequences (a 1-D input of shape (n,) is read as (n, 1)).
    cost(i, j) = ||x_i - y_j||² (squared Euclidean). Allowed steps: (1, 0), (0, 1), (1, 1).
    distance = sqrt(minimal sum of cost along a path from (0, 0) to (n-1, m-1)) — the square root
    of the summed squared costs, as tslearn.metrics.dtw / dtw_path (not the sum of distances).
    window: optional Sakoe-Chiba radius r >= 0 (tslearn's sakoe_chiba_radius). With n <= m a cell
    is allowed when -r <= j - i <= (m - n) + r; with n > m when -r <= i - j <= (n - m) + r.
    path: list of (i, j) int tuples from (0, 0) to (n-1, m-1), each step one of the three above.
    Hint: fill the (n+1, m+1) accumulated-cost table row by row (a vectorised inner loop over j is
    not possible; plain Python over NumPy values is fine at n, m ~ 100), then backtrack.
    """
    raise NotImplementedError("alignment: task dtw — Dynamic time warping in tslearn's conventions: (distance, path)")


# ----------------------------------------------------------------------------- attention
def cross_attention(query, key, value, key_padding_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product cross-attention: queries from one modality, keys/values from another.

    query: (B, Lq, d), key: (B, Lk, d), value: (B, Lk, dv);
    key_padding_mask: optional (B, Lk) bool, True = padding (that key is ignored).
    weights = softmax over keys of (query · keyᵀ) / sqrt(d) with padded keys excluded, (B, Lq, Lk);
    out = weights @ value, (B, Lq, dv). Returns (out, weights).
    A batch item whose keys are ALL padding gets zero weights and a zero output, never NaN
    (softmax over a row of -inf is 0/0). Hint: mask with -inf, then replace the NaN rows.
    """
    raise NotImplementedError('alignment: task cross_attention — Scaled dot-product cross-attention: queries from one modality, keys/values from another')


# ----------------------------------------------------------------------------- contrastive
def info_nce(a, b, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE (the CLIP loss with a fixed temperature): row i of a matches row i of b.

    a, b: (N, d) embeddings of paired items; temperature > 0.
    L2-normalise each row; logits = a_n @ b_nᵀ / temperature, (N, N);
    loss = (cross_entropy(logits, arange(N)) + cross_entropy(logitsᵀ, arange(N))) / 2, a scalar tensor.
    Use a numerically stable log-softmax (F.cross_entropy), never log(softmax(...)).
    """
    raise NotImplementedError('alignment: task info_nce — Symmetric InfoNCE (the CLIP loss with a fixed temperature): row i of a matches row i of b')


# ----------------------------------------------------------------------------- optimal transport
def sinkhorn(cost, epsilon: float = 0.1, n_iters: int = 100) -> torch.Tensor:
    """Entropic optimal transport between uniform marginals: a soft word-region alignment.

    cost: (n, m) cost of matching item i of one side with item j of the other (e.g. 1 - cosine
    similarity of word and region features).
    Solves min_P <P, cost> - epsilon·H(P) subject to P 1 = 1/n, Pᵀ 1 = 1/m, P >= 0, by Sinkhorn
    iterations: starting from g = 0, each iteration updates f then g, in the log domain:
      f_i = epsilon·log(1/n) - epsilon·logsumexp_j((g_j - cost_ij) / epsilon)
      g_j = epsilon·log(1/m) - epsilon·logsumexp_i((f_i - cost_ij) / epsilon)
    and plan_ij = exp((f_i + g_j - cost_ij) / epsilon), (n, m). After the last g update the column
    sums are exactly 1/m; the row sums approach 1/n as n_iters grows.
    Why the log domain: the textbook form scales the kernel K = exp(-cost/epsilon) by u = a / (K v),
    v = b / (Kᵀ u). At epsilon = 0.01 and costs near 1, K ≈ e^-100 ≈ 3.7e-44: an ordinary float64,
    but subnormal in float32 (27 times the smallest float32, so rounded by ~2%), and exactly 0 once
    cost/epsilon exceeds ~103 in float32 or ~745 in float64; a row of K that is all 0 makes u infinite
    and the plan NaN. Before that, u and v grow like e^(cost/epsilon) and overflow (past e^88.7 in
    float32, e^709.8 in float64). The potentials f = epsilon·log u, g = epsilon·log v stay the size
    of the costs, and logsumexp never forms the tiny or huge numbers.
    UNITER's word-region alignment uses a relative of this, IPOT (the inexact proximal point method,
    beta = 0.5, 50 iterations): it solves unregularised OT, and its kernel exp(-cost/0.5) over
    costs 1 - cosine in [0, 2] never falls below e^-4, so it runs safely outside the log domain.
    epsilon > 0, n_iters >= 1 (ValueError otherwise).
    """
    raise NotImplementedError('alignment: task sinkhorn — Entropic optimal transport between uniform marginals: a soft word-region alignment')
