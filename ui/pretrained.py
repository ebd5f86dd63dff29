"""The bundled pretrained RMDN/FRMDN pairs, loaded once per device and shared read-only by
every session, and the move of a page's models onto the device the sidebar names."""

from __future__ import annotations

import streamlit as st
import torch

import frmdn
from frmdn.resources import pretrained_dir
from ui.training import session_device, trained_here

__all__ = ["PRETRAINED", "MODELS", "pretrained_pair", "place_on_session_device", "use_pretrained"]

PRETRAINED = pretrained_dir()  # $FRMDN_DATA_DIR, else the installed or checkout assets
MODELS = ("RMDN", "FRMDN")


@st.cache_resource(show_spinner="Loading the pretrained models…", max_entries=32)
def _pair_on(prefix: str, device: str) -> dict[str, frmdn.SequenceDensityModel]:
    return {m: frmdn.load(PRETRAINED / f"{prefix}-{m.lower()}", device=device) for m in MODELS}


def pretrained_pair(prefix: str) -> dict[str, frmdn.SequenceDensityModel]:
    """The bundled pair ``assets/pretrained/{prefix}-rmdn`` and ``-frmdn`` (e.g. prefix
    ``toy-ring``) on this session's device.

    Raises:
        frmdn.CheckpointError, OSError: a missing or broken checkpoint.
    """
    return _pair_on(prefix, session_device())


def use_pretrained(run: dict, models: dict[str, frmdn.SequenceDensityModel], spec: str) -> None:
    """Make ``run`` the bundled pair ``models`` (trained on ``spec``): its source and each
    model's recorded training time."""
    run.clear()
    run.update(
        models=models,
        pretrained=True,
        source=f"pretrained on {spec} (assets/pretrained)",
        seconds={
            m: model.metadata.get("metrics", {}).get("seconds", float("nan"))
            for m, model in models.items()
        },
    )


def place_on_session_device(run: dict) -> None:
    """Keep ``run``'s models on the sidebar's device: a pair trained in this session moves
    there; a pretrained pair on another device is dropped, so the page loads the shared copy
    for the new device (moving the shared one would move it under every other session)."""
    models = run.get("models")
    if not models:
        return
    device = torch.empty(0, device=session_device()).device  # "cuda" resolved to "cuda:0"
    if all(m.start.device == device for m in models.values()):
        return
    if trained_here(run):
        for model in models.values():
            model.to(device)
    else:
        run.clear()
