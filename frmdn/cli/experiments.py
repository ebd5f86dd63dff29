"""``python -m frmdn experiments``: the experiment grid (:mod:`frmdn.experiments.grid`) from the
shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from frmdn.device import idle_cores
from frmdn.experiments.grid import QUICK_DATA, SUITES, GridProgress, dims_of, plan, run_grid

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction, data_help: str) -> None:
    """The ``experiments`` subcommand and its options."""
    experiments = commands.add_parser(
        "experiments",
        help="train the RMDN/FRMDN grid over seeds; results.csv and results.parquet in --out",
        description="Train every model kind (diagonal, low-rank and full-covariance RMDN; "
        "diagonal and low-rank FRMDN; an LSTM-conditioned FRMDN, an extension) at the same "
        "budget over seeds. Finished cells are skipped and interrupted ones resume, so the "
        "same command continues a stopped grid.",
    )
    experiments.add_argument("--suite", choices=SUITES, default="quick")
    experiments.add_argument(
        "--data", nargs="+", default=list(QUICK_DATA), help=f"{data_help} (default: all eight)"
    )
    experiments.add_argument("--out", type=Path, required=True, help="the grid's directory")
    experiments.add_argument(
        "--workers",
        type=int,
        default=None,
        help="cells trained at once, one torch thread each (default: the idle cores)",
    )
    experiments.add_argument("--device", default=None, help="cpu or cuda (default: best)")
    experiments.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> None:
    """Plan the grid, run it with a progress bar, and print where the table is."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    cells = plan(args.suite, args.data, dims_of(args.data))
    workers = args.workers or max(idle_cores(), 1)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "command": "python -m frmdn " + " ".join(sys.argv[1:]) if sys.argv else "",
        "suite": args.suite,
        "data": args.data,
        "cells": len(cells),
        "workers": workers,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    bar = None if args.quiet else tqdm(total=len(cells), unit="cell")

    def show(progress: GridProgress) -> None:
        if bar is not None:
            bar.update(progress.cells_done - bar.n)
            bar.set_postfix_str(f"{progress.cell} step {progress.step}/{progress.steps}")

    rows = run_grid(cells, args.out, workers=workers, device=args.device, on_progress=show)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    manifest |= {"finished": len(rows), "seconds": round(seconds, 1)}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"{len(rows)} of {len(cells)} cells in {seconds:.0f} s with {workers} workers: "
        f"{args.out / 'results.csv'}"
    )
