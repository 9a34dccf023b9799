# Exercise generated from solutions/adaptation.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
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
        raise NotImplementedError('adaptation: task LoRALinear — Freeze `base`, create lora_A and lora_B as documented, set `scaling`')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """base(x) plus the scaled low-rank update; (..., in_features) -> (..., out_features)."""
        raise NotImplementedError('adaptation: task LoRALinear — base(x) plus the scaled low-rank update; (..., in_features) -> (..., out_features)')

    def merge(self) -> nn.Linear:
        """A NEW nn.Linear with weight W + scaling * lora_B @ lora_A and the base's bias.

        It gives the same outputs as this layer (in eval mode: no dropout) at no extra cost at
        inference. This layer is left unchanged.
        """
        raise NotImplementedError("adaptation: task LoRALinear — A NEW nn.Linear with weight W + scaling * lora_B @ lora_A and the base's bias")


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
    raise NotImplementedError('adaptation: task apply_lora — Swap the named nn.Linear submodules of `model` for LoRALinear, in place; freeze everything else')


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
    raise NotImplementedError('adaptation: task quantize_absmax_blockwise — Symmetric absmax quantisation with one scale per block of `block_size` consecutive weights')


def dequantize_absmax_blockwise(codes: torch.Tensor, absmax: torch.Tensor, shape: Sequence[int],
                                bits: int = 4) -> torch.Tensor:
    """Inverse of quantize_absmax_blockwise: codes * absmax / q, padding dropped, reshaped to `shape`.

    codes (num_blocks, block_size) int8, absmax (num_blocks,), shape the original weight's shape,
    bits as at quantisation (q = 2**(bits - 1) - 1). Returns float32 of `shape`.
    Raises ValueError when the blocks hold fewer entries than `shape` needs.
    """
    raise NotImplementedError('adaptation: task dequantize_absmax_blockwise — Inverse of quantize_absmax_blockwise: codes * absmax / q, padding dropped, reshaped to `shape`')


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
    raise NotImplementedError("adaptation: task siglip_loss — SigLIP's pairwise sigmoid loss (Zhai et al., 2023) for a batch of n matching pairs")


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
    raise NotImplementedError("adaptation: task sequence_logprob — Sum of the next-token log-probabilities of each sequence's labelled tokens")


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
    raise NotImplementedError('adaptation: task dpo_loss — Direct Preference Optimisation loss (Rafailov et al., 2023) and the implicit rewards')
