"""Tests of frmdn.models.vae: shapes, ranges, training, coding and safe save/load of the frame
VAE."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from frmdn import CheckpointError
from frmdn.models.vae import (
    FrameVAE,
    VAEConfig,
    decode_latents,
    encode_frames,
    load_vae,
    train_vae,
)

TINY = VAEConfig(size=16, latent_dim=4, channels=(4, 8))
CONFIG, WEIGHTS = "config.json", "model.safetensors"
ROOT = Path(__file__).resolve().parents[1]


def _frames(n: int = 6, t: int = 3, size: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 (n, t, size, size): a bright square at a random place on a dark background."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, t, size, size), dtype=np.uint8)
    for i in range(n):
        for j in range(t):
            r, c = rng.integers(0, size - 5, size=2)
            frames[i, j, r : r + 5, c : c + 5] = 255
    return frames


def _vae(config: VAEConfig = TINY, seed: int = 0) -> FrameVAE:
    torch.manual_seed(seed)
    return FrameVAE(config).eval()


@pytest.mark.parametrize(
    "config",
    [
        TINY,
        VAEConfig(size=16, latent_dim=3, channels=(5,)),
        VAEConfig(size=24, channels=(4, 4, 4)),
    ],
    ids=["two-layers", "one-layer", "three-layers"],
)
def test_shapes_and_ranges(config: VAEConfig) -> None:
    vae = _vae(config)
    s, d = config.size, config.latent_dim
    frames = torch.rand(2, 3, s, s)
    mean, logvar = vae.encode(frames)
    assert mean.shape == logvar.shape == (2, 3, d)
    assert torch.isfinite(mean).all() and torch.isfinite(logvar).all()
    decoded = vae.decode(torch.randn(5, d) * 3)
    assert decoded.shape == (5, s, s)
    assert decoded.min() >= 0 and decoded.max() <= 1
    assert vae(frames[0]).shape == (3, s, s)
    loss = vae.loss(frames)
    assert loss.dim() == 0 and loss.item() > 0


def test_gradients_reach_every_parameter() -> None:
    vae = _vae().train()
    vae.loss(torch.rand(4, 16, 16)).backward()
    for name, parameter in vae.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bad_inputs_are_refused() -> None:
    vae = _vae()
    with pytest.raises(ValueError, match="16, 16"):
        vae.encode(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="floats"):
        vae.encode(torch.zeros(2, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="latents"):
        vae.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="divisible"):
        VAEConfig(size=18, channels=(4, 8))
    with pytest.raises(ValueError, match="beta"):
        VAEConfig(beta=0.0)
    with pytest.raises(ValueError, match="uint8"):
        train_vae(np.zeros((2, 16, 16), dtype=np.float32), TINY, steps=1)
    with pytest.raises(ValueError, match="expects 16"):
        train_vae(np.zeros((2, 8, 8), dtype=np.uint8), TINY, steps=1)


def test_training_lowers_the_loss_and_is_reproducible() -> None:
    frames = _frames(8, 4)
    seen: list[tuple[int, float]] = []
    options = dict(steps=30, batch_size=8, lr=5e-3, device="cpu")
    vae, losses = train_vae(frames, TINY, **options, callback=lambda *a: seen.append(a))
    assert len(losses) == 30 and [s for s, _ in seen] == list(range(1, 31))
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])
    assert not vae.training
    again, losses_again = train_vae(frames, TINY, **options)
    assert losses == losses_again
    for a, b in zip(vae.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_training_stops_when_asked() -> None:
    calls = iter(range(100))
    _, losses = train_vae(
        _frames(2, 2)[:, 0], TINY, steps=50, device="cpu", should_stop=lambda: next(calls) >= 3
    )
    assert len(losses) == 3


def test_encode_frames_and_decode_latents() -> None:
    vae = _vae().train()
    frames = _frames(3, 5)
    z = encode_frames(vae, frames, batch_size=4)
    assert z.shape == (3, 5, 4) and z.dtype == torch.float32 and not z.requires_grad
    assert vae.training  # the mode is restored
    expected = vae.eval().encode(torch.from_numpy(frames).float() / 255)[0]
    torch.testing.assert_close(z, expected)
    decoded = decode_latents(vae, z, batch_size=4)
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert encode_frames(vae, frames[:0]).shape == (0, 5, 4)
    with pytest.raises(ValueError, match="uint8"):
        encode_frames(vae, frames[0])
    with pytest.raises(ValueError, match="latents"):
        decode_latents(vae, z[0])


# --------------------------------------------------------------------------------- save / load
def _assert_same(a: FrameVAE, b: FrameVAE) -> None:
    assert a.config == b.config
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert x.dtype == y.dtype and torch.equal(x, y), name
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(3, a.config.size, a.config.size, generator=generator)
    with torch.no_grad():
        assert torch.equal(a(frames), b(frames))


def test_round_trip_is_bit_exact_and_pickle_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vae = _vae(VAEConfig(size=16, latent_dim=5, channels=(3, 6), beta=0.5))
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = vae.save(tmp_path / "vae", metrics={"loss": float("nan")}, data={"name": "x"})
    assert sorted(p.name for p in path.iterdir()) == [CONFIG, WEIGHTS]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_vae must never unpickle")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    loaded = load_vae(path)
    monkeypatch.undo()
    _assert_same(vae, loaded)
    assert not loaded.training
    assert loaded.metadata["metrics"] == {"loss": None} and loaded.metadata["data"]["name"] == "x"
    meta = json.loads((path / CONFIG).read_text())
    assert meta["format"] == "frmdn-vae" and meta["config"]["channels"] == [3, 6]
    header = (path / WEIGHTS).read_bytes()[8:9]  # safetensors: u64 length, then JSON
    assert header == b"{"


def test_save_refuses_non_finite_weights(tmp_path: Path) -> None:
    vae = _vae()
    with torch.no_grad():
        next(vae.parameters())[0].fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite"):
        vae.save(tmp_path / "vae")
    assert not (tmp_path / "vae" / CONFIG).exists()


def _edit_config(path: Path, **changes: object) -> None:
    meta = json.loads((path / CONFIG).read_text())
    for key, value in changes.items():
        if key in meta["config"]:
            meta["config"][key] = value
        else:
            meta[key] = value
    (path / CONFIG).write_text(json.dumps(meta))


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("pwned",))


@pytest.mark.parametrize(
    "damage",
    [
        "missing",
        "not-json",
        "wrong-format",
        "wrong-version",
        "wrong-class",
        "unknown-setting",
        "bad-setting",
        "huge-setting",
        "no-weights",
        "flipped-byte",
        "pickle-weights",
        "wrong-shapes",
        "nan-weights",
        "extra-key",
    ],
)
def test_hostile_or_corrupt_files_are_refused(tmp_path: Path, damage: str) -> None:
    path = _vae().save(tmp_path / "vae")
    weights = path / WEIGHTS
    state = load_vae(path).state_dict()

    def replace_weights(new_state: dict) -> None:
        save_file(new_state, str(weights))
        import hashlib

        _edit_config(path, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())

    if damage == "missing":
        (path / CONFIG).unlink()
    elif damage == "not-json":
        (path / CONFIG).write_bytes(b"\x80\x04not json")
    elif damage == "wrong-format":
        _edit_config(path, format="frmdn-checkpoint")
    elif damage == "wrong-version":
        _edit_config(path, format_version=99)
    elif damage == "wrong-class":
        _edit_config(path, model_class="os.system")
    elif damage == "unknown-setting":
        _edit_config(path, config={**json.loads((path / CONFIG).read_text())["config"], "x": 1})
    elif damage == "bad-setting":
        _edit_config(path, latent_dim="4; rm -rf /")
    elif damage == "huge-setting":
        _edit_config(path, channels=[1024] * 6, size=256)
    elif damage == "no-weights":
        weights.unlink()
    elif damage == "flipped-byte":
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "pickle-weights":
        weights.write_bytes(pickle.dumps(_Evil()))
        import hashlib

        _edit_config(path, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    elif damage == "wrong-shapes":
        replace_weights({k: torch.zeros(v.numel() + 1) for k, v in state.items()})
    elif damage == "nan-weights":
        replace_weights({k: torch.full_like(v, float("nan")) for k, v in state.items()})
    elif damage == "extra-key":
        replace_weights(state | {"evil": torch.zeros(1)})
    with pytest.raises(CheckpointError):
        load_vae(path)


@pytest.mark.parametrize("scene", ["moving-digits", "bouncing-balls"])
def test_bundled_vaes_load_and_reconstruct(scene: str) -> None:
    from frmdn.data.frames import load_frames

    path = ROOT / "assets" / "pretrained" / f"vae-{scene}"
    assert sum(f.stat().st_size for f in path.iterdir()) < 2_000_000
    vae = load_vae(path)
    assert vae.config.size == 48 and 8 <= vae.config.latent_dim <= 32
    frames = load_frames(scene, n_train=1, n_valid=1, n_test=2, length=16, seed=3).test
    decoded = decode_latents(vae, encode_frames(vae, frames))
    error = np.abs(decoded.astype(float) - frames).mean(axis=(-2, -1))  # (2, 16)
    blank = frames.astype(float).mean(axis=(-2, -1))  # the error of an all-black guess
    assert (error < 0.8 * blank).all()  # every frame, all along the sequences
    assert error.mean() < 0.5 * blank.mean()


# ----------------------------------------------------------------------------- colour frames
RGB = VAEConfig(size=16, latent_dim=4, channels=(4, 8), colors=3)


def test_an_rgb_vae_codes_and_decodes_frames_with_their_colours() -> None:
    torch.manual_seed(0)
    vae = FrameVAE(RGB)
    frames = torch.rand(2, 3, 16, 16, 3)
    mean, logvar = vae.encode(frames)
    assert mean.shape == logvar.shape == (2, 3, 4)
    assert vae.decode(mean).shape == (2, 3, 16, 16, 3)
    swapped = frames[..., [2, 1, 0]]  # the same pixels, red and blue exchanged
    assert not torch.allclose(vae.encode(swapped)[0], mean)
    with pytest.raises(ValueError, match=r"\(\.\.\., 16, 16, 3\)"):
        vae.encode(torch.rand(2, 16, 16))
    assert RGB.frame_shape == (16, 16, 3) and VAEConfig().frame_shape == (48, 48)


def test_an_rgb_vae_learns_which_colour_a_frame_has() -> None:
    """Frames of one pure colour each: after training, each decodes to its own colour."""
    colours = np.array([[230, 20, 20], [20, 230, 20], [20, 20, 230]], np.uint8)
    frames = np.broadcast_to(colours[:, None, None, :], (3, 16, 16, 3)).copy()
    vae, losses = train_vae(frames, RGB, steps=600, batch_size=6, lr=1e-2, seed=0, device="cpu")
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    decoded = decode_latents(vae, encode_frames(vae, frames[None]))[0]  # (3, 16, 16, 3)
    assert decoded.shape == (3, 16, 16, 3) and decoded.dtype == np.uint8
    assert list(decoded.mean(axis=(1, 2)).argmax(-1)) == [0, 1, 2]


def test_an_rgb_vae_round_trips_and_older_configs_read_as_greyscale(tmp_path: Path) -> None:
    vae = FrameVAE(RGB)
    loaded = load_vae(vae.save(tmp_path / "rgb"))
    assert loaded.config == RGB
    for a, b in zip(vae.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    older = VAEConfig(size=16, latent_dim=4, channels=(4, 8)).to_dict()
    del older["colors"]
    assert VAEConfig.from_dict(older).colors == 1
    for bad in (2, 0, True):
        with pytest.raises(ValueError, match="colors"):
            VAEConfig(colors=bad)


def test_a_vae_saved_in_half_precision_reads_back_as_float32_of_the_rounded_weights(
    tmp_path: Path,
) -> None:
    vae = FrameVAE(RGB)
    full = vae.save(tmp_path / "full")
    half = vae.save(tmp_path / "half", half=True)
    assert (half / "model.safetensors").stat().st_size < 0.6 * (
        full / "model.safetensors"
    ).stat().st_size
    loaded = load_vae(half)
    for name, weight in vae.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == torch.float32
        assert torch.equal(got, weight.half().float())
    with torch.no_grad():
        next(vae.parameters()).fill_(1e6)  # beyond float16's range
    with pytest.raises(CheckpointError, match="float16"):
        vae.save(tmp_path / "huge", half=True)
