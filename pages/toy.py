"""Toy 2D sequences: see why a flow helps a Gaussian mixture fit curved next-step distributions.

Layout only: data, models, training and figures come from :mod:`frmdn`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

import frmdn
from frmdn import plots, views
from frmdn.data.toy import GENERATORS, TOY_NAMES, load_toy
from ui import links, predictive
from ui.checkpoint_upload import checkpoint_upload
from ui.formats import negative_nll_note, number_style
from ui.links import Choice, Number, Whole
from ui.navigation import serve_pages_through_app
from ui.pretrained import place_on_session_device, pretrained_pair, use_pretrained
from ui.training import (
    session_run,
    session_seed,
    settings_note,
    start_pair_run,
    training_controls,
    views_wait_for_training,
    weights_token,
)

STEP_OPTIONS = [100, 250, 500, 1000, 1500, 2000]
HIDDEN_OPTIONS = [16, 32, 64, 128]
PATH_STEPS = 6  # hops of the one generated path drawn per source (more becomes a tangle)
FLOW_POINTS = 400  # held-out targets drawn layer by layer (the animation stays light)
state = st.session_state


# ----------------------------------------------------------------------------- cached resources
@st.cache_data(show_spinner=False)
def toy_split(name: str, noise: float, length: int, seed: int) -> frmdn.data.SequenceSplit:
    return load_toy(name, noise=noise, length=length, seed=seed)


@st.cache_data(show_spinner=False, max_entries=16)
def flow_stages_of(
    _model: frmdn.SequenceDensityModel, _split: frmdn.data.SequenceSplit, key: str
) -> tuple[list[views.FlowStage], np.ndarray]:
    """The held-out next-step targets (FLOW_POINTS of them, evenly spaced) after each layer of
    the model's flow, and each one's likeliest component; ``key`` names weights and split."""
    points = views.latent_points(_model, _split.test)
    keep = np.linspace(0, len(points.y) - 1, min(FLOW_POINTS, len(points.y))).astype(int)
    stages = views.flow_stages(
        _model, torch.from_numpy(points.y[keep]), views.data_bounds(_split.test)
    )
    return stages, points.component[keep]


def settings_panel() -> dict:
    """Data and model widgets, each in the page's URL; returns the chosen settings."""
    data_col, model_col = st.columns(2, gap="large")
    with data_col, st.container(border=True):
        st.markdown("**Data**")
        with links.linked("toy", [Choice("data", "toy_data", TOY_NAMES)]):
            name = st.selectbox(
                "Data set",
                TOY_NAMES,
                key="toy_data",
                persist_state="session",
                format_func=lambda n: f"{n} (clustered control)" if GENERATORS[n].clustered else n,
            )
        spec = GENERATORS[name]
        data_links = [
            Number("noise", f"toy_noise_{name}", 0.0, 0.3),
            Whole("length", "toy_length", 8, 64),
        ]
        with links.linked("toy", data_links):
            noise = st.slider(
                "Noise",
                0.0,
                0.3,
                float(spec.default_noise),
                0.01,
                key=f"toy_noise_{name}",
                persist_state="session",
            )
            length = st.slider(
                "Sequence length", 8, 64, 32, 4, key="toy_length", persist_state="session"
            )
    model_links = [
        Whole("K", "toy_K", 1, 10),
        Whole("rank", "toy_rank", 0, 2),
        Whole("couplings", "toy_flow", 1, 8),
        Choice("lstm", "toy_hidden", HIDDEN_OPTIONS),
        Choice("steps", "toy_steps", STEP_OPTIONS, nearest=True),
    ]
    with model_col, st.container(border=True), links.linked("toy", model_links):
        st.markdown("**Models (for training)**")
        left, right = st.columns(2)
        K = left.number_input("Components K", 1, 10, 3, key="toy_K", persist_state="session")
        rank = right.number_input(
            "Precision rank r", 0, 2, 1, key="toy_rank", persist_state="session"
        )
        flow_layers = left.number_input(
            "Flow couplings", 1, 8, 4, key="toy_flow", persist_state="session"
        )
        hidden = right.select_slider(
            "LSTM width", HIDDEN_OPTIONS, 64, key="toy_hidden", persist_state="session"
        )
        steps = st.select_slider(
            "Training steps", STEP_OPTIONS, 1000, key="toy_steps", persist_state="session"
        )
    st.caption(spec.description)
    return dict(
        name=name,
        noise=noise,
        length=length,
        K=int(K),
        rank=int(rank),
        flow_layers=int(flow_layers),
        hidden=int(hidden),
        steps=int(steps),
        seed=session_seed(),
    )


# ----------------------------------------------------------------------------- models
def load_pretrained(run: dict, name: str) -> None:
    try:
        models = pretrained_pair(f"toy-{name}")
    except (frmdn.CheckpointError, OSError) as error:
        st.error(f"Could not load the pretrained models: {error}. Train them instead.")
        return
    use_pretrained(run, models, f"toy:{name}")


def start_training(run: dict, settings: dict, split: frmdn.data.SequenceSplit) -> None:
    """Fresh RMDN and FRMDN of equal size, ready to train side by side."""
    start_pair_run(run, settings, split, f"trained in this session on toy:{settings['name']}")


# ----------------------------------------------------------------------------- views
def latent_view(models: dict, split: frmdn.data.SequenceSplit, sequence: int, step: int) -> None:
    st.subheader("Latent space: how f makes the data cluster")
    st.caption(
        "Left: next-step targets in data space, with the RMDN's Gaussian components for the "
        "chosen step. Right: the same points after the FRMDN's flow, with the FRMDN's "
        "components for that step. The grey grid shows how f bends the plane. Colours: the "
        "component that best explains each point under its own predictive mixture."
    )
    frmdn_model, rmdn_model = models["FRMDN"], models["RMDN"]
    series = split.test[sequence]
    bounds = views.data_bounds(split.test)
    figure = plots.latent_space_figure(
        views.latent_points(frmdn_model, split.test),
        views.step_components(frmdn_model, series, step),
        views.step_components(rmdn_model, series, step, data_space=True),
        target=series[step].numpy(),
        target_z=views.to_latent(frmdn_model, series[step]),
        grid_lines=views.flow_grid_lines(frmdn_model, bounds),
    )
    st.plotly_chart(figure, width="stretch", key="toy_latent")


def weights_view(models: dict, split: frmdn.data.SequenceSplit, sequence: int, step: int) -> None:
    st.subheader("Mixture weights over time: which Gaussian predicts each step")
    st.caption(
        "Top: the chosen held-out sequence's two coordinates. Below: each model's mixture "
        "weights $\\alpha_k(t)$ for every step, given the real points before it. Each colour "
        "is one component; where the stack changes colour the LSTM has switched which Gaussian "
        "predicts the next step. The dashed line is the step t chosen above. Component "
        "numbers of the two models are unrelated: colour k of the RMDN and of the FRMDN are "
        "different Gaussians."
    )
    series = split.test[sequence]
    weights = {name: views.mixture_weights(model, series) for name, model in models.items()}
    above = {"y₁": series[:, 0].numpy(), "y₂": series[:, 1].numpy()}
    figure = plots.mixture_weights_figure(weights, above=above, above_title="sequence")
    figure.add_vline(x=step, line={"color": "#6b7280", "width": 1, "dash": "dash"})
    st.plotly_chart(figure, width="stretch", key="toy_weights")


def flow_layers_view(models: dict, split: frmdn.data.SequenceSplit, key: str) -> None:
    st.subheader("The flow, layer by layer")
    st.caption(
        "Press play, or drag the slider, to watch the FRMDN's flow carry the held-out targets "
        "(and a grid of the plane) from the standardised data u to the latent z, one layer at "
        "a time. The log-det in the corner says how much a layer stretches (+) or squeezes (−) "
        "the plane around the data, in nats."
    )
    with st.expander("How to read this: couplings and the log-det"):
        st.caption(
            "The first layer only rescales and shifts each axis. Each coupling then moves half "
            "of the coordinates by an amount that depends on the other half, which stays put: "
            "that is how a simple layer can bend the plane and still be inverted exactly. "
            "Summed over the layers, the log-dets are the log|det ∂f/∂y| term that the "
            "likelihood adds to the mixture's log-density of z (measured on the standardised "
            "u; standardising adds the same constant for every point)."
        )
    try:
        stages, components = flow_stages_of(models["FRMDN"], split, key)
    except ValueError as error:  # a flow that reads the LSTM state has no single map
        st.info(str(error))
        return
    st.plotly_chart(
        plots.flow_layers_figure(stages, components), width="content", key="toy_flow_layers"
    )


def fit_lesson(name: str, fits: dict[str, views.MahalanobisFit]) -> str:
    """What the Q-Q plots teach on this data set, in agreement with the fit numbers on screen:
    curves the flow straightened, round blobs (the clustered control), or a flow that did not
    help these models."""
    better = predictive.better_fit(fits)
    if GENERATORS[name].clustered:
        if better == "FRMDN":
            return (
                "On this control the next points already fall in round blobs that Gaussians "
                "fit in y: the flow has little to straighten, and the FRMDN's edge in fit is "
                "small."
            )
        return (
            "On this control the next points already fall in round blobs: the RMDN's Gaussians "
            "fit them in y at least as well as the FRMDN's do in z, and the flow has nothing "
            "to straighten."
        )
    if better != "FRMDN":
        return (
            "These data curve, yet here the FRMDN's Gaussians in z fit no better than the "
            "RMDN's in y: this flow has not straightened the curves."
        )
    return (
        "The FRMDN's Gaussians live in z, where the flow has straightened the data's curves; "
        "mapped back through the flow its draws follow them. The RMDN's Gaussians live in y "
        "itself and must cover the curves, so where the data curve its residuals bend away "
        "from the diagonal."
    )


def predictive_view(
    models: dict,
    split: frmdn.data.SequenceSplit,
    sequence: int,
    step: int,
    key: str,
    name: str,
) -> None:
    held_out = split.test[: predictive.FIT_SEQUENCES]
    predictive.heading()
    fits = predictive.mahalanobis_fits_of(models, held_out, key)
    predictive.samples_view(
        models,
        split.test[sequence],
        step,
        f"{key}|{sequence}",
        page="toy",
        what="point",
        fits=fits,
    )
    predictive.fit_view(
        fits,
        f"{len(held_out)} held-out sequences",
        page="toy",
        lesson=fit_lesson(name, fits),
    )


def density_view(models: dict, split: frmdn.data.SequenceSplit, sequence: int, step: int) -> None:
    st.subheader("Predicted next-step density")
    st.caption(
        r"$p(y_t \mid y_{<t})$ for the chosen sequence and step, on the same grid for both "
        "models. The FRMDN's density is the mixture on z pulled back through the flow (with its "
        "Jacobian)."
    )
    series = split.test[sequence]
    bounds = views.data_bounds(split.test)
    grids, nll = {}, {}
    for name, model in models.items():
        xs, ys, grids[name] = views.density_grid(model, series[:step], bounds)
        nll[name] = -float(model.next_step_log_prob(series[:step], series[step : step + 1])[0])
    figure = plots.density_figure(xs, ys, grids, series[:step].numpy(), series[step].numpy(), nll)
    st.plotly_chart(figure, width="stretch", key="toy_density")


def samples_view(models: dict, split: frmdn.data.SequenceSplit, seed: int) -> None:
    st.subheader("Generated sequences")
    with links.linked("toy", [Number("temperature", "toy_temperature", 0.1, 1.5)]):
        temperature = st.slider(
            "Sampling temperature",
            0.1,
            1.5,
            1.0,
            0.05,
            key="toy_temperature",
            persist_state="session",
            help="Below 1 sharpens the mixture weights and shrinks every covariance.",
        )
    n, length = 64, split.test.shape[1]
    torch.manual_seed(seed)
    generated = {
        name: m.sample(n, length, temperature=temperature).cpu().numpy()
        for name, m in models.items()
    }
    st.caption(
        f"Every point of {n} sequences per source, faintly; the first {PATH_STEPS} hops of "
        "one sequence each are joined and numbered from its start (ringed), to follow."
    )
    figure = plots.trajectories_figure(
        split.test[:n].numpy(), generated, max_lines=1, max_steps=PATH_STEPS + 1
    )
    st.plotly_chart(figure, width="stretch", key="toy_samples")


def scoreboard(models: dict, split: frmdn.data.SequenceSplit, seconds: dict) -> None:
    st.subheader("Scoreboard")
    table = views.scoreboard_table(models, split.test, seconds)
    st.dataframe(number_style(table), width="stretch")
    gain = (
        table.loc["RMDN", "held-out NLL (nats/step)"]
        - table.loc["FRMDN", "held-out NLL (nats/step)"]
    )
    st.caption(
        f"FRMDN - RMDN: {-gain:+.3f} nats per step on {len(split.test)} held-out sequences "
        "(lower is better)." + negative_nll_note(table["held-out NLL (nats/step)"])
    )


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("Toy 2D sequences")
st.markdown(
    "Each sequence hops around the plane; the models predict a distribution for the **next** "
    "point. When that distribution is a curved arc or has sharp edges, a few Gaussians fit it "
    "badly. The FRMDN first bends the plane with an invertible flow, so the same mixture fits."
)
link_note = st.empty()  # filled at the end: what a link asked that the page cannot show
settings = settings_panel()
split = toy_split(settings["name"], settings["noise"], settings["length"], settings["seed"])

run = session_run("toy", settings["name"])
source_col, train_col, _ = st.columns([1, 1, 3])
if source_col.button("Load pretrained", icon=":material/download:", width="stretch"):
    load_pretrained(run, settings["name"])
if train_col.button(
    "Train both", icon=":material/model_training:", type="primary", width="stretch"
):
    start_training(run, settings, split)
place_on_session_device(run)
if "models" not in run:
    load_pretrained(run, settings["name"])
settings_note(run, settings)
training_controls(run, key="toy")

models = run.get("models")
st.sidebar.markdown(f"**Models:** {run.get('source', 'none loaded')}")
if models and not views_wait_for_training(run):
    last = split.test.shape[1] - 1
    pick_col, step_col = st.columns(2)
    view_links = [
        Whole("sequence", "toy_seq", 0, len(split.test) - 1),
        Whole("t", f"toy_step_{last}", 1, last),
    ]
    with links.linked("toy", view_links):
        sequence = pick_col.slider(
            "Held-out sequence", 0, len(split.test) - 1, 0, key="toy_seq", persist_state="session"
        )
        step = step_col.slider(
            "Time step t", 1, last, min(8, last), key=f"toy_step_{last}", persist_state="session"
        )
    latent_view(models, split, sequence, step)
    flow_key = "|".join(str(settings[k]) for k in ("name", "noise", "length", "seed"))
    flow_layers_view(models, split, f"{weights_token(run)}|{flow_key}")
    predictive_view(
        models, split, sequence, step, f"{weights_token(run)}|{flow_key}", settings["name"]
    )
    density_view(models, split, sequence, step)
    weights_view(models, split, sequence, step)
    samples_view(models, split, settings["seed"])
    scoreboard(models, split, run.get("seconds", {}))
checkpoint_upload(
    "toy",
    expect={"kind": "toy", "dim": 2},
    evaluate=lambda model: frmdn.evaluate_nll(model, split.test),
    pretrained=lambda: pretrained_pair(f"toy-{settings['name']}"),
    data_label=f"the {len(split.test)} toy:{settings['name']} test sequences",
)
links.tell(link_note)
