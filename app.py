"""FRMDN Lab: the Streamlit router, the shared sidebar and the home page.

Run with ``streamlit run app.py``. Each other page lives in ``pages/<name>.py`` and is added to
``PAGES`` below; pages hold layout only and call :mod:`frmdn` for the maths.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import torch

from frmdn.device import default_device, describe_device, set_threads
from ui import links
from ui.jobs import job_runner
from ui.navigation import mark_routed

DEFAULT_SEED = 0
ICON = Path(__file__).resolve().parent / "ui" / "icon.png"  # a ring of points, drawn with Pillow
DIAGRAM = r"""
digraph frmdn {
  rankdir=LR; bgcolor="transparent";
  node [shape=box, style="rounded,filled", fillcolor="#f3f6fb", color="#94a3b8",
        fontname="Helvetica", fontsize=11];
  edge [color="#64748b", fontname="Helvetica", fontsize=10];
  past [label="past targets\ny₁ … yₜ₋₁"];
  lstm [label="LSTM"];
  head [label="mixture parameters\nαₖ, μₖ, Dₖ, Uₖ"];
  target [label="next target\nyₜ"];
  flow [label="flow f\n(identity in an RMDN)", fillcolor="#ffedd5", color="#ea580c"];
  z [label="latent\nzₜ = f(yₜ)"];
  lik [label="log p(yₜ | y₁ … yₜ₋₁)\n= log mixture(zₜ) + log |det ∂f/∂y|",
       fillcolor="#dbeafe", color="#2563eb"];
  past -> lstm -> head -> lik;
  target -> flow -> z -> lik;
}
"""


LESSON = (  # (minutes, page, query, link label, what to do and look at, the question to ask)
    (
        3,
        "pages/toy.py",
        {"data": "ring", "K": "3", "rank": "1"},
        "Toy ring, K = 3",
        "Move the *time step* slider and compare the two density maps: the next point lies on "
        "an arc of the ring. Press play on *The flow, layer by layer* and watch the ring bend "
        "into z; under *Where the mixture lives*, compare where the FRMDN's draws fall in z "
        "with the RMDN's Gaussians stretched over arcs of y, and the two KS fit numbers.",
        "Why can three Gaussians not cover an arc in y, yet can in z = f(y)?",
    ),
    (
        3,
        "pages/toy.py",
        {"data": "moons", "K": "1", "rank": "1"},
        "Toy moons with a single component",
        "One Gaussian per step. Press **Train both** (under half a minute) and watch the two loss "
        "curves; then look at the density maps and the generated sequences.",
        "With K = 1 the RMDN's prediction is a single blob: what does the flow give the FRMDN "
        "that a larger K would otherwise have to give the RMDN?",
    ),
    (
        2,
        "pages/toy.py",
        {"data": "clusters", "K": "3", "rank": "1"},
        "Toy clusters: the control",
        "The next point falls in round blobs. Compare the scoreboard's two NLLs.",
        "When does a flow not help? (The Compare page measures it over seeds.)",
    ),
    (
        3,
        "pages/audio.py",
        {},
        "Audio: listen",
        "Play the original, the RMDN and the FRMDN continuations of the same start; under "
        "*Where the mixture lives*, compare the two Q-Q plots: how well each model's "
        "Gaussians fit the real frames of the clip. Pick a **Voice** the models never heard "
        "and read the note under the scoreboard. Then record 3 seconds of your voice, press "
        "**Train both**, and read the *Train vs held-out NLL* table.",
        "Which continuation keeps the voice voiced longer? Does the flow still help on a voice "
        "it never heard? Why does training on one short clip open a gap between train and "
        "held-out NLL?",
    ),
    (
        2,
        "pages/single_images.py",
        {},
        "Single images: digits row by row",
        "Look at the completions of the top halves and the per-row bits: which rows does each "
        "model find surprising? Then the drawn rows as grey levels under *Where the mixture "
        "lives*.",
        "A digit is 28 steps of 28 pixels: what does the mixture model at each step?",
    ),
    (
        2,
        "pages/image_sequences.py",
        {},
        "Image sequences: World-Models style",
        "Compare one-step predictions with the free-running rollouts of both models; then the "
        "decoded draws of one frame under *Where the mixture lives*.",
        "Why do rollouts drift even when one-step predictions look right?",
    ),
    (
        3,
        "pages/worlds.py",
        {"world": "CarRacing", "track": "LC6.RC6.LC6.RC6"},
        "World Models: steer a dream",
        "Watch the six panels of a held-out episode: the one-step predictions stay on the real "
        "road, the free rollouts drift off it. Below, the link has steered both models through "
        "a slalom from the same start frame: compare the two dreams, then steer a few steps "
        "yourself (**Dream on**) or play another scripted track. Last, read the scoreboard.",
        "Both models read the same actions and the same random numbers: why do their dreams "
        "part ways? On these car frames the FRMDN scores worse than the RMDN: what does that "
        "say about where a flow helps?",
    ),
    (
        2,
        "pages/compare.py",
        {},
        "Compare: is it the flow, or the seed?",
        "Read the verdict sentences and the strip plots, first for the flow, then for the "
        "low-rank precision.",
        "Which gains are beyond seed noise? How many numbers does a full covariance cost at "
        "d = 80 (the speech frames) against the low-rank precision?",
    ),
)


def lesson() -> None:
    """A guided 20-minute lesson: one step per view, each link opening it in the right state."""
    minutes = sum(step[0] for step in LESSON)
    st.subheader(f"A lesson in {minutes} minutes")
    st.markdown(
        "For a class: follow the steps in order. Each link opens the view in the state the step "
        "needs; the questions are for discussion before moving on."
    )
    for number, (length, page, query, label, todo, question) in enumerate(LESSON, start=1):
        with st.container(border=True):
            st.page_link(  # blue and bold with an arrow: it reads as a link, not as text
                page,
                label=f":blue[**{number}. {label}**] ({length} min)",
                icon=":material/arrow_forward:",
                query_params=query or None,
            )
            st.markdown(f"{todo}\n\n**Ask:** {question}")


def home() -> None:
    """The home page: what RMDN and FRMDN are, and the equations the lab is built on."""
    st.title("FRMDN Lab")
    links.tell(st.empty())  # a shared link's seed out of range
    st.markdown(
        "Sequence models that predict a whole **probability distribution** for the next "
        "observation, not a single value. A *Recurrent Mixture Density Network* (RMDN) reads the "
        "past with a recurrent network and outputs a Gaussian mixture over what comes next. "
        "A *Flow-based RMDN* (FRMDN) first maps each observation through an invertible neural "
        "network (a normalizing flow) into a space where a mixture with cheap, low-rank "
        "covariances fits well, so it can model correlated, high-dimensional data such as audio "
        "frames and images at a fraction of the cost of full covariances."
    )

    st.subheader("The key equations")
    st.markdown(
        "**Likelihood.** At step $t$ the recurrent network turns the history $y_{<t}$ into "
        "mixture weights $\\alpha_k$, means $\\mu_k$ and precisions $\\Sigma_k^{-1}$; the flow "
        "$f$ maps the observation to $z = f(y)$ and the change of variables adds its log-Jacobian:"
    )
    st.latex(
        r"\log p(y_t \mid y_{<t}) = \log \sum_{k=1}^{K} \alpha_k\,"
        r"\mathcal{N}\!\left(f(y_t);\, \mu_k,\, \Sigma_k\right)"
        r" + \log\left|\det \frac{\partial f}{\partial y}(y_t)\right|"
    )
    st.markdown(
        "**Low-rank-plus-diagonal precision.** Each component's inverse covariance is a positive "
        "diagonal $D_k$ plus a rank-$r$ term, with $U_k \\in \\mathbb{R}^{d \\times r}$ and "
        "$r \\ll d$:"
    )
    st.latex(r"\Sigma_k^{-1} = D_k + U_k U_k^{\top}")
    st.markdown(
        "**Cheap log-determinant.** The matrix determinant lemma replaces a $d \\times d$ "
        "determinant by an $r \\times r$ one, and the quadratic form needs only $O(dr)$ work:"
    )
    st.latex(
        r"\log\det \Sigma_k^{-1} = \sum_{i=1}^{d} \log D_{k,ii}"
        r" + \log\det\!\left(I_r + U_k^{\top} D_k^{-1} U_k\right)"
    )
    st.latex(
        r"(z-\mu_k)^{\top}\Sigma_k^{-1}(z-\mu_k) = \sum_{i=1}^{d} D_{k,ii}\,(z-\mu_k)_i^2"
        r" + \left\lVert U_k^{\top}(z-\mu_k)\right\rVert^2"
    )

    st.subheader("How the pieces fit")
    st.graphviz_chart(DIAGRAM, width="stretch")

    st.subheader("What each model does")
    left, right = st.columns(2, gap="large")
    with left, st.container(border=True):
        st.markdown(
            "#### RMDN\n"
            "- An LSTM reads $y_{<t}$ and emits a $K$-component Gaussian mixture for $y_t$.\n"
            "- The mixture lives directly in data space: $f$ is the identity, "
            "$\\log|\\det \\partial f / \\partial y| = 0$.\n"
            "- Diagonal covariances are cheap but ignore correlations between dimensions; full "
            "covariances cost $O(d^3)$ per component.\n"
            "- The baseline: same network, same training loop, no flow."
        )
    with right, st.container(border=True):
        st.markdown(
            "#### FRMDN\n"
            "- The same LSTM and mixture head, but the mixture models $z = f(y)$ from an "
            "invertible coupling flow (RealNVP style).\n"
            "- The flow bends the data into a shape a few Gaussians can cover; its log-Jacobian "
            "keeps the likelihood exact.\n"
            "- Precisions $D_k + U_k U_k^{\\top}$ capture correlations at $O(dr)$ cost.\n"
            "- Sampling inverts the flow: draw $z$ from the mixture, return $f^{-1}(z)$."
        )

    st.subheader("Pages")
    st.page_link(
        "pages/toy.py",
        label=":blue[**Toy 2D sequences**]: watch the flow bend curved next-step distributions",
        icon=":material/scatter_plot:",
    )
    st.page_link(
        "pages/audio.py",
        label=":blue[**Audio**]: listen to both models continue a speech clip, or your own voice",
        icon=":material/graphic_eq:",
    )
    st.page_link(
        "pages/single_images.py",
        label=":blue[**Single images**]: MNIST digits row by row, completions and bits/dim",
        icon=":material/grid_on:",
    )
    st.page_link(
        "pages/image_sequences.py",
        label=":blue[**Image sequences**]: VAE latents of moving frames, predictions and rollouts",
        icon=":material/movie:",
    )
    st.page_link(
        "pages/compare.py",
        label=":blue[**Compare**]: what the flow and the rank add, seed by seed, in the grid",
        icon=":material/leaderboard:",
    )

    lesson()

    st.caption(
        "References: S. Razavi and R. Hosseini, *Flow-based Recurrent Mixture Density Networks*, "
        "arXiv:2008.02144. L. Dinh, J. Sohl-Dickstein and S. Bengio, *Density estimation using "
        "Real NVP*, arXiv:1605.08803."
    )


def sidebar() -> None:
    """Settings shared by every page: the compute device and the global random seed."""
    set_threads(1)  # views run in this script thread; the cores belong to the job workers
    best = default_device()
    seed_link = [links.Whole("seed", "seed", 0, 2**31 - 1)]  # every page's URL carries it
    seed_asked = links.follow("app", seed_link)
    st.session_state.setdefault("seed", DEFAULT_SEED)
    slots = job_runner().settings
    with st.sidebar:
        if best.type == "cuda":  # training runs there unless the user picks the CPU
            choice = st.radio(
                "Training device",
                [str(best), "cpu"],
                format_func=lambda name: describe_device(name),
                key="device_choice",
                help="Where Train both trains and generates. The CPU is slower for large "
                "models but leaves the GPU to others.",
            )
            device = torch.device(choice)
        else:
            device = best
        st.session_state["device"] = str(device)
        st.markdown(f"**Device:** {describe_device(device)}")
        st.caption(
            f"Training and generation run in {slots.workers} background "
            f"slot{'s' * (slots.workers > 1)} of {slots.threads_per_job} "
            f"thread{'s' * (slots.threads_per_job > 1)} each, shared by everyone on this "
            "server; more runs wait in a queue."
        )
        st.number_input(
            "Global seed",
            min_value=0,
            max_value=2**31 - 1,
            step=1,
            key="seed",
            help="Seeds data generation, model initialisation and sampling on every page.",
        )
    links.record("app", seed_link, seed_asked)


# The tab icon is a file of the repository: a material icon comes from a web font, offline not
st.set_page_config(page_title="FRMDN Lab", page_icon=str(ICON), layout="wide")

PAGES = [
    st.Page(home, title="Home", icon=":material/home:", default=True),
    st.Page("pages/toy.py", title="Toy 2D sequences", icon=":material/scatter_plot:"),
    st.Page("pages/audio.py", title="Audio: RMDN vs FRMDN", icon=":material/graphic_eq:"),
    st.Page("pages/single_images.py", title="Single images", icon=":material/grid_on:"),
    st.Page("pages/image_sequences.py", title="Image sequences", icon=":material/movie:"),
    st.Page("pages/worlds.py", title="World Models", icon=":material/sports_esports:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/leaderboard:"),
]

# On a fresh server a deep link (/toy?...) first runs its page file without this script;
# every page calls ui.navigation.serve_pages_through_app, which reruns it through here.
mark_routed()
page = st.navigation(PAGES)
sidebar()
page.run()
