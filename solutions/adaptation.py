"""Adapting a big multimodal model cheaply: LoRA, 4-bit blockwise weights, SigLIP's loss, DPO.

Each piece is a convention that papers state once and interviewers ask about:

* LoRA       Hu et al. (2021), as microsoft/LoRA's loralib: B starts at zero so the adapted layer
             equals the base layer at initialisation; the update is scaled by alpha / rank.
* absmax     The blockwise absmax quantisation behind bitsandbytes and QLoRA (Dettmers et al.):
             one scale per block of consecutive weights. QLoRA's NF4 uses 16 normal-quantile
             levels; this exercise uses the plain symmetric integer grid, so the error bound is exact.
* SigLIP     Zhai et al. (2023), as big_vision: a sigmoid loss on every image-text pair, no softmax.
* DPO        Rafailov et al. (2023), as eric-mitchell/direct-preference-optimization.

Bad input raises ValueError (or TypeError for a wrong type) naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- LoRA
class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (LoRA).

    LoRALinear(base, rank, alpha, dropout=0.0):
      base:    the nn.Linear(in_features, out_features) to adapt; kept as `self.base` and frozen
               (requires_grad False on its weight and bias).
      rank:    r >= 1;  alpha: > 0, the scaling numerator;  dropout: in [0, 1), applied to the
               input of the low-rank path only (loralib's lora_dropout).
    Parameters, named as loralib and PEFT name them:
      lora_A   (r, in_features), initialised with nn.init.kaiming_uniform_(a=math.sqrt(5)),
               the default init of an nn.Linear weight (loralib);
      lora_B   (out_features, r), initialised to ZEROS, so the layer equals `base` at initialisation.
    Attribute `scaling` = alpha / r (not alpha: with alpha fixed, changing r then changes the
    update's size less, which is why papers tune alpha once and sweep r).
        forward(x) = base(x) + scaling * dropout(x) @ lora_A.T @ lora_B.T      for x of shape (..., in)
    The parameters live on the base layer's device and dtype.
    Raises ValueError for rank < 1, alpha <= 0 or dropout outside [0, 1); TypeError when base is
    not an nn.Linear.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        """Freeze `base`, create lora_A and lora_B as documented, set `scaling`."""
        super().__init__()
        ### BEGIN SOLUTION
        ### HINT 1
        # LoRA: out = base(x) + (alpha / r) * x A^T B^T with the base frozen. B starts at ZEROS and A
        # random (kaiming_uniform_(a=sqrt(5))): the layer equals the base at init, yet B still gets a
        # gradient. Swapping the roles or making both random breaks that. The scale is alpha / r, not alpha.
        ### HINT 2
        # __init__: check the arguments; keep base as self.base and requires_grad_(False) on its parameters;
        # lora_A = nn.Parameter of shape (r, in_features), lora_B = nn.Parameter of zeros (out_features, r),
        # both on base.weight's device and dtype; initialise lora_A; scaling = alpha / rank;
        # self.dropout = nn.Dropout(p) (nn.Identity() when p is 0).
        ### HINT 3
        # self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=..., dtype=...))
        # nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5));  self.scaling = alpha / rank
        ### END HINTS
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear, got {type(base).__name__}")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.base = base
        for param in self.base.parameters():
            param.requires_grad_(False)
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=weight.device, dtype=weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=weight.device, dtype=weight.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.rank, self.alpha = rank, float(alpha)
        self.scaling = float(alpha) / rank
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) plus the scaled low-rank update; (..., in_features) -> (..., out_features)."""
        ### BEGIN SOLUTION
        ### HINT 1
        # Dropout acts on the INPUT of the low-rank path only, never on base(x) or on the sum.
        ### HINT 2
        # forward: dropout(x) (..., in) @ A^T -> (..., r), then @ B^T -> (..., out);
        # add scaling times that to base(x).
        ### HINT 3
        # low_rank = self.dropout(x) @ self.lora_A.T @ self.lora_B.T      # (..., out)
        ### END HINTS
        update = self.dropout(x) @ self.lora_A.transpose(0, 1) @ self.lora_B.transpose(0, 1)
        return self.base(x) + self.scaling * update
        ### END SOLUTION

    def merge(self) -> nn.Linear:
        """A NEW nn.Linear with weight W + scaling * lora_B @ lora_A and the base's bias.

        It gives the same outputs as this layer (in eval mode: no dropout) at no extra cost at
        inference. This layer is left unchanged.
        """
        ### BEGIN SOLUTION
        ### HINT 1
        # merge() returns a NEW nn.Linear; the update B @ A is (out, in) like W (A^T B^T is transposed),
        # it carries the same scaling, and this layer's own base weight stays as it was.
        ### HINT 2
        # merge: nn.Linear(in, out, bias=base.bias is not None, same device and dtype); under torch.no_grad()
        # copy W + scaling * (B @ A) into its weight and the base's bias into its bias; return it.
        ### HINT 3
        # new_weight = W + self.scaling * (self.lora_B @ self.lora_A)    # (out, r) @ (r, in) = (out, in)
        ### END HINTS
        base = self.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           device=base.weight.device, dtype=base.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(base.weight + self.scaling * (self.lora_B @ self.lora_A))
            if base.bias is not None:
                merged.bias.copy_(base.bias)
        return merged
        ### END SOLUTION


def apply_lora(model: nn.Module, target_module_names: Sequence[str], rank: int, alpha: float,
               dropout: float = 0.0) -> tuple[int, int]:
    """Swap the named nn.Linear submodules of `model` for LoRALinear, in place; freeze everything else.

    target_module_names: names as `model.named_modules()` gives them ("encoder.q_proj", "head");
                         each must name an nn.Linear.
    Afterwards exactly the lora_A and lora_B parameters of the new layers have requires_grad True;
    every other parameter of the model (the wrapped bases included) has it False.
    Returns (trainable, total): the number of trainable parameter entries and of all parameter
    entries of the model after the swap (PEFT's print_trainable_parameters), so trainable / total
    is the trainable share.
    Raises ValueError for an empty list, an unknown name, or a name that is not an nn.Linear.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # Freeze EVERY parameter of the model first, then swap the targets: the new LoRALinear layers bring
    # fresh trainable lora_A and lora_B. setattr(model, "encoder.q_proj", layer) does not replace a nested
    # module (it adds an attribute with a dot in its name): set the child on its parent module. The counts
    # are parameter ENTRIES (p.numel()), taken after the swap; total includes the trainable ones.
    ### HINT 2
    # 1. Validate: a non-empty list; every name in dict(model.named_modules()) and an nn.Linear.
    # 2. requires_grad_(False) on all of model.parameters().
    # 3. For each name: parent_name, _, child = name.rpartition(".");
    #    parent = model.get_submodule(parent_name) (the model itself when parent_name is "");
    #    setattr(parent, child, LoRALinear(old_layer, rank, alpha, dropout)).
    # 4. trainable = sum of numel over the parameters with requires_grad; total = over all; return both.
    ### HINT 3
    # parent = model.get_submodule(parent_name) if parent_name else model
    # setattr(parent, child, LoRALinear(modules[name], rank, alpha, dropout))
    ### END HINTS
    if isinstance(target_module_names, str) or not isinstance(target_module_names, Sequence):
        raise TypeError("target_module_names must be a list of module names")
    if len(target_module_names) == 0:
        raise ValueError("target_module_names is empty")
    modules = dict(model.named_modules())
    for name in target_module_names:
        if name not in modules:
            raise ValueError(f"model has no submodule {name!r}")
        if not isinstance(modules[name], nn.Linear):
            raise ValueError(f"{name!r} is a {type(modules[name]).__name__}, not an nn.Linear")
    for param in model.parameters():
        param.requires_grad_(False)
    for name in target_module_names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(modules[name], rank, alpha, dropout))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
    ### END SOLUTION


# ----------------------------------------------------------------------------- 4-bit blockwise absmax
def quantize_absmax_blockwise(weight: torch.Tensor, block_size: int = 64, bits: int = 4
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric absmax quantisation with one scale per block of `block_size` consecutive weights.

    weight: any shape; its entries are taken in row-major order (weight.reshape(-1)) and cut into
            blocks of block_size; the last block is padded with zeros when the size does not divide.
    bits:   2..8; codes are integers in [-q, q] with q = 2**(bits - 1) - 1 (7 for 4 bits: the
            symmetric grid leaves the code -8 unused).
    Per block b: absmax_b = max |w| over the block;
        code = round(w / absmax_b * q)   (torch.round, half to even), clamped to [-q, q];
    a block of zeros gets absmax 0 and codes 0.
    Returns (codes, absmax): codes int8 of shape (num_blocks, block_size) (one code per byte here;
    real 4-bit storage packs two per byte), absmax float32 of shape (num_blocks,) — what
    bitsandbytes stores (QLoRA then quantises these absmax values again: double quantisation).
    Error bound, per entry of block b: |w - dequantised w| <= absmax_b / (2 q).
    Raises ValueError for an empty weight, block_size < 1, bits outside 2..8 or non-finite weights.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # One scale per block of block_size CONSECUTIVE entries of weight.reshape(-1) (row-major: not along
    # columns, not one global scale). Signed symmetric codes: q = 2**(bits - 1) - 1 (7 for 4 bits), not
    # 2**bits - 1. Round to nearest (torch.round), not toward zero as an int cast does. Dequantising
    # (dequantize_absmax_blockwise, graded with this task) divides by q again: w_hat = code * absmax / q.
    ### HINT 2
    # 1. Validate; q = 2 ** (bits - 1) - 1; flat = weight.detach().reshape(-1) as float32.
    # 2. Pad flat with (-numel) % block_size zeros (F.pad) and reshape to (num_blocks, block_size).
    # 3. absmax = max of |blocks| along dim 1 -> (num_blocks,); divide by 1 instead where it is 0.
    # 4. codes = round(blocks / absmax[:, None] * q), clamped to [-q, q], as int8; return (codes, absmax).
    # Dequantise: codes as float32 * absmax[:, None] / q, flatten, keep the first prod(shape), reshape.
    ### HINT 3
    # scale = torch.where(absmax > 0, absmax, torch.ones_like(absmax))     # 0/0 guard for all-zero blocks
    # codes = torch.round(blocks / scale[:, None] * q).clamp(-q, q).to(torch.int8)   # (blocks, block_size)
    ### END HINTS
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a tensor, got {type(weight).__name__}")
    if weight.numel() == 0:
        raise ValueError("weight is empty")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an integer in 2..8, got {bits!r}")
    if not torch.isfinite(weight).all():
        raise ValueError("weight holds NaN or infinity")
    q = 2 ** (bits - 1) - 1
    flat = weight.detach().reshape(-1).to(torch.float32)
    pad = (-flat.numel()) % block_size
    blocks = F.pad(flat, (0, pad)).reshape(-1, block_size)
    absmax = blocks.abs().amax(dim=1)
    safe = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    codes = torch.round(blocks / safe[:, None] * q).clamp(-q, q)
    return codes.to(torch.int8), absmax
    ### END SOLUTION


def dequantize_absmax_blockwise(codes: torch.Tensor, absmax: torch.Tensor, shape: Sequence[int],
                                bits: int = 4) -> torch.Tensor:
    """Inverse of quantize_absmax_blockwise: codes * absmax / q, padding dropped, reshaped to `shape`.

    codes (num_blocks, block_size) int8, absmax (num_blocks,), shape the original weight's shape,
    bits as at quantisation (q = 2**(bits - 1) - 1). Returns float32 of `shape`.
    Raises ValueError when the blocks hold fewer entries than `shape` needs.
    """
    ### BEGIN SOLUTION
    q = 2 ** (bits - 1) - 1
    shape = tuple(int(s) for s in shape)
    count = math.prod(shape)
    if codes.ndim != 2 or absmax.shape != codes.shape[:1] or codes.numel() < count:
        raise ValueError(f"codes {tuple(codes.shape)} and absmax {tuple(absmax.shape)} do not hold a weight of "
                         f"shape {shape}")
    values = codes.to(torch.float32) * (absmax.to(torch.float32)[:, None] / q)
    return values.reshape(-1)[:count].reshape(shape)
    ### END SOLUTION


# ----------------------------------------------------------------------------- SigLIP
SIGLIP_INIT_LOG_TEMPERATURE = math.log(10.0)  # the published initialisation: temperature 10
SIGLIP_INIT_BIAS = -10.0


def siglip_loss(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor,
                log_temperature: float | torch.Tensor = SIGLIP_INIT_LOG_TEMPERATURE,
                bias: float | torch.Tensor = SIGLIP_INIT_BIAS) -> torch.Tensor:
    """SigLIP's pairwise sigmoid loss (Zhai et al., 2023) for a batch of n matching pairs.

    image_embeddings, text_embeddings: (n, d); row i of each is a matching pair. L2-normalised
    inside (along d). log_temperature t' and bias b: floats or learnable 0-d tensors; the
    published initialisation is t' = log 10 and b = -10 (the defaults), so that the loss starts
    near the log-prior of the heavy negative imbalance instead of far from it.
        logits_ij = exp(t') * <x_i, y_j> + b,     z_ij = +1 if i == j else -1
        loss = -(1 / n) * sum over ALL i, j of log sigmoid(z_ij * logits_ij)
    Every pair is an independent binary problem: no softmax over the batch, so no global
    normalisation across devices (big_vision divides by n, not n², as here).
    Returns a 0-d tensor that carries gradient to the embeddings and to t' and b when they are tensors.
    Raises ValueError for embeddings that are not (n, d) of one shape or n = 0.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # Every (image i, text j) pair is its own binary problem: a sigmoid, no softmax over the batch (that
    # is CLIP). The labels are SIGNS, z = +1 on the diagonal and -1 elsewhere (0/1 labels stop pushing the
    # negatives down). L2-normalise both sides, use exp(t') as the temperature, and divide the sum over
    # all n * n pairs by n (not the mean over n * n).
    ### HINT 2
    # 1. Validate: both (n, d) of one shape, n > 0.
    # 2. x, y = F.normalize(..., dim=-1) of each; t, b = torch.as_tensor(...) on x's dtype and device.
    # 3. logits = exp(t) * x @ y^T + b, shape (n, n).
    # 4. signs = 2 * eye(n) - 1: (n, n), +1 on the diagonal, -1 off it.
    # 5. loss = minus the sum of log sigmoid(signs * logits), divided by n: a 0-d tensor that keeps the
    #    graph to the embeddings, t and b (use torch ops, never .item()).
    ### HINT 3
    # logits = t.exp() * x @ y.T + b                  # (n, n)
    # loss = -F.logsigmoid(signs * logits).sum() / n
    ### END HINTS
    if not isinstance(image_embeddings, torch.Tensor) or not isinstance(text_embeddings, torch.Tensor):
        raise TypeError("image_embeddings and text_embeddings must be tensors")
    if image_embeddings.ndim != 2 or image_embeddings.shape != text_embeddings.shape or image_embeddings.shape[0] == 0:
        raise ValueError(f"image_embeddings and text_embeddings must be (n, d) of one shape, got "
                         f"{tuple(image_embeddings.shape)} and {tuple(text_embeddings.shape)}")
    x = F.normalize(image_embeddings, dim=-1)
    y = F.normalize(text_embeddings, dim=-1)
    t = torch.as_tensor(log_temperature, dtype=x.dtype, device=x.device)
    b = torch.as_tensor(bias, dtype=x.dtype, device=x.device)
    logits = t.exp() * x @ y.transpose(0, 1) + b
    n = x.shape[0]
    signs = 2 * torch.eye(n, dtype=x.dtype, device=x.device) - 1
    return -F.logsigmoid(signs * logits).sum() / n
    ### END SOLUTION


# ----------------------------------------------------------------------------- DPO
def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of the next-token log-probabilities of each sequence's labelled tokens.

    logits: (B, T, V), position t scores the token at position t + 1 (a causal LM's output).
    labels: (B, T) int64 token ids; -100 marks positions that do not count (prompt, padding).
    As the DPO reference code (_get_batch_logps): shift, labels[:, 1:] against logits[:, :-1],
    then sum log_softmax(logits)[label] over the positions whose label is not -100.
    Returns (B,) with gradient to logits.
    Raises ValueError when the shapes do not fit ((B, T, V) and (B, T), T >= 2).
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # A causal LM's logits at position t score the token at t + 1: shift before gathering (labels[:, 1:]
    # against logits[:, :-1]). Gather from log_softmax, not from the raw logits, and SUM (not average) over
    # the positions whose label is not -100; those positions must add nothing.
    ### HINT 2
    # 1. Check logits (B, T, V), labels (B, T), T >= 2.
    # 2. targets = labels[:, 1:] (B, T-1); scores = logits[:, :-1] (B, T-1, V); mask = targets != -100.
    # 3. scores.log_softmax(-1), gathered along V at the targets -> (B, T-1); replace -100 by a valid id
    #    (e.g. 0) before gathering, or the index is out of range.
    # 4. Zero the masked positions and sum over time -> (B,).
    ### HINT 3
    # safe_targets = torch.where(mask, targets, 0).unsqueeze(-1)                    # (B, T-1, 1)
    # token_logp = torch.gather(scores.log_softmax(-1), 2, safe_targets).squeeze(-1)  # (B, T-1)
    ### END HINTS
    if logits.ndim != 3 or labels.shape != logits.shape[:2] or logits.shape[1] < 2:
        raise ValueError(f"logits must be (B, T, V) and labels (B, T) with T >= 2, got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")
    targets = labels[:, 1:]
    scores = logits[:, :-1]
    mask = targets != -100
    picked = torch.gather(scores.log_softmax(-1), 2, torch.where(mask, targets, 0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)
    ### END SOLUTION


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             reference_chosen_logps: torch.Tensor, reference_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Direct Preference Optimisation loss (Rafailov et al., 2023) and the implicit rewards.

    All four inputs: (B,) sequence log-probabilities (sequence_logprob) of the chosen and rejected
    responses under the policy being trained and under the frozen reference model.
        h = (pi_chosen - pi_rejected) - (ref_chosen - ref_rejected)
        loss = mean over the batch of -log sigmoid(beta * h)
        chosen_rewards = beta * (pi_chosen - ref_chosen),  rejected_rewards = beta * (pi_rejected - ref_rejected)
    The rewards are detached (they are for logging: reward accuracy and margin). The reference
    terms are constants: no gradient reaches them. beta > 0: a smaller beta lets the policy move
    further from the reference.
    Returns (loss 0-d tensor, chosen_rewards (B,), rejected_rewards (B,)).
    Raises ValueError for beta <= 0 or inputs that are not four (B,) tensors of one shape.
    """
    ### BEGIN SOLUTION
    ### HINT 1
    # DPO: loss = mean over the batch of -log sigmoid(beta * h), with h the policy's chosen-minus-rejected
    # log-ratio MINUS the reference's. Keep beta inside the sigmoid, subtract (not add) the reference term,
    # take the mean (not the sum), detach the reference inputs (a frozen model), and scale the logged
    # rewards by beta as well.
    ### HINT 2
    # 1. Validate: four (B,) tensors of one shape, beta > 0.
    # 2. Detach the two reference tensors.
    # 3. policy_logratio = pi_chosen - pi_rejected; reference_logratio = ref_chosen - ref_rejected (B,).
    # 4. loss = mean of -logsigmoid(beta * (policy_logratio - reference_logratio)) -> 0-d.
    # 5. chosen_rewards = beta * (pi_chosen - ref_chosen), rejected_rewards likewise; .detach() both (B,).
    ### HINT 3
    # loss = -F.logsigmoid(beta * (pi_logratio - ref_logratio)).mean()
    # chosen_rewards = beta * (pi_chosen - ref_chosen).detach()
    ### END HINTS
    inputs = (policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps)
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError("the four log-probabilities must be tensors")
    if policy_chosen_logps.ndim != 1 or any(t.shape != policy_chosen_logps.shape for t in inputs):
        raise ValueError("the four log-probabilities must be (B,) tensors of one shape")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a number > 0, got {beta!r}")
    reference_chosen_logps = reference_chosen_logps.detach()
    reference_rejected_logps = reference_rejected_logps.detach()
    policy_logratio = policy_chosen_logps - policy_rejected_logps
    reference_logratio = reference_chosen_logps - reference_rejected_logps
    loss = -F.logsigmoid(beta * (policy_logratio - reference_logratio)).mean()
    chosen_rewards = beta * (policy_chosen_logps - reference_chosen_logps).detach()
    rejected_rewards = beta * (policy_rejected_logps - reference_rejected_logps).detach()
    return loss, chosen_rewards, rejected_rewards
    ### END SOLUTION
