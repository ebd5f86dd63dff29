"""Training throughput of one process against two DistributedDataParallel processes (CPU).

For the toy and audio-like FRMDNs of ``bench_training.py``, the same global batch is trained
three ways: one process with one torch thread, one process with two threads, and two
processes under torchrun (gloo, one thread each, half the batch each). Each run takes
``--warmup`` untimed steps and then times ``--steps`` steps of ``Trainer.run`` (forward,
backward, gradient all-reduce, clipping, Adam); steps per second are compared in one run, so
the ratios hold on a shared machine.

Run: .venv/bin/python bench/bench_distributed.py [--quick] [--out PATH]
Writes bench/results/bench_distributed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from bench_training import CONFIGS
from timing import machine_info, print_machine, table, write_results

from frmdn.device import set_threads
from frmdn.models.sequence import FRMDN
from frmdn.training.distributed import leave
from frmdn.training.trainer import TrainConfig, Trainer

HERE = Path(__file__).resolve()
SEQUENCES = 256


def worker(config_name: str, steps: int, warmup: int) -> None:
    """Time ``steps`` training steps of one configuration (inside torchrun or alone)."""
    set_threads(int(os.environ.get("FRMDN_THREADS", "1")))
    c = dict(CONFIGS[config_name])
    batch, length = c.pop("batch"), c.pop("length")
    torch.manual_seed(0)
    model = FRMDN(c.pop("dim"), **c)
    y = torch.randn(SEQUENCES, length, model.config.dim)
    model.standardize_on(y)
    config = TrainConfig(steps=10**9, batch_size=batch, eval_every=10**9, patience=0)
    try:
        trainer = Trainer(model, y, y[:8], config)
        trainer.run(warmup)
        start = time.perf_counter()
        trainer.run(steps)
        seconds = time.perf_counter() - start
    finally:
        leave()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"steps_per_second": steps / seconds}))


def run(config_name: str, steps: int, warmup: int, processes: int, threads: int) -> float:
    """Steps per second of one configuration in a fresh process group."""
    command = [sys.executable, str(HERE), "--worker", config_name, str(steps), str(warmup)]
    if processes > 1:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={processes}", *command[1:],
        ]  # fmt: skip
    environ = os.environ | {"FRMDN_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=environ, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("{"))
    return json.loads(line)["steps_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke test)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help="unused: each run sets its own")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.worker:
        name, steps, warmup = args.worker
        worker(name, int(steps), int(warmup))
        return
    steps, warmup = (4, 1) if args.quick else (60, 10)
    info = machine_info()
    print_machine(info)
    ways = {
        "1 process, 1 thread": (1, 1),
        "1 process, 2 threads": (1, 2),
        "2 processes (DDP), 1 thread each": (2, 1),
    }
    rows, results = [], {}
    for name in ("toy", "audio-like"):
        rates = {way: run(name, steps, warmup, *spec) for way, spec in ways.items()}
        base = rates["1 process, 1 thread"]
        results[name] = {
            way: {"steps_per_second": rate, "speed-up": rate / base} for way, rate in rates.items()
        }
        rows.append([name, *(f"{r:.1f} ({r / base:.2f}x)" for r in rates.values())])
    print(table(["configuration", *ways], rows))
    write_results(
        "bench_distributed",
        {
            "machine": info,
            "run": {"quick": args.quick, "steps": steps, "warmup": warmup},
            "throughput": results,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
