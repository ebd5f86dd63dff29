"""World Models rollouts: deterministic from their seeds, cached by content, collected in
worker processes, and a one-line error when the environments are not installed."""

from __future__ import annotations

import builtins
from pathlib import Path

import numpy as np
import pytest
import torch

from frmdn.data import worlds
from frmdn.data.recordings import read_recording
from frmdn.data.video import FrameDataError
from frmdn.data.worlds import WORLDS, WorldsMissing, collect_rollout, collect_rollouts

LENGTH = 6


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRMDN_CACHE_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("world", WORLDS)
def test_a_seed_gives_the_same_rollout_and_another_seed_another(world: str) -> None:
    frames, actions, done = collect_rollout(world, 3, LENGTH)
    assert frames.shape == (LENGTH, 64, 64, 3) and frames.dtype == np.uint8
    assert actions.shape == (LENGTH, WORLDS[world].action_dim) and actions.dtype == np.float32
    assert done.shape == (LENGTH,) and done.dtype == bool
    again = collect_rollout(world, 3, LENGTH)
    assert np.array_equal(frames, again[0]) and np.array_equal(actions, again[1])
    other = collect_rollout(world, 4, LENGTH)
    assert not np.array_equal(actions, other[1])
    assert frames.std() > 5  # a scene, not a blank screen


def test_the_car_policy_stays_in_range_and_keeps_moving() -> None:
    rng = np.random.default_rng(0)
    action = np.array([0.0, 0.5, 0.0], np.float32)
    taken = []
    for _ in range(2000):
        action = worlds._car_policy(rng, action)
        taken.append(action)
    taken = np.array(taken)
    assert taken.min(0).tolist() >= [-1, 0, 0] and taken.max(0).tolist() <= [1, 1, 1]
    assert taken[:, 1].mean() > taken[:, 2].mean()  # more gas than brake


def test_doom_actions_are_left_stay_or_right_held_for_a_few_frames() -> None:
    _, actions, _ = collect_rollout("doom-take-cover", 0, 60)
    moves = actions[:, 0]
    assert set(np.unique(moves)) <= {-1.0, 0.0, 1.0}
    runs = np.diff(np.flatnonzero(np.diff(moves) != 0))
    assert len(runs) and runs.max() <= 2 * worlds.DOOM_HOLD[1]  # held, then changed


def test_collecting_in_workers_gives_what_one_process_gives_and_is_cached(cache: Path) -> None:
    seen = []
    parallel = collect_rollouts(
        "doom-take-cover", [5, 6, 7], LENGTH, workers=2, progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    path = worlds.cache_path("doom-take-cover", [5, 6, 7], LENGTH)
    assert path.is_file() and path.parent.parent == cache
    for i, seed in enumerate((5, 6, 7)):
        frames, actions, _ = collect_rollout("doom-take-cover", seed, LENGTH)
        assert np.array_equal(parallel.frames[i], frames)
        assert np.array_equal(parallel.actions[i], actions)
    cached = collect_rollouts("doom-take-cover", [5, 6, 7], LENGTH, progress=seen.append)
    assert len(seen) == 3  # read from the cache: nothing collected
    assert np.array_equal(cached.frames, parallel.frames)
    assert list(cached.seeds) == [5, 6, 7]


def test_without_the_extra_collecting_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_gymnasium(name, *args, **kwargs):  # noqa: ANN001, ANN202
        if name.split(".")[0] in ("gymnasium", "Box2D", "vizdoom"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gymnasium)
    for world in WORLDS:
        with pytest.raises(WorldsMissing, match=r"pip install 'frmdn\[worlds\]'") as error:
            collect_rollout(world, 0, LENGTH)
        assert "\n" not in str(error.value) and WORLDS[world].package in str(error.value)


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown world"):
        collect_rollout("pong", 0, LENGTH)
    with pytest.raises(ValueError, match="at least 2 frames"):
        collect_rollout("car-racing", 0, 1)
    with pytest.raises(ValueError, match="non-negative"):
        collect_rollout("car-racing", -1, LENGTH)


# ----------------------------------------------------------------------------- recordings
def save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_a_recording_with_actions_is_read_as_saved(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 4, 16, 16, 3), dtype=np.uint8)
    actions = np.arange(3 * 4 * 2, dtype=np.float64).reshape(3, 4, 2)
    got_frames, got_actions = read_recording(
        save(tmp_path / "r.npz", frames=frames, actions=actions)
    )
    assert np.array_equal(got_frames, frames)
    assert got_actions.dtype == np.float32 and np.array_equal(got_actions, actions)
    assert read_recording(save(tmp_path / "f.npz", frames=frames))[1] is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"pixels": np.zeros((3, 4, 16, 16, 3), np.uint8)}, "no 'frames' array"),
        ({"frames": np.zeros((3, 4, 16, 16), np.uint8)}, r"uint8 \(N, T, H, W, 3\)"),
        ({"frames": np.zeros((3, 4, 16, 16, 3), np.float32)}, r"uint8 \(N, T, H, W, 3\)"),
        ({"frames": np.zeros((2, 4, 16, 16, 3), np.uint8)}, "at least 3 sequences"),
        ({"frames": np.zeros((3, 1, 16, 16, 3), np.uint8)}, "at least 3 sequences"),
        ({"frames": np.zeros((3, 2, 4, 16, 3), np.uint8)}, "pixels a side"),
        (
            {"frames": np.zeros((3, 4, 16, 16, 3), np.uint8), "actions": np.zeros((3, 5, 2))},
            r"actions must be \(N, T, A\)",
        ),
        (
            {
                "frames": np.zeros((3, 4, 16, 16, 3), np.uint8),
                "actions": np.full((3, 4, 1), np.nan),
            },
            "NaN",
        ),
        (
            {"frames": np.zeros((3, 4, 16, 16, 3), np.uint8), "actions": np.zeros((3, 4, 0))},
            "1 to 64 dimensions",
        ),
        (
            {
                "frames": np.zeros((3, 4, 16, 16, 3), np.uint8),
                "actions": np.array([[["a"] * 4] * 3]),
            },
            r"actions must be \(N, T, A\)|numbers",
        ),
    ],
)
def test_bad_recordings_get_one_clear_line(tmp_path: Path, arrays: dict, message: str) -> None:
    with pytest.raises(FrameDataError, match=message) as error:
        read_recording(save(tmp_path / "bad.npz", **arrays))
    assert "\n" not in str(error.value)


def test_a_huge_recording_is_refused_from_its_header(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("frmdn.data.recordings._read", lambda *a: pytest.fail("allocated"))
    monkeypatch.setattr("frmdn.data.recordings.MAX_RECORDING_BYTES", 1000)
    path = save(tmp_path / "big.npz", frames=np.zeros((3, 4, 16, 16, 3), np.uint8))
    with pytest.raises(FrameDataError, match="GiB"):
        read_recording(path)


def test_objects_and_non_archives_are_refused(tmp_path: Path) -> None:
    objects = np.empty((3, 4, 16, 16, 3), dtype=object)
    np.savez(tmp_path / "objects.npz", frames=objects)
    with pytest.raises(FrameDataError, match="never unpickled|uint8"):
        read_recording(tmp_path / "objects.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(FrameDataError, match="not a readable .npz"):
        read_recording(tmp_path / "text.npz")


def test_train_valid_and_test_seeds_never_meet() -> None:
    seeds = worlds.split_seeds(7, 40)
    assert len(seeds["train"]) == 40 and len(seeds["valid"]) == len(seeds["test"]) == 5
    parts = [set(s) for s in seeds.values()]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    top = worlds.split_seeds(worlds.SPLIT_OFFSETS["valid"] - 10, 10)
    assert max(top["train"]) < min(top["valid"]) and max(top["valid"]) < min(top["test"])
    with pytest.raises(ValueError, match="within"):
        worlds.split_seeds(worlds.SPLIT_OFFSETS["valid"] - 5, 10)
    assert worlds.split_seeds(0, 1)["test"] == [worlds.SPLIT_OFFSETS["test"]]


def test_the_car_policy_leans_toward_the_road_ahead() -> None:
    grass = np.zeros((96, 96, 3), np.uint8)
    grass[...] = (102, 204, 102)
    assert worlds._road_offset(grass) is None
    left = grass.copy()
    left[:, 10:22] = 105  # grey road well left of the car (column 48)
    assert worlds._road_offset(left) < -0.5
    rng = np.random.default_rng(0)
    steer = np.mean(
        [worlds._car_policy(rng, worlds.CAR_REST.astype(np.float32), left)[0] for _ in range(500)]
    )
    assert steer < -0.1  # toward the road, on average


# ----------------------------------------------------------------------------- latents
@pytest.fixture
def tiny_vae(tmp_path: Path) -> Path:
    from frmdn.models.vae import FrameVAE, VAEConfig

    torch.manual_seed(0)
    config = VAEConfig(size=64, latent_dim=4, channels=(4, 8, 16), colors=3)
    return FrameVAE(config).save(tmp_path / "vae")


def test_a_world_spec_gives_latents_with_the_previous_actions_as_inputs(tiny_vae: Path) -> None:
    from frmdn.data import load_data

    split = load_data(f"frames:doom-take-cover?rollouts=2&length=5&vae={tiny_vae}&workers=1")
    assert tuple(split.train.shape) == (2, 5, 4) and tuple(split.test.shape) == (1, 5, 4)
    assert split.cond_dim == 1 and tuple(split.valid_x.shape) == (1, 5, 1)
    seeds = worlds.split_seeds(0, 2)
    rollouts = collect_rollouts("doom-take-cover", seeds["train"], 5)
    assert torch.equal(split.train_x[:, 0], torch.zeros(2, 1))
    assert torch.equal(split.train_x[:, 1:], torch.from_numpy(rollouts.actions[:, :-1]))
    assert split.info["world"] == "doom-take-cover" and split.info["actions"] == ["move"]
    y, x = split.part("test")
    assert y is split.test and x is split.test_x
    with pytest.raises(ValueError, match="unknown option"):
        load_data(f"frames:car-racing?n_train=3&vae={tiny_vae}")


def test_a_recording_spec_trains_and_scores_action_conditioned_models(
    tiny_vae: Path, tmp_path: Path
) -> None:
    from frmdn.data import load_data
    from frmdn.experiments.pair import build_pair
    from frmdn.training.trainer import TrainConfig, evaluate_nll, fit

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (10, 6, 32, 32, 3), dtype=np.uint8)  # resized to 64
    actions = rng.normal(size=(10, 6, 2))
    path = tmp_path / "mine.npz"
    np.savez(path, frames=frames, actions=actions)
    split = load_data(f"frames:{path}?vae={tiny_vae}")
    assert [len(split.train), len(split.valid), len(split.test)] == [8, 1, 1]
    assert split.cond_dim == 2
    pair = build_pair(split.dim, cond_dim=split.cond_dim, hidden_size=8, flow_layers=2)
    for model in pair.values():
        model.standardize_on(split.train)
        fit(model, split.part("train"), split.part("valid"), TrainConfig(steps=3, batch_size=4))
        assert np.isfinite(evaluate_nll(model, split.part("test")))
    np.savez(path, frames=frames)  # no actions: an unconditioned split
    assert load_data(f"frames:{path}?vae={tiny_vae}").cond_dim == 0


def test_a_conditioned_model_dreams_differently_under_other_actions() -> None:
    import frmdn

    torch.manual_seed(0)
    model = frmdn.FRMDN(4, 2, 1, 16, cond_dim=1, flow_layers=2, flow_hidden=8)
    left, right = -torch.ones(1, 6, 1), torch.ones(1, 6, 1)
    torch.manual_seed(1)
    one = model.sample(1, 6, x=left)
    torch.manual_seed(1)
    same = model.sample(1, 6, x=left)
    torch.manual_seed(1)
    other = model.sample(1, 6, x=right)
    assert torch.equal(one, same) and not torch.allclose(one, other)


# ----------------------------------------------------------------------------- command line
def test_the_command_line_trains_scores_and_dreams_under_given_actions(
    tiny_vae: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from frmdn import load
    from frmdn.cli.main import main

    spec = f"frames:doom-take-cover?rollouts=2&length=5&vae={tiny_vae}&workers=1"
    out = tmp_path / "frmdn"
    tiny = ["--hidden", "8", "--components", "2", "--flow-layers", "2", "--flow-hidden", "8"]
    argv = ["train", "--data", spec, "--out", out, *tiny, "--steps", "4", "--batch-size", "2"]
    assert main([str(a) for a in [*argv, "--eval-every", "2", "--quiet"]]) == 0
    assert load(out).config.cond_dim == 1
    capsys.readouterr()
    assert (
        main(
            ["eval", "--checkpoint", str(out), "--data", spec.replace("rollouts=2", "rollouts=3")]
        )
        == 0
    )
    assert np.isfinite(json.loads(capsys.readouterr().out)["nll"])
    actions = tmp_path / "left.npy"
    np.save(actions, -np.ones((6, 1)))
    dream = tmp_path / "dream.npz"
    argv = ["sample", "--checkpoint", out, "--actions", actions, "--out", dream, "-n", "1"]
    assert main([str(a) for a in argv]) == 0
    with np.load(dream) as saved:
        assert saved["latents"].shape == (1, 7, 4)
        assert saved["frames"].shape == (1, 7, 64, 64, 3) and saved["frames"].dtype == np.uint8
        assert np.array_equal(saved["actions"][0], -np.ones((6, 1)))
    gif = tmp_path / "dream.gif"
    assert main(["sample", "--checkpoint", str(out), "--out", str(gif), "--steps", "3"]) == 0
    assert gif.read_bytes()[:6] == b"GIF89a"
    np.save(actions, np.ones((6, 2)))  # two actions for a one-action model
    capsys.readouterr()
    argv = ["sample", "--checkpoint", out, "--actions", actions, "--out", dream]
    assert main([str(a) for a in argv]) == 2
    assert "--actions must be (T, 1)" in capsys.readouterr().err


@pytest.mark.parametrize("world", WORLDS)
def test_the_bundled_vae_of_each_world_reconstructs_held_out_frames(world: str) -> None:
    import json

    from frmdn.data.world_latents import world_vae
    from frmdn.models.vae import decode_latents, encode_frames, load_vae

    directory = Path(__file__).resolve().parents[1] / world_vae(world)
    meta = json.loads((directory / "config.json").read_text())
    assert meta["weights_dtype"] == "float16"
    vae = load_vae(directory)
    assert vae.config.frame_shape == (64, 64, 3)
    frames = collect_rollouts(world, worlds.split_seeds(0, 8)["test"], 12).frames
    decoded = decode_latents(vae, encode_frames(vae, frames))
    error = np.mean(np.square((decoded.astype(float) - frames) / 255))
    assert error < 2 * meta["metrics"]["test_mse"]  # as good as measured when it was made


def test_eval_on_fresh_rollouts_uses_the_checkpoints_own_vae() -> None:
    from frmdn.cli.common import with_recorded_vae

    info = {"vae": "/models/vae-car"}
    assert with_recorded_vae("frames:car-racing?seed=5", info) == (
        "frames:car-racing?seed=5&vae=/models/vae-car"
    )
    assert with_recorded_vae("frames:car-racing", info) == "frames:car-racing?vae=/models/vae-car"
    assert with_recorded_vae("frames:car-racing?vae=/x", info) == "frames:car-racing?vae=/x"
    assert with_recorded_vae("toy:ring", info) == "toy:ring"
    assert with_recorded_vae("frames:car-racing", {}) == "frames:car-racing"


@pytest.mark.parametrize("world", WORLDS)
def test_the_bundled_pair_of_each_world_reads_its_actions(world: str) -> None:
    import json

    from frmdn import load

    root = Path(__file__).resolve().parents[1] / "assets" / "pretrained"
    pair = {name: load(root / f"frames-{world}-{name}") for name in ("rmdn", "frmdn")}
    for name, model in pair.items():
        meta = json.loads((root / f"frames-{world}-{name}" / "config.json").read_text())
        assert meta["weights_dtype"] == "float16"
        assert model.config.cond_dim == WORLDS[world].action_dim
        assert model.metadata["data"]["info"]["vae"] == f"assets/pretrained/vae-{world}"
        assert np.isfinite(model.metadata["metrics"]["test_nll"])
    assert pair["rmdn"].config.flow_layers == 0 and pair["frmdn"].config.flow_layers > 0


def test_culling_offscreen_polygons_draws_the_same_car_frames() -> None:
    """The faster road renderer (frmdn.data.car_render) gives Gymnasium's own pixels."""
    gymnasium = pytest.importorskip("gymnasium")
    pytest.importorskip("Box2D")
    from frmdn.data.car_render import cull_offscreen_polygons

    def frames(cull: bool) -> np.ndarray:
        env = gymnasium.make("CarRacing-v3")
        if cull:
            cull_offscreen_polygons(env.unwrapped)
        rng = np.random.default_rng(3)
        observations = [env.reset(seed=3)[0]]
        for _ in range(80):  # steering hard: the road sweeps across the screen
            action = np.array([rng.uniform(-1, 1), rng.uniform(0, 1), 0.0], np.float32)
            observations.append(env.step(action)[0])
        env.close()
        return np.stack(observations)

    assert np.array_equal(frames(cull=True), frames(cull=False))
