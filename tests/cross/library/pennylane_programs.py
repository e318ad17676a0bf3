"""The library in PennyLane: one quantum function per program on wires ``0 … n-1``.

Each function queues the gates and returns what the classical bits read: the wires of the terminal measurement in
classical-bit order, or (``teleport``) the mid-circuit measurement values. :func:`qfunc` turns that into
``qml.counts`` (hardware runs) or ``qml.probs`` (exact reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pennylane as qml

from tests.cross.library import (
    ANSATZ_ANGLES,
    ANSATZ_FINAL,
    CLIFFORD_LAYERS,
    GROVER_MARKED,
    QFT_INPUT,
    STAR_ANGLES,
    TELEPORT_STATE,
    Program,
)

__all__ = ["qfunc", "tape"]


def _ghz(p: Program) -> Sequence[Any]:
    qml.H(0)
    for i in range(p.qubits - 1):
        qml.CNOT([i, i + 1])
    return p.clbits


def _qft3(p: Program) -> Sequence[Any]:
    for i, bit in enumerate(QFT_INPUT):
        if bit:
            qml.X(i)
    for j in range(3):
        qml.H(j)
        for k in range(j + 1, 3):
            qml.ControlledPhaseShift(math.pi / 2 ** (k - j), wires=[k, j])
    for i in range(3):
        qml.H(i)
    return p.clbits


def _grover2(p: Program) -> Sequence[Any]:
    flips = [i for i, bit in enumerate(GROVER_MARKED) if not bit]

    def on(gate: Callable[[int], Any], wires: Sequence[int]) -> None:
        for w in wires:
            gate(w)

    on(qml.H, [0, 1])
    on(qml.X, flips)
    qml.CZ([0, 1])
    on(qml.X, flips)
    on(qml.H, [0, 1])
    on(qml.X, [0, 1])
    qml.CZ([0, 1])
    on(qml.X, [0, 1])
    on(qml.H, [0, 1])
    return p.clbits


def _clifford4(p: Program) -> Sequence[Any]:
    gates = {"h": qml.H, "s": qml.S}
    for singles, pairs in CLIFFORD_LAYERS:
        for i, word in enumerate(singles):
            for g in word:
                if g in gates:
                    gates[g](i)
        for a, b in pairs:
            qml.CZ([a, b])
    return p.clbits


def _ansatz4(p: Program) -> Sequence[Any]:
    for ry, rz in ANSATZ_ANGLES:
        for i in range(4):
            qml.RY(ry[i], i)
            qml.RZ(rz[i], i)
        for i in range(3):
            qml.CNOT([i, i + 1])
    for i in range(4):
        qml.RY(ANSATZ_FINAL[i], i)
    return p.clbits


def _teleport(p: Program) -> Sequence[Any]:
    theta, lam = TELEPORT_STATE
    qml.RY(theta, 0)
    qml.RZ(lam, 0)
    qml.H(1)
    qml.CNOT([1, 2])
    qml.CNOT([0, 1])
    qml.H(0)
    m0 = qml.measure(0)
    m1 = qml.measure(1)
    qml.cond(m1, qml.X)(2)
    qml.H(2)
    qml.cond(m0, qml.X)(2)
    qml.H(2)
    qml.RZ(-lam, 2)
    qml.RY(-theta, 2)
    return [m0, m1, qml.measure(2)]


def _star2(p: Program) -> Sequence[Any]:
    a, b, c = STAR_ANGLES
    qml.RY(a, 0)
    qml.RX(b, 1)
    qml.CNOT([0, 1])
    qml.RY(c, 1)
    qml.CNOT([1, 0])
    return p.clbits


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


def qfunc(program: Program, kind: Literal["counts", "probs"] = "counts") -> Callable[[], Any]:
    """The program as a quantum function returning ``qml.counts`` or ``qml.probs`` of its classical bits."""
    measurement = qml.counts if kind == "counts" else qml.probs

    def fn() -> Any:
        readout = _BODIES[program.name](program)
        if program.feedback:
            return measurement(op=list(readout))
        return measurement(wires=list(readout))

    return fn


def tape(program: Program, kind: Literal["counts", "probs"] = "counts", shots: int | None = None) -> Any:
    """The program as a ``QuantumScript`` (``shots=None``: analytic)."""
    return qml.tape.make_qscript(qfunc(program, kind), shots=shots)()
