"""Mutants and valid variants of solutions/alignment.py (see autograder/mutants/__init__.py)."""

from autograder.mutants import mutant, variant

# ----------------------------------------------------------------------------- align_to_words
INSIDE = "inside = (times[None, :] >= start) & (times[None, :] < end)  # (W, T)"
NEAREST = "nearest = (times[None, :] - (start + end) / 2).abs().argmin(dim=1)  # argmin returns the first minimum"
FALLBACK = "inside[counts == 0, nearest[counts == 0]] = True"
MEAN = "return (weights @ x) / weights.sum(dim=1, keepdim=True)"

ALIGN_TO_WORDS = [
    mutant("words-end-inclusive", "align_to_words",
           (INSIDE, "inside = (times[None, :] >= start) & (times[None, :] <= end)  # (W, T)"),
           feedback=r"start <= t < end", why="a word's interval taken as [start, end]: the frame at `end` leaks in"),
    mutant("words-start-exclusive", "align_to_words",
           (INSIDE, "inside = (times[None, :] > start) & (times[None, :] < end)  # (W, T)"),
           feedback=r"start <= t < end", why="a word's interval taken as (start, end): its first frame is lost"),
    mutant("words-empty-mean", "align_to_words",
           (FALLBACK, "pass  # every word holds a frame, surely"),
           feedback=r"NaN.*nearest the midpoint", why="no fallback for a word shorter than a frame: mean over 0 frames"),
    mutant("words-nearest-to-start", "align_to_words",
           (NEAREST, "nearest = (times[None, :] - start).abs().argmin(dim=1)"),
           feedback=r"nearest the midpoint", why="the empty word takes the frame nearest its start, not its midpoint"),
    mutant("words-tie-last-listed", "align_to_words",
           (NEAREST, "distance = (times[None, :] - (start + end) / 2).abs()\n"
                     "    nearest = distance.shape[1] - 1 - distance.flip(dims=[1]).argmin(dim=1)"),
           feedback=r"listed first", why="ties between two nearest frames go to the one listed last"),
]

ALIGN_TO_WORDS_VARIANTS = [
    variant("words-loop", "align_to_words",
            (MEAN, "rows = []\n"
                   "    for w in range(spans.shape[0]):\n"
                   "        rows.append(x[inside[w]].mean(dim=0))\n"
                   "    return torch.stack(rows)"),
            why="a loop over words instead of the membership matrix product"),
    variant("words-float64", "align_to_words",
            (MEAN, "weights = weights.double()\n"
                   "    return ((weights @ x.double()) / weights.sum(dim=1, keepdim=True)).to(x.dtype)"),
            why="the means accumulated in float64, returned in the input's dtype"),
]

# ----------------------------------------------------------------------------- dtw
DTW_COST = "cost = (torch.cdist(a, b) ** 2).numpy()"
DTW_STEP = "acc[i][j] = cost[i - 1, j - 1] + min(acc[i - 1][j - 1], acc[i - 1][j], acc[i][j - 1])"
DTW_RETURN = "return math.sqrt(acc[n][m]), path[::-1]"
DTW_BACKTRACK = "i, j = min(((i - 1, j - 1), (i - 1, j), (i, j - 1)), key=lambda ij: acc[ij[0]][ij[1]])"
DTW_WINDOW = "allowed[i][j] = -window <= lag <= slack + window"

DTW = [
    mutant("dtw-no-sqrt", "dtw", (DTW_RETURN, "return acc[n][m], path[::-1]"),
           feedback=r"square root", why="returns the summed squared costs, without tslearn's final square root"),
    mutant("dtw-sum-of-distances", "dtw",
           (DTW_COST, "cost = torch.cdist(a, b).numpy()"), (DTW_RETURN, "return acc[n][m], path[::-1]"),
           feedback=r"square root|sum of distances",
           why="the other textbook convention: summed Euclidean distances instead of sqrt of summed squares"),
    mutant("dtw-no-diagonal-step", "dtw",
           ("acc[0][0] = 0.0", "acc[0][1] = 0.0  # the first cell is reached without a diagonal step"),
           (DTW_STEP, "acc[i][j] = cost[i - 1, j - 1] + min(acc[i - 1][j], acc[i][j - 1])"),
           (DTW_BACKTRACK, "i, j = min(((i - 1, j), (i, j - 1)), key=lambda ij: acc[ij[0]][ij[1]])"),
           feedback=r"diagonal", why="the step set forgets the diagonal move (1, 1)"),
    mutant("dtw-open-begin", "dtw",
           ("acc[0][0] = 0.0", "acc[0] = [0.0] * (m + 1)\n    for row in acc:\n        row[0] = 0.0"),
           (DTW_BACKTRACK, "i, j = min((c for c in ((i - 1, j - 1), (i - 1, j), (i, j - 1)) if min(c) >= 1),\n"
                           "                   key=lambda ij: acc[ij[0]][ij[1]])"),
           feedback=r"starts at \(0, 0\)",
           why="the table's first row and column initialised to 0 instead of inf (backtracking kept inside the table)"),
    mutant("dtw-window-ignored", "dtw", (DTW_WINDOW, "allowed[i][j] = True"),
           feedback=r"window", why="the `window` argument is silently ignored"),
    mutant("dtw-window-off-by-one", "dtw", (DTW_WINDOW, "allowed[i][j] = -window < lag < slack + window"),
           feedback=r"window|Sakoe-Chiba", why="strict inequalities: the band is one cell too narrow on each side"),
]

DTW_VARIANTS = [
    variant("dtw-numpy-table", "dtw",
            ("acc = [[math.inf] * (m + 1) for _ in range(n + 1)]", "acc = np.full((n + 1, m + 1), np.inf)"),
            ("import math\n", "import math\n\nimport numpy as np\n"),
            ("return math.sqrt(acc[n][m]), path[::-1]", "return float(np.sqrt(acc[n][m])), path[::-1]"),
            why="a NumPy accumulated-cost table instead of nested lists"),
    variant("dtw-cost-loop", "dtw",
            (DTW_COST, "cost = [[float(((a[i] - b[j]) ** 2).sum()) for j in range(b.shape[0])] "
                       "for i in range(a.shape[0])]"),
            (DTW_STEP, "acc[i][j] = cost[i - 1][j - 1] + min(acc[i - 1][j - 1], acc[i - 1][j], acc[i][j - 1])"),
            why="the squared costs computed in a Python loop"),
]

# ----------------------------------------------------------------------------- cross_attention
SCORES = "scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[2])  # (B, Lq, Lk)"
MASKED = 'scores = scores.masked_fill(mask[:, None, :], float("-inf"))'
SOFTMAX = "weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # all-padding rows: NaN -> 0"

CROSS_ATTENTION = [
    mutant("attention-softmax-over-queries", "cross_attention",
           (SOFTMAX, "weights = torch.softmax(scores, dim=1).nan_to_num(0.0)"),
           feedback=r"each query's weights over the keys must sum to 1", why="softmax over the query axis"),
    mutant("attention-no-scale", "cross_attention",
           (SCORES, "scores = q @ k.transpose(1, 2)  # (B, Lq, Lk)"),
           feedback=r"not scaled.*sqrt\(d\)", why="forgets the 1/sqrt(d) scale"),
    mutant("attention-scale-by-d", "cross_attention",
           (SCORES, "scores = q @ k.transpose(1, 2) / q.shape[2]  # (B, Lq, Lk)"),
           feedback=r"divided by d instead of sqrt\(d\)", why="divides by d instead of sqrt(d)"),
    mutant("attention-mask-inverted", "cross_attention",
           (MASKED, 'scores = scores.masked_fill(~mask[:, None, :], float("-inf"))'),
           feedback=r"True = padding.*weight 0", why="reads True in the mask as 'attend to this key'"),
    mutant("attention-mask-after-softmax", "cross_attention",
           (MASKED, "pass"),
           (SOFTMAX, "weights = torch.softmax(scores, dim=-1)\n"
                     "    if key_padding_mask is not None:\n"
                     "        weights = weights.masked_fill(mask[:, None, :], 0.0)"),
           feedback=r"must sum to 1.*BEFORE", why="zeroes the padded weights after the softmax: rows no longer sum to 1"),
    mutant("attention-mask-large-negative", "cross_attention",
           (MASKED, "scores = scores.masked_fill(mask[:, None, :], -1e9)"),
           feedback=r"only padding keys.*must all be 0",
           why="-1e9 instead of -inf: an all-padding item spreads its weight uniformly over the padding"),
    mutant("attention-nan-rows", "cross_attention",
           (SOFTMAX, "weights = torch.softmax(scores, dim=-1)"),
           feedback=r"only padding keys.*never NaN", why="an all-padding item's softmax of -inf is 0/0 = NaN"),
]

CROSS_ATTENTION_VARIANTS = [
    variant("attention-einsum-manual-softmax", "cross_attention",
            (SCORES, "scores = torch.einsum('bqd,bkd->bqk', q, k) * q.shape[2] ** -0.5"),
            (SOFTMAX, "top = scores.amax(dim=-1, keepdim=True).nan_to_num(0.0, neginf=0.0)\n"
                      "    e = torch.exp(scores - top)\n"
                      "    total = e.sum(dim=-1, keepdim=True)\n"
                      "    weights = torch.where(total > 0, e / total.clamp_min(1e-300), torch.zeros_like(e))"),
            why="einsum scores and a hand-written max-shifted softmax"),
    variant("attention-additive-mask-float64", "cross_attention",
            (MASKED, "scores = scores + torch.zeros_like(scores).masked_fill(mask[:, None, :], float('-inf'))"),
            (SOFTMAX, "weights = torch.softmax(scores.double(), dim=-1).nan_to_num(0.0).to(scores.dtype)"),
            why="an additive -inf mask and the softmax computed in float64"),
]

# ----------------------------------------------------------------------------- info_nce
LOGITS = "logits = x @ y.T / temperature"
LOSS = "return (ce(logits, targets) + ce(logits.T, targets)) / 2"
TARGETS = "targets = torch.arange(x.shape[0], device=x.device)"
NORMALISE = "x, y = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(y, dim=1)"

INFO_NCE = [
    mutant("info-nce-one-sided", "info_nce", (LOSS, "return ce(logits, targets)"),
           feedback=r"only the a -> b direction", why="only the image-to-text direction of a symmetric loss"),
    mutant("info-nce-untransposed", "info_nce", (LOSS, "return (ce(logits, targets) + ce(logits, targets)) / 2"),
           feedback=r"only the a -> b direction", why="the second term forgets the transpose: the same direction twice"),
    mutant("info-nce-summed-directions", "info_nce", (LOSS, "return ce(logits, targets) + ce(logits.T, targets)"),
           feedback=r"summed, not averaged", why="adds the two directions instead of averaging them"),
    mutant("info-nce-no-temperature", "info_nce", (LOGITS, "logits = x @ y.T"),
           feedback=r"no temperature", why="forgets to divide the logits by the temperature"),
    mutant("info-nce-temperature-multiplied", "info_nce", (LOGITS, "logits = x @ y.T * temperature"),
           feedback=r"multiplied by the temperature", why="multiplies by the temperature instead of dividing"),
    mutant("info-nce-no-normalisation", "info_nce", (NORMALISE, "pass"),
           feedback=r"no L2-normalisation", why="dot products of raw embeddings instead of cosine similarities"),
    mutant("info-nce-sum-reduction", "info_nce",
           ("ce = torch.nn.functional.cross_entropy",
            "ce = lambda z, t: torch.nn.functional.cross_entropy(z, t, reduction='sum')  # noqa: E731"),
           feedback=r"sum over the \d+ pairs", why="sums the per-pair losses instead of averaging them"),
    mutant("info-nce-shifted-targets", "info_nce",
           (TARGETS, "targets = (torch.arange(x.shape[0], device=x.device) + 1) % x.shape[0]"),
           feedback=r"targets shifted off the diagonal", why="next-token habit: row i's target is i + 1, not the diagonal"),
    mutant("info-nce-log-of-softmax", "info_nce",
           ("ce = torch.nn.functional.cross_entropy",
            "ce = lambda z, t: -torch.log(torch.softmax(z, dim=1)).diagonal().mean()  # noqa: E731"),
           feedback=r"log-softmax", why="log(softmax(...)): -inf once the softmax underflows at a low temperature"),
]

INFO_NCE_VARIANTS = [
    variant("info-nce-log-softmax-diagonal", "info_nce",
            (LOSS, "rows = -torch.log_softmax(logits, dim=1).diagonal().mean()\n"
                   "    cols = -torch.log_softmax(logits, dim=0).diagonal().mean()\n"
                   "    return (rows + cols) / 2"),
            why="the diagonal of log_softmax over rows and over columns"),
    variant("info-nce-manual-norm-two-products", "info_nce",
            (NORMALISE, "x, y = x / x.norm(dim=1, keepdim=True), y / y.norm(dim=1, keepdim=True)"),
            (LOSS, "return (ce(logits, targets) + ce(y @ x.T / temperature, targets)) / 2"),
            why="divides by the norms by hand and builds the other direction's logits as y @ xᵀ"),
    variant("info-nce-one-hot-probabilities", "info_nce",
            (TARGETS, "targets = torch.eye(x.shape[0], dtype=x.dtype, device=x.device)"),
            why="the identity matrix as class-probability targets: the same cross-entropies"),
]

# ----------------------------------------------------------------------------- sinkhorn
F_UPDATE = "f = epsilon * log_a - epsilon * torch.logsumexp((g[None, :] - c) / epsilon, dim=1)"
G_UPDATE = "g = epsilon * log_b - epsilon * torch.logsumexp((f[:, None] - c) / epsilon, dim=0)"
PLAN = "return torch.exp((f[:, None] + g[None, :] - c) / epsilon)"
LOOP = "for _ in range(n_iters):"
MARGINALS = "log_a, log_b = -math.log(n), -math.log(m)"

SINKHORN = [
    mutant("sinkhorn-kernel-domain", "sinkhorn",
           ("g = torch.zeros(m, dtype=c.dtype, device=c.device)",
            "kernel = torch.exp(-c / epsilon)\n"
            "    a = torch.full((n,), 1 / n, dtype=c.dtype, device=c.device)\n"
            "    b = torch.full((m,), 1 / m, dtype=c.dtype, device=c.device)\n"
            "    v = torch.ones(m, dtype=c.dtype, device=c.device)"),
           (F_UPDATE, "u = a / (kernel @ v)"), (G_UPDATE, "v = b / (kernel.T @ u)"),
           (PLAN, "return u[:, None] * kernel * v[None, :]"),
           feedback=r"log domain", why="the textbook kernel-domain Sinkhorn: exp(-cost/epsilon) underflows, u overflows"),
    mutant("sinkhorn-kernel-domain-float64", "sinkhorn",
           ("g = torch.zeros(m, dtype=c.dtype, device=c.device)",
            "kernel = torch.exp(-c.double() / epsilon)  # float64 so nothing underflows\n"
            "    a = torch.full((n,), 1 / n, dtype=torch.float64, device=c.device)\n"
            "    b = torch.full((m,), 1 / m, dtype=torch.float64, device=c.device)\n"
            "    v = torch.ones(m, dtype=torch.float64, device=c.device)"),
           (F_UPDATE, "u = a / (kernel @ v)"), (G_UPDATE, "v = b / (kernel.T @ u)"),
           (PLAN, "return (u[:, None] * kernel * v[None, :]).to(c.dtype)"),
           feedback=r"log domain", why="the kernel domain 'rescued' by float64: still 0 once cost/epsilon > 745"),
    mutant("sinkhorn-marginals-swapped", "sinkhorn", (MARGINALS, "log_a, log_b = -math.log(m), -math.log(n)"),
           feedback=r"column sums|marginals", why="1/m on the rows and 1/n on the columns"),
    mutant("sinkhorn-fixed-iterations", "sinkhorn", (LOOP, "for _ in range(20):"),
           feedback=r"documented iteration", why="a hard-coded iteration count: n_iters is ignored"),
    mutant("sinkhorn-g-before-f", "sinkhorn",
           ("g = torch.zeros(m, dtype=c.dtype, device=c.device)", "f = torch.zeros(n, dtype=c.dtype, device=c.device)"),
           (F_UPDATE + "\n        " + G_UPDATE, G_UPDATE + "\n        " + F_UPDATE),
           feedback=r"column sums|update f then g", why="updates g then f: the rows, not the columns, end exact"),
    mutant("sinkhorn-epsilon-missing-in-plan", "sinkhorn", (PLAN, "return torch.exp(f[:, None] + g[None, :] - c)"),
           feedback=r"column sums|epsilon", why="the plan's exponent is not divided by epsilon"),
    mutant("sinkhorn-epsilon-not-applied", "sinkhorn",
           (F_UPDATE, "f = log_a - torch.logsumexp(g[None, :] - c / epsilon, dim=1)"),
           (G_UPDATE, "g = log_b - torch.logsumexp(f[:, None] - c / epsilon, dim=0)"),
           feedback=r"column sums|epsilon", why="potentials kept in units of 1/epsilon but the plan reads them in cost units"),
]

SINKHORN_VARIANTS = [
    variant("sinkhorn-scaled-potentials", "sinkhorn",
            (F_UPDATE, "f = log_a - torch.logsumexp(g[None, :] - c / epsilon, dim=1)"),
            (G_UPDATE, "g = log_b - torch.logsumexp(f[:, None] - c / epsilon, dim=0)"),
            (PLAN, "return torch.exp(f[:, None] + g[None, :] - c / epsilon)"),
            why="the potentials divided by epsilon throughout (alpha = f / epsilon): the same iterations"),
    variant("sinkhorn-float64-inside", "sinkhorn",
            ("n, m = c.shape", "dtype, c = c.dtype, c.double()\n    n, m = c.shape"),
            (PLAN, "return torch.exp((f[:, None] + g[None, :] - c) / epsilon).to(dtype)"),
            why="iterates in float64 and returns the input's dtype"),
    variant("sinkhorn-manual-logsumexp", "sinkhorn",
            (F_UPDATE, "z = (g[None, :] - c) / epsilon\n"
                       "        top = z.amax(dim=1, keepdim=True)\n"
                       "        f = epsilon * log_a - epsilon * (top.squeeze(1) + torch.log(torch.exp(z - top).sum(dim=1)))"),
            why="a hand-written max-shifted logsumexp for the f update"),
]

MUTANTS = [*ALIGN_TO_WORDS, *DTW, *CROSS_ATTENTION, *INFO_NCE, *SINKHORN]
VARIANTS = [*ALIGN_TO_WORDS_VARIANTS, *DTW_VARIANTS, *CROSS_ATTENTION_VARIANTS, *INFO_NCE_VARIANTS,
            *SINKHORN_VARIANTS]
