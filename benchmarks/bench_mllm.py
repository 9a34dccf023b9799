"""Multimodal-LLM benchmarks: the graded tiny-VLM training run over many seeds (how its targets were set), and
what a cached decoding step costs against an uncached one.

1. Training spread (--seeds N, default 30): for grading seeds 1..N, the graded configuration of
   autograder/checks/test_mllm.py through the grader's own probe (one CPU thread): held-out exact-match
   accuracy (overall and per question type), the image-blind baseline, accuracy with the images shuffled
   across questions, the yes-ratio on questions about absent objects (and present ones), wall and CPU seconds.
2. Decoding: positions the model runs on, and wall time, for greedy_generate with and without the cache on
   prompts of growing length (the cached step's cost must not grow with the prompt).

    python benchmarks/bench_mllm.py [--seeds 30] [--device cpu]
    # or in two processes: --first-seed 1 --seeds 15 --out A.json; --first-seed 16 --seeds 15 --out B.json;
    # then --merge A.json B.json

Writes benchmarks/results/mllm.json. Run it once: the spread is CPU-heavy (about 15 CPU-seconds a seed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.checks import test_mllm as graded  # noqa: E402  the graded configuration, not a copy
from autograder.probes import mllm as probes  # noqa: E402
from benchmarks._common import save  # noqa: E402
from mmprep.data.vqa import make_vqa  # noqa: E402
from mmprep.device import resolve_device  # noqa: E402
from solutions import mllm  # noqa: E402


def training_spread(seeds: list[int], device: str) -> list[dict]:
    rows = []
    cfg = graded.TRAIN
    for grading_seed in seeds:
        seed = grading_seed % 100_000
        train, test = make_vqa(cfg["num_train"], seed), graded.held_out(seed)
        shuffle = np.random.default_rng(seed).permutation(len(test))
        got = probes.train_and_answer(mllm, seed, train.images, train.image_index, train.questions, train.answers,
                                      test.images[test.image_index], test.questions, shuffle, cfg["steps"],
                                      cfg["stage1_steps"], cfg["batch_size"], cfg["lr"], device=device)
        normal, shuffled = graded.statistics(test, got["predicted"]), graded.statistics(test, got["shuffled"])
        gold, kinds, pred = np.array(test.answers), np.array(test.question_types), np.array(got["predicted"])
        present = (kinds == "exists") & (gold == "yes")
        row = {"seed": grading_seed, "accuracy": round(normal["accuracy"], 4),
               **{k: round(normal[k], 3) for k in graded.QUESTION_TYPES},
               "blind": round(normal["blind"], 4), "shuffled": round(shuffled["accuracy"], 4),
               "yes_ratio_absent": round(normal["yes_ratio_absent"], 3),
               "yes_ratio_present": round(float(np.mean(pred[present] == "yes")), 3),
               "first_loss": round(float(got["losses"][:25].mean()), 3), "last_loss": round(float(got["losses"][-25:].mean()), 3),
               "seconds": round(got["seconds"], 2), "cpu_seconds": round(got["cpu_seconds"], 2)}
        rows.append(row)
        print(row, flush=True)
    return rows


def decoding_cost(device: str) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    model = mllm.TinyCausalLM(32, 48, 2, 4, 600).to(device).eval()
    for length in (16, 64, 256, 512):
        embeds = torch.randn(4, length, 48, device=device)
        mask = torch.ones(4, length, dtype=torch.bool, device=device)
        for use_cache in (True, False):
            calls = []
            original = model.forward

            def counting(inputs_embeds, *args, _orig=original, _calls=calls, **kwargs):
                _calls.append(int(inputs_embeds.shape[1]))
                return _orig(inputs_embeds, *args, **kwargs)

            model.forward = counting
            started = time.perf_counter()
            mllm.greedy_generate(model, embeds, mask, 32, eos_id=-1, use_cache=use_cache)
            seconds = time.perf_counter() - started
            del model.forward
            rows.append({"prompt": length, "use_cache": use_cache, "steps": len(calls),
                         "positions_after_prompt": sum(calls[1:]), "seconds": round(seconds, 4)})
    return rows


def summarise(spread: list[dict]) -> dict:
    summary = {}
    for key in ("accuracy", "shuffled", "blind", "yes_ratio_absent", "yes_ratio_present", "seconds", "cpu_seconds",
                *graded.QUESTION_TYPES):
        values = [r[key] for r in spread]
        if values:
            summary[key] = {"min": min(values), "mean": round(float(np.mean(values)), 4), "max": max(values)}
    if spread:
        summary["accuracy_minus_blind_min"] = round(min(r["accuracy"] - r["blind"] for r in spread), 4)
        summary["shuffled_minus_blind_max"] = round(max(r["shuffled"] - r["blind"] for r in spread), 4)
        summary["accuracy_minus_shuffled_min"] = round(min(r["accuracy"] - r["shuffled"] for r in spread), 4)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="grading seeds first-seed .. first-seed + N - 1")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write here instead of benchmarks/results/mllm.json")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="combine the training rows of earlier runs (e.g. seed ranges run in parallel processes)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(1)
    if args.merge:
        import json

        parts = [json.loads(p.read_text()) for p in args.merge]
        spread = sorted((r for part in parts for r in part["rows"]), key=lambda r: r["seed"])
        decoding = next((part["decoding"] for part in parts if part.get("decoding")), [])
    else:
        decoding = [] if args.first_seed != 1 else decoding_cost(device)
        for row in decoding:
            print(row)
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        spread = [] if args.skip_training else training_spread(seeds, device)
    summary = summarise(spread)
    print(summary)
    save("mllm", spread, out=args.out, device=device, threads=1, train=graded.TRAIN,
         accuracy_target=graded.ACCURACY_TARGET, shuffled_margin=graded.SHUFFLED_MARGIN, summary=summary,
         decoding=decoding)


if __name__ == "__main__":
    main()
