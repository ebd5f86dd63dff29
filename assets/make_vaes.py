"""Rebuild the bundled frame VAEs ``assets/pretrained/vae-{moving-digits,bouncing-balls}``.

Each VAE (:class:`frmdn.models.vae.FrameVAE`, 48×48 frames) is trained on every frame of 2,048
16-frame sequences of its scene drawn with seed ``VAE_SEED``, so it never sees the
train/valid/test sequences of the ``frames:`` data spec (seed 0 by default). Whole sequences
matter: the balls start in the upper half, so first frames alone would leave the floor unseen.
From the repository root::

    .venv/bin/python assets/make_vaes.py                  # the two VAEs (~3 min each, 1 core)
    .venv/bin/python assets/make_vaes.py --models         # also the latent models (~12 min)
    .venv/bin/python assets/make_vaes.py --only-models    # the latent models, VAEs kept

``--models`` then trains an RMDN and an FRMDN with the same K, rank and budget on the latent
sequences of each scene (``frmdn.experiments.pair.compare``; 8,192 training sequences, 16× the data
spec's default: with 512 both models overfit within a few hundred steps, and test NLL kept
falling from 2,048 to 8,192), saves them as
``assets/pretrained/frames-<scene>-{rmdn,frmdn}`` and prints the NLL table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from frmdn.data.frames import load_frames
from frmdn.models.vae import VAEConfig, train_vae

ROOT = Path(__file__).resolve().parent
PRETRAINED = ROOT / "pretrained"
SCENES = ("moving-digits", "bouncing-balls")
VAE_SEED = 100
CONFIG = VAEConfig(size=48, latent_dim=32, channels=(16, 32, 64), beta=1.0)
STEPS, BATCH_SIZE, LR = 8000, 32, 3e-3
FRAMES = {"n_train": 2048, "n_valid": 1, "n_test": 1, "length": 16}
MODEL_TRAIN_SEQUENCES = 8192
MODEL_OPTIONS = dict(n_components=5, rank=2, hidden_size=128, flow_layers=4, flow_hidden=64)
TRAIN = dict(steps=6000, batch_size=64, lr=3e-3, eval_every=100, patience=10, seed=0)


def make_vae(scene: str) -> Path:
    """Train and save the VAE of one scene; returns its directory."""
    frames = load_frames(scene, **FRAMES, seed=VAE_SEED).train  # (N, T, 48, 48)
    start = time.perf_counter()
    vae, losses = train_vae(
        frames, CONFIG, steps=STEPS, batch_size=BATCH_SIZE, lr=LR, seed=0, device="cpu"
    )
    seconds = time.perf_counter() - start
    tail = sum(losses[-100:]) / 100
    print(f"{scene}: {STEPS} steps in {seconds:.0f} s, loss {tail:.1f} nats/frame")
    metrics = {"steps": STEPS, "batch_size": BATCH_SIZE, "lr": LR, "seconds": seconds}
    metrics |= {"final_loss": tail, "losses": losses[::50]}
    data = {"scene": scene, "seed": VAE_SEED} | FRAMES
    return vae.save(PRETRAINED / f"vae-{scene}", metrics=metrics, data=data)


def make_models() -> None:
    """Train RMDN and FRMDN on the latent sequences of both scenes and print the table."""
    from frmdn.experiments.pair import compare, markdown_table
    from frmdn.training.trainer import TrainConfig

    specs = [f"frames:{scene}?n_train={MODEL_TRAIN_SEQUENCES}" for scene in SCENES]
    rows = compare(specs, TrainConfig(**TRAIN), out_dir=PRETRAINED, **MODEL_OPTIONS)
    print(markdown_table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", action="store_true", help="also train the latent models")
    parser.add_argument("--only-models", action="store_true", help="keep the VAEs as they are")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.only_models:
        for scene in SCENES:
            make_vae(scene)
    if args.models or args.only_models:
        make_models()


if __name__ == "__main__":
    main()
