"""Bounded couplings at the bundled pair's size: which bound stops the blow-ups on unseen voices?

Each checkpoint is a speech model of the bundled pair's size trained on the corpus's training
voices (``audio:assets/voices?emphasis=0.9``; K = 5, rank 2, LSTM 160, pitch predictor, at most
4000 steps of 32, early stopping on the training voices' held-out files), made by::

    python -m frmdn train --data "audio:assets/voices?emphasis=0.9" --model frmdn \\
        --components 5 --rank 2 --hidden 160 --flow-layers 4 --flow-hidden 128 --steps 4000 \\
        --batch-size 32 --eval-every 200 --patience 6 --seed 0 --pitch-max-lag 160 \\
        [--scale-bound C] [--shift-bound B] --threads 1 --out DIR

(and ``--model rmdn`` for the RMDN). Recorded per checkpoint: NLL (nats/frame) on the training
voices' held-out files and on the unseen voices, the median and worst unseen frame and the
share of unseen frames beyond 1,000 nats, and the steps trained. From the repository root::

    .venv/bin/python bench/coupling_bounds.py LABEL=DIR [LABEL=DIR ...] [--quick] [--out PATH]

writes ``bench/results/coupling_bounds.json``; ``--quick`` scores a few sequences. Without
checkpoints it scores the bundled pair.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from timing import machine_info, write_results
from unseen_voices import BLOW_UP, frame_nll

from frmdn import load
from frmdn.data import load_data

SPEC = "audio:assets/voices?emphasis=0.9"
QUICK_SEQUENCES = 8


def score(directory: Path, valid: torch.Tensor, unseen: torch.Tensor) -> dict:
    """One checkpoint's scores, and what its config and training record say."""
    model = load(directory)
    seen, frames = frame_nll(model, valid), frame_nll(model, unseen)
    config, metrics = model.config, model.metadata.get("metrics", {})
    return {
        "checkpoint": str(directory),
        "kind": type(model).__name__,
        "scale_bound": config.scale_bound if config.flow_layers else None,
        "shift_bound": config.shift_bound if config.flow_layers else None,
        "training_voices_nll": float(seen.mean()),
        "unseen_nll": float(frames.mean()),
        "unseen_median": float(np.median(frames)),
        "unseen_worst": float(frames.max()),
        "unseen_blow_ups": float((frames > BLOW_UP).mean()),
        "steps": metrics.get("steps"),
        "best_step": metrics.get("best_step"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "checkpoints", nargs="*", help="LABEL=DIR (default: the bundled speech pair)"
    )
    parser.add_argument("--quick", action="store_true", help="a few sequences")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = load_data(SPEC, seed=0)
    valid, unseen = split.valid, split.test
    if args.quick:
        valid, unseen = valid[:QUICK_SEQUENCES], unseen[:QUICK_SEQUENCES]
    results = {
        "machine": machine_info(),
        "run": {"quick": args.quick, "spec": SPEC, "blow_up": BLOW_UP},
        "checkpoints": {},
    }
    pretrained = Path(__file__).resolve().parents[1] / "assets" / "pretrained"
    default = [f"bundled {m.upper()}={pretrained / f'speech-{m}'}" for m in ("rmdn", "frmdn")]
    for item in args.checkpoints or default:
        label, _, directory = item.partition("=")
        results["checkpoints"][label] = entry = score(Path(directory), valid, unseen)
        print(label, {k: v for k, v in entry.items() if k != "checkpoint"}, flush=True)
    write_results("coupling_bounds", results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
