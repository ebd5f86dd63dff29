"""Arrays behind the app's views: latent points, component ellipses, density maps, flow grids.

Everything here is plain numpy out, so :mod:`frmdn.plots` can draw it and tests can check it.
Data-space quantities are in data units; latent quantities are in the flow's z-space (for an
RMDN, z is the standardised target).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from frmdn.model import SequenceDensityModel
from frmdn.train import evaluate_nll

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Component",
    "LatentPoints",
    "data_bounds",
    "scoreboard_table",
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


# ----------------------------------------------------------------------------- audio views
@torch.no_grad()
def pca_2d(x: Tensor) -> np.ndarray:
    """Points x (N, D) (or (..., D), flattened) projected on their two principal axes, (N, 2).

    The data are centred and projected on the top two right singular vectors of the centred
    matrix, so column 0 has the largest variance. Each axis's sign is fixed so that its
    largest loading is positive, which makes the picture deterministic. With fewer than two
    dimensions (or points) the missing columns are zero.

    Example:
        >>> x = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> pca_2d(x).shape
        (3, 2)
    """
    flat = torch.as_tensor(x).reshape(-1, x.shape[-1]).double().cpu()  # (N, D)
    out = np.zeros((flat.shape[0], 2))
    if flat.shape[0] < 2:
        return out
    centred = flat - flat.mean(0)
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)  # (min(N, D), D)
    axes = vh[:2]  # (<=2, D)
    biggest = axes.abs().argmax(-1, keepdim=True)
    axes = axes * axes.gather(-1, biggest).sign()  # the largest loading of each axis > 0
    out[:, : axes.shape[0]] = (centred @ axes.T).numpy()
    return out


@torch.no_grad()
def per_step_nll(model: SequenceDensityModel, sequence: Tensor) -> np.ndarray:
    """:math:`-\\log p(y_t \\mid y_{<t})` in nats for every step of one sequence (T, d), (T,)."""
    if sequence.dim() != 2 or sequence.shape[-1] != model.config.dim:
        raise ValueError(f"sequence must be (T, {model.config.dim}), got {tuple(sequence.shape)}")
    model.eval()
    return -model.log_prob(sequence.unsqueeze(0))[0].double().cpu().numpy()


@torch.no_grad()
def continuation(
    model: SequenceDensityModel,
    prime: Tensor,
    steps: int,
    temperature: float = 1.0,
    seed: int = 0,
    bound: float | None = None,
) -> np.ndarray:
    """The observed ``prime`` (T0, d) followed by ``steps`` sampled steps, (T0 + steps, d).

    The random generator is seeded with ``seed`` just before sampling, so two models asked to
    continue the same prime with the same seed draw from the same random stream. ``bound``
    clamps generated values to the data's physical range (see ``SequenceDensityModel.sample``).
    """
    if prime.dim() != 2 or prime.shape[-1] != model.config.dim:
        raise ValueError(f"prime must be (T0, {model.config.dim}), got {tuple(prime.shape)}")
    model.eval()
    torch.manual_seed(seed)
    start = prime.unsqueeze(0) if prime.shape[0] else None  # (1, T0, d)
    generated = model.sample(1, steps, prime=start, temperature=temperature, bound=bound)[0]
    return torch.cat([prime.to(generated), generated]).cpu().numpy()


def spectrogram_db(
    waveform: np.ndarray,
    sample_rate: int,
    n_fft: int = 256,
    hop_length: int = 64,
    floor_db: float = -90.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude spectrogram of a mono waveform in dB relative to full scale (amplitude 1).

    The reference is fixed (not the clip's own peak), so equal colours mean equal levels
    across clips. Values are floored at ``floor_db``.

    Returns:
        times (F,) in seconds, freqs (n_fft // 2 + 1,) in Hz, and dB (n_fft // 2 + 1, F).
    """
    import librosa  # slow to import: only when a spectrogram is asked for

    y = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    # a full-scale sine gives a peak of about n_fft / 4 under a Hann window: scale it to 1
    db = librosa.amplitude_to_db(magnitude / (n_fft / 4), ref=1.0, amin=1e-6, top_db=None)
    db = np.maximum(db, floor_db)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=sample_rate, hop_length=hop_length)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    return times, freqs, db


def overfitting_gaps(
    scores: dict[str, dict[str, float]], dim: int, train: str = "train", held_out: str = "test"
) -> dict[str, float]:
    """Held-out minus train NLL per model, in nats per sample (per dimension of a frame).

    Arguments:
        scores: Per model, NLLs in nats per step keyed by part name.
        dim: Values per step (the frame size), to turn nats per step into nats per sample.
    """
    return {
        name: (parts[held_out] - parts[train]) / dim
        for name, parts in scores.items()
        if train in parts and held_out in parts
    }


__all__ += [
    "continuation",
    "overfitting_gaps",
    "pca_2d",
    "per_step_nll",
    "spectrogram_db",
]


# ----------------------------------------------------------------------------- image views
def image_mosaic(images: np.ndarray, columns: int, gap: int = 2) -> np.ndarray:
    """Images (n, H, W) tiled row by row into one float array, NaN in gaps and empty cells.

    The result has shape ``(rows * (H + gap) - gap, columns * (W + gap) - gap)`` with
    ``rows = ceil(n / columns)``; image ``i`` sits in tile row ``i // columns``, tile column
    ``i % columns``. NaN draws as the page background in a Plotly heatmap.

    Example:
        >>> image_mosaic(np.ones((3, 2, 2)), columns=2, gap=1).shape
        (5, 5)
    """
    images = np.asarray(images, dtype=float)
    if images.ndim != 3 or columns < 1 or gap < 0:
        raise ValueError(f"need images (n, H, W), columns >= 1 and gap >= 0, got {images.shape}")
    n, height, width = images.shape
    columns = max(1, min(columns, n))
    rows = max(1, -(-n // columns))
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan)
    for i, image in enumerate(images):
        top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
        mosaic[top : top + height, left : left + width] = image
    return mosaic


@torch.no_grad()
def _row_log_prob(model: SequenceDensityModel, y: Tensor, batch_size: int = 256) -> Tensor:
    """:math:`\\log p(y_t \\mid y_{<t})` in nats for sequences y (B, T, d), eval mode, (B, T)."""
    was_training = model.training
    model.eval()
    device = model.start.device
    parts = [
        model.log_prob(y[i : i + batch_size].to(device)).cpu()
        for i in range(0, len(y), batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts).double()


def row_bits_per_pixel(
    model: SequenceDensityModel, y: Tensor, info: dict, batch_size: int = 256
) -> np.ndarray:
    r"""Bits per pixel of every row of every image, (B, T), for image sequences y (B, T, d).

    Row :math:`t` of an image costs :math:`\big(-\log p_Y(y_t \mid y_{<t}) - \sum_i \log
    \partial y_{t,i} / \partial v_{t,i}\big) / (d \log 2) + \log_2 256` bits per pixel (the
    logit transform undone, as in :func:`frmdn.data.images.bits_per_dim`), so the mean over
    all rows and images is exactly the split's bits/dim. High values mark the rows a model
    found surprising.

    Arguments:
        model: A model trained on an image split.
        y: Image rows in logit space as in the split, (B, T, d).
        info: The split's ``info`` (``logit_lambda`` and ``levels``).
    """
    from frmdn.data.images import log_jacobian

    if info.get("kind") != "images":
        raise ValueError(f"expected the info of an image split (kind 'images'), got {info!r}")
    if y.dim() != 3 or y.shape[-1] != model.config.dim or y.shape[0] == 0:
        raise ValueError(f"y must be (B, T, {model.config.dim}) with B > 0, got {tuple(y.shape)}")
    log_p_y = _row_log_prob(model, y, batch_size)  # (B, T)
    jacobian = log_jacobian(y, logit_lambda=float(info["logit_lambda"])).sum(-1)  # (B, T)
    d = y.shape[-1]
    bits = -(log_p_y + jacobian) / (d * np.log(2.0)) + np.log2(int(info["levels"]))
    return bits.numpy()


def split_bits_per_dim(
    model: SequenceDensityModel, y: Tensor, info: dict, batch_size: int = 256
) -> float:
    """Bits/dim of a whole image split part y (B, T, d) (see ``frmdn.data.images``)."""
    from frmdn.data.images import bits_per_dim

    return bits_per_dim(_row_log_prob(model, y, batch_size), y, info)


def _pixels(y: Tensor, info: dict | None) -> np.ndarray:
    from frmdn.data.images import LOGIT_LAMBDA, to_pixels

    lam = LOGIT_LAMBDA if info is None else float(info["logit_lambda"])
    return to_pixels(y, logit_lambda=lam)


@torch.no_grad()
def sample_images(
    model: SequenceDensityModel,
    n: int,
    height: int,
    temperature: float = 1.0,
    seed: int = 0,
    info: dict | None = None,
) -> np.ndarray:
    """``n`` images generated row by row, as 8-bit pixels (n, height, d).

    The random generator is seeded with ``seed`` just before sampling, so two models draw from
    the same random stream. ``info`` (an image split's) gives the logit transform to undo.
    """
    torch.manual_seed(seed)
    return _pixels(model.sample(n, height, temperature=temperature).cpu(), info)


@torch.no_grad()
def complete_images(
    model: SequenceDensityModel,
    y: Tensor,
    prime_rows: int,
    temperature: float = 1.0,
    seed: int = 0,
    info: dict | None = None,
) -> np.ndarray:
    """Images y (n, T, d) with their top ``prime_rows`` rows kept and the rest generated.

    The model reads the top rows, then samples the remaining ``T - prime_rows`` rows (seeded
    with ``seed``). Returns 8-bit pixels (n, T, d): the original top, the model's bottom.
    """
    if y.dim() != 3 or not 1 <= prime_rows < y.shape[1]:
        raise ValueError(
            f"need y (n, T, d) and 1 <= prime_rows < T, got {tuple(y.shape)}, {prime_rows}"
        )
    torch.manual_seed(seed)
    prime = y[:, :prime_rows]
    rest = model.sample(len(y), y.shape[1] - prime_rows, prime=prime, temperature=temperature)
    return _pixels(torch.cat([prime, rest.cpu()], dim=1), info)


__all__ += [
    "complete_images",
    "image_mosaic",
    "row_bits_per_pixel",
    "sample_images",
    "split_bits_per_dim",
]


# ----------------------------------------------------------------------------- frame sequences
@torch.no_grad()
def one_step_predictions(
    model: SequenceDensityModel, y: Tensor, mode: str = "mean", seed: int = 0
) -> Tensor:
    """Each step's prediction of sequences y (B, T, d) given the *real* history, (B, T, d).

    At step t the model has read the observed :math:`y_{<t}` and predicts the mixture
    :math:`p(z_t \\mid y_{<t}) = \\sum_k \\alpha_k \\mathcal{N}(\\mu_k, \\Sigma_k)` on
    :math:`z = f(u)`. With ``mode="mean"`` the prediction is the mixture mean mapped back to
    data space, :math:`\\hat y_t = \\sigma \\odot (o_t + f^{-1}(\\sum_k \\alpha_k \\mu_k)) + m`,
    where :math:`o_t` is the pitch predictor's guess from the true earlier samples, those of
    frame t included (0 without a predictor; for an RMDN without one,
    :math:`f` is the identity and this is the predictive mean itself); with
    ``mode="sample"`` it is one draw :math:`o_t + f^{-1}(z)` with :math:`z` from the mixture
    (random stream seeded with ``seed``).
    """
    if mode not in ("mean", "sample"):
        raise ValueError(f"mode must be 'mean' or 'sample', got {mode!r}")
    was_training = model.training
    model.eval()
    gmm, offset, context = model.predictive(y)  # batch shape (B, T); (B, T, d); (B, T, H)
    if mode == "mean":
        z = gmm.mean
    else:
        torch.manual_seed(seed)
        z = gmm.sample()
    u = model.flow.inverse(z.to(offset.dtype), context) + offset
    model.train(was_training)
    return model.denormalize(u)


__all__ += ["one_step_predictions"]


def _pandas(user: str) -> ModuleType:
    """The pandas module, an optional dependency (the ``app`` extra) that ``user`` needs."""
    try:
        import pandas as pd
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{user} needs pandas: pip install 'frmdn[app]'", name=error.name
        ) from error
    return pd


def scoreboard_table(
    models: dict[str, SequenceDensityModel], test: Tensor, seconds: dict[str, float]
) -> pd.DataFrame:
    """One row per model: held-out NLL (nats/step) on ``test`` (N, T, d), parameter counts and
    training time (NaN where unknown), indexed by model name (pandas: the ``app`` extra)."""
    pd = _pandas("scoreboard_table")
    rows = []
    for name, model in models.items():
        counts = model.num_parameters()
        rows.append(
            {
                "model": name,
                "held-out NLL (nats/step)": evaluate_nll(model, test),
                "parameters": counts["total"],
                "flow parameters": counts["flow"],
                "training time (s)": seconds.get(name, float("nan")),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def split_nll(
    models: dict[str, SequenceDensityModel], train: Tensor, held_out: Tensor
) -> dict[str, dict[str, float]]:
    """Per model: NLL (nats/step) of the ``train`` and ``held_out`` sequences (N, T, d), keyed
    ``"train"`` and ``"held-out"``."""
    return {
        name: {"train": evaluate_nll(model, train), "held-out": evaluate_nll(model, held_out)}
        for name, model in models.items()
    }


def nll_scores(
    clip_nll: dict[str, np.ndarray], split_scores: dict[str, dict[str, float]] | None = None
) -> dict[str, dict[str, float]]:
    """Per model: the mean of its per-step NLL along a clip (T,) as ``"clip"``, plus its
    ``split_scores`` (see :func:`split_nll`) if any; all in nats/step."""
    split_scores = split_scores or {}
    return {
        name: {"clip": float(nll.mean())} | split_scores.get(name, {})
        for name, nll in clip_nll.items()
    }


def nll_table(
    models: dict[str, SequenceDensityModel],
    scores: dict[str, dict[str, float]],
    seconds: dict[str, float],
) -> pd.DataFrame:
    """One column per model of ``scores`` (see :func:`nll_scores`), index ``"metric"``: train,
    held-out and clip NLL in nats/step and in nats/sample (nats/step / d, the frame size), the
    held-out − train gap (nats/sample), parameter count and training time; NaN where unknown
    (pandas: the ``app`` extra)."""
    pd = _pandas("nll_table")
    columns = {}
    for name, parts in scores.items():
        dim = models[name].config.dim
        column = {}
        for unit, scale in (("nats/step", 1), ("nats/sample", dim)):
            for part in ("train", "held-out", "clip"):
                column[f"{part} NLL ({unit})"] = parts.get(part, float("nan")) / scale
        gaps = overfitting_gaps({name: parts}, dim, held_out="held-out")
        column["held-out − train (nats/sample)"] = gaps.get(name, float("nan"))
        column["parameters"] = models[name].num_parameters()["total"]
        column["training time (s)"] = seconds.get(name, float("nan"))
        columns[name] = column
    table = pd.DataFrame(columns)
    table.index.name = "metric"
    return table


__all__ += ["nll_scores", "nll_table", "split_nll"]
