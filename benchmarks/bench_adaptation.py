"""Adaptation benchmark: the reference's spread on the two training checks of exercises/adaptation.py.

For each of --seeds grading seeds (default 20), the graded probes run with the reference solution,
one CPU thread, exactly as the checks run them (autograder/probes/adaptation.py):
1. LoRA: pretrain the tiny captioner on shapes captions, apply_lora (rank 1 on "context" and "head"),
   adapt to terse captions ("circle red left"); held-out token accuracy before/after, trainable share.
2. DPO: the same pretrained captioner, DPO on faithful vs hallucinated captions; on held-out pairs the
   hallucinated caption's log-probability relative to the reference, the margin gain, reward accuracy.
Also the CPU seconds of pretraining, adaptation and DPO. The checks' targets
(autograder/checks/test_adaptation.py) sit well below the worst seed seen here.

    python benchmarks/bench_adaptation.py [--seeds 20]

Writes benchmarks/results/adaptation.json.
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

from autograder.checks import test_adaptation as graded  # noqa: E402  the graded targets, not a copy
from autograder.probes import adaptation as probes  # noqa: E402
from benchmarks._common import print_table, save  # noqa: E402
from solutions import adaptation  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in range(args.seeds):
        start = time.process_time()
        probes.pretrained(seed)
        pretrain = time.process_time() - start
        start = time.process_time()
        lora = probes.lora_adaptation(adaptation, seed, device="cpu")
        lora_s = time.process_time() - start
        start = time.process_time()
        dpo = probes.dpo_training(adaptation, seed, device="cpu")
        dpo_s = time.process_time() - start
        rows.append({"seed": seed, "lora_before": round(lora["before"], 4), "lora_after": round(lora["after"], 4),
                     "trainable_share": round(lora["trainable"] / lora["total"], 5),
                     "dpo_rejected_shift": round(dpo["rejected_shift"], 3), "dpo_chosen_shift": round(dpo["chosen_shift"], 3),
                     "dpo_margin_gain": round(dpo["margin_gain"], 3), "dpo_reward_accuracy": round(dpo["reward_accuracy"], 3),
                     "pretrain_cpu_s": round(pretrain, 3), "lora_cpu_s": round(lora_s, 3), "dpo_cpu_s": round(dpo_s, 3)})
        print(rows[-1], flush=True)
    print_table(rows)

    def spread(key):
        values = np.array([r[key] for r in rows])
        return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max()),
                "std": float(values.std())}

    summary = {key: spread(key) for key in rows[0] if key != "seed"}
    targets = {"lora_accuracy_target": graded.LORA_ACCURACY_TARGET, "lora_share_limit": graded.LORA_SHARE_LIMIT,
               "dpo_rejected_shift_target": graded.DPO_REJECTED_SHIFT_TARGET,
               "dpo_margin_gain_target": graded.DPO_MARGIN_GAIN_TARGET}
    for key, value in summary.items():
        print(f"{key:22s} min {value['min']:.4g}  mean {value['mean']:.4g}  max {value['max']:.4g}")
    print("targets:", targets)
    path = save("adaptation", rows, seeds=args.seeds, threads=1, torch=torch.__version__, summary=summary,
                targets=targets)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
