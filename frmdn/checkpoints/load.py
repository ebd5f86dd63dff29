"""Loading checkpoints: a validated model from a checkpoint directory (or its parsed parts).

The file format (``config.json`` + ``model.safetensors``, atomic saves, checks on every byte
read) lives in :mod:`frmdn.storage`, which knows files, not models; this module checks a
config's model settings (words among their choices, numbers within limits, before anything is
allocated) and turns validated metadata and weights into a model. Nothing here unpickles.
"""

from __future__ import annotations

import math
import os

import torch

from frmdn.errors import CheckpointError
from frmdn.models.config import ModelConfig
from frmdn.models.flows import FLOW_CONTEXTS
from frmdn.models.heads import COVARIANCES, PRECISION_FACTORS
from frmdn.models.sequence import SequenceDensityModel, build_model
from frmdn.storage import (
    FORMAT,
    FORMAT_VERSION,
    MAX_PARAMETERS,
    parse_config,
    read_config,
    read_weights,
)

__all__ = [
    "CheckpointError",
    "LIMITS",
    "build_checked",
    "load",
    "model_config",
    "parse_metadata",
    "read_metadata",
    "restore",
]

LIMITS = {  # refuse configs that would allocate absurd models before building them
    "dim": 65_536,
    "n_components": 1024,
    "rank": 256,
    "hidden_size": 8192,
    "num_layers": 16,
    "cond_dim": 65_536,
    "flow_layers": 64,
    "flow_hidden": 8192,
    "flow_depth": 16,
}
CHOICES = {
    "covariance": COVARIANCES,
    "flow_context": FLOW_CONTEXTS,
    "precision_factor": PRECISION_FACTORS,
}  # the settings that are words, not numbers


def _check_settings(meta: dict) -> dict:
    """``meta`` after checking that every model setting is one of its CHOICES or a finite
    number within LIMITS."""
    for name, value in meta["config"].items():
        if name in CHOICES:
            if value not in CHOICES[name]:
                raise CheckpointError(
                    f"model setting {name}={value!r} is not one of {CHOICES[name]}"
                )
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CheckpointError(f"model setting {name!r} must be a number, got {value!r}")
        if name in LIMITS and (not isinstance(value, int) or not 0 <= value <= LIMITS[name]):
            raise CheckpointError(f"model setting {name}={value!r} is out of range")
        if isinstance(value, float) and not math.isfinite(value):
            raise CheckpointError(f"model setting {name} is not finite")
    return meta


_MODEL_CHECKPOINT = {"fmt": FORMAT, "version": FORMAT_VERSION, "classes": ("RMDN", "FRMDN")}


def read_metadata(path: str | os.PathLike) -> dict:
    """The validated ``config.json`` of the checkpoint directory ``path``."""
    return _check_settings(read_config(path, **_MODEL_CHECKPOINT))


def parse_metadata(raw: bytes, source: str) -> dict:
    """The validated bytes of a model checkpoint's ``config.json`` (``source`` names it)."""
    return _check_settings(parse_config(raw, source, **_MODEL_CHECKPOINT))


def model_config(meta: dict, max_parameters: int = MAX_PARAMETERS) -> ModelConfig:
    """The :class:`ModelConfig` of validated metadata; refused when it describes more than
    ``max_parameters`` parameters (checked before anything is allocated)."""
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"invalid model settings: {error}") from None
    if config.parameter_bound() > max_parameters:
        raise CheckpointError(f"model settings describe over {max_parameters:,} parameters")
    return config


def build_checked(meta: dict, config: ModelConfig) -> SequenceDensityModel:
    """A fresh model for ``config``, whose class must be the one ``meta`` records."""
    try:
        model = build_model(config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"invalid model settings: {error}") from None
    if type(model).__name__ != meta["model_class"]:
        raise CheckpointError("model class does not match its settings")
    return model


def restore(
    model: SequenceDensityModel,
    meta: dict,
    state: dict[str, torch.Tensor],
    device: torch.device | str = "cpu",
) -> SequenceDensityModel:
    """``model`` with checked weights ``state`` and ``meta``'s metrics, data description and
    library version as ``model.metadata``, on ``device``, in eval mode."""
    model.load_state_dict(state)
    model.metadata = {k: meta[k] for k in ("metrics", "data", "library_version") if k in meta}
    return model.to(device).eval()


def load(path: str | os.PathLike, device: torch.device | str = "cpu") -> SequenceDensityModel:
    """Load the model saved in directory ``path``, validated, in eval mode.

    The model's metadata (metrics, data description) is attached as ``model.metadata``.

    Raises:
        CheckpointError: for a missing, corrupt, hostile or inconsistent checkpoint.
    """
    meta = read_metadata(path)
    model = build_checked(meta, model_config(meta))
    return restore(model, meta, read_weights(path, meta, model.state_dict()), device)
