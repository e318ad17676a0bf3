"""OpenQASM 3 written by Qiskit, read by qaas_core: the native circuit has the same unitary.

Equivalence is up to a diagonal phase on the output (virtual Z rotations are tracked in software and never
emitted after the last pulse, which does not change Z-basis measurement statistics).
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator

import qaas_core as q
from tests.cross.helpers import assert_equivalent_up_to_output_phases, native_unitary

GARNET = q.load_profile("garnet20")


def little_endian_unitary(circuit: q.Circuit, qubits: list[str]) -> np.ndarray:
    """Unitary of a prx/cz circuit, little-endian like Qiskit (qubits[0] is the least significant bit)."""
    return native_unitary(circuit, qubits[::-1])


def couplable(qc: QuantumCircuit) -> bool:
    """Every two-qubit gate of the (unrouted) circuit acts on a garnet coupling under the trivial layout."""
    pairs = {frozenset((GARNET.qubits.index(a), GARNET.qubits.index(b))) for a, b in GARNET.coupling_graph()}
    return all(
        len(inst.qubits) < 2 or frozenset(qc.find_bit(x).index for x in inst.qubits) in pairs for inst in qc.data
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_two_qubit_circuits(seed: int) -> None:
    # QB1-QB2 is a coupling on garnet20, so every 2-qubit circuit maps with the trivial layout
    qc = random_circuit(2, depth=6, max_operands=2, seed=seed)
    basis = ["x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "u", "cx", "cz", "swap"]
    from qiskit import transpile

    qc = transpile(qc, basis_gates=basis, optimization_level=0, seed_transpiler=seed)
    text = qasm3.dumps(qc)
    circuit = q.circuit_from_qasm3(text, GARNET, name=f"r{seed}")
    assert_equivalent_up_to_output_phases(Operator(qc).data, little_endian_unitary(circuit, list(GARNET.qubits[:2])))


def test_bell_with_measurement_registers() -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    circuit = q.circuit_from_qasm3(qasm3.dumps(qc), GARNET, name="bell")
    assert [i.name for i in circuit.instructions].count("measure") == 2
    unitary_part = q.Circuit("u", tuple(i for i in circuit.instructions if i.name != "measure"))
    assert_equivalent_up_to_output_phases(
        Operator(qc.remove_final_measurements(inplace=False)).data,
        little_endian_unitary(unitary_part, list(GARNET.qubits[:2])),
    )
    assert couplable(qc)
