"""The job runner: bounded workers, queue positions, per-owner limits, cancelling, failures,
and side-by-side training that pauses and resumes exactly."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import torch

from frmdn.data.toy import load_toy
from frmdn.experiments.pair import build_pair
from frmdn.jobs.live_training import TrainingRequest, train_side_by_side
from frmdn.jobs.pool import JobContext, JobRunner, PoolSettings, QueueFull
from frmdn.models.sequence import build_model
from frmdn.training.trainer import TrainConfig, Trainer


def sleeper(context: JobContext, seconds: float) -> str:
    """Sleeps in small slices, reporting each, until told to stop."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if context.should_stop():
            return "stopped"
        context.report(deadline - time.monotonic())
        time.sleep(0.02)
    return "slept"


def threads_and_pid(context: JobContext) -> tuple[int, int]:
    return torch.get_num_threads(), os.getpid()


def fails(context: JobContext) -> None:
    raise ValueError("bad settings\nsecond line")


def dies(context: JobContext) -> None:
    os._exit(3)


@pytest.fixture(scope="module")
def runner() -> Iterator[JobRunner]:
    runner = JobRunner(PoolSettings(workers=2, threads_per_job=1, jobs_per_owner=3))
    yield runner
    runner.shutdown()


def test_settings_come_from_the_machine_and_the_environment() -> None:
    assert PoolSettings.from_machine({"FRMDN_THREADS_PER_JOB": "2", "FRMDN_WORKERS": "3"}) == (
        PoolSettings(workers=3, threads_per_job=2)
    )
    default = PoolSettings.from_machine({})
    assert default.threads_per_job == 1 and default.workers >= 1
    with pytest.raises(ValueError, match="FRMDN_WORKERS must be a whole number"):
        PoolSettings.from_machine({"FRMDN_WORKERS": "many"})


def test_jobs_run_in_workers_with_the_set_thread_count(runner: JobRunner) -> None:
    jobs = [runner.submit(threads_and_pid, owner=f"user{i}") for i in range(2)]
    for job in jobs:
        assert job.wait(60) == "done", job.error
    assert {threads for threads, _ in (j.result for j in jobs)} == {1}
    assert os.getpid() not in {pid for _, pid in (j.result for j in jobs)}


def test_the_queue_has_positions_and_a_limit_per_owner(runner: JobRunner) -> None:
    running = [runner.submit(sleeper, 30, owner=f"busy{i}") for i in range(2)]
    # wait until both run and have reported: a job cancelled before its first report stops
    # with nothing to show, which is not what this test is about
    deadline = time.monotonic() + 30
    while any(job.progress is None for job in running) and time.monotonic() < deadline:
        time.sleep(0.02)
    queued = [runner.submit(sleeper, 0.1, owner="class") for _ in range(3)]
    assert [job.position for job in queued] == [1, 2, 3]
    assert runner.counts() == {"queued": 3, "running": 2, "workers": 2}
    with pytest.raises(QueueFull, match="limit per session is 3"):
        runner.submit(sleeper, 0.1, owner="class")
    queued[0].cancel()
    assert queued[0].status == "cancelled" and [j.position for j in queued[1:]] == [1, 2]
    for job in running:  # a running job is asked to stop and returns what it has
        job.cancel()
        assert job.wait(30) == "done" and job.result == "stopped"
        assert job.progress is not None and job.progress_count > 0
    assert all(job.wait(30) == "done" for job in queued[1:])


def test_failures_are_one_line_and_a_dead_worker_is_replaced(runner: JobRunner) -> None:
    failed = runner.submit(fails, owner="f")
    assert failed.wait(30) == "failed" and failed.error == "ValueError: bad settings"
    died = runner.submit(dies, owner="f")
    assert died.wait(30) == "failed" and "worker process died (exit code 3" in died.error
    after = runner.submit(threads_and_pid, owner="f")
    assert after.wait(60) == "done"


def test_owners_that_went_away_lose_their_jobs() -> None:
    runner = JobRunner(PoolSettings(workers=1))
    try:
        runner.set_owner_check(lambda owner: owner != "gone")
        job = runner.submit(sleeper, 60, owner="gone")
        kept = runner.submit(sleeper, 0.1, owner="here")
        assert job.wait(30) == "done" and job.result == "stopped"
        assert kept.wait(30) == "done" and kept.result == "slept"
    finally:
        runner.shutdown()


def _request(steps: int, **kwargs: object) -> TrainingRequest:
    torch.set_num_threads(1)
    split = load_toy("ring", n_train=64, n_valid=16, n_test=16, length=12, seed=0)
    pair = build_pair(2, hidden_size=8, flow_layers=2, flow_hidden=8)
    for model in pair.values():
        model.standardize_on(split.train)
    config = TrainConfig(steps=steps, batch_size=16, eval_every=10, patience=0)
    models = {name: (m.config, m.state_dict()) for name, m in pair.items()}
    return TrainingRequest(models, split.train, split.valid, config, chunk=10, **kwargs)


class Inline(JobContext):
    """Runs a job function in this process; asks it to stop after ``stop_after`` reports."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.reports: list = []
        self.stop_after = stop_after

    def report(self, payload: object) -> None:
        self.reports.append(payload)

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.reports) >= self.stop_after


def test_a_paused_and_resumed_pair_ends_exactly_where_an_uninterrupted_one_does() -> None:
    whole = train_side_by_side(Inline(), _request(40))
    first = train_side_by_side(Inline(stop_after=2), _request(40))
    assert {name: state["result"].steps for name, state in first.items()} == {
        "RMDN": 20,
        "FRMDN": 20,
    }
    assert not any(state["done"] for state in first.values())
    second = train_side_by_side(Inline(), _request(40, states=first))
    for name in whole:
        assert second[name]["done"] and second[name]["result"].steps == 40
        for key, value in whole[name]["model"].items():
            torch.testing.assert_close(second[name]["model"][key], value, rtol=0, atol=0)
        assert second[name]["result"].best_step == whole[name]["result"].best_step


def test_a_step_budget_and_progress_reports() -> None:
    context = Inline()
    states = train_side_by_side(context, _request(100, max_steps=20, weights_every=0.0))
    assert [r["models"]["FRMDN"].steps for r in context.reports] == [10, 20]
    assert context.reports[-1]["weights"]["RMDN"].keys() == states["RMDN"]["model"].keys()
    assert all(not state["done"] for state in states.values())


def test_trainer_state_round_trips_through_a_fresh_trainer() -> None:
    request = _request(30)
    trainers = []
    for _ in range(2):
        config, weights = request.models["FRMDN"]
        model = build_model(config)
        model.load_state_dict(weights)
        trainers.append(Trainer(model, request.train, request.valid, request.config))
    trainers[0].run(10)
    trainers[1].load_state_dict(trainers[0].state_dict())
    trainers[0].run(20)
    trainers[1].run(20)
    for key, value in trainers[0].model.state_dict().items():
        torch.testing.assert_close(trainers[1].model.state_dict()[key], value, rtol=0, atol=0)


def test_a_job_waiting_for_a_free_slot_is_starting_not_queued() -> None:
    from ui.jobs import queue_sentence

    job = SimpleNamespace(position=1)
    free = {"queued": 1, "running": 0, "workers": 2}
    assert queue_sentence(job, free) == "Starting…"
    full = {"queued": 3, "running": 2, "workers": 2}
    busy = queue_sentence(job, full)
    assert busy.startswith("The server is busy: your run is queued (position 1)")
    assert "(2 running, 3 waiting)" in busy
    assert queue_sentence(SimpleNamespace(position=2), free).startswith("The server is busy")
