"""A bounded pool of worker processes for training and generation jobs, with a fair queue.

Why processes: every worker sets its own torch thread count once, so a room of users training
at the same time shares the cores instead of oversubscribing them (torch's default of one
thread per core per job made a class of 8 run 10x slower than one user); a job that crashes
its worker fails alone; and a worker's memory goes back to the system when it exits.

A job is a module-level function ``fn(context, *args)`` (it must be importable in the worker)
that may call ``context.report(payload)`` for progress and should poll
``context.should_stop()``; its return value (or its exception, as one line) comes back to the
:class:`Job`, which the caller polls. Jobs wait in submission order; ``Job.position`` says
where. Arguments and results cross the process boundary by pickling between this library's
own processes; nothing a user uploads is ever unpickled.

Example:
    >>> runner = JobRunner(PoolSettings(workers=1, threads_per_job=1))
    >>> job = runner.submit(square, 7, owner="doc")
    >>> job.wait(timeout=60)
    'done'
    >>> job.result
    49
    >>> runner.shutdown()
"""

from __future__ import annotations

import atexit
import itertools
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from frmdn.device import available_cores

__all__ = [
    "Job",
    "JobContext",
    "JobRunner",
    "PoolSettings",
    "QueueFull",
    "shared_runner",
    "square",
]

WORKERS_ENV = "FRMDN_WORKERS"
THREADS_ENV = "FRMDN_THREADS_PER_JOB"
ACTIVE_ENV = "FRMDN_JOBS_PER_SESSION"
OWNER_CHECK_SECONDS = 5.0
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)


class QueueFull(RuntimeError):
    """An owner already has as many unfinished jobs as it may."""


@dataclass(frozen=True)
class PoolSettings:
    """How many jobs run at once, and with how many torch threads each.

    Arguments:
        workers: Worker processes, i.e. jobs running at the same time.
        threads_per_job: torch CPU threads in each worker.
        jobs_per_owner: Unfinished (queued or running) jobs one owner (a browser session) may
            hold, so one user cannot fill the queue.
        forget_after: Seconds a finished job stays listed before the runner forgets it.
    """

    workers: int = 1
    threads_per_job: int = 1
    jobs_per_owner: int = 2
    forget_after: float = 600.0

    def __post_init__(self) -> None:
        if min(self.workers, self.threads_per_job, self.jobs_per_owner) < 1:
            raise ValueError("workers, threads_per_job and jobs_per_owner must be at least 1")

    @classmethod
    def from_machine(cls, environ: dict[str, str] | None = None) -> PoolSettings:
        """One single-threaded worker per available core, unless ``FRMDN_WORKERS``,
        ``FRMDN_THREADS_PER_JOB`` or ``FRMDN_JOBS_PER_SESSION`` say otherwise.

        One thread per job is the fastest use of shared cores for these small models: a
        job's second thread buys 1.2-1.5x at best, a second job on that core 2x.
        """
        environ = os.environ if environ is None else environ

        def number(name: str, default: int) -> int:
            text = environ.get(name, "").strip()
            if not text:
                return default
            try:
                return max(int(text), 1)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {text!r}") from None

        threads = number(THREADS_ENV, 1)
        workers = number(WORKERS_ENV, max(available_cores() // threads, 1))
        return cls(workers, threads, number(ACTIVE_ENV, 2))


@dataclass
class Job:
    """One submitted job as its submitter sees it; the runner updates it in the background.

    ``status`` goes queued -> running -> done | failed | cancelled. ``progress`` is the
    newest payload the job reported, ``result`` its return value, ``error`` a one-line reason.
    """

    id: int
    owner: str
    label: str
    status: str = QUEUED
    progress: Any = None
    progress_count: int = 0
    result: Any = None
    error: str = ""
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    _runner: JobRunner | None = field(default=None, repr=False)

    @property
    def finished_ok(self) -> bool:
        return self.status == DONE

    @property
    def active(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    @property
    def position(self) -> int:
        """1 for the next queued job to start, 2 for the one after, ...; 0 once started."""
        return self._runner.position(self) if self._runner is not None else 0

    def cancel(self) -> None:
        """A queued job is dropped; a running one is asked to stop (it returns what it has)."""
        if self._runner is not None:
            self._runner.cancel(self)

    def wait(self, timeout: float | None = None, poll: float = 0.02) -> str:
        """Block until the job has finished (or ``timeout`` seconds passed); its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active and (deadline is None or time.monotonic() < deadline):
            time.sleep(poll)
        return self.status


class JobContext:
    """What a running job can do: report progress and learn that it should stop."""

    def __init__(
        self, job_id: int, send: Callable[[tuple], None], stopped: Callable[[int], bool]
    ) -> None:
        self._job_id, self._send, self._stopped = job_id, send, stopped

    def report(self, payload: Any) -> None:
        """Send ``payload`` to the submitter (it replaces the previous report)."""
        self._send(("progress", self._job_id, payload))

    def should_stop(self) -> bool:
        """True once the submitter cancelled this job: stop soon and return what you have."""
        return self._stopped(self._job_id)


def square(context: JobContext, value: float) -> float:
    """A trivial job (for examples and tests of the pool)."""
    return value * value


class _Worker:
    """One worker process (``python -m frmdn.jobs.worker``), its connection and current job.

    A fresh interpreter, not a fork or spawn of this process: a Streamlit server runs its
    pages as ``__main__``, which multiprocessing would re-run in every child.
    """

    def __init__(self, threads: int) -> None:
        ours, theirs = socket.socketpair()
        environ = os.environ | {
            "OMP_NUM_THREADS": str(threads),
            # the same imports as here (a job names its function by module and name)
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "frmdn.jobs.worker", str(theirs.fileno()), str(threads)],
                pass_fds=[theirs.fileno()],
                env=environ,
                stdin=subprocess.DEVNULL,
            )
        self.connection = Connection(ours.detach())
        self._send_lock = threading.Lock()
        self.job: Job | None = None

    def send(self, message: tuple) -> None:
        with self._send_lock:
            self.connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float) -> None:
        try:
            self.send(("exit",))
        except OSError:
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        self.connection.close()


class JobRunner:
    """A fixed number of worker processes fed from one first-come, first-served queue.

    Arguments:
        settings: Pool size and limits (default: :meth:`PoolSettings.from_machine`).
    """

    def __init__(self, settings: PoolSettings | None = None) -> None:
        self.settings = settings or PoolSettings.from_machine()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._pending: deque[tuple[Job, Callable, tuple]] = deque()
        self._jobs: dict[int, Job] = {}
        self._workers = [self._start_worker() for _ in range(self.settings.workers)]
        self._owner_alive: Callable[[str], bool] | None = None
        self._owners_checked = time.monotonic()
        self._closed = threading.Event()
        self._dispatcher = threading.Thread(target=self._dispatch, name="frmdn-jobs", daemon=True)
        self._dispatcher.start()
        self._reader = threading.Thread(target=self._read, name="frmdn-results", daemon=True)
        self._reader.start()

    def _start_worker(self) -> _Worker:
        return _Worker(self.settings.threads_per_job)

    # ----------------------------------------------------------------- submitting
    def submit(self, fn: Callable, *args: Any, owner: str, label: str = "") -> Job:
        """Queue ``fn(context, *args)``; raises :class:`QueueFull` when ``owner`` already
        holds ``jobs_per_owner`` unfinished jobs."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the job runner has been shut down")
            active = sum(1 for j in self._jobs.values() if j.owner == owner and j.active)
            if active >= self.settings.jobs_per_owner:
                raise QueueFull(
                    f"you already have {active} runs in progress (the limit per session is "
                    f"{self.settings.jobs_per_owner}); stop one first"
                )
            job = Job(next(self._ids), owner, label or fn.__name__, _runner=self)
            self._jobs[job.id] = job
            self._pending.append((job, fn, args))
            return job

    def position(self, job: Job) -> int:
        with self._lock:
            for index, (queued, _, _) in enumerate(self._pending, start=1):
                if queued is job:
                    return index
            return 0

    def cancel(self, job: Job) -> None:
        with self._lock:
            for entry in self._pending:
                if entry[0] is job:
                    self._pending.remove(entry)
                    self._finish(job, CANCELLED, error="cancelled before it started")
                    return
            for worker in self._workers:
                if worker.job is job:
                    try:
                        worker.send(("stop", job.id))
                    except OSError:  # the worker died: the dispatcher reports it
                        pass

    def set_owner_check(self, alive: Callable[[str], bool] | None) -> None:
        """Every few seconds, cancel the unfinished jobs of owners for which ``alive`` says
        False (e.g. browser sessions that closed), so nobody queues behind abandoned work."""
        self._owner_alive = alive

    def cancel_owner(self, owner: str) -> None:
        """Cancel every unfinished job of ``owner`` (a session that went away)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.owner == owner and j.active]
        for job in jobs:
            self.cancel(job)

    # ----------------------------------------------------------------- state
    def counts(self) -> dict[str, int]:
        """Jobs queued and running now, and the number of workers."""
        with self._lock:
            running = sum(1 for w in self._workers if w.job is not None)
            return {
                "queued": len(self._pending),
                "running": running,
                "workers": len(self._workers),
            }

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything, stop the workers and the background threads."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            while self._pending:
                self._finish(self._pending.popleft()[0], CANCELLED, error="the server stopped")
            workers = list(self._workers)
        self._dispatcher.join(timeout)
        self._reader.join(timeout)
        for worker in workers:
            worker.close(timeout)
            if worker.job is not None and worker.job.active:
                self._finish(worker.job, CANCELLED, error="the server stopped")

    # ----------------------------------------------------------------- background threads
    def _finish(self, job: Job, status: str, *, result: Any = None, error: str = "") -> None:
        job.result, job.error, job.finished = result, error, time.monotonic()
        job.status = status  # last: a poller that sees it finished sees the result too

    def _dispatch(self) -> None:
        """Start queued jobs on idle workers, replace dead workers, forget old jobs."""
        while not self._closed.wait(0.05):
            with self._lock:
                for index, worker in enumerate(self._workers):
                    if not worker.alive:
                        if worker.job is not None and worker.job.active:
                            self._finish(
                                worker.job,
                                FAILED,
                                error=f"the worker process died (exit code "
                                f"{worker.process.returncode}; out of memory?)",
                            )
                        worker.connection.close()
                        worker = self._workers[index] = self._start_worker()
                    if worker.job is not None and not worker.job.active:
                        worker.job = None
                    if worker.job is None and self._pending:
                        job, fn, args = self._pending.popleft()
                        worker.job = job
                        job.status, job.started = RUNNING, time.monotonic()
                        try:
                            worker.send(("run", job.id, fn, args))
                        except OSError:  # it died meanwhile: the next round reports it
                            pass
                        except Exception as error:  # noqa: BLE001 - e.g. unpicklable arguments
                            self._finish(job, FAILED, error=f"could not start: {error}")
                now = time.monotonic()
                old = now - self.settings.forget_after
                for job in [j for j in self._jobs.values() if (j.finished or now) < old]:
                    del self._jobs[job.id]
            if self._owner_alive is not None and now - self._owners_checked > OWNER_CHECK_SECONDS:
                self._owners_checked = now
                self._cancel_abandoned(self._owner_alive)

    def _cancel_abandoned(self, alive: Callable[[str], bool]) -> None:
        with self._lock:
            owners = {j.owner for j in self._jobs.values() if j.active}
        for owner in owners:
            try:
                gone = not alive(owner)
            except Exception:  # noqa: BLE001 - a failing check must not stop the dispatcher
                gone = False
            if gone:
                self.cancel_owner(owner)

    def _read(self) -> None:
        """Apply what the workers send: progress, done, failed."""
        while not self._closed.is_set():
            with self._lock:
                connections = {w.connection: w for w in self._workers if not w.connection.closed}
            for connection in wait(list(connections), timeout=0.1):
                try:
                    kind, job_id, payload = pickle.loads(connection.recv_bytes())
                except (EOFError, OSError):  # the worker died: the dispatcher replaces it
                    connection.close()
                    continue
                with self._lock:
                    job = self._jobs.get(job_id)
                    if job is None or not job.active:
                        continue
                    if kind == "progress":
                        job.progress = payload
                        job.progress_count += 1
                    elif kind == "done":
                        self._finish(job, DONE, result=payload)
                    elif kind == "failed":
                        self._finish(job, FAILED, error=payload)


_shared: JobRunner | None = None
_shared_lock = threading.Lock()


def shared_runner() -> JobRunner:
    """The process's one runner (started on first use, shut down at exit), sized by
    :meth:`PoolSettings.from_machine`."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = JobRunner()
            atexit.register(_shared.shutdown)
        return _shared
