# Exercise generated from solutions/optimization.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""Training tools for multimodal models: distillation, gradient accumulation, modality dropout, early stopping.

Each tool hides one convention that interviewers like to ask about and that papers state in
passing: where the T² of distillation goes, why unequal micro-batches need weights, what
"never drop every modality" means, and when patience runs out. The docstrings fix each one;
the graded checks hold them to it.

Bad input raises ValueError (or TypeError for a wrong type) naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------- knowledge distillation
def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Knowledge-distillation loss of Hinton, Vinyals & Dean (2015), as a scalar tensor.

    student_logits: (B, C) raw scores of the model being trained.
    teacher_logits: (B, C) raw scores of the teacher; treated as constants (no gradient reaches them).
    labels:         (B,) int64 class indices in [0, C).
    temperature:    T > 0; higher T gives softer teacher targets.
    alpha:          in [0, 1], the weight of the hard-label term.

        loss = alpha * CE(student_logits, labels)
             + (1 - alpha) * T² * KL( softmax(teacher_logits / T) || softmax(student_logits / T) )

    CE is the mean over the batch (F.cross_entropy's default). KL sums over classes and averages
    over the batch ("batchmean", which is the true KL; reduction="mean" would also divide by C).
    alpha = 1 is plain cross-entropy; alpha = 0 is pure distillation.
    Why T²: the gradient of the softened KL shrinks like 1/T², so the factor keeps the two terms'
    gradients on the same scale whatever T is.
    Hint: F.kl_div(input, target) expects `input` as log-probabilities (the student's) and
    `target` as probabilities (the teacher's), and computes KL(target || exp(input)).
    Returns a 0-d tensor that carries gradient to student_logits.
    Raises ValueError for temperature <= 0, alpha outside [0, 1], logits that are not (B, C) or
    differ in shape, or labels that are not (B,).
    """
    raise NotImplementedError('optimization: task distillation_loss — Knowledge-distillation loss of Hinton, Vinyals & Dean (2015), as a scalar tensor')


# ----------------------------------------------------------------------------- gradient accumulation
def accumulate_gradients(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> float:
    """Fill every parameter's .grad with the gradient of ONE large batch made of `batches`.

    model:   any nn.Module; called as model(inputs).
    loss_fn: loss_fn(outputs, targets) -> 0-d tensor, the MEAN of the per-sample losses of that
             micro-batch (e.g. nn.CrossEntropyLoss() with its default reduction="mean").
    batches: non-empty sequence of (inputs, targets) micro-batches, already on the model's device;
             inputs (n_i, ...), targets (n_i, ...), each n_i >= 1; sizes may differ.

    Afterwards each parameter's .grad equals the gradient of the mean loss over all
    N = sum(n_i) samples, exactly as if the batches had been concatenated: gradients already in
    .grad before the call are discarded, not added to. Does not step any optimiser.
    Returns that full-batch mean loss as a Python float.
    Run forward and backward one micro-batch at a time (that is the point: memory for one
    micro-batch only). Trap: with unequal sizes, averaging the micro-batch losses (dividing each
    by the number of micro-batches) is NOT the full-batch mean — weight each by n_i / N.
    Equivalence needs a model whose output for a sample does not depend on the rest of its batch
    (no BatchNorm in training mode) and no randomness (no dropout), or the same random draws.
    Raises ValueError for an empty `batches` or a micro-batch with 0 samples (or with different
    numbers of inputs and targets); TypeError when `batches` is not a list or tuple.
    """
    raise NotImplementedError("optimization: task accumulate_gradients — Fill every parameter's .grad with the gradient of ONE large batch made of `batches`")


# ----------------------------------------------------------------------------- modality dropout
def modality_dropout(
    features: Mapping[str, torch.Tensor],
    p: float,
    training: bool = True,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Drop whole modalities per sample, so a model learns to cope when one is missing.

    features:  {modality name: (B, ...) tensor}, at least one modality, all with the same B
               (e.g. {"image": (B, D_img), "text": (B, T, D_txt)}).
    p:         in [0, 1], the probability of drawing each modality of each sample as dropped.
    training:  False returns the features unchanged (the same tensors): identity at evaluation.
    generator: optional torch.Generator for the random draws (on the features' device);
               None uses torch's global generator.

    Rule, per sample: draw "dropped" independently for every modality with probability p. If
    every modality of a sample was drawn as dropped, keep one of them instead, chosen uniformly
    at random — a sample never loses all its inputs. So with M modalities each one is dropped
    with probability p - p**M / M; with M = 1 nothing is ever dropped.
    A dropped modality's features for that sample are set to zero (all of its (...) entries).
    Surviving modalities are NOT rescaled (unlike element dropout's 1/(1-p)): at test time a
    missing modality is also fed as zeros with the others unscaled, and training should see
    exactly that condition.
    Returns a new dict with the same keys, each tensor with its input's shape, dtype and device.
    Hint: build a (B, M) boolean keep-mask first; fix the rows that are all False; then multiply.
    Raises ValueError for p outside [0, 1], an empty dict, or modalities with different batch
    sizes; TypeError when features is not a dict of tensors.
    """
    raise NotImplementedError('optimization: task modality_dropout — Drop whole modalities per sample, so a model learns to cope when one is missing')


# ----------------------------------------------------------------------------- early stopping
class EarlyStopping:
    """Stop training when a validation metric has stopped improving.

    EarlyStopping(patience, min_delta=0.0, mode="min"); call `step(metric)` once per epoch.
    patience:  int >= 0, how many epochs in a row without improvement are tolerated.
    min_delta: float >= 0; an improvement must beat the best value by MORE than min_delta:
               mode "min": metric < best - min_delta;  mode "max": metric > best + min_delta.
    mode:      "min" for losses, "max" for accuracies.

    Attributes, kept up to date by `step`:
      best            best metric seen so far (+inf for "min", -inf for "max" before any step);
      best_epoch      0-based index of the `step` call that set `best` (-1 before any step);
      num_bad_epochs  epochs in a row without improvement since then;
      should_stop     the value `step` returned last (False before any step).
    A NaN metric is never an improvement (it counts as a bad epoch).
    Raises ValueError for patience < 0, min_delta < 0 or another mode; TypeError for a
    non-integer patience.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: str = "min"):
        """Check the arguments and set the attributes to their before-any-step values."""
        raise NotImplementedError('optimization: task EarlyStopping — Check the arguments and set the attributes to their before-any-step values')

    def step(self, metric: float) -> bool:
        """Record one epoch's metric; return True when training should stop now.

        Returns True when this epoch did not improve and `num_bad_epochs >= patience` (so
        patience=0 stops at the first epoch that does not improve, patience=2 after two in a
        row; an improving epoch never stops). The first finite metric always improves on the
        initial ±inf, and each improvement sets num_bad_epochs back to 0. Calls after a stop
        keep counting the same way; a training loop breaks out at the first True.
        """
        raise NotImplementedError("optimization: task EarlyStopping — Record one epoch's metric; return True when training should stop now")
