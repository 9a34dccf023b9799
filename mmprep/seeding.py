"""Seeding: one call makes Python, NumPy and torch draws reproducible."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's `random`, NumPy's global state and torch (CPU and CUDA).

    Returns a fresh `np.random.Generator(seed)` for code that prefers an explicit generator.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    import torch

    torch.manual_seed(int(seed))  # also seeds every CUDA device
    return np.random.default_rng(int(seed))
