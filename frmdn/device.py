"""Where computation runs: the device (CUDA when present, else CPU) and torch's CPU threads.

Torch's intra-op threads default to one per core. As soon as two jobs share the cores they
oversubscribe them, and training slows 10-100x, so everything that trains here sets its thread
count explicitly (:func:`set_threads`).
"""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = [
    "available_cores",
    "default_device",
    "describe_device",
    "idle_cores",
    "on_cpu",
    "set_threads",
]


def default_device() -> torch.device:
    """The best available device: the first CUDA GPU if any, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | str) -> str:
    """A short human-readable name, e.g. ``"CPU (2 cores)"`` or ``"CUDA: NVIDIA H100"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    cores = available_cores()
    return f"CPU ({cores} core{'s' * (cores > 1)})"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def idle_cores() -> int:
    """Cores not busy with other work (by the 1-minute load average), at least 1."""
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):
        busy = 0
    return max(available_cores() - busy, 1)


def set_threads(threads: int) -> int:
    """Use ``threads`` CPU threads for torch's operators in the calling thread; returns it.

    Torch keeps the OpenMP thread count per OS thread, so a worker thread or process must
    call this itself; one inter-op thread is enough for these small sequential models (and
    torch allows setting it only once per process).
    """
    if threads < 1:
        raise ValueError(f"need at least 1 thread, got {threads}")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work has already started
        pass
    return threads


def on_cpu(value: Any) -> Any:
    """``value`` with every tensor in it (nested dicts, lists, tuples) copied to the CPU: what
    a worker sends back, so the server never has to touch a GPU to read it."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: on_cpu(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(on_cpu(v) for v in value)
    return value
