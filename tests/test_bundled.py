"""Every bundled checkpoint loads as it did before the library's modules moved, and the toy
pairs still score exactly the test NLL their checkpoint recorded when they were trained."""

import json

import pytest
import torch

import frmdn
from frmdn.data import load_data
from frmdn.models.episode_end import load_episode_end
from frmdn.models.vae import load_vae
from frmdn.resources import pretrained_dir

PRETRAINED = pretrained_dir()
BUNDLED = sorted(p.name for p in PRETRAINED.iterdir() if (p / "config.json").is_file())


def _format(name: str) -> str:
    return json.loads((PRETRAINED / name / "config.json").read_text())["format"]


def test_the_bundle_holds_every_family():
    assert len(BUNDLED) >= 20
    assert {_format(n) for n in BUNDLED} == {"frmdn-checkpoint", "frmdn-vae", "frmdn-episode-end"}


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_checkpoint_loads(name):
    if _format(name) == "frmdn-vae":
        vae = load_vae(PRETRAINED / name)
        assert sum(p.numel() for p in vae.parameters()) > 0
        return
    if _format(name) == "frmdn-episode-end":
        assert load_episode_end(PRETRAINED / name).metadata["metrics"]["auc"] > 0.5
        return
    model = frmdn.load(PRETRAINED / name)
    assert type(model).__name__ == ("FRMDN" if name.endswith("-frmdn") else "RMDN")
    assert model.metadata["data"]["spec"]


@pytest.mark.parametrize("name", [n for n in BUNDLED if n.startswith("toy-")])
def test_bundled_toy_models_score_what_they_recorded(name):
    torch.set_num_threads(1)
    model = frmdn.load(PRETRAINED / name)
    data = model.metadata["data"]
    split = load_data(data["spec"], seed=data["seed"])
    recorded = model.metadata["metrics"]["test_nll"]
    assert frmdn.evaluate_nll(model, split.test) == pytest.approx(recorded, abs=1e-5)
