"""Which lever makes the flow carry over to unseen voices? One at a time, over 3 seeds.

Each lever changes one thing of the grid's low-rank FRMDN on ``audio:assets/voices`` (the
``voices`` budget: K = 5, rank 2, LSTM 64, 200 steps of 16; the grid's own training settings,
``frmdn.experiments.grid.run_cell``) and is paired seed by seed with the low-rank RMDN, on the
unseen voices (the test part, and each unseen voice alone) and on the training voices'
held-out files (the valid part), in nats per sample. The RMDN is retrained here (and checked
against the grid's rows, ``assets/results/voices``); a lever that any model could use (more
data, another way to pick the weights) is given to the RMDN too, so the pair stays at equal
budget. "none" retrains the grid's FRMDN.

The lever "weights chosen on an unseen voice" keeps, of the 6 evaluations of a run, the weights
that score best on one held-out voice (SELECT_VOICE) instead of on the training voices'
held-out files; it is then scored on the other unseen voices only, and so is "none" for its
own effect. From the repository root::

    .venv/bin/python bench/voice_levers.py [--quick] [--threads N] [--out PATH]

writes ``bench/results/voice_levers.json``; ``--quick`` trains two levers on one seed for a few
steps.
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from timing import machine_info, write_results

from frmdn.data import load_data
from frmdn.data.audio import AUDIO_SUFFIXES, read_audio
from frmdn.data.splits import SequenceSplit
from frmdn.data.voices import read_corpus
from frmdn.experiments.grid import FAMILY_BUDGETS, KINDS
from frmdn.experiments.grid_stats import noise_verdict
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import build_model
from frmdn.training.trainer import TrainConfig, evaluate_nll, fit

ROOT = Path(__file__).resolve().parents[1]
SPEC = "audio:assets/voices"
CORPUS = ROOT / "assets" / "voices"
GRID = ROOT / "assets" / "results" / "voices" / "results.csv"
SEEDS = (0, 1, 2)
SELECT_VOICE = "es-co"  # a second speaker of a training language


@dataclass(frozen=True)
class Lever:
    """One change: model settings, training settings, data options (both models), or the voice
    whose score picks the weights (both models)."""

    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    data: str = ""
    select_on: str = ""

    @property
    def both(self) -> bool:
        """Whether the RMDN gets the lever too."""
        return bool(self.data or self.select_on)


LEVERS: dict[str, Lever] = {
    "none (the grid's FRMDN low-rank)": Lever(),
    "log-scale cap 0.5 (default 2)": Lever(model={"scale_bound": 0.5}),
    "shift bound 1 (default: unbounded)": Lever(model={"shift_bound": 1.0}),
    "shift bound 0.25": Lever(model={"shift_bound": 0.25}),
    "2 couplings (default 4)": Lever(model={"flow_layers": 2}),
    "weight decay 1e-3 on every weight": Lever(training={"weight_decay": 1e-3}),
    "noise 0.1 on the LSTM's inputs (training only)": Lever(model={"input_noise": 0.1}),
    "augmented waveforms, 2 copies (both models)": Lever(data="augment=2"),
    f"weights chosen on an unseen voice, {SELECT_VOICE} (both models)": Lever(
        select_on=SELECT_VOICE
    ),
}


def grid_rows(model: str) -> dict[int, dict]:
    """The grid's rows of ``model`` on SPEC by seed."""
    with GRID.open() as file:
        return {int(r["seed"]): r for r in csv.DictReader(file) if r["model"] == model}


def voice_windows(split: SequenceSplit) -> dict[str, torch.Tensor]:
    """The test part's sequences of each unseen voice: files are cut in order, each into
    len // (frame × length) sequences (``frmdn.data.audio.audio_split``)."""
    files = read_corpus(CORPUS, AUDIO_SUFFIXES).files
    window = split.info["frame_size"] * split.info["length"]
    rate = split.info["sample_rate"]
    rows: dict[str, list[int]] = {}
    start = 0
    for name in split.info["files"]["test"]:
        count = len(read_audio(files[name], sample_rate=rate).waveform) // window
        rows.setdefault(name.split("/")[0], []).extend(range(start, start + count))
        start += count
    if start != len(split.test):
        raise RuntimeError(f"counted {start} test sequences, the split has {len(split.test)}")
    return {voice: split.test[index] for voice, index in rows.items()}


def train(
    split: SequenceSplit, voices: dict, seed: int, kind: str, lever: Lever, steps: int
) -> dict:
    """One cell at the voices budget with a lever: valid, test and per-voice nats/sample."""
    budget = FAMILY_BUDGETS["voices"]
    torch.manual_seed(seed)
    base = {"n_components": budget["K"], "rank": budget["rank"], "hidden_size": budget["hidden"]}
    settings = lever.model if kind.startswith("FRMDN") else {}
    model = build_model(ModelConfig(split.dim, **(base | KINDS[kind] | settings)))
    model.standardize_on(split.train)
    config = TrainConfig(
        steps=steps,
        batch_size=budget["batch_size"],
        eval_every=max(steps // 6, 1),
        patience=0,
        seed=seed,
        **lever.training,
    )
    start = time.perf_counter()
    fit(model, split.train, voices[lever.select_on] if lever.select_on else split.valid, config)
    return {
        "valid": evaluate_nll(model, split.valid) / split.dim,
        "test": evaluate_nll(model, split.test) / split.dim,
        "voices": {v: evaluate_nll(model, w) / split.dim for v, w in voices.items()},
        "seconds": time.perf_counter() - start,
    }


def unseen(run: dict, skip: str, weights: dict[str, int]) -> float:
    """Mean nats/sample over the unseen voices but ``skip`` (all when empty), by sequence."""
    kept = {v: n for v, n in weights.items() if v != skip}
    return sum(run["voices"][v] * n for v, n in kept.items()) / sum(kept.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two levers, one seed, 5 steps")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds, steps = ((0,), 5) if args.quick else (SEEDS, FAMILY_BUDGETS["voices"]["steps"])
    levers = {k: LEVERS[k] for k in list(LEVERS)[::8]} if args.quick else LEVERS
    splits: dict[str, tuple[SequenceSplit, dict]] = {}

    def data(options: str) -> tuple[SequenceSplit, dict]:
        if options not in splits:  # the grid's DATA_SEED 0: the same windows for every cell
            split = load_data(f"{SPEC}?{options}" if options else SPEC, seed=0)
            splits[options] = split, voice_windows(split)
        return splits[options]

    def cells(kind: str, lever: Lever) -> dict[int, dict]:
        split, voices = data(lever.data)
        return {s: train(split, voices, s, kind, lever, steps) for s in seeds}

    weights = {v: len(w) for v, w in data("")[1].items()}
    plain_rmdn = cells("RMDN low-rank", Lever())
    plain_frmdn = cells("FRMDN low-rank", Lever())
    grid = grid_rows("RMDN low-rank")
    results = {
        "machine": machine_info(),
        "run": {"quick": args.quick, "spec": SPEC, "seeds": list(seeds), "steps": steps},
        "unseen_voices": weights,
        "select_voice": SELECT_VOICE,
        "rmdn": plain_rmdn,
        "rmdn_grid_check": [plain_rmdn[s]["test"] - float(grid[s]["test_nll"]) for s in seeds],
        "levers": {},
    }
    for name, lever in levers.items():
        flow = plain_frmdn if lever == Lever() else cells("FRMDN low-rank", lever)
        rmdn = cells("RMDN low-rank", lever) if lever.both else plain_rmdn
        skip = lever.select_on
        against_rmdn = [
            unseen(flow[s], skip, weights) - unseen(rmdn[s], skip, weights) for s in seeds
        ]
        seen = [flow[s]["valid"] - rmdn[s]["valid"] for s in seeds]
        own = [
            unseen(flow[s], skip, weights) - unseen(plain_frmdn[s], skip, weights) for s in seeds
        ]
        results["levers"][name] = {
            "settings": {**lever.model, **lever.training},
            "data": lever.data,
            "select_on": lever.select_on,
            "rmdn_too": lever.both,
            "scored_on": [v for v in weights if v != skip],
            "flow": flow,
            "rmdn": rmdn if lever.both else "the plain RMDN (rmdn above)",
            "unseen_minus_rmdn": against_rmdn,
            "unseen_verdict": noise_verdict(against_rmdn),
            "seen_minus_rmdn": seen,
            "seen_verdict": noise_verdict(seen),
            "own_effect": own,
            "own_verdict": "the reference" if lever == Lever() else noise_verdict(own),
            "seconds": sum(r["seconds"] for r in flow.values()),
        }
        print(name, [round(x, 3) for x in against_rmdn], noise_verdict(against_rmdn), flush=True)
    write_results("voice_levers", results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
