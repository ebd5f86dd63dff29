""" "Compare your own checkpoint": a zipped checkpoint uploaded on any page, scored beside the
pretrained RMDN and FRMDN on the page's held-out data.

The archive is read in memory by :func:`frmdn.load_archive` (validated, never unpickled); a
refused one gets a one-line error and the page carries on. The loaded model and its scores
live in ``st.session_state`` under the upload's SHA-256, and go when the upload is removed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pandas as pd
import streamlit as st

import frmdn
from frmdn import SequenceDensityModel
from frmdn.checkpoints.archive import MAX_ARCHIVE_BYTES
from ui.formats import number_style
from ui.training import session_device

__all__ = ["checkpoint_upload"]

HOW_TO = (
    "Zip a checkpoint directory, the `config.json` and `model.safetensors` that "
    "`model.save(path)` or `python -m frmdn train --out path` write (for example "
    f"`zip -r mine.zip path`), and upload it here (at most {MAX_ARCHIVE_BYTES // 2**20} MB). "
    "It is read in memory, checked as `frmdn.load` checks a directory, and never unpickled."
)


def _load(data: bytes, digest: str, expect: dict, device: str) -> dict:
    """This session's entry for an upload: the model on ``device``, or the reason it was
    refused."""
    entry = {"digest": digest, "device": device}
    try:
        return entry | {
            "model": frmdn.load_archive(data, expect=expect, device=device),
            "scores": {},
        }
    except frmdn.CheckpointError as error:
        return entry | {"error": str(error)}


def _row(model: SequenceDensityModel, score: float, metric: str) -> dict:
    """One table row: what the model is, its score and what its checkpoint records."""
    data = model.metadata.get("data")
    spec = data.get("spec") if isinstance(data, dict) else None
    return {
        "class": type(model).__name__,
        "parameters": model.num_parameters()["total"],
        metric: score,
        "trained on": spec if isinstance(spec, str) else "not recorded",
        "library version": str(model.metadata.get("library_version", "not recorded")),
    }


def checkpoint_upload(
    key: str,
    *,
    expect: dict,
    evaluate: Callable[[SequenceDensityModel], float],
    pretrained: Callable[[], dict[str, SequenceDensityModel]],
    data_label: str,
    metric: str = "held-out NLL (nats/step)",
) -> None:
    """An expander where a user uploads a zipped checkpoint and compares it with the page's
    pretrained pair.

    Arguments:
        key: Prefix of the widget and session-state keys (one per page).
        expect: What the page needs, passed to :func:`frmdn.load_archive`, e.g.
            ``{"kind": "toy", "dim": 2}``; an unconditional model (``cond_dim = 0``) is always
            required, since ``evaluate`` gets no inputs.
        evaluate: A model's score on the page's held-out data (lower is better).
        pretrained: The pretrained models by name; may raise CheckpointError or OSError when
            they are not bundled, and the table then shows the upload alone.
        data_label: The held-out data ``evaluate`` scores on, for the caption; scores are kept
            per label, so a page that changes its data rescores.
        metric: Column name of the score.
    """
    with st.expander("Compare your own checkpoint", icon=":material/upload_file:"):
        st.caption(HOW_TO)
        upload = st.file_uploader(
            "Checkpoint archive (.zip)", type=["zip"], key=f"{key}_checkpoint_file"
        )
        slot = f"{key}_checkpoint"
        if upload is None:
            st.session_state.pop(slot, None)  # frees the model of a removed upload
            return
        data = upload.getvalue()
        digest, device = hashlib.sha256(data).hexdigest(), session_device()
        entry = st.session_state.get(slot)
        if entry is None or (entry["digest"], entry["device"]) != (digest, device):
            st.session_state.pop(slot, None)
            entry = st.session_state[slot] = _load(data, digest, {"cond_dim": 0} | expect, device)
        if "error" in entry:
            st.error(f"Cannot use {upload.name}: {entry['error']}", icon=":material/block:")
            return
        if data_label not in entry["scores"]:
            try:
                models = {"your checkpoint": entry["model"]} | {
                    f"pretrained {name}": model for name, model in pretrained().items()
                }
            except (frmdn.CheckpointError, OSError):
                models = {"your checkpoint": entry["model"]}
            with st.spinner("Scoring on the held-out data ..."):
                try:
                    entry["scores"][data_label] = {
                        name: _row(model, evaluate(model), metric)
                        for name, model in models.items()
                    }
                except (RuntimeError, ValueError) as error:
                    st.error(f"Cannot score {upload.name}: {error}", icon=":material/block:")
                    return
        table = pd.DataFrame.from_dict(entry["scores"][data_label], orient="index")
        st.dataframe(number_style(table), width="stretch")
        st.caption(f"{metric} on {data_label}; lower is better.")
