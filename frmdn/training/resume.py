"""Resumable training: a Trainer's whole state in a checkpoint directory, as JSON + safetensors.

Beside ``config.json`` and ``model.safetensors`` a resumable run keeps ``training.json``
(progress, early-stopping counters, optimiser settings, the training config and data spec)
and ``training-<sha>.safetensors`` (current and best weights, Adam moments, random states).
``training.json`` names the tensors file by its SHA-256 and is written last, atomically, so a
run killed at any moment leaves the previous state or the new one, never a mix; older tensor
files go once the new JSON is in place. Nothing is unpickled when a state is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from frmdn.errors import CheckpointError
from frmdn.storage import CONFIG_FILE, atomic_write
from frmdn.training.trainer import FitResult, Progress, TrainConfig, Trainer

__all__ = [
    "STATE_FILE",
    "has_checkpoint",
    "has_training_state",
    "load_training_state",
    "remove_training_state",
    "save_training_state",
]

STATE_FILE = "training.json"
STATE_FORMAT = "frmdn-training-state"
STATE_VERSION = 1
MAX_STATE_JSON_BYTES = 50_000_000


def has_training_state(directory: str | os.PathLike) -> bool:
    return (Path(directory) / STATE_FILE).is_file()


def has_checkpoint(directory: str | os.PathLike) -> bool:
    return (Path(directory) / CONFIG_FILE).is_file()


def remove_training_state(directory: str | os.PathLike) -> None:
    """Delete a finished run's training state (its checkpoint stays)."""
    directory = Path(directory)
    (directory / STATE_FILE).unlink(missing_ok=True)
    for tensors in directory.glob("training-*.safetensors"):
        tensors.unlink(missing_ok=True)


def _tensors(state: dict) -> dict[str, torch.Tensor]:
    """The tensors of a :meth:`Trainer.state_dict`, flat, named by where they go."""
    tensors = {f"model/{k}": v for k, v in state["model"].items()}
    tensors |= {f"best/{k}": v for k, v in state["best"].items()}
    for index, moments in state["optimizer"]["state"].items():
        for key, value in moments.items():
            tensors[f"optimizer/{index}/{key}"] = torch.as_tensor(value)
    tensors["rng/generator"] = state["generator"]
    tensors["rng/torch"] = state["torch_rng"]
    return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def save_training_state(
    directory: str | os.PathLike, trainer: Trainer, *, data: dict | None = None
) -> Path:
    """Write ``trainer``'s state into the checkpoint ``directory`` (created if needed), with
    ``data`` (e.g. the data spec and seed) so a later process can rebuild the run."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = trainer.state_dict()
    blob = save(_tensors(state))
    digest = hashlib.sha256(blob).hexdigest()
    tensors_file = f"training-{digest[:16]}.safetensors"
    atomic_write(directory / tensors_file, lambda tmp: tmp.write_bytes(blob))
    meta = {
        "format": STATE_FORMAT,
        "format_version": STATE_VERSION,
        "tensors": tensors_file,
        "tensors_sha256": digest,
        "train_config": asdict(trainer.config),
        "data": data or {},
        "result": state["result"].to_dict(),
        "since_best": state["since_best"],
        "bad_in_a_row": state["bad_in_a_row"],
        "window": state["window"],
        "elapsed": state["elapsed"],
        "done": state["done"],
        "param_groups": state["optimizer"]["param_groups"],
        "optimizer_indices": sorted(state["optimizer"]["state"]),
    }
    text = json.dumps(meta, indent=1, allow_nan=True)
    atomic_write(directory / STATE_FILE, lambda tmp: tmp.write_text(text))
    for old in directory.glob("training-*.safetensors"):
        if old.name != tensors_file:
            old.unlink(missing_ok=True)
    return directory


def load_training_state(directory: str | os.PathLike) -> tuple[dict, TrainConfig, dict]:
    """A run's :meth:`Trainer.state_dict`, its TrainConfig and its data description.

    Raises:
        CheckpointError: when the state is missing, corrupt or of another format.
    """
    directory = Path(directory)
    file = directory / STATE_FILE
    if not file.is_file():
        raise CheckpointError(f"{directory} holds no training state ({STATE_FILE}) to resume")
    if file.stat().st_size > MAX_STATE_JSON_BYTES:
        raise CheckpointError(f"{file} is too large to be a training state")
    try:
        meta = json.loads(file.read_text())
        if meta.get("format") != STATE_FORMAT or meta.get("format_version") != STATE_VERSION:
            raise CheckpointError(f"{file} is not a version {STATE_VERSION} training state")
        blob = (directory / Path(meta["tensors"]).name).read_bytes()
        if hashlib.sha256(blob).hexdigest() != meta["tensors_sha256"]:
            raise CheckpointError(f"{meta['tensors']} does not match {STATE_FILE}")
        tensors = load(blob)
        state = {
            "model": _prefixed(tensors, "model/"),
            "best": _prefixed(tensors, "best/"),
            "optimizer": {
                "state": {
                    index: _prefixed(tensors, f"optimizer/{index}/")
                    for index in meta["optimizer_indices"]
                },
                "param_groups": meta["param_groups"],
            },
            "result": _result(meta["result"]),
            "since_best": int(meta["since_best"]),
            "bad_in_a_row": int(meta["bad_in_a_row"]),
            "window": [float(v) for v in meta["window"]],
            "elapsed": float(meta["elapsed"]),
            "done": bool(meta["done"]),
            "generator": tensors["rng/generator"],
            "torch_rng": tensors["rng/torch"],
        }
        config = TrainConfig(**meta["train_config"])
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as error:
        raise CheckpointError(f"unreadable training state in {directory}: {error}") from None
    return state, config, meta["data"]


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _result(values: dict) -> FitResult:
    history = [Progress(**p) for p in values.pop("history")]
    return FitResult(history=history, **values)
