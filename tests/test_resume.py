"""Resumable training: a run killed mid-way and resumed ends where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from frmdn import load
from frmdn.cli.main import main
from frmdn.data.toy import load_toy
from frmdn.errors import CheckpointError
from frmdn.models.sequence import FRMDN
from frmdn.training.resume import (
    STATE_FILE,
    has_training_state,
    load_training_state,
    save_training_state,
)
from frmdn.training.trainer import TrainConfig, Trainer

TINY = [
    "--hidden", "8", "--components", "2", "--flow-layers", "2", "--flow-hidden", "8",
    "--batch-size", "16", "--eval-every", "20", "--patience", "0", "--quiet",
]  # fmt: skip


def _trainer(steps: int = 60) -> Trainer:
    torch.manual_seed(0)
    split = load_toy("ring", n_train=64, n_valid=16, n_test=16, length=12, seed=0)
    model = FRMDN(2, n_components=2, rank=1, hidden_size=8, flow_layers=2, flow_hidden=8)
    model.standardize_on(split.train)
    config = TrainConfig(steps=steps, batch_size=16, eval_every=20, patience=0, seed=3)
    return Trainer(model, split.train, split.valid, config)


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_a_state_written_and_read_back_continues_exactly(tmp_path: Path) -> None:
    whole = _trainer()
    whole.run(60)
    first = _trainer()
    first.run(20)
    save_training_state(tmp_path, first, data={"spec": "toy:ring", "seed": 0})
    assert has_training_state(tmp_path)
    state, config, data = load_training_state(tmp_path)
    assert config == first.config and data == {"spec": "toy:ring", "seed": 0}
    second = _trainer()
    second.load_state_dict(state)
    assert second.result.steps == 20 and second.result.history == first.result.history
    second.run(40)
    _same_weights(second.model.state_dict(), whole.model.state_dict())
    assert second.result.best_step == whole.result.best_step


def test_a_damaged_state_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="holds no training state"):
        load_training_state(tmp_path)
    trainer = _trainer()
    trainer.run(20)
    save_training_state(tmp_path, trainer)
    (tensors,) = tmp_path.glob("training-*.safetensors")
    blob = tensors.read_bytes()
    tensors.write_bytes(blob[:-8] + bytes(b ^ 0xFF for b in blob[-8:]))
    with pytest.raises(CheckpointError, match="does not match training.json"):
        load_training_state(tmp_path)
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable training state"):
        load_training_state(tmp_path)


def test_train_resume_after_a_real_kill_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    args = ["train", "--data", "toy:ring", "--model", "frmdn", "--steps", "400", *TINY]
    whole = tmp_path / "whole"
    assert main([*args, "--out", str(whole)]) == 0
    assert not has_training_state(whole)  # a finished run keeps its checkpoint only

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "frmdn", *args, "--out", str(killed)],
        env=os.environ | {"FRMDN_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        steps = 0
        while steps < 60:  # a state written after at least three evaluations
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no training state appeared"
            time.sleep(0.01)
            try:
                steps = json.loads((killed / STATE_FILE).read_text())["result"]["steps"]
            except (OSError, ValueError, KeyError):
                steps = 0
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    state, _, _ = load_training_state(killed)
    assert 60 <= state["result"].steps < 400

    assert main(["train", "--resume", str(killed), "--quiet"]) == 0
    assert not has_training_state(killed)
    _same_weights(load(killed).state_dict(), load(whole).state_dict())
    metrics = json.loads((killed / "config.json").read_text())["metrics"]
    assert metrics["steps"] == 400 and metrics["stop_reason"] == "completed"


def test_resume_needs_a_state_and_no_other_data(tmp_path: Path) -> None:
    assert main(["train", "--resume", str(tmp_path), "--quiet"]) == 2
    assert main(["train", "--resume", str(tmp_path), "--data", "toy:ring", "--quiet"]) == 2
