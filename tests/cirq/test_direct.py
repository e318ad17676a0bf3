"""Cirq on the direct transport: the IQM server spoken to directly (emulated, real HTTP), no LEXIS or HEAppE."""

from __future__ import annotations

from pathlib import Path

import cirq

from qaas_cirq import QaaSSampler


def test_sweep_on_the_iqm_server_directly(tmp_path: Path) -> None:
    sampler = QaaSSampler.emulator("garnet20", noise=False, transport="iqm", data_dir=tmp_path)
    try:
        a, b = cirq.NamedQubit("QB1"), cirq.NamedQubit("QB2")
        compiled = sampler.device.compile(cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key="m")))
        results = sampler.run_sweep(compiled.circuit, cirq.UnitSweep, repetitions=150)
        histogram = results[0].histogram(key="m")
        assert set(histogram) <= {0, 3} and sum(histogram.values()) == 150
        entry = sampler.client.ledger.list(limit=1)[0]
        assert entry.transport == "iqm" and entry.iqm_job_id and entry.heappe_job_id is None
    finally:
        sampler.close()
