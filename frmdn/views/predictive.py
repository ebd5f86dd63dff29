"""Where the mixture lives: samples of one step's predictive mixture, and how well its
Gaussians fit the true next values (Mahalanobis distances, whitened residuals, KS distance)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel

MAX_COVARIANCE_NUMBERS = 2**22  # d x d entries formed at once: 32 MiB in float64

__all__ = [
    "MahalanobisFit",
    "PredictiveSamples",
    "cholesky_of_covariance",
    "ks_distance",
    "mahalanobis_fit",
    "predictive_samples",
]


@dataclass(frozen=True)
class PredictiveSamples:
    """Draws from the mixture predicting one step, in the mixture's space and in data space.

    Attributes:
        z: Samples in the space the mixture lives in (n, d): :math:`z = f(u)` for an FRMDN,
            the standardised target :math:`u = (y - m) / s` for an RMDN.
        component: The component each sample was drawn from (n,).
        y: The same samples mapped back to data units (n, d).
        target_z: The true next value in the mixture's space (d,).
        target_y: The true next value in data units (d,).
        means_z: The component means in the mixture's space (K, d).
        weights: The mixture weights (K,).
        step: The step t whose mixture this is.
    """

    z: np.ndarray
    component: np.ndarray
    y: np.ndarray
    target_z: np.ndarray
    target_y: np.ndarray
    means_z: np.ndarray
    weights: np.ndarray
    step: int


@dataclass(frozen=True)
class MahalanobisFit:
    """How well each predictive mixture's Gaussians fit the true next values.

    Attributes:
        ks: Kolmogorov–Smirnov distance of :attr:`whitened` from N(0, 1): the headline number
            (0 = a perfect Gaussian fit).
        mean_m2: Mean of :math:`m^2 / d` over the points (1 for a well-fitting mixture, a
            little below 1 because the most responsible component is picked).
        whitened: Whitened residuals :math:`L_k^{-1}(z - \\mu_k)`, flattened (M * d,).
        m2: Squared Mahalanobis distance of each point (M,).
        component: The most responsible component of each point (M,).
    """

    ks: float
    mean_m2: float
    whitened: np.ndarray
    m2: np.ndarray
    component: np.ndarray


def cholesky_of_covariance(covariance: Tensor) -> Tensor:
    """Lower Cholesky factors of covariances (*, d, d) formed in float32 and given in float64.

    An extreme precision (a model near divergence) can leave its float32 inverse a little
    indefinite; such a matrix is replaced by the nearest one with eigenvalues at least 1e-9 of
    its largest, so the views still draw and whiten instead of raising.
    """
    covariance = (covariance + covariance.mT) / 2
    tril, info = torch.linalg.cholesky_ex(covariance)
    if not bool((info > 0).any()):
        return tril
    values, vectors = torch.linalg.eigh(covariance)
    floor = 1e-9 * values.abs().amax(-1, keepdim=True).clamp_min(torch.finfo(values.dtype).tiny)
    repaired = vectors @ torch.diag_embed(values.clamp_min(floor)) @ vectors.mT
    return torch.linalg.cholesky((repaired + repaired.mT) / 2)


def _check_sequence(model: SequenceDensityModel, sequence: Tensor, step: int) -> None:
    d = model.config.dim
    if sequence.dim() != 2 or sequence.shape[-1] != d:
        raise ValueError(f"sequence must be (T, {d}), got {tuple(sequence.shape)}")
    if not 1 <= step < sequence.shape[0]:
        raise ValueError(f"step must be in [1, {sequence.shape[0]}), got {step}")


@torch.no_grad()
def predictive_samples(
    model: SequenceDensityModel,
    sequence: Tensor,
    step: int,
    n: int = 2000,
    seed: int = 0,
    x: Tensor | None = None,
) -> PredictiveSamples:
    """``n`` draws from the mixture predicting ``sequence[step]`` from ``sequence[:step]``.

    Components are drawn from the weights and each Gaussian as :math:`\\mu_k + L_k
    \\varepsilon` with :math:`\\Sigma_k = L_k L_k^\\top`, in float64 on the CPU with a generator
    seeded by ``seed`` (the same draws on any device). They are mapped back to data space
    with the step's ``flow.inverse`` (and its flow context), the pitch predictor's synthesis
    if the model has one, and ``denormalize``. The model runs in eval mode without gradients;
    its training mode is restored afterwards.

    Arguments:
        sequence: One held-out sequence (T, d), on any device.
        step: The step t >= 1 whose predictive mixture is drawn.
        x: The sequence's conditioning inputs (T, c) when the model has them.
    """
    _check_sequence(model, sequence, step)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    was_training = model.training
    model.eval()
    try:
        history = model._here(sequence[: step + 1]).unsqueeze(0)  # (1, t + 1, d)
        inputs = None if x is None else model._here(x[: step + 1]).unsqueeze(0)
        gmm, _, residual, context = model._residuals(history, inputs)  # one pass of the LSTM
        z_true, _ = model.flow(residual, context)  # as model.mixture computes it
        gmm = gmm.at((0, step))  # only this step's d x d covariances are formed
        weights = gmm.log_weights.double().exp().cpu()  # (K,)
        loc = gmm.loc.double().cpu()  # (K, d)
        covariance = gmm.component_covariance().double().cpu()  # (K, d, d)
        tril = cholesky_of_covariance(covariance)
        generator = torch.Generator().manual_seed(seed)
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, loc.shape[-1], 1, dtype=torch.float64, generator=generator)
        z = loc[component] + (tril[component] @ noise)[..., 0]  # (n, d)

        zs = z.to(device=model.start.device, dtype=model.start.dtype)
        step_context = None if context is None else context[0, step].expand(n, -1)
        u = model.flow.inverse(zs, step_context)  # u - o
        if model.pitch is not None:  # put the pitch predictor's guess back, as sampling does
            standardized = model.normalize(history)
            hidden, _ = model.lstm(model._inputs(standardized, inputs), model._initial_state(1))
            past = model._pitch_windows(standardized)[0, step, : model.pitch.context]
            u = model.pitch.synthesize(
                past.expand(n, -1), u, hidden[0, step].expand(n, -1).contiguous()
            )
        y = model.denormalize(u)
    finally:
        model.train(was_training)
    return PredictiveSamples(
        z=z.numpy(),
        component=component.numpy(),
        y=y.cpu().numpy(),
        target_z=z_true[0, step].cpu().numpy(),
        target_y=sequence[step].cpu().numpy(),
        means_z=loc.numpy(),
        weights=weights.numpy(),
        step=step,
    )


def ks_distance(values: np.ndarray | Tensor) -> float:
    """Kolmogorov–Smirnov distance :math:`\\sup_x |F_n(x) - \\Phi(x)|` of samples from
    N(0, 1), with :math:`\\Phi(x) = (1 + \\mathrm{erf}(x / \\sqrt 2)) / 2` in float64."""
    x = torch.as_tensor(np.asarray(values), dtype=torch.float64).reshape(-1)
    x = x[torch.isfinite(x)].sort().values
    if x.numel() == 0:
        return float("nan")
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    n = x.numel()
    above = torch.arange(1, n + 1, dtype=torch.float64) / n - cdf
    below = cdf - torch.arange(n, dtype=torch.float64) / n
    return float(torch.maximum(above, below).max())


@torch.no_grad()
def mahalanobis_fit(
    model: SequenceDensityModel,
    sequences: Tensor,
    batch_size: int = 64,
    x: Tensor | None = None,
) -> MahalanobisFit:
    r"""How well the Gaussians of each step's predictive mixture fit the true next values.

    For every step t >= 1 of every sequence (N, T, d), the true value's latent z is scored
    under its most responsible component k: :math:`m^2 = (z - \mu_k)^\top \Sigma_k^{-1}
    (z - \mu_k)` and the whitened residual :math:`w = L_k^{-1}(z - \mu_k)` with
    :math:`\Sigma_k = L_k L_k^\top` (Cholesky solves in float64). If the Gaussians fit, each
    coordinate of w is N(0, 1) and :math:`m^2 / d` averages 1.

    The headline number is the Kolmogorov–Smirnov distance of all whitened coordinates from
    N(0, 1) (:attr:`MahalanobisFit.ks`): it lies in [0, 1], 0 is a perfect Gaussian fit, and
    it sees any misfit of shape (bent, skewed or heavy-tailed clouds), not only of spread,
    whereas the mean :math:`m^2 / d` (the second number) only measures spread and is
    dominated by a few far outliers. Both are biased slightly low: picking the most
    responsible component, rather than the one that drew the point, favours the component
    the point lies closest to, so where components overlap :math:`m^2` comes out a little
    below its :math:`\chi^2_d` expectation.

    ``x`` (N, T, c) are the sequences' conditioning inputs when the model has them. The model
    runs in eval mode; its training mode is restored afterwards.
    """
    d = model.config.dim
    if sequences.dim() != 3 or sequences.shape[-1] != d or sequences.shape[1] < 2:
        raise ValueError(f"sequences must be (N, T >= 2, {d}), got {tuple(sequences.shape)}")
    was_training = model.training
    model.eval()
    whitened, m2, components = [], [], []
    try:
        for start in range(0, sequences.shape[0], batch_size):
            part_x = None if x is None else x[start : start + batch_size]
            gmm, z = model.mixture(sequences[start : start + batch_size], part_x)
            picked = gmm.responsibilities(z)[:, 1:].argmax(-1)  # (B, T - 1)
            rows, steps = (
                i.reshape(-1)
                for i in torch.meshgrid(
                    torch.arange(picked.shape[0], device=z.device),
                    torch.arange(1, z.shape[1], device=z.device),
                    indexing="ij",
                )
            )
            chunk = max(1, MAX_COVARIANCE_NUMBERS // (gmm.n_components * d * d))
            for first in range(0, len(rows), chunk):  # d x d matrices for a chunk of steps
                b, t = rows[first : first + chunk], steps[first : first + chunk]
                k = picked[b, t - 1]  # (n,)
                part, each = gmm.at((b, t)), torch.arange(len(k), device=k.device)
                sigma = part.component_covariance()[each, k].double()  # (n, d, d)
                delta = (z[b, t].double() - part.loc[each, k].double()).unsqueeze(-1)
                tril = cholesky_of_covariance(sigma)
                w = torch.linalg.solve_triangular(tril, delta, upper=False)[..., 0]  # (n, d)
                whitened.append(w.cpu())
                m2.append(w.square().sum(-1).cpu())
                components.append(k.cpu())
    finally:
        model.train(was_training)
    w_all, m2_all = torch.cat(whitened), torch.cat(m2)
    return MahalanobisFit(
        ks=ks_distance(w_all),
        mean_m2=float(m2_all.mean() / d),
        whitened=w_all.reshape(-1).numpy(),
        m2=m2_all.numpy(),
        component=torch.cat(components).numpy(),
    )
