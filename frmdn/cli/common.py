"""What the command-line modules share: the one-line usage error, a positive-integer type
and the data a checkpoint records."""

from __future__ import annotations

import argparse
from pathlib import Path

from frmdn.checkpoints.load import read_metadata

__all__ = ["UsageError", "audio_info", "checkpoint_data", "positive", "recorded_info"]


class UsageError(Exception):
    """A bad command line, reported in one line without a traceback."""


def positive(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def checkpoint_data(checkpoint: Path, override: str | None = None) -> tuple[str, int, dict]:
    """The data spec (``override`` if given), data seed and data info a checkpoint records."""
    data = read_metadata(checkpoint).get("data")
    data = data if isinstance(data, dict) else {}
    spec = override or data.get("spec")
    if not isinstance(spec, str) or not spec:
        raise UsageError("the checkpoint records no usable data spec: pass --data")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UsageError(f"the checkpoint records an invalid data seed {seed!r}")
    return spec, seed, recorded_info(checkpoint)


def with_recorded_vae(spec: str, info: dict) -> str:
    """A ``frames:`` spec given without ``vae=`` encoded by the checkpoint's own VAE (the one
    its training latents came from), so fresh frames are scored in the model's latent space."""
    from frmdn.data import parse_spec

    scheme, _, options = parse_spec(spec)
    vae = info.get("vae")
    if scheme != "frames" or "vae" in options or not isinstance(vae, str) or not vae:
        return spec
    return f"{spec}{'&' if '?' in spec else '?'}vae={vae}"


def recorded_info(checkpoint: Path) -> dict:
    """The data info a checkpoint records ({} if none)."""
    data = read_metadata(checkpoint).get("data")
    info = data.get("info") if isinstance(data, dict) else None
    return info if isinstance(info, dict) else {}


def audio_info(info: dict) -> tuple[int, int] | None:
    """(sample rate, frame size) of audio data info, or None for other data."""
    if info.get("kind") != "audio":
        return None
    rate, frame = info.get("sample_rate"), info.get("frame_size")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (rate, frame)):
        raise UsageError("the checkpoint's audio data info lacks a valid sample_rate/frame_size")
    return rate, frame
