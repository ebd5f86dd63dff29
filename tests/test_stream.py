"""Data larger than memory: audio folders, image folders and videos decoded once to a disk
cache, sequences read on demand, and training processes whose memory stays far below the
decoded size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import frmdn.data.image_read as image_read
import frmdn.data.images as images
import frmdn.data.stream as stream
from frmdn.data import load_data
from frmdn.data.images import bits_per_dim, to_pixels
from frmdn.data.stream import DiskSequences, cached_video
from frmdn.training.trainer import evaluate_nll

RATE = 8000


def _training_peak_rss(spec: str, out: Path) -> int:
    """Peak anonymous resident memory (bytes) of a fresh process that trains a tiny FRMDN for
    10 steps on ``spec`` through the CLI, sampled every 2 ms: the memory the process allocates.
    The pages of the decoded cache it reads through a memory map are file pages the kernel can
    drop at any time; they count in VmHWM (up to ~70 MiB here, depending on the machine's
    load), so VmHWM would measure the page cache, not the training."""
    code = (
        "import atexit, re, runpy, sys, threading, time\n"
        "status = lambda: open('/proc/self/status').read()\n"
        "anon = lambda: int(re.search(r'RssAnon:\\s+(\\d+)', status())[1])\n"
        "peak = [anon()]\n"
        "def watch():\n"
        "    while True:\n"
        "        peak[0] = max(peak[0], anon()); time.sleep(0.002)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"
        "atexit.register(lambda: print('PEAK', max(peak[0], anon()) * 1024, file=sys.stderr))\n"
        f"sys.argv = ['frmdn', 'train', '--data', '{spec}', '--out', '{out}', '--steps', '10', "
        "'--eval-every', '10', '--hidden', '8', '--flow-layers', '2', '--flow-hidden', '8', "
        "'--batch-size', '8', '--quiet']\n"
        "runpy.run_module('frmdn', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=os.environ | {"FRMDN_CACHE": str(out.parent / "cache"), "FRMDN_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1])["steps"] == 10
    return int(done.stderr.split("PEAK")[-1].split()[0])


def _folder(root: Path, files: int, seconds: float) -> Path:
    """``files`` 16-bit WAV files of ``seconds`` each: tones with noise, a different pitch each."""
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    noise = np.random.default_rng(0)
    for i in range(files):
        wave = 0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t) + 0.02 * noise.standard_normal(t.size)
        sf.write(root / f"clip{i:03d}.wav", wave.astype(np.float32), RATE, subtype="PCM_16")
    return root


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("FRMDN_CACHE", str(directory))
    return directory


def test_a_streamed_split_holds_the_sequences_of_the_in_memory_one(
    tmp_path: Path, cache: Path
) -> None:
    folder = _folder(tmp_path / "clips", files=12, seconds=2.0)
    spec = f"audio:{folder}?length=10&emphasis=0.9"
    memory = load_data(spec + "&stream=0")
    streamed = load_data(spec + "&stream=1")
    assert isinstance(streamed.train, DiskSequences) and streamed.info["streamed"]
    assert streamed.info["files"] == memory.info["files"]
    for part in ("train", "valid", "test"):
        ours, theirs = getattr(streamed, part), getattr(memory, part)
        assert ours.shape == theirs.shape
        # the same windows; only the dequantisation noise (< 1 LSB, pre-emphasised) differs
        torch.testing.assert_close(ours[: len(ours)], theirs, atol=1e-4, rtol=0)
    index = torch.tensor([5, 0, 5])
    torch.testing.assert_close(streamed.train[index], streamed.train[:6][[5, 0, 5]])
    mean, std = streamed.train.moments()
    flat = memory.train.reshape(-1, 80)
    torch.testing.assert_close(mean, flat.mean(0), atol=1e-4, rtol=0)
    torch.testing.assert_close(std, flat.std(0), atol=1e-4, rtol=1e-3)
    decoded = sorted(cache.glob("*.f32"))
    assert len(decoded) == 12
    stamps = [f.stat().st_mtime_ns for f in decoded]
    load_data(spec + "&stream=1")  # a second run decodes nothing
    assert [f.stat().st_mtime_ns for f in decoded] == stamps


def test_a_model_trains_and_scores_on_streamed_sequences(tmp_path: Path, cache: Path) -> None:
    from frmdn.experiments.pair import build_pair, train_on_split
    from frmdn.training.trainer import TrainConfig

    split = load_data(f"audio:{_folder(tmp_path / 'clips', 12, 2.0)}?length=10&stream=1")
    model = build_pair(80, hidden_size=8, flow_layers=2, flow_hidden=8)["FRMDN"]
    config = TrainConfig(steps=20, batch_size=8, eval_every=10, patience=0)
    row = train_on_split(model, split, config, "streamed", tmp_path / "out")
    assert row.steps == 20 and np.isfinite(row.test_nll)
    assert evaluate_nll(model, split.test) == pytest.approx(row.test_nll)


@pytest.mark.slow
@pytest.mark.long
def test_training_on_hours_of_audio_keeps_the_process_small(tmp_path: Path) -> None:
    """4.4 hours of 8 kHz audio (240 MB of WAV, 480 MB decoded as float32): the training
    process's peak memory grows by far less than the decoded size over a tiny folder's."""
    big = _folder(tmp_path / "big", files=24, seconds=655.0)
    # the baseline's valid and test parts fill whole evaluation batches (256 sequences), as
    # the big folder's do: the growth is then what the amount of audio costs
    small = _folder(tmp_path / "small", files=12, seconds=70.0)
    decoded = sum(sf.info(f).frames for f in big.glob("*.wav")) * 4

    def peak_rss(folder: Path) -> int:
        return _training_peak_rss(f"audio:{folder}?stream=1", tmp_path / f"{folder.name}-out")

    baseline, peak = peak_rss(small), peak_rss(big)
    growth = peak - baseline
    print(f"decoded {decoded / 2**20:.0f} MiB; peak {peak / 2**20:.0f} MiB, growth "
          f"{growth / 2**20:.0f} MiB over a {baseline / 2**20:.0f} MiB baseline")  # fmt: skip
    assert growth < 0.2 * decoded


# --------------------------------------------------------------------------------- images
def _image_folder(root: Path, count: int, height: int = 10, width: int = 12) -> Path:
    """``count`` greyscale PNGs of random pixels whose first row is the image's index."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (count, height, width), dtype=np.uint8)
    pixels[:, 0] = np.arange(count, dtype=np.uint8)[:, None]
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(root / f"img{i:04d}.png")
    return root


def _ids(part: torch.Tensor) -> list[int]:
    """The images of a split part, by the index in their first row."""
    return np.median(to_pixels(part)[:, 0, :], axis=1).astype(int).tolist()


def test_a_streamed_image_folder_splits_into_the_same_images(tmp_path: Path, cache: Path) -> None:
    folder = _image_folder(tmp_path / "images", 60)
    memory = load_data(f"images:{folder}?stream=0&n_valid=7", seed=3)
    streamed = load_data(f"images:{folder}?stream=1&n_valid=7", seed=3)
    assert isinstance(streamed.train, DiskSequences) and streamed.info["streamed"]
    assert {k: v for k, v in streamed.info.items() if k not in ("streamed", "notes")} == (
        memory.info
    )
    for part in ("train", "valid", "test"):
        ours, theirs = getattr(streamed, part), getattr(memory, part)
        assert ours.shape == theirs.shape
        read = ours[: len(ours)]
        assert _ids(read) == _ids(theirs)  # the same images in the same order
        assert np.array_equal(to_pixels(read), to_pixels(theirs))  # the same pixels
        # only the dequantisation noise (within one grey level) differs
        torch.testing.assert_close(read, theirs, atol=0.08, rtol=0)
        assert not torch.equal(read, theirs)
    index = torch.tensor([5, 0, 5])
    drawn = streamed.train[index]
    assert torch.equal(drawn, streamed.train[:6][[5, 0, 5]])  # an image reads the same each time
    assert torch.equal(drawn[0], drawn[2]) and torch.equal(streamed.train[0], drawn[1])
    mean, std = streamed.train.moments()
    flat = memory.train.reshape(-1, 12)
    torch.testing.assert_close(mean, flat.mean(0), atol=0.02, rtol=0)
    torch.testing.assert_close(std, flat.std(0), atol=0.02, rtol=0)
    # read one image at a time (a chunk smaller than an image), the moments are the same
    one_by_one = streamed.train.moments(numbers=1)
    torch.testing.assert_close(one_by_one, (mean, std), atol=1e-6, rtol=1e-6)


def test_a_model_scores_streamed_images_as_in_memory_ones(tmp_path: Path, cache: Path) -> None:
    from frmdn.experiments.pair import build_pair, train_on_split
    from frmdn.training.trainer import TrainConfig
    from frmdn.views import split_bits_per_dim

    folder = _image_folder(tmp_path / "images", 300, height=8, width=8)
    memory = load_data(f"images:{folder}?stream=0")
    streamed = load_data(f"images:{folder}?stream=1")
    model = build_pair(8, hidden_size=8, flow_layers=2, flow_hidden=8)["FRMDN"]
    model.standardize_on(memory.train)
    for part in ("valid", "test"):
        ours, theirs = getattr(streamed, part), getattr(memory, part)
        assert evaluate_nll(model, ours) == pytest.approx(evaluate_nll(model, theirs), rel=2e-3)
        bits = split_bits_per_dim(model, ours, streamed.info)
        assert bits == pytest.approx(split_bits_per_dim(model, theirs, memory.info), rel=2e-3)
        log_prob = torch.zeros(ours.shape[:2])  # the Jacobian, summed a chunk at a time
        assert bits_per_dim(log_prob, ours, streamed.info) == pytest.approx(
            bits_per_dim(log_prob, ours[: len(ours)], streamed.info), abs=1e-9
        )
    config = TrainConfig(steps=10, batch_size=8, eval_every=5, patience=0)
    row = train_on_split(model, streamed, config, "streamed", tmp_path / "out")
    assert row.steps == 10 and np.isfinite(row.test_nll)
    assert evaluate_nll(model, streamed.test) == pytest.approx(row.test_nll)  # deterministic


def test_the_image_cache_is_reused_and_rebuilt_when_a_file_changes(
    tmp_path: Path, cache: Path
) -> None:
    from PIL import Image

    folder = _image_folder(tmp_path / "images", 20)
    first = load_data(f"images:{folder}?stream=1")
    (decoded,) = cache.glob("*.bin")
    stamp = decoded.stat().st_mtime_ns
    again = load_data(f"images:{folder}?stream=1")  # a second load decodes nothing
    assert list(cache.glob("*.bin")) == [decoded] and decoded.stat().st_mtime_ns == stamp
    assert torch.equal(again.train[: len(again.train)], first.train[: len(first.train)])
    changed = np.full((10, 12), 200, dtype=np.uint8)
    Image.fromarray(changed).save(folder / "img0000.png")  # same name, other pixels
    rebuilt = load_data(f"images:{folder}?stream=1")
    assert len(list(cache.glob("*.bin"))) == 2 and decoded.stat().st_mtime_ns == stamp
    parts = {p: to_pixels(getattr(rebuilt, p)[:]) for p in ("train", "valid", "test")}
    assert any((pixels == changed).all(axis=(1, 2)).any() for pixels in parts.values())
    (folder / "img9999.png").write_bytes(b"not a png")  # refused as in memory, nothing cached
    with pytest.raises(images.ImageDataError, match=r"img9999\.png is not a readable image"):
        load_data(f"images:{folder}?stream=1")
    assert len(list(cache.glob("*.bin"))) == 2
    assert not list(cache.glob("*.tmp"))  # every cache file was completed and renamed


def test_large_image_folders_stream_by_default(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _image_folder(tmp_path / "images", 30)
    assert isinstance(load_data(f"images:{folder}").train, torch.Tensor)
    monkeypatch.setattr(images, "STREAM_PIXELS", 30 * 10 * 12 - 1)
    assert isinstance(load_data(f"images:{folder}").train, DiskSequences)
    assert isinstance(load_data(f"images:{folder}?stream=0").train, torch.Tensor)
    monkeypatch.setattr(images, "STREAM_PIXELS", 10**9)
    monkeypatch.setattr(images, "MAX_IMAGES", 25)  # streamed: all of them
    monkeypatch.setattr(image_read, "MAX_IMAGES", 25)  # in memory: trimmed
    split = load_data(f"images:{folder}")
    assert isinstance(split.train, DiskSequences) and split.info["n_images"] == 30
    assert load_data(f"images:{folder}?stream=0").info["n_images"] == 25
    with pytest.raises(ValueError, match="stream must be"):
        load_data(f"images:{folder}?stream=2")


@pytest.mark.slow
@pytest.mark.long
def test_training_on_a_large_image_folder_keeps_the_process_small(tmp_path: Path) -> None:
    """12,800 PNGs of 128 × 128 (200 MiB of pixels decoded, 800 MiB as an in-memory split's
    float32 tensors): the training process's peak memory grows by far less than the decoded
    size over a small folder's, both streamed with the same valid and test parts."""
    from PIL import Image

    def folder(root: Path, count: int) -> Path:
        root.mkdir()
        y, x = np.mgrid[0:128, 0:128]
        for i in range(count):  # gradients and a bright bar: compress well, decode to 16 KiB
            image = ((x * (1 + i % 7) + y * (1 + i % 5) + 3 * i) % 256).astype(np.uint8)
            image[i % 96 : i % 96 + 32, 40:72] = 255
            Image.fromarray(image).save(root / f"img{i:05d}.png", compress_level=1)
        return root

    big, small = folder(tmp_path / "big", 12_800), folder(tmp_path / "small", 600)
    decoded = 12_800 * 128 * 128

    def peak_rss(folder: Path) -> int:
        # small held-out parts: evaluating 256 images of 128 rows costs ~550 MiB whatever N is,
        # and its run-to-run noise (±40 MiB) would drown the growth this test measures
        spec = f"images:{folder}?stream=1&n_valid=32&n_test=32"
        return _training_peak_rss(spec, tmp_path / f"{folder.name}-out")

    baseline, peak = peak_rss(small), peak_rss(big)
    growth = peak - baseline
    print(f"decoded {decoded / 2**20:.0f} MiB; peak {peak / 2**20:.0f} MiB, growth "
          f"{growth / 2**20:.0f} MiB over a {baseline / 2**20:.0f} MiB baseline")  # fmt: skip
    assert sum(f.stat().st_size for f in (tmp_path / "cache").glob("*.bin")) >= decoded
    # measured: within ±5 MiB of the small folder's peak, against 200 MiB of pixels and the
    # 800 MiB an in-memory split's float32 tensors would take (the ~40-70 MiB measured before
    # came from the normalisation pass reading 256 images at a time; it now reads 2^20 values)
    assert growth < 0.15 * decoded


# --------------------------------------------------------------------------------- video
def _video(path: Path, count: int, height: int = 40, width: int = 52) -> Path:
    """A bright square sliding right on a dark background, ``count`` frames of MPEG-4."""
    av = pytest.importorskip("av")
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("mpeg4", rate=12)
        video.height, video.width, video.pix_fmt = height, width, "yuv420p"
        for t in range(count):
            frame = np.full((height, width), 20, dtype=np.uint8)
            frame[14:26, t % 36 : t % 36 + 12] = 230
            rgb = np.repeat(frame[..., None], 3, axis=-1)
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return path


def test_a_video_decodes_through_the_cache_in_chunks(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import frmdn.data.video as video

    clip = _video(tmp_path / "clip.mp4", 50)
    memory, notes = video.read_video(clip, size=16)
    chunks: list[int] = []
    decode = video.iter_video

    def counted(*args: object, **kwargs: object):
        for chunk in decode(*args, **kwargs):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(video, "iter_video", counted)
    monkeypatch.setattr(stream, "VIDEO_CHUNK", 8)
    cached = cached_video(clip, size=16)
    assert chunks == [8] * 6 + [2]  # never more than a chunk of frames in memory
    assert (cached.count, cached.size, cached.notes) == (50, 16, notes)
    assert cached.path.stat().st_size == memory.nbytes
    assert np.array_equal(cached.memmap(), memory)
    assert np.array_equal(cached.read(45, 60), memory[45:])
    assert cached_video(clip, size=16) == cached and len(chunks) == 7  # reused, not decoded
    assert cached_video(clip, size=24).count == 50 and len(chunks) == 14  # another size
    assert stream.declared_frames(clip) == 50
    assert stream.declared_frames(tmp_path) is None
