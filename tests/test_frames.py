"""Tests of frmdn.data.frames: synthetic scenes, video decoding and the frame splits."""

import wave

import numpy as np
import pytest

from frmdn.data.frames import (
    FRAME_GENERATORS,
    FrameDataError,
    FrameSplit,
    bouncing_balls,
    load_frames,
    moving_digits,
    read_video,
    time_split,
    video_sequences,
)
from frmdn.data.images import load_digits_array

av = pytest.importorskip("av")


def _centroids(frames):
    """Ink-weighted centre (row, column) of each frame, frames (..., H, W) -> (..., 2)."""
    frames = frames.astype(np.float64)
    mass = frames.sum(axis=(-2, -1))
    rows = (frames * np.arange(frames.shape[-2])[:, None]).sum(axis=(-2, -1)) / mass
    cols = (frames * np.arange(frames.shape[-1])).sum(axis=(-2, -1)) / mass
    return np.stack([rows, cols], axis=-1)


def _square_clip(count=60, height=64, width=80):
    """A bright 12-pixel square sliding right on a dark background, (count, H, W) uint8."""
    frames = np.full((count, height, width), 20, dtype=np.uint8)
    for t in range(count):
        left = 10 + t
        frames[t, 26:38, left : left + 12] = 230
    return frames


def _write_video(path, frames, codec="mpeg4", fps=12):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            rgb = np.repeat(frame[..., None], 3, axis=-1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "square.mp4"
    _write_video(path, _square_clip())
    return path


# --------------------------------------------------------------------------------- scenes
@pytest.mark.parametrize("name", sorted(FRAME_GENERATORS))
def test_generators_shape_dtype_determinism(name):
    function = FRAME_GENERATORS[name]
    a = function(3, 5, size=32, generator=np.random.default_rng(1))
    b = function(3, 5, size=32, generator=np.random.default_rng(1))
    c = function(3, 5, size=32, generator=np.random.default_rng(2))
    assert a.shape == (3, 5, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.max() == 255 and (a.sum(axis=(2, 3)) > 0).all()  # something visible every frame


def test_moving_digits_are_real_stay_inside_and_move():
    digits = load_digits_array()[0]
    frames = moving_digits(20, 40, n_digits=1, generator=np.random.default_rng(0))
    ink = frames.reshape(20, 40, -1).astype(np.int64).sum(-1)  # (n, T)
    # Never clipped by the canvas: every frame shows the whole digit, a real MNIST one.
    assert (ink == ink[:, :1]).all()
    assert set(ink[:, 0]) <= set(digits.reshape(5000, -1).astype(np.int64).sum(-1))
    centre = _centroids(frames)  # (n, T, 2)
    speed = np.linalg.norm(np.diff(centre, axis=1), axis=-1)  # (n, T - 1)
    assert 1.0 < speed.mean() < 3.5 and (speed.mean(axis=1) > 0.5).all()
    # Bounces: over 40 frames some velocity component flips sign in most sequences.
    flips = (np.diff(np.sign(np.diff(centre, axis=1)), axis=1) != 0).any(axis=(1, 2))
    assert flips.mean() > 0.5


def test_moving_digits_overlap_by_maximum_and_custom_sprites():
    sprite = np.full((1, 5, 5), 200, dtype=np.uint8)
    frames = moving_digits(4, 30, size=16, n_digits=3, generator=np.random.default_rng(0),
                           digits=sprite)  # fmt: skip
    assert set(np.unique(frames)) <= {0, 200}  # maximum, never a sum
    lone = moving_digits(4, 30, size=16, n_digits=1, generator=np.random.default_rng(0),
                         digits=sprite)  # fmt: skip
    assert (lone.reshape(4, 30, -1).astype(int).sum(-1) == 25 * 200).all()
    with pytest.raises(ValueError, match="larger than the digits"):
        moving_digits(1, 4, size=28, generator=np.random.default_rng(0))


def test_balls_fall_and_bounce_elastically():
    frames = bouncing_balls(64, 16, generator=np.random.default_rng(0))
    rows = _centroids(frames)[..., 0].mean(axis=0)  # mean row over sequences, (T,)
    assert rows[4] > rows[0] + 1 and rows[8] > rows[4] + 4  # falling, accelerating
    one = bouncing_balls(8, 60, n_balls=1, generator=np.random.default_rng(1))
    radius = 48 / 10
    floor = 48 - 0.5 - radius
    for row in _centroids(one)[..., 0]:  # (T,) per sequence
        bounce = int(np.argmax(row[1:] < row[:-1] - 1))  # the first frame before rising
        assert 0 < bounce < 30 and row[bounce] > floor - 4  # it fell to the floor
        assert row[bounce + 3] < row[bounce] - 3  # and goes back up
        # Elastic: it climbs back to (about) the height it fell from.
        assert abs(row[bounce : bounce + 35].min() - row[:bounce].min()) < 1.0
    ink = one.reshape(8, 60, -1).astype(float).sum(-1)
    assert np.allclose(ink, np.pi * radius**2 * 255, rtol=0.05)  # an anti-aliased disc


def test_balls_without_gravity_move_straight():
    frames = bouncing_balls(32, 6, size=96, n_balls=1, gravity=0.0,
                            generator=np.random.default_rng(5))  # fmt: skip
    step = np.diff(_centroids(frames), axis=1)  # (n, T - 1, 2)
    straight = np.abs(step - step[:, :1]).max(axis=(1, 2)) < 0.3  # unless a wall is hit
    assert straight.mean() > 0.5
    with pytest.raises(ValueError, match="gravity"):
        bouncing_balls(1, 4, gravity=-1.0, generator=np.random.default_rng(0))


def test_load_frames_from_generators():
    split = load_frames("bouncing-balls", n_train=6, n_valid=2, n_test=3, length=5, size=24)
    assert isinstance(split, FrameSplit)
    assert [p.shape for p in (split.train, split.valid, split.test)] == [
        (6, 5, 24, 24),
        (2, 5, 24, 24),
        (3, 5, 24, 24),
    ]
    assert split.length == 5 and split.frame_shape == (24, 24)
    assert split.info["kind"] == "frames" and split.info["generator"] == "bouncing-balls"
    again = load_frames("bouncing-balls", n_train=6, n_valid=2, n_test=3, length=5, size=24)
    assert np.array_equal(split.test, again.test)
    assert not np.array_equal(split.train[:2], split.valid)
    with pytest.raises(FrameDataError, match="neither a scene"):
        load_frames("no-such-scene")
    with pytest.raises(ValueError, match="uint8"):
        FrameSplit(split.train.astype(float), split.valid, split.test, "x", {})


# --------------------------------------------------------------------------------- video
def test_read_video_crops_resizes_and_tracks_motion(clip):
    frames, notes = read_video(clip, size=32)
    assert frames.shape == (60, 32, 32) and frames.dtype == np.uint8
    assert notes == ["centre-cropped 80×64 frames to 64×64", "resized frames to 32×32"]
    assert frames[:, :2].mean() < 40 and frames.max() > 200  # dark background, bright square
    col = _centroids(frames > 128)[:, 1]  # the bright square's centre (lossy codec)
    assert np.all(np.diff(col[2:40]) > -0.3) and col[40] > col[2] + 10  # it moves right
    again, _ = read_video(clip.read_bytes(), size=32)
    assert np.array_equal(frames, again)


def test_read_video_trims_long_videos(clip):
    frames, notes = read_video(clip, size=16, max_frames=10)
    assert frames.shape == (10, 16, 16) and "trimmed to the first 10 frames" in notes


def test_read_video_refuses_bad_input(tmp_path, clip):
    with pytest.raises(FrameDataError, match="no such"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(FrameDataError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    with pytest.raises(FrameDataError, match="empty"):
        read_video(b"")
    with pytest.raises(FrameDataError, match="not a readable video"):
        read_video(np.random.default_rng(0).bytes(4000))
    with pytest.raises(FrameDataError, match="folder"):
        read_video(tmp_path)
    with wave.open(str(tmp_path / "tone.wav"), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(np.zeros(8000, dtype=np.int16).tobytes())
    with pytest.raises(FrameDataError, match="no video stream"):
        read_video(tmp_path / "tone.wav")
    # A clip cut short either keeps the frames before the cut (with a note) or is refused.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    try:
        frames, notes = read_video(cut)
    except FrameDataError:
        pass
    else:
        assert 0 < len(frames) <= 60


def test_video_sequences_are_non_overlapping_windows():
    frames = np.arange(10 * 2 * 3).reshape(10, 2, 3)
    windows = video_sequences(frames, length=3)
    assert windows.shape == (3, 3, 2, 3)
    assert np.array_equal(windows.reshape(9, 2, 3), frames[:9])
    assert video_sequences(frames, length=11).shape == (0, 11, 2, 3)
    with pytest.raises(ValueError, match="T, H, W"):
        video_sequences(frames[0])


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(3, [1, 1, 1]), (10, [8, 1, 1]), (15, [11, 2, 2]), (25, [21, 2, 2]), (26, [20, 3, 3])],
)
def test_time_split_holds_out_the_last_tenth_twice(count, sizes):
    windows = np.arange(count, dtype=np.uint8).reshape(count, 1, 1, 1)
    parts = time_split(windows)
    assert [len(p) for p in parts] == sizes
    # in time order, each window in exactly one part
    assert np.concatenate(parts).ravel().tolist() == list(range(count))


@pytest.mark.parametrize("count", [0, 1, 2])
def test_time_split_of_too_few_windows_trains_and_tests_on_all(count):
    windows = np.arange(count, dtype=np.uint8).reshape(count, 1, 1, 1)
    train, valid, test = time_split(windows)
    assert train.ravel().tolist() == test.ravel().tolist() == list(range(count))
    assert len(valid) == 0 and valid.shape[1:] == (1, 1, 1)


def test_load_frames_from_video_splits_by_time(clip):
    split = load_frames(str(clip), length=16, size=24)
    assert [len(split.train), len(split.valid), len(split.test)] == [1, 1, 1]
    assert split.train.shape[1:] == (16, 24, 24)
    assert split.info["frames"] == 60 and split.info["notes"]
    col = [_centroids(part[0, 0] > 128)[1] for part in (split.train, split.test)]
    assert col[0] < col[1]  # test comes later in the clip (the square has moved right)
    with pytest.raises(FrameDataError, match="need at least 96"):
        load_frames(str(clip), length=32)
