"""Saves stay atomic: a process killed with SIGKILL mid-save leaves the old or the new checkpoint.

A helper process (``sys.executable -c``) imports torch once and forks one saver per round, so a
round costs milliseconds, not an interpreter start. Each saver fills every weight of a model
with the number ``i`` it saves under ``metrics={"i": i}``, so a mix of two saves shows up as
weights that disagree with the config. The test kills the saver either just before or after
each rename a save makes (the saver announces it and waits) or after a random short delay.
"""

from __future__ import annotations

import hashlib
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import frmdn
from frmdn.checkpoints.load import read_metadata
from frmdn.storage import CONFIG_FILE, WEIGHTS_FILE, committed_weights

HIDDEN = 256  # ~0.3 M parameters: a save takes a few milliseconds
RANDOM_KILLS = 30
RENAMES = ("previous", "weights", "config")  # what each rename of a save puts in place
SAVER = r"""
import itertools, os, sys, time
import torch
torch.set_num_threads(1)
from frmdn import RMDN

path, hidden = sys.argv[1], int(sys.argv[2])
model = RMDN(8, 2, hidden_size=hidden)
real_replace = os.replace


def say(text):
    os.write(1, (text + "\n").encode())


def what(destination):
    names = {"model.safetensors": "weights", "config.json": "config"}
    return names.get(os.path.basename(destination), "previous")


def save_until_killed(target, first):
    def replace(source, destination):
        if target == "before-" + what(destination):
            say("ready at " + target)
            time.sleep(60)
        real_replace(source, destination)
        if target == "after-" + what(destination):
            say("ready at " + target)
            time.sleep(60)

    os.replace = replace
    if target == "random":
        say("ready")
    for i in itertools.count(first):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.fill_(float(i))
        model.save(path, metrics={"i": i})
        if target != "random":  # this save made no such rename (an earlier kill did it)
            say("ready, saved")
            time.sleep(60)


for line in iter(sys.stdin.readline, ""):
    pid = os.fork()
    if pid == 0:
        target, first = line.split()
        try:
            save_until_killed(target, int(first))
        finally:
            os._exit(0)
    say(f"pid {pid}")
    os.waitpid(pid, 0)
    say("reaped")
"""


class _Lines:
    """Lines from a pipe, each waited for at most ``timeout`` seconds."""

    def __init__(self, pipe: object, timeout: float = 30.0) -> None:
        self.fd, self.timeout, self.buffer = pipe.fileno(), timeout, b""

    def next(self) -> str:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError("the saver process went quiet")
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise AssertionError("the saver process exited")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


def _check(path: Path) -> int:
    """The ``i`` of the checkpoint in ``path``, checked to be one whole save, never a mix."""
    model = frmdn.load(path)
    i = model.metadata["metrics"]["i"]
    for name, parameter in model.named_parameters():
        assert torch.all(parameter == i), f"{name} is from another save than the config ({i})"
    meta = read_metadata(path)
    weights = committed_weights(path, meta)
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == meta["weights_sha256"]
    return i


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the saver forks (POSIX only)")
def test_saves_killed_at_any_point_leave_a_whole_checkpoint(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    path = tmp_path / "ck"
    torch.manual_seed(0)
    model = frmdn.RMDN(8, 2, hidden_size=HIDDEN)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
    model.save(path, metrics={"i": 0})

    targets = [f"{when}-{what}" for what in RENAMES for when in ("before", "after")] * 2
    targets += ["random"] * RANDOM_KILLS
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(path), str(HIDDEN)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    lines, rng = _Lines(saver.stdout), random.Random(0)
    committed, kills, mid_write, outcomes = 0, 0, 0, set()
    try:
        for target in targets:
            saver.stdin.write(f"{target} {committed + 1}\n".encode())
            saver.stdin.flush()
            pid, ready = None, None
            while pid is None or ready is None:
                line = lines.next()
                assert line != "reaped", "the saver died before it was killed"
                if line.startswith("pid "):
                    pid = int(line.split()[1])
                else:
                    ready = line
            if target == "random":
                time.sleep(rng.uniform(0.0, 0.08))
            os.kill(pid, signal.SIGKILL)
            kills += 1
            assert lines.next() == "reaped"

            mid_write += bool(set(os.listdir(path)) - {CONFIG_FILE, WEIGHTS_FILE})
            i = _check(path)
            assert i >= committed, "a kill lost an earlier, committed save"
            if target != "random":  # only the config's rename commits a save
                new = target == "after-config" or ready == "ready, saved"
                assert i == (committed + 1 if new else committed), (target, ready, i)
                outcomes.add((target, "new" if i > committed else "old"))
            committed = i
    finally:
        saver.stdin.close()
        saver.kill()
        saver.wait(timeout=30)

    assert outcomes >= {
        ("after-weights", "old"),
        ("before-config", "old"),
        ("after-config", "new"),
    }
    assert mid_write >= 10, f"only {mid_write} of {kills} kills landed inside a save"
    print(
        f"{kills} kills survived, {mid_write} of them mid-write; last committed save {committed}"
    )
    model.save(path, metrics={"i": -1})  # the next save clears what killed ones left behind
    assert sorted(os.listdir(path)) == [CONFIG_FILE, WEIGHTS_FILE]
