"""AppTest of "Compare your own checkpoint" on the toy page: a good zip is scored beside the
pretrained pair, a hostile one gets an error while the page keeps running, and removing the
upload frees the loaded model."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from apptest_pages import open_page

PRETRAINED = Path(__file__).resolve().parents[1] / "assets" / "pretrained"
UPLOADER = "toy_checkpoint_file"
NLL = "held-out NLL (nats/step)"

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _checkpoint_zip(name: str) -> bytes:
    """A bundled checkpoint directory zipped with its folder, as ``zip -r`` would."""
    return _zip({f"{name}/{f.name}": f.read_bytes() for f in (PRETRAINED / name).iterdir()})


@pytest.mark.skipif(not (PRETRAINED / "toy-ring-rmdn").is_dir(), reason="no pretrained models")
def test_uploads_on_the_toy_page() -> None:
    torch.set_num_threads(1)
    at = open_page("pages/toy.py", timeout=120)
    scoreboard = at.dataframe[-1].value
    assert "toy_checkpoint" not in at.session_state

    good = _checkpoint_zip("toy-ring-rmdn")
    at.file_uploader(key=UPLOADER).set_value(("mine.zip", good, "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    table = at.dataframe[-1].value
    assert list(table.index) == ["your checkpoint", "pretrained RMDN", "pretrained FRMDN"]
    assert table.loc["your checkpoint", "class"] == "RMDN"
    assert table.loc["your checkpoint", "trained on"] == "toy:ring"
    written_by = json.loads((PRETRAINED / "toy-ring-rmdn" / "config.json").read_text())
    assert table.loc["your checkpoint", "library version"] == written_by["library_version"]
    assert table.loc["your checkpoint", "parameters"] == scoreboard.loc["RMDN", "parameters"]
    # the upload is the pretrained RMDN, scored on the same held-out sequences
    assert table.loc["your checkpoint", NLL] == pytest.approx(scoreboard.loc["RMDN", NLL])
    assert table.loc["pretrained FRMDN", NLL] == pytest.approx(scoreboard.loc["FRMDN", NLL])
    assert at.session_state["toy_checkpoint"]["digest"] == hashlib.sha256(good).hexdigest()

    hostile = _zip({"../config.json": b"{}", "model.safetensors": b"\0" * 8})
    at.file_uploader(key=UPLOADER).set_value(("evil.zip", hostile, "application/zip")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Cannot use evil.zip: unsafe file name '../config.json' in the archive"
    ]
    assert "model" not in at.session_state["toy_checkpoint"]  # the good upload's model is gone
    assert at.dataframe[-1].value.index.tolist() == ["RMDN", "FRMDN"]  # the page carried on

    wrong = _checkpoint_zip("images-digits-rmdn")
    at.file_uploader(key=UPLOADER).set_value(("digits.zip", wrong, "application/zip")).run()
    assert "it needs kind = 'toy', the checkpoint has kind = 'images'" in at.error[0].value

    at.file_uploader(key=UPLOADER).set_value(None).run()
    assert not at.exception and not at.error
    assert "toy_checkpoint" not in at.session_state
