"""The flow, layer by layer: the data and the plane after each layer of a 2D flow, with the
log-determinant each layer adds to the likelihood."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from frmdn.models.flows import AffineCoupling, ElementwiseAffine, Flow
from frmdn.models.sequence import SequenceDensityModel
from frmdn.views.toy import _shared_flow_context

__all__ = ["FlowStage", "flow_stages", "layer_kind"]


@dataclass(frozen=True)
class FlowStage:
    """The data and the grid after the first ``index`` layers of a flow (0: the standardised
    data u, before any layer).

    Attributes:
        index: How many layers have been applied.
        kind: What the last applied layer does, e.g. ``"affine coupling (moves 2 given 1)"``
            ("" at stage 0).
        points: The data points at this stage (N, 2).
        grid_lines: A regular grid of the data plane at this stage, lines (n_points, 2).
        log_det: This layer's log|det| at each point (N,), in nats (zeros at stage 0).
        cumulative_log_det: The sum over layers 1..index at each point (N,).
    """

    index: int
    kind: str
    points: np.ndarray
    grid_lines: list[np.ndarray]
    log_det: np.ndarray
    cumulative_log_det: np.ndarray

    @property
    def mean_log_det(self) -> float:
        """This layer's log|det| averaged over the points (nats)."""
        return float(self.log_det.mean()) if self.log_det.size else 0.0

    @property
    def mean_cumulative_log_det(self) -> float:
        """The log|det| of layers 1..index averaged over the points (nats)."""
        return float(self.cumulative_log_det.mean()) if self.cumulative_log_det.size else 0.0


def layer_kind(layer: Flow) -> str:
    """A short description of one flow layer, with 1-based coordinates."""
    if isinstance(layer, ElementwiseAffine):
        return "elementwise affine (rescale and shift)"
    if isinstance(layer, AffineCoupling):
        moved = ",".join(str(int(i) + 1) for i in layer.index_b)
        given = ",".join(str(int(i) + 1) for i in layer.index_a)
        return f"affine coupling (moves {moved} given {given})"
    return type(layer).__name__


def _grid(bounds: tuple[float, float, float, float], n_lines: int, n_points: int) -> np.ndarray:
    """Lines of constant x and of constant y over ``bounds``, shape (2 n_lines, n_points, 2)."""
    x_min, x_max, y_min, y_max = bounds
    along = np.linspace(0, 1, n_points, dtype=np.float32)
    lines = []
    for level in np.linspace(0, 1, n_lines, dtype=np.float32):
        x = np.full_like(along, x_min + level * (x_max - x_min))
        y = np.full_like(along, y_min + level * (y_max - y_min))
        lines += [
            np.stack([x, y_min + along * (y_max - y_min)], axis=-1),
            np.stack([x_min + along * (x_max - x_min), y], axis=-1),
        ]
    return np.stack(lines)


@torch.no_grad()
def flow_stages(
    model: SequenceDensityModel,
    points: Tensor,
    bounds: tuple[float, float, float, float],
    n_lines: int = 9,
    n_points: int = 60,
) -> list[FlowStage]:
    """Stage 0 (the standardised data u) and the stage after each layer of ``model.flow``.

    The points go through the layers on their own, in the order and precision of
    ``model.flow``, so the last stage's points are ``model.flow(u)`` and its cumulative
    log-determinant is the flow's own, point for point. An RMDN (identity flow) has stage 0
    only.

    Arguments:
        points: Data-space points (N, 2) (any device; moved to the model's).
        bounds: (x_min, x_max, y_min, y_max) of the grid, in data units.
        n_lines: Grid lines per direction.
        n_points: Points per grid line.

    Raises:
        ValueError: targets that are not 2D, or a flow that reads the LSTM state (it has no
            single map to draw).
    """
    if model.config.dim != 2:
        raise ValueError("the flow's layers can be drawn for two-dimensional targets only")
    context = _shared_flow_context(model)
    model.eval()
    device = model.data_shift
    u = model.normalize(points.reshape(-1, 2).to(device))
    grid = model.normalize(torch.from_numpy(_grid(bounds, n_lines, n_points)).to(device))
    zeros = u.new_zeros(u.shape[:-1])
    stages = [FlowStage(0, "", *_numpy(u, grid, zeros, zeros))]
    total = zeros
    for index, layer in enumerate(getattr(model.flow, "layers", []), start=1):
        u, ladj = layer(u, context)
        grid, _ = layer(grid, context)
        total = total + ladj  # as FlowStack sums them
        ladj = ladj.expand(u.shape[:-1])
        stages.append(FlowStage(index, layer_kind(layer), *_numpy(u, grid, ladj, total)))
    return stages


def _numpy(
    u: Tensor, grid: Tensor, ladj: Tensor, total: Tensor
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    return (
        u.cpu().numpy(),
        list(grid.cpu().numpy()),
        ladj.cpu().numpy().copy(),
        total.cpu().numpy().copy(),
    )
