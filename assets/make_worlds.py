"""Rebuild the bundled World Models VAEs ``assets/pretrained/vae-{car-racing,doom-take-cover}``.

Each RGB VAE (:class:`frmdn.models.vae.FrameVAE`, 64 × 64 × 3 frames, the World Models shape
of four stride-2 convolutions, narrower with ``--narrow``) trains on the frames of rollouts
collected (:mod:`frmdn.data.worlds`) from seeds ``VAE_SEEDS`` onward, a range disjoint from
every train, valid and test seed of the ``frames:`` data specs, so it never sees a held-out
track or episode. Its reconstruction error is measured on the test rollouts of seed 0 (the
data spec's default) and recorded in the VAE's metrics. From the repository root::

    .venv/bin/python assets/make_worlds.py car-racing doom-take-cover --narrow
    .venv/bin/python assets/make_worlds.py car-racing --out /tmp/vaes   # the full-width one
    .venv/bin/python assets/make_worlds.py car-racing doom-take-cover --only-models

``--models`` (or ``--only-models``, VAEs kept) then trains an action-conditioned RMDN and FRMDN
with the same K, rank, LSTM width and budget on each world's latent sequences
(``frmdn.experiments.pair.compare`` on ``MODEL_SPEC``), checks that half precision leaves their
test NLL unchanged, saves them in half precision as ``assets/pretrained/frames-<world>-{rmdn,
frmdn}`` and prints the NLL table.

``--episodes`` writes the page's held-out episodes ``assets/worlds/<world>-episodes.npz``: the
first ``EPISODES`` test rollouts of ``MODEL_SPEC`` (no bundled model trained on them).
``--episode-end`` fits Doom's episode-end head (:mod:`frmdn.models.episode_end`, an extension)
on the VAE's training rollouts, scores it on ``END_TEST_ROLLOUTS`` held-out ones, saves it as
``assets/pretrained/episode-end-doom-take-cover`` and records its scores in ``END_RECORD``.

Weights are stored in half precision; the error is measured both ways and recorded.
"""

from __future__ import annotations

import argparse
import json
import time
from copy import deepcopy
from pathlib import Path

import numpy as np
import torch

from frmdn.data.world_episodes import episodes_path, save_episodes
from frmdn.data.worlds import SPLIT_OFFSETS, WORLDS, collect_rollouts, split_seeds
from frmdn.models.vae import FrameVAE, VAEConfig, decode_latents, encode_frames, train_vae

ROOT = Path(__file__).resolve().parent
PRETRAINED = ROOT / "pretrained"
RECORD = ROOT.parent / "bench" / "results" / "world_vaes.json"  # every VAE made, by width
VAE_SEEDS = 3 * SPLIT_OFFSETS["valid"]  # beyond train (0+), valid (1e6+) and test (2e6+)
ROLLOUTS, LENGTH = 100, 200  # frames the VAE trains on: 20,000 per world
LATENT = {"car-racing": 32, "doom-take-cover": 64}  # as in World Models
WIDE, NARROW = (32, 64, 128, 256), (16, 32, 64, 128)
STEPS, BATCH_SIZE, LR = 4000, 32, 2e-3
TEST_ROLLOUTS, TEST_LENGTH = 8, 100  # the held-out frames the error is measured on
MODEL_SPEC = "frames:{world}?rollouts=256&length=64"
MODEL_OPTIONS = dict(n_components=5, rank=2, hidden_size=256, flow_layers=4, flow_hidden=64)
TRAIN = dict(steps=3000, batch_size=32, lr=1e-3, eval_every=100, patience=8, seed=0)
EPISODES = 8  # held-out episodes bundled for the page, per world
END_WORLD, END_HORIZON, END_DECAY = "doom-take-cover", 4, 1e-2  # "ends within 4 frames"
END_TEST_ROLLOUTS = 100  # held-out rollouts of LENGTH frames the head is scored on
END_RECORD = ROOT.parent / "bench" / "results" / "episode_end.json"


def reconstruction_error(vae: FrameVAE, frames: np.ndarray) -> float:
    """Mean squared error per colour value, on the 0..1 scale, of the VAE's reconstructions
    (decoded posterior means) of uint8 frame sequences (N, T, 64, 64, 3)."""
    decoded = decode_latents(vae, encode_frames(vae, frames))
    difference = decoded.astype(np.float64) - frames.astype(np.float64)
    return float(np.mean(np.square(difference / 255.0)))


def record(world: str, vae: FrameVAE, metrics: dict) -> None:
    """Keep a VAE's held-out error and size in ``RECORD`` (the README's width comparison)."""
    results = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    results[f"{world} {'/'.join(map(str, vae.config.channels))}"] = {
        "test_mse": metrics["test_mse"],
        "test_mse_half": metrics["test_mse_half"],
        "parameters": sum(p.numel() for p in vae.parameters()),
        "seconds": metrics["seconds"],
        "steps": metrics["steps"],
    }
    RECORD.write_text(json.dumps(results, indent=2) + "\n")


def halved(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` whose parameters are rounded through float16, as a checkpoint saved
    with ``half=True`` stores them (buffers stay exact)."""
    copy = deepcopy(module)
    with torch.no_grad():
        for parameter in copy.parameters():
            parameter.copy_(parameter.half())
    return copy.eval()


def make(world: str, channels: tuple[int, ...], out: Path, workers: int) -> None:
    config = VAEConfig(size=64, latent_dim=LATENT[world], channels=channels, colors=3)
    seeds = range(VAE_SEEDS, VAE_SEEDS + ROLLOUTS)
    start = time.perf_counter()
    frames = collect_rollouts(world, list(seeds), LENGTH, workers=workers).frames
    collected = time.perf_counter() - start
    test_seeds = split_seeds(0, TEST_ROLLOUTS * 8)["test"][:TEST_ROLLOUTS]
    test = collect_rollouts(world, test_seeds, TEST_LENGTH, workers=workers).frames
    start = time.perf_counter()
    vae, losses = train_vae(
        frames, config, steps=STEPS, batch_size=BATCH_SIZE, lr=LR, seed=0, device="cpu"
    )
    seconds = time.perf_counter() - start
    error, error_half = reconstruction_error(vae, test), reconstruction_error(halved(vae), test)
    print(
        f"{world} {channels}: {len(seeds) * LENGTH} frames collected in {collected:.0f} s; "
        f"{STEPS} steps in {seconds:.0f} s; held-out MSE per value {error:.5f} "
        f"(half precision {error_half:.5f}); {sum(p.numel() for p in vae.parameters()):,} "
        "parameters",
        flush=True,
    )
    metrics = {
        "steps": STEPS,
        "batch_size": BATCH_SIZE,
        "lr": LR,
        "seconds": seconds,
        "final_loss": float(np.mean(losses[-100:])),
        "losses": losses[::50],
        "test_mse": error,
        "test_mse_half": error_half,
        "test_frames": int(test.shape[0] * test.shape[1]),
    }
    data = {"world": world, "seeds": [seeds.start, seeds.stop], "length": LENGTH}
    vae.save(out / f"vae-{world}", metrics=metrics, data=data, half=True)
    record(world, vae, metrics)


def make_models(world: str, out: Path) -> None:
    """Train the world's RMDN and FRMDN, store them in half precision, print their NLLs."""
    from frmdn.checkpoints.load import load
    from frmdn.data import load_data
    from frmdn.experiments.pair import compare, markdown_table
    from frmdn.training.trainer import TrainConfig, evaluate_nll

    spec = MODEL_SPEC.format(world=world)
    rows = compare([spec], TrainConfig(**TRAIN), out_dir=out, **MODEL_OPTIONS)
    print(markdown_table(rows), flush=True)
    test = load_data(spec).part("test")
    for name in ("rmdn", "frmdn"):
        directory = out / f"frames-{world}-{name}"
        model = load(directory)
        full = evaluate_nll(model, test)
        half = evaluate_nll(halved(model), test)
        print(f"{directory.name}: test NLL {full:.4f} (float32), {half:.4f} (half)", flush=True)
        model.save(
            directory,
            metrics=model.metadata["metrics"] | {"test_nll_half": half},
            data=model.metadata["data"],
            half=True,
        )


def make_episodes(world: str, workers: int) -> None:
    """The page's held-out episodes: the first EPISODES test rollouts of MODEL_SPEC."""
    rollouts, length = 256, 64
    assert MODEL_SPEC.format(world=world).endswith(f"rollouts={rollouts}&length={length}")
    seeds = split_seeds(0, rollouts)["test"][:EPISODES]
    path = episodes_path(world)
    save_episodes(collect_rollouts(world, seeds, length, workers=workers), path)
    print(f"{path}: {EPISODES} episodes of {length} frames, {path.stat().st_size:,} bytes")


def make_episode_end(out: Path, workers: int) -> None:
    """Doom's episode-end head on the VAE's training rollouts, scored on held-out ones."""
    from frmdn.models.episode_end import episode_end_scores, fit_episode_end
    from frmdn.models.vae import load_vae

    vae = load_vae(out / f"vae-{END_WORLD}")
    train = collect_rollouts(END_WORLD, list(range(VAE_SEEDS, VAE_SEEDS + ROLLOUTS)), LENGTH)
    test_seeds = split_seeds(0, 8 * END_TEST_ROLLOUTS)["test"][:END_TEST_ROLLOUTS]
    test = collect_rollouts(END_WORLD, test_seeds, LENGTH, workers=workers)
    head = fit_episode_end(
        encode_frames(vae, train.frames), train.done, horizon=END_HORIZON, weight_decay=END_DECAY
    )
    scores = episode_end_scores(head, encode_frames(vae, test.frames), test.done)
    scores |= {"horizon": END_HORIZON, "train_episode_ends": int(train.done.sum())}
    head.save(out / f"episode-end-{END_WORLD}", metrics=scores)
    END_RECORD.write_text(json.dumps({END_WORLD: scores}, indent=2) + "\n")
    print(f"episode-end head: {scores}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("worlds", nargs="+", choices=list(WORLDS))
    parser.add_argument("--narrow", action="store_true", help=f"channels {NARROW}, not {WIDE}")
    parser.add_argument("--out", type=Path, default=PRETRAINED)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", action="store_true", help="then the RMDN and FRMDN")
    parser.add_argument("--only-models", action="store_true", help="the models, VAEs kept")
    parser.add_argument("--episodes", action="store_true", help="only the page's episodes")
    parser.add_argument("--episode-end", action="store_true", help="only Doom's end head")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.episodes or args.episode_end:
        for world in args.worlds if args.episodes else []:
            make_episodes(world, args.workers)
        if args.episode_end:
            make_episode_end(args.out, args.workers)
        return
    for world in args.worlds:
        if not args.only_models:
            make(world, NARROW if args.narrow else WIDE, args.out, args.workers)
        if args.models or args.only_models:
            make_models(world, args.out)


if __name__ == "__main__":
    main()
