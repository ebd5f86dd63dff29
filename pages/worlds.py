"""World Models for real: CarRacing and Doom Take Cover frames, action-conditioned RMDN vs
FRMDN, and a dream you steer.

Layout only: data, models, dreams and figures come from :mod:`frmdn`.
"""

from __future__ import annotations

import streamlit as st

import frmdn
from frmdn import plots, views
from frmdn.data.errors import DataError
from frmdn.data.world_episodes import load_episodes
from frmdn.data.world_latents import load_world_latents, previous_actions
from frmdn.data.world_latents import world_vae as world_vae_path
from frmdn.data.worlds import WORLDS, WorldsMissing
from frmdn.models.vae import FrameVAE, encode_frames, load_vae
from ui import links, predictive
from ui.checkpoint_upload import checkpoint_upload
from ui.formats import negative_nll_note, number_style
from ui.links import Choice, Number, Whole
from ui.navigation import serve_pages_through_app
from ui.pretrained import PRETRAINED, place_on_session_device, pretrained_pair, use_pretrained
from ui.training import (
    model_settings,
    session_run,
    settings_note,
    start_pair_run,
    training_controls,
    views_wait_for_training,
    weights_token,
)
from ui.world_dream import GIF_MS, decoded, dream_view

SHOWN = {"CarRacing": "car-racing", "Doom: Take Cover": "doom-take-cover"}
TEMPERATURE = {"car-racing": 0.7, "doom-take-cover": 1.15}  # World Models' dream temperatures
PANEL_DEFAULTS = {"K": 5, "rank": 2, "hidden": 256, "flow_layers": 4}  # the bundled pairs'
ROLLOUT_OPTIONS = [16, 32, 64, 128, 256]  # training rollouts collected for Train both
LENGTH = 64  # frames per rollout, as the bundled models trained
DRAWN_FRAMES = 7  # decoded draws of the next frame shown per model
state = st.session_state


# ----------------------------------------------------------------------------- cached resources
@st.cache_resource(show_spinner=False)
def world_vae(world: str) -> FrameVAE:
    """The bundled RGB VAE of a world (raises CheckpointError when missing or broken)."""
    return load_vae(PRETRAINED / f"vae-{world}")


@st.cache_data(show_spinner="Encoding the held-out episodes ...", max_entries=2)
def episodes(world: str) -> dict:
    """The bundled held-out episodes: frames (N, T, 64, 64, 3) uint8, their latents (N, T, L),
    the inputs x_t = a_{t-1} (N, T, A), the actions (N, T, A) and the episode ends (N, T)."""
    rollouts = load_episodes(world)
    return {
        "frames": rollouts.frames,
        "latents": encode_frames(world_vae(world), rollouts.frames),
        "x": previous_actions(rollouts.actions),
        "actions": rollouts.actions,
        "done": rollouts.done,
        "seeds": rollouts.seeds,
    }


# ----------------------------------------------------------------------------- settings
def world_panel() -> str:
    """The world radio (in the URL as ``world``); returns the world's name."""
    world_link = [Choice("world", "worlds_world", list(SHOWN))]
    with links.linked("worlds", world_link):
        label = st.radio(
            "Environment",
            list(SHOWN),
            horizontal=True,
            key="worlds_world",
            persist_state="session",
        )
    return SHOWN[label]


def settings_panel() -> tuple[dict, int]:
    """Model widgets for live training, and the training rollouts to collect."""
    settings = model_settings(
        "worlds",
        hidden_options=[64, 128, 256],
        defaults=PANEL_DEFAULTS,
        default_steps=300,
        note=(
            "Both models read the same action inputs and get the same LSTM, K, rank, steps "
            "and seed; only the FRMDN has the flow. **Train both** first collects the "
            "training rollouts (cached on disk; the environments must be installed: "
            "`pip install 'frmdn[worlds]'`), encodes them with the bundled VAE and trains on "
            "their latents (300 steps at width 256 take a few minutes on 2 cores)."
        ),
    )
    rollout_link = [Choice("rollouts", "worlds_rollouts", ROLLOUT_OPTIONS, nearest=True)]
    with links.linked("worlds", rollout_link):
        rollouts = st.select_slider(
            "Training rollouts (64 frames each; validation and test add an eighth each)",
            ROLLOUT_OPTIONS,
            value=64,
            key="worlds_rollouts",
            persist_state="session",
        )
    return settings, rollouts


# ----------------------------------------------------------------------------- models
def load_pretrained(run: dict, world: str) -> None:
    try:
        models = pretrained_pair(f"frames-{world}")
    except (frmdn.CheckpointError, OSError) as error:
        run["missing"] = str(error).splitlines()[0]
        return
    use_pretrained(run, models, f"frames:{world}")


def start_training(run: dict, settings: dict, world: str, rollouts: int) -> None:
    """Collect (or read from the cache) the training rollouts, then train both models."""
    bar = st.progress(0.0, text="Collecting rollouts ...")
    try:
        split = load_world_latents(
            world,
            seed=settings["seed"],
            rollouts=rollouts,
            length=LENGTH,
            progress=lambda done, total: bar.progress(
                done / total, text=f"Collecting rollouts: {done} of {total}"
            ),
        )
    except (WorldsMissing, DataError, frmdn.CheckpointError, ValueError) as error:
        bar.empty()
        st.error(f"Could not collect training rollouts: {error}")
        return
    bar.empty()
    spec = f"frames:{world}?seed={settings['seed']}&rollouts={rollouts}&length={LENGTH}"
    start_pair_run(run, settings, split, f"trained in this session on {spec}")


# ----------------------------------------------------------------------------- views
def episode_view(
    models: dict, data: dict, vae: FrameVAE, temperature: float, seed: int
) -> tuple[int, int]:
    """Real frames, reconstructions, one-step predictions and rollouts of a held-out episode,
    in one animation; returns the episode and the start frame."""
    st.subheader("A held-out episode")
    count, length = data["latents"].shape[:2]
    pick_col, start_col = st.columns(2)
    view_links = [
        Whole("episode", "worlds_episode", 0, count - 1),
        Whole("start", "worlds_start", 1, length - 2),
    ]
    with links.linked("worlds", view_links):
        index = pick_col.slider(
            "Held-out episode", 0, count - 1, 0, key="worlds_episode", persist_state="session"
        )
        start = start_col.slider(
            "Real frames before the rollouts and the dream",
            1,
            length - 2,
            8,
            key="worlds_start",
            persist_state="session",
            help="The rollouts below and the dream you steer both start after these frames.",
        )
    real, latents, x = data["frames"][index], data["latents"][index], data["x"][index]
    one_step = {
        name: decoded(vae, views.one_step_predictions(m, latents[None], x=x[None].to(m.start))[0])
        for name, m in models.items()
    }
    rollout = {
        name: decoded(
            vae, views.continuation(m, latents[:start], length - start, temperature, seed, x=x)
        )
        for name, m in models.items()
    }
    for frames in rollout.values():  # the real start, then what each model imagines
        frames[:start] = real[:start]
    panels = {"Real": real, "VAE reconstruction": decoded(vae, latents)}
    panels |= {f"{name} one-step": frames for name, frames in one_step.items()}
    panels |= {f"{name} rollout": frames for name, frames in rollout.items()}
    order = ["Real", "RMDN one-step", "FRMDN one-step", "VAE reconstruction"]
    order += ["RMDN rollout", "FRMDN rollout"]
    st.image(
        plots.frames_gif(plots.frame_grid({k: panels[k] for k in order}, columns=3), GIF_MS, 1),
        caption=(
            f"Episode {index} (seed {data['seeds'][index]}), {length} frames, all six panels in "
            "step. Top: the real frames, then each model's one-step prediction (it reads the "
            "real frames and actions so far; shown is its predictive mean, mapped back "
            f"through the flow for the FRMDN). Bottom: the VAE's reconstruction (the best any "
            f"model can look), then each model's free rollout: {start} real frames, then "
            f"{length - start} frames it imagines under the episode's real actions "
            f"(τ = {temperature:g}, same random stream for both)."
        ),
    )
    return index, start


def nll_view(models: dict, data: dict, index: int) -> None:
    st.subheader("Surprise per frame and mixture weights over time")
    latents, x = data["latents"][index], data["x"][index]
    nll = {name: views.per_step_nll(m, latents, x=x.to(m.start)) for name, m in models.items()}
    weights = {
        name: views.mixture_weights(m, latents, x=x.to(m.start)) for name, m in models.items()
    }
    st.caption(
        f"Held-out episode {index}, as above. Top: each model's NLL of the real next latent, "
        "given the real frames and actions before it (lower is better). Below: each model's "
        "mixture weights $\\alpha_k(t)$; where the stack changes colour the LSTM has switched "
        "which Gaussian predicts the next frame (a bend of the road, a fireball appearing). "
        "Component numbers of the two models are unrelated."
    )
    figure = plots.mixture_weights_figure(
        weights, x_title="frame t", above=nll, above_title="NLL (nats/step)"
    )
    st.plotly_chart(figure, width="stretch", key="worlds_weights")


def mixture_view(models: dict, data: dict, vae: FrameVAE, index: int, key: str) -> None:
    """Draws of both mixtures for one frame, as latents and decoded, and the Q-Q fit."""
    predictive.heading()
    latents, x = data["latents"], data["x"]
    fits = predictive.mahalanobis_fits_of(models, latents, key, x)
    length = latents.shape[1]
    step_link = [Whole("t", "worlds_predictive_step", 1, length - 1)]
    with links.linked("worlds", step_link):
        step = st.slider(
            "Frame t to predict",
            1,
            length - 1,
            16,
            key="worlds_predictive_step",
            persist_state="session",
            help=f"Which frame of held-out episode {index} (chosen above) the draws predict.",
        )
    samples = predictive.samples_view(
        models,
        latents[index],
        step,
        f"{key}|{index}",
        page="worlds",
        what=f"frame's {latents.shape[-1]}-dimensional VAE latent (frame {step}, episode {index})",
        fits=fits,
        x=x[index],
    )
    truth = decoded(vae, latents[index][step : step + 1])[0]
    for name, drawn in samples.items():
        frames = decoded(vae, drawn.y[:DRAWN_FRAMES])
        panels = {"true": truth} | {f"draw {i + 1}": f for i, f in enumerate(frames)}
        st.image(
            plots.frame_grid(panels, columns=len(panels), scale=2),
            caption=f"{name}: the true frame {step} as the VAE decodes it, then {DRAWN_FRAMES} "
            "draws of the model's mixture for it, decoded.",
        )
    predictive.fit_view(
        fits,
        f"{len(latents)} held-out episodes",
        page="worlds",
        lesson="A mixture whose Gaussians fit draws frames that look like the true one; a "
        "misfit draws blends.",
    )


def scoreboard(models: dict, data: dict, seconds: dict) -> None:
    st.subheader("Scoreboard")
    latents, x = data["latents"], data["x"]
    table = views.scoreboard_table(models, latents, seconds, test_x=x)
    dim = latents.shape[-1]
    table.insert(1, "held-out NLL per latent dimension", table["held-out NLL (nats/step)"] / dim)
    recorded = {name: m.metadata.get("metrics", {}).get("test_nll") for name, m in models.items()}
    if all(isinstance(v, float) for v in recorded.values()):
        table.insert(1, "recorded test NLL (all test rollouts)", list(recorded.values()))
    st.dataframe(number_style(table), width="stretch")
    nll = table["held-out NLL (nats/step)"]
    st.caption(
        f"NLL of the {dim}-dimensional VAE latent of each next frame, given the real frames "
        f"and actions before it, over the {len(latents)} bundled held-out episodes of "
        f"{latents.shape[1]} frames (lower is better): FRMDN - RMDN "
        f"{nll['FRMDN'] - nll['RMDN']:+.1f} nats per step."
        + (
            " The recorded column is each checkpoint's score on all the test rollouts of "
            "its data set when it was trained."
            if "recorded test NLL (all test rollouts)" in table
            else ""
        )
        + negative_nll_note(nll)
    )


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("World Models: CarRacing and Doom")
link_note = st.empty()  # filled at the end: what a link asked that the page cannot show
st.markdown(
    "The setting of *World Models* (Ha and Schmidhuber, 2018): a convolutional VAE turns each "
    "64 × 64 frame into a latent $z_t$, and a recurrent mixture density network, fed the "
    "latent and the action, predicts the next latent $p(z_{t+1} \\mid z_{\\le t}, a_{\\le t})$. "
    "The RMDN puts a low-rank Gaussian mixture on $z$ directly; the FRMDN first maps it "
    "through an invertible flow. Both read the same actions, so both can *dream*: imagine "
    "the frames that follow under actions you choose."
)
st.caption(
    "Frames: Gymnasium's CarRacing-v3 (Farama Foundation, MIT) and ViZDoom's Take Cover "
    "(MIT; Freedoom assets, BSD), collected by the random policies of `frmdn.data.worlds`. "
    "Reference: Ha and Schmidhuber, *World Models*, arXiv:1803.10122."
)
world = world_panel()
st.caption(WORLDS[world].description)
settings, rollouts = settings_panel()

try:
    vae = world_vae(world)
    data = episodes(world)
except (frmdn.CheckpointError, DataError, OSError) as error:
    vae = data = None
    st.error(
        f"The bundled VAE or episodes of {world} are missing ({str(error).splitlines()[0]}). "
        "Rebuild them with `python assets/make_worlds.py`."
    )

run = session_run("worlds", world)
if data is not None:
    source_col, train_col, _ = st.columns([1, 1, 3])
    if source_col.button("Load pretrained", icon=":material/download:", width="stretch"):
        load_pretrained(run, world)
    if train_col.button(
        "Train both", icon=":material/model_training:", type="primary", width="stretch"
    ):
        start_training(run, settings, world, rollouts)
    place_on_session_device(run)
    if "models" not in run and "missing" not in run:
        load_pretrained(run, world)
    if "models" not in run and "missing" in run:
        st.info(
            f"Pretrained models for {world} are not available yet ({run['missing']}). "
            "Press **Train both** to train them here."
        )
    settings_note(run, settings)
    training_controls(run, key="worlds")

models = run.get("models")
st.sidebar.markdown(f"**Models:** {run.get('source', 'none loaded')}")
if models and data is not None and not views_wait_for_training(run):
    tau_link = [Number("temperature", f"worlds_tau_{world}", 0.1, 1.5)]
    with links.linked("worlds", tau_link):
        temperature = st.slider(
            "Temperature τ of the rollouts and the dream",
            0.1,
            1.5,
            TEMPERATURE[world],
            0.05,
            key=f"worlds_tau_{world}",
            persist_state="session",
            help="Below 1 sharpens the mixture weights and shrinks every covariance; World "
            "Models dreamed the car at 0.7 and Doom at 1.15 (this page's defaults).",
        )
    token = f"{weights_token(run)}|{world}"
    index, start = episode_view(models, data, vae, temperature, settings["seed"])
    dream_view(models, data, vae, world, temperature, settings["seed"], index, start, token)
    nll_view(models, data, index)
    mixture_view(models, data, vae, index, token)
    scoreboard(models, data, run.get("seconds", {}))
if data is not None:
    latents, x = data["latents"], data["x"]
    checkpoint_upload(
        "worlds",
        expect={
            "kind": "frames",
            "dim": latents.shape[-1],
            "cond_dim": x.shape[-1],
            "vae": world_vae_path(world),
        },
        evaluate=lambda model: frmdn.evaluate_nll(model, (latents, x)),
        pretrained=lambda: pretrained_pair(f"frames-{world}"),
        data_label=f"the {len(latents)} held-out episodes of {world}",
    )
links.tell(link_note)
