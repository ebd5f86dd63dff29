r"""Action-conditioned latent sequences, World Models style: ``frames:car-racing``,
``frames:doom-take-cover`` and a user's ``frames:PATH.npz`` recording.

Each 64 × 64 RGB frame is encoded by an RGB :class:`~frmdn.models.vae.FrameVAE` into its
posterior mean :math:`z_t`, and the actions become the conditioning inputs of a
:class:`~frmdn.data.splits.SequenceSplit`: the model predicting :math:`z_t` reads
:math:`x_t = a_{t-1}`, the action that led from frame :math:`t-1` to frame :math:`t`
(:math:`x_0 = 0`), as the MDN-RNN of World Models reads :math:`[z_{t-1}, a_{t-1}]`.

The worlds' rollouts come from :mod:`frmdn.data.worlds` (train, valid and test from disjoint
seed ranges) and their VAEs default to the bundled ``assets/pretrained/vae-<world>``. A
recording's sequences are split 80/10/10 in file order and its VAE is ``vae=PATH`` or one
trained on its training frames (cached, as for a video).

:func:`load_frame_spec` is the ``frames:`` scheme's loader: it sends a world, an ``.npz``
recording, or anything else (scenes, videos) to :func:`~frmdn.data.latents.load_frame_latents`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from frmdn.data.latents import _video_vae, load_frame_latents, resolve_vae_path
from frmdn.data.splits import SequenceSplit
from frmdn.data.video import FrameDataError
from frmdn.data.worlds import FRAME_SIZE, WORLDS, collect_rollouts, resize_frame, split_seeds
from frmdn.errors import CheckpointError

if TYPE_CHECKING:
    from frmdn.models.vae import FrameVAE

__all__ = [
    "load_frame_spec",
    "load_recording_latents",
    "load_world_latents",
    "previous_actions",
    "world_vae",
]

RECORDING_VAE_KEY = {"size": FRAME_SIZE, "colors": 3}


def world_vae(world: str) -> str:
    """The bundled VAE of a world, as a relative path found from anywhere."""
    return f"assets/pretrained/vae-{world}"


def previous_actions(actions: np.ndarray) -> torch.Tensor:
    """x_t = a_{t-1} (x_0 = 0) of actions (N, T, A): float32 (N, T, A)."""
    x = np.zeros_like(actions, dtype=np.float32)
    x[:, 1:] = actions[:, :-1]
    return torch.from_numpy(x)


def _load_rgb_vae(path: str, data_dir: str | os.PathLike | None) -> FrameVAE:
    from frmdn.models.vae import load_vae

    directory = resolve_vae_path(path, data_dir)
    if not directory.is_dir():
        raise CheckpointError(
            f"the VAE {path} is missing: rebuild it with assets/make_worlds.py, or pass vae=PATH"
        )
    vae = load_vae(directory)
    if vae.config.frame_shape != (FRAME_SIZE, FRAME_SIZE, 3):
        raise ValueError(
            f"the VAE {path} encodes {vae.config.frame_shape} frames, not 64 × 64 RGB ones"
        )
    return vae


def _split(name: str, latents: dict, actions: dict, info: dict, vae: FrameVAE) -> SequenceSplit:
    return SequenceSplit(
        latents["train"],
        latents["valid"],
        latents["test"],
        name=name,
        info=info | {"latent_dim": vae.config.latent_dim},
        train_x=previous_actions(actions["train"]),
        valid_x=previous_actions(actions["valid"]),
        test_x=previous_actions(actions["test"]),
    )


def _shifted(
    progress: Callable[[int, int], None], before: int, total: int
) -> Callable[[int, int], None]:
    """A part's ``progress(done, of)`` counted among all parts: ``before`` came earlier."""
    return lambda done, _: progress(before + done, total)


def load_world_latents(
    world: str,
    *,
    seed: int = 0,
    rollouts: int = 64,
    length: int = 32,
    vae: str | None = None,
    workers: int = 2,
    data_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SequenceSplit:
    """``frames:car-racing`` or ``frames:doom-take-cover``: latents (N, T, L) of freshly
    collected (or cached) rollouts with their previous actions as inputs (N, T, A).

    Arguments:
        world: A name in :data:`~frmdn.data.worlds.WORLDS`.
        seed: The first training rollout's seed (valid and test seeds lie in their own ranges).
        rollouts: Training rollouts; valid and test get an eighth of that each (at least one).
        length: Frames per rollout T.
        vae: Directory of an RGB 64 × 64 VAE (default: the world's bundled one).
        workers: Processes collecting rollouts that are not cached yet.
        data_dir: The bundled-data folder (see :func:`frmdn.resources.data_dir`).
        progress: Called as ``progress(done, total)`` after each rollout collected (cached
            parts count at once).
    """
    from frmdn.models.vae import encode_frames

    vae_path = vae or world_vae(world)
    model = _load_rgb_vae(vae_path, data_dir)
    seeds = split_seeds(seed, rollouts)
    total, before = sum(map(len, seeds.values())), 0
    parts = {}
    for part, part_seeds in seeds.items():
        report = None if progress is None else _shifted(progress, before, total)
        parts[part] = collect_rollouts(world, part_seeds, length, workers=workers, progress=report)
        before += len(part_seeds)
        if progress is not None:
            progress(before, total)
    latents = {part: encode_frames(model, r.frames) for part, r in parts.items()}
    info = {
        "kind": "frames",
        "source": "world",
        "world": world,
        "description": WORLDS[world].description,
        "actions": list(WORLDS[world].action_names),
        "seed": seed,
        "rollouts": rollouts,
        "length": length,
        "size": FRAME_SIZE,
        "vae": vae_path,
        "episode_ends": {part: int(r.done.sum()) for part, r in parts.items()},
    }
    actions = {part: r.actions for part, r in parts.items()}
    return _split(world, latents, actions, info, model)


def _resized(frames: np.ndarray) -> np.ndarray:
    """Frames (N, T, H, W, 3) uint8 resized to 64 × 64 as collected frames are (unchanged
    when they are)."""
    if frames.shape[2:4] == (FRAME_SIZE, FRAME_SIZE):
        return frames
    flat = np.stack([resize_frame(f) for f in frames.reshape(-1, *frames.shape[2:])])
    return flat.reshape(*frames.shape[:2], FRAME_SIZE, FRAME_SIZE, 3)


def load_recording_latents(
    path: str,
    *,
    seed: int = 0,
    vae: str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """``frames:PATH.npz``: a user's recording (see :func:`~frmdn.data.recordings.read_recording`)
    as latents, its actions (if any) as inputs; sequences split 80/10/10 in file order."""
    from frmdn.data.recordings import read_recording
    from frmdn.models.vae import encode_frames

    source = resolve_vae_path(path, data_dir)  # the bundled-data lookup of a relative path
    if not source.is_file():
        raise FrameDataError(f"{path} is not a file")
    frames, actions = read_recording(source)
    frames = _resized(frames)
    n = len(frames)
    held = max(1, round(n / 10))
    cuts = {"train": slice(0, n - 2 * held), "valid": slice(n - 2 * held, n - held)}
    cuts["test"] = slice(n - held, n)
    notes: list[str] = []
    if vae is not None:
        vae_path, model = str(vae), _load_rgb_vae(vae, data_dir)
    else:
        key = RECORDING_VAE_KEY | {"seed": seed, "length": frames.shape[1]}
        vae_path, model = _video_vae(frames[cuts["train"]], str(source), key, notes)
    latents = {part: encode_frames(model, frames[cut]) for part, cut in cuts.items()}
    info = {
        "kind": "frames",
        "source": str(path),
        "size": FRAME_SIZE,
        "length": frames.shape[1],
        "vae": vae_path,
        "notes": notes,
    }
    if actions is None:
        return SequenceSplit(
            latents["train"],
            latents["valid"],
            latents["test"],
            name=source.stem,
            info=info | {"latent_dim": model.config.latent_dim},
        )
    parts = {part: actions[cut] for part, cut in cuts.items()}
    return _split(source.stem, latents, parts, info, model)


def load_frame_spec(
    argument: str,
    *,
    vae: str | None = None,
    length: int | None = None,
    size: int | None = None,
    n_train: int | None = None,
    n_valid: int | None = None,
    n_test: int | None = None,
    rollouts: int | None = None,
    workers: int | None = None,
    seed: int = 0,
    stream: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The ``frames:`` scheme: a world (options ``seed``, ``rollouts``, ``length``, ``vae``,
    ``workers``), an ``.npz`` recording (``vae``) or a scene or video (the options of
    :func:`~frmdn.data.latents.load_frame_latents`)."""
    given = {
        name: value
        for name, value in dict(
            vae=vae,
            length=length,
            size=size,
            n_train=n_train,
            n_valid=n_valid,
            n_test=n_test,
            rollouts=rollouts,
            workers=workers,
            stream=stream,
        ).items()
        if value is not None
    }
    if argument in WORLDS:
        route, allowed = load_world_latents, {"vae", "length", "rollouts", "workers"}
    elif argument.lower().endswith(".npz"):
        route, allowed = load_recording_latents, {"vae"}
    else:
        route = load_frame_latents
        allowed = {"vae", "length", "size", "n_train", "n_valid", "n_test", "stream"}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for frames:{argument}; use {sorted(allowed)}"
        )
    return route(argument, seed=seed, data_dir=data_dir, **given)
