"""Loading checkpoints: a validated model from a checkpoint directory (or its parsed parts).

The file format (``config.json`` + ``model.safetensors``, atomic saves, checks on every byte
read) lives in :mod:`frmdn.checkpoint_files`; this module turns validated metadata and weights
into a model. Nothing here unpickles.
"""

from __future__ import annotations

import os

import torch

from frmdn.checkpoint_files import MAX_PARAMETERS, read_metadata, read_weights
from frmdn.errors import CheckpointError
from frmdn.model import ModelConfig, SequenceDensityModel, build_model

__all__ = ["CheckpointError", "build_checked", "load", "model_config", "restore"]


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
