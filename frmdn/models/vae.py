r"""A small convolutional VAE that turns frames into latent vectors, world-model style.

World Models (Ha and Schmidhuber) compress each frame :math:`x_t` into a latent code
:math:`z_t` with a variational auto-encoder and model the sequence :math:`z_{1:T}` with an
MDN-RNN; here an RMDN or FRMDN takes that role. :class:`FrameVAE` has a convolutional encoder
(stride-2 convolutions) giving a diagonal Gaussian posterior
:math:`q(z \mid x) = \mathcal{N}(\mu(x), \operatorname{diag} \sigma^2(x))`, a standard normal
prior and a transposed-convolution decoder giving per-pixel Bernoulli logits
:math:`\ell(z)`, so that with grey levels :math:`x \in [0, 1]^{H \times W}`

.. math:: -\mathrm{ELBO}(x) = \mathbb{E}_{q}\Big[-\sum_{i} x_i \log \sigma(\ell_i)
          + (1 - x_i) \log (1 - \sigma(\ell_i))\Big]
          + \beta\, \mathrm{KL}\big(q(z \mid x) \,\|\, \mathcal{N}(0, I)\big)

nats per frame (one reparameterised sample estimates the expectation). Frames are greyscale
(..., H, W) or, with ``VAEConfig(colors=3)``, RGB (..., H, W, 3) as World Models' CarRacing
and Doom frames; each colour value is then one more Bernoulli "pixel". The Bernoulli
cross-entropy on grey levels is the usual choice for MNIST-like frames: sharp, fast, and the
decoded mean :math:`\sigma(\ell)` is the reconstruction. Being a cross-entropy rather than a
normalised density of continuous grey levels, it is a training loss, not a code length.

:func:`train_vae` fits one, :func:`encode_frames` turns uint8 frame sequences into posterior
means (N, T, latent_dim), :func:`decode_latents` turns latent sequences back into uint8
frames, and :meth:`FrameVAE.save` / :func:`load_vae` store it as safetensors plus a JSON
config, validated on load and never unpickled (like :mod:`frmdn.storage`).

Example:
    >>> vae = FrameVAE(VAEConfig(size=16, latent_dim=4, channels=(4, 8)))
    >>> mean, logvar = vae.encode(torch.rand(3, 16, 16))
    >>> mean.shape, vae.decode(mean).shape
    (torch.Size([3, 4]), torch.Size([3, 16, 16]))

References:
    Kingma and Welling, "Auto-encoding variational Bayes", arXiv:1312.6114.
    Ha and Schmidhuber, "World Models", arXiv:1803.10122.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from frmdn.device import default_device
from frmdn.errors import CheckpointError
from frmdn.storage import (
    HALF,
    committed_weights,
    read_config,
    read_weights,
    write_checkpoint,
)

__all__ = [
    "FORMAT",
    "FrameVAE",
    "VAEConfig",
    "decode_latents",
    "encode_frames",
    "load_vae",
    "train_vae",
]

FORMAT = "frmdn-vae"
FORMAT_VERSION = 1
MAX_WEIGHTS_BYTES = 200_000_000
_LOGVAR_RANGE = (-12.0, 8.0)  # keeps exp(logvar) finite early in training


@dataclass(frozen=True)
class VAEConfig:
    """Hyper-parameters of a :class:`FrameVAE`.

    Arguments:
        size: Side of the square frames in pixels; divisible by ``2 ** len(channels)``.
        latent_dim: Dimension of the latent code z (8 to 32 suits 48-pixel scenes; two
            overlapping digits reconstruct clearly better with 32 than with 16).
        channels: Output channels of the encoder's stride-2 convolutions (the decoder
            mirrors them); each halves the frame side. The defaults give 0.3 M parameters
            (1.2 MB) and about 25 ms per step of 32 frames on one CPU core.
        beta: Weight of the KL term (1 = the ELBO; beta-VAE otherwise).
        colors: 1 for greyscale frames (..., H, W), 3 for RGB frames (..., H, W, 3).
    """

    size: int = 48
    latent_dim: int = 32
    channels: tuple[int, ...] = (16, 32, 64)
    beta: float = 1.0
    colors: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        ints = (self.size, self.latent_dim, *self.channels)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in ints):
            raise ValueError("size, latent_dim and channels must be integers")
        if not 1 <= len(self.channels) <= 6:
            raise ValueError(f"need 1 to 6 encoder channels, got {len(self.channels)}")
        if not all(1 <= c <= 1024 for c in self.channels):
            raise ValueError(f"channels must lie in 1..1024, got {self.channels}")
        if not 1 <= self.latent_dim <= 1024:
            raise ValueError(f"latent_dim must lie in 1..1024, got {self.latent_dim}")
        factor = 2 ** len(self.channels)
        if not 8 <= self.size <= 256 or self.size % factor:
            raise ValueError(
                f"size must lie in 8..256 and be divisible by 2**{len(self.channels)} = "
                f"{factor}, got {self.size}"
            )
        if not (isinstance(self.beta, int | float) and 0 < self.beta < math.inf):
            raise ValueError(f"beta must be a positive number, got {self.beta}")
        if self.colors not in (1, 3) or isinstance(self.colors, bool):
            raise ValueError(f"colors must be 1 (greyscale) or 3 (RGB), got {self.colors!r}")

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """One frame's shape: (size, size) greyscale, (size, size, 3) RGB."""
        return (self.size, self.size) if self.colors == 1 else (self.size, self.size, 3)

    @property
    def bottleneck(self) -> int:
        """The side of the smallest feature map."""
        return self.size // 2 ** len(self.channels)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown VAE settings: {sorted(unknown)}")
        values = dict(values)
        if "channels" in values:
            if not isinstance(values["channels"], list | tuple):
                raise ValueError(f"channels must be a list, got {values['channels']!r}")
            values["channels"] = tuple(values["channels"])
        return cls(**values)


class FrameVAE(nn.Module):
    """A convolutional VAE for square greyscale or RGB frames with values in [0, 1].

    Encoder: ``len(channels)`` blocks of a 4×4 stride-2 convolution and SiLU, then a linear
    map to the posterior mean and log-variance. Decoder: a linear map back to the smallest
    feature map, then mirrored 4×4 stride-2 transposed convolutions ending in one channel of
    Bernoulli logits per colour.

    Arguments:
        config: The :class:`VAEConfig`.
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or VAEConfig()
        s, widths = config.bottleneck, (config.colors, *config.channels)
        encoder: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            encoder += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.posterior = nn.Linear(widths[-1] * s * s, 2 * config.latent_dim)
        self.expand = nn.Linear(config.latent_dim, widths[-1] * s * s)
        decoder: list[nn.Module] = [nn.Unflatten(1, (widths[-1], s, s))]
        for c_in, c_out in zip(widths[:0:-1], widths[-2::-1], strict=True):
            decoder += [nn.SiLU(), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    def _check_frames(self, frames: Tensor) -> None:
        shape = self.config.frame_shape
        if frames.dim() < len(shape) or tuple(frames.shape[-len(shape) :]) != shape:
            wanted = ", ".join(map(str, shape))
            raise ValueError(f"frames must have shape (..., {wanted}), got {tuple(frames.shape)}")
        if not frames.is_floating_point():
            raise ValueError(f"frames must be floats in [0, 1], got {frames.dtype}")

    def encode(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mean and log-variance, each (..., latent_dim), of frames (..., H, W) or
        (..., H, W, 3)."""
        self._check_frames(frames)
        shape = self.config.frame_shape
        batch = frames.shape[: -len(shape)]
        x = frames.reshape(-1, *shape)
        x = x.unsqueeze(1) if self.config.colors == 1 else x.permute(0, 3, 1, 2)  # (B, C, H, W)
        mean, logvar = self.posterior(self.encoder(x)).chunk(2, dim=-1)  # (B, L) each
        logvar = logvar.clamp(*_LOGVAR_RANGE)
        return mean.reshape(*batch, -1), logvar.reshape(*batch, -1)

    def decode_logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits (..., H, W) or (..., H, W, 3) of the pixels given latents z
        (..., latent_dim)."""
        if z.dim() < 1 or z.shape[-1] != self.config.latent_dim:
            raise ValueError(
                f"latents must have shape (..., {self.config.latent_dim}), got {tuple(z.shape)}"
            )
        logits = self.decoder(self.expand(z.reshape(-1, z.shape[-1])))  # (B, C, H, W)
        if self.config.colors == 3:
            logits = logits.permute(0, 2, 3, 1)  # (B, H, W, 3)
        return logits.reshape(*z.shape[:-1], *self.config.frame_shape)

    def decode(self, z: Tensor) -> Tensor:
        """The decoded frames (..., H, W) or (..., H, W, 3) in [0, 1]: the means σ(ℓ(z))."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, frames: Tensor) -> Tensor:
        """Reconstructions in [0, 1] of frames from their posterior means."""
        return self.decode(self.encode(frames)[0])

    def loss(self, frames: Tensor) -> Tensor:
        """The negative ELBO in nats per frame, averaged over frames in [0, 1].

        Uses one reparameterised sample :math:`z = \\mu + \\sigma \\varepsilon` per frame and
        the closed-form KL divergence to the standard normal prior.
        """
        mean, logvar = self.encode(frames)  # (..., L)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        logits = self.decode_logits(z)  # (..., H, W[, 3])
        target = frames.to(logits.dtype)
        recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        recon = recon.flatten(-len(self.config.frame_shape)).sum(-1)  # (...)
        kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(-1)  # (...)
        return (recon + self.config.beta * kl).mean()

    def save(
        self,
        path: str | os.PathLike,
        *,
        metrics: dict | None = None,
        data: dict | None = None,
        half: bool = False,
    ) -> Path:
        """Save to the directory ``path`` (safetensors + ``config.json``, written atomically).

        Arguments:
            path: Target directory, created if needed.
            half: Store the weights in float16 (half the file; read back as float32).
            metrics: JSON-serialisable training metrics.
            data: JSON-serialisable description of the training frames.
        """
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_class": type(self).__name__,
            "config": self.config.to_dict(),
            "metrics": metrics or {},
            "data": data or {},
        }
        return write_checkpoint(path, self, meta, half=half)


def load_vae(path: str | os.PathLike, device: torch.device | str = "cpu") -> FrameVAE:
    """Load the VAE saved in directory ``path``, validated, in eval mode.

    Only JSON and safetensors are parsed, so a hostile file can at worst be refused. The
    saved metrics and data description are attached as ``vae.metadata``.

    Raises:
        CheckpointError: For a missing, corrupt, hostile or inconsistent VAE.
    """
    directory = Path(path)
    meta = read_config(
        directory,
        fmt=FORMAT,
        version=FORMAT_VERSION,
        classes=(FrameVAE.__name__,),
        what="VAE",
        title="frame VAE",
    )
    try:
        config = VAEConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"invalid VAE settings: {error}") from None
    with torch.device("meta"):  # count parameters without allocating them
        expected = FrameVAE(config).state_dict()
    weights = committed_weights(directory, meta)
    if (
        weights.is_file()
        and (2 if meta.get("weights_dtype") == HALF else 4)
        * sum(v.numel() for v in expected.values())
        > weights.stat().st_size
    ):
        raise CheckpointError("VAE settings describe more weights than the file holds")
    state = read_weights(directory, meta, expected)
    vae = FrameVAE(config)
    vae.load_state_dict(state)
    vae.metadata = {k: meta[k] for k in ("metrics", "data", "library_version") if k in meta}
    return vae.to(device).eval()


# --------------------------------------------------------------------------------- training
def _flat_frames(frames: np.ndarray, config: VAEConfig) -> np.ndarray:
    """uint8 frames (N, *frame) or (N, T, *frame) as (M, *frame), checked against the VAE's
    frame shape (``config.frame_shape``)."""
    frames = np.asarray(frames)
    shape = config.frame_shape
    if frames.dtype != np.uint8 or frames.ndim - len(shape) not in (1, 2):
        raise ValueError(
            f"frames must be uint8 (N, {', '.join(map(str, shape))}) or (N, T, ...), got "
            f"{frames.dtype} {frames.shape}"
        )
    if frames.shape[-len(shape) :] != shape:
        wanted = "×".join(map(str, shape))
        raise ValueError(f"frames are {frames.shape[-len(shape) :]} but the VAE expects {wanted}")
    flat = frames.reshape(-1, *shape)
    if len(flat) == 0:
        raise ValueError("there are no frames to train on")
    return flat


def train_vae(
    frames: np.ndarray,
    config: VAEConfig | None = None,
    *,
    steps: int = 3000,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    callback: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[FrameVAE, list[float]]:
    """Fit a :class:`FrameVAE` to uint8 frames by Adam on the negative ELBO.

    Each step draws ``batch_size`` frames at random; the learning rate decays from ``lr``
    to ``lr / 10`` along a cosine. The defaults reach recognisable (if blurry)
    reconstructions of the 48-pixel moving digits in about 80 s on one CPU core.

    Arguments:
        frames: uint8 frames (N, *frame) or sequences (N, T, *frame), 0 = black, 255 = white;
            a frame is (H, W), or (H, W, 3) for an RGB VAE.
        config: The VAE settings (``size`` must match the frames).
        steps: Adam steps.
        batch_size: Frames per step.
        lr: Peak learning rate.
        seed: Seeds the initial weights, the batches and the posterior samples.
        device: Where to train (default: CUDA if present, else CPU); the VAE returned is on
            the CPU in eval mode.
        callback: Called as ``callback(step, loss)`` after every step.
        should_stop: Polled before each step; return True to stop early.

    Returns:
        (vae, losses): the trained VAE and the loss (nats per frame) of each step taken.
    """
    config = config or VAEConfig()
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("need steps >= 1, batch_size >= 1 and lr > 0")
    flat = torch.from_numpy(_flat_frames(frames, config).copy())  # (M, *frame) uint8
    device = torch.device(device) if device is not None else default_device()
    torch.manual_seed(seed)
    vae = FrameVAE(config).to(device).train()
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=lr / 10)
    generator = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            break
        index = torch.randint(len(flat), (min(batch_size, len(flat)),), generator=generator)
        batch = flat[index].to(device, torch.float32) / 255.0  # (B, *frame)
        optimizer.zero_grad(set_to_none=True)
        loss = vae.loss(batch)
        if not torch.isfinite(loss):
            raise RuntimeError(f"the VAE diverged at step {step}: lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 100.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if callback is not None:
            callback(step, losses[-1])
    return vae.cpu().eval(), losses


# --------------------------------------------------------------------------------- coding
@torch.no_grad()
def encode_frames(vae: FrameVAE, frames: np.ndarray, *, batch_size: int = 512) -> Tensor:
    """Posterior means of uint8 frame sequences (N, T, *frame): float32 (N, T, latent_dim).

    Runs in eval mode without gradients, ``batch_size`` frames at a time, on the VAE's
    device; the result is on the CPU.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 2 + len(vae.config.frame_shape):
        raise ValueError(
            f"frames must be uint8 sequences (N, T, *frame), got {frames.dtype} {frames.shape}"
        )
    flat = _flat_frames(frames, vae.config) if frames.size else frames
    was_training = vae.training
    vae.eval()
    device = next(vae.parameters()).device
    means = [
        vae.encode(torch.from_numpy(flat[i : i + batch_size]).to(device, torch.float32) / 255)[0]
        for i in range(0, len(flat), batch_size)
    ]
    vae.train(was_training)
    out = torch.cat(means).cpu() if means else torch.empty(0, vae.config.latent_dim)
    return out.reshape(*frames.shape[:2], vae.config.latent_dim)


@torch.no_grad()
def decode_latents(vae: FrameVAE, z: Tensor, *, batch_size: int = 512) -> np.ndarray:
    """Frames decoded from latent sequences z (N, T, latent_dim): uint8 (N, T, *frame).

    Each frame is the decoder's pixel mean, scaled to 0..255 and rounded.
    """
    if z.dim() != 3 or z.shape[-1] != vae.config.latent_dim:
        raise ValueError(
            f"latents must have shape (N, T, {vae.config.latent_dim}), got {tuple(z.shape)}"
        )
    was_training = vae.training
    vae.eval()
    device = next(vae.parameters()).device
    flat = z.reshape(-1, z.shape[-1]).to(device, torch.float32)  # (N·T, L)
    pixels = [vae.decode(flat[i : i + batch_size]) for i in range(0, len(flat), batch_size)]
    vae.train(was_training)
    shape = vae.config.frame_shape
    out = torch.cat(pixels) if pixels else torch.empty(0, *shape)
    out = (out * 255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return out.reshape(*z.shape[:2], *shape)
