"""Checkpoints: safetensors weights plus a JSON config, written atomically, loaded without pickle.

A checkpoint is a directory holding ``config.json`` (model class, hyper-parameters, data
normalisation, training metrics, library version, the weights' SHA-256) and
``model.safetensors``. Loading parses JSON and safetensors only, so a hostile file can at worst
be refused; it never runs code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from frmdn.model import ModelConfig, SequenceDensityModel, build_model

__all__ = [
    "CheckpointError",
    "load",
    "read_config",
    "read_metadata",
    "read_weights",
    "save",
    "write_checkpoint",
]

FORMAT = "frmdn-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MAX_CONFIG_BYTES = 1_000_000
MAX_WEIGHTS_BYTES = 2_000_000_000
MAX_PARAMETERS = 250_000_000
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


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or inconsistent."""


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write via ``write(tmp_path)`` into the same directory, then rename over ``path``."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checkpoint(path: str | os.PathLike, module: torch.nn.Module, meta: dict) -> Path:
    """Write ``module``'s weights and ``meta`` (+ library version and weights hash) to ``path``.

    Shared by every kind of checkpoint (sequence models, VAEs). Non-finite weights are refused,
    ``meta`` must be JSON-serialisable (non-finite metric floats become null) and is checked
    before anything is written, so a failed save leaves an existing checkpoint intact.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save non-finite weights ({', '.join(bad[:3])})")
    from frmdn import __version__

    meta = _json_safe(meta | {"library_version": __version__})
    try:  # fail before touching an existing checkpoint
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"metrics and data must be JSON-serialisable: {error}") from None
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    _atomic_write(weights, lambda tmp: save_file(state, str(tmp)))
    meta["weights_sha256"] = _sha256(weights)
    text = json.dumps(meta, indent=2, allow_nan=False)
    _atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text))
    return directory


def save(
    model: SequenceDensityModel,
    path: str | os.PathLike,
    *,
    metrics: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Save ``model`` to the directory ``path`` (created if needed) and return it.

    Arguments:
        model: The model; every weight must be finite (a diverged model is refused).
        path: Target directory.
        metrics: JSON-serialisable training metrics (e.g. ``FitResult.to_dict()``).
        data: JSON-serialisable description of the training data (spec, split sizes, ...).
    """
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "config": model.config.to_dict(),
        "normalization": {
            "shift": model.data_shift.tolist(),
            "scale": model.data_scale.tolist(),
        },
        "metrics": metrics or {},
        "data": data or {},
    }
    return write_checkpoint(path, model, meta)


def _json_safe(value: object) -> object:
    """``value`` with non-finite floats (an unfinished run's inf/NaN NLLs) turned into None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def read_config(
    path: str | os.PathLike,
    *,
    fmt: str,
    version: int,
    classes: tuple[str, ...],
    what: str = "checkpoint",
    title: str = "FRMDN checkpoint",
) -> dict:
    """The ``config.json`` of a checkpoint directory, checked for format, version and class.

    Only JSON is parsed (size-limited); ``what`` and ``title`` name the kind in messages.
    """
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"{path} is not a {what} directory (no {CONFIG_FILE})")
    if file.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{file} is too large to be a {what} config")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{file} is not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise CheckpointError(f"{file} is not an {title} config")
    if meta.get("format_version") != version:
        raise CheckpointError(f"unsupported {what} format version {meta.get('format_version')}")
    if meta.get("model_class") not in classes:
        raise CheckpointError(f"unknown model class {meta.get('model_class')!r}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{what} config has no model settings")
    return meta


def read_weights(
    path: str | os.PathLike, meta: dict, expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The safetensors weights of a checkpoint, checked against its hash and ``expected``.

    ``expected`` is the state dict of the freshly built module (names, shapes, dtypes).
    Every floating tensor must be finite.
    """
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{path} has no {WEIGHTS_FILE}")
    if weights.stat().st_size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{weights} is too large")
    if _sha256(weights) != meta.get("weights_sha256"):
        raise CheckpointError(f"{weights} does not match its config (corrupt or replaced)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{weights} is not a valid safetensors file: {error}") from None
    if set(state) != set(expected):
        missing, extra = set(expected) - set(state), set(state) - set(expected)
        raise CheckpointError(
            f"weights do not match the model (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(extra)[:3]})"
        )
    for name, tensor in state.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.dtype != want.dtype:
            raise CheckpointError(
                f"weight {name} is {tensor.dtype} {tuple(tensor.shape)}, "
                f"expected {want.dtype} {tuple(want.shape)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"weight {name} contains NaN or infinite values")
    return state


def read_metadata(path: str | os.PathLike) -> dict:
    """The validated ``config.json`` of the checkpoint directory ``path``."""
    meta = read_config(path, fmt=FORMAT, version=FORMAT_VERSION, classes=("RMDN", "FRMDN"))
    for name, value in meta["config"].items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CheckpointError(f"model setting {name!r} must be a number, got {value!r}")
        if name in LIMITS and (not isinstance(value, int) or not 0 <= value <= LIMITS[name]):
            raise CheckpointError(f"model setting {name}={value!r} is out of range")
        if isinstance(value, float) and not math.isfinite(value):
            raise CheckpointError(f"model setting {name} is not finite")
    return meta


def load(path: str | os.PathLike, device: torch.device | str = "cpu") -> SequenceDensityModel:
    """Load the model saved in directory ``path``, validated, in eval mode.

    The model's metadata (metrics, data description) is attached as ``model.metadata``.

    Raises:
        CheckpointError: for a missing, corrupt, hostile or inconsistent checkpoint.
    """
    meta = read_metadata(path)
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"invalid model settings: {error}") from None
    if config.parameter_bound() > MAX_PARAMETERS:
        raise CheckpointError(f"model settings describe over {MAX_PARAMETERS:,} parameters")
    try:
        model = build_model(config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"invalid model settings: {error}") from None
    if type(model).__name__ != meta["model_class"]:
        raise CheckpointError("model class does not match its settings")
    state = read_weights(path, meta, model.state_dict())
    model.load_state_dict(state)
    model.metadata = {k: meta[k] for k in ("metrics", "data", "library_version") if k in meta}
    return model.to(device).eval()
