"""How well each bundled pair's Gaussians fit the true next values: the KS distance of the
whitened residuals from N(0, 1) and the mean squared Mahalanobis distance per dimension.

Not a speed benchmark but a measured quality figure, kept here for the same reason: it is run
by hand and quoted in the README (every page shows the same numbers and Q-Q plots). For each
bundled pair, the first SEQUENCES test sequences of its data (data seed 0, every step t >= 1)
are scored by :func:`frmdn.views.mahalanobis_fit` under the bundled RMDN and FRMDN: the toy
sets, the bundled speech's test files (80-sample frames, sequences of 50, pre-emphasis 0.9),
the test digits, and the VAE latents of each frame generator's test sequences (as the pages
make them).

Run: .venv/bin/python bench/mixture_fit.py [--quick] [--threads N] [--out PATH]
Writes bench/results/mixture_fit.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from timing import machine_info, write_results

from frmdn import views
from frmdn.checkpoints.load import load
from frmdn.data import load_data, speech
from frmdn.data.frames import load_frames
from frmdn.data.toy import TOY_NAMES
from frmdn.models.vae import encode_frames, load_vae
from frmdn.resources import pretrained_dir

SEQUENCES = 64
SCENES = ("moving-digits", "bouncing-balls")


def held_out(name: str) -> torch.Tensor:
    """The test sequences of a bundled pair's data, as its page makes them (N, T, d)."""
    if name.startswith("toy-"):
        return load_data(f"toy:{name[4:]}", seed=0).test
    if name == "speech":
        return speech.bundled_split(rate=8000, frame_size=80, length=50, emphasis=0.9).test
    if name == "images-digits":
        return load_data("images:digits", seed=0).test
    scene = name.removeprefix("frames-")
    frames = load_frames(scene, length=16, size=48, seed=0, n_train=512, n_valid=64, n_test=64)
    return encode_frames(load_vae(pretrained_dir() / f"vae-{scene}"), frames.test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two pairs, 4 sequences")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pairs = [f"toy-{name}" for name in TOY_NAMES] + ["speech", "images-digits"]
    pairs += [f"frames-{scene}" for scene in SCENES]
    names, sequences = (pairs[:1] + pairs[-1:], 4) if args.quick else (pairs, SEQUENCES)
    fits = {}
    for name in names:
        test = held_out(name)[:sequences]
        fits[name] = {"dim": test.shape[-1]}
        for kind in ("rmdn", "frmdn"):
            fit = views.mahalanobis_fit(load(pretrained_dir() / f"{name}-{kind}"), test)
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
