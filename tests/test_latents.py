"""Tests of frmdn.data.latents: frame sequences as VAE latent sequences (the frames: spec)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import frmdn.data.latents as latents
from frmdn import CheckpointError
from frmdn.data import SCHEMES, load_data
from frmdn.data.frames import load_frames
from frmdn.data.latents import bundled_vae, load_frame_latents, resolve_vae_path
from frmdn.models.vae import FrameVAE, VAEConfig, encode_frames, load_vae

TINY = VAEConfig(size=16, latent_dim=3, channels=(4, 8))


@pytest.fixture
def tiny_vae(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return FrameVAE(TINY).save(tmp_path / "vae")


def test_latents_with_a_given_vae(tiny_vae: Path) -> None:
    options = dict(length=5, size=16, n_train=4, n_valid=2, n_test=3, seed=1)
    split = load_frame_latents("bouncing-balls", vae=str(tiny_vae), **options)
    assert split.train.shape == (4, 5, 3) and split.valid.shape == (2, 5, 3)
    assert split.test.shape == (3, 5, 3) and split.train.dtype == torch.float32
    assert split.name == "bouncing-balls"
    info = split.info
    assert info["kind"] == "frames" and info["vae"] == str(tiny_vae)
    assert (info["latent_dim"], info["size"], info["length"]) == (3, 16, 5)
    frames = load_frames("bouncing-balls", **options)
    expected = encode_frames(load_vae(tiny_vae), frames.test)
    assert torch.equal(split.test, expected)


def test_size_must_match_the_vae(tiny_vae: Path) -> None:
    with pytest.raises(ValueError, match="size=16"):
        load_frame_latents("bouncing-balls", vae=str(tiny_vae), size=24, n_train=1, n_valid=1)


def test_a_broken_vae_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError):
        load_frame_latents("moving-digits", vae=str(tmp_path), length=2, n_train=1)


def test_bundled_vaes_are_the_default() -> None:
    assert bundled_vae("moving-digits") == "assets/pretrained/vae-moving-digits"
    assert resolve_vae_path(bundled_vae("bouncing-balls")).is_dir()
    with pytest.raises(ValueError, match="no bundled VAE"):
        bundled_vae("clip.mp4")


def test_frames_spec_through_load_data() -> None:
    assert "frames" in SCHEMES
    split = load_data("frames:moving-digits?length=8&n_train=8&n_valid=4&n_test=4")
    d = split.info["latent_dim"]
    assert split.train.shape == (8, 8, d) and split.test.shape == (4, 8, d)
    assert split.info["vae"] == "assets/pretrained/vae-moving-digits"
    assert torch.isfinite(split.train).all()
    with pytest.raises(ValueError, match="unknown option"):
        load_data("frames:moving-digits?frame=3")


def test_a_video_without_a_vae_gets_one_trained_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    av = pytest.importorskip("av")
    video = tmp_path / "clip.mp4"
    with av.open(str(video), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for t in range(30):
            image = np.zeros((32, 32, 3), dtype=np.uint8)
            image[8:16, t % 24 : t % 24 + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    monkeypatch.setenv("FRMDN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(latents, "VIDEO_VAE", {"latent_dim": 3, "channels": (4, 8)})
    monkeypatch.setattr(latents, "VIDEO_VAE_STEPS", 5)
    split = load_frame_latents(str(video), length=5, size=16)
    assert split.train.shape[1:] == (5, 3) and len(split.valid) >= 1 and len(split.test) >= 1
    assert "trained a small VAE" in " ".join(split.info["notes"])
    assert load_vae(split.info["vae"]).config.latent_dim == 3
    again = load_frame_latents(str(video), length=5, size=16)
    assert "reused" in " ".join(again.info["notes"])
    assert torch.equal(again.train, split.train)
    via_spec = load_data(f"video:{video}?length=5&size=16")  # the CLI's spelling
    assert torch.equal(via_spec.train, split.train)


@pytest.mark.parametrize("scene", ["moving-digits", "bouncing-balls"])
def test_pretrained_latent_models_record_frmdn_beating_rmdn(scene: str) -> None:
    import frmdn
    from frmdn.models.vae import decode_latents

    root = Path(__file__).resolve().parents[1] / "assets" / "pretrained"
    models = {kind: frmdn.load(root / f"frames-{scene}-{kind}") for kind in ("rmdn", "frmdn")}
    for kind, model in models.items():
        assert sum(f.stat().st_size for f in (root / f"frames-{scene}-{kind}").iterdir()) < 2e6
        assert model.metadata["data"]["spec"] == f"frames:{scene}?n_train=8192"
        assert model.metadata["data"]["sizes"]["train"] == 8192
    nll = {kind: m.metadata["metrics"]["test_nll"] for kind, m in models.items()}
    assert nll["frmdn"] < nll["rmdn"]
    info = models["frmdn"].metadata["data"]["info"]
    vae = load_vae(resolve_vae_path(info["vae"]))
    assert models["frmdn"].config.dim == vae.config.latent_dim == info["latent_dim"]
    prime = load_data(f"frames:{scene}?length=3&n_train=2&n_valid=1&n_test=1").test
    torch.manual_seed(0)
    with torch.no_grad():
        z = models["frmdn"].sample(1, 2, prime=prime)
    frames = decode_latents(vae, torch.cat([prime, z], dim=1))
    assert frames.shape == (1, 5, 48, 48) and frames.dtype == np.uint8


# --------------------------------------------------------------------------------- streamed
def _clip(path: Path, count: int) -> Path:
    """``count`` frames of MPEG-4, 32 × 32: a bright square moving right."""
    av = pytest.importorskip("av")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for t in range(count):
            image = np.zeros((32, 32, 3), dtype=np.uint8)
            image[8:16, t % 24 : t % 24 + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_a_long_video_streams_the_latents_of_the_in_memory_path(
    tiny_vae: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRMDN_CACHE", str(tmp_path / "cache"))
    video = _clip(tmp_path / "clip.mp4", 60)
    monkeypatch.setattr(latents, "MAX_FRAMES", 40)  # "long": streamed by default
    monkeypatch.setattr(latents, "ENCODE_FRAMES", 12)  # encoded two windows at a time
    streamed = load_data(f"video:{video}?length=5&size=16&vae={tiny_vae}")
    memory = load_data(f"video:{video}?length=5&size=16&vae={tiny_vae}&stream=0")
    assert streamed.info["streamed"] and "streamed" not in memory.info
    assert len(list((tmp_path / "cache").glob("*.bin"))) == 1
    same = {k: v for k, v in streamed.info.items() if k not in ("streamed", "notes")}
    assert same == {k: v for k, v in memory.info.items() if k != "notes"}
    assert streamed.info["notes"][:-1] == memory.info["notes"]  # + where the frames came from
    for part in ("train", "valid", "test"):
        ours, theirs = getattr(streamed, part), getattr(memory, part)
        assert ours.shape == theirs.shape and ours.dtype == torch.float32
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    short = load_frame_latents(str(video), vae=str(tiny_vae), length=5, size=16, stream=-1)
    assert short.info["streamed"]
    monkeypatch.setattr(latents, "MAX_FRAMES", 600)
    assert "streamed" not in load_frame_latents(str(video), vae=str(tiny_vae), size=16).info
    with pytest.raises(ValueError, match="stream must be"):
        load_frame_latents(str(video), vae=str(tiny_vae), size=16, stream=3)


def test_a_streamed_video_trains_its_vae_on_evenly_spaced_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRMDN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FRMDN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(latents, "VIDEO_VAE", {"latent_dim": 3, "channels": (4, 8)})
    monkeypatch.setattr(latents, "VIDEO_VAE_STEPS", 5)
    monkeypatch.setattr(latents, "VIDEO_VAE_FRAMES", 10)
    monkeypatch.setattr(latents, "ENCODE_FRAMES", 16)
    video = _clip(tmp_path / "clip.mp4", 45)
    split = load_frame_latents(str(video), length=5, size=16, stream=1)
    notes = " ".join(split.info["notes"])
    assert "10 evenly spaced of the 35 training frames" in notes
    assert "trained a small VAE on the 10 training frames" in notes
    assert split.train.shape == (7, 5, 3) and split.test.shape == (1, 5, 3)
    (decoded,) = (tmp_path / "cache").glob("*.bin")
    stamp = decoded.stat().st_mtime_ns
    again = load_frame_latents(str(video), length=5, size=16, stream=1)
    assert "reused" in " ".join(again.info["notes"]) and decoded.stat().st_mtime_ns == stamp
    assert torch.equal(again.train, split.train)
