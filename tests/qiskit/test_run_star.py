"""A star device (deneb6: six qubits around the computational resonator CR1) end to end: users never write MOVE."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit, transpile

import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSProvider
from tests.qiskit.helpers import chi_square_p


@pytest.fixture(scope="module")
def star(deneb_emulator: QaaSProvider) -> QaaSBackend:
    return deneb_emulator.get_backend()


def test_ghz_through_the_resonator(star: QaaSBackend) -> None:
    n = 4
    qc = QuantumCircuit(n, n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure(range(n), range(n))
    tq = transpile(qc, star, seed_transpiler=1)
    assert "move" not in tq.count_ops()
    job = star.run(tq, shots=1000)
    counts = job.result(timeout=120).get_counts()
    assert set(counts) <= {"0" * n, "1" * n}
    assert chi_square_p(counts, {"0" * n: 0.5, "1" * n: 0.5}) > 1e-4
    request = q.decode_run_request(star.client.ledger.load_request(job.job_id()) or b"")
    moves = [i for i in request.circuits[0].instructions if i.name == "move"]
    assert moves and all(i.locus[1] == "CR1" for i in moves)
    assert len(moves) % 2 == 0
