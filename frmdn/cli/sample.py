"""``python -m frmdn sample``: generate sequences from a checkpoint and write them as
NPY, CSV, WAV (audio), PNG (images, frames) or an animated GIF (frames)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from frmdn.checkpoints.load import load
from frmdn.cli.common import UsageError, audio_info, checkpoint_data, positive, recorded_info
from frmdn.data import load_data
from frmdn.models.sequence import SequenceDensityModel

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``sample`` subcommand and its options."""
    sample = commands.add_parser(
        "sample",
        help="generate sequences and write them to a file",
        description="Generate sequences. For audio checkpoints --out x.wav writes the n "
        "sequences one after another, 0.25 s of silence apart, at the recorded sample rate.",
    )
    sample.add_argument("--checkpoint", required=True, type=Path)
    sample.add_argument(
        "--out",
        required=True,
        type=Path,
        help=".npy or .csv file (.wav for audio; .png or .gif for frames; .npz for the "
        "latents, frames and actions of action-conditioned dreams)",
    )
    sample.add_argument("-n", "--num", type=positive, default=8, help="number of sequences")
    sample.add_argument("--steps", type=positive, default=32, help="generated time steps")
    sample.add_argument(
        "--prime-seconds",
        type=float,
        default=0.0,
        help="audio only: continue the first S seconds of the checkpoint's test audio, "
        "which start every output sequence (default 0: no prime)",
    )
    sample.add_argument(
        "--actions",
        type=Path,
        help="action-conditioned checkpoints (World Models): a .npy of (T, A) floats, one "
        "action per dreamed step; every dream starts from a held-out start frame. Without it "
        "the dreams replay the collection policy's actions of the held-out rollouts",
    )
    sample.add_argument("--temperature", type=float, default=1.0)
    sample.add_argument("--seed", type=int, default=0)


def _audio_prime(
    args: argparse.Namespace, model: SequenceDensityModel, audio: tuple[int, int] | None
) -> torch.Tensor | None:
    """The first ``--prime-seconds`` of the checkpoint's test audio as frames (n, T0, d)."""
    if args.prime_seconds == 0:
        return None
    if not args.prime_seconds > 0 or not np.isfinite(args.prime_seconds):
        raise UsageError(f"--prime-seconds must be 0 or positive, got {args.prime_seconds}")
    if audio is None:
        raise UsageError("--prime-seconds needs a checkpoint trained on audio data")
    rate, frame = audio
    spec, seed, _ = checkpoint_data(args.checkpoint)
    split = load_data(spec, seed=seed)
    if split.dim != model.config.dim:
        raise UsageError(f"data has dimension {split.dim}, the model {model.config.dim}")
    frames = split.test.reshape(-1, split.dim)  # test sequences, one after another
    steps = max(1, round(args.prime_seconds * rate / frame))
    if steps > len(frames):
        raise UsageError(
            f"--prime-seconds {args.prime_seconds:g} is longer than the test audio "
            f"({len(frames) * frame / rate:g} s)"
        )
    return frames[:steps].expand(args.num, -1, -1)


def run(args: argparse.Namespace) -> None:
    """Generate ``--num`` sequences from ``--checkpoint``; write ``--out``; print one JSON
    line describing what was written."""
    from frmdn.data.audio import from_frames, full_scale, wav_bytes

    model = load(args.checkpoint)
    if model.config.cond_dim:
        return _dream(args, model)
    if args.actions is not None:
        raise UsageError(
            "--actions needs an action-conditioned checkpoint (frames:car-racing ...)"
        )
    audio = audio_info(recorded_info(args.checkpoint))
    info = recorded_info(args.checkpoint)
    suffix = args.out.suffix.lower()
    if suffix not in (".npy", ".csv", ".wav", ".png", ".gif"):
        raise UsageError(
            "--out must end in .npy or .csv (.wav for audio, .png for images, .png or .gif "
            f"for frames), got {args.out.name!r}"
        )
    if suffix == ".wav" and audio is None:
        raise UsageError("--out .wav needs a checkpoint trained on audio data")
    kind = info.get("kind")
    if (suffix == ".png" and kind not in ("images", "frames")) or (
        suffix == ".gif" and kind != "frames"
    ):
        raise UsageError(f"--out {suffix} needs a checkpoint trained on images or frames")
    prime = _audio_prime(args, model, audio)
    emphasis = float(info.get("emphasis", 0.0)) if audio is not None else 0.0
    torch.manual_seed(args.seed)
    samples = model.sample(
        args.num,
        args.steps,
        prime=prime,
        temperature=args.temperature,
        bound=None if audio is None else full_scale(emphasis),
    )  # (n, steps, d)
    if prime is not None:  # listeners hear the real start, then the model's continuation
        samples = torch.cat([prime.to(samples), samples], dim=1)
    samples = samples.numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"out": str(args.out), "shape": list(samples.shape)}
    if suffix == ".npy":
        np.save(args.out, samples)
    elif suffix == ".csv":
        count, length = samples.shape[:2]
        rows = [[i, t, *samples[i, t]] for i in range(count) for t in range(length)]
        header = "sequence,step," + ",".join(f"y{j}" for j in range(samples.shape[-1]))
        np.savetxt(args.out, rows, delimiter=",", header=header, comments="", fmt="%.6g")
    elif suffix in (".png", ".gif"):
        result["pictures"] = _write_pictures(args.out, samples, info)
    else:
        rate = audio[0]
        gap = np.zeros(rate // 4, dtype=np.float32)
        pieces = [piece for wave in from_frames(samples, emphasis) for piece in (gap, wave)][1:]
        args.out.write_bytes(wav_bytes(np.concatenate(pieces), rate))
        result |= {"sample_rate": rate, "seconds": sum(len(p) for p in pieces) / rate}
    if prime is not None:
        result["prime_steps"] = prime.shape[1]
    print(json.dumps(result))


def _write_pictures(out: Path, samples: np.ndarray, info: dict) -> list[int]:
    """Generated images (a mosaic PNG) or frame sequences (a PNG filmstrip or animated GIF,
    sequences side by side); returns the picture's shape."""
    from PIL import Image

    from frmdn.views import image_mosaic

    if info["kind"] == "images":  # (n, H, W) rows of logit pixels -> a grid of digits
        from frmdn.data.images import LOGIT_LAMBDA, to_pixels

        pixels = to_pixels(samples, logit_lambda=info.get("logit_lambda", LOGIT_LAMBDA))
        picture = image_mosaic(pixels, columns=min(8, len(pixels)))
    else:  # (n, T, latent) -> decoded frames (n, T, H, W)
        from frmdn.data.latents import resolve_vae_path
        from frmdn.models.vae import decode_latents, load_vae

        frames = decode_latents(load_vae(resolve_vae_path(info["vae"])), torch.from_numpy(samples))
        if out.suffix.lower() == ".gif":  # sequences side by side, animated over time
            try:
                from frmdn.plots import frames_gif
            except ModuleNotFoundError as error:  # frmdn.plots imports Plotly: the app extra
                raise UsageError(
                    f"an animated GIF needs frmdn.plots, which needs {error.name}: "
                    "pip install 'frmdn[app]', or write a .png"
                ) from None
            strip = np.concatenate(list(frames), axis=-1)  # (T, H, n W)
            out.write_bytes(frames_gif(strip, scale=1))
            return list(strip.shape)
        n, length, height, width = frames.shape
        picture = image_mosaic(frames.reshape(n * length, height, width), columns=length)
    grey = np.nan_to_num(picture, nan=0.0).clip(0, 255).astype(np.uint8)
    Image.fromarray(grey).save(out)
    return list(grey.shape)


def _actions(args: argparse.Namespace, cond_dim: int) -> np.ndarray:
    """The ``--actions`` file: (T, A) finite floats with A the checkpoint's inputs."""
    try:
        actions = np.load(args.actions, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read --actions {args.actions}: {error}") from None
    if actions.ndim != 2 or actions.shape[1] != cond_dim or len(actions) < 1:
        raise UsageError(f"--actions must be (T, {cond_dim}) floats, got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.number) or not np.isfinite(actions).all():
        raise UsageError("--actions must hold finite numbers")
    return actions.astype(np.float32)


def _dream(args: argparse.Namespace, model: SequenceDensityModel) -> None:
    """Dreams of an action-conditioned checkpoint: from the first latents of the held-out
    sequences, the model imagines ``T`` steps under the given (or the recorded) actions."""
    suffix = args.out.suffix.lower()
    if suffix not in (".npz", ".npy", ".gif"):
        raise UsageError(f"--out must end in .npz, .npy or .gif for dreams, got {args.out.name!r}")
    spec, seed, _ = checkpoint_data(args.checkpoint)
    split = load_data(spec, seed=seed)
    if split.cond_dim != model.config.cond_dim or split.dim != model.config.dim:
        raise UsageError("the checkpoint's data no longer matches the model")
    n = min(args.num, len(split.test))
    start_x = split.test_x[:n, :1]  # (n, 1, A): no action before the start frame
    if args.actions is not None:
        actions = torch.from_numpy(_actions(args, model.config.cond_dim))
        actions = actions.expand(n, -1, -1)
        source = str(args.actions)
    else:  # x_t = a_{t-1}: the recorded actions after the start frame
        actions = split.test_x[:n, 1 : args.steps + 1]
        source = "the collection policy's actions of the held-out rollouts"
    torch.manual_seed(args.seed)
    dreamed = model.sample(
        n,
        actions.shape[1],
        prime=split.test[:n, :1],
        x=torch.cat([start_x, actions], dim=1),
        temperature=args.temperature,
    )
    latents = torch.cat([split.test[:n, :1], dreamed.to(split.test)], dim=1).numpy()
    result: dict[str, object] = {"out": str(args.out), "shape": list(latents.shape)}
    result["actions"] = source
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        np.save(args.out, latents)
    else:
        from frmdn.data.latents import resolve_vae_path
        from frmdn.models.vae import decode_latents, load_vae

        info = recorded_info(args.checkpoint)
        vae = load_vae(resolve_vae_path(info["vae"]))
        frames = decode_latents(vae, torch.from_numpy(latents))  # (n, 1 + T, H, W, 3)
        if suffix == ".npz":
            np.savez(args.out, latents=latents, frames=frames, actions=actions.numpy())
        else:
            from frmdn.plots import frames_gif

            strip = np.concatenate(list(frames), axis=2)  # (1 + T, H, n W, 3)
            args.out.write_bytes(frames_gif(strip, scale=2))
        result["frames"] = list(frames.shape)
    print(json.dumps(result))
