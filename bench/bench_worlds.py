"""World Models speed: rollout collection and one step of the steerable dream.

Collection: CarRacing-v3 and Doom Take Cover frames per second, collected by
``frmdn.data.worlds.collect_rollouts`` in 2 worker processes of one thread each, into a fresh
cache (the CarRacing zoom steps are played but not counted). The goal: 100,000 CarRacing frames
in under 10 minutes on 2 cores.

Dream: one dreamed step of both models (an RMDN and an FRMDN of the bundled pairs' settings,
LSTM 256, K = 5, rank 2, four couplings, the world's actions as input), each re-reading an
8-step context as ``sample(prime=...)`` does, plus decoding the two drawn latents to frames
with the world's bundled VAE; median of repeats on one thread.
The goal: well under 50 ms (20 frames/s).

Run: .venv/bin/python bench/bench_worlds.py [--quick] [--threads N] [--out PATH]
Writes bench/results/bench_worlds.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from timing import machine_info, time_call, write_results

from frmdn.data.world_latents import world_vae
from frmdn.data.worlds import WORLDS, collect_rollouts
from frmdn.models.sequence import FRMDN, RMDN
from frmdn.models.vae import load_vae

ROOT = Path(__file__).resolve().parents[1]
FULL = {"rollouts": 32, "length": 250, "repeats": 200}
QUICK = {"rollouts": 2, "length": 10, "repeats": 5}
PAIR = dict(n_components=5, rank=2, hidden_size=256)


def collection(world: str, rollouts: int, length: int) -> dict:
    """Frames per second of a fresh collection in 2 worker processes."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FRMDN_CACHE_DIR"] = cache
        start = time.perf_counter()
        collect_rollouts(world, list(range(rollouts)), length, workers=2)
        seconds = time.perf_counter() - start
    frames = rollouts * length
    return {"frames": frames, "seconds": seconds, "frames_per_second": frames / seconds}


def dream_step(world: str, repeats: int) -> dict:
    """Seconds for one dreamed step of both models and the decoding of both frames."""
    vae = load_vae(ROOT / world_vae(world))
    d, a = vae.config.latent_dim, WORLDS[world].action_dim
    models = {
        "RMDN": RMDN(d, cond_dim=a, **PAIR).eval(),
        "FRMDN": FRMDN(d, cond_dim=a, flow_layers=4, **PAIR).eval(),
    }
    prime = torch.randn(1, 8, d)
    x = torch.zeros(1, 9, a)

    @torch.no_grad()
    def step() -> None:
        drawn = [m.sample(1, 1, prime=prime, x=x) for m in models.values()]
        vae.decode(torch.cat(drawn).reshape(2, d))

    return time_call(step, repeats, warmup=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = QUICK if args.quick else FULL
    results: dict = {"machine": machine_info(), "run": {**run, "quick": args.quick}}
    results["collection"] = {
        world: collection(world, run["rollouts"], run["length"]) for world in WORLDS
    }
    results["dream"] = {world: dream_step(world, run["repeats"]) for world in WORLDS}
    for world in WORLDS:
        fps = results["collection"][world]["frames_per_second"]
        ms = 1000 * results["dream"][world]["median_s"]
        print(f"{world}: collection {fps:,.0f} frames/s on 2 workers; dream step {ms:.1f} ms")
    write_results("bench_worlds", results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
