"""RMDN and FRMDN: one recurrent mixture density model, with or without a flow on the targets.

One class, :class:`SequenceDensityModel`, whose likelihood, predictive mixtures and sampling
share the LSTM, head, pitch predictor and flow; :class:`RMDN` and :class:`FRMDN` are two presets
of it. Its hyper-parameters are a :class:`~frmdn.models.config.ModelConfig`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from frmdn.models.config import ModelConfig
from frmdn.models.flows import Flow, IdentityFlow, realnvp
from frmdn.models.heads import mixture_head
from frmdn.models.mixture import GaussianMixture
from frmdn.models.pitch import PitchPredictor
from frmdn.precision import at_least_float32
from frmdn.storage import save as save_checkpoint

__all__ = ["FRMDN", "RMDN", "SequenceDensityModel", "build_model"]


class SequenceDensityModel(nn.Module):
    r"""A recurrent mixture density network over sequences, with an optional flow on targets.

    An LSTM reads the past targets :math:`y_{<t}` (and inputs :math:`x_{\leq t}`) and emits, per
    step, a Gaussian mixture (:class:`~frmdn.models.mixture.LowRankPrecisionGMM`, or
    :class:`~frmdn.models.full_covariance.FullCovarianceGMM`) over :math:`z_t = f(u_t)`, where
    :math:`u_t = (y_t - m) / s` is the standardised target and :math:`f` the flow:

    .. math:: \log p(y_t \mid y_{<t}) = \log \sum_k \alpha_k \mathcal{N}(f(u_t); \mu_k,
        \Lambda_k^{-1}) + \log\left|\det \frac{\partial f}{\partial u}\right| - \sum \log s

    The first step conditions on a learned start vector and a learned initial LSTM state.
    With a pitch predictor (audio), :math:`u_t` is replaced by the residual
    :math:`u_t - o_t` after the predictor's guess :math:`o_t`, each sample's from the samples
    before it; that map has a unit Jacobian, so the formula is unchanged.

    References:
        | Flow-based Recurrent Mixture Density Networks (Razavi & Hosseini, 2020)
        | https://arxiv.org/abs/2008.02144
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # What a checkpoint records beside the weights (metrics, data description, library
        # version); filled by frmdn.load, empty for a fresh model.
        self.metadata: dict = {}
        c = config
        self.flow: Flow = (
            realnvp(
                c.dim,
                c.flow_layers,
                c.flow_hidden,
                c.flow_depth,
                c.scale_bound,
                c.flow_context_dim,
                c.shift_bound,
            )
            if c.flow_layers > 0
            else IdentityFlow(c.dim)
        )
        self.lstm = nn.LSTM(
            c.dim + c.cond_dim,
            c.hidden_size,
            c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.start = nn.Parameter(torch.zeros(c.dim))
        self.initial_hidden = nn.Parameter(torch.zeros(c.num_layers, c.hidden_size))
        self.initial_cell = nn.Parameter(torch.zeros(c.num_layers, c.hidden_size))
        self.dropout = nn.Dropout(c.dropout)
        self.mixture_head = mixture_head(c)
        self.head = nn.Linear(c.hidden_size, self.mixture_head.out_features)
        self.pitch = (
            PitchPredictor(c.dim, c.hidden_size, c.pitch_min_lag, c.pitch_max_lag)
            if c.pitch_max_lag > 0
            else None
        )
        self.register_buffer("data_shift", torch.zeros(c.dim))
        self.register_buffer("data_scale", torch.ones(c.dim))
        self.mixture_head.initialize(self.head)

    # ----------------------------------------------------------------- normalisation
    def set_normalization(self, shift: Tensor, scale: Tensor) -> None:
        """Standardise targets as :math:`u = (y - \\text{shift}) / \\text{scale}`, each (d,)."""
        shift = torch.as_tensor(shift, dtype=torch.float32).expand(self.config.dim)
        scale = torch.as_tensor(scale, dtype=torch.float32).expand(self.config.dim)
        if not (torch.isfinite(shift).all() and torch.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("normalisation needs finite shifts and positive finite scales")
        self.data_shift.copy_(shift)
        self.data_scale.copy_(scale)

    def standardize_on(self, y: Tensor) -> None:
        """Set the normalisation to the per-dimension mean and std of training targets y
        (..., d), or of sequences read from disk (anything with ``moments()``, e.g.
        :class:`~frmdn.data.stream.DiskSequences`); the std is floored at 1e-6 so a constant
        dimension cannot divide by zero."""
        if hasattr(y, "moments"):
            mean, std = y.moments()
        else:
            flat = y.reshape(-1, self.config.dim)
            mean, std = flat.mean(0), flat.std(0)
        self.set_normalization(mean, std.clamp_min(1e-6))

    def normalize(self, y: Tensor) -> Tensor:
        return (y - self.data_shift) / self.data_scale

    def denormalize(self, u: Tensor) -> Tensor:
        return u * self.data_scale + self.data_shift

    # ----------------------------------------------------------------- core
    def _inputs(self, u: Tensor, x: Tensor | None) -> Tensor:
        """LSTM inputs :math:`[u_{t-1}, x_t]` with the learned start as :math:`u_{-1}`."""
        start = self.start.expand(u.shape[0], 1, -1)  # (B, 1, d)
        inputs = torch.cat([start, u[:, :-1]], dim=1)  # (B, T, d)
        if self.training and self.config.input_noise > 0:
            inputs = inputs + self.config.input_noise * torch.randn_like(inputs)
        return self._with_condition(inputs, x)

    def _with_condition(self, inputs: Tensor, x: Tensor | None) -> Tensor:
        if self.config.cond_dim == 0:
            if x is not None:
                raise ValueError("this model takes no conditioning inputs x")
            return inputs
        if x is None or x.shape[:-1] != inputs.shape[:-1] or x.shape[-1] != self.config.cond_dim:
            raise ValueError(
                f"x must have shape (B, T, {self.config.cond_dim}) matching y's (B, T)"
            )
        return torch.cat([inputs, x.to(inputs.dtype)], dim=-1)

    def _initial_state(self, batch: int) -> tuple[Tensor, Tensor]:
        h = self.initial_hidden.unsqueeze(1).expand(-1, batch, -1).contiguous()
        c = self.initial_cell.unsqueeze(1).expand(-1, batch, -1).contiguous()
        return h, c  # (layers, B, H) each

    def _head_out(self, hidden: Tensor) -> Tensor:
        """The head's output for LSTM outputs (*, H), at least in float32 (bf16 under autocast
        is widened; a float64 model stays float64), (*, out_features)."""
        return at_least_float32(self.head(self.dropout(hidden)))

    def _mixture_from_hidden(self, hidden: Tensor) -> GaussianMixture:
        """Each step's mixture for LSTM outputs (B, T, H), at least in float32."""
        return self.mixture_head.mixture(self._head_out(hidden))

    def _draw_next(self, hidden: Tensor, temperature: float) -> Tensor:
        """One draw z (n, d) from each step's mixture for LSTM outputs (n, H) at
        ``temperature``: generation calls this every step."""
        return self.mixture_head.draw(self._head_out(hidden), temperature)

    def _here(self, values: Tensor | None) -> Tensor | None:
        """``values`` on this model's device and in its float dtype (data usually arrive as
        float32 CPU tensors; the model may live on a GPU or in float64)."""
        if values is None:
            return None
        return values.to(device=self.start.device, dtype=self.start.dtype)

    def _check_targets(self, y: Tensor) -> None:
        if y.dim() != 3 or y.shape[-1] != self.config.dim:
            raise ValueError(f"y must have shape (B, T, {self.config.dim}), got {tuple(y.shape)}")

    def _pitch_offset(self, window: Tensor, hidden: Tensor) -> Tensor:
        """The pitch predictor's guess (*, d), in its own precision even under autocast."""
        dtype = self.pitch.steer.weight.dtype
        with torch.autocast(window.device.type, enabled=False):
            return self.pitch(window.to(dtype), hidden.to(dtype))

    def _pitch_windows(self, u: Tensor) -> Tensor:
        """Each frame of u (B, T, d) with the C samples before it (zeros before the
        sequence): (B, T, C + d), what the pitch predictor reads."""
        B, T, d = u.shape
        flat = F.pad(u.reshape(B, T * d), (self.pitch.context, 0))
        return flat.unfold(1, self.pitch.context + d, d)

    def _flow_context(self, hidden: Tensor) -> Tensor | None:
        """What the flow reads at each step besides the target: the LSTM outputs (*, H) for
        ``flow_context="lstm"``, else None."""
        return hidden if self.config.flow_context == "lstm" else None

    def _residuals(
        self, y: Tensor, x: Tensor | None
    ) -> tuple[GaussianMixture, Tensor, Tensor, Tensor | None]:
        """Per-step mixtures, standardised targets u, what the mixtures model (u - o with the
        pitch predictor's guess o, else u itself; tensors (B, T, d)) and the flow's context."""
        self._check_targets(y)
        y, x = self._here(y), self._here(x)
        u = self.normalize(y)
        hidden, _ = self.lstm(self._inputs(u, x), self._initial_state(y.shape[0]))
        gmm, context = self._mixture_from_hidden(hidden), self._flow_context(hidden)
        if self.pitch is None:
            return gmm, u, u, context
        return gmm, u, u - self._pitch_offset(self._pitch_windows(u), hidden), context

    def predictive(
        self, y: Tensor, x: Tensor | None = None
    ) -> tuple[GaussianMixture, Tensor, Tensor | None]:
        """Per-step mixtures on z (batch shape (B, T)), the offsets o (B, T, d) and the flow's
        context (B, T, H) or None.

        The mixture for step t is over :math:`z_t = f(u_t - o_t)`, where u is the standardised
        target and o the pitch predictor's guess of each sample from the samples before it
        (zeros without a predictor); ``flow.inverse(z, context)`` maps z back to u - o.
        """
        gmm, u, residual, context = self._residuals(y, x)
        return gmm, u - residual, context

    def mixture(self, y: Tensor, x: Tensor | None = None) -> tuple[GaussianMixture, Tensor]:
        """Per-step mixtures (batch shape (B, T)) and latents z = f(u - o), shape (B, T, d).

        Mixture and latents live in the standardised, flowed space; for an RMDN without a pitch
        predictor z = u.
        """
        gmm, _, residual, context = self._residuals(y, x)
        z, _ = self.flow(residual, context)
        return gmm, z

    def log_prob(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """:math:`\\log p(y_t \\mid y_{<t}, x_{\\leq t})` in nats, y (B, T, d) -> (B, T)."""
        gmm, _, residual, context = self._residuals(y, x)
        return self._density(gmm, residual, context)

    def forward(self, y: Tensor, x: Tensor | None = None) -> Tensor:
        """:meth:`log_prob`: calling the model (e.g. through DistributedDataParallel) scores y."""
        return self.log_prob(y, x)

    def _density(self, gmm: GaussianMixture, u: Tensor, context: Tensor | None) -> Tensor:
        """Log-density in data units of standardised targets u (*, d) under mixtures on z; the
        flow reads ``context`` (*, H) when it has one."""
        z, ladj = self.flow(u, context)  # (*, d), (*): flow and mixture run in full precision
        return gmm.log_prob(z) + ladj - self.data_scale.log().sum()

    @torch.no_grad()
    def next_step_log_prob(
        self, history: Tensor, points: Tensor, x: Tensor | None = None
    ) -> Tensor:
        """Log-density of candidate next targets after one observed history, for density maps.

        Arguments:
            history: Observed targets (T0, d), T0 >= 0 (empty: the first step's density).
            points: Candidate values of the next target, shape (M, d).
            x: Conditioning inputs (T0 + 1, cond_dim) when the model has them.

        Returns:
            :math:`\\log p(y_{T_0} = \\text{point} \\mid y_{<T_0})`, shape (M,).
        """
        d = self.config.dim
        if (
            history.dim() != 2
            or history.shape[-1] != d
            or points.dim() != 2
            or points.shape[-1] != d
        ):
            raise ValueError(f"history must be (T0, {d}) and points (M, {d})")
        history, points, x = self._here(history), self._here(points), self._here(x)
        padded = torch.cat([history, history.new_zeros(1, d)]).unsqueeze(0)  # (1, T0 + 1, d)
        u = self.normalize(padded)
        cond = None if x is None else x.unsqueeze(0)
        hidden, _ = self.lstm(self._inputs(u, cond), self._initial_state(1))
        last = hidden[0, -1].expand(len(points), -1)  # (M, H): every point follows the history
        gmm = self._mixture_from_hidden(hidden[0, -1])  # batch shape ()
        targets = self.normalize(points)
        if self.pitch is not None:  # each point is the last frame of its own window
            past = self._pitch_windows(u)[0, -1, : self.pitch.context]  # (C,)
            windows = torch.cat([past.expand(len(points), -1), targets], dim=-1)
            targets = targets - self._pitch_offset(windows, last)
        return self._density(gmm, targets, self._flow_context(last))

    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int,
        prime: Tensor | None = None,
        x: Tensor | None = None,
        temperature: float = 1.0,
        bound: float | None = None,
    ) -> Tensor:
        """Generate ``steps`` new targets per sequence, shape (n, steps, d).

        Each step draws z from the predicted mixture (weights sharpened and covariances scaled by
        ``temperature``), maps it back with ``flow.inverse`` (and, with a pitch predictor, puts
        the pitch back with ``pitch.synthesize``) and feeds it to the LSTM.

        Arguments:
            n: Number of sequences.
            steps: Number of generated steps.
            prime: Optional observed start (n, T0, d) to continue from.
            x: Conditioning inputs (n, T0 + steps, cond_dim) when the model has them.
            temperature: Sampling temperature (1 = the model's own distribution).
            bound: If given, every generated target is clamped to [-bound, bound] (data units)
                before it is fed back: the physical range of the data, e.g. full-scale audio.
                A flow's inverse extrapolates, so a rare draw far in a component's tail can
                map to a value hundreds of standard deviations out; this keeps one such draw
                from becoming a burst.
        """
        if n < 1 or steps < 1:
            raise ValueError("n and steps must be at least 1")
        if bound is not None and not bound > 0:
            raise ValueError(f"bound must be positive, got {bound}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        was_training = self.training
        self.eval()  # no dropout while generating
        device = self.start.device
        state = self._initial_state(n)
        previous = self.start.expand(n, -1)  # (n, d)
        offset = 0
        past = None if self.pitch is None else previous.new_zeros(n, self.pitch.context)
        if prime is not None:
            self._check_targets(prime)
            if prime.shape[0] != n:
                raise ValueError(f"prime holds {prime.shape[0]} sequences, expected n = {n}")
            u = self.normalize(prime.to(device))
            offset = prime.shape[1]
            inputs = torch.cat([previous.unsqueeze(1), u[:, :-1]], dim=1)
            cond = None if x is None else x[:, :offset].to(device)
            _, state = self.lstm(self._with_condition(inputs, cond), state)
            previous = u[:, -1]
            if past is not None:  # the last C primed samples, zeros before the prime
                past = torch.cat([past, u.reshape(n, -1)], dim=1)[:, -past.shape[1] :]
        if bound is not None:  # [-bound, bound] in standardised units, per dimension (d,)
            low = self.normalize(torch.full_like(self.data_shift, -bound))
            high = self.normalize(torch.full_like(self.data_shift, bound))
        generated = []
        for t in range(steps):
            cond = None if x is None else x[:, offset + t].to(device)
            hidden, state = self._lstm_step(self._with_condition(previous, cond), state)
            z = self._draw_next(hidden, temperature).to(hidden.dtype)
            previous = self.flow.inverse(z, self._flow_context(hidden))
            if past is not None:  # the flow drew the residual: put the repeats back in
                previous = self.pitch.synthesize(past, previous, hidden)
            if bound is not None:
                previous = torch.clamp(previous, low, high)
            if past is not None:
                past = torch.cat([past[:, previous.shape[1] :], previous], dim=1)
            generated.append(previous)
        self.train(was_training)
        return self.denormalize(torch.stack(generated, dim=1))

    def _lstm_step(
        self, x: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One step of the LSTM (eval mode) for inputs x (n, in), state (layers, n, H) twice.

        ``torch.lstm_cell`` per layer, the fused gates of ``nn.LSTMCell`` with ``nn.LSTM``'s
        weights: for single steps this is several times faster than a call to the fused
        module (and 40 % faster than the gates written out), which sets generation speed.
        """
        hidden, cell = state
        new_hidden, new_cell = [], []
        for layer in range(self.config.num_layers):
            x, c = torch.lstm_cell(
                x,
                (hidden[layer], cell[layer]),
                getattr(self.lstm, f"weight_ih_l{layer}"),
                getattr(self.lstm, f"weight_hh_l{layer}"),
                getattr(self.lstm, f"bias_ih_l{layer}"),
                getattr(self.lstm, f"bias_hh_l{layer}"),
            )
            new_hidden.append(x)
            new_cell.append(c)
        return x, (torch.stack(new_hidden), torch.stack(new_cell))

    def save(
        self,
        path: str | os.PathLike,
        *,
        metrics: dict | None = None,
        data: dict | None = None,
        half: bool = False,
    ) -> Path:
        """Save to a checkpoint directory (see :func:`frmdn.storage.save`); ``half`` stores
        the parameters in float16."""
        return save_checkpoint(self, path, metrics=metrics, data=data, half=half)

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts: recurrent part, mixture head, flow, pitch predictor and total."""

        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())

        recurrent = count(self.lstm) + self.start.numel() + 2 * self.initial_hidden.numel()
        counts = {"recurrent": recurrent, "head": count(self.head), "flow": count(self.flow)}
        counts["pitch"] = 0 if self.pitch is None else count(self.pitch)
        counts["total"] = count(self)
        return counts


FLOW_SETTINGS = ("flow_layers", "flow_hidden", "flow_depth", "scale_bound", "shift_bound")
FRMDN_FLOW_LAYERS = 4  # an FRMDN's default couplings (ModelConfig's 0 means an RMDN)
POSITIONAL_SIZES = ("n_components", "rank", "hidden_size", "num_layers", "cond_dim")


class RMDN(SequenceDensityModel):
    """Recurrent Mixture Density Network: a :class:`SequenceDensityModel` with no flow.

    ``sizes`` are :data:`POSITIONAL_SIZES` in order and ``settings`` any other
    :class:`ModelConfig` fields but the flow's; the defaults are ModelConfig's.

    Example:
        >>> model = RMDN(2, n_components=3, rank=1, hidden_size=16)
        >>> model.log_prob(torch.randn(4, 10, 2)).shape
        torch.Size([4, 10])
    """

    def __init__(self, dim: int, *sizes: int, **settings: float) -> None:
        flow = [name for name in FLOW_SETTINGS if name in settings]
        if flow:
            raise TypeError(f"an RMDN has no flow; use FRMDN for {', '.join(flow)}")
        super().__init__(ModelConfig(dim, *_sizes(sizes), **settings))


class FRMDN(SequenceDensityModel):
    """Flow-based RMDN: targets pass through a RealNVP flow before the mixture.

    ``sizes`` are :data:`POSITIONAL_SIZES` in order and ``settings`` any other
    :class:`ModelConfig` fields; the defaults are ModelConfig's, except ``flow_layers``
    (:data:`FRMDN_FLOW_LAYERS`).

    Example:
        >>> model = FRMDN(2, n_components=3, rank=1, hidden_size=16, flow_layers=4)
        >>> model.sample(5, steps=7).shape
        torch.Size([5, 7, 2])
    """

    def __init__(
        self, dim: int, *sizes: int, flow_layers: int = FRMDN_FLOW_LAYERS, **settings: float
    ) -> None:
        if flow_layers < 1:
            raise ValueError("an FRMDN needs flow_layers >= 1; use RMDN for no flow")
        super().__init__(ModelConfig(dim, *_sizes(sizes), flow_layers=flow_layers, **settings))


def _sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Positional sizes after ``dim``, in ModelConfig's order: :data:`POSITIONAL_SIZES`."""
    if len(sizes) > len(POSITIONAL_SIZES):
        raise TypeError(
            f"at most {len(POSITIONAL_SIZES)} positional sizes after dim: "
            f"{', '.join(POSITIONAL_SIZES)}; pass the rest by name"
        )
    return sizes


def build_model(config: ModelConfig) -> SequenceDensityModel:
    """The RMDN or FRMDN that ``config`` describes (used when loading checkpoints)."""
    values = config.to_dict()
    if config.flow_layers == 0:
        for name in FLOW_SETTINGS:
            values.pop(name)
        return RMDN(**values)
    return FRMDN(**values)
