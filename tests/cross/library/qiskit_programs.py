"""The library in Qiskit: one ``QuantumCircuit`` per program, qubit ``i`` is logical qubit ``i``, one register.

``ansatz4`` has symbolic parameters (``ParameterVector("θ", 20)``); :func:`binding` gives their values.

Feedback is written in the spellings Qiskit users write: ``if_test`` on ``(clbit, 1)``, ``(clbit, True)``,
``expr.lift(clbit)`` and ``expr.equal(clbit, True)``, and ``if_else`` on ``expr.logic_not(clbit)`` with the
correction in the ``else`` body (``teleport_z``).
"""

from __future__ import annotations

import functools
import math

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.classical import expr

from tests.cross.library import (
    ADDER_ANGLES,
    ANSATZ_ANGLES,
    ANSATZ_FINAL,
    CLIFFORD_LAYERS,
    GROVER3_MARKED,
    GROVER_MARKED,
    IPE_PHASES,
    PHASE_NUMERATOR,
    QFT_DYN_STATE,
    QFT_INPUT,
    STAR_ANGLES,
    TELEPORT_STATE,
    W_ANGLE,
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
    _teleport_prepare(qc)
    qc.measure(0, 0)
    qc.measure(1, 1)
    with qc.if_test((qc.clbits[1], 1)):
        qc.x(2)
    qc.h(2)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    qc.h(2)
    _teleport_undo(qc)
    qc.measure(2, 2)


def _star2(qc: QuantumCircuit) -> None:
    a, b, c = STAR_ANGLES
    qc.ry(a, 0)
    qc.rx(b, 1)
    qc.cx(0, 1)
    qc.ry(c, 1)
    qc.cx(1, 0)


def _adder4(qc: QuantumCircuit) -> None:
    a0, a1, b0, b1 = range(4)
    qc.ry(ADDER_ANGLES[0], a0)
    qc.x(a1)
    qc.ry(ADDER_ANGLES[1], b0)
    qc.h(b1)  # QFT of b: b1 carries the phase 2π·b/4, b0 carries 2π·b/2
    qc.cp(math.pi / 2, b0, b1)
    qc.h(b0)
    qc.cp(math.pi, a0, b0)  # + a: 2π·a/2 on b0, 2π·a/4 on b1
    qc.cp(math.pi / 2, a0, b1)
    qc.cp(math.pi, a1, b1)
    qc.h(b0)  # inverse QFT
    qc.cp(-math.pi / 2, b0, b1)
    qc.h(b1)


def _qpe3(qc: QuantumCircuit) -> None:
    qc.x(3)
    qc.h([0, 1, 2])
    for j in range(3):
        qc.cp(2 * math.pi * PHASE_NUMERATOR * 2**j / 8, j, 3)
    qc.h(2)  # inverse QFT, qubit 2 (the least significant bit) first
    qc.cp(-math.pi / 2, 2, 1)
    qc.h(1)
    qc.cp(-math.pi / 4, 2, 0)
    qc.cp(-math.pi / 2, 1, 0)
    qc.h(0)


def _w3(qc: QuantumCircuit) -> None:
    qc.ry(W_ANGLE, 0)
    qc.cry(math.pi / 2, 0, 1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.x(0)


def _grover3(qc: QuantumCircuit) -> None:
    zeros = [i for i, bit in enumerate(GROVER3_MARKED) if not bit]
    qc.h(range(3))
    for _ in range(2):
        qc.x(zeros)
        qc.ccz(0, 1, 2)
        qc.x(zeros)
        qc.h(range(3))
        qc.x(range(3))
        qc.ccz(0, 1, 2)
        qc.x(range(3))
        qc.h(range(3))


def _teleport_prepare(qc: QuantumCircuit) -> None:
    theta, lam = TELEPORT_STATE
    qc.ry(theta, 0)
    qc.rz(lam, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)


def _teleport_undo(qc: QuantumCircuit) -> None:
    theta, lam = TELEPORT_STATE
    qc.rz(-lam, 2)
    qc.ry(-theta, 2)


def _teleport_deferred(qc: QuantumCircuit) -> None:
    _teleport_prepare(qc)
    qc.cx(1, 2)
    qc.cz(0, 2)
    _teleport_undo(qc)


def _teleport_z(qc: QuantumCircuit) -> None:
    _teleport_prepare(qc)
    qc.measure(0, 0)
    qc.measure(1, 1)
    with qc.if_test(expr.logic_not(qc.clbits[1])) as otherwise:
        pass
    with otherwise:
        qc.x(2)
    with qc.if_test(expr.equal(qc.clbits[0], True)):
        qc.z(2)
    _teleport_undo(qc)
    qc.measure(2, 2)


def _ghz_dyn5(qc: QuantumCircuit) -> None:
    qc.h([0, 2, 4])
    qc.cx(0, 1)
    qc.cx(2, 1)
    qc.cx(2, 3)
    qc.cx(4, 3)
    qc.measure(1, 0)
    qc.measure(3, 1)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(2)
    with qc.if_test((qc.clbits[0], True)):
        qc.x(4)
    with qc.if_test(expr.lift(qc.clbits[1])):
        qc.x(4)
    qc.measure([0, 2, 4], [2, 3, 4])


def _ipe(k: int, n: int, qc: QuantumCircuit) -> None:
    c = qc.clbits
    qc.x(1)
    for r in range(n):  # round r reads bit r of the phase, least significant first
        qc.h(0)
        qc.cp(2 * math.pi * k * 2 ** (n - 1 - r) / 2**n, 0, 1)
        for j in reversed(range(r)):  # the latest bit first
            if j == r - 1:
                with qc.if_test(expr.lift(c[j])):
                    qc.p(-math.pi / 2 ** (r - j), 0)
            else:
                with qc.if_test(expr.equal(c[j], True)):
                    qc.rz(-math.pi / 2 ** (r - j), 0)
        qc.h(0)
        qc.measure(0, r)
        if r < n - 1:
            qc.reset(0)


def _qft_dyn3(qc: QuantumCircuit) -> None:
    ry, phases = QFT_DYN_STATE
    for i in range(3):
        qc.ry(ry[i], i)
    qc.cx(0, 1)
    qc.cx(1, 2)
    for i in range(3):
        qc.p(phases[i], i)
    qc.h(0)
    for j in range(3):
        qc.measure(j, j)
        for k in range(j + 1, 3):
            if k == j + 1:  # the rotation just before k's H: with it, or H alone
                with qc.if_test((qc.clbits[j], 1)) as otherwise:
                    qc.p(math.pi / 2 ** (k - j), k)
                    qc.h(k)
                with otherwise:
                    qc.h(k)
            else:
                with qc.if_test(expr.lift(qc.clbits[j])):
                    qc.p(math.pi / 2 ** (k - j), k)


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
    "adder4": _adder4,
    "qpe3": _qpe3,
    "w3": _w3,
    "grover3": _grover3,
    "teleport_deferred": _teleport_deferred,
    "teleport_z": _teleport_z,
    "ghz_dyn5": _ghz_dyn5,
    "ipe2": functools.partial(_ipe, *IPE_PHASES["ipe2"]),
    "ipe3": functools.partial(_ipe, *IPE_PHASES["ipe3"]),
    "qft_dyn3": _qft_dyn3,
}


def circuit(program: Program) -> QuantumCircuit:
    """The program as a Qiskit circuit with one classical register ``c`` (clbit ``j`` is classical bit ``j``)."""
    qc = QuantumCircuit(program.qubits, len(program.clbits), name=program.name)
    _BODIES[program.body](qc)
    if not program.feedback:
        qc.measure(list(program.clbits), range(len(program.clbits)))
    return qc


def binding(program: Program) -> dict[Parameter, float]:
    """Values of the circuit's parameters (empty for programs without)."""
    return dict(zip(_THETA, ansatz_values(), strict=True)) if program.body == "ansatz4" else {}


def bound_circuit(program: Program) -> QuantumCircuit:
    """The circuit with its parameters bound."""
    return circuit(program).assign_parameters(binding(program))
