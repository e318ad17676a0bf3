"""Each framework's own simulator on the library programs: the unitary, and the outcome distribution.

* Qiskit: ``Operator`` and ``Statevector`` (exact); programs with feedback (``if_test``, ``if_else``, ``reset``),
  which neither simulates, on ``AerSimulator`` (sampled, seeded).
* Cirq: ``cirq.unitary`` and ``cirq.final_state_vector`` (exact); programs with feedback through
  ``cirq.defer_measurements`` (classical controls become quantum ones on a copy of each measured bit) and
  ``cirq.final_density_matrix`` (exact, resets included).
* PennyLane: ``qml.matrix`` and ``default.qubit`` analytic ``qml.probs`` (exact for every program: mid-circuit
  measurements are deferred).
* OpenQASM 3 has no simulator of its own here; its reference is PennyLane's exact distribution (test_library
  checks that all references agree).

Distributions are vectors over the canonical outcomes (classical bit 0 the most significant bit of the index);
unitaries are big-endian over logical qubits ``0 … n-1``. A device variant of a program (``NAME@device``) has the
references of its program, computed once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import cirq
import numpy as np
import pennylane as qml
from qiskit.quantum_info import Operator, Statevector
from qiskit_aer import AerSimulator

from tests.cross import library
from tests.cross.helpers import outcome_vector
from tests.cross.library import Program, cirq_programs, pennylane_programs, qiskit_programs

__all__ = ["REFERENCES", "UNITARIES", "Reference", "reference"]

REFERENCE_SEED: Final = 7


@dataclass(frozen=True)
class Reference:
    """A reference distribution: exact probabilities, or (when the simulator only samples) counts."""

    exact: bool
    values: np.ndarray


def _qiskit_unitary(program: Program) -> np.ndarray:
    qc = qiskit_programs.bound_circuit(program).remove_final_measurements(inplace=False)
    return np.asarray(Operator(qc).reverse_qargs().data)


def _cirq_unitary(program: Program) -> np.ndarray:
    circuit = cirq_programs.resolved_circuit(program)
    unitary_part = cirq.Circuit(op for op in circuit.all_operations() if not cirq.is_measurement(op))
    return np.asarray(unitary_part.unitary(qubit_order=cirq.LineQubit.range(program.qubits)))


def _pennylane_unitary(program: Program) -> np.ndarray:
    return np.asarray(qml.matrix(pennylane_programs.tape(program), wire_order=range(program.qubits)))


UNITARIES: Final[dict[str, Callable[[Program], np.ndarray]]] = {
    "qiskit": _qiskit_unitary,
    "cirq": _cirq_unitary,
    "pennylane": _pennylane_unitary,
}
"""Each framework's unitary of a program without measurements (big-endian over logical qubits)."""


def _qiskit(program: Program, shots: int) -> Reference:
    qc = qiskit_programs.bound_circuit(program)
    width = len(program.clbits)
    if program.feedback:
        counts = AerSimulator(seed_simulator=REFERENCE_SEED).run(qc, shots=shots).result().get_counts()
        return Reference(False, outcome_vector({bits[::-1]: n for bits, n in counts.items()}, width))
    state = Statevector(qc.remove_final_measurements(inplace=False))
    probabilities = state.probabilities_dict(qargs=list(program.clbits))  # qargs[0] is the rightmost character
    return Reference(True, outcome_vector({bits[::-1]: p for bits, p in probabilities.items()}, width))


def _cirq(program: Program, shots: int) -> Reference:
    del shots
    circuit = cirq_programs.resolved_circuit(program)
    qubits = cirq.LineQubit.range(program.qubits)
    if program.feedback:
        return Reference(True, _cirq_deferred(circuit, cirq_programs.keys(program)))
    unitary_part = cirq.Circuit(op for op in circuit.all_operations() if not cirq.is_measurement(op))
    state = cirq.final_state_vector(unitary_part, qubit_order=qubits)
    probabilities = (np.abs(state) ** 2).reshape((2,) * program.qubits)
    others = tuple(i for i in range(program.qubits) if i not in program.clbits)
    marginal = probabilities.sum(axis=others).transpose(np.argsort(np.argsort(program.clbits)))
    return Reference(True, marginal.reshape(-1))


def _cirq_deferred(circuit: cirq.Circuit, keys: tuple[str, ...]) -> np.ndarray:
    """The exact distribution of a circuit's measurement ``keys`` (one bit each) under mid-circuit measurement."""
    deferred = cirq.defer_measurements(circuit)  # measured at the end: each key on the qubit holding its bit
    key_qubits = {
        str(cirq.measurement_key_name(op)): op.qubits for op in deferred.all_operations() if cirq.is_measurement(op)
    }
    order = [qid for key in keys for qid in key_qubits[key]]
    unitary_part = cirq.drop_terminal_measurements(deferred)
    others = sorted(unitary_part.all_qubits() - set(order))
    rho = cirq.final_density_matrix(unitary_part, qubit_order=[*order, *others], dtype=np.complex128)
    diagonal = np.real(np.diag(rho)).reshape(2 ** len(order), -1)
    return np.asarray(diagonal.sum(axis=1))


def _pennylane(program: Program, shots: int) -> Reference:
    del shots
    (probabilities,) = qml.execute([pennylane_programs.tape(program, "probs")], qml.device("default.qubit"))
    return Reference(True, np.asarray(probabilities))


REFERENCES: Final[dict[str, Callable[[Program, int], Reference]]] = {
    "qiskit": _qiskit,
    "cirq": _cirq,
    "pennylane": _pennylane,
    "qasm3": _pennylane,
}
"""Each front end's reference distribution of a program (``shots`` for the sampling ones)."""


def reference(front_end: str, program: Program, shots: int) -> Reference:
    """The reference distribution of ``program`` for ``front_end`` (a device variant: that of its program)."""
    return _reference(front_end, program.body, shots)


@functools.cache
def _reference(front_end: str, body: str, shots: int) -> Reference:
    return REFERENCES[front_end](library.program(body), shots)
