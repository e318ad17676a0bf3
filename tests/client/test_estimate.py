"""Estimates before anything is spent, over real HTTP on the emulator: QPU seconds from the shared duration model
against the QPU time the emulated server reports, what the ledger learns from it, budget and allocation refusals
before upload, progress with elapsed and remaining time, and the CLI."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import qaas_core as q
from qaas_core.emulator._lexis import load_seed

ROOT = Path(__file__).resolve().parents[2]
MODEL = q.QPUTimeModel()


def ghz(n: int, name: str = "ghz") -> q.Circuit:
    qubits = ["QB1", "QB2", "QB5", "QB4", "QB3"][:n]
    body = [q.prx(qubits[0], math.pi / 2, math.pi / 2)]
    for a, b in itertools.pairwise(qubits):
        body += [q.prx(b, math.pi / 2, math.pi / 2), q.cz(a, b), q.prx(b, -math.pi / 2, math.pi / 2)]
    return q.Circuit(name, (*body, q.measure(*qubits, key="m")))


def by_hand(circuits: list[q.Circuit], shots: int, calibration: q.Calibration, model: q.QPUTimeModel) -> float:
    """The model of the module docstring, written out."""
    total = model.job_overhead
    for c in circuits:
        total += model.circuit_overhead + shots * (q.circuit_duration(c, calibration) + model.shot_overhead)
    return total


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    c = q.QaasClient.emulator("garnet20", seed=5, data_dir=tmp_path_factory.mktemp("estimate"))
    try:
        yield c
    finally:
        c.close()


def test_an_estimate_sends_nothing_and_adds_up(client: q.QaasClient) -> None:
    calibration = client.calibration()
    circuits = [ghz(2), ghz(5)]
    before = len(client.jobs(limit=None))
    estimate = client.estimate(circuits, 2000)
    assert len(client.jobs(limit=None)) == before  # nothing recorded, nothing sent
    assert estimate.resource == "EQE1-CZ-P0001" and (estimate.circuits, estimate.shots, estimate.jobs) == (2, 2000, 1)
    assert estimate.model_qpu_seconds == pytest.approx(by_hand(circuits, 2000, calibration, MODEL), rel=1e-12)
    assert estimate.longest_duration == pytest.approx(q.circuit_duration(ghz(5), calibration))
    # expected success: the product of the calibrated fidelities, so GHZ-5 < GHZ-2 < 1
    esp2, esp5 = estimate.success_probability
    assert 0 < esp5 < esp2 < 1
    readout = calibration.metrics.readout_error
    cz = calibration.metrics.fidelity["cz"]
    prx = calibration.metrics.fidelity["prx"]
    expected2 = prx[("QB1",)] * prx[("QB2",)] ** 2 * cz.get(("QB1", "QB2"), cz.get(("QB2", "QB1"), 1.0))
    expected2 *= math.prod(1 - sum(readout[x]) / 2 for x in ("QB1", "QB2"))
    assert esp2 == pytest.approx(expected2, rel=1e-9)
    _, data, _ = client.prepare(circuits, 2000, calibration=calibration)
    assert abs(estimate.request_bytes - len(data)) <= 8  # the same request but for its random submission id
    assert estimate.allocation == 36000 and estimate.budget is None and estimate.fits


def test_the_ledger_keeps_estimate_and_reported_time_within_20_percent(client: q.QaasClient) -> None:
    spent = client.ledger.spent("EQE1-CZ-P0001")
    for shots, circuits in ((1000, [ghz(3)]), (4000, [ghz(2), ghz(5)]), (20000, [ghz(4)])):
        job = client.submit(circuits, shots)
        assert job.report is not None and job.report.qpu_seconds is not None
        assert client.ledger.get(job.submission_id).estimated_qpu_seconds == pytest.approx(job.report.qpu_seconds)
        result = job.result(timeout=180)
        reported = result.qpu_seconds
        assert reported is not None and abs(reported / job.report.qpu_seconds - 1) <= 0.2
        entry = client.ledger.get(job.submission_id)
        assert entry.qpu_seconds == pytest.approx(reported)
        spent += reported
        assert client.ledger.spent("EQE1-CZ-P0001") == pytest.approx(spent)
        events = job.events
        assert all("elapsed" in e.detail and "remaining" in e.detail for e in events)
        assert events[-1].kind == q.JobPhase.COMPLETED and events[-1].detail["remaining"] == 0
        assert [e.detail["elapsed"] for e in events] == sorted(e.detail["elapsed"] for e in events)


def test_the_estimate_learns_from_reported_time(tmp_path: Path) -> None:
    """The emulated QPU is twice as slow between shots as the client's model assumes: the first estimates are far
    off, and after three completed jobs the learnt correction brings them within 10 %."""
    slow = q.QPUTimeModel(shot_overhead=2 * MODEL.shot_overhead)
    with q.QaasClient.emulator("garnet20", noise=False, seed=3, qpu_time_model=slow, data_dir=tmp_path) as c:
        ratios = []
        for _ in range(5):
            job = c.submit(ghz(3), 10_000)
            reported = job.result(timeout=180).qpu_seconds
            assert reported is not None and job.report is not None and job.report.qpu_seconds is not None
            ratios.append(reported / job.report.qpu_seconds)
        assert all(r > 1.5 for r in ratios[:3])
        assert all(abs(r - 1) < 0.1 for r in ratios[3:])
        estimate = c.estimate(ghz(3), 10_000)
        assert estimate.correction > 1.5 and estimate.qpu_seconds == pytest.approx(
            estimate.model_qpu_seconds * estimate.correction
        )
        assert any("learnt" in value for _, value in estimate.rows())


def test_a_budget_refuses_before_upload(tmp_path: Path) -> None:
    with q.QaasClient.emulator("garnet20", noise=False, budget_qpu_seconds=3.0, data_dir=tmp_path) as c:
        first = c.submit(ghz(2), 5000)  # about 2 s
        first.result(timeout=180)
        heappe_jobs = len(c.heappe.protocol.parse_jobs(c.heappe.send(c.heappe.protocol.list_jobs())))
        with pytest.raises(q.BudgetExceededError) as info:
            c.submit(ghz(2), 5000)
        assert info.value.limit == "budget" and info.value.needed > info.value.left
        assert "budget_qpu_seconds" in str(info.value) and "nothing was sent" in str(info.value)
        assert len(c.jobs(limit=None)) == 1  # not recorded
        assert len(c.heappe.protocol.parse_jobs(c.heappe.send(c.heappe.protocol.list_jobs()))) == heappe_jobs
        assert not c.estimate(ghz(2), 5000).fits
        c.submit(ghz(2), 100).result(timeout=180)  # a smaller batch still fits


def test_the_lexis_allocation_refuses_and_the_cli_says_so(tmp_path: Path) -> None:
    seed = load_seed(None)
    for project in seed["lexis"]["projects"]:
        for resource in project["resources"]:
            resource["allocation_amount"] = 4
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "seed.json").write_text(json.dumps(seed))
    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path) as c:
        assert c.estimate(ghz(2), 1000).allocation == 4
        with pytest.raises(q.BudgetExceededError) as info:
            c.submit(ghz(2), 20_000)  # about 6.5 s
        assert info.value.limit == "allocation" and "EQE1-CZ-P0001" in str(info.value)
        assert c.jobs(limit=None) == []
        job = c.submit(ghz(2), 1000)
        job.result(timeout=180)
        env = {**os.environ, "QAAS_DATA_DIR": str(c.settings.data_dir), "QAAS_PROFILE": "emulator",
               "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}  # fmt: skip
        ghz_file = str(ROOT / "examples" / "ghz.qasm")
        cli = [sys.executable, "-m", "qaas_core.cli"]
        ok = subprocess.run([*cli, "estimate", ghz_file, "--shots", "500", "--json"], env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        doc = json.loads(ok.stdout)
        assert doc["allocation"] == 4 and doc["fits"] and 0 < doc["qpu_seconds"] < doc["left"]
        over = subprocess.run([*cli, "estimate", ghz_file, "--shots", "50000"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert over.returncode == 7 and "does not fit" in over.stdout
        refused = subprocess.run([*cli, "run", ghz_file, "--shots", "50000"], env=env, capture_output=True, text=True,
                                 timeout=120)  # fmt: skip
        assert refused.returncode == 7 and "BudgetExceededError" in refused.stderr
        shown = subprocess.run([*cli, "jobs", "show", job.submission_id], env=env, capture_output=True, text=True,
                               timeout=60)  # fmt: skip
        assert shown.returncode == 0 and "estimated_qpu_seconds" in shown.stdout and "qpu_seconds" in shown.stdout
        entry = c.ledger.get(job.submission_id)
        assert entry.qpu_seconds is not None and f"{entry.qpu_seconds}"[:5] in shown.stdout
