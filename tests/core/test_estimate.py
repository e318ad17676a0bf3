"""The QPU-time model, expected success, the timeline reading and the learnt correction (no services)."""

from __future__ import annotations

import math
import uuid

import pytest

import qaas_core as q
from qaas_core._estimate import (
    build_estimate,
    check_spend,
    correction,
    qpu_seconds_from_timeline,
    success_probability,
)
from qaas_core._ledger import LedgerEntry
from qaas_core._result import TimelineEntry

CAL = q.load_profile("garnet20")


def bell() -> q.Circuit:
    return q.Circuit(
        "bell", (q.prx("QB1", math.pi / 2, math.pi / 2), q.cz("QB1", "QB2"), q.measure("QB1", "QB2", key="m"))
    )


def test_the_job_model_counts_every_term() -> None:
    model = q.QPUTimeModel(shot_overhead=1e-4, circuit_overhead=0.02, job_overhead=0.3)
    d = q.circuit_duration(bell(), CAL)
    assert d > 0
    assert model.job_seconds([bell(), bell()], 500, CAL) == pytest.approx(0.3 + 2 * (0.02 + 500 * (d + 1e-4)))
    # heralding measures every qubit of the circuit once more per shot, in parallel
    herald = q.circuit_duration(q.Circuit("h", (q.measure("QB1", "QB2", key="h"),)), CAL)
    heralded = model.job_seconds([bell()], 500, CAL, heralding=True)
    assert heralded == pytest.approx(0.3 + 0.02 + 500 * (d + herald + 1e-4))
    assert model.job_seconds([], 500, CAL) == 0.3


def test_success_probability_is_the_product_of_calibrated_fidelities() -> None:
    fid = CAL.metrics.fidelity
    cz = fid["cz"].get(("QB1", "QB2")) or fid["cz"][("QB2", "QB1")]
    readout = math.prod(1 - sum(CAL.metrics.readout_error[x]) / 2 for x in ("QB1", "QB2"))
    assert success_probability(bell(), CAL) == pytest.approx(fid["prx"][("QB1",)] * cz * readout)
    empty = q.Circuit("idle", (q.barrier("QB1"),))
    assert success_probability(empty, CAL) == 1.0


def step(status: str, timestamp: str) -> TimelineEntry:
    return TimelineEntry(status, timestamp, "iqm")


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        ([step("execution_started", "2026-01-01T10:00:00+00:00"),
          step("execution_ended", "2026-01-01T10:00:02.5+00:00")], 2.5),
        ([step("execution_started", "2026-01-01T10:00:00Z"), step("execution_ended", "2026-01-01T10:01:00Z")], 60.0),
        ([step("execution_started", "2026-01-01T10:00:00+00:00")], None),  # never ended
        ([step("execution_started", "2026-01-01T10:00:05+00:00"),
          step("execution_ended", "2026-01-01T10:00:00+00:00")], None),  # ended before it started: not a time
        ([step("execution_started", "yesterday"), step("execution_ended", "2026-01-01T10:00:00+00:00")], None),
        ([step("execution_started", "2026-01-01T10:00:00"), step("execution_ended", "2026-01-01T10:00:01")], None),
        ([], None),
    ],
)  # fmt: skip
def test_reported_qpu_time_from_a_timeline(timeline: list[TimelineEntry], expected: float | None) -> None:
    assert qpu_seconds_from_timeline(timeline) == expected


def done(estimated: float | None, reported: float | None, state: str = "completed") -> LedgerEntry:
    return LedgerEntry(submission_id=str(uuid.uuid4()), request_digest="0" * 64, profile="p", project="x",
                       resource="r", heappe_url="http://127.0.0.1/", shots=1, circuits=1, state=state,
                       estimated_qpu_seconds=estimated, qpu_seconds=reported)  # fmt: skip


def test_the_correction_is_the_median_ratio_of_enough_completed_jobs() -> None:
    assert correction([done(1.0, 2.0), done(1.0, 2.0)]) == 1.0  # too few
    assert correction([done(1.0, 2.0), done(2.0, 3.0), done(1.0, 3.0)]) == 2.0
    assert correction([done(1.0, 2.0), done(1.0, 2.0), done(1.0, 5.0, "failed"), done(None, 1.0)]) == 1.0
    assert correction([done(1.0, 1e6)] * 3) == 10.0  # bounded: a broken timeline is not a slow QPU
    assert correction([done(1.0, 0.0)] * 3) == 0.1


def test_spend_checks_budget_first_then_allocation() -> None:
    check_spend("r", 5.0, 1, 10, allocation=None, budget=None, spent=1e9)  # no limits: no check
    check_spend("r", 5.0, 1, 10, allocation=10.0, budget=8.0, spent=3.0)  # exactly fits
    with pytest.raises(q.BudgetExceededError) as info:
        check_spend("r", 5.0, 1, 10, allocation=100.0, budget=7.0, spent=3.0)
    assert info.value.limit == "budget" and info.value.left == 4.0 and info.value.needed == 5.0
    with pytest.raises(q.BudgetExceededError) as info:
        check_spend("EQE1", 5.0, 2, 10, allocation=6.0, budget=None, spent=3.0)
    assert info.value.limit == "allocation" and "allocation of EQE1" in str(info.value)
    assert "2 circuit(s) x 10 shots" in str(info.value) and "nothing was sent" in str(info.value)


def test_an_estimate_reports_what_is_left() -> None:
    estimate = build_estimate(resource="r", circuits=[bell()], shots=1000, calibration=CAL, heralding=False,
                              request_bytes=321, model=q.QPUTimeModel(), history=[done(1.0, 1.5)] * 3,
                              allocation=100.0, budget=50.0, spent=49.0)  # fmt: skip
    assert estimate.correction == 1.5 and estimate.qpu_seconds == pytest.approx(1.5 * estimate.model_qpu_seconds)
    assert estimate.left == 1.0 and not estimate.fits
    with pytest.raises(q.BudgetExceededError):
        estimate.check()
    rows = dict(estimate.rows())
    assert rows["upload"] == "321 bytes" and "does not fit" in rows["left after"] and "learnt" in rows["QPU time"]
