"""Held-out World Models episodes bundled with the app: a few test rollouts of each world, so
the World Models page shows real frames, actions and episode ends without the environments.

The episodes are the first test rollouts of ``frames:<world>?rollouts=256&length=64`` (the
bundled models' data spec; seeds from :func:`frmdn.data.worlds.split_seeds`), so no bundled
model trained on them. ``assets/make_worlds.py --episodes`` writes them.
"""

from __future__ import annotations

import os
from pathlib import Path

from frmdn import resources
from frmdn.data.errors import DataError
from frmdn.data.worlds import WORLDS, WorldRollouts

__all__ = ["episodes_path", "load_episodes", "save_episodes"]


def episodes_path(world: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where the bundled episodes of ``world`` live: ``worlds/<world>-episodes.npz``."""
    if world not in WORLDS:
        raise DataError(f"unknown world {world!r}; worlds: {', '.join(WORLDS)}")
    return resources.data_dir(data_dir) / "worlds" / f"{world}-episodes.npz"


def save_episodes(rollouts: WorldRollouts, path: str | os.PathLike) -> None:
    """Write ``rollouts`` (frames, actions, done and seeds) to a compressed ``.npz``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    rollouts.save(path, compressed=True)


def load_episodes(world: str, data_dir: str | os.PathLike | None = None) -> WorldRollouts:
    """The bundled held-out episodes of ``world`` (raises :class:`DataError` when missing).

    The file is read without unpickling and checked by :class:`WorldRollouts` (shapes and
    dtypes), so a damaged file gives one clear error.
    """
    path = episodes_path(world, data_dir)
    if not path.is_file():
        raise DataError(f"{path.name} is missing: make it with assets/make_worlds.py --episodes")
    try:
        return WorldRollouts.load(path, world)
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"cannot read {path.name}: {error}") from None
