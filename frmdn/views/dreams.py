"""Dreams you steer: an action-conditioned model imagines the frames that follow a real start
frame under actions a user picks, World Models style.

A *track* is a list of action codes, one per dreamed step: a letter per control group of the
world (CarRacing: steering ``L``/``S``/``R`` and pedal ``G``/``C``/``B``, so ``"LG"`` is left
with gas; Doom: ``L``/``S``/``R``). :func:`track_actions` turns a track into the action
vectors the models were trained on, :func:`encode_track` writes it compactly for a URL
(``"LG4.SB2"``: four steps of left-with-gas, two of straight-braking) and
:func:`decode_track` reads it back. :func:`dream` continues the real start latents under the
track's actions with a seeded random stream, so both models dream from the same noise and a
longer track extends the shorter one's dream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel
from frmdn.views.sequences import continuation

__all__ = [
    "CONTROLS",
    "MAX_DREAM_STEPS",
    "SCRIPTS",
    "decode_track",
    "dream",
    "encode_track",
    "scripted_track",
    "track_actions",
]

MAX_DREAM_STEPS = 64  # steps one dream may hold (a track longer than this is cut)

CONTROLS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "car-racing": (
        ("Steering", {"L": "Left", "S": "Straight", "R": "Right"}),
        ("Pedal", {"G": "Gas", "C": "Coast", "B": "Brake"}),
    ),
    "doom-take-cover": (("Move", {"L": "Left", "S": "Stay", "R": "Right"}),),
}
"""Per world, its control groups: a name and the group's codes with their labels."""

# The action each code stands for. The collection policy's steer wanders with a standard
# deviation of about 0.5 around 0, gas around 0.3 and brake near 0 (frmdn.data.worlds), so
# these values stay where the models have seen actions; Doom's move is -1, 0 or 1.
_STEER = {"L": -0.6, "S": 0.0, "R": 0.6}
_PEDAL = {"G": (0.6, 0.0), "C": (0.3, 0.0), "B": (0.0, 0.25)}
_MOVE = {"L": -1.0, "S": 0.0, "R": 1.0}


Script = Callable[[int], list[str]]  # steps -> a track of that many codes


def _alternating(first: str, second: str, run: int) -> Script:
    return lambda steps: [first if (i // run) % 2 == 0 else second for i in range(steps)]


SCRIPTS: dict[str, dict[str, Script]] = {
    "car-racing": {
        "Straight ahead": lambda steps: ["SG"] * steps,
        "Slalom": _alternating("LC", "RC", 6),
        "Turn left": lambda steps: ["LC"] * steps,
        "Turn right": lambda steps: ["RC"] * steps,
        "Brake": lambda steps: ["SB"] * steps,
    },
    "doom-take-cover": {
        "Stay": lambda steps: ["S"] * steps,
        "Dodge left and right": _alternating("L", "R", 5),
        "Run left": lambda steps: ["L"] * steps,
        "Run right": lambda steps: ["R"] * steps,
    },
}
"""Per world, scripted tracks by name: ``steps`` -> a track of that many codes."""


def _check_code(world: str, code: str) -> None:
    groups = CONTROLS.get(world)
    if groups is None:
        raise ValueError(f"unknown world {world!r}; worlds: {', '.join(CONTROLS)}")
    if len(code) != len(groups) or any(c not in g[1] for c, g in zip(code, groups, strict=False)):
        options = " × ".join("/".join(g[1]) for g in groups)
        raise ValueError(f"{world} action codes are {options}, got {code!r}")


def track_actions(world: str, track: Sequence[str]) -> np.ndarray:
    """The action vectors (S, A) float32 of a track of S codes."""
    rows = []
    for code in track:
        _check_code(world, code)
        if world == "car-racing":
            rows.append((_STEER[code[0]], *_PEDAL[code[1]]))
        else:
            rows.append((_MOVE[code],))
    width = 3 if world == "car-racing" else 1
    return np.asarray(rows, np.float32).reshape(len(rows), width)


def encode_track(track: Sequence[str]) -> str:
    """A track run-length encoded, runs joined by dots: ``["L", "L", "S"]`` -> ``"L2.S1"``."""
    runs: list[list] = []
    for code in track:
        if runs and runs[-1][0] == code:
            runs[-1][1] += 1
        else:
            runs.append([code, 1])
    return ".".join(f"{code}{count}" for code, count in runs)


def decode_track(world: str, text: str) -> list[str]:
    """The track an :func:`encode_track` string names, at most :data:`MAX_DREAM_STEPS` long.

    Raises:
        ValueError: For text that is not runs of this world's codes.
    """
    track: list[str] = []
    for run in filter(None, text.split(".")):
        match = re.fullmatch(r"([A-Z]+)(\d{1,3})", run)
        if match is None:
            raise ValueError(f"{run!r} is not an action code and a count")
        _check_code(world, match[1])
        track += [match[1]] * int(match[2])
    return track[:MAX_DREAM_STEPS]


def scripted_track(world: str, name: str, steps: int) -> list[str]:
    """The scripted track ``name`` of ``world`` (see :data:`SCRIPTS`), ``steps`` long."""
    if name not in SCRIPTS.get(world, {}):
        raise ValueError(f"no scripted track {name!r} for {world!r}")
    return SCRIPTS[world][name](steps)


@torch.no_grad()
def dream(
    model: SequenceDensityModel,
    start: Tensor,
    start_x: Tensor,
    actions: np.ndarray,
    temperature: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """The real start latents (T0, L) followed by one dreamed latent per action, (T0 + S, L).

    Arguments:
        start: Latents of the real frames the dream starts from, (T0, L), T0 >= 1.
        start_x: Their inputs x_t = a_{t-1}, (T0, A).
        actions: The actions taken after the last real frame and after each dreamed one,
            (S, A): dreamed step s reads x = actions[s].
        temperature: Sampling temperature τ (see ``SequenceDensityModel.sample``).
        seed: The random stream's seed, shared by every model dreamed with it.
    """
    if start.dim() != 2 or len(start) < 1 or start_x.shape != (len(start), model.config.cond_dim):
        raise ValueError(
            f"need start latents (T0 >= 1, L) and their inputs (T0, {model.config.cond_dim})"
        )
    steps = len(actions)
    if steps == 0:
        return start.cpu().numpy()
    x = torch.cat([start_x, torch.as_tensor(actions, dtype=start_x.dtype)])
    return continuation(model, start, steps, temperature, seed, x=x)
