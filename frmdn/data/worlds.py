r"""World Models rollouts: CarRacing and DoomTakeCover frames with the actions that made them.

The paper's image-sequence experiments follow World Models (Ha and Schmidhuber): a random
policy plays an environment, each frame is cropped and resized to 64 × 64 RGB, and a sequence
model conditioned on the action :math:`a_t` predicts the next frame's VAE latent. This module
collects those rollouts, deterministically from their seeds, and keeps them in a
:class:`WorldRollouts`: frames (N, T, 64, 64, 3) uint8, actions (N, T, A) float32 and a
``done`` flag (N, T) where an episode ended.

Two worlds (:data:`WORLDS`), each with its documented random collection policy:

- ``car-racing``: Gymnasium's ``CarRacing-v3``; its track is generated from the rollout's
  seed. The first :data:`CAR_ZOOM_STEPS` steps (the camera zooms in) are played but not kept;
  each kept frame drops the bottom 12 rows (the dashboard) before the resize. Actions
  (steer in [-1, 1], gas and brake in [0, 1]) follow a random walk pulled back toward light
  gas, no brake and a steer that leans toward the grey road seen just ahead of the car (an
  Ornstein-Uhlenbeck process, clipped to range): the car wiggles, speeds up and brakes at
  random yet mostly stays on or near the road, so the frames show road.
- ``doom-take-cover``: ViZDoom's ``take_cover.cfg`` at 160 × 120. The action is one of move
  left, stay, move right, as one float in {-1, 0, 1}; the policy holds a uniformly drawn action
  for 1 to 10 frames, as in World Models. When the player dies within a rollout, ``done`` marks
  the last frame and a new episode (seeded from the rollout's seed) continues the rollout.

Rollouts are collected in worker processes of one thread each (:func:`collect_rollouts`) and
cached on disk by content key under ``$FRMDN_CACHE_DIR/worlds`` (default ``~/.cache/frmdn``).
The environments are an optional extra, ``pip install frmdn[worlds]``; without it,
:func:`collect_rollouts` raises :class:`WorldsMissing` saying what to install.

References:
    Ha and Schmidhuber, "World Models", arXiv:1803.10122 (and hardmaru/WorldModelsExperiments).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from frmdn.data.errors import DataError

__all__ = [
    "CAR_ZOOM_STEPS",
    "FRAME_SIZE",
    "WORLDS",
    "World",
    "WorldRollouts",
    "WorldsMissing",
    "collect_rollout",
    "collect_rollouts",
    "resize_frame",
    "split_seeds",
]

FRAME_SIZE = 64  # frames are FRAME_SIZE × FRAME_SIZE RGB, as in World Models
CAR_ZOOM_STEPS = 50  # CarRacing's camera zooms in over its first steps: played, not kept
CAR_DASHBOARD_ROWS = 12  # the bottom rows of a CarRacing frame: speed, ABS and steering bars
CAR_REST = np.array([0.0, 0.3, 0.0])  # the policy's steer, gas and brake drift back to these
CAR_PULL = 0.8  # per frame: what is left of the distance to CAR_REST
CAR_NOISE = np.array([0.3, 0.1, 0.06])  # std of each frame's random kick
CAR_FOLLOW = 0.6  # how hard the resting steer leans toward the road ahead
CAR_LOOK_ROWS = (50, 66)  # the rows of a raw frame just ahead of the car
CAR_COLUMN = 48  # the car's column in a raw 96-pixel frame
DOOM_HOLD = (1, 10)  # the Doom policy holds each action for this many frames (inclusive)
DOOM_TIMEOUT = 2100  # frames: the classic task's cap on an episode
CACHE_VERSION = 1  # bump when collection changes what a seed gives


class WorldsMissing(DataError):
    """The environments of :data:`WORLDS` are not installed (the ``worlds`` extra)."""


@dataclass(frozen=True)
class World:
    """One environment: its action size and the names of its action dimensions."""

    name: str
    action_names: tuple[str, ...]
    package: str  # what ``pip install`` needs, for the error message
    description: str

    @property
    def action_dim(self) -> int:
        return len(self.action_names)


WORLDS = {
    "car-racing": World(
        "car-racing",
        ("steer", "gas", "brake"),
        "gymnasium[box2d]==1.4.0",
        "Gymnasium's CarRacing-v3 driven by a Brownian random policy (steer, gas, brake); a new "
        "track per seed; 64 × 64 RGB without the dashboard.",
    ),
    "doom-take-cover": World(
        "doom-take-cover",
        ("move",),
        "vizdoom==1.3.2",
        "ViZDoom's Take Cover: dodge fireballs by moving left or right; a random policy holds "
        "each of left, stay, right for 1-10 frames; 64 × 64 RGB.",
    ),
}
"""The worlds by name, as in the data spec ``frames:NAME``."""


ROLLOUT_ARRAYS = ("frames", "actions", "done", "seeds")  # WorldRollouts' arrays, as saved


@dataclass(frozen=True)
class WorldRollouts:
    """Rollouts of one world.

    Arguments:
        frames: (N, T, 64, 64, 3) uint8 RGB frames.
        actions: (N, T, A) float32: the action taken *after* seeing frame t (it leads to t + 1).
        done: (N, T) bool: True on the last frame of an episode that ended in the rollout.
        seeds: (N,) the seed of each rollout.
        world: The world's name.
    """

    frames: np.ndarray
    actions: np.ndarray
    done: np.ndarray
    seeds: np.ndarray
    world: str

    def __post_init__(self) -> None:
        n, t = self.frames.shape[:2]
        if self.frames.dtype != np.uint8 or self.frames.shape[2:] != (FRAME_SIZE, FRAME_SIZE, 3):
            raise ValueError(f"frames must be uint8 (N, T, 64, 64, 3), got {self.frames.shape}")
        if self.actions.shape[:2] != (n, t) or self.done.shape != (n, t):
            raise ValueError("actions and done must have the frames' (N, T)")
        if len(self.seeds) != n:
            raise ValueError("one seed per rollout")

    def save(self, path: str | os.PathLike, *, compressed: bool = False) -> None:
        """Write the arrays (not the world's name) to an ``.npz`` at ``path``."""
        save = np.savez_compressed if compressed else np.savez
        save(path, frames=self.frames, actions=self.actions, done=self.done, seeds=self.seeds)

    @classmethod
    def load(cls, path: str | os.PathLike, world: str) -> WorldRollouts:
        """Rollouts of ``world`` saved by :meth:`save`, read without unpickling and checked
        (raises OSError, ValueError or KeyError for a damaged file)."""
        with np.load(path, allow_pickle=False) as archive:
            return cls(**{name: archive[name] for name in ROLLOUT_ARRAYS}, world=world)


# ----------------------------------------------------------------------------- one rollout
def resize_frame(frame: np.ndarray) -> np.ndarray:
    """An RGB frame (H, W, 3) uint8 area-averaged to (64, 64, 3)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame))
    return np.asarray(image.resize((FRAME_SIZE, FRAME_SIZE), Image.Resampling.BOX))


def _road_offset(observation: np.ndarray) -> float | None:
    """Where the road ahead lies, from -1 (far left) to 1 (far right) of the car, in a raw
    96 × 96 CarRacing frame; None when no road is in sight."""
    band = observation[CAR_LOOK_ROWS[0] : CAR_LOOK_ROWS[1]].astype(int)
    grey = (np.ptp(band, axis=-1) < 10) & (band[..., 0] > 80) & (band[..., 0] < 130)
    columns = np.flatnonzero(grey.any(axis=0))
    if columns.size == 0:
        return None
    return float(np.clip((columns.mean() - CAR_COLUMN) / (CAR_COLUMN / 2), -1.0, 1.0))


def _car_policy(
    rng: np.random.Generator, last: np.ndarray, observation: np.ndarray | None = None
) -> np.ndarray:
    """The next action of the random policy. Steer, gas and brake are each a random walk
    pulled back toward a resting value (an Ornstein-Uhlenbeck process, clipped to range); the
    steering's resting value leans toward the road ahead when the frame shows one, so the car
    wiggles, speeds up and brakes at random yet mostly stays on or near the road."""
    rest = CAR_REST.copy()
    offset = None if observation is None else _road_offset(observation)
    if offset is not None:
        rest[0] = CAR_FOLLOW * offset
    action = rest + CAR_PULL * (last - rest) + rng.normal(0.0, CAR_NOISE)
    return np.clip(action, [-1.0, 0.0, 0.0], [1.0, 1.0, 1.0]).astype(np.float32)


def _car_racing(seed: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import gymnasium

    from frmdn.data.car_render import cull_offscreen_polygons

    env = gymnasium.make("CarRacing-v3")
    cull_offscreen_polygons(env.unwrapped)  # the same frames, drawn in about half the time
    rng = np.random.default_rng(seed)
    try:
        observation, _ = env.reset(seed=seed)
        action = CAR_REST.astype(np.float32)
        frames, actions = [], []
        for step in range(CAR_ZOOM_STEPS + length):
            action = _car_policy(rng, action, observation)
            if step >= CAR_ZOOM_STEPS:
                frames.append(resize_frame(observation[:-CAR_DASHBOARD_ROWS]))
                actions.append(action)
            observation, _, terminated, truncated, _ = env.step(action)
            if (terminated or truncated) and step + 1 < CAR_ZOOM_STEPS + length:
                observation, _ = env.reset(seed=seed + step + 1)  # a lap done: a new track
    finally:
        env.close()
    return np.stack(frames), np.stack(actions), np.zeros(length, bool)


def _doom_game(seed: int):  # noqa: ANN202 - vizdoom's DoomGame, imported lazily
    import vizdoom

    game = vizdoom.DoomGame()
    # ViZDoom writes its settings file into the working directory unless told where
    game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "frmdn-vizdoom.ini"))
    game.load_config(os.path.join(vizdoom.scenarios_path, "take_cover.cfg"))
    game.set_window_visible(False)
    game.set_sound_enabled(False)
    game.set_screen_resolution(vizdoom.ScreenResolution.RES_160X120)
    game.set_screen_format(vizdoom.ScreenFormat.RGB24)
    game.set_episode_timeout(DOOM_TIMEOUT)
    game.set_seed(seed)
    game.init()
    return game


def _doom_take_cover(seed: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    game = _doom_game(seed % 2**31)
    rng = np.random.default_rng(seed)
    frames, actions, done = [], [], []
    move, hold = 0, 0
    try:
        game.new_episode()
        while len(frames) < length:
            if game.is_episode_finished():
                done[-1] = True
                game.new_episode()
            if hold == 0:
                move, hold = (
                    int(rng.integers(-1, 2)),
                    int(rng.integers(DOOM_HOLD[0], DOOM_HOLD[1] + 1)),
                )
            hold -= 1
            frames.append(resize_frame(game.get_state().screen_buffer))
            actions.append(np.array([move], np.float32))
            done.append(False)
            game.make_action([float(move == -1), float(move == 1)])
    finally:
        game.close()
    return np.stack(frames), np.stack(actions), np.array(done)


_COLLECTORS: dict[str, Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
    "car-racing": _car_racing,
    "doom-take-cover": _doom_take_cover,
}


def _require(world: str) -> None:
    """Raise :class:`WorldsMissing` (one line: what to install) when ``world`` cannot run."""
    if world not in WORLDS:
        raise DataError(f"unknown world {world!r}; worlds: {', '.join(WORLDS)}")
    module = "gymnasium" if world == "car-racing" else "vizdoom"
    try:
        __import__(module)
        if world == "car-racing":
            __import__("Box2D")
    except ImportError as error:
        raise WorldsMissing(
            f"collecting {world} rollouts needs {WORLDS[world].package}: "
            "pip install 'frmdn[worlds]'"
        ) from error


def collect_rollout(
    world: str, seed: int, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One rollout of ``length`` kept frames of ``world``, the same for the same seed.

    Returns:
        frames (T, 64, 64, 3) uint8, actions (T, A) float32 and done (T,) bool.
    """
    _require(world)
    if length < 2:
        raise ValueError(f"a rollout needs at least 2 frames, got {length}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return _COLLECTORS[world](seed, length)


# ----------------------------------------------------------------------------- splits
SPLIT_OFFSETS = {"train": 0, "valid": 1_000_000, "test": 2_000_000}
"""Each part's seeds start at ``seed`` plus its offset: as long as ``seed + rollouts`` stays
below the first offset, no track or episode is in two parts."""


def split_seeds(seed: int, rollouts: int) -> dict[str, list[int]]:
    """The rollout seeds of train (``rollouts`` of them), valid and test (an eighth each, at
    least one), from disjoint ranges: held-out means tracks and episodes never trained on."""
    if rollouts < 1:
        raise ValueError(f"rollouts must be at least 1, got {rollouts}")
    if not 0 <= seed or seed + rollouts > SPLIT_OFFSETS["valid"]:
        raise ValueError(
            f"seed + rollouts must stay within [0, {SPLIT_OFFSETS['valid']:,}], "
            f"got seed {seed} and {rollouts} rollouts"
        )
    held_out = max(1, rollouts // 8)
    counts = {"train": rollouts, "valid": held_out, "test": held_out}
    return {
        part: list(range(seed + offset, seed + offset + counts[part]))
        for part, offset in SPLIT_OFFSETS.items()
    }


# ----------------------------------------------------------------------------- many, cached
def _worker_init() -> None:
    """One thread per collecting process: two of them on two cores must not oversubscribe."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"


def _collect_one(arguments: tuple[str, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return collect_rollout(*arguments)


def cache_path(world: str, seeds: Sequence[int], length: int) -> Path:
    """Where the rollouts of these seeds are cached: a file named by their content key."""
    key = {"world": world, "seeds": [int(s) for s in seeds], "length": length, "v": CACHE_VERSION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    root = Path(os.environ.get("FRMDN_CACHE_DIR") or Path.home() / ".cache" / "frmdn")
    return root / "worlds" / f"{world}-{digest}.npz"


def collect_rollouts(
    world: str,
    seeds: Sequence[int],
    length: int,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> WorldRollouts:
    """Rollouts of ``world`` for each seed, from the cache or collected in ``workers``
    processes of one thread each; ``progress(done, total)`` is called after each rollout."""
    _require(world)
    path = cache_path(world, seeds, length)
    if path.is_file():
        return WorldRollouts.load(path, world)
    jobs = [(world, int(seed), length) for seed in seeds]
    results: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            results.append(_collect_one(job))
            if progress:
                progress(len(results), len(jobs))
    else:
        with ProcessPoolExecutor(
            min(workers, len(jobs)), mp_context=get_context("spawn"), initializer=_worker_init
        ) as pool:
            for result in pool.map(_collect_one, jobs):
                results.append(result)
                if progress:
                    progress(len(results), len(jobs))
    rollouts = WorldRollouts(
        np.stack([r[0] for r in results]),
        np.stack([r[1] for r in results]),
        np.stack([r[2] for r in results]),
        np.asarray(seeds, np.int64),
        world,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
    rollouts.save(partial)
    partial.replace(path)  # atomic: a killed collection leaves no half-written cache
    return rollouts
