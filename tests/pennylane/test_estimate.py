"""``dev.estimate(qnode, *args)``: what an execution (or a parameter-shift gradient) would cost, before running it,
against what the emulated QPU reports."""

from __future__ import annotations

from pathlib import Path

import pennylane as qml
import pytest
from pennylane import numpy as pnp

import qaas_core as q


def test_estimate_a_qnode_and_its_gradient_then_compare_with_the_run(tmp_path: Path) -> None:
    dev = qml.device("qaas.iqm", wires=2, emulator="garnet20", noise=False, emulator_options={"data_dir": tmp_path})

    @qml.set_shots(3000)
    @qml.qnode(dev, diff_method="parameter-shift")
    def energy(x: pnp.ndarray) -> object:
        qml.RX(x[0], 0)
        qml.RY(x[1], 1)
        qml.CNOT([0, 1])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    x = pnp.array([0.3, 0.7], requires_grad=True)
    jobs_before = len(dev.client.jobs(limit=None))
    estimate = dev.estimate(energy, x)
    assert isinstance(estimate, q.Estimate) and len(dev.client.jobs(limit=None)) == jobs_before  # nothing sent
    assert (estimate.circuits, estimate.shots, estimate.jobs) == (1, 3000, 1)
    assert 0 < estimate.success_probability[0] <= 1 and estimate.allocation == 36000
    gradient = dev.estimate(qml.gradients.param_shift(energy), x)
    setup = q.QPUTimeModel().job_overhead  # one job for the four shifted tapes (two per parameter)
    assert gradient.circuits == 4
    assert gradient.model_qpu_seconds - setup == pytest.approx(4 * (estimate.model_qpu_seconds - setup), rel=0.01)
    energy(x)
    reported = dev.last_job.result().qpu_seconds
    assert reported is not None and abs(reported / estimate.qpu_seconds - 1) <= 0.2
    entry = dev.client.ledger.get(dev.last_job.submission_id)
    assert entry.estimated_qpu_seconds == pytest.approx(estimate.qpu_seconds, rel=0.05)
    assert entry.qpu_seconds == pytest.approx(reported)
