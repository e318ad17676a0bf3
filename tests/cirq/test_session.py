"""A Cirq sweep-by-sweep loop inside a session: one HEAppE job serves every step (emulated 2 s Slurm queue)."""

from __future__ import annotations

from pathlib import Path

import cirq
import sympy

from qaas_cirq import QaaSSampler


def test_a_sweep_loop_runs_in_one_session_job(tmp_path: Path) -> None:
    sampler = QaaSSampler.emulator("garnet20", noise=False, scheduling_delay_seconds=2.0, data_dir=tmp_path)
    try:
        a = cirq.NamedQubit("QB1")
        t = sympy.Symbol("t")
        circuit = sampler.device.compile(cirq.Circuit(cirq.rx(t)(a), cirq.measure(a, key="m"))).circuit
        ones = []
        with sampler.session(idle_timeout=60) as session:
            for step in range(8):
                (result,) = sampler.run_sweep(circuit, cirq.Points("t", [0.0 if step % 2 else 3.141592653589793]),
                                              repetitions=20)  # fmt: skip
                ones.append(int(result.measurements["m"].sum()))
        assert ones == [20, 0] * 4
        assert len(session.jobs) == 1
        batches = [e for e in sampler.client.jobs(limit=None) if e.meta.get("session") == session.id]
        assert len(batches) == 8
    finally:
        sampler.close()
