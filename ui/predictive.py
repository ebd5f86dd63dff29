"""The section "Where the mixture lives", as every page shows it: draws of one step's
predictive mixture of both models, and how well each model's Gaussians fit the true next
values of held-out data.

The maths is :mod:`frmdn.views.predictive` and the figures :mod:`frmdn.plots.predictive`;
this module holds the shared layout, captions and caching, so the four pages tell it alike.
"""

from __future__ import annotations

import streamlit as st
import torch

from frmdn import plots, views

PREDICTIVE_SAMPLES = 1500  # draws of one step's mixture, per model
FIT_SEQUENCES = 64  # held-out sequences whose every step scores the Gaussians' fit
MODELS = ("RMDN", "FRMDN")


@st.cache_data(show_spinner=False, max_entries=64)
def predictive_samples_of(
    _models: dict, _sequence: torch.Tensor, step: int, key: str, _x: torch.Tensor | None = None
) -> dict[str, views.PredictiveSamples]:
    """Each model's PREDICTIVE_SAMPLES draws of the mixture predicting ``_sequence[step]``
    (with its conditioning inputs ``_x``, if any); ``key`` names the weights and the sequence."""
    return {
        name: views.predictive_samples(model, _sequence, step, n=PREDICTIVE_SAMPLES, x=_x)
        for name, model in _models.items()
    }


@st.cache_data(show_spinner="Measuring how well each mixture's Gaussians fit ...", max_entries=16)
def mahalanobis_fits_of(
    _models: dict, _held_out: torch.Tensor, key: str, _x: torch.Tensor | None = None
) -> dict[str, views.MahalanobisFit]:
    """Each model's fit of its Gaussians to every step t >= 1 of ``_held_out`` (N, T, d) (with
    their conditioning inputs ``_x``, if any); ``key`` names the weights and the sequences."""
    return {name: views.mahalanobis_fit(model, _held_out, x=_x) for name, model in _models.items()}


def heading() -> None:
    """The section's heading: pages call it before the widgets that pick the step."""
    st.subheader("Where the mixture lives: samples of the next step")


def samples_view(
    models: dict,
    sequence: torch.Tensor,
    step: int,
    key: str,
    *,
    page: str,
    what: str,
    rmdn_space: str = "standardised y",
    fits: dict[str, views.MahalanobisFit] | None = None,
    x: torch.Tensor | None = None,
) -> dict[str, views.PredictiveSamples]:
    """The draws of both models' mixtures predicting ``sequence[step]`` (T, d), in each
    mixture's space and mapped back to data units (under :func:`heading`).

    Arguments:
        what: The next value in words, e.g. "point" or "frame's latent".
        rmdn_space: The space the RMDN's mixture lives in, as the figure names it.
        fits: Each model's fit from :func:`fit_view`'s helper, for the panel titles.
        x: The sequence's conditioning inputs (T, c) when the models have them.
    """
    d = sequence.shape[-1]
    projection = (
        ""
        if d <= 2
        else f" The {d}-dimensional draws are drawn on the plane of their own two principal "
        "axes (PCA of the draws and the true value, fixed for the chosen step): each panel of "
        "the top row on its own plane, both panels of the bottom row on one shared plane."
    )
    st.caption(
        f"{PREDICTIVE_SAMPLES:,} draws from each model's predictive mixture for the next {what}, "
        "coloured by the component that drew them; the black star is the true next value. "
        f"Top: the space the mixture lives in (the RMDN's {rmdn_space}, the FRMDN's z = f(y)). "
        "Bottom: the same draws in data units."
    )
    if projection:
        with st.expander("How to read this: the planes of the panels"):
            st.caption(projection.strip() + " Crosses mark the component means.")
    samples = predictive_samples_of(models, sequence, step, key, x)
    figure = plots.predictive_samples_figure(
        samples["RMDN"], samples["FRMDN"], fits, spaces={"RMDN": rmdn_space}
    )
    st.plotly_chart(figure, width="stretch", key=f"{page}_predictive")
    return samples


def fit_view(
    fits: dict[str, views.MahalanobisFit], held_out: str, *, page: str, lesson: str = ""
) -> None:
    """The Q-Q plot of both models' whitened residuals and a caption with their fit numbers.

    Arguments:
        fits: ``{"RMDN": fit, "FRMDN": fit}`` from :func:`mahalanobis_fits_of`.
        held_out: What was scored, in words, e.g. "64 held-out sequences".
        lesson: A sentence on what this data set shows, appended to the caption.
    """
    st.plotly_chart(
        plots.qq_figure({name: fits[name] for name in MODELS}),
        width="stretch",
        key=f"{page}_qq",
    )
    st.caption(
        f"How closely each model's Gaussians fit the true next values ({held_out}; the "
        f"diagonal is a perfect fit). {verdict(fits)} {lesson}".rstrip()
    )
    numbers = "; ".join(
        f"{name}: KS {fits[name].ks:.3f}, mean m²/d {fits[name].mean_m2:.2f}" for name in MODELS
    )
    with st.expander("How to read this: whitening, KS and m²/d"):
        st.caption(
            f"Over every step t ≥ 1 ({numbers}), each true value is whitened by its most "
            "responsible Gaussian: w = L⁻¹(z − μ), Σ = LLᵀ. A perfect fit makes every "
            "coordinate of w N(0, 1): Q-Q points on the diagonal, Kolmogorov–Smirnov distance "
            "KS near 0, mean squared Mahalanobis distance per dimension m²/d near 1 (a little "
            "below: the closest Gaussian is picked)."
        )


def better_fit(fits: dict[str, views.MahalanobisFit]) -> str | None:
    """The model whose Gaussians fit their points more closely by KS, None when about equal."""
    rmdn, frmdn = fits["RMDN"].ks, fits["FRMDN"].ks
    if abs(rmdn - frmdn) < 0.005:
        return None
    return "FRMDN" if frmdn < rmdn else "RMDN"


def verdict(fits: dict[str, views.MahalanobisFit]) -> str:
    """One sentence, from the numbers, on whose Gaussians fit their points more closely."""
    rmdn, frmdn = fits["RMDN"].ks, fits["FRMDN"].ks
    better = better_fit(fits)
    if better is None:
        return f"Here both fit about equally well (KS {rmdn:.3f} and {frmdn:.3f})."
    worse = "RMDN" if better == "FRMDN" else "FRMDN"
    return (
        f"Here the {better}'s Gaussians fit more closely than the {worse}'s "
        f"(KS {min(rmdn, frmdn):.3f} against {max(rmdn, frmdn):.3f})."
    )
