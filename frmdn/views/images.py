"""Image views: mosaics, bits per pixel of rows and splits, sampled and completed images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel

__all__ = [
    "RowSpike",
    "complete_images",
    "image_mosaic",
    "row_bits_per_pixel",
    "row_contributors",
    "row_latent_reach",
    "row_profile",
    "row_spike",
    "rows_in_context",
    "sample_images",
    "split_bits_per_dim",
]


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


def rows_in_context(image: np.ndarray, row: int, drawn: np.ndarray) -> np.ndarray:
    """Each drawn row put in place in ``image`` (H, W): the real rows above ``row``, the drawn
    row at ``row``, black below, so a draw reads as the image written so far, (n, H, W).

    Arguments:
        drawn: Rows (n, W) of the same dtype as ``image``, e.g. uint8 pixels.

    Example:
        >>> rows_in_context(np.full((3, 2), 9), 1, np.array([[1, 2]])).tolist()
        [[[9, 9], [1, 2], [0, 0]]]
    """
    image, drawn = np.asarray(image), np.asarray(drawn)
    if image.ndim != 2 or drawn.ndim != 2 or drawn.shape[1] != image.shape[1]:
        raise ValueError(f"need an image (H, W) and rows (n, W), got {image.shape}, {drawn.shape}")
    if not 0 <= row < image.shape[0]:
        raise ValueError(f"row must be in [0, {image.shape[0]}), got {row}")
    out = np.zeros((len(drawn), *image.shape), dtype=image.dtype)
    out[:, :row] = image[:row]
    out[:, row] = drawn
    return out


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


def row_profile(bits: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and median over images of each row's bits per pixel, from bits (B, T).

    Returns ``{"mean": (T,), "median": (T,)}``. The mean is what the split's bits/dim
    averages; the median is what a typical image pays, unmoved by a few images a model
    finds extremely unlikely.

    Example:
        >>> row_profile(np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 98.0]]))["median"]
        array([1., 2.])
    """
    bits = np.asarray(bits, dtype=float)
    if bits.ndim != 2 or bits.shape[0] == 0:
        raise ValueError(f"need bits (B, T) with B > 0, got {bits.shape}")
    return {"mean": bits.mean(0), "median": np.median(bits, axis=0)}


def row_contributors(bits: np.ndarray, row: int, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` images with the most bits in ``row`` and their shares of the row's total.

    Arguments:
        bits: Bits per pixel of every row of every image, (B, T).
        row: The image row.
        n: How many images (at most B).

    Returns:
        Image indices (n,), the largest contribution first, and each one's bits in ``row``
        divided by the sum over all images of that row's bits, so the shares of all B images
        sum to 1 (their share of the row's mean).

    Example:
        >>> row_contributors(np.array([[0.0, 1.0], [0.0, 7.0], [0.0, 2.0]]), row=1, n=2)
        (array([1, 2]), array([0.7, 0.2]))
    """
    bits = np.asarray(bits, dtype=float)
    if bits.ndim != 2 or not -bits.shape[1] <= row < bits.shape[1] or n < 1:
        raise ValueError(f"need bits (B, T), a row in it and n >= 1, got {bits.shape}, {row}, {n}")
    column = bits[:, row]
    order = np.argsort(-column, kind="stable")[: min(n, len(column))]
    total = column.sum()
    shares = column[order] / total if total != 0 else np.full(len(order), np.nan)
    return order, shares


@dataclass(frozen=True)
class RowSpike:
    """The row whose mean bits per pixel stand furthest above its median (see :func:`row_spike`).

    Attributes:
        row: The image row.
        mean: Mean bits per pixel of that row over the images.
        median: Median bits per pixel of that row.
        digits: The images with the most bits in that row, the largest first.
        bits: Their bits per pixel in that row.
        share: Their joint share of the row's total bits (of its mean).
        mean_without: The row's mean over the other images.
    """

    row: int
    mean: float
    median: float
    digits: np.ndarray
    bits: np.ndarray
    share: float
    mean_without: float


def row_spike(bits: np.ndarray, top: int = 3) -> RowSpike:
    """Where a few images lift a row's mean above its median, and which images they are.

    The row is the one with the largest mean - median over the images of bits (B, T); its
    ``top`` most expensive images are the candidates for an outlier-driven spike: if the
    mean without them falls back to the median, they are the whole story.
    """
    profile = row_profile(bits)
    bits = np.asarray(bits, dtype=float)
    row = int(np.argmax(profile["mean"] - profile["median"]))
    digits, shares = row_contributors(bits, row, top)
    rest = np.delete(bits[:, row], digits)
    return RowSpike(
        row=row,
        mean=float(profile["mean"][row]),
        median=float(profile["median"][row]),
        digits=digits,
        bits=bits[digits, row],
        share=float(shares.sum()),
        mean_without=float(rest.mean()) if rest.size else float("nan"),
    )


@torch.no_grad()
def row_latent_reach(model: SequenceDensityModel, y: Tensor, batch_size: int = 256) -> np.ndarray:
    """How far each row of each image lands in the model's mixture space: max |z|, (B, T).

    z is what the mixture scores (:meth:`~frmdn.models.sequence.SequenceDensityModel.mixture`): the
    standardised row for an RMDN, the flow's output for an FRMDN. A row far beyond the
    typical reach sits in the Gaussians' tails, where its cost grows with the square of z.
    """
    if y.dim() != 3 or y.shape[-1] != model.config.dim or y.shape[0] == 0:
        raise ValueError(f"y must be (B, T, {model.config.dim}) with B > 0, got {tuple(y.shape)}")
    was_training = model.training
    model.eval()
    device = model.start.device
    parts = [
        model.mixture(y[i : i + batch_size].to(device))[1].abs().amax(-1).cpu()
        for i in range(0, len(y), batch_size)
    ]
    model.train(was_training)
    return torch.cat(parts).double().numpy()


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
