"""docs/low-rank.md's tables: the low-rank diagnosis (bench/results/lowrank_diagnosis.json) and
the rank's paired effect in the full grid before and after the clipping fix."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import docs_grid

from frmdn.experiments.grid_stats import RANK_PAIRS

ROOT = Path(__file__).resolve().parents[1]
DIAGNOSIS = ROOT / "bench" / "results" / "lowrank_diagnosis.json"  # digits
FRAMES = DIAGNOSIS.with_name("lowrank_diagnosis_frames.json")
SPEECH = DIAGNOSIS.with_name("lowrank_diagnosis_speech.json")
SPEECH_LONGER = DIAGNOSIS.with_name("lowrank_diagnosis_speech_600.json")
BEFORE = ROOT / "assets" / "results" / "full-clip-per-step"
MINUS = "\u2212"


def _runs(path: Path = DIAGNOSIS) -> dict[str, list[dict]]:
    """A diagnosis's runs grouped by variant, in the order they were run."""
    grouped: dict[str, list[dict]] = {}
    for run in json.loads(path.read_text())["runs"]:
        grouped.setdefault(run["variant"], []).append(run)
    return grouped


def _mean(values: list[float], digits: int) -> str:
    text = f"{statistics.fmean(values):.{digits}f}"
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.{digits}f}"
    return text.replace("-", MINUS)


def _late(runs: list[dict], group: str) -> str:
    values = [r["group_norm_late"].get(group) for r in runs]
    return "—" if None in values else f"{statistics.fmean(values):.1f}"


def diagnosis(path: Path = DIAGNOSIS) -> str:
    """Per variant: test NLL, how often and how hard the clip acted, the late gradient norms of
    the means, factors, LSTM and flow, and the factor's size relative to the diagonal."""
    lines = [
        "| variant | seeds | test NLL (nats/step) | clip active | step scale when clipped "
        "| ‖∇ means‖ | ‖∇ factors‖ | ‖∇ LSTM‖ | ‖∇ flow‖ | ‖U‖²_F at the end "
        "| tr(UᵀD⁻¹U) at the first report | at the end |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, runs in _runs(path).items():
        active = statistics.fmean(r["clip_active"] for r in runs)
        scale = statistics.fmean(r["clip_scale_median"] for r in runs)
        size = {
            (key, at): [r["factor_size"][at].get(key) for r in runs]
            for key, at in (("factor_sq", -1), ("relative_sq", 0), ("relative_sq", -1))
        }
        size = {k: "—" if None in v else f"{statistics.fmean(v):.0f}" for k, v in size.items()}
        lines.append(
            f"| {variant} | {len(runs)} | {_mean([r['test_nll'] for r in runs], 2)} | "
            f"{active:.0%} | {scale:.2f} | {_late(runs, 'loc')} | {_late(runs, 'factor')} | "
            f"{_late(runs, 'lstm')} | {_late(runs, 'flow')} | {size['factor_sq', -1]} | "
            f"{size['relative_sq', 0]} | {size['relative_sq', -1]} |"
        )
    return "\n" + "\n".join(lines) + "\n"


def spectrum(path: Path = DIAGNOSIS) -> str:
    """Per variant trained with the per-dimension clip: the whitened residuals' extreme
    eigenvalues and the nats per step a rank-r precision or covariance update, or a full
    covariance, could still take."""
    data = json.loads(path.read_text())["run"]["data"]
    lines = [
        f"| {data}: variant | smallest eigenvalues | largest eigenvalues "
        "| left to a rank-r precision (nats/step) | left to a rank-r covariance (nats/step) "
        "| left to a full covariance (nats/step) | test NLL | test − train NLL |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, runs in _runs(path).items():
        if not variant.endswith("clip 5/dim"):
            continue
        spectra = [r["spectrum"] for r in runs]
        small = [statistics.fmean(s["smallest"][i] for s in spectra) for i in range(2)]
        large = [statistics.fmean(s["largest"][i] for s in spectra) for i in (-2, -1)]
        lines.append(
            f"| {variant} | {small[0]:.2f}, {small[1]:.2f} | {large[0]:.2f}, {large[1]:.2f} | "
            f"{statistics.fmean(s['precision_gain_rank'] for s in spectra):.2f} | "
            f"{statistics.fmean(s['covariance_gain_rank'] for s in spectra):.2f} | "
            f"{statistics.fmean(s['full_gain'] for s in spectra):.2f} | "
            f"{_mean([r['test_nll'] for r in runs], 2)} | "
            f"{_mean([r['test_nll'] - r['train_nll'] for r in runs], 2)} |"
        )
    return "\n" + "\n".join(lines) + "\n"


def diagnosis_frames() -> str:
    """:func:`diagnosis` on the moving-digits latents."""
    return diagnosis(FRAMES)


def diagnosis_speech() -> str:
    """:func:`diagnosis` on the bundled speech."""
    return diagnosis(SPEECH)


def spectrum_frames() -> str:
    """:func:`spectrum` on the moving-digits latents."""
    return spectrum(FRAMES)


def spectrum_speech() -> str:
    """:func:`spectrum` on the bundled speech."""
    return spectrum(SPEECH)


def speech_longer() -> str:
    """Test NLL and generalisation gap per variant of the longer speech runs."""
    run = json.loads(SPEECH_LONGER.read_text())["run"]
    lines = [
        f"| {run['data']}, {run['steps']} steps of {run['batch_size']}: variant | seeds "
        "| test NLL (nats/step) | test − train NLL |",
        "|---|---:|---:|---:|",
    ]
    for variant, runs in _runs(SPEECH_LONGER).items():
        lines.append(
            f"| {variant} | {len(runs)} | {_mean([r['test_nll'] for r in runs], 2)} | "
            f"{_mean([r['test_nll'] - r['train_nll'] for r in runs], 2)} |"
        )
    return "\n" + "\n".join(lines) + "\n"


def settings() -> str:
    """Prose: the diagnosis's data, budget and seeds, from its result file."""
    s = json.loads(DIAGNOSIS.read_text())["run"]
    seeds = ", ".join(str(seed) for seed in s["seeds"])
    return (
        f"{s['data']}, K = {s['K']}, r = {s['rank']}, LSTM {s['hidden']}, {s['steps']} steps "
        f"of {s['batch_size']}, seeds {seeds}"
    )


def rank_before() -> str:
    """The rank's paired effect in the full grid trained with the old per-step clip."""
    return docs_grid.grid_flow(BEFORE, RANK_PAIRS)
