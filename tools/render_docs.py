"""Render the READMEs' result tables and figures from the committed result files.

Each generated region sits between two marker comments, ``<!-- results:NAME begin -->`` and
``<!-- results:NAME end -->``: on lines of their own around a table, or inline around a figure
in a sentence. Only the text between a pair is rewritten, by the renderer of that NAME.

    .venv/bin/python tools/render_docs.py            # rewrite README.md, assets/ and docs/
    .venv/bin/python tools/render_docs.py --check    # print a diff and exit 1 if they drifted

Sources: ``assets/pretrained/*/config.json`` (the checkpoints' ``metrics`` and ``data``) and
``bench/results/*.json`` (benchmarks, voicing, load test). Standard library only.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import docs_grid  # sibling modules: tools/ is on sys.path when this runs as a script
import docs_lowrank

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "assets/README.md", "docs/low-rank.md")
MARKER = re.compile(r"<!-- results:([\w-]+) begin -->(.*?)<!-- results:\1 end -->", re.DOTALL)
MINUS = "\u2212"  # the README's typographic minus; the toy table and assets/README.md use "-"

TOY_SETS = ("ring", "spiral", "moons", "checkerboard", "clusters")
FRAME_SCENES = ("moving-digits", "bouncing-balls")
WORLDS = ("car-racing", "doom-take-cover")
DISTRIBUTED_LABELS = {
    "toy": "toy (d = 2, H = 64, B = 64)",
    "audio-like": "audio-like (d = 80, H = 256, B = 32, pitch predictor)",
}
DISTRIBUTED_COLUMNS = (
    ("1 process, 1 thread", "1 process, 1 thread"),
    ("1 process, 2 threads", "1 process, 2 threads"),
    ("2 processes (DDP), 1 thread each", "2 DDP processes, 1 thread each"),
)
# Not in any result file: the flop rate of two more runs by hand, quoted beside the recorded one.
FLOP_RATE_RANGE = "4.8–5.7 %"
# Not in any result file: models no longer bundled, measured with bench/voicing.py at the time.
EARLIER_VOICING_ROWS = (
    "| RMDN, no pitch predictor (previous bundled model) | 0.01 | 0.110 | 0.03 | 0.088 |",
    "| FRMDN, no pitch predictor (previous bundled model) | 0.00 | 0.168 | 0.00 | 0.156 |",
    "| RMDN, pitch predictor, gain up to 1 | 0.24 | 0.188 | 0.26 | 0.167 |",
    "| FRMDN, pitch predictor, gain up to 1 | 0.68 | 0.381 | 0.41 | 0.188 |",
)


@cache
def load(path: str) -> dict:
    """A result file (path relative to the repository root), parsed once."""
    return json.loads((ROOT / path).read_text())


def checkpoint(name: str) -> dict:
    """The config.json of the bundled checkpoint ``assets/pretrained/<name>``."""
    return load(f"assets/pretrained/{name}/config.json")


def num(x: float, fmt: str, minus: str = MINUS) -> str:
    """``x`` formatted with ``fmt`` (e.g. ``".3f"``, ``",.0f"``), its minus sign as ``minus``."""
    return format(x, fmt).replace("-", minus)


def mean(values: list[float]) -> float:
    """Mean of the finite values (bench/voicing.py records NaN for a clip with no loud hop)."""
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite)


def block(lines: list[str]) -> str:
    """A table as the text of a block region (markers on lines of their own)."""
    return "\n" + "\n".join(lines) + "\n"


def toy_nll() -> str:
    """README: held-out NLL of the toy checkpoints (as
    ``frmdn.experiments.pair.markdown_table``)."""
    lines = [
        "| data | model | valid NLL | test NLL | gain vs RMDN | parameters | steps | time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in TOY_SETS:
        baseline = checkpoint(f"toy-{name}-rmdn")["metrics"]["test_nll"]
        for model in ("RMDN", "FRMDN"):
            c = checkpoint(f"toy-{name}-{model.lower()}")
            m = c["metrics"]
            gain = "" if model == "RMDN" else f"{baseline - m['test_nll']:+.3f}"
            lines.append(
                f"| {c['data']['spec']} | {model} | {m['best_valid_nll']:.3f} | "
                f"{m['test_nll']:.3f} | {gain} | {m['num_parameters']['total']:,} | "
                f"{m['steps']} | {m['seconds']:.1f} |"
            )
    return block(lines)


SPEECH_SCORES = (  # metric of the bundled speech pair -> column
    ("training_voices_nll", "training voices, held-out files"),
    ("english_test_nll", "English test files"),
    ("test_nll", "unseen voices"),
)


def speech_rows(minus: str, parameters: bool, bold: bool) -> list[str]:
    """Rows of a speech table: NLL per frame on each part of SPEECH_SCORES, and per sample on
    the unseen voices."""
    metrics = {m: checkpoint(f"speech-{m}")["metrics"] for m in ("rmdn", "frmdn")}
    rows = []
    for model in ("RMDN", "FRMDN"):
        m = metrics[model.lower()]
        cells = [model]
        if parameters:
            cells.append(f"{m['num_parameters']['total']:,}")
        for key, _ in SPEECH_SCORES:
            text = num(m[key], ".1f", minus)
            best = min(other[key] for other in metrics.values())
            cells.append(f"**{text}**" if bold and m[key] == best else text)
        frame = checkpoint("speech-frmdn")["data"]["info"]["frame_size"]
        cells.append(num(m["test_nll"] / frame, ".2f", minus))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def speech_head(parameters: bool) -> list[str]:
    """The head of a speech table."""
    columns = ["model", *(["parameters"] if parameters else [])]
    columns += [f"{label} (nats / frame)" for _, label in SPEECH_SCORES]
    columns.append("unseen voices (nats / sample)")
    return ["| " + " | ".join(columns) + " |", "|---" + "|---:" * (len(columns) - 1) + "|"]


def speech_nll() -> str:
    """README: NLL of the bundled speech checkpoints on each part."""
    return block([*speech_head(False), *speech_rows(MINUS, False, True)])


def assets_speech_nll() -> str:
    """assets/README.md: parameters and NLL of the bundled speech checkpoints."""
    return block([*speech_head(True), *speech_rows("-", True, False)])


def speech_pair() -> str:
    """README prose: FRMDN / RMDN English test NLL of the English-only pair (speech-english-*),
    e.g. ``−282.7 / −236.8``."""
    return " / ".join(
        num(checkpoint(f"speech-english-{m}")["metrics"]["test_nll"], ".1f")
        for m in ("frmdn", "rmdn")
    )


def speech_nll_best() -> str:
    """README prose: the English-only pair's NLLs and the steps whose weights were kept."""
    steps = " / ".join(
        str(checkpoint(f"speech-english-{m}")["metrics"]["best_step"]) for m in ("frmdn", "rmdn")
    )
    return f"{speech_pair()} (best at step {steps})"


def speech_steps() -> str:
    """assets/README.md prose: how long each speech checkpoint trained and which step it keeps."""
    parts = []
    for model, keeps in (("RMDN", "keeps the weights of"), ("FRMDN", "keeps those of")):
        m = checkpoint(f"speech-{model.lower()}")["metrics"]
        ran = (
            f"ran all {m['steps']} steps"
            if m["stop_reason"] == "completed"
            else f"stopped early at step {m['steps']}"
        )
        parts.append(f"the {model} {ran} and {keeps} step {m['best_step']}")
    seconds = " and ".join(
        f"{checkpoint(f'speech-{m}')['metrics']['seconds']:.0f} s" for m in ("rmdn", "frmdn")
    )
    return f"{parts[0]}, {parts[1]}; the recorded {seconds}"


VOICING = {  # result file -> which bundled pair its "speech-*" rows are
    "bench/results/voicing.json": "four voices (bundled default)",
    "bench/results/voicing_english_pair.json": "English only (bundled as speech-english-*)",
}


def voicing_figures(
    model: str, temperature: str, path: str = "bench/results/voicing.json"
) -> tuple[float, float]:
    """Mean voiced share and RMS of one speech checkpoint's continuations at one temperature."""
    runs = load(path)[f"speech-{model} T={temperature}"]
    return mean(runs["voiced"]), mean(runs["rms"])


def voicing() -> str:
    """README: voiced share and loudness of the continuations of both bundled speech pairs
    (bench/results/voicing.json and voicing_english_pair.json) and of earlier models."""
    lines = [
        "| model | T = 1: voiced | RMS | T = 0.9: voiced | RMS |",
        "|---|---:|---:|---:|---:|",
        *EARLIER_VOICING_ROWS,
    ]
    for path, pair in reversed(VOICING.items()):
        best = max(voicing_figures(m, "1", path)[0] for m in ("rmdn", "frmdn"))
        for model in ("RMDN", "FRMDN"):
            cells = [f"{model}, pitch predictor, gain up to 0.95, {pair}"]
            for temperature in ("1", "0.9"):
                voiced, rms = voicing_figures(model.lower(), temperature, path)
                text = f"{voiced:.2f}"
                cells += [
                    f"**{text}**" if temperature == "1" and voiced == best else text,
                    f"{rms:.3f}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
    return block(lines)


def voicing_clipping() -> str:
    """README: how often continuations clip, per temperature (bench/results/voicing.json)."""
    results = load("bench/results/voicing.json")
    temperatures = results["run"]["temperatures"]
    lines = [
        "| model | " + " | ".join(f"T = {t:g}" for t in temperatures) + " |",
        "|---|" + "---:|" * len(temperatures),
    ]
    for model in ("RMDN", "FRMDN"):
        cells = [
            f"{mean(results[f'speech-{model.lower()} T={t:g}']['beyond_full_scale']):.2%}"
            for t in temperatures
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return block(lines)


def voicing_real() -> str:
    """README prose: voiced share and RMS of real speech over the same span."""
    real = load("bench/results/voicing.json")["real"]
    return f"{mean(real['voiced']):.2f}, RMS {mean(real['rms']):.3f}"


def assets_voicing() -> str:
    """assets/README.md prose: voiced share of both checkpoints at T = 1 and of real speech."""
    frmdn, rmdn = (voicing_figures(m, "1")[0] for m in ("frmdn", "rmdn"))
    real = mean(load("bench/results/voicing.json")["real"]["voiced"])
    return f"{frmdn:.2f} and {rmdn:.2f} at temperature 1, real speech {real:.2f}"


def frames_nll() -> str:
    """README: test NLL of the sequence models on VAE latents."""
    lines = ["| data | RMDN test NLL | FRMDN test NLL | gain |", "|---|---:|---:|---:|"]
    for scene in FRAME_SCENES:
        rmdn = checkpoint(f"frames-{scene}-rmdn")
        frmdn = checkpoint(f"frames-{scene}-frmdn")["metrics"]["test_nll"]
        base = rmdn["metrics"]["test_nll"]
        r, f = num(base, ".3f"), num(frmdn, ".3f")
        r, f = (r, f"**{f}**") if frmdn < base else (f"**{r}**", f)
        data = rmdn["data"]["spec"].partition("?")[0]
        lines.append(f"| {data} | {r} | {f} | {num(base - frmdn, '+.3f')} |")
    return block(lines)


def worlds_nll() -> str:
    """README: the World Models pairs' test NLL and their VAEs' reconstruction error."""
    lines = [
        "| data | latent d | VAE held-out MSE | RMDN test NLL | FRMDN test NLL | gain | "
        "gain per dim |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for world in WORLDS:
        vae = checkpoint(f"vae-{world}")
        rmdn = checkpoint(f"frames-{world}-rmdn")
        base = rmdn["metrics"]["test_nll"]
        frmdn = checkpoint(f"frames-{world}-frmdn")["metrics"]["test_nll"]
        r, f = num(base, ".3f"), num(frmdn, ".3f")
        r, f = (r, f"**{f}**") if frmdn < base else (f"**{r}**", f)
        d = rmdn["config"]["dim"]
        lines.append(
            f"| frames:{world} | {d} | {vae['metrics']['test_mse']:.5f} | {r} | {f} | "
            f"{num(base - frmdn, '+.3f')} | {num((base - frmdn) / d, '+.3f')} |"
        )
    return block(lines)


def worlds_speed() -> str:
    """README prose: World Models collection and dream speed (bench/results/bench_worlds.json)."""
    results = load("bench/results/bench_worlds.json")
    car = results["collection"]["car-racing"]["frames_per_second"]
    doom = results["collection"]["doom-take-cover"]["frames_per_second"]
    dream = {w: 1000 * results["dream"][w]["median_s"] for w in WORLDS}
    return (
        f"collection {car:,.0f} CarRacing and {doom:,.0f} Doom frames per second in 2 worker "
        f"processes ({100_000 / car / 60:.1f} min for 100,000 car frames); one dreamed step of "
        f"both models plus decoding both frames {dream['car-racing']:.1f} ms (car) and "
        f"{dream['doom-take-cover']:.1f} ms (Doom) on one thread"
    )


def world_vae_width() -> str:
    """README prose: the World Models width against the bundled narrower car VAE."""
    vaes = load("bench/results/world_vaes.json")
    wide, narrow = vaes["car-racing 32/64/128/256"], vaes["car-racing 16/32/64/128"]
    ratio = wide["parameters"] / narrow["parameters"]
    return (
        f"{wide['test_mse']:.5f} against {narrow['test_mse']:.5f} squared error per colour "
        f"value, with {ratio:.1f} times the parameters"
    )


def episode_end() -> str:
    """README prose: Doom's episode-end head (bench/results/episode_end.json)."""
    head = load("bench/results/episode_end.json")["doom-take-cover"]
    return (
        f"ROC AUC {head['auc']:.2f} over {head['frames']:,} frames with "
        f"{head['episode_ends']} episode ends, log loss {head['log_loss']:.4f} nats per frame "
        f"against {head['base_rate_log_loss']:.4f} for always saying the base rate "
        f"(trained on {head['train_episode_ends']} episode ends)"
    )


def voices_corpus() -> str:
    """README: the voices of assets/voices (assets/voices/voices.json)."""
    manifest = load("assets/voices/voices.json")
    lines = [
        "| voice | language | speaker | sex | role | minutes | licence |",
        "|---|---|---|---|---|---:|---|",
    ]
    for voice in manifest["voices"]:
        name = (
            "en-allison (`assets/speech`)" if voice["folder"] == "../speech" else voice["folder"]
        )
        lines.append(
            f"| {name} | {voice['language']} | {voice['speaker']} | "
            f"{voice.get('sex', 'not stated')} | {voice['role']} | "
            f"{voice['seconds'] / 60:.1f} | {voice['licence']} |"
        )
    return block(lines)


def unseen_voices(path: str = "bench/results/unseen_voices.json") -> str:
    """README: the bundled speech pair on every voice (bench/results/unseen_voices.json)."""
    voices = load(path)["voices"]
    lines = [
        "| voice | heard | frames | peak | RMDN mean | FRMDN mean | RMDN median | FRMDN median "
        "| RMDN worst | FRMDN worst | FRMDN frames > 1,000 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in voices.items():
        r, f = v["RMDN"], v["FRMDN"]
        cells = [num(x, ",.1f") for x in (r["mean"], f["mean"], r["median"], f["median"])]
        cells += [num(x, ",.0f") for x in (r["worst"], f["worst"])]
        lines.append(
            f"| {name} | {'yes' if v['heard'] else 'no'} | {v['frames']:,} | {v['peak']:.3f} | "
            + " | ".join(cells)
            + f" | {100 * f['blow_ups']:.2f} % |"
        )
    return block(lines)


def unseen_anatomy(path: str) -> str:
    """README: where the FRMDN's worst frames on each voice get their NLL, against its median
    frames (bench/results/unseen_voices.json)."""
    voices = load(path)["voices"]
    lines = [
        "| voice | frames | NLL | mixture term | −log det | RMS of the flow's input, then "
        "after each layer |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, v in voices.items():
        for label, part in v["FRMDN"]["anatomy"].items():
            rms = " → ".join(f"{x:.1f}" for x in part["rms_by_layer"])
            values = [num(part[k], ",.0f") for k in ("nll", "mixture_term", "minus_log_det")]
            lines.append(f"| {name} | {label} 20 | " + " | ".join(values) + f" | {rms} |")
    return block(lines)


def coupling_bounds() -> str:
    """README: bundled-size speech models with and without bounded couplings, on the training
    voices and the unseen voices (bench/results/coupling_bounds.json)."""
    checkpoints = load("bench/results/coupling_bounds.json")["checkpoints"]
    lines = [
        "| model | log-scale cap | shift bound | training voices, held-out files | unseen voices "
        "| unseen: median frame | unseen: worst frame | unseen frames > 1,000 "
        "| best step / steps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c in checkpoints.items():
        flow = c["scale_bound"] is not None
        cap = f"{c['scale_bound']:g}" if flow else "—"
        shift = ("none" if not c["shift_bound"] else f"{c['shift_bound']:g}") if flow else "—"
        values = [
            num(c[k], ",.1f") for k in ("training_voices_nll", "unseen_nll", "unseen_median")
        ]
        lines.append(
            f"| {label} | {cap} | {shift} | "
            + " | ".join(values)
            + f" | {num(c['unseen_worst'], ',.0f')} | {100 * c['unseen_blow_ups']:.2f} % "
            f"| {c['best_step']} / {c['steps']} |"
        )
    return block(lines)


def voicing_goal() -> str:
    """README prose: both bundled pairs' FRMDN against issue 22's goal at T = 1 (voiced share
    at least 0.9, RMS within 20 % of the real speech's)."""
    real = load("bench/results/voicing.json")["real"]
    voiced_real, rms_real = mean(real["voiced"]), mean(real["rms"])
    parts = []
    for path, pair in VOICING.items():
        for model in ("frmdn", "rmdn"):
            voiced, rms = voicing_figures(model, "1", path)
            parts.append(
                f"the {pair.split(' (')[0]} pair's {model.upper()} {voiced:.2f} voiced, "
                f"at {rms / rms_real:.0%} of the real level"
            )
    return f"{'; '.join(parts)} (real speech: {voiced_real:.2f} voiced, RMS {rms_real:.3f})"


def voicing_levers() -> str:
    """README: voicing and level of other speech FRMDNs trained on the four voices, each
    against the real speech (bench/results/voicing_levers.json)."""
    results = load("bench/results/voicing_levers.json")
    real_rms = mean(results["real"]["rms"])
    names = sorted({key.rpartition(" T=")[0] for key in results if " T=" in key})
    lines = [
        "| FRMDN on four voices (checkpoint) | training voices' held-out files (nats/sample) "
        "| unseen voices (nats/sample) | T = 1: voiced | level | T = 0.9: voiced | level |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        c = results["checkpoints"][name]
        cells = [num(c[key] / c["dim"], ".2f") for key in ("valid_nll", "test_nll")]
        for temperature in ("1", "0.9"):
            run = results[f"{name} T={temperature}"]
            cells += [f"{mean(run['voiced']):.2f}", f"{mean(run['rms']) / real_rms:.0%}"]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return block(lines)


ENGLISH_PAIR_VOICES = "bench/results/unseen_voices_english_pair.json"


def unseen_voices_english() -> str:
    """README: the previous, English-only speech pair on every voice."""
    return unseen_voices(ENGLISH_PAIR_VOICES)


def unseen_anatomy_english() -> str:
    """README: the anatomy of the English-only pair's worst frames."""
    return unseen_anatomy(ENGLISH_PAIR_VOICES)


def mixture_speed() -> str:
    """README: LowRankPrecisionGMM vs torch.distributions (bench/results/bench_mixture.json)."""
    b = load("bench/results/bench_mixture.json")
    vs, flops = b["log_prob_vs_reference"], b["flop_rate"]
    ours, ref = vs["frmdn"]["model"]["median_s"], vs["reference"]["median_s"]
    percent = flops["percent_of_matmul"]
    n, r = b["config"]["matmul_n"], vs["shape"]["rank"]
    return block(
        [
            "| measurement | result | target |",
            "|---|---|---|",
            f"| `LowRankPrecisionGMM` (r = {r}) vs "
            "`MixtureSameFamily(MultivariateNormal(precision_matrix=D + UUᵀ))` | "
            f"{ours * 1e3:.1f} ms vs {ref:.2f} s (medians, `bench_mixture.json`): "
            f"**{vs['speedup']['model']:.0f}× faster** | ≥ {vs['target_speedup']:g}× |",
            f"| useful flop rate of the r = {r} log_prob vs a {n}³ float32 matmul "
            f"(~{flops['gflops_per_s']['matmul']:.0f} GFLOP/s) in the same run | "
            f"**{percent['frmdn_r8']:.1f} %** (recorded run; three runs by hand: "
            f"{FLOP_RATE_RANGE}) | ≥ {flops['target_percent']:g} % |",
            f"| same, diagonal (r = 0) | {percent['frmdn_r0']:.1f} % (memory-bound by nature) "
            "| — |",
        ]
    )


def training_speed() -> str:
    """README: ms per training step, FRMDN against RMDN (bench/results/bench_training.json)."""
    configs = load("bench/results/bench_training.json")["training"]
    target = next(iter(configs.values()))["target_ratio"]
    lines = [
        f"| configuration | RMDN ms/step | FRMDN ms/step | FRMDN / RMDN (target ≤ {target:g}×) |",
        "|---|---:|---:|---:|",
    ]
    for name, c in configs.items():
        a = c["rmdn"]["args"]
        pitch = " (with the pitch predictor)" if a["pitch_max_lag"] else ""
        label = (
            f"{name}{pitch}: d={c['dim']}, K={a['n_components']}, r={a['rank']}, "
            f"H={a['hidden_size']}, B={c['batch']}, T={c['length']}"
        )
        lines.append(
            f"| {label} | {c['rmdn']['median_s'] * 1e3:.1f} | "
            f"{c['frmdn']['median_s'] * 1e3:.1f} | {c['ratio']:.2f}× |"
        )
    return block(lines)


def generation_speed() -> str:
    """README prose: real-time factor of generation (bench/results/bench_training.json)."""
    g = load("bench/results/bench_training.json")["generation"]
    return (
        f"{g['audio_seconds']:g} s of audio in {g['frmdn']['median_s']:.3f} s, "
        f"**{g['frmdn']['real_time_factor']:.1f}× faster than real time** "
        f"(RMDN {g['rmdn']['real_time_factor']:.1f}×"
    )


def distributed() -> str:
    """README: DDP against threads (bench/results/bench_distributed.json)."""
    throughput = load("bench/results/bench_distributed.json")["throughput"]
    head = " | ".join(label for _, label in DISTRIBUTED_COLUMNS)
    lines = [f"| configuration | {head} |", "|---|---:|---:|---:|"]
    for name, runs in throughput.items():
        first, *rest = (runs[key] for key, _ in DISTRIBUTED_COLUMNS)
        cells = [f"{first['steps_per_second']:.1f} steps/s"]
        cells += [f"{run['speed-up']:.2f}×" for run in rest]
        lines.append(f"| {DISTRIBUTED_LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    return block(lines)


def load_test() -> str:
    """README: the class-on-one-server load test (bench/results/load_test.json)."""
    t = load("bench/results/load_test.json")
    n, cores = t["sessions"], t["cores"]
    one_goal = f"≤ 1.5 × CLI + 10 s = {t['one_session_goal_seconds']:.1f} s"
    eight_goal = (
        f"≤ {n} × CLI / {cores} cores × 1.25 + 30 s = {t['eight_sessions_goal_seconds']:.1f} s"
    )
    rows = [
        ("measurement", "result", "goal"),
        (
            "the pair through the CLI (compute, start-up excluded)",
            f"{t['cli_seconds']:.1f} s",
            "—",
        ),
        ("one session alone, click to finished", f"{t['one_session_seconds']:.1f} s", one_goal),
        (
            f"{n} sessions at once, until the last finished",
            f"{t['eight_sessions_seconds']:.1f} s",
            eight_goal,
        ),
        (
            "sessions that showed their queue position",
            f"{t['sessions_that_saw_queue']} of {n}",
            "—",
        ),
        (
            "peak memory of the server and its job workers",
            f"{t['peak_server_mib']:,.0f} MiB",
            f"< {t['memory_goal_mib'] / 1024:g} GiB",
        ),
        (
            f"server process CPU while the {n} trained",
            f"{t['server_process_cpu_cores_phase_b']:.2f} cores",
            "—",
        ),
    ]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    return block([lines[0], "|---|---:|---:|", *lines[1:]])


FIT_DATA = {  # bundled pair -> how the README names its data
    "speech": "speech (four-voice pair, English test files)",
    "images-digits": "images:digits",
    "frames-moving-digits": "frames:moving-digits (VAE latents)",
    "frames-bouncing-balls": "frames:bouncing-balls (VAE latents)",
}


def mixture_fit() -> str:
    """README: how well each bundled pair's Gaussians fit the true next values
    (bench/results/mixture_fit.json)."""
    fits = load("bench/results/mixture_fit.json")["fits"]
    lines = [
        "| bundled pair's data | d | RMDN KS | FRMDN KS | RMDN mean m²/d | FRMDN mean m²/d |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, pair in fits.items():
        r, f = pair["RMDN"], pair["FRMDN"]
        data = FIT_DATA.get(name, name.replace("toy-", "toy:"))
        lines.append(
            f"| {data} | {pair['dim']} | {r['ks']:.3f} | {f['ks']:.3f} | "
            f"{r['mean_m2_per_dim']:.3f} | {f['mean_m2_per_dim']:.3f} |"
        )
    return block(lines)


RENDERERS: dict[str, Callable[[], str]] = {
    "grid-run": docs_grid.grid_run,
    "grid-run-toy": docs_grid.grid_run_toy,
    "grid-nll-full": docs_grid.grid_nll_full,
    "grid-flow-full": docs_grid.grid_flow_full,
    "grid-run-full": docs_grid.grid_run_full,
    "grid-nll-worlds": docs_grid.grid_nll_worlds,
    "voices-corpus": voices_corpus,
    "unseen-voices": unseen_voices,
    "unseen-voices-english": unseen_voices_english,
    "coupling-bounds": coupling_bounds,
    "voicing-goal": voicing_goal,
    "voicing-levers": voicing_levers,
    "unseen-anatomy-english": unseen_anatomy_english,
    "episode-end": episode_end,
    "grid-flow-worlds": docs_grid.grid_flow_worlds,
    "grid-run-worlds": docs_grid.grid_run_worlds,
    "grid-voices": docs_grid.grid_voices,
    "grid-run-voices": docs_grid.grid_run_voices,
    "voice-levers": docs_grid.voice_levers,
    "grid-sweep": docs_grid.grid_sweep,
    "grid-sweep-rank": docs_grid.grid_sweep_rank,
    "grid-rank-full": docs_grid.grid_rank_full,
    "grid-rank-before": docs_lowrank.rank_before,
    "lowrank-diagnosis": docs_lowrank.diagnosis,
    "lowrank-spectrum": docs_lowrank.spectrum,
    "lowrank-spectrum-frames": docs_lowrank.spectrum_frames,
    "lowrank-diagnosis-frames": docs_lowrank.diagnosis_frames,
    "lowrank-diagnosis-speech": docs_lowrank.diagnosis_speech,
    "lowrank-spectrum-speech": docs_lowrank.spectrum_speech,
    "lowrank-speech-longer": docs_lowrank.speech_longer,
    "lowrank-settings": docs_lowrank.settings,
    "toy-nll": toy_nll,
    "speech-nll": speech_nll,
    "speech-nll-best": speech_nll_best,
    "speech-nll-pair": speech_pair,
    "voicing": voicing,
    "voicing-real": voicing_real,
    "voicing-clipping": voicing_clipping,
    "frames-nll": frames_nll,
    "worlds-nll": worlds_nll,
    "world-vae-width": world_vae_width,
    "worlds-speed": worlds_speed,
    "mixture-speed": mixture_speed,
    "training-speed": training_speed,
    "generation-speed": generation_speed,
    "distributed": distributed,
    "load-test": load_test,
    "mixture-fit": mixture_fit,
    "assets-speech-nll": assets_speech_nll,
    "assets-speech-steps": speech_steps,
    "assets-voicing": assets_voicing,
}


def regions(text: str) -> list[tuple[str, str]]:
    """The (name, current text) of every marked region of a document, in order."""
    return [(m.group(1), m.group(2)) for m in MARKER.finditer(text)]


def render(text: str) -> str:
    """``text`` with every marked region rewritten by its renderer; an unknown name is an error.

    An inline region (a figure in a sentence) may be wrapped over lines as the paragraph needs:
    its line breaks are kept while its words match the rendered ones.
    """

    def replace(match: re.Match[str]) -> str:
        name, old = match.group(1), match.group(2)
        if name not in RENDERERS:
            raise KeyError(
                f"no renderer for <!-- results:{name} begin --> in tools/render_docs.py"
            )
        new = RENDERERS[name]()
        if not new.startswith("\n") and old.split() == new.split():
            new = old
        return f"<!-- results:{name} begin -->{new}<!-- results:{name} end -->"

    return MARKER.sub(replace, text)


def drift(text: str, label: str) -> list[tuple[str, str]]:
    """(name, unified diff) of each region of ``text`` that differs from its rendering.

    ``label`` names the document in the diff headers; an empty list means it is up to date.
    """
    out = []
    for (name, old), (_, new) in zip(regions(text), regions(render(text)), strict=True):
        if old != new:
            diff = difflib.unified_diff(
                old.strip("\n").splitlines(),
                new.strip("\n").splitlines(),
                f"{label} results:{name} (now)",
                f"{label} results:{name} (from the result files)",
                lineterm="",
            )
            out.append((name, "\n".join(diff)))
    return out


def main(argv: list[str] | None = None) -> int:
    """Rewrite the READMEs in place, or with ``--check`` print their drift and return 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on drift")
    parser.add_argument("docs", nargs="*", type=Path, help=f"default: {' '.join(DOCS)}")
    args = parser.parse_args(argv)
    paths = args.docs or [ROOT / doc for doc in DOCS]
    drifted = False
    for path in paths:
        if args.check:
            for _, diff in drift(path.read_text(), str(path)):
                drifted = True
                print(diff)
        else:
            text = path.read_text()
            rendered = render(text)
            if rendered != text:
                path.write_text(rendered)
                print(f"rewrote {path}")
    if drifted:
        print(
            "\nthe READMEs differ from their result files; fix with: "
            ".venv/bin/python tools/render_docs.py"
        )
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
