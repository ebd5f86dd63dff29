"""Smoke test: the bench scripts run with ``--quick`` and write their JSON results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

EXPECTED = {
    "bench_distributed": {"machine", "run", "throughput"},
    "bench_mixture": {"machine", "config", "log_prob_vs_reference", "flop_rate", "rank_table"},
    "bench_training": {"machine", "run", "training", "generation", "targets"},
    "bench_worlds": {"machine", "run", "collection", "dream"},
    "coupling_bounds": {"machine", "run", "checkpoints"},
    "lowrank_diagnosis": {"machine", "run", "runs"},
    "mixture_fit": {"machine", "run", "fits"},
    "unseen_voices": {"machine", "run", "voices"},
    "voice_levers": {"machine", "run", "rmdn", "rmdn_grid_check", "levers"},
    "voicing": {"machine", "run", "real", "speech-frmdn T=1"},
}


LONG = {"bench_distributed"}  # two processes and torch.distributed: half a minute


@pytest.mark.parametrize(
    "script",
    [pytest.param(s, marks=pytest.mark.long) if s in LONG else s for s in sorted(EXPECTED)],
)
def test_bench_quick(script: str, tmp_path: Path) -> None:
    result_file = tmp_path / f"{script}.json"  # leave bench/results/ (full runs) alone
    # one thread: on a busy 2-core machine two OpenMP threads can make tiny ops 30x slower
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / f"{script}.py"),
            "--quick",
            "--threads",
            "1",
            "--out",
            str(result_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(result_file.read_text())
    assert EXPECTED[script] <= results.keys()
    assert {"torch", "threads", "cpu_model"} <= results["machine"].keys()
    assert results["config" if script == "bench_mixture" else "run"]["quick"] is True
