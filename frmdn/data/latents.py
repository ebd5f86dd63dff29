r"""Frame sequences as VAE latent sequences, the ``frames:`` data spec (world-model style).

Each frame :math:`x_t` of a scene or video (see :mod:`frmdn.data.frames`) is encoded by a
:class:`~frmdn.models.vae.FrameVAE` into its posterior mean :math:`z_t = \mu(x_t)`, so a sequence
model learns :math:`p(z_t \mid z_{<t})` over ``latent_dim``-dimensional codes, as the MDN-RNN
of World Models does; :func:`~frmdn.models.vae.decode_latents` turns generated codes back into
frames.

The VAE comes from ``vae=PATH`` when given; the synthetic scenes default to the bundled
``assets/pretrained/vae-<scene>`` (in the bundled-data folder, :func:`frmdn.resources.data_dir`;
rebuilt by ``assets/make_vaes.py`` of the source repository). A video with no VAE
gets a small one trained on its training frames (a few hundred steps, seconds to a minute),
cached under ``$FRMDN_CACHE_DIR`` (default ``~/.cache/frmdn``) so that the same clip and
settings reuse it; ``info["notes"]`` says so.

A long video is never held as one array of frames (:mod:`frmdn.data.stream`): when its header
declares more than :data:`~frmdn.data.frames.MAX_FRAMES` frames (or no count), or with
``video:PATH?stream=1``, it is decoded a chunk at a time into a uint8 cache file
(T, size, size) and encoded into latents in batches read from that file; only the latents
(``latent_dim`` floats a frame) are kept in memory. See :func:`load_frame_latents`.

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
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from frmdn import resources
from frmdn.data.frames import FRAME_GENERATORS, load_frames
from frmdn.data.splits import SequenceSplit
from frmdn.data.video import MAX_FRAMES, FrameDataError
from frmdn.errors import CheckpointError

if TYPE_CHECKING:
    from frmdn.data.stream import CachedFrames
    from frmdn.models.vae import FrameVAE

__all__ = [
    "VIDEO_VAE",
    "VIDEO_VAE_FRAMES",
    "VIDEO_VAE_STEPS",
    "bundled_vae",
    "load_frame_latents",
    "resolve_vae_path",
]

VIDEO_VAE = {"latent_dim": 16, "channels": (16, 32, 64)}
"""Settings of the VAE trained on the fly for a video without ``vae=PATH``."""

VIDEO_VAE_STEPS = 600
"""Adam steps of that VAE (about half a minute on two CPU cores)."""

VIDEO_VAE_FRAMES = 20_000
"""A streamed video's VAE trains on at most this many of its training frames, evenly spaced
(read from the cache; 46 MB at 48 × 48): its steps draw 600 × 32 = 19,200 frames in all."""

ENCODE_FRAMES = 4096
"""Frames read from a streamed video's cache and encoded at a time."""


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
    from frmdn.models.vae import VAEConfig, load_vae, train_vae

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
    config = VAEConfig(size=key["size"], colors=key.get("colors", 1), **VIDEO_VAE)
    start = time.perf_counter()
    vae, losses = train_vae(frames, config, steps=VIDEO_VAE_STEPS, seed=key["seed"])
    seconds = time.perf_counter() - start
    count = frames.size // math.prod(config.frame_shape)  # frames in the windows
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


def _streamed_video(argument: str, stream: int, data_dir: str | os.PathLike | None) -> Path | None:
    """The video file to stream, or None to read ``argument`` in memory (see
    :func:`load_frame_latents`)."""
    from frmdn.data.stream import declared_frames

    if stream not in (-1, 0, 1):
        raise ValueError(f"stream must be 1 (always), 0 (never) or -1 (by length), got {stream}")
    if stream == 0 or argument in FRAME_GENERATORS:
        return None
    source = resources.resolve(argument, data_dir)
    if not source.is_file() or source.stat().st_size == 0:
        return None  # the in-memory reader says what is wrong with it
    if stream == 1:
        return source
    declared = declared_frames(source)  # None: not a video, which the reader explains
    return source if declared is not None and (declared == 0 or declared > MAX_FRAMES) else None


def _vae(
    argument: str,
    vae: str | None,
    data_dir: str | os.PathLike | None,
    train_frames: np.ndarray | None,
    key: dict,
    notes: list[str],
) -> tuple[str, FrameVAE]:
    """The VAE of ``frames:argument``: ``vae=PATH``, a scene's bundled one, or one trained on
    the video's ``train_frames`` (and cached under ``key``)."""
    from frmdn.models.vae import load_vae

    if vae is not None:
        return str(vae), load_vae(resolve_vae_path(vae, data_dir))
    if argument in FRAME_GENERATORS:
        vae_path = bundled_vae(argument)
        if not resolve_vae_path(vae_path, data_dir).is_dir():
            raise CheckpointError(
                f"the bundled VAE {vae_path} is missing: rebuild it with "
                "assets/make_vaes.py, or pass vae=PATH"
            )
        return vae_path, load_vae(resolve_vae_path(vae_path, data_dir))
    source = str(resolve_vae_path(argument, data_dir))  # the same lookup as the frames
    return _video_vae(train_frames, source, key, notes)


def _vae_key(size: int, length: int, seed: int) -> dict:
    key = {"size": size, "length": length, "seed": seed, "steps": VIDEO_VAE_STEPS}
    return key | {"vae": {k: list(v) if isinstance(v, tuple) else v for k, v in VIDEO_VAE.items()}}


def _check_size(model: FrameVAE, vae_path: str, size: int) -> None:
    if model.config.size != size:
        raise ValueError(
            f"the VAE {vae_path or '(trained)'} encodes {model.config.size}×"
            f"{model.config.size} frames but size={size}; use size={model.config.size}"
        )


def _vae_training_frames(frames: CachedFrames, count: int, notes: list[str]) -> np.ndarray:
    """The first ``count`` frames of a cached video (the training windows' frames), or at most
    :data:`VIDEO_VAE_FRAMES` of them evenly spaced, read a chunk at a time: (n, H, W)."""
    if count <= VIDEO_VAE_FRAMES:
        return frames.read(0, count)
    chosen = np.unique(np.linspace(0, count - 1, VIDEO_VAE_FRAMES).round().astype(np.int64))
    picked = np.empty((len(chosen), frames.size, frames.size), dtype=np.uint8)
    done = 0
    for start in range(0, count, ENCODE_FRAMES):
        stop = min(start + ENCODE_FRAMES, count)
        here = chosen[(chosen >= start) & (chosen < stop)]
        picked[done : done + len(here)] = frames.read(start, stop)[here - start]
        done += len(here)
    notes.append(f"the VAE trains on {len(chosen)} evenly spaced of the {count} training frames")
    return picked


def _encode_cached(
    model: FrameVAE, frames: CachedFrames, windows: np.ndarray, length: int
) -> torch.Tensor:
    """Latents (len(windows), length, latent_dim) of consecutive windows of a cached video,
    encoded from frames read :data:`ENCODE_FRAMES` (whole windows) at a time."""
    from frmdn.models.vae import encode_frames

    step = max(1, ENCODE_FRAMES // length)  # windows a read
    first, count = int(windows[0]), len(windows)
    parts = []
    for start in range(first, first + count, step):
        stop = min(start + step, first + count)
        chunk = frames.read(start * length, stop * length)
        parts.append(encode_frames(model, chunk.reshape(stop - start, length, *chunk.shape[1:])))
    return torch.cat(parts)


def _streamed_latents(
    argument: str,
    source: Path,
    *,
    vae: str | None,
    length: int,
    size: int,
    seed: int,
    data_dir: str | os.PathLike | None,
) -> SequenceSplit:
    """The latents of a video decoded through the frame cache (see :func:`load_frame_latents`):
    the windows and split of :func:`~frmdn.data.frames.load_frames`, never all frames in
    memory."""
    from frmdn.data.frames import time_split
    from frmdn.data.stream import cached_video

    if length < 2:
        raise ValueError(f"sequence length must be at least 2 to have a next step, got {length}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    frames = cached_video(source, size=size)
    count = frames.count // length
    if count < 3:
        raise FrameDataError(
            f"{source.name} has {frames.count} frames: need at least {3 * length} for one "
            f"train, valid and test sequence of {length} frames"
        )
    train, valid, test = time_split(np.arange(count))  # window indices, as load_frames splits
    notes = [*frames.notes, f"frames read a chunk at a time from the decoded-video cache "
             f"{frames.path}"]  # fmt: skip
    key = _vae_key(size, length, seed)
    if frames.count > MAX_FRAMES:  # other frames than the in-memory reader's: another VAE
        key["frames"] = frames.count
    training = None
    if vae is None:
        training = _vae_training_frames(frames, len(train) * length, notes)
    vae_path, model = _vae(argument, vae, data_dir, training, key, notes)
    del training
    _check_size(model, vae_path, size)
    parts = [_encode_cached(model, frames, part, length) for part in (train, valid, test)]
    info = {
        "kind": "frames",
        "source": str(argument),
        "length": length,
        "size": size,
        "frames": frames.count,
        "notes": notes,
        "streamed": True,
    }
    name = source.stem or str(argument)
    return SequenceSplit(
        *parts, name=name, info=info | _latent_info(name, vae_path, model, length)
    )


def _latent_info(name: str, vae_path: str, model: FrameVAE, length: int) -> dict:
    return {
        "kind": "frames",
        "name": name,
        "vae": vae_path or None,
        "latent_dim": model.config.latent_dim,
        "size": model.config.size,
        "length": length,
        "encoding": "VAE posterior means",
    }


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
    stream: int = -1,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The data spec ``frames:SCENE`` or ``frames:PATH``: VAE latent sequences of frames.

    Loads the frames with :func:`~frmdn.data.frames.load_frames` and encodes every frame
    into its posterior mean with :func:`~frmdn.models.vae.encode_frames`.

    A long video streams instead (:mod:`frmdn.data.stream`): when its header declares more
    than :data:`~frmdn.data.frames.MAX_FRAMES` frames (or no frame count), or with
    ``stream=1``, it is decoded a chunk at a time into a uint8 cache file (T, size, size)
    (:func:`~frmdn.data.stream.cached_video`, named by its SHA-256, ``size`` and the frame
    limit, so a second load decodes nothing), read up to
    :data:`~frmdn.data.stream.MAX_STREAM_FRAMES` frames rather than trimmed to ``MAX_FRAMES``,
    cut into the same windows and split by time as :func:`~frmdn.data.frames.load_frames`
    does, and encoded in batches read from the cache; a VAE trained for it sees at most
    :data:`VIDEO_VAE_FRAMES` of its training frames. Only the latents are held in memory. A
    video that fits under ``MAX_FRAMES`` gives the same frames, VAE and latents either way.

    Arguments:
        argument: ``"moving-digits"``, ``"bouncing-balls"`` or a path to a video file.
        vae: Directory of a saved :class:`~frmdn.models.vae.FrameVAE` (default: the bundled one
            of a scene; for a video, one trained on its training frames).
        length: Frames per sequence T.
        size: Frame side in pixels; must match the VAE.
        n_train: Training sequences (scenes only).
        n_valid: Validation sequences (scenes only).
        n_test: Test sequences (scenes only).
        seed: Seed of the scenes (and of a VAE trained for a video).
        stream: For a video file, 1 decodes it through the frame cache, 0 never does (it is
            then trimmed to ``MAX_FRAMES``), and the default (-1) does for a long video.
        data_dir: The bundled-data folder, for the bundled VAEs and digits and relative paths
            (default: see :func:`frmdn.resources.data_dir`).

    Returns:
        A split of float32 latents (N, T, latent_dim) with ``info`` holding ``kind``
        (``"frames"``), ``name``, ``vae`` (the VAE directory, to decode with), ``latent_dim``,
        ``size``, ``length``, the frames' description and any ``notes`` (and ``streamed``
        for a streamed video).
    """
    from frmdn.models.vae import encode_frames

    source = _streamed_video(argument, stream, data_dir)
    if source is not None:
        options = {"vae": vae, "length": length, "size": size, "seed": seed}
        return _streamed_latents(argument, source, data_dir=data_dir, **options)
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
    key = _vae_key(size, length, seed)
    vae_path, model = _vae(argument, vae, data_dir, frames.train, key, notes)
    _check_size(model, vae_path, size)
    parts = [encode_frames(model, getattr(frames, part)) for part in ("train", "valid", "test")]
    info = dict(frames.info) | _latent_info(frames.name, vae_path, model, frames.length)
    if notes:
        info["notes"] = notes
    return SequenceSplit(*(torch.as_tensor(p) for p in parts), name=frames.name, info=info)
