"""Fusion methods on the XOR image+text task, and the size of tensor vs low-rank fusion.

1. Steps and seconds until ImageTextClassifier (reference solution, CNN image encoder, packed LSTM
   text encoder) first reaches 95% held-out accuracy on the XOR task, per fusion method: the same
   training as the graded check (2,000 generated examples, batch 32, Adam 3e-3), median over seeds.
2. Parameters and forward time of TensorFusion vs LowRankFusion (rank 4) for 2-5 modalities of 32
   features each (built on the meta device when the weight would not fit).

    python benchmarks/bench_fusion.py [--device auto|cpu|cuda] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import best_of, load_solution, print_table, run_unthrottled, save

from mmprep.data.xor import make_xor_task
from mmprep.device import resolve_device

METHODS = ("concat", "tensor", "lowrank", "gated", "late")


def steps_to_target(fusion_module, method: str, seed: int, device: str, max_steps: int, eval_every: int,
                    target: float = 0.95) -> tuple[int | None, float, float]:
    """(first step reaching `target` or None, training seconds up to then, best held-out accuracy)."""
    torch.manual_seed(seed)
    train, test = make_xor_task(2000, seed), make_xor_task(500, seed + 10_000)
    as_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    images, tokens, lengths, labels = map(as_t, (train.images, train.tokens, train.lengths, train.labels))
    t_images, t_tokens, t_lengths = map(as_t, (test.images, test.tokens, test.lengths))
    model = fusion_module.ImageTextClassifier(train.vocab_size, 2, fusion=method).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    draw = np.random.default_rng(seed)
    trained_s, best = 0.0, 0.0
    for step in range(1, max_steps + 1):
        start = time.perf_counter()
        idx = torch.as_tensor(draw.integers(0, len(train), size=32), device=device)
        loss = torch.nn.functional.cross_entropy(model(images[idx], tokens[idx], lengths[idx]), labels[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        trained_s += time.perf_counter() - start
        if step % eval_every == 0:
            model.eval()
            with torch.no_grad():
                predictions = model(t_images, t_tokens, t_lengths).argmax(1).cpu().numpy()
            model.train()
            accuracy = float(np.mean(predictions == test.labels))
            best = max(best, accuracy)
            if accuracy >= target:
                return step, trained_s, best
    return None, trained_s, best


def parameter_rows(fusion_module, device: str, dim: int = 32, out: int = 2, rank: int = 4) -> list[dict]:
    rows = []
    for m in range(2, 6):
        dims = [dim] * m
        row = {"modalities": m}
        for name, cls, extra in (("TensorFusion", fusion_module.TensorFusion, {}),
                                 ("LowRankFusion", fusion_module.LowRankFusion, {"rank": rank})):
            fused_entries = (dim + 1) ** m if name == "TensorFusion" else 0
            with torch.device("meta"):
                count = sum(p.numel() for p in cls(dims, out, **extra).parameters())
            row[f"{name} params"] = f"{count:,}"
            # forward time on a batch of 32, when the fused (32, (d+1)^M) tensor stays under ~1 GiB
            if fused_entries * 32 * 4 <= 2**30 and count * 4 <= 2**30:
                torch.manual_seed(0)
                layer = cls(dims, out, **extra).to(device)
                xs = [torch.randn(32, dim, device=device) for _ in dims]

                def run(layer=layer, xs=xs):
                    with torch.no_grad():
                        layer(*xs)
                    if device.startswith("cuda"):
                        torch.cuda.synchronize()

                run()
                row[f"{name} ms/batch"] = f"{1000 * best_of(run, repeat=5):.2f}"
            else:
                row[f"{name} ms/batch"] = "too large"
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto|cpu|cuda")
    parser.add_argument("--quick", action="store_true", help="one seed, at most 300 steps (a smoke run)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is fastest for these tiny models)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    seeds, max_steps = (1, 300) if args.quick else (args.seeds, args.max_steps)
    fusion = load_solution("fusion")

    xor_rows = []
    for method in METHODS:
        runs = [steps_to_target(fusion, method, seed, device, max_steps, eval_every=10) for seed in range(seeds)]
        reached = [(s, t) for s, t, _ in runs if s is not None]
        xor_rows.append({
            "fusion": method,
            "reached 95%": f"{len(reached)}/{seeds}",
            "median steps": str(statistics.median(s for s, _ in reached)) if reached else f"> {max_steps}",
            "median train s": f"{statistics.median(t for _, t in reached):.2f}" if reached else "-",
            "best held-out acc": f"{statistics.median(b for _, _, b in runs):.3f}",
        })
    print(f"XOR task, ImageTextClassifier (CNN + packed LSTM), batch 32, Adam 3e-3, device {device}, "
          f"{args.threads} CPU thread(s); accuracy checked every 10 steps")
    print_table(xor_rows)
    print()
    size_rows = parameter_rows(fusion, device)
    print("Fusion layer size: 32 features per modality, 2 outputs, LowRankFusion rank 4")
    print_table(size_rows)
    print("written", save("fusion", xor_rows, parameters=size_rows, device=device, seeds=seeds, max_steps=max_steps,
                          threads=args.threads))


if __name__ == "__main__":
    run_unthrottled()
    main()
