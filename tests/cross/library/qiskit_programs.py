"""The library in Qiskit: one ``QuantumCircuit`` per program, qubit ``i`` is logical qubit ``i``, one register.

``ansatz4`` has symbolic parameters (``ParameterVector("θ", 20)``); :func:`binding` gives their values.
"""

from __future__ import annotations

import math

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector

from tests.cross.library import (
    ANSATZ_ANGLES,
    ANSATZ_FINAL,
    CLIFFORD_LAYERS,
    GROVER_MARKED,
    QFT_INPUT,
    STAR_ANGLES,
    TELEPORT_STATE,
    Program,
    ansatz_values,
)

__all__ = ["binding", "bound_circuit", "circuit"]

_THETA = ParameterVector("θ", len(ansatz_values()))


def _ghz(qc: QuantumCircuit) -> None:
    qc.h(0)
    for i in range(qc.num_qubits - 1):
        qc.cx(i, i + 1)


def _qft3(qc: QuantumCircuit) -> None:
    for i, bit in enumerate(QFT_INPUT):
        if bit:
            qc.x(i)
    for j in range(3):
        qc.h(j)
        for k in range(j + 1, 3):
            qc.cp(math.pi / 2 ** (k - j), k, j)
    qc.h(range(3))


def _grover2(qc: QuantumCircuit) -> None:
    qc.h([0, 1])
    flips = [i for i, bit in enumerate(GROVER_MARKED) if not bit]
    qc.x(flips)
    qc.cz(0, 1)
    qc.x(flips)
    qc.h([0, 1])
    qc.x([0, 1])
    qc.cz(0, 1)
    qc.x([0, 1])
    qc.h([0, 1])


def _clifford4(qc: QuantumCircuit) -> None:
    for singles, pairs in CLIFFORD_LAYERS:
        for i, word in enumerate(singles):
            for gate in word:
                if gate == "h":
                    qc.h(i)
                elif gate == "s":
                    qc.s(i)
        for a, b in pairs:
            qc.cz(a, b)


def _ansatz4(qc: QuantumCircuit) -> None:
    theta = iter(_THETA)
    for _ in ANSATZ_ANGLES:
        for i in range(4):
            qc.ry(next(theta), i)
            qc.rz(next(theta), i)
        for i in range(3):
            qc.cx(i, i + 1)
    for i in range(len(ANSATZ_FINAL)):
        qc.ry(next(theta), i)


def _teleport(qc: QuantumCircuit) -> None:
    theta, lam = TELEPORT_STATE
    qc.ry(theta, 0)
    qc.rz(lam, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.measure(1, 1)
    with qc.if_test((qc.clbits[1], 1)):
        qc.x(2)
    qc.h(2)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    qc.h(2)
    qc.rz(-lam, 2)
    qc.ry(-theta, 2)
    qc.measure(2, 2)


def _star2(qc: QuantumCircuit) -> None:
    a, b, c = STAR_ANGLES
    qc.ry(a, 0)
    qc.rx(b, 1)
    qc.cx(0, 1)
    qc.ry(c, 1)
    qc.cx(1, 0)


_BODIES = {
    "bell": _ghz,
    "ghz3": _ghz,
    "ghz4": _ghz,
    "ghz5": _ghz,
    "qft3": _qft3,
    "grover2": _grover2,
    "clifford4": _clifford4,
    "ansatz4": _ansatz4,
    "teleport": _teleport,
    "star2": _star2,
}


def circuit(program: Program) -> QuantumCircuit:
    """The program as a Qiskit circuit with one classical register ``c`` (clbit ``j`` is classical bit ``j``)."""
    qc = QuantumCircuit(program.qubits, len(program.clbits), name=program.name)
    _BODIES[program.name](qc)
    if not program.feedback:
        qc.measure(list(program.clbits), range(len(program.clbits)))
    return qc


def binding(program: Program) -> dict[Parameter, float]:
    """Values of the circuit's parameters (empty for programs without)."""
    return dict(zip(_THETA, ansatz_values(), strict=True)) if program.name == "ansatz4" else {}


def bound_circuit(program: Program) -> QuantumCircuit:
    """The circuit with its parameters bound."""
    return circuit(program).assign_parameters(binding(program))
