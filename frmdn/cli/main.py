"""Command line: ``python -m frmdn train|compare|eval|sample|experiments``.

Errors in arguments, data or checkpoints print one line on stderr and exit with status 2.
For checkpoints trained on audio (``--data audio:PATH``), ``eval`` also reports the NLL per
sample and the log-likelihood per half second, and ``sample`` writes WAV files and can continue
real test audio (``--prime-seconds``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from frmdn.checkpoints.load import load
from frmdn.cli import experiments as cli_experiments
from frmdn.cli import sample as cli_sample
from frmdn.cli.common import (
    UsageError,
    audio_info,
    checkpoint_data,
    positive,
    with_recorded_vae,
)
from frmdn.data import SCHEMES, load_data
from frmdn.device import idle_cores, set_threads
from frmdn.errors import CheckpointError
from frmdn.experiments.pair import ComparisonRow, compare, markdown_table, train_on_split
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import FRMDN, FRMDN_FLOW_LAYERS, RMDN, SequenceDensityModel
from frmdn.training.distributed import leave as leave_process_group
from frmdn.training.distributed import main_process
from frmdn.training.resume import load_training_state
from frmdn.training.trainer import TrainConfig, evaluate_nll
from frmdn.views import split_bits_per_dim

__all__ = ["main"]

THREADS_ENV = "FRMDN_THREADS"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UsageError(message)


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=positive,
        default=None,
        help=f"torch CPU threads (default: ${THREADS_ENV}, else the cores not busy with "
        "other work by the load average; under torchrun 1 per process)",
    )


def _threads(args: argparse.Namespace) -> tuple[int, str]:
    """The thread count to use and where it came from (for the message on stderr)."""
    if args.threads is not None:
        return args.threads, "--threads"
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        try:
            return positive(text), f"${THREADS_ENV}"
        except (ValueError, argparse.ArgumentTypeError):
            raise UsageError(f"{THREADS_ENV} must be a whole number >= 1, got {text!r}") from None
    if "LOCAL_RANK" in os.environ:  # torchrun: one process per core or GPU
        return 1, "one per torchrun process"
    return idle_cores(), "the idle cores"


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """Model size and optimisation options shared by ``train`` and ``compare``."""
    model, training = ModelConfig, TrainConfig  # defaults live there, nowhere else
    parser.add_argument(
        "--components", type=positive, default=model.n_components, help="mixture components K"
    )
    parser.add_argument(
        "--rank", type=int, default=model.rank, help="low-rank precision part (0 = diag)"
    )
    parser.add_argument("--hidden", type=positive, default=model.hidden_size, help="LSTM width")
    parser.add_argument(
        "--flow-layers", type=positive, default=FRMDN_FLOW_LAYERS, help="FRMDN couplings"
    )
    parser.add_argument("--flow-hidden", type=positive, default=model.flow_hidden)
    parser.add_argument("--flow-depth", type=positive, default=model.flow_depth)
    parser.add_argument(
        "--scale-bound",
        type=float,
        default=model.scale_bound,
        help="FRMDN: bound c on each coupling's log-scale, so a layer scales by e^±c at most",
    )
    parser.add_argument(
        "--shift-bound",
        type=float,
        default=model.shift_bound,
        help="FRMDN: bound on each coupling's shift (default 0: unbounded, the paper's)",
    )
    parser.add_argument(
        "--pitch-max-lag",
        type=int,
        default=model.pitch_max_lag,
        help="audio: subtract a pitch predictor's guess (periods up to this many samples, "
        "e.g. 160 at 8 kHz) before the flow (default 0: none)",
    )
    parser.add_argument("--steps", type=positive, default=training.steps)
    parser.add_argument("--batch-size", type=positive, default=training.batch_size)
    parser.add_argument("--lr", type=float, default=training.lr)
    parser.add_argument("--weight-decay", type=float, default=training.weight_decay)
    parser.add_argument("--eval-every", type=positive, default=training.eval_every)
    parser.add_argument("--patience", type=int, default=training.patience)
    parser.add_argument("--seed", type=int, default=training.seed)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: best available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    _add_threads_option(parser)


def _build_parser() -> argparse.ArgumentParser:
    data_help = "data spec: " + "; ".join(hint for _, hint in SCHEMES.values())
    summary = __doc__.splitlines()[0].replace("``", "")  # plain text, not reStructuredText
    parser = _Parser(prog="python -m frmdn", description=summary)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train an RMDN or FRMDN and save a checkpoint")
    train.add_argument("--data", help=data_help)
    train.add_argument("--model", choices=("rmdn", "frmdn"), default="frmdn")
    train.add_argument("--out", type=Path, help="checkpoint directory")
    train.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the killed run whose checkpoint directory is DIR, with its own data, "
        "model and optimiser settings (a run saves its state after every evaluation)",
    )
    train.add_argument("--dropout", type=float, default=ModelConfig.dropout)
    train.add_argument("--input-noise", type=float, default=ModelConfig.input_noise)
    train.add_argument(
        "--layers", type=positive, default=ModelConfig.num_layers, help="LSTM depth"
    )
    _add_training_options(train)

    comparison = commands.add_parser(
        "compare", help="train RMDN and FRMDN on each data set; print a markdown table"
    )
    comparison.add_argument("--data", required=True, nargs="+", help=data_help)
    comparison.add_argument("--out-dir", type=Path, default=None, help="save checkpoints here")
    _add_training_options(comparison)

    evaluate = commands.add_parser("eval", help="print held-out NLL as one JSON line")
    evaluate.add_argument("--checkpoint", required=True, type=Path)
    evaluate.add_argument("--data", default=None, help="default: the checkpoint's own data")
    evaluate.add_argument("--split", choices=("train", "valid", "test"), default="test")
    _add_threads_option(evaluate)

    cli_sample.add_parser(commands)
    _add_threads_option(commands.choices["sample"])
    cli_experiments.add_parser(commands, data_help)
    _add_threads_option(commands.choices["experiments"])
    return parser


def _build(args: argparse.Namespace, dim: int, cond_dim: int = 0) -> SequenceDensityModel:
    common = dict(
        cond_dim=cond_dim,
        n_components=args.components,
        rank=args.rank,
        hidden_size=args.hidden,
        num_layers=args.layers,
        dropout=args.dropout,
        input_noise=args.input_noise,
        pitch_max_lag=args.pitch_max_lag,
    )
    if args.model == "rmdn":
        return RMDN(dim, **common)
    return FRMDN(
        dim,
        **common,
        flow_layers=args.flow_layers,
        flow_hidden=args.flow_hidden,
        flow_depth=args.flow_depth,
        scale_bound=args.scale_bound,
        shift_bound=args.shift_bound,
    )


def _config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        eval_every=args.eval_every,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
    )


def _train(args: argparse.Namespace) -> None:
    if args.resume is not None:
        if args.data is not None or args.out is not None:
            raise UsageError("--resume DIR takes the data and output directory from DIR")
        state, config, data = load_training_state(args.resume)
        spec, out, model = data["spec"], args.resume, load(args.resume)
        split = load_data(spec, seed=data["seed"])
        what = f"resuming {type(model).__name__} on {spec} at step {state['result'].steps}"
    else:
        if args.data is None or args.out is None:
            raise UsageError("train needs --data and --out (or --resume DIR)")
        split = load_data(args.data, seed=args.seed)
        torch.manual_seed(args.seed)
        spec, out, state = args.data, args.out, None
        model, config = _build(args, split.dim, split.cond_dim), _config(args)
        what = f"training {type(model).__name__} on {spec}"
    if not args.quiet and main_process():
        print(args.threads_note, file=sys.stderr)
        print(f"{what} ...", file=sys.stderr)
    main = main_process()
    row = train_on_split(
        model, split, config, spec, out, main and not args.quiet, resumable=True, state=state
    )
    if main:
        print(json.dumps({"checkpoint": str(out)} | asdict(row)))


def _compare(args: argparse.Namespace) -> None:
    def show(row: ComparisonRow) -> None:
        if not args.quiet:
            print(
                f"{row.data} {row.model}: test NLL {row.test_nll:.3f} "
                f"({row.seconds:.0f} s, {row.stop_reason})",
                file=sys.stderr,
            )

    if not args.quiet:
        print(args.threads_note, file=sys.stderr)
    rows = compare(
        args.data,
        _config(args),
        out_dir=args.out_dir,
        on_row=show,
        progress_bar=not args.quiet,
        n_components=args.components,
        rank=args.rank,
        hidden_size=args.hidden,
        flow_layers=args.flow_layers,
        flow_hidden=args.flow_hidden,
        flow_depth=args.flow_depth,
        scale_bound=args.scale_bound,
        shift_bound=args.shift_bound,
        pitch_max_lag=args.pitch_max_lag,
    )
    print(markdown_table(rows))


def _eval(args: argparse.Namespace) -> None:
    model = load(args.checkpoint)
    spec, seed, info = checkpoint_data(args.checkpoint, args.data)
    spec = with_recorded_vae(spec, info)
    split = load_data(spec, seed=seed)
    if split.dim != model.config.dim:
        raise UsageError(f"data has dimension {split.dim}, the model {model.config.dim}")
    if split.cond_dim != model.config.cond_dim:
        raise UsageError(
            f"data has {split.cond_dim} conditioning inputs, the model {model.config.cond_dim}"
        )
    nll = evaluate_nll(model, split.part(args.split))
    result = {
        "data": spec,
        "split": args.split,
        "nll": nll,
        "unit": "nats/step",
        "nll_per_dim": nll / model.config.dim,
        "model": type(model).__name__,
    }
    audio = audio_info(split.info)
    if audio is not None:  # nats per frame -> per sample and per half second of sound
        rate, frame = audio
        result |= {
            "nll_per_sample": nll / frame,
            "log_likelihood_per_half_second": -nll * 0.5 * rate / frame,
            "sample_rate": rate,
        }
    if split.info.get("kind") == "images":  # rows of pixels: also the standard bits/dim
        result["unit"] = "nats/step in logit space (bits_per_dim: of the 8-bit pixels)"
        result["bits_per_dim"] = split_bits_per_dim(model, getattr(split, args.split), split.info)
    print(json.dumps(result))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _build_parser().parse_args(argv)
        threads, origin = _threads(args)
        set_threads(threads)
        args.threads_note = (
            f"frmdn: {threads} torch thread{'s' * (threads > 1)} ({origin}); change with "
            f"--threads N or {THREADS_ENV}=N"
        )
        commands = {
            "train": _train,
            "compare": _compare,
            "eval": _eval,
            "sample": cli_sample.run,
            "experiments": cli_experiments.run,
        }
        commands[args.command](args)
    except (UsageError, CheckpointError, ValueError, OSError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        leave_process_group()  # under torchrun
    return 0
