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
    ### BEGIN SOLUTION
    ### HINT 1
    # A word's row is the mean of the frames with start <= t < end (half-open: the frame at `end` is not
    # in). A word too short to hold a frame takes the ONE frame nearest its midpoint (not its start), the
    # first listed on a tie: never a mean over zero frames.
    ### HINT 2
    # 1. frames (T, D), times (T,), spans (W, 2) via _as_float, one device and dtype; end >= start
    # 2. inside = (times[None] >= start) & (times[None] < end): (W, T) bool, with start, end as (W, 1)
    # 3. rows with no frame: argmin over T of |times - midpoint| (argmin gives the first minimum); set True
    # 4. weights = inside as float; out = weights @ frames / weights.sum(1, keepdim=True): (W, D)
    ### HINT 3
    # nearest = (times[None, :] - (start + end) / 2).abs().argmin(dim=1)
    # inside[counts == 0, nearest[counts == 0]] = True
    ### END HINTS
    x = _as_float(frames, "frames", ndim=2)
    times = _as_float(frame_times, "frame_times", ndim=1, device=x.device).to(x.dtype)
    spans = _as_float(word_spans, "word_spans", ndim=2, device=x.device).to(x.dtype)
    if times.shape[0] != x.shape[0]:
        raise ValueError(f"frame_times has {times.shape[0]} entries, frames has {x.shape[0]} rows")
    if spans.shape[1] != 2:
        raise ValueError(f"word_spans must have shape (W, 2), got {tuple(spans.shape)}")
    start, end = spans[:, 0:1], spans[:, 1:2]
    if (end < start).any():
        raise ValueError("word_spans has a word whose end is before its start")
    inside = (times[None, :] >= start) & (times[None, :] < end)  # (W, T)
    counts = inside.sum(dim=1)
    nearest = (times[None, :] - (start + end) / 2).abs().argmin(dim=1)  # argmin returns the first minimum
    inside[counts == 0, nearest[counts == 0]] = True
    weights = inside.to(x.dtype)
    return (weights @ x) / weights.sum(dim=1, keepdim=True)
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # DTW: the monotone path (steps (1,0), (0,1), (1,1)) from (0,0) to (n-1,m-1) with the least summed squared
    # cost; tslearn reports the SQRT of that sum (not a sum of distances). Traps: keep the diagonal step,
    # border the table with inf (only acc[0][0] = 0), and the window band's bounds are inclusive.
    ### HINT 2
    # 1. x (n, d), y (m, d) as float64 on CPU (1-D -> (n, 1)); cost = squared pairwise distances (n, m)
    # 2. allowed[i][j]: with n <= m, -r <= j - i <= (m - n) + r (mirrored for n > m); all if no window
    # 3. acc (n+1, m+1) of inf, acc[0][0] = 0; allowed cells: cost + min of the three predecessors
    # 4. backtrack from (n, m) to (1, 1) via the smallest predecessor (diagonal first on ties); reverse
    ### HINT 3
    # acc[i][j] = cost[i - 1, j - 1] + min(acc[i - 1][j - 1], acc[i - 1][j], acc[i][j - 1])
    # return math.sqrt(acc[n][m]), path[::-1]
    ### END HINTS
    a = _as_float(x, "x").double().cpu()
    b = _as_float(y, "y").double().cpu()
    a = a[:, None] if a.dim() == 1 else a
    b = b[:, None] if b.dim() == 1 else b
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"x and y must be (n, d) and (m, d), got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same feature size, got {a.shape[1]} and {b.shape[1]}")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 0):
        raise ValueError(f"window must be None or an int >= 0, got {window!r}")
    n, m = a.shape[0], b.shape[0]
    cost = (torch.cdist(a, b) ** 2).numpy()
    allowed = [[True] * m for _ in range(n)]
    if window is not None:
        for i in range(n):
            for j in range(m):
                lag, slack = (j - i, m - n) if n <= m else (i - j, n - m)
                allowed[i][j] = -window <= lag <= slack + window
    acc = [[math.inf] * (m + 1) for _ in range(n + 1)]
    acc[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if allowed[i - 1][j - 1]:
                acc[i][j] = cost[i - 1, j - 1] + min(acc[i - 1][j - 1], acc[i - 1][j], acc[i][j - 1])
    path, i, j = [(n - 1, m - 1)], n, m
    while (i, j) != (1, 1):
        # prefer the diagonal on ties, then (i-1, j), then (i, j-1) — as tslearn
        i, j = min(((i - 1, j - 1), (i - 1, j), (i, j - 1)), key=lambda ij: acc[ij[0]][ij[1]])
        path.append((i - 1, j - 1))
    return math.sqrt(acc[n][m]), path[::-1]
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # Softmax over the KEY axis (the last) of q·kᵀ / sqrt(d) (sqrt, not d). Mask padded keys (True = padding)
    # with -inf BEFORE the softmax, so rows still sum to 1. An all-padding item gives 0/0 = NaN: make it 0
    # (-1e9 instead of -inf would spread its weight over the padding).
    ### HINT 2
    # 1. q (B, Lq, d), k (B, Lk, d), v (B, Lk, dv) in one dtype on one device; check the shapes
    # 2. scores = q @ kᵀ (transpose the last two axes) / sqrt(d): (B, Lq, Lk)
    # 3. mask (B, Lk) bool, broadcast over queries as (B, 1, Lk) -> fill those scores with -inf
    # 4. weights = softmax over dim=-1, NaN -> 0; out = weights @ v: (B, Lq, dv); return (out, weights)
    ### HINT 3
    # scores = scores.masked_fill(mask[:, None, :], float("-inf"))
    # weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    ### END HINTS
    q = _as_float(query, "query", ndim=3)
    k = _as_float(key, "key", ndim=3, device=q.device).to(q.dtype)
    v = _as_float(value, "value", ndim=3, device=q.device).to(q.dtype)
    if k.shape[0] != q.shape[0] or k.shape[2] != q.shape[2]:
        raise ValueError(f"key must have shape (B={q.shape[0]}, Lk, d={q.shape[2]}), got {tuple(k.shape)}")
    if v.shape[:2] != k.shape[:2]:
        raise ValueError(f"value must have shape (B, Lk) = {tuple(k.shape[:2])} in front, got {tuple(v.shape)}")
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[2])  # (B, Lq, Lk)
    if key_padding_mask is not None:
        mask = torch.as_tensor(key_padding_mask, device=q.device)
        if mask.dtype != torch.bool:
            raise ValueError(f"key_padding_mask must be boolean, got {mask.dtype}")
        if mask.shape != k.shape[:2]:
            raise ValueError(f"key_padding_mask must have shape {tuple(k.shape[:2])}, got {tuple(mask.shape)}")
        scores = scores.masked_fill(mask[:, None, :], float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # all-padding rows: NaN -> 0
    return weights @ v, weights
    ### END SOLUTION


# ----------------------------------------------------------------------------- contrastive
def info_nce(a, b, temperature: float = 0.07) -> torch.Tensor:
    """Symmetric InfoNCE (the CLIP loss with a fixed temperature): row i of a matches row i of b.

    a, b: (N, d) embeddings of paired items; temperature > 0.
    L2-normalise each row; logits = a_n @ b_nᵀ / temperature, (N, N);
    loss = (cross_entropy(logits, arange(N)) + cross_entropy(logitsᵀ, arange(N))) / 2, a scalar tensor.
    Use a numerically stable log-softmax (F.cross_entropy), never log(softmax(...)).
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # CLIP's symmetric loss: row i of a must pick row i of b among all N (targets on the diagonal), and
    # column i likewise; AVERAGE the two directions. Traps: L2-normalise first (cosine), DIVIDE by the
    # temperature, mean reduction, and F.cross_entropy rather than log(softmax(...)).
    ### HINT 2
    # 1. a, b: (N, d) of the same shape; temperature > 0; reject zero rows
    # 2. normalise every row to unit length
    # 3. logits = a_n @ b_nᵀ / temperature: (N, N); targets = arange(N)
    # 4. loss = (CE(logits, targets) + CE(logitsᵀ, targets)) / 2
    ### HINT 3
    # logits = x @ y.T / temperature
    # return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    ### END HINTS
    x = _as_float(a, "a", ndim=2)
    y = _as_float(b, "b", ndim=2, device=x.device).to(x.dtype)
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same shape (N, d), got {tuple(x.shape)} and {tuple(y.shape)}")
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    if (x.norm(dim=1) == 0).any() or (y.norm(dim=1) == 0).any():
        raise ValueError("a zero embedding has no direction: cannot L2-normalise it")
    x, y = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(y, dim=1)
    logits = x @ y.T / temperature
    targets = torch.arange(x.shape[0], device=x.device)
    ce = torch.nn.functional.cross_entropy
    return (ce(logits, targets) + ce(logits.T, targets)) / 2
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # Sinkhorn alternately fixes the row sums (1/n) and the column sums (1/m). Work in the LOG domain with
    # potentials f (n,), g (m,) and logsumexp: exp(-cost/epsilon) underflows to 0, even in float64.
    # Update f THEN g (so the columns end exact), exactly n_iters times; epsilon divides in the plan too.
    ### HINT 2
    # 1. cost (n, m); check epsilon > 0, n_iters int >= 1; g = zeros(m) in cost's dtype and device
    # 2. each iteration: f = eps·log(1/n) - eps·logsumexp over j of (g_j - c_ij) / eps   -> (n,)
    # 3.                 g = eps·log(1/m) - eps·logsumexp over i of (f_i - c_ij) / eps   -> (m,)
    # 4. plan = exp((f_i + g_j - c_ij) / eps): (n, m)
    ### HINT 3
    # f = epsilon * log_a - epsilon * torch.logsumexp((g[None, :] - c) / epsilon, dim=1)
    # return torch.exp((f[:, None] + g[None, :] - c) / epsilon)
    ### END HINTS
    c = _as_float(cost, "cost", ndim=2)
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not epsilon > 0:
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 1:
        raise ValueError(f"n_iters must be an int >= 1, got {n_iters!r}")
    n, m = c.shape
    log_a, log_b = -math.log(n), -math.log(m)
    g = torch.zeros(m, dtype=c.dtype, device=c.device)
    for _ in range(n_iters):
        f = epsilon * log_a - epsilon * torch.logsumexp((g[None, :] - c) / epsilon, dim=1)
        g = epsilon * log_b - epsilon * torch.logsumexp((f[:, None] - c) / epsilon, dim=0)
    return torch.exp((f[:, None] + g[None, :] - c) / epsilon)
    ### END SOLUTION
