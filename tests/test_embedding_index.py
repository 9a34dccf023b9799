"""The reference EmbeddingIndex's fast path (tiles, chunk bests, merges) against brute force and faiss.

The graded checks see small indexes, where every search is one tile; these tests force many tiles,
chunks and blocks with tiny settings, on integer vectors full of exact ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from solutions import retrieval
from tests.conftest import TEST_SEED


def brute_force(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int):
    """Float64 scores; best first, equal scores by lower id; -1 / -inf where fewer than k items."""
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    top = np.full((len(queries), k), -np.inf)
    top_ids = np.full((len(queries), k), -1)
    for row, s in enumerate(scores):
        order = np.lexsort((ids, -s))[:k]
        top[row, : order.size], top_ids[row, : order.size] = s[order], ids[order]
    return top, top_ids


SETTINGS = [  # (tile_items, cache_items, chunk, block_elements)
    (16, 16, 4, 64), (32, 48, 16, 1000), (64, 16, 1, 2**22), (4096, 512, 16, 2**22), (48, 32, 16, 200),
]


@pytest.mark.parametrize("tile_items, cache_items, chunk, block_elements", SETTINGS)
def test_fast_path_equals_brute_force_with_ties(tile_items, cache_items, chunk, block_elements):
    rng = np.random.default_rng(TEST_SEED)
    for trial in range(40):
        n, d, num_queries, k = int(rng.integers(1, 300)), int(rng.integers(1, 5)), int(rng.integers(1, 25)), int(rng.integers(1, 40))
        vectors = rng.integers(-2, 3, (n, d)).astype(np.float32)  # few distinct scores: ties everywhere
        queries = rng.integers(-2, 3, (num_queries, d)).astype(np.float32)
        ids = rng.permutation(10 * n)[:n]
        index = retrieval.EmbeddingIndex(d, "ip")
        index.tile_items, index.cache_items, index.chunk, index.block_elements = tile_items, cache_items, chunk, block_elements
        index.add(vectors[: n // 2], ids[: n // 2])
        index.add(vectors[n // 2 :], ids[n // 2 :])
        got, got_ids = index.search(queries, k)
        want, want_ids = brute_force(vectors, ids, queries, k)
        where = f"trial {trial}: n={n}, d={d}, Q={num_queries}, k={k}"
        np.testing.assert_array_equal(got_ids, want_ids, err_msg=f"ids, {where}")
        np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=f"scores, {where}")


def test_every_item_equal_is_ordered_by_id_across_tiles():
    index = retrieval.EmbeddingIndex(3, "ip")
    index.tile_items, index.chunk = 64, 16
    ids = np.random.default_rng(TEST_SEED).permutation(1000)
    index.add(np.ones((1000, 3)), ids)
    scores, got = index.search(np.ones((2, 3)), 12)
    np.testing.assert_array_equal(got, np.tile(np.arange(12), (2, 1)))
    np.testing.assert_array_equal(scores, np.full((2, 12), 3.0, dtype=np.float32))


def test_equals_faiss_on_random_vectors_over_many_tiles():
    faiss = pytest.importorskip("faiss")
    rng = np.random.default_rng(TEST_SEED)
    vectors = rng.standard_normal((20_000, 32), dtype=np.float32)
    queries = rng.standard_normal((300, 32), dtype=np.float32)
    flat = faiss.IndexFlatIP(32)
    flat.add(vectors)
    want, want_ids = flat.search(queries, 10)
    index = retrieval.EmbeddingIndex(32, "ip")
    index.add(vectors)
    got, got_ids = index.search(queries, 10)
    np.testing.assert_allclose(got, want, atol=1e-4)
    # ids may differ only where faiss's and our float32 sums order a near-tie differently
    exact = np.einsum("qd,qkd->qk", queries.astype(np.float64), vectors.astype(np.float64)[got_ids])
    exact_faiss = np.einsum("qd,qkd->qk", queries.astype(np.float64), vectors.astype(np.float64)[want_ids])
    differ = got_ids != want_ids
    assert not (differ & (np.abs(exact - exact_faiss) > 1e-4)).any(), f"{differ.sum()} ids differ beyond near-ties"
