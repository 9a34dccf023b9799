"""Project tests for the fusion and alignment topics beyond grading: the XOR data generator, the
reference solutions against the libraries the graded checks cannot afford to import (tslearn).
Grading solutions/ (100%) and exercises/ (0%) is covered by tests/test_grading_contract.py."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mmprep.data.xor import GREEN_ID, PAD_ID, RED_ID, make_xor_task
from tests.conftest import ROOT, TEST_SEED


def load_solution(topic: str):
    spec = importlib.util.spec_from_file_location(f"_solution_{topic}", ROOT / "solutions" / f"{topic}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- XOR data
def test_xor_task_is_deterministic_per_seed():
    a, b, c = make_xor_task(50, 7), make_xor_task(50, 7), make_xor_task(50, 8)
    for field in ("images", "tokens", "lengths", "labels"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.images, c.images)


def test_xor_task_structure():
    task = make_xor_task(400, TEST_SEED, image_size=12, vocab_size=15, min_length=2, max_length=6)
    assert task.images.shape == (400, 3, 12, 12) and task.images.dtype == np.float32
    assert task.tokens.shape == (400, int(task.lengths.max())) and task.tokens.dtype == np.int64
    np.testing.assert_array_equal(task.labels, task.image_bit ^ task.text_bit)
    for tokens, length, bit in zip(task.tokens, task.lengths, task.text_bit, strict=True):
        assert (tokens[length:] == PAD_ID).all() and (tokens[:length] != PAD_ID).all()
        colours = tokens[np.isin(tokens, (RED_ID, GREEN_ID))]
        assert colours.tolist() == [GREEN_ID if bit else RED_ID]
    # the square's colour is visible in the channel means; each property alone says nothing about the label
    green_minus_red = task.images[:, 1].mean(axis=(1, 2)) - task.images[:, 0].mean(axis=(1, 2))
    assert ((green_minus_red > 0) == task.image_bit.astype(bool)).mean() > 0.97
    for bit in (task.image_bit, task.text_bit):
        assert abs(np.corrcoef(bit, task.labels)[0, 1]) < 0.15


def test_xor_task_rejects_bad_arguments():
    for kwargs in ({"n": 0}, {"n": 5, "vocab_size": 3}, {"n": 5, "min_length": 4, "max_length": 2}, {"n": 5, "image_size": 4}):
        with pytest.raises(ValueError):
            make_xor_task(seed=0, **kwargs)


# ----------------------------------------------------------------------------- solutions vs libraries
def test_dtw_solution_matches_tslearn_paths(monkeypatch):
    # tslearn's DTW is numba code, compiled on first use (~20 s of CPU); run as plain Python, the same code checks
    # these nine small pairs at once (numba reads the switch when it is first imported: tslearn imports it here)
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    tslearn_metrics = pytest.importorskip("tslearn.metrics")
    alignment = load_solution("alignment")
    rng = np.random.default_rng(TEST_SEED)
    for window in (None, 0, 2):
        for n, m in ((9, 12), (12, 9), (10, 10)):
            x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
            kwargs = {} if window is None else {"global_constraint": "sakoe_chiba", "sakoe_chiba_radius": window}
            path, distance = tslearn_metrics.dtw_path(x, y, **kwargs)
            got_distance, got_path = alignment.dtw(x, y, window=window)
            assert got_distance == pytest.approx(distance, rel=1e-10)
            assert got_path == [(int(i), int(j)) for i, j in path]


def test_sinkhorn_solution_matches_pot_at_convergence():
    ot = pytest.importorskip("ot")
    alignment = load_solution("alignment")
    cost = np.random.default_rng(TEST_SEED).random((5, 8))
    plan = alignment.sinkhorn(cost, epsilon=0.05, n_iters=3000).numpy()
    expected = ot.sinkhorn(np.full(5, 0.2), np.full(8, 0.125), cost, 0.05, method="sinkhorn_log", numItermax=20000,
                           stopThr=1e-14)
    np.testing.assert_allclose(plan, expected, atol=1e-9)


def test_low_rank_fusion_with_rank_one_factor_is_a_tensor_fusion():
    torch = pytest.importorskip("torch")
    fusion = load_solution("fusion")
    torch.manual_seed(0)
    low = fusion.LowRankFusion([3, 2], 4, rank=2)
    full = fusion.TensorFusion([3, 2], 4)
    with torch.no_grad():
        weight = torch.einsum("r,rio,rjo->oij", low.rank_weights, low.factors[0], low.factors[1])
        full.linear.weight.copy_(weight.reshape(4, -1))
        full.linear.bias.copy_(low.bias)
    x1, x2 = torch.randn(5, 3), torch.randn(5, 2)
    torch.testing.assert_close(low(x1, x2), full(x1, x2))
