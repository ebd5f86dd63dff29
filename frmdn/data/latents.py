r"""Frame sequences as VAE latent sequences, the ``frames:`` data spec (world-model style).

Each frame :math:`x_t` of a scene or video (see :mod:`frmdn.data.frames`) is encoded by a
:class:`~frmdn.vae.FrameVAE` into its posterior mean :math:`z_t = \mu(x_t)`, so a sequence
model learns :math:`p(z_t \mid z_{<t})` over ``latent_dim``-dimensional codes, as the MDN-RNN
of World Models does; :func:`~frmdn.vae.decode_latents` turns generated codes back into
frames.

The VAE comes from ``vae=PATH`` when given; the synthetic scenes default to the bundled
``assets/pretrained/vae-<scene>`` (in the bundled-data folder, :func:`frmdn.resources.data_dir`;
rebuilt by ``assets/make_vaes.py`` of the source repository). A video with no VAE
gets a small one trained on its training frames (a few hundred steps, seconds to a minute),
cached under ``$FRMDN_CACHE_DIR`` (default ``~/.cache/frmdn``) so that the same clip and
settings reuse it; ``info["notes"]`` says so.

Example:
    >>> split = load_frame_latents("moving-digits", length=4, n_train=2, n_valid=1, n_test=1)
    >>> tuple(split.train.shape), split.info["vae"]
    ((2, 4, 32), 'assets/pretrained/vae-moving-digits')

References:
    Ha and Schmidhuber, "World Models", arXiv:1803.10122.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from frmdn import resources
from frmdn.data.frames import FRAME_GENERATORS, load_frames
from frmdn.data.splits import SequenceSplit
from frmdn.errors import CheckpointError

if TYPE_CHECKING:
    from frmdn.vae import FrameVAE

__all__ = [
    "VIDEO_VAE",
    "VIDEO_VAE_STEPS",
    "bundled_vae",
    "load_frame_latents",
    "resolve_vae_path",
]

VIDEO_VAE = {"latent_dim": 16, "channels": (16, 32, 64)}
"""Settings of the VAE trained on the fly for a video without ``vae=PATH``."""

VIDEO_VAE_STEPS = 600
"""Adam steps of that VAE (about half a minute on two CPU cores)."""


def bundled_vae(scene: str) -> str:
    """The name of the bundled VAE of a scene, e.g. for ``moving-digits``: a relative path
    that :func:`resolve_vae_path` finds in the bundled-data folder from anywhere."""
    if scene not in FRAME_GENERATORS:
        raise ValueError(f"no bundled VAE for {scene!r}; scenes: {', '.join(FRAME_GENERATORS)}")
    return f"assets/pretrained/vae-{scene}"


def resolve_vae_path(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A VAE directory; a relative one missing from the working directory is tried in the
    bundled-data folder (:func:`frmdn.resources.resolve`), so ``info["vae"]`` of a bundled VAE
    works from anywhere."""
    return resources.resolve(path, data_dir)


def _cache_dir() -> Path:
    return Path(os.environ.get("FRMDN_CACHE_DIR") or Path.home() / ".cache" / "frmdn")


def _video_vae(
    frames: np.ndarray, source: str, key: dict, notes: list[str]
) -> tuple[str, FrameVAE]:
    """A VAE for a video's training frames: cached if this clip was seen, else trained."""
    from frmdn.vae import VAEConfig, load_vae, train_vae

    digest = hashlib.sha256()
    with open(source, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(key, sort_keys=True).encode())
    directory = _cache_dir() / "vae" / f"{Path(source).stem[:40]}-{digest.hexdigest()[:16]}"
    if directory.is_dir():
        try:
            vae = load_vae(directory)
            notes.append(f"reused the VAE trained earlier on this clip ({directory})")
            return str(directory), vae
        except CheckpointError:
            pass  # a damaged cache entry: train again and overwrite it
    config = VAEConfig(size=key["size"], **VIDEO_VAE)
    start = time.perf_counter()
    vae, losses = train_vae(frames, config, steps=VIDEO_VAE_STEPS, seed=key["seed"])
    seconds = time.perf_counter() - start
    count = len(frames) * frames.shape[1]
    note = (
        f"no vae=PATH given: trained a small VAE on the {count} training frames "
        f"({VIDEO_VAE_STEPS} steps, {seconds:.0f} s, final loss {losses[-1]:.1f} nats/frame)"
    )
    try:
        vae.save(directory, metrics={"losses": losses, "seconds": seconds}, data=key)
    except OSError as error:
        notes.append(f"{note}; could not cache it ({error})")
        return "", vae
    notes.append(f"{note}, saved to {directory}")
    return str(directory), vae


def load_frame_latents(
    argument: str,
    *,
    vae: str | None = None,
    length: int = 16,
    size: int = 48,
    n_train: int = 512,
    n_valid: int = 64,
    n_test: int = 64,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The data spec ``frames:SCENE`` or ``frames:PATH``: VAE latent sequences of frames.

    Loads the frames with :func:`~frmdn.data.frames.load_frames` and encodes every frame
    into its posterior mean with :func:`~frmdn.vae.encode_frames`.

    Arguments:
        argument: ``"moving-digits"``, ``"bouncing-balls"`` or a path to a video file.
        vae: Directory of a saved :class:`~frmdn.vae.FrameVAE` (default: the bundled one
            of a scene; for a video, one trained on its training frames).
        length: Frames per sequence T.
        size: Frame side in pixels; must match the VAE.
        n_train: Training sequences (scenes only).
        n_valid: Validation sequences (scenes only).
        n_test: Test sequences (scenes only).
        seed: Seed of the scenes (and of a VAE trained for a video).
        data_dir: The bundled-data folder, for the bundled VAEs and digits and relative paths
            (default: see :func:`frmdn.resources.data_dir`).

    Returns:
        A split of float32 latents (N, T, latent_dim) with ``info`` holding ``kind``
        (``"frames"``), ``name``, ``vae`` (the VAE directory, to decode with), ``latent_dim``,
        ``size``, ``length``, the frames' description and any ``notes``.
    """
    from frmdn.vae import encode_frames, load_vae

    frames = load_frames(
        argument,
        n_train=n_train,
        n_valid=n_valid,
        n_test=n_test,
        length=length,
        size=size,
        seed=seed,
        data_dir=data_dir,
    )
    notes = list(frames.info.get("notes", []))
    if vae is not None:
        vae_path, model = str(vae), load_vae(resolve_vae_path(vae, data_dir))
    elif argument in FRAME_GENERATORS:
        vae_path = bundled_vae(argument)
        if not resolve_vae_path(vae_path, data_dir).is_dir():
            raise CheckpointError(
                f"the bundled VAE {vae_path} is missing: rebuild it with "
                "assets/make_vaes.py, or pass vae=PATH"
            )
        model = load_vae(resolve_vae_path(vae_path, data_dir))
    else:
        key = {"size": size, "length": length, "seed": seed, "steps": VIDEO_VAE_STEPS}
        key |= {"vae": {k: list(v) if isinstance(v, tuple) else v for k, v in VIDEO_VAE.items()}}
        source = str(resolve_vae_path(argument, data_dir))  # the same lookup as the frames
        vae_path, model = _video_vae(frames.train, source, key, notes)
    if model.config.size != size:
        raise ValueError(
            f"the VAE {vae_path or '(trained)'} encodes {model.config.size}×"
            f"{model.config.size} frames but size={size}; use size={model.config.size}"
        )
    parts = [encode_frames(model, getattr(frames, part)) for part in ("train", "valid", "test")]
    info = dict(frames.info) | {
        "kind": "frames",
        "name": frames.name,
        "vae": vae_path or None,
        "latent_dim": model.config.latent_dim,
        "size": size,
        "length": frames.length,
        "encoding": "VAE posterior means",
    }
    if notes:
        info["notes"] = notes
    return SequenceSplit(*(torch.as_tensor(p) for p in parts), name=frames.name, info=info)
