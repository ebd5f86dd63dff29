"""Training-step cost of an FRMDN against an RMDN of the same size, and generation speed.

For each configuration, one training step is ``zero_grad``, ``-log_prob(y).mean()``,
``backward()`` and an Adam step on a fixed random batch (B, T, d), in ``model.train()``. The
FRMDN and RMDN share dim, K, rank, hidden size and layers; the FRMDN adds a RealNVP flow. The two
models' steps are timed in turn (RMDN, FRMDN, RMDN, ...) so a change in machine load hits both.
The audio-like pair has the pitch predictor of the bundled speech models (lags up to 160).

Generation: ``model.sample(1, steps)`` of the audio-like FRMDN (and RMDN), read as 8 kHz audio
with d = 80 samples per step, so 100 steps are one second of audio. The real-time factor is
seconds of audio produced per second of compute (> 1 is faster than real time).

Run: .venv/bin/python bench/bench_training.py [--quick] [--threads N] [--out PATH]
Writes bench/results/bench_training.json.
"""

from __future__ import annotations

import argparse
import math
import sys

import torch
from timing import machine_info, print_machine, table, time_call, time_interleaved, write_results

from frmdn.models.sequence import FRMDN, RMDN

CONFIGS = {
    "toy": {
        "dim": 2,
        "n_components": 3,
        "rank": 1,
        "hidden_size": 64,
        "batch": 64,
        "length": 32,
        "flow_layers": 4,
        "flow_hidden": 64,
        "flow_depth": 1,
    },
    "audio-like": {
        "dim": 80,
        "n_components": 5,
        "rank": 2,
        "hidden_size": 256,
        "batch": 32,
        "length": 64,
        "flow_layers": 4,
        "flow_hidden": 128,
        "flow_depth": 1,
        "pitch_max_lag": 160,
    },
    "image-row-like": {
        "dim": 28,
        "n_components": 10,
        "rank": 4,
        "hidden_size": 256,
        "batch": 64,
        "length": 28,
        "flow_layers": 4,
        "flow_hidden": 128,
        "flow_depth": 1,
    },
}
NUM_LAYERS = 1
SAMPLE_RATE = 8000
TARGET_RATIO = 1.6
FULL = {"steps": 20, "warmup": 5, "gen_steps": 100, "gen_repeats": 5}
QUICK = {"steps": 2, "warmup": 1, "gen_steps": 5, "gen_repeats": 1}


def build(cfg: dict, flow: bool, quick: bool) -> tuple[torch.nn.Module, dict]:
    hidden = 16 if quick else cfg["hidden_size"]
    common = {"n_components": cfg["n_components"], "rank": cfg["rank"], "hidden_size": hidden}
    common["num_layers"] = NUM_LAYERS
    common["pitch_max_lag"] = cfg.get("pitch_max_lag", 0)
    torch.manual_seed(0)
    if not flow:
        return RMDN(cfg["dim"], **common), common
    flow_args = {k: cfg[k] for k in ("flow_layers", "flow_hidden", "flow_depth")}
    if quick:
        flow_args["flow_hidden"] = 16
    return FRMDN(cfg["dim"], **common, **flow_args), {**common, **flow_args}


def training_step(model: torch.nn.Module, y: torch.Tensor):
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses: list[float] = []

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = -model.log_prob(y).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    return step, losses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--out", help="JSON path (default: bench/results/bench_training.json)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = QUICK if args.quick else FULL
    info = machine_info()
    print_machine(info)
    results: dict = {"machine": info, "run": {**run, "quick": args.quick}, "training": {}}

    print(f"\nTraining step (forward + backward + Adam), median of {run['steps']} steps")
    rows = []
    for name, cfg in CONFIGS.items():
        B, T = (4, 8) if args.quick else (cfg["batch"], cfg["length"])
        y = torch.randn(B, T, cfg["dim"], generator=torch.Generator().manual_seed(1))
        rmdn, rmdn_args = build(cfg, flow=False, quick=args.quick)
        frmdn, frmdn_args = build(cfg, flow=True, quick=args.quick)
        steps = {"rmdn": training_step(rmdn, y), "frmdn": training_step(frmdn, y)}
        times = time_interleaved(
            {key: step for key, (step, _) in steps.items()}, run["steps"], run["warmup"]
        )
        for key, (_, losses) in steps.items():
            if not all(math.isfinite(x) for x in losses):
                raise RuntimeError(f"{name} {key}: non-finite training loss {losses}")
        ratio = times["frmdn"]["median_s"] / times["rmdn"]["median_s"]
        results["training"][name] = {
            "batch": B,
            "length": T,
            "dim": cfg["dim"],
            "rmdn": {**times["rmdn"], "args": rmdn_args, "params": rmdn.num_parameters()},
            "frmdn": {**times["frmdn"], "args": frmdn_args, "params": frmdn.num_parameters()},
            "ratio": ratio,
            "target_ratio": TARGET_RATIO,
            "target_met": ratio <= TARGET_RATIO,
        }
        rows.append(
            [
                name,
                f"d={cfg['dim']} K={cfg['n_components']} r={cfg['rank']} "
                f"H={rmdn_args['hidden_size']} B={B} T={T}",
                f"{1e3 * times['rmdn']['median_s']:.1f}",
                f"{1e3 * times['frmdn']['median_s']:.1f}",
                f"{ratio:.2f}",
            ]
        )
    print(table(["config", "shape", "RMDN ms/step", "FRMDN ms/step", "FRMDN/RMDN"], rows))

    cfg = CONFIGS["audio-like"]
    steps = run["gen_steps"]
    audio_s = steps * cfg["dim"] / SAMPLE_RATE
    print(
        f"\nGeneration, audio-like model: sample(1, {steps}) = {audio_s:g} s of "
        f"{SAMPLE_RATE} Hz audio ({cfg['dim']} samples/step)"
    )
    rows = []
    generation = {}
    for key, flow in (("frmdn", True), ("rmdn", False)):
        model, _ = build(cfg, flow=flow, quick=args.quick)
        model.eval()
        timing = time_call(lambda model=model: model.sample(1, steps), run["gen_repeats"], 1)
        rtf = audio_s / timing["median_s"]
        generation[key] = {**timing, "real_time_factor": rtf}
        rows.append(
            [
                key.upper(),
                f"{timing['median_s']:.3f}",
                f"{1e3 * timing['median_s'] / steps:.2f}",
                f"{rtf:.1f}",
            ]
        )
    print(table(["model", "s per call", "ms per step", "real-time factor"], rows))
    results["generation"] = {
        "steps": steps,
        "sample_rate": SAMPLE_RATE,
        "samples_per_step": cfg["dim"],
        "audio_seconds": audio_s,
        **generation,
    }
    results["targets"] = {
        f"{name}_ratio_le_{TARGET_RATIO}": r["target_met"]
        for name, r in results["training"].items()
    }
    write_results("bench_training", results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
