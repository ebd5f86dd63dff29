"""The World Models page's dream you steer: the steering controls (their track in the URL),
both models' dreams side by side and, for Doom, where each dream expects the episode to end.

Layout only: the tracks, dreams and the episode-end head come from :mod:`frmdn`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

import frmdn
from frmdn import plots
from frmdn.models.episode_end import EpisodeEndHead, load_episode_end
from frmdn.models.vae import FrameVAE, decode_latents
from frmdn.views import dreams
from ui import links
from ui.links import Choice, Flag, Text
from ui.pretrained import PRETRAINED

__all__ = ["GIF_MS", "decoded", "dream_view"]

END_WORLD = "doom-take-cover"  # the world with an episode-end head
GIF_MS = 120  # milliseconds per frame of the page's animations
STEPS_PER_PRESS = [1, 2, 4, 8]
SCRIPT_STEPS = 32  # length of a scripted track
state = st.session_state


@st.cache_resource(show_spinner=False)
def end_head() -> EpisodeEndHead:
    """Doom's bundled episode-end head (raises CheckpointError when missing or broken)."""
    return load_episode_end(PRETRAINED / f"episode-end-{END_WORLD}")


@st.cache_data(show_spinner="Dreaming ...", max_entries=64)
def dreamed(
    _models: dict,
    _start: torch.Tensor,
    _start_x: torch.Tensor,
    world: str,
    track: str,
    temperature: float,
    seed: int,
    key: str,
) -> dict[str, np.ndarray]:
    """Each model's dream (T0 + S, L) from the real start under ``track``; ``key`` names the
    weights, the episode and the start frame."""
    actions = dreams.track_actions(world, dreams.decode_track(world, track))
    return {
        name: dreams.dream(model, _start, _start_x, actions, temperature, seed)
        for name, model in _models.items()
    }


def decoded(vae: FrameVAE, latents: np.ndarray | torch.Tensor) -> np.ndarray:
    """Latents (T, L) decoded to uint8 frames (T, 64, 64, 3)."""
    return decode_latents(vae, torch.as_tensor(latents).float()[None])[0]


def _track_normal(world: str):  # noqa: ANN202 - a link field's reader
    return lambda text: dreams.encode_track(dreams.decode_track(world, text))


def _chosen_code(world: str) -> str:
    """The action code the steering controls show (the middle option where none is picked)."""
    code = ""
    for name, codes in dreams.CONTROLS[world]:
        label = state.get(f"worlds_{world}_{name}") or list(codes.values())[1]
        code += {v: c for c, v in codes.items()}[label]
    return code


def _change_track(world: str, press: str) -> None:
    """A steering button's callback: runs before the page is drawn, so every control below
    already shows the new track (Undo disabled right after Reset, say)."""
    key = f"worlds_track_{world}"
    track, steps = dreams.decode_track(world, state[key]), state.get("worlds_press", 4)
    if press == "dream":
        track += [_chosen_code(world)] * steps
    elif press == "undo":
        track = track[:-steps]
    elif press == "reset":
        track = []
    else:  # a scripted track
        track = dreams.scripted_track(world, state[f"worlds_script_{world}"], SCRIPT_STEPS)
    state[key] = dreams.encode_track(track[: dreams.MAX_DREAM_STEPS])


def steering(world: str) -> str:
    """The dream's controls (their presses change the track in callbacks); returns the
    track, encoded."""
    key = f"worlds_track_{world}"
    state.setdefault(key, "")
    groups = dreams.CONTROLS[world]
    control_links = [
        Text("track", key, _track_normal(world)),
        Choice("press", "worlds_press", STEPS_PER_PRESS),
    ]
    control_links += [
        Choice(name.lower(), f"worlds_{world}_{name}", list(codes.values()))
        for name, codes in groups
    ]
    with links.linked("worlds", control_links):
        columns = st.columns([2] * len(groups) + [2])
        for column, (name, codes) in zip(columns, groups, strict=False):
            column.segmented_control(
                name,
                list(codes.values()),
                default=list(codes.values())[1],
                key=f"worlds_{world}_{name}",
                persist_state="session",
            )
        columns[-1].select_slider(
            "Steps per press",
            STEPS_PER_PRESS,
            value=4,
            key="worlds_press",
            persist_state="session",
        )
        track = dreams.decode_track(world, state[key])
        dream_col, undo_col, reset_col, script_col, play_col = st.columns(
            [1.2, 1, 1, 3, 1.8], vertical_alignment="bottom"
        )
        dream_col.button(
            "Dream on",
            icon=":material/play_arrow:",
            type="primary",
            disabled=len(track) >= dreams.MAX_DREAM_STEPS,
            on_click=_change_track,
            args=(world, "dream"),
        )
        for column, label, icon in (
            (undo_col, "Undo", ":material/undo:"),
            (reset_col, "Reset", ":material/restart_alt:"),
        ):
            column.button(
                label,
                icon=icon,
                disabled=not track,
                on_click=_change_track,
                args=(world, label.lower()),
            )
        script_col.selectbox(
            "Or a scripted track",
            list(dreams.SCRIPTS[world]),
            key=f"worlds_script_{world}",
            persist_state="session",
        )
        play_col.button(
            f"Play it ({SCRIPT_STEPS} steps)",
            icon=":material/smart_display:",
            on_click=_change_track,
            args=(world, "script"),
        )
    return state[key]


def _track_words(world: str, track: list[str]) -> str:
    groups = dreams.CONTROLS[world]
    runs = dreams.encode_track(track).split(".") if track else []
    words = []
    for run in runs:
        code = run.rstrip("0123456789")
        label = " + ".join(g[1][c] for c, g in zip(code, groups, strict=True))
        words.append(f"{label} × {run[len(code) :]}")
    return ", ".join(words) or "no steps yet"


def dream_view(
    models: dict,
    data: dict,
    vae: FrameVAE,
    world: str,
    temperature: float,
    seed: int,
    index: int,
    start: int,
    token: str,
) -> None:
    st.subheader("The dream you steer")
    st.markdown(
        f"Both models start from the same {start} real frames of episode {index} and dream "
        "on under the actions you pick, with the same random seed: what each imagines is "
        "decoded by the VAE. Pick the controls, then **Dream on** adds that many steps; "
        "**Undo** takes back the last press. Or play a scripted track."
    )
    track_text = steering(world)
    track = dreams.decode_track(world, track_text)
    start_latents, start_x = data["latents"][index][:start], data["x"][index][:start]
    dreams_of = dreamed(
        models,
        start_latents,
        start_x,
        world,
        track_text,
        temperature,
        seed,
        f"{token}|{index}|{start}",
    )
    frames = {name: decoded(vae, latents) for name, latents in dreams_of.items()}
    st.caption(
        f"Actions so far ({len(track)} of at most {dreams.MAX_DREAM_STEPS} steps): "
        f"{_track_words(world, track)}. τ = {temperature:g}, seed {seed}."
    )
    show_end = False
    if world == END_WORLD:
        with links.linked("worlds", [Flag("ends", "worlds_ends")]):
            show_end = st.checkbox(
                "Show where each dream expects the episode to end (extension: an episode-end "
                "head on the frame's latent, not part of the paper's models)",
                value=True,
                key="worlds_ends",
                persist_state="session",
            )
    ends = _end_probabilities(dreams_of, start) if show_end else {}
    now_col, whole_col = st.columns(2)
    step = len(next(iter(frames.values()))) - 1
    now = {
        f"{name}, frame {step}" if track else f"{name}: the start": f[-1]
        for name, f in frames.items()
    }
    now_col.image(
        plots.frame_grid(now, columns=2),
        caption="Now: the last frame of each dream."
        + (
            " Chance the episode ends within "
            f"{end_head().horizon} frames: "
            + ", ".join(f"{name} {p[-1]:.3f}" for name, p in ends.items())
            + "."
            if ends and track
            else ""
        ),
    )
    if track:
        animation = plots.frame_grid(
            {f"{name} dream": f[max(start - 4, 0) :] for name, f in frames.items()}, columns=2
        )
        whole_col.image(
            plots.frames_gif(animation, GIF_MS, 1),
            caption="The whole dream, both models in step: the last 4 real frames, then the "
            "dreamed ones.",
        )
    if ends and track:
        st.plotly_chart(
            plots.episode_end_figure({f"{n} dream": p for n, p in ends.items()}, first_step=start),
            width="stretch",
            key="worlds_end_figure",
        )
        metrics = end_head().metadata["metrics"]
        st.caption(
            f"The head reads each dreamed frame's latent. On {metrics['frames']:,} held-out "
            f"frames of real episodes it ranks frames near an episode end above the others "
            f"with ROC AUC {metrics['auc']:.2f} (log loss {metrics['log_loss']:.4f} against "
            f"{metrics['base_rate_log_loss']:.4f} for the base rate); trained on "
            f"{metrics['train_episode_ends']} episode ends."
        )


def _end_probabilities(dreams_of: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
    """The episode-end head's probability for each dreamed frame, per model ({} without it)."""
    try:
        head = end_head()
    except frmdn.CheckpointError as error:
        st.info(f"The episode-end head is not available ({str(error).splitlines()[0]}).")
        return {}
    return {
        name: head.probability(torch.as_tensor(latents[start:]).float()).numpy()
        for name, latents in dreams_of.items()
    }
