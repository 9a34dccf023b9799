"""Speed of the reference metrics: roc_auc vs scikit-learn on 10^6 scores; recall_at_k on a
5,000 x 25,000 score matrix vs a naive per-query loop (and its peak extra memory).

    python benchmarks/bench_metrics.py [--quick]
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np
from _common import best_of, load_solution, print_table, run_unthrottled, save
from sklearn.metrics import roc_auc_score


def naive_recall_at_k(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """A per-query loop with a full sort: what a first attempt usually looks like."""
    hits = 0
    for s, r in zip(scores, relevant):
        order = np.argsort(-s, kind="stable")
        hits += bool(r[order[:k]].any())
    return hits / len(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    metrics = load_solution("metrics")
    rng = np.random.default_rng(0)
    rows = []

    n = 100_000 if args.quick else 1_000_000
    y = rng.integers(0, 2, size=n)
    s = np.round(rng.normal(size=n) + y, 3)  # rounded: many ties, the hard case
    ours, theirs = metrics.roc_auc(y, s), roc_auc_score(y, s)
    assert abs(ours - theirs) < 1e-9, (ours, theirs)
    t_ours, t_sk = best_of(lambda: metrics.roc_auc(y, s)), best_of(lambda: roc_auc_score(y, s))
    rows.append({"benchmark": f"roc_auc, N={n:,}", "reference s": f"{t_ours:.3f}", "baseline": "sklearn roc_auc_score",
                 "baseline s": f"{t_sk:.3f}", "speed-up": f"{t_sk / t_ours:.2f}x"})

    q, m = (1000, 5000) if args.quick else (5000, 25000)
    scores = rng.standard_normal((q, m), dtype=np.float32)
    relevant = np.zeros((q, m), dtype=bool)
    relevant[np.arange(q), rng.integers(0, m, size=q)] = True
    ours_r = metrics.recall_at_k(scores, relevant, 10)
    naive_r = naive_recall_at_k(scores, relevant, 10)
    assert ours_r == naive_r, (ours_r, naive_r)
    tracemalloc.start()
    t_ours = best_of(lambda: metrics.recall_at_k(scores, relevant, 10), repeat=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    t_naive = best_of(lambda: naive_recall_at_k(scores, relevant, 10), repeat=1)
    rows.append({"benchmark": f"recall_at_k, {q:,} x {m:,}", "reference s": f"{t_ours:.3f}", "baseline": "per-query argsort loop",
                 "baseline s": f"{t_naive:.3f}", "speed-up": f"{t_naive / t_ours:.2f}x"})
    rows.append({"benchmark": "recall_at_k peak extra memory", "reference s": f"{peak / 2**20:.0f} MiB",
                 "baseline": f"input scores: {scores.nbytes / 2**20:.0f} MiB", "baseline s": "", "speed-up": ""})
    print_table(rows)
    print("written", save("metrics", rows, quick=args.quick))


if __name__ == "__main__":
    run_unthrottled()
    main()
