"""The page's models follow the sidebar's device; workers send CPU tensors back.

No GPU is needed: PyTorch's "meta" device stands in for a second device.
"""

import torch

import ui.pretrained
from frmdn.device import on_cpu
from frmdn.experiments.pair import build_pair


def _pair() -> dict:
    return build_pair(2, n_components=2, rank=1, hidden_size=8, flow_layers=1, seed=0)


def test_a_pair_trained_here_moves_to_the_session_device(monkeypatch):
    monkeypatch.setattr(ui.pretrained, "session_device", lambda: "meta")
    run = {"models": _pair(), "live": object(), "source": "trained"}
    ui.pretrained.place_on_session_device(run)
    assert run["source"] == "trained"
    for model in run["models"].values():
        assert {p.device.type for p in model.parameters()} == {"meta"}


def test_a_shared_pretrained_pair_is_dropped_not_moved(monkeypatch):
    monkeypatch.setattr(ui.pretrained, "session_device", lambda: "meta")
    shared = _pair()
    run = {"models": shared, "source": "pretrained"}
    ui.pretrained.place_on_session_device(run)
    assert run == {}  # the page loads the copy for the new device
    for model in shared.values():  # other sessions still hold these
        assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_models_already_on_the_device_stay_as_they_are(monkeypatch):
    monkeypatch.setattr(ui.pretrained, "session_device", lambda: "cpu")
    models = _pair()
    run = {"models": models, "source": "pretrained"}
    ui.pretrained.place_on_session_device(run)
    assert run["models"] is models


def test_on_cpu_reaches_every_nested_tensor_and_keeps_the_rest():
    weight = torch.ones(2, requires_grad=True)
    value = {"a": weight, "b": [torch.zeros(1), 3, "x"], "c": (weight,)}
    moved = on_cpu(value)
    assert set(moved) == {"a", "b", "c"} and moved["b"][1:] == [3, "x"]
    for tensor in (moved["a"], moved["b"][0], moved["c"][0]):
        assert tensor.device.type == "cpu" and not tensor.requires_grad
    assert type(moved["c"]) is tuple
