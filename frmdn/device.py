"""Device selection: CUDA when present, else CPU, so the same code runs everywhere."""

from __future__ import annotations

import torch

__all__ = ["default_device", "describe_device"]


def default_device() -> torch.device:
    """The best available device: the first CUDA GPU if any, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | str) -> str:
    """A short human-readable name, e.g. ``"CPU (2 threads)"`` or ``"CUDA: NVIDIA H100"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
