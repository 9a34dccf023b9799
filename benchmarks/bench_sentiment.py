"""Speed of the MulT-style sentiment model (solutions/sentiment.py).

1. Seconds to the graded target: the trusted training loop of the checks (the same config, data
   and held-out set), until held-out non0_acc2 >= 0.90 and MAE below the text-only baseline.
2. Forward + backward time per batch of 32 for a few sequence lengths (all modalities that long).

    python benchmarks/bench_sentiment.py --device cpu --threads 2
    python benchmarks/bench_sentiment.py --device cuda

Prints a table and writes benchmarks/results/sentiment_<device>.json (sentiment_cpu_t<threads>.json on a CPU).
On a small shared CPU, one thread is several times faster than two for a model this small: the
graded training probe runs on one thread.
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

from autograder.checks.test_sentiment import (  # noqa: E402  the graded configuration, not a copy
    HELDOUT_SAMPLES,
    MIN_NON0_ACC2,
    TRAIN_CONFIG,
    TRAIN_EPOCHS,
    TRAIN_LR,
    TRAIN_SAMPLES,
)
from benchmarks._common import run_unthrottled, save  # noqa: E402
from mmprep.data.sentiment import (  # noqa: E402
    batch_to_device,
    collate_sentiment,
    feature_dims,
    lexicon_sentiment,
    make_sentiment_data,
)
from mmprep.device import resolve_device  # noqa: E402
from solutions.sentiment import MultimodalSentimentTransformer  # noqa: E402


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_to_target(device: str, seed: int) -> dict:
    """Train with the checks' loop; evaluate after every epoch; seconds until both graded targets hold."""
    torch.manual_seed(seed)
    data = make_sentiment_data(TRAIN_SAMPLES, seed)
    heldout = make_sentiment_data(HELDOUT_SAMPLES, 1_000_000 + seed)
    features, masks = heldout.padded()
    inputs = ({m: torch.as_tensor(x, device=device) for m, x in features.items()},
              {m: torch.as_tensor(x, device=device) for m, x in masks.items()})
    text_mae = float(np.mean(np.abs(np.array([lexicon_sentiment(w) for w in heldout.words]) - heldout.labels)))
    nonzero = heldout.labels != 0
    model = MultimodalSentimentTransformer(feature_dims(), **TRAIN_CONFIG).to(device)
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True, collate_fn=collate_sentiment,
                                         generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=TRAIN_LR, total_steps=TRAIN_EPOCHS * len(loader),
                                                   pct_start=0.25)
    training_seconds, reached = 0.0, None
    for epoch in range(1, TRAIN_EPOCHS + 1):
        model.train()
        sync(device)
        start = time.perf_counter()
        for batch in loader:
            batch = batch_to_device(batch, device)
            loss = torch.nn.functional.l1_loss(model(batch["features"], batch["padding_masks"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        sync(device)
        training_seconds += time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            prediction = model(*inputs).cpu().numpy()
        acc2 = float(np.mean((prediction[nonzero] > 0) == (heldout.labels[nonzero] > 0)))
        mae = float(np.mean(np.abs(prediction - heldout.labels)))
        if reached is None and acc2 >= MIN_NON0_ACC2 and mae < text_mae:
            reached = {"epoch": epoch, "seconds": training_seconds}
    return {"seed": seed, "reached": reached, "total_seconds": training_seconds, "final_non0_acc2": acc2,
            "final_mae": mae, "text_only_mae": text_mae}


def step_time(device: str, length: int, batch: int = 32, repeats: int = 10) -> float:
    """Milliseconds per forward + backward + Adam step, every modality `length` steps long."""
    torch.manual_seed(0)
    dims = feature_dims()
    model = MultimodalSentimentTransformer(dims, **TRAIN_CONFIG).to(device)
    optimizer = torch.optim.Adam(model.parameters())
    features = {m: torch.randn(batch, length, d, device=device) for m, d in dims.items()}
    masks = {m: torch.zeros(batch, length, dtype=torch.bool, device=device) for m in dims}
    for step in range(repeats + 3):  # three warm-up steps
        if step == 3:
            sync(device)
            start = time.perf_counter()
        loss = model(features, masks).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return 1000 * (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lengths", default="16,32,64,128,256")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = [time_to_target(device, seed) for seed in range(args.seeds)]
    steps = {int(n): step_time(device, int(n)) for n in args.lengths.split(",")}

    print(f"device {device}, torch threads {torch.get_num_threads()}, config {TRAIN_CONFIG}")
    print(f"{'seed':>4} {'target at epoch':>15} {'seconds':>8} {'total s':>8} {'non0_acc2':>9} {'MAE':>6} {'text MAE':>8}")
    for r in runs:
        at = r["reached"]
        print(f"{r['seed']:>4} {at['epoch'] if at else '-':>15} {at['seconds'] if at else float('nan'):>8.1f} "
              f"{r['total_seconds']:>8.1f} {r['final_non0_acc2']:>9.3f} {r['final_mae']:>6.3f} {r['text_only_mae']:>8.3f}")
    print(f"{'length':>6} {'ms / step (B=32, fwd+bwd+Adam)':>32}")
    for n, ms in steps.items():
        print(f"{n:>6} {ms:>32.1f}")
    name = f"cpu_t{torch.get_num_threads()}" if device == "cpu" else device.split(":")[0]
    out = save(f"sentiment_{name}", device=device, torch=torch.__version__, threads=torch.get_num_threads(),
               config=TRAIN_CONFIG, train_samples=TRAIN_SAMPLES, epochs=TRAIN_EPOCHS, time_to_target=runs,
               ms_per_step=steps)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    run_unthrottled()
    main()
