"""Mutants and valid variants of solutions/optimization.py (see autograder/mutants/__init__.py)."""

from autograder.mutants import mutant, variant

KL_TERM = """    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.softmax(teacher_logits.detach() / t, dim=-1),
        reduction="batchmean",
    )"""
COMBINE = "return alpha * hard + (1.0 - alpha) * t * t * soft"
ACCUMULATE_LOOP = """    model.zero_grad(set_to_none=True)
    mean_loss = 0.0
    for (inputs, targets), n in zip(batches, sizes):
        loss = loss_fn(model(inputs), targets)
        (loss * (n / total)).backward()  # frees this micro-batch's graph before the next forward
        mean_loss += loss.item() * n / total
    return mean_loss"""
SCALED_BACKWARD = "(loss * (n / total)).backward()"
KEEP_DRAW = "keep = torch.rand(batch, len(names), generator=generator, device=device) >= p"
RESCUE_DRAW = "rescued = torch.randint(len(names), (int(all_dropped.sum()),), generator=generator, device=device)"
APPLY_MASK = "out[name] = x * mask.to(x.dtype)"
IMPROVED_MIN = "improved = value < self.best - self.min_delta"
IMPROVED_MAX = "improved = value > self.best + self.min_delta"
ON_IMPROVEMENT = "self.best, self.best_epoch, self.num_bad_epochs = value, self._epoch, 0"
STOP_RULE = "self.should_stop = not improved and self.num_bad_epochs >= self.patience\n        return self.should_stop"

MUTANTS = [
    # ------------------------------------------------------------------ distillation_loss
    mutant("distill-missing-t-squared", "distillation_loss",
           (COMBINE, "return alpha * hard + (1.0 - alpha) * soft"),
           feedback=r"without the T² factor", why="forgets the T² that keeps the soft gradients on scale"),
    mutant("distill-kl-direction-swapped", "distillation_loss",
           (KL_TERM, """    soft = F.kl_div(
        F.log_softmax(teacher_logits.detach() / t, dim=-1),
        F.softmax(student_logits / t, dim=-1),
        reduction="batchmean",
    )"""),
           feedback=r"KL direction swapped", why="passes the teacher as input and the student as target"),
    mutant("distill-student-softmax", "distillation_loss",
           ("F.log_softmax(student_logits / t, dim=-1)", "F.softmax(student_logits / t, dim=-1)"),
           feedback=r"softmax instead of its log_softmax", why="F.kl_div's input must be log-probabilities"),
    mutant("distill-teacher-without-temperature", "distillation_loss",
           ("F.softmax(teacher_logits.detach() / t, dim=-1)", "F.softmax(teacher_logits.detach(), dim=-1)"),
           feedback=r"teacher's softmax without the temperature", why="softens the student only"),
    mutant("distill-alpha-swapped", "distillation_loss",
           (COMBINE, "return (1.0 - alpha) * hard + alpha * t * t * soft"),
           feedback=r"alpha and 1 - alpha swapped", why="alpha weighs the soft term instead of the hard one"),
    mutant("distill-kl-reduction-mean", "distillation_loss",
           ('reduction="batchmean",', 'reduction="mean",'),
           feedback=r"reduction='mean'", why="torch's default-looking 'mean' also divides by the number of classes"),
    mutant("distill-ce-on-softened-logits", "distillation_loss",
           ("hard = F.cross_entropy(student_logits, labels)", "hard = F.cross_entropy(student_logits / t, labels)"),
           feedback=r"hard-label CE on softened logits", why="applies the temperature to the hard-label term too"),
    mutant("distill-teacher-not-detached", "distillation_loss",
           ("F.softmax(teacher_logits.detach() / t, dim=-1)", "F.softmax(teacher_logits / t, dim=-1)"),
           feedback=r"sends gradient to teacher_logits", why="the teacher's logits receive gradient"),
    # ------------------------------------------------------------------ accumulate_gradients
    mutant("accumulate-divide-by-number-of-batches", "accumulate_gradients",
           (SCALED_BACKWARD, "(loss / len(batches)).backward()"),
           feedback=r"plain average of the micro-batch means", why="divides by the number of micro-batches, not n_i / N"),
    mutant("accumulate-loss-not-scaled", "accumulate_gradients",
           (SCALED_BACKWARD, "loss.backward()"),
           feedback=r"SUM of the micro-batch means", why="backward on each micro-batch mean unscaled"),
    mutant("accumulate-no-zero-grad", "accumulate_gradients",
           ("    model.zero_grad(set_to_none=True)\n    mean_loss = 0.0\n", "    mean_loss = 0.0\n"),
           feedback=r"held ones from an earlier step", why="never clears the .grad left by an earlier step"),
    mutant("accumulate-zero-grad-inside-loop", "accumulate_gradients",
           ("    model.zero_grad(set_to_none=True)\n    mean_loss = 0.0\n    for (inputs, targets), n in zip(batches, sizes):\n",
            "    mean_loss = 0.0\n    for (inputs, targets), n in zip(batches, sizes):\n"
            "        model.zero_grad(set_to_none=True)\n"),
           feedback=r"last micro-batch's share only", why="zero_grad in the loop keeps only the last micro-batch"),
    mutant("accumulate-one-backward-at-the-end", "accumulate_gradients",
           (ACCUMULATE_LOOP, """    model.zero_grad(set_to_none=True)
    total_loss = sum(loss_fn(model(inputs), targets) * (n / total) for (inputs, targets), n in zip(batches, sizes))
    total_loss.backward()
    return total_loss.item()"""),
           feedback=r"backward on each micro-batch before the next forward",
           why="builds every micro-batch's graph, then one backward: the memory of the full batch"),
    mutant("accumulate-returns-average-of-means", "accumulate_gradients",
           ("mean_loss += loss.item() * n / total", "mean_loss += loss.item() / len(batches)"),
           feedback=r"returned loss .* plain average of the micro-batch means",
           why="right gradients, but reports the unweighted average of the micro-batch losses"),
    mutant("accumulate-returns-tensor", "accumulate_gradients",
           ("mean_loss += loss.item() * n / total", "mean_loss += loss.detach() * n / total"),
           feedback=r"expected a Python float", why="returns a 0-d tensor where a float is promised"),
    # ------------------------------------------------------------------ modality_dropout
    mutant("dropout-generator-ignored", "modality_dropout",
           (KEEP_DRAW, "keep = torch.rand(batch, len(names), device=device) >= p"),
           (RESCUE_DRAW, "rescued = torch.randint(len(names), (int(all_dropped.sum()),), device=device)"),
           feedback=r"same state gave different masks", why="draws from the global RNG whatever generator says"),
    mutant("dropout-rescue-from-global-rng", "modality_dropout",
           (RESCUE_DRAW, "rescued = torch.randint(len(names), (int(all_dropped.sum()),), device=device)"),
           feedback=r"same state gave different masks", why="forgets generator= on the second draw"),
    mutant("dropout-rescales-survivors", "modality_dropout",
           (APPLY_MASK, "out[name] = x * mask.to(x.dtype) / (1.0 - p)"),
           feedback=r"do not rescale", why="element-dropout habit: scales the kept modalities by 1/(1-p)"),
    mutant("dropout-no-rescue", "modality_dropout",
           ("    if all_dropped.any():\n", "    if False:  # rescue forgotten\n"),
           feedback=r"never loses all its inputs", why="a sample can lose all its modalities"),
    mutant("dropout-rescue-always-first", "modality_dropout",
           (RESCUE_DRAW, "rescued = torch.zeros(int(all_dropped.sum()), dtype=torch.long, device=device)"),
           feedback=r"uniformly", why="always rescues the first modality instead of a uniform choice"),
    mutant("dropout-keeps-with-probability-p", "modality_dropout",
           (KEEP_DRAW, "keep = torch.rand(batch, len(names), generator=generator, device=device) < p"),
           feedback=r"expected p - p\^M/M", why="p read as the keep probability"),
    mutant("dropout-active-at-eval", "modality_dropout",
           ("if not training or p == 0.0:", "if p == 0.0:"),
           feedback=r"training=False.*unchanged", why="ignores training=False"),
    mutant("dropout-one-draw-per-batch", "modality_dropout",
           (KEEP_DRAW, "keep = (torch.rand(1, len(names), generator=generator, device=device) >= p).repeat(batch, 1)"),
           feedback=r"dropped|independent|correlate|identical",
           why="one keep/drop draw shared by the whole batch instead of one per sample"),
    # ------------------------------------------------------------------ EarlyStopping
    mutant("early-stopping-count-not-reset", "EarlyStopping",
           (ON_IMPROVEMENT, "self.best, self.best_epoch = value, self._epoch"),
           feedback=r"restarts the count|num_bad_epochs", why="an improvement does not reset num_bad_epochs"),
    mutant("early-stopping-tie-improves", "EarlyStopping",
           (IMPROVED_MIN, "improved = value <= self.best - self.min_delta"),
           feedback=r"a tie is no improvement", why="<= where the rule says strictly better"),
    mutant("early-stopping-max-ignores-min-delta", "EarlyStopping",
           (IMPROVED_MAX, "improved = value > self.best"),
           feedback=r"mode='max'", why="min_delta only applied in mode 'min'"),
    mutant("early-stopping-stops-one-late", "EarlyStopping",
           ("self.num_bad_epochs >= self.patience", "self.num_bad_epochs > self.patience"),
           feedback=r"expected to stop at epoch", why="> patience: tolerates one bad epoch too many"),
    mutant("early-stopping-best-epoch-one-based", "EarlyStopping",
           ("        self._epoch = -1\n", "        self._epoch = 0\n"),
           feedback=r"best_epoch is \d+, expected", why="counts epochs from 1"),
    mutant("early-stopping-should-stop-not-kept", "EarlyStopping",
           (STOP_RULE, "return not improved and self.num_bad_epochs >= self.patience"),
           feedback=r"should_stop is False, expected True", why="returns the flag but never updates the attribute"),
    mutant("early-stopping-keras-wait-name", "EarlyStopping",
           ("        self.num_bad_epochs = 0\n", "        self.wait = 0\n"),
           (ON_IMPROVEMENT, "self.best, self.best_epoch, self.wait = value, self._epoch, 0"),
           ("self.num_bad_epochs += 1", "self.wait += 1"),
           ("self.num_bad_epochs >= self.patience", "self.wait >= self.patience"),
           feedback=r"no attribute 'num_bad_epochs'", why="Keras's name `wait` for the promised num_bad_epochs"),
    mutant("early-stopping-nan-improves", "EarlyStopping",
           (IMPROVED_MIN, "improved = not value >= self.best - self.min_delta"),
           feedback=r"NaN metric is a bad epoch", why="`not metric >= best` is True for NaN"),
    mutant("early-stopping-best-starts-at-zero", "EarlyStopping",
           ("self.best = math.inf if mode == \"min\" else -math.inf", "self.best = math.inf if mode == \"min\" else 0.0"),
           feedback=r"before any step: EarlyStopping.best is 0, expected -inf",
           why="starts an accuracy's best at 0 instead of -inf"),
]

VARIANTS = [
    variant("distill-manual-kl", "distillation_loss",
            (KL_TERM, """    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    p_teacher = F.softmax(teacher_logits.detach() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / t, dim=-1)
    soft = (p_teacher * (log_p_teacher - log_p_student)).sum(dim=-1).mean()"""),
            why="the KL written out: sum over classes, mean over the batch"),
    variant("distill-t-squared-first", "distillation_loss",
            (COMBINE, "return t**2 * (1.0 - alpha) * soft + alpha * hard"),
            why="another order of the terms"),
    variant("accumulate-numpy-float", "accumulate_gradients",
            ("import math\n", "import math\n\nimport numpy as np\n"),
            ("    return mean_loss\n", "    return np.float64(mean_loss)\n"),
            why="a numpy.float64 where a float is promised (it is a float subclass)"),
    variant("accumulate-tensor-sum-then-item", "accumulate_gradients",
            ("    mean_loss = 0.0\n", "    mean_loss = torch.zeros((), dtype=torch.float64)\n"),
            ("mean_loss += loss.item() * n / total", "mean_loss = mean_loss + loss.detach().double().cpu() * n / total"),
            ("    return mean_loss\n", "    return float(mean_loss)\n"),
            why="sums the loss as a detached tensor and converts once at the end"),
    variant("accumulate-grads-set-to-none-by-hand", "accumulate_gradients",
            ("    model.zero_grad(set_to_none=True)\n",
             "    for param in model.parameters():\n        param.grad = None\n"),
            why="clears .grad by hand"),
    variant("accumulate-scale-inside-loss", "accumulate_gradients",
            ("        loss = loss_fn(model(inputs), targets)\n        (loss * (n / total)).backward()",
             "        loss = loss_fn(model(inputs), targets)\n        scaled = loss * n / total\n        scaled.backward()"),
            why="scales before backward in another order"),
    variant("dropout-where-instead-of-multiply", "modality_dropout",
            (APPLY_MASK, "out[name] = torch.where(mask, x, torch.zeros_like(x))"),
            why="torch.where instead of multiplying by the mask"),
    variant("dropout-rescue-loop", "modality_dropout",
            ("    if all_dropped.any():\n        " + RESCUE_DRAW + "\n"
             "        keep[all_dropped.nonzero(as_tuple=True)[0], rescued] = True\n",
             "    for i in all_dropped.nonzero(as_tuple=True)[0].tolist():\n"
             "        j = int(torch.randint(len(names), (1,), generator=generator, device=device))\n"
             "        keep[i, j] = True\n"),
            why="rescues the all-dropped samples one by one (another draw order, same distribution)"),
    variant("early-stopping-explicit-branches", "EarlyStopping",
            (IMPROVED_MIN, "improved = (self.best - value) > self.min_delta"),
            (IMPROVED_MAX, "improved = (value - self.best) > self.min_delta"),
            why="the improvement written as a gain compared with min_delta (same on the graded grid)"),
    variant("early-stopping-epoch-from-count", "EarlyStopping",
            ("        self._epoch = -1\n", "        self._steps = 0\n"),
            ("        self._epoch += 1\n", "        self._steps += 1\n        self._epoch = self._steps - 1\n"),
            why="counts steps and derives the 0-based epoch"),
]
