"""The hyper-parameters of a sequence density model: one frozen dataclass, saved in every
checkpoint's ``config.json`` and checked before anything is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from frmdn.models.flows import FLOW_CONTEXTS
from frmdn.models.heads import COVARIANCES, PRECISION_FACTORS, mixture_head

__all__ = ["ModelConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a :class:`SequenceDensityModel`; ``flow_layers = 0`` is an RMDN.

    Arguments:
        dim: Target dimension d.
        n_components: Mixture components K.
        rank: Rank r of each precision's low-rank part (0 = diagonal).
        hidden_size: LSTM width.
        num_layers: LSTM depth.
        cond_dim: Size of optional conditioning inputs x (0 = none).
        flow_layers: Coupling layers of the flow (0 = identity flow, an RMDN).
        flow_hidden: Width of each coupling's conditioner.
        flow_depth: Hidden layers of each coupling's conditioner.
        scale_bound: Bound on each coupling's log-scale.
        shift_bound: Bound on each coupling's shift (0 = unbounded, the paper's and every
            checkpoint's before it existed).
        min_precision: Floor on the precision diagonal, so no direction has infinite variance.
        max_precision: Soft cap on the precision (diagonal and factor norm), so the likelihood
            cannot run off to infinity on a collapsing component.
        dropout: Dropout between LSTM layers and before the mixture head.
        input_noise: Std of Gaussian noise added to the LSTM's inputs in training.
        pitch_max_lag: Longest period (samples) of a :class:`~frmdn.models.pitch.PitchPredictor`
            whose guess is subtracted from each frame before the flow; 0 = none. Only for
            targets that are consecutive frames of one waveform (audio).
        pitch_min_lag: Shortest period (samples) of the pitch predictor.
        covariance: ``"low-rank"`` (precision :math:`D + UU^\top` of rank ``rank``, the
            FRMDN's) or ``"full"`` (Cholesky-parametrised covariances, the :math:`O(Kd^2)`
            reference; ``rank`` must be 0).
        flow_context: ``"none"``: one flow for every time step (the paper's); ``"lstm"``: each
            coupling also reads the step's LSTM output, so the flow changes over time (an
            extension beyond the paper).
        precision_factor: ``"absolute"``: the head outputs the precision factor U (the
            paper's); ``"relative"``: it outputs V with :math:`U = D^{1/2} V`, the factor
            measured against the diagonal (compared in docs/low-rank.md: no better on average).
    """

    dim: int
    n_components: int = 3
    rank: int = 1
    hidden_size: int = 64
    num_layers: int = 1
    cond_dim: int = 0
    flow_layers: int = 0
    flow_hidden: int = 64
    flow_depth: int = 1
    scale_bound: float = 2.0
    shift_bound: float = 0.0
    min_precision: float = 1e-3
    max_precision: float = 1e4
    dropout: float = 0.0
    input_noise: float = 0.0
    pitch_max_lag: int = 0
    pitch_min_lag: int = 20
    covariance: str = "low-rank"
    flow_context: str = "none"
    precision_factor: str = "absolute"

    def __post_init__(self) -> None:
        positive = ("dim", "n_components", "hidden_size", "num_layers", "flow_hidden")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("rank", "cond_dim", "flow_layers", "flow_depth", "pitch_max_lag"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if not 0 < self.min_precision < self.max_precision:
            raise ValueError("need 0 < min_precision < max_precision")
        if not 0 <= self.dropout < 1 or self.input_noise < 0 or self.scale_bound <= 0:
            raise ValueError("need 0 <= dropout < 1, input_noise >= 0 and scale_bound > 0")
        if not self.shift_bound >= 0:
            raise ValueError(f"shift_bound must be >= 0 (0 = unbounded), got {self.shift_bound}")
        if self.pitch_max_lag > 0 and not 1 <= self.pitch_min_lag <= self.pitch_max_lag:
            raise ValueError("need 1 <= pitch_min_lag <= pitch_max_lag")
        if self.covariance not in COVARIANCES:
            raise ValueError(f"covariance must be one of {COVARIANCES}, got {self.covariance!r}")
        if self.covariance == "full" and self.rank:
            raise ValueError("a full covariance has no low-rank part: use rank=0")
        if self.flow_context not in FLOW_CONTEXTS:
            raise ValueError(
                f"flow_context must be one of {FLOW_CONTEXTS}, got {self.flow_context!r}"
            )
        if self.precision_factor not in PRECISION_FACTORS:
            raise ValueError(
                f"precision_factor must be one of {PRECISION_FACTORS}, "
                f"got {self.precision_factor!r}"
            )
        if self.flow_context != "none" and (self.flow_layers == 0 or self.dim == 1):
            raise ValueError("a flow context needs coupling layers: flow_layers >= 1 and dim >= 2")

    @property
    def flow_context_dim(self) -> int:
        """Size of the context each coupling reads: the LSTM width, or 0."""
        return self.hidden_size if self.flow_context == "lstm" else 0

    def parameter_bound(self) -> int:
        """An upper bound on the parameter count, computed without building anything.

        Checkpoint loading uses it to refuse absurd settings before allocating memory.
        """
        d, H, layers = self.dim, self.hidden_size, self.num_layers
        lstm = 4 * H * (d + self.cond_dim + 2 * H + 2) * layers + 2 * layers * H + d
        head = (H + 1) * mixture_head(self).out_features
        width, depth = self.flow_hidden, self.flow_depth
        conditioner = (
            (d + 1 + self.flow_context_dim) * width
            + (depth - 1) * (width + 1) * width
            + (width + 1) * 2 * d
        )
        flow = 2 * d + self.flow_layers * max(conditioner, (d + 1) * 2 * d, 4)
        pitch = (H + 1) * (max(self.pitch_max_lag - self.pitch_min_lag, 0) + 3)
        return lstm + head + flow + pitch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown model settings: {sorted(unknown)}")
        return cls(**values)
