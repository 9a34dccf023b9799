"""Assertions for graded checks, each failing with one line that names the property and the numbers.

"roc_auc differs from scikit-learn on 200 scores with ties: got 0.7125, expected 0.7250
 (max |diff| 1.2e-02, tolerance 1e-09)".
"""

from __future__ import annotations

import numpy as np

from autograder.student import StudentRaised


def ranking(scores: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """Each row's columns from best to worst: descending score, ties broken by lower id (default: column index)."""
    keys = np.broadcast_to(np.arange(scores.shape[-1]) if ids is None else ids, scores.shape)
    return np.lexsort((keys, -scores), axis=-1)


def best_relevant_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """0-based rank of each query's best relevant column under `ranking`; n for a query with none (a full sort)."""
    position = np.argsort(ranking(scores), axis=-1)  # the inverse permutation: where each column landed
    return np.where(relevant, position, scores.shape[-1]).min(axis=-1)


def close(actual, expected, what: str, *, atol: float = 1e-8, rtol: float = 1e-6) -> None:
    """Assert two numbers or arrays agree within atol + rtol·|expected|; NaN never agrees."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: got shape {a.shape}, expected {e.shape}")
    if not np.isfinite(a).all() and not np.array_equal(np.isfinite(a), np.isfinite(e)):
        raise AssertionError(f"{what}: got non-finite values where {_show(e)} was expected")
    finite = np.isfinite(e)
    if not np.array_equal(a[~finite], e[~finite], equal_nan=True):
        raise AssertionError(f"{what}: non-finite entries differ: got {_show(a)}, expected {_show(e)}")
    diff = np.abs(a[finite] - e[finite])
    limit = atol + rtol * np.abs(e[finite])
    if diff.size and not (diff <= limit).all():
        worst = int(np.argmax(diff - limit))
        raise AssertionError(
            f"{what}: got {_show(a)}, expected {_show(e)} "
            f"(max |diff| {diff.max():.1e} at entry {worst}, tolerance {limit[worst]:.0e})"
        )


def equal(actual, expected, what: str) -> None:
    """Assert exact equality of numbers, strings or integer/bool arrays."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or not np.array_equal(a, e):
        detail = ""
        if a.shape == e.shape and a.size > 1:
            bad = np.argwhere(a != e)
            detail = f" ({len(bad)} entries differ, first at {tuple(int(i) for i in bad[0])})"
        raise AssertionError(f"{what}: got {_show(a)}, expected {_show(e)}{detail}")


def raises_value_error(student, target: str, *args, case: str, **kwargs) -> None:
    """Assert the learner's function rejects bad input with ValueError (or a subclass)."""
    try:
        student.call(target, *args, **kwargs)
    except StudentRaised as exc:
        if exc.is_a("ValueError"):
            return
        raise AssertionError(f"{target.split('.')[-1]} on {case}: raised {exc.type_name}, expected ValueError") from None
    raise AssertionError(f"{target.split('.')[-1]} on {case}: returned normally, expected ValueError")


def probe_raises(student, probe: str, *args, case: str, errors=("ValueError",), **kwargs) -> None:
    """Assert the learner's code, run by `probe`, rejects bad input with one of `errors`."""
    what = probe.split(".")[-1]
    try:
        student.probe(probe, *args, **kwargs)
    except StudentRaised as exc:
        if any(exc.is_a(e) for e in errors):
            return
        raise AssertionError(f"{what} on {case}: raised {exc.type_name}, expected {' or '.join(errors)}") from None
    raise AssertionError(f"{what} on {case}: returned normally, expected {' or '.join(errors)}")


def gradients_fresh(cosine: np.ndarray, ratio: np.ndarray, what: str) -> None:
    """Every optimizer step found the gradients backward() computed for its own batch (probes.training.GradientWatch:
    cosine 1 and norm ratio 1; clipping only lowers the ratio); else name the first step where they piled up."""
    fresh = (cosine > 1 - 1e-4) & (ratio < 1 + 1e-4)
    if not fresh.all():
        step = int(np.argmin(fresh))
        raise AssertionError(f"{what}: at optimizer step {step + 1} the gradients are not the ones backward() computed "
                             f"for that step's batch (cosine {cosine[step]:.3f}, norm ratio {ratio[step]:.2f}): zero "
                             "the gradients once per step, before backward()")


def _show(x: np.ndarray, limit: int = 6) -> str:
    x = np.asarray(x)
    if x.ndim == 0:
        v = x.item()
        return f"{v:.6g}" if isinstance(v, float) else repr(v)
    flat = x.ravel()
    body = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat[:limit].tolist())
    return f"[{body}{', ...' if flat.size > limit else ''}] (shape {x.shape})"
