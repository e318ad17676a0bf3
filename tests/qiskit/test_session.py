"""A Qiskit Estimator loop inside a session: one HEAppE job serves every step (emulated 2 s Slurm queue)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.primitives import BackendEstimatorV2
from qiskit.quantum_info import SparsePauliOp

from qaas_qiskit import QaaSProvider


def test_an_estimator_loop_runs_in_one_session_job(tmp_path: Path) -> None:
    with QaaSProvider.emulator("garnet20", noise=False, scheduling_delay_seconds=2.0, data_dir=tmp_path) as provider:
        backend = provider.get_backend()
        theta = Parameter("θ")
        qc = QuantumCircuit(1)
        qc.ry(theta, 0)
        isa = transpile(qc, backend, seed_transpiler=3)
        observable = SparsePauliOp("Z").apply_layout(isa.layout)
        estimator = BackendEstimatorV2(backend=backend, options={"default_precision": 0.05})
        values = []
        with backend.open_session(idle_timeout=60) as session:
            for step in range(8):
                angle = step * np.pi / 7
                (result,) = estimator.run([(isa, observable, [angle])]).result()
                values.append((angle, float(result.data.evs)))
        for angle, value in values:
            assert abs(value - np.cos(angle)) < 0.3
        batches = [e for e in backend.client.jobs(limit=None) if e.meta.get("session") == session.id]
        assert len(batches) == 8 and len(session.jobs) == 1
        assert {e.heappe_job_id for e in batches} == set(session.jobs)
