"""2D toy views: latent points, mixture components, density grids, flow grid lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel

__all__ = [
    "Component",
    "LatentPoints",
    "data_bounds",
    "density_grid",
    "flow_grid_lines",
    "latent_points",
    "step_components",
    "to_latent",
]


@dataclass(frozen=True)
class LatentPoints:
    """Targets y (N, d), latents z = f(u) (N, d) and each one's likeliest component (N,)."""

    y: np.ndarray
    z: np.ndarray
    component: np.ndarray


@dataclass(frozen=True)
class Component:
    """One mixture component: weight, mean (d,) and covariance (d, d)."""

    weight: float
    mean: np.ndarray
    covariance: np.ndarray


@torch.no_grad()
def latent_points(model: SequenceDensityModel, y: Tensor, max_points: int = 4000) -> LatentPoints:
    """Targets of sequences y (B, T, d), their latents, and the component each one belongs to.

    Each target is assigned the component with the largest responsibility under its own
    predictive mixture (given its history).
    """
    model.eval()
    gmm, z = model.mixture(y)  # batch (B, T); (B, T, d)
    component = gmm.responsibilities(z).argmax(-1)  # (B, T)
    d = y.shape[-1]
    keep = slice(0, max_points)
    return LatentPoints(
        y.reshape(-1, d)[keep].cpu().numpy(),
        z.reshape(-1, d)[keep].cpu().numpy(),
        component.reshape(-1)[keep].cpu().numpy(),
    )


@torch.no_grad()
def step_components(
    model: SequenceDensityModel, sequence: Tensor, step: int, data_space: bool = False
) -> list[Component]:
    """The predictive mixture for ``sequence[step]`` given ``sequence[:step]`` (sequence (T, d)).

    In z-space by default; with ``data_space`` the components are mapped back to data units,
    which is exact only for an RMDN (identity flow), so it is refused for an FRMDN.
    """
    if data_space and model.config.flow_layers > 0:
        raise ValueError("an FRMDN's components are Gaussian in z-space only")
    if not 0 <= step < sequence.shape[0]:
        raise ValueError(f"step must be in [0, {sequence.shape[0]}), got {step}")
    model.eval()
    gmm, _ = model.mixture(sequence[: step + 1].unsqueeze(0))
    weights = gmm.log_weights[0, step].exp()  # (K,)
    means = gmm.loc[0, step]  # (K, d)
    covariances = gmm.component_covariance()[0, step]  # (K, d, d)
    if data_space:
        scale = model.data_scale
        means = means * scale + model.data_shift
        covariances = covariances * scale[:, None] * scale[None, :]
    return [
        Component(float(w), m.cpu().numpy(), c.cpu().numpy())
        for w, m, c in zip(weights, means, covariances, strict=True)
    ]


@torch.no_grad()
def density_grid(
    model: SequenceDensityModel,
    history: Tensor,
    bounds: tuple[float, float, float, float],
    resolution: int = 120,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive log-density of the next 2D target after ``history`` (T0, 2) on a grid.

    Arguments:
        bounds: (x_min, x_max, y_min, y_max) in data units.
        resolution: Grid points per axis.

    Returns:
        xs (resolution,), ys (resolution,), log_density (resolution, resolution) indexed [y, x].
    """
    if model.config.dim != 2:
        raise ValueError("density maps need two-dimensional targets")
    model.eval()
    xs = np.linspace(bounds[0], bounds[1], resolution, dtype=np.float32)
    ys = np.linspace(bounds[2], bounds[3], resolution, dtype=np.float32)
    grid_x, grid_y = np.meshgrid(xs, ys)  # (R, R) each, [y, x]
    points = torch.from_numpy(np.stack([grid_x.ravel(), grid_y.ravel()], axis=-1))
    log_density = model.next_step_log_prob(history, points)
    return xs, ys, log_density.reshape(resolution, resolution).cpu().numpy()


@torch.no_grad()
def flow_grid_lines(
    model: SequenceDensityModel,
    bounds: tuple[float, float, float, float],
    n_lines: int = 9,
    n_points: int = 60,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A regular grid of lines in 2D data space and its image under z = f(u).

    Returns:
        A list of (y_line (n_points, 2), z_line (n_points, 2)): how the flow bends the plane.
    """
    if model.config.dim != 2:
        raise ValueError("grid lines need two-dimensional targets")
    model.eval()
    x_min, x_max, y_min, y_max = bounds
    along = np.linspace(0, 1, n_points, dtype=np.float32)
    lines = []
    for level in np.linspace(0, 1, n_lines, dtype=np.float32):
        x_const = np.stack(
            [
                np.full_like(along, x_min + level * (x_max - x_min)),
                y_min + along * (y_max - y_min),
            ],
            axis=-1,
        )
        y_const = np.stack(
            [
                x_min + along * (x_max - x_min),
                np.full_like(along, y_min + level * (y_max - y_min)),
            ],
            axis=-1,
        )
        lines += [x_const, y_const]
    stacked = torch.from_numpy(np.stack(lines)).to(model.data_shift)  # (L, P, 2)
    z, _ = model.flow(model.normalize(stacked), _shared_flow_context(model))
    return [(line, z_line) for line, z_line in zip(lines, z.cpu().numpy(), strict=True)]


@torch.no_grad()
def to_latent(model: SequenceDensityModel, y: Tensor) -> np.ndarray:
    """Latents z = f(u) of data-space points y (*, d), as numpy."""
    model.eval()
    z, _ = model.flow(model.normalize(y.to(model.data_shift)), _shared_flow_context(model))
    return z.cpu().numpy()


def _shared_flow_context(model: SequenceDensityModel) -> None:
    """None, after checking that ``model`` has one flow for every step: views that draw f
    as a single map of the plane cannot show a flow that changes with the LSTM state."""
    if model.config.flow_context != "none":
        raise ValueError(
            "this FRMDN's flow changes with every step (it reads the LSTM state): "
            "there is no single map f to draw"
        )


def data_bounds(y: Tensor, margin: float = 0.15) -> tuple[float, float, float, float]:
    """A square (x_min, x_max, y_min, y_max) around 2D data (*, 2), padded by ``margin``."""
    flat = y.reshape(-1, y.shape[-1])[:, :2]
    low, high = flat.min(0).values, flat.max(0).values
    center, half = (low + high) / 2, float((high - low).max()) / 2 * (1 + margin)
    return (
        float(center[0]) - half,
        float(center[0]) + half,
        float(center[1]) - half,
        float(center[1]) + half,
    )
