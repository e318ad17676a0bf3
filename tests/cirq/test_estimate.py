"""``sampler.estimate(program, params, repetitions)``: the cost of a sweep before it is sent, against the QPU time
the emulated server reports for the same sweep."""

from __future__ import annotations

from pathlib import Path

import cirq
import pytest
import sympy

import qaas_core as q
from qaas_cirq import QaaSSampler


def test_estimate_a_sweep_then_run_it(tmp_path: Path) -> None:
    with QaaSSampler.emulator("garnet20", noise=False, compile="faithful", data_dir=tmp_path) as sampler:
        a, b = cirq.NamedQubit("QB1"), cirq.NamedQubit("QB2")
        t = sympy.Symbol("t")
        circuit = cirq.Circuit(cirq.rx(t).on(a), cirq.CNOT(a, b), cirq.measure(a, b, key="m"))
        sweep = cirq.Linspace("t", 0.0, 3.0, 3)
        before = len(sampler.client.jobs(limit=None))
        estimate = sampler.estimate(circuit, sweep, repetitions=4000)
        assert isinstance(estimate, q.Estimate) and len(sampler.client.jobs(limit=None)) == before
        assert (estimate.circuits, estimate.shots, estimate.jobs) == (3, 4000, 1)
        two = sampler.estimate([circuit, circuit], [sweep, {"t": 0.5}], repetitions=4000)
        assert two.circuits == 4 and two.model_qpu_seconds > estimate.model_qpu_seconds
        job = sampler.submit(circuit, sweep, repetitions=4000)
        job.result(timeout=180)
        entry = sampler.client.ledger.get(job.job_id)
        assert entry.qpu_seconds is not None and entry.estimated_qpu_seconds is not None
        assert entry.estimated_qpu_seconds == pytest.approx(estimate.qpu_seconds, rel=0.01)
        assert abs(entry.qpu_seconds / estimate.qpu_seconds - 1) <= 0.2
        with pytest.raises(q.ValidationError, match="repetitions"):
            sampler.estimate(circuit, sweep, repetitions=0)
