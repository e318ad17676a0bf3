"""Qiskit on the direct transport: the IQM server spoken to directly (emulated, real HTTP), no LEXIS or HEAppE."""

from __future__ import annotations

from pathlib import Path

from qiskit import QuantumCircuit, transpile

from qaas_qiskit import QaaSProvider


def test_run_and_retrieve_on_the_iqm_server_directly(tmp_path: Path) -> None:
    with QaaSProvider.emulator("garnet20", noise=False, transport="iqm", data_dir=tmp_path) as provider:
        backend = provider.get_backend()
        qc = QuantumCircuit(3)
        qc.h(0)
        qc.cx(0, 1)
        qc.cx(1, 2)
        qc.measure_all()
        job = backend.run(transpile(qc, backend, seed_transpiler=1), shots=200)
        counts = job.result().get_counts()
        assert set(counts) <= {"000", "111"} and sum(counts.values()) == 200
        assert job.heappe_job_id is None and job.iqm_job_id
        again = provider.retrieve_job(job.iqm_job_id)
        assert again.result().get_counts() == counts
