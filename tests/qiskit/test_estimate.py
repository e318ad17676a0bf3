"""``backend.estimate(...)``: what ``backend.run(...)`` with the same arguments would cost, before it is sent, against
the QPU time the emulated server reports for it."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter

import qaas_core as q
from qaas_qiskit import QaaSProvider


def test_estimate_then_run_the_same_batch(garnet_emulator: QaaSProvider) -> None:
    backend = garnet_emulator.get_backend()
    theta = Parameter("θ")
    qc = QuantumCircuit(2, 2)
    qc.rx(theta, 0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    compiled = transpile(qc, backend, seed_transpiler=3)
    binds = [{theta: [0.1, 0.2, 0.3]}]
    client = backend.client
    before = len(client.jobs(limit=None))
    estimate = backend.estimate(compiled, parameter_binds=binds, shots=3000)
    assert isinstance(estimate, q.Estimate) and len(client.jobs(limit=None)) == before  # nothing sent
    assert (estimate.circuits, estimate.shots, estimate.jobs) == (3, 3000, 1)
    heralded = backend.estimate(compiled, parameter_binds=binds, shots=3000, heralding_mode="zeros")
    assert heralded.model_qpu_seconds > estimate.model_qpu_seconds  # the heralding readout costs QPU time
    job = backend.run(compiled, parameter_binds=binds, shots=3000)
    job.result()
    entry = client.ledger.get(job.job_id())
    assert entry.estimated_qpu_seconds == pytest.approx(estimate.qpu_seconds, rel=0.05)
    assert entry.qpu_seconds is not None and abs(entry.qpu_seconds / estimate.qpu_seconds - 1) <= 0.2
    with pytest.raises(q.ValidationError):
        backend.estimate(compiled, parameter_binds=binds, shots=0)
