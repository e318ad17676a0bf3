"""The emulated Slurm queue: a job waits its scheduling delay before it may start, and no more nodes run at once
than the node type has."""

from __future__ import annotations

import math
from pathlib import Path

import qaas_core as q

HALF = math.pi / 2
FLIP = q.Circuit("flip", (q.prx("QB1", math.pi, 0.0), q.measure("QB1", key="m")))


def test_every_job_waits_its_scheduling_delay(tmp_path: Path) -> None:
    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path, scheduling_delay_seconds=1.5,
                               scheduling_delay_spread_seconds=0.5, seed=4) as client:  # fmt: skip
        calibration = q.load_profile("garnet20")
        jobs = [client.submit(FLIP, 10, calibration=calibration) for _ in range(2)]
        for job in jobs:
            assert job.result(timeout=120).counts(0) == {"1": 10}
        cluster = client._emulator.server.app.state.subsystems[-1].cluster  # type: ignore[union-attr]
        for job in jobs:
            record = cluster.job(job.heappe_job_id)
            waited = record.tasks[0].start_time - record.submit_time
            assert 1.5 <= waited <= 2.0 + 0.5, waited  # the delay, its spread, and at most a few scheduler ticks
        assert "queued" in [e.kind for e in jobs[0].events]  # seen while it waited
