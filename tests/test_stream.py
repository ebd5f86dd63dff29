"""Audio larger than memory: decoded once to a disk cache, sequences read on demand, and a
training process whose memory stays far below the decoded size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from frmdn.data import load_data
from frmdn.data.stream import DiskSequences
from frmdn.train import evaluate_nll

RATE = 8000


def _folder(root: Path, files: int, seconds: float) -> Path:
    """``files`` 16-bit WAV files of ``seconds`` each: tones with noise, a different pitch each."""
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(0)
    for i in range(files):
        wave = 0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t) + 0.02 * noise.standard_normal(t.size)
        sf.write(root / f"clip{i:03d}.wav", wave.astype(np.float32), RATE, subtype="PCM_16")
    return root


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("FRMDN_CACHE", str(directory))
    return directory


def test_a_streamed_split_holds_the_sequences_of_the_in_memory_one(
    tmp_path: Path, cache: Path
) -> None:
    folder = _folder(tmp_path / "clips", files=12, seconds=2.0)
    spec = f"audio:{folder}?length=10&emphasis=0.9"
    memory = load_data(spec + "&stream=0")
    streamed = load_data(spec + "&stream=1")
    assert isinstance(streamed.train, DiskSequences) and streamed.info["streamed"]
    assert streamed.info["files"] == memory.info["files"]
    for part in ("train", "valid", "test"):
        ours, theirs = getattr(streamed, part), getattr(memory, part)
        assert ours.shape == theirs.shape
        # the same windows; only the dequantisation noise (< 1 LSB, pre-emphasised) differs
        torch.testing.assert_close(ours[: len(ours)], theirs, atol=1e-4, rtol=0)
    index = torch.tensor([5, 0, 5])
    torch.testing.assert_close(streamed.train[index], streamed.train[:6][[5, 0, 5]])
    mean, std = streamed.train.moments()
    flat = memory.train.reshape(-1, 80)
    torch.testing.assert_close(mean, flat.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(std, flat.std(0), atol=1e-4, rtol=1e-3)
    decoded = sorted(cache.glob("*.f32"))
    assert len(decoded) == 12
    stamps = [f.stat().st_mtime_ns for f in decoded]
    load_data(spec + "&stream=1")  # a second run decodes nothing
    assert [f.stat().st_mtime_ns for f in decoded] == stamps


def test_a_model_trains_and_scores_on_streamed_sequences(tmp_path: Path, cache: Path) -> None:
    from frmdn.experiments import build_pair, train_on_split
    from frmdn.train import TrainConfig

    split = load_data(f"audio:{_folder(tmp_path / 'clips', 12, 2.0)}?length=10&stream=1")
    model = build_pair(80, hidden_size=8, flow_layers=2, flow_hidden=8)["FRMDN"]
    config = TrainConfig(steps=20, batch_size=8, eval_every=10, patience=0)
    row = train_on_split(model, split, config, "streamed", tmp_path / "out")
    assert row.steps == 20 and np.isfinite(row.test_nll)
    assert evaluate_nll(model, split.test) == pytest.approx(row.test_nll)


@pytest.mark.slow
def test_training_on_hours_of_audio_keeps_the_process_small(tmp_path: Path) -> None:
    """4.4 hours of 8 kHz audio (240 MB of WAV, 480 MB decoded as float32): the training
    process's peak memory grows by far less than the decoded size over a tiny folder's."""
    big = _folder(tmp_path / "big", files=24, seconds=655.0)
    # the baseline's valid and test parts fill whole evaluation batches (256 sequences), as
    # the big folder's do: the growth is then what the amount of audio costs
    small = _folder(tmp_path / "small", files=12, seconds=70.0)
    decoded = sum(sf.info(f).frames for f in big.glob("*.wav")) * 4

    def peak_rss(folder: Path) -> int:
        code = (
            "import atexit, re, runpy, sys\n"  # VmHWM: this process's own peak resident memory
            "status = lambda: open('/proc/self/status').read()\n"
            "hwm = lambda: int(re.search(r'VmHWM:\\s+(\\d+)', status())[1])\n"
            "atexit.register(lambda: print('PEAK', hwm() * 1024, file=sys.stderr))\n"
            f"sys.argv = ['frmdn', 'train', '--data', 'audio:{folder}?stream=1', '--out', "
            f"'{tmp_path / folder.name}-out', '--steps', '10', '--eval-every', '10', "
            "'--hidden', '8', '--flow-layers', '2', '--flow-hidden', '8', '--batch-size', '8', "
            "'--quiet']\n"
            "runpy.run_module('frmdn', run_name='__main__')\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=os.environ | {"FRMDN_CACHE": str(tmp_path / "cache"), "FRMDN_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout.splitlines()[-1])["steps"] == 10
        return int(done.stderr.split("PEAK")[-1].split()[0])

    baseline, peak = peak_rss(small), peak_rss(big)
    growth = peak - baseline
    print(f"decoded {decoded / 2**20:.0f} MiB; peak {peak / 2**20:.0f} MiB, growth "
          f"{growth / 2**20:.0f} MiB over a {baseline / 2**20:.0f} MiB baseline")  # fmt: skip
    assert growth < 0.2 * decoded
