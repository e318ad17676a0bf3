"""Estimates against reality for the library programs: every job the front ends sent (one per front end and device)
was estimated before upload, and the emulated server's reported QPU time is within 20 % of that estimate."""

from __future__ import annotations

import qaas_core as q
from tests.cross.runs import Outcome


def test_every_front_end_job_was_estimated_within_20_percent(
    clients: dict[str, q.QaasClient], runs: dict[tuple[str, str], Outcome]
) -> None:
    checked = 0
    for device, client in clients.items():
        jobs = [e for e in client.jobs(limit=None) if e.state == "completed"]
        assert len(jobs) >= 4, f"{device}: one job per front end"
        for entry in jobs:
            assert entry.estimated_qpu_seconds is not None and entry.qpu_seconds is not None, entry.submission_id
            ratio = entry.qpu_seconds / entry.estimated_qpu_seconds
            assert abs(ratio - 1) <= 0.2, (device, entry.meta.get("framework"), ratio)
            checked += 1
    assert checked >= 8 and runs
