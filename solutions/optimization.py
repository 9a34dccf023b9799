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
    ### BEGIN SOLUTION
    ### HINT 1
    # Hinton's KD: alpha·CE(raw logits) + (1 - alpha)·T²·KL(teacher_T || student_T), both softened by T.
    # Traps: F.kl_div's input is the STUDENT's log_softmax, its target the teacher's softmax; reduction
    # "batchmean" (not "mean"); keep the T²; detach the teacher; no temperature in the hard CE.
    ### HINT 2
    # 1. validate: logits (B, C) of equal shape, labels (B,), T > 0, alpha in [0, 1]
    # 2. hard = cross-entropy of the unsoftened student logits with the labels
    # 3. student log-probs and (detached) teacher probs, both of logits / T over the class axis
    # 4. soft = KL summed over classes, averaged over the batch
    # 5. alpha weighs the hard term, (1 - alpha) · T² the soft one; return the 0-d tensor
    ### HINT 3
    # log_p = F.log_softmax(student_logits / t, dim=-1); q = F.softmax(teacher_logits.detach() / t, dim=-1)
    # soft = F.kl_div(log_p, q, reduction="batchmean");  loss = alpha * hard + (1 - alpha) * t * t * soft
    ### END HINTS
    if not isinstance(student_logits, torch.Tensor) or not isinstance(teacher_logits, torch.Tensor):
        raise TypeError("student_logits and teacher_logits must be torch tensors")
    if student_logits.ndim != 2:
        raise ValueError(f"student_logits must be (B, C), got shape {tuple(student_logits.shape)}")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher_logits must have the shape of student_logits {tuple(student_logits.shape)}, "
                         f"got {tuple(teacher_logits.shape)}")
    if not isinstance(labels, torch.Tensor) or labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must be a ({student_logits.shape[0]},) tensor of class indices")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    t = float(temperature)
    hard = F.cross_entropy(student_logits, labels)
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.softmax(teacher_logits.detach() / t, dim=-1),
        reduction="batchmean",
    )
    return alpha * hard + (1.0 - alpha) * t * t * soft
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # backward() ADDS into .grad, so run one backward per micro-batch, each MEAN loss scaled by n_i / N: the
    # sum is then the full-batch mean's gradient. Traps: dividing by the number of micro-batches, zeroing
    # .grad inside the loop (or never), one backward after all forwards (the memory of the full batch).
    ### HINT 2
    # 1. validate: list/tuple, non-empty, each (inputs, targets) with equal lengths >= 1; sizes n_i
    # 2. N = sum(n_i); clear the old gradients ONCE, before the loop
    # 3. per micro-batch: loss = loss_fn(model(inputs), targets); backward on loss * n_i / N
    # 4. add loss.item() * n_i / N to a running total; return it as a Python float (not a tensor)
    ### HINT 3
    # (loss * (n / total)).backward()
    # mean_loss += loss.item() * n / total
    ### END HINTS
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Sequence):
        raise TypeError("batches must be a sequence (list or tuple) of (inputs, targets) pairs")
    if len(batches) == 0:
        raise ValueError("batches is empty: give at least one (inputs, targets) micro-batch")
    sizes = []
    for i, batch in enumerate(batches):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(f"batches[{i}] must be an (inputs, targets) pair")
        inputs, targets = batch
        if len(inputs) == 0 or len(inputs) != len(targets):
            raise ValueError(f"batches[{i}] has {len(inputs)} inputs and {len(targets)} targets: "
                             "each micro-batch needs the same number >= 1 of both")
        sizes.append(len(inputs))
    total = sum(sizes)
    model.zero_grad(set_to_none=True)
    mean_loss = 0.0
    for (inputs, targets), n in zip(batches, sizes):
        loss = loss_fn(model(inputs), targets)
        (loss * (n / total)).backward()  # frees this micro-batch's graph before the next forward
        mean_loss += loss.item() * n / total
    return mean_loss
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    ### HINT 1
    # Drop WHOLE modalities per sample with probability p, but a sample never loses all of them: when every
    # draw says "drop", keep one chosen uniformly. Traps: no 1/(1-p) rescaling, identity when training is
    # False, one draw per sample (not per batch), and EVERY random draw uses `generator`.
    ### HINT 2
    # 1. validate; names = list(features); B = first tensor's shape[0]; not training -> dict(features)
    # 2. keep = uniform (B, M) draws >= p: bool, True = kept (so p is the DROP probability)
    # 3. rows with no True: draw a random column index per such row (torch.randint, generator=...) and set it
    # 4. per modality j: keep[:, j] reshaped to (B, 1, ..., 1), cast to x.dtype, times x
    ### HINT 3
    # keep = torch.rand(batch, len(names), generator=generator, device=device) >= p
    # keep[all_dropped.nonzero(as_tuple=True)[0], rescued] = True
    ### END HINTS
    if not isinstance(features, Mapping):
        raise TypeError(f"features must be a dict of tensors, got {type(features).__name__}")
    if len(features) == 0:
        raise ValueError("features is empty: give at least one modality")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    names = list(features)
    tensors = [features[k] for k in names]
    if not all(isinstance(x, torch.Tensor) and x.ndim >= 1 for x in tensors):
        raise TypeError("every value of features must be a tensor of shape (B, ...)")
    batch = tensors[0].shape[0]
    if any(x.shape[0] != batch for x in tensors):
        raise ValueError(f"every modality in features needs the same batch size; got "
                         f"{ {k: x.shape[0] for k, x in zip(names, tensors)} }")
    if not training or p == 0.0:
        return dict(features)
    device = tensors[0].device
    keep = torch.rand(batch, len(names), generator=generator, device=device) >= p
    all_dropped = ~keep.any(dim=1)
    if all_dropped.any():
        rescued = torch.randint(len(names), (int(all_dropped.sum()),), generator=generator, device=device)
        keep[all_dropped.nonzero(as_tuple=True)[0], rescued] = True
    out = {}
    for j, (name, x) in enumerate(zip(names, tensors)):
        mask = keep[:, j].reshape(batch, *([1] * (x.ndim - 1)))
        out[name] = x * mask.to(x.dtype)
    return out
    ### END SOLUTION


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
        ### BEGIN SOLUTION
        ### HINT 1
        # Before any step: best = +inf for "min", -inf for "max" (never 0), best_epoch = -1,
        # num_bad_epochs = 0 (that exact name, not Keras's `wait`), should_stop = False.
        ### HINT 2
        # __init__: validate patience (int, >= 0), min_delta >= 0 and mode; store them; set the
        # attributes above and an epoch counter at -1 so the first step is epoch 0.
        ### HINT 3
        # self.best = math.inf if mode == "min" else -math.inf
        ### END HINTS
        if isinstance(patience, bool) or not isinstance(patience, int):
            raise TypeError(f"patience must be an int, got {type(patience).__name__}")
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta, self.mode = patience, float(min_delta), mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.num_bad_epochs = 0
        self.should_stop = False
        self._epoch = -1
        ### END SOLUTION

    def step(self, metric: float) -> bool:
        """Record one epoch's metric; return True when training should stop now.

        Returns True when this epoch did not improve and `num_bad_epochs >= patience` (so
        patience=0 stops at the first epoch that does not improve, patience=2 after two in a
        row; an improving epoch never stops). The first finite metric always improves on the
        initial ±inf, and each improvement sets num_bad_epochs back to 0. Calls after a stop
        keep counting the same way; a training loop breaks out at the first True.
        """
        ### BEGIN SOLUTION
        ### HINT 1
        # An improvement must be STRICTLY better by more than min_delta, in both modes; NaN never improves
        # (write `improved = value < ...`, not `not value >= ...`). An improvement resets the bad count.
        ### HINT 2
        # step: 1. epoch += 1 (0-based)
        # 2. improved = value < best - min_delta ("min") or value > best + min_delta ("max")
        # 3. if improved: best, best_epoch, num_bad_epochs = value, epoch, 0; else num_bad_epochs += 1
        # 4. should_stop = not improved and num_bad_epochs >= patience (>=, not >); store it, return it
        ### HINT 3
        # self.should_stop = not improved and self.num_bad_epochs >= self.patience
        ### END HINTS
        value = float(metric)
        self._epoch += 1
        if self.mode == "min":
            improved = value < self.best - self.min_delta
        else:
            improved = value > self.best + self.min_delta
        if improved:  # False for NaN: every comparison with NaN is False
            self.best, self.best_epoch, self.num_bad_epochs = value, self._epoch, 0
        else:
            self.num_bad_epochs += 1
        self.should_stop = not improved and self.num_bad_epochs >= self.patience
        return self.should_stop
        ### END SOLUTION
