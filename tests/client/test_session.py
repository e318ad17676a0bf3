"""Sessions over real HTTP on the emulator with an honest queue: one HEAppE job serves a loop of batches; nothing is
lost and nothing runs twice when the session job dies, its walltime ends, or the client is killed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import qaas_core as q

ROOT = Path(__file__).resolve().parents[2]
DELAY = 2.0  # the emulated Slurm queue's scheduling delay


def flip(angle: float = math.pi) -> q.Circuit:
    return q.Circuit("flip", (q.prx("QB1", angle, 0.0), q.measure("QB1", key="m")))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    c = q.QaasClient.emulator("garnet20", noise=False, scheduling_delay_seconds=DELAY,
                              data_dir=tmp_path_factory.mktemp("session"))  # fmt: skip
    try:
        yield c
    finally:
        c.close()


def heappe_jobs(client: q.QaasClient) -> list[object]:
    call = client.heappe.protocol.list_jobs()
    return client.heappe.protocol.parse_jobs(client.heappe.send(call))


def qpu_runs(client: q.QaasClient) -> int:
    root = Path(str(client._emulator.server.config.state_dir)) / "iqm" / "jobs"  # type: ignore[union-attr]
    return sum(1 for p in root.iterdir() if p.is_dir()) if root.exists() else 0


def test_a_loop_runs_in_one_session_job_and_pays_the_queue_once(client: q.QaasClient) -> None:
    calibration = client.calibration()
    before_jobs, before_runs = len(heappe_jobs(client)), qpu_runs(client)
    started = time.monotonic()
    with client.session(max_time=600, idle_timeout=60) as session:
        counts = [client.submit(flip(), 8, calibration=calibration).result(timeout=120).counts(0) for _ in range(6)]
    wall = time.monotonic() - started
    assert counts == [{"1": 8}] * 6
    assert len(heappe_jobs(client)) == before_jobs + 1 and len(session.jobs) == 1
    assert qpu_runs(client) == before_runs + 6
    assert wall < DELAY + 6 * 1.5  # the queue once, not six times
    batches = [e for e in client.jobs(limit=6) if e.meta.get("session") == session.id]
    assert sorted(e.meta["batch"] for e in batches) == [1, 2, 3, 4, 5, 6]
    assert {e.heappe_job_id for e in batches} == set(session.jobs)
    # outside the block, batches are jobs of their own again
    job = client.submit(flip(), 8, calibration=calibration)
    assert job.result(timeout=120).counts(0) == {"1": 8} and job.heappe_job_id not in session.jobs


def test_parametric_batches_and_concurrent_submissions_inside_a_session(client: q.QaasClient) -> None:
    calibration = client.calibration()
    with client.session(idle_timeout=60) as session:
        jobs = [client.submit([flip(0.0), flip(math.pi)], 6, calibration=calibration) for _ in range(3)]
        results = [job.result(timeout=120) for job in jobs]
    for result in results:
        assert result.counts(0) == {"0": 6} and result.counts(1) == {"1": 6}
    assert len(session.jobs) == 1


def test_a_session_job_cancelled_mid_loop_is_replaced_and_nothing_runs_twice(client: q.QaasClient) -> None:
    calibration = client.calibration()
    before_runs = qpu_runs(client)
    with client.session(idle_timeout=60) as session:
        first = client.submit(flip(), 5, calibration=calibration)
        assert first.result(timeout=120).counts(0) == {"1": 5}
        # the session job dies (cancelled on the cluster, as a crash or an admin would end it)
        client.heappe.send(client.heappe.protocol.cancel_job(session.jobs[0]))
        later = [client.submit(flip(), 5, calibration=calibration) for _ in range(2)]
        assert [job.result(timeout=120).counts(0) for job in later] == [{"1": 5}] * 2
    assert len(session.jobs) == 2
    assert qpu_runs(client) == before_runs + 3


def test_walltime_mid_loop_hands_over_to_the_next_session_job(client: q.QaasClient) -> None:
    calibration = client.calibration()
    before_runs = qpu_runs(client)
    with client.session(max_time=6, idle_timeout=60) as session:
        deadline = time.monotonic() + 60
        results = []
        while len(session.jobs) < 2:  # run batches until the first session job's walltime hands over
            assert time.monotonic() < deadline
            results.append(client.submit(flip(), 4, calibration=calibration).result(timeout=120).counts(0))
    assert results == [{"1": 4}] * len(results)
    assert qpu_runs(client) == before_runs + len(results)


KILLED = """
import os, sys
import qaas_core as q
from qaas_core import _session
from tests.client.test_session import flip

client = q.QaasClient(profile="emulator")
session = client.session(idle_timeout=float(sys.argv[1]))
session.__enter__()
job = client.submit(flip(), 7, calibration=q.load_profile("garnet20"))
print(job.submission_id, session.jobs[0], flush=True)
os.kill(os.getpid(), 9)  # the client dies with a batch in flight and its session open
"""


@pytest.mark.parametrize("session_job", ["still running", "cancelled before it ran"])
def test_a_batch_of_a_killed_client_is_finished_by_another_process(client: q.QaasClient, session_job: str) -> None:
    before_runs = qpu_runs(client)
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILLED, "60"], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == -9, proc.stderr
    submission_id, job_id = proc.stdout.split()
    if session_job == "cancelled before it ran":  # the batch was never answered: it goes out as a job of its own
        client.heappe.send(client.heappe.protocol.cancel_job(int(job_id)))
    fresh = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir)
    try:
        job = fresh.retrieve(submission_id)
        result = job.result(timeout=120)
    finally:
        fresh.close()
    assert result.counts(0) == {"1": 7}
    assert qpu_runs(client) == before_runs + 1
    moved = job.heappe_job_id != int(job_id)
    assert moved is (session_job == "cancelled before it ran")
