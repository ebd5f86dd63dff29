"""How well each bundled toy pair's Gaussians fit the true next values: the KS distance of the
whitened residuals from N(0, 1) and the mean squared Mahalanobis distance per dimension.

Not a speed benchmark but a measured quality figure, kept here for the same reason: it is run
by hand and quoted in the README (the toy page shows the same numbers and Q-Q plots). For each
toy set, the first SEQUENCES test sequences (data seed 0, every step t >= 1) are scored by
:func:`frmdn.views.mahalanobis_fit` under the bundled RMDN and FRMDN.

Run: .venv/bin/python bench/mixture_fit.py [--quick] [--threads N] [--out PATH]
Writes bench/results/mixture_fit.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from timing import machine_info, write_results

from frmdn import views
from frmdn.checkpoint import load
from frmdn.data import load_data
from frmdn.data.toy import TOY_NAMES
from frmdn.resources import pretrained_dir

SEQUENCES = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one toy set, 4 sequences")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names, sequences = (TOY_NAMES[:1], 4) if args.quick else (TOY_NAMES, SEQUENCES)
    fits = {}
    for name in names:
        test = load_data(f"toy:{name}", seed=0).test[:sequences]
        fits[name] = {}
        for kind in ("rmdn", "frmdn"):
            fit = views.mahalanobis_fit(load(pretrained_dir() / f"toy-{name}-{kind}"), test)
            fits[name][kind.upper()] = {"ks": fit.ks, "mean_m2_per_dim": fit.mean_m2}
            print(f"{name} {kind.upper()}: KS {fit.ks:.3f}, mean m²/d {fit.mean_m2:.3f}")
    write_results(
        "mixture_fit",
        {
            "machine": machine_info(),
            "run": {"quick": args.quick, "sequences": sequences, "data_seed": 0},
            "fits": fits,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
