"""Which lever makes the flow carry over to unseen voices? One at a time, over 3 seeds.

Each lever changes one thing of the grid's low-rank FRMDN on ``audio:assets/voices`` (the
``voices`` budget: K = 5, rank 2, LSTM 64, 200 steps of 16; the grid's own training settings,
``frmdn.experiments.grid.run_cell``) and is paired seed by seed with the grid's low-rank RMDN
(``assets/results/voices``), on the unseen voices (the test part) and on the training voices'
held-out files (the valid part), in nats per sample. "none" retrains the grid's FRMDN as a
check that this script reproduces the grid. From the repository root::

    .venv/bin/python bench/voice_levers.py [--quick] [--threads N] [--out PATH]

writes ``bench/results/voice_levers.json``; ``--quick`` trains one lever on one seed for a few
steps.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch
from timing import machine_info, write_results

from frmdn.data import load_data
from frmdn.experiments.grid import FAMILY_BUDGETS, KINDS
from frmdn.experiments.grid_stats import noise_verdict
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import build_model
from frmdn.training.trainer import TrainConfig, evaluate_nll, fit

ROOT = Path(__file__).resolve().parents[1]
SPEC = "audio:assets/voices"
GRID = ROOT / "assets" / "results" / "voices" / "results.csv"
SEEDS = (0, 1, 2)
LEVERS: dict[str, tuple[dict, dict]] = {  # name -> (model settings, training settings)
    "none (the grid's FRMDN low-rank)": ({}, {}),
    "log-scale cap 0.5 (default 2)": ({"scale_bound": 0.5}, {}),
    "2 couplings (default 4)": ({"flow_layers": 2}, {}),
    "weight decay 1e-3 on every weight": ({}, {"weight_decay": 1e-3}),
    "noise 0.1 on the LSTM's inputs (training only)": ({"input_noise": 0.1}, {}),
}


def grid_rows(model: str) -> dict[int, dict]:
    """The grid's rows of ``model`` on SPEC by seed."""
    with GRID.open() as file:
        return {int(r["seed"]): r for r in csv.DictReader(file) if r["model"] == model}


def train(split: object, seed: int, settings: dict, training: dict, steps: int) -> dict:
    """One FRMDN low-rank cell at the voices budget with a lever: valid and test nats/sample."""
    budget = FAMILY_BUDGETS["voices"]
    torch.manual_seed(seed)
    base = {"n_components": budget["K"], "rank": budget["rank"], "hidden_size": budget["hidden"]}
    config = ModelConfig(split.dim, **(base | KINDS["FRMDN low-rank"] | settings))
    model = build_model(config)
    model.standardize_on(split.train)
    train_config = TrainConfig(
        steps=steps,
        batch_size=budget["batch_size"],
        eval_every=max(steps // 6, 1),
        patience=0,
        seed=seed,
        **training,
    )
    start = time.perf_counter()
    fit(model, split.train, split.valid, train_config)
    return {
        "valid": evaluate_nll(model, split.valid) / split.dim,
        "test": evaluate_nll(model, split.test) / split.dim,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one lever, one seed, 5 steps")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = load_data(SPEC, seed=0)  # the grid's DATA_SEED: the same windows for every cell
    seeds, steps = ((0,), 5) if args.quick else (SEEDS, FAMILY_BUDGETS["voices"]["steps"])
    levers = dict(list(LEVERS.items())[:1]) if args.quick else LEVERS
    rmdn, frmdn = grid_rows("RMDN low-rank"), grid_rows("FRMDN low-rank")
    results = {
        "machine": machine_info(),
        "run": {"quick": args.quick, "spec": SPEC, "seeds": list(seeds), "steps": steps},
        "baseline": "RMDN low-rank (assets/results/voices)",
        "levers": {},
    }
    for lever, (settings, training) in levers.items():
        runs = {seed: train(split, seed, settings, training, steps) for seed in seeds}
        unseen = [runs[s]["test"] - float(rmdn[s]["test_nll"]) for s in seeds]
        seen = [runs[s]["valid"] - float(rmdn[s]["valid_nll"]) for s in seeds]
        results["levers"][lever] = {
            "settings": settings | training,
            "test": [runs[s]["test"] for s in seeds],
            "valid": [runs[s]["valid"] for s in seeds],
            "unseen_minus_rmdn": unseen,
            "unseen_verdict": noise_verdict(unseen),
            "seen_minus_rmdn": seen,
            "seen_verdict": noise_verdict(seen),
            "grid_frmdn_test": [float(frmdn[s]["test_nll"]) for s in seeds],
            "seconds": sum(r["seconds"] for r in runs.values()),
        }
        print(lever, [round(x, 3) for x in unseen], noise_verdict(unseen), flush=True)
    write_results("voice_levers", results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
