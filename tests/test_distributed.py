"""Training with DistributedDataParallel under torchrun: two CPU processes (gloo, loopback)
take the same steps as one process with the same global batch and seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from frmdn import load
from frmdn.checkpoints.load import read_metadata
from frmdn.cli.main import main
from frmdn.training.distributed import Distributed

ARGS = [
    "train", "--data", "toy:ring", "--model", "frmdn", "--steps", "30", "--eval-every", "10",
    "--patience", "0", "--hidden", "16", "--components", "2", "--flow-layers", "2",
    "--flow-hidden", "16", "--batch-size", "32", "--seed", "5", "--quiet",
]  # fmt: skip


def test_two_processes_train_exactly_as_one_with_the_same_global_batch(tmp_path: Path) -> None:
    single, double = tmp_path / "single", tmp_path / "ddp"
    assert main([*ARGS, "--out", str(single)]) == 0
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "frmdn",
            *ARGS,
            "--out",
            str(double),
        ],  # fmt: skip
        env=os.environ | {"FRMDN_THREADS": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count('"checkpoint"') == 1  # rank 0 alone reports and writes
    one, two = load(single).state_dict(), load(double).state_dict()
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)
    for checkpoint in (single, double):
        assert read_metadata(checkpoint)["metrics"]["steps"] == 30


def test_a_global_batch_is_split_into_equal_contiguous_shards() -> None:
    index = torch.arange(8)
    shards = [Distributed(rank, 4, rank).shard(index) for rank in range(4)]
    assert [s.tolist() for s in shards] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    try:
        Distributed(0, 3, 0).shard(index)
    except ValueError as error:
        assert "does not split evenly over 3 processes" in str(error)
    else:
        raise AssertionError("an uneven batch was accepted")
