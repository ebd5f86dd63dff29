"""Load test: one, then eight browser sessions press **Train both** on the toy page at once.

A fresh ``streamlit run app.py`` (loopback only) serves headless Chromium. Phase A: one session
trains the toy pair alone. Phase B: eight sessions (one browser context each, so eight Streamlit
sessions) with seeds 1..8 press **Train both** together; the server's job pool runs as many as
it has workers and queues the rest. The goals are relative to the same pair trained by the CLI
in the same test run, so they hold on slow or busy machines:

* every session finishes, with its own models, and no error box anywhere;
* one session alone: within 1.5 x CLI compute + 10 s;
* eight sessions: the last within 8 x compute / cores x 1.25 + 30 s;
* the server (streamlit and all its child processes) peaks under 4 GiB resident.

Its goals are timings, so like the benchmarks it runs by hand, not in the default test run:
``.venv/bin/python -m pytest -m load tests/test_load.py``. The figures are printed;
``FRMDN_WRITE_RESULTS=1`` also writes them to
``bench/results/load_test.json`` and the screenshot of a queued session to
``docs/screenshots/queued.png`` (default: both under ``artifacts/``, which git ignores).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from test_browser import (  # the browser tests' fixtures and helpers
    APP_IDLE,
    CHROMIUM_ARGS,
    ROOT,
    VIEWPORT,
    chromium,  # noqa: F401
    errors_on,
    settle,
    streamlit_server,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.load]

SESSIONS = 8
STEPS = 100  # one of the toy page's step options
CLI_OPTIONS = [
    "--components", "3", "--rank", "1", "--hidden", "64", "--flow-layers", "4",
    "--flow-hidden", "64", "--batch-size", "64", "--lr", "3e-3", "--eval-every", "25",
    "--patience", "0",
]  # fmt: skip  # what the toy page's Train both uses
MEMORY_GOAL_MIB = 4096
TEST_BUDGET_S = 270  # every wait below ends by then, so the test stays under ~5 minutes
LOAD_TIMEOUT_S = 150  # pages of all sessions rendered
SAMPLE_EVERY_S = 0.2
BROWSER_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",  # eight pages poll at once: none is throttled
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
PROGRESS = '[data-testid="stProgress"]'
QUEUED, FINISHED = "queued (position", "Training finished"
TRAINED_HERE = "trained in this session on toy:ring"
WRITE = os.environ.get("FRMDN_WRITE_RESULTS") == "1"
RESULTS = ROOT / ("bench/results" if WRITE else "artifacts") / "load_test.json"
QUEUED_SHOT = ROOT / ("docs/screenshots" if WRITE else "artifacts/screenshots") / "queued.png"


# ----------------------------------------------------------------------------- the CLI baseline
def cli_compute(out_dir: Path) -> dict[str, float | str]:
    """Seconds for ``python -m frmdn compare`` on the page's pair: its start-up (``--help``),
    its whole run, and the difference (the compute)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "frmdn", "compare"]
    start = time.perf_counter()
    helped = subprocess.run(
        [*base, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    startup = time.perf_counter() - start
    assert helped.returncode == 0, helped.stderr
    threads = ["--threads", "1"] if "--threads" in helped.stdout else []
    cmd = [
        *base, "--data", "toy:ring", "--steps", str(STEPS), "--seed", "0", *CLI_OPTIONS,
        *threads, "--quiet", "--out-dir", str(out_dir),
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    return {
        "cli_startup_seconds": startup,
        "cli_wall_seconds": wall,
        "cli_seconds": max(wall - startup, 0.1),
        "cli_table": done.stdout.strip(),
    }


def cli_gain(table: str) -> float:
    """The FRMDN row's "gain vs RMDN" (RMDN minus FRMDN test NLL) from the CLI's table."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]
    column = rows[0].index("gain vs RMDN")
    return float(next(row[column] for row in rows if row[1] == "FRMDN"))


def caption_gain(caption: str) -> float | None:
    """x from the scoreboard caption "FRMDN - RMDN: x nats per step ..."."""
    match = re.search(r"FRMDN - RMDN: ([+-]?[0-9.]+) nats", caption)
    return float(match.group(1)) if match else None


# ----------------------------------------------------------------------------- server memory
def _children() -> dict[int, list[int]]:
    """Every process's children, from the ppid field of /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children, tree, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    """The ``streamlit run`` child of this process that serves ``port``."""
    for pid in _children().get(os.getpid(), []):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in cmdline and str(port).encode() in cmdline:
            return pid
    raise AssertionError(f"no streamlit child process serves port {port}")


class MemorySampler(threading.Thread):
    """Samples the summed VmRSS of a process tree until stopped; keeps the peak."""

    def __init__(self, root: int) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.root, self.peak_kib, self.peak_processes = root, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            tree = process_tree(self.root)
            total = sum(rss_kib(pid) for pid in tree)
            if total > self.peak_kib:
                self.peak_kib, self.peak_processes = total, len(tree)
            self._stop_event.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


# ----------------------------------------------------------------------------- sessions
@dataclass
class Session:
    """One browser session on the toy page and what it showed."""

    seed: int
    page: Page
    clicked: float = 0.0
    finished: float | None = None
    saw_queue: bool = False
    last_text: str = ""
    js_errors: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else self.finished - self.clicked


def remaining_ms(deadline: float) -> float:
    """Milliseconds left until ``deadline`` (at least 1), for Playwright timeouts."""
    return max((deadline - time.monotonic()) * 1000, 1)


def open_session(browser: Browser, url: str, seed: int) -> Session:
    """A new browser context (a new Streamlit session) on the toy page with ``seed``."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    session = Session(seed, page)
    page.on("pageerror", lambda exc: session.js_errors.append(str(exc)))
    page.goto(f"{url}/toy?data=ring&K=3&rank=1&steps={STEPS}&seed={seed}")
    return session


def wait_ready(session: Session, deadline: float) -> None:
    """The toy page has rendered, idle, with the session's seed."""
    page = session.page
    page.set_default_timeout(remaining_ms(deadline))
    page.get_by_role("heading", name="Scoreboard").wait_for()
    settle(page)
    seed = page.get_by_role("spinbutton", name="Global seed").input_value()
    assert seed == str(session.seed), f"session {session.seed} shows seed {seed}"
    assert page.get_by_role("button", name="Train both").is_enabled()


def progress_text(page: Page) -> str:
    return " ".join(page.locator(PROGRESS).all_inner_texts())


def click_train(session: Session) -> None:
    """Press **Train both** at once: a DOM click event, without Playwright's actionability
    waits (the page is idle and the button checked by :func:`wait_ready`), so that eight
    busy renderers do not spread the clicks over seconds."""
    session.page.get_by_role("button", name="Train both").dispatch_event("click")
    session.clicked = time.monotonic()


def screenshot_queued(page: Page, shot: Path) -> None:
    """Save the page to ``shot`` if it still shows its queue position after the shot."""
    page.locator(PROGRESS).first.scroll_into_view_if_needed()
    page.screenshot(path=str(shot))
    if QUEUED not in progress_text(page):  # it started meanwhile: try again later
        shot.unlink()


def watch(sessions: list[Session], deadline: float, shot: Path | None = None) -> None:
    """Poll every session's progress text until all say finished or ``deadline`` passes;
    screenshot the first queued session to ``shot``."""
    while time.monotonic() < deadline:
        pending = [s for s in sessions if s.finished is None]
        if not pending:
            return
        for session in pending:
            try:
                text = progress_text(session.page)
            except Exception as error:  # noqa: BLE001 - a page mid-rerun: try again
                text = f"(unreadable: {error})"
            session.last_text = text
            if QUEUED in text:
                session.saw_queue = True
                if shot is not None and not shot.exists():
                    screenshot_queued(session.page, shot)
            if FINISHED in text:
                session.finished = time.monotonic()
        time.sleep(0.1)


def final_state(session: Session, deadline: float) -> dict:
    """After training: the sidebar's source, the scoreboard caption and any error boxes."""
    page = session.page
    page.set_default_timeout(remaining_ms(deadline))
    page.wait_for_selector(APP_IDLE)
    settle(page)
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(
        has_text="nats per step on"
    )
    return {
        "seed": session.seed,
        "seconds": session.seconds,
        "saw_queue": session.saw_queue,
        "sidebar": page.locator('[data-testid="stSidebar"]').inner_text(),
        "caption": caption.first.inner_text() if caption.count() else "",
        "seed_shown": page.get_by_role("spinbutton", name="Global seed").input_value(),
        "errors": errors_on(page),
        "js_errors": list(session.js_errors),
    }


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


# ----------------------------------------------------------------------------- the test
def test_eight_sessions_train_at_once_within_the_goals(
    chromium: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    from frmdn.jobs.pool import THREADS_ENV, WORKERS_ENV, PoolSettings

    started = time.monotonic()
    budget_end = started + TEST_BUDGET_S
    cores = len(os.sched_getaffinity(0))
    figures: dict = {"sessions": SESSIONS, "steps": STEPS, "cores": cores}
    figures |= cli_compute(tmp_path / "cli")
    compute = figures["cli_seconds"]
    one_goal = 1.5 * compute + 10
    eight_goal = SESSIONS * compute / cores * 1.25 + 30

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in (WORKERS_ENV, THREADS_ENV):  # the default pool: one worker per core
        env.pop(name, None)
    figures["workers"] = PoolSettings.from_machine(env).workers
    QUEUED_SHOT.parent.mkdir(parents=True, exist_ok=True)
    QUEUED_SHOT.unlink(missing_ok=True)
    states: list[dict] = []
    with (
        streamlit_server(tmp_path / "server.log", env=env) as url,
        sync_playwright() as p,
    ):
        pid = server_pid(urlsplit(url).port)
        sampler = MemorySampler(pid)
        sampler.start()
        browser = p.chromium.launch(executable_path=str(chromium), args=BROWSER_ARGS)
        try:
            # Phase A: one session alone (includes starting the server's job pool)
            alone = open_session(browser, url, seed=0)
            wait_ready(alone, min(time.monotonic() + LOAD_TIMEOUT_S, budget_end))
            click_train(alone)
            watch([alone], min(alone.clicked + max(2 * one_goal, 60), budget_end))
            assert alone.finished is not None, (
                f"one session did not finish; it shows: {alone.last_text!r}"
            )
            states.append(final_state(alone, budget_end))
            alone.page.context.close()

            # Phase B: eight sessions press Train both together
            crowd = [open_session(browser, url, seed) for seed in range(1, SESSIONS + 1)]
            load_deadline = min(time.monotonic() + LOAD_TIMEOUT_S, budget_end)
            for session in crowd:
                wait_ready(session, load_deadline)
            for session in crowd:
                click_train(session)
            first_click, cpu_before = crowd[0].clicked, cpu_seconds(pid)
            watch(crowd, min(first_click + eight_goal + 60, budget_end), shot=QUEUED_SHOT)
            # one core's worth means the server process itself (its GIL) was the bottleneck
            server_cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - first_click)
            unfinished = {s.seed: s.last_text for s in crowd if s.finished is None}
            if not unfinished:
                states += [final_state(s, budget_end) for s in crowd]
        finally:
            browser.close()
            sampler.stop()

    last = max((s.finished or float("nan") for s in crowd), default=float("nan"))
    figures |= {
        "one_session_seconds": alone.seconds,
        "eight_sessions_seconds": None if unfinished else last - first_click,
        "per_session_seconds": {s.seed: s.seconds for s in crowd},
        "clicks_spread_seconds": crowd[-1].clicked - first_click,
        "server_process_cpu_cores_phase_b": server_cpu,
        "one_session_goal_seconds": one_goal,
        "eight_sessions_goal_seconds": eight_goal,
        "memory_goal_mib": MEMORY_GOAL_MIB,
        "peak_server_mib": sampler.peak_kib / 1024,
        "peak_server_processes": sampler.peak_processes,
        "sessions_that_saw_queue": sum(s.saw_queue for s in crowd),
        "queued_screenshot": str(QUEUED_SHOT.relative_to(ROOT)) if QUEUED_SHOT.exists() else None,
        "cli_gain_vs_rmdn": cli_gain(figures["cli_table"]),
        "scoreboard_captions": {st["seed"]: st["caption"] for st in states},
        "test_seconds": time.monotonic() - started,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "load_average_end": list(os.getloadavg()),
    }
    figures["goals_met"] = {
        "all_finished": not unfinished,
        "one_session": alone.seconds is not None and alone.seconds <= one_goal,
        "eight_sessions": not unfinished and figures["eight_sessions_seconds"] <= eight_goal,
        "memory": figures["peak_server_mib"] < MEMORY_GOAL_MIB,
    }
    print(json.dumps(figures, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")

    assert not unfinished, (
        f"sessions that never finished (seed: last progress text): {unfinished}; the server "
        f"process used {server_cpu:.2f} cores meanwhile (about 1.0: its GIL is the bottleneck)"
    )
    problems = [
        f"seed {st['seed']}: {problem}"
        for st in states
        for problem in [
            *st["errors"],
            *(f"JavaScript error: {e}" for e in st["js_errors"]),
            *([] if TRAINED_HERE in st["sidebar"] else [f"sidebar lacks {TRAINED_HERE!r}"]),
            *([] if st["seed_shown"] == str(st["seed"]) else [f"seed {st['seed_shown']}"]),
            *([] if st["caption"] else ["no scoreboard caption"]),
        ]
    ]
    assert not problems, "\n".join(problems)
    # The page trains exactly what the CLI trains: seed 0's scoreboard shows the CLI's gain.
    shown, expected = caption_gain(states[0]["caption"]), -cli_gain(figures["cli_table"])
    assert shown is not None and abs(shown - expected) < 0.0015, (
        f"after 'Training finished' the scoreboard says {states[0]['caption']!r}, but the same "
        f"pair trained by the CLI gives {expected:+.3f}: the page does not show the trained pair"
    )
    # Seeds 1..8 train different pairs on different data; with deterministic training their
    # captions are fixed for a given version of the code, and all differ.
    captions = [st["caption"] for st in states[1:]]
    assert len(set(captions)) == SESSIONS, f"sessions share a scoreboard: {captions}"
    if figures["workers"] < SESSIONS:
        assert figures["sessions_that_saw_queue"] > 0, "no session ever showed its queue position"
    assert figures["goals_met"]["one_session"], (
        f"one session took {alone.seconds:.1f} s; goal {one_goal:.1f} s"
    )
    assert figures["goals_met"]["eight_sessions"], (
        f"eight sessions took {figures['eight_sessions_seconds']:.1f} s; goal {eight_goal:.1f} s"
    )
    assert figures["goals_met"]["memory"], (
        f"the server peaked at {figures['peak_server_mib']:.0f} MiB; goal {MEMORY_GOAL_MIB} MiB"
    )
