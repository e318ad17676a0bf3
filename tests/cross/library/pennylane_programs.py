"""The library in PennyLane: one quantum function per program on wires ``0 … n-1``.

Each function queues the gates and returns what the classical bits read: the wires of the terminal measurement in
classical-bit order, or (programs with feedback) the mid-circuit measurement values. :func:`qfunc` turns that into
``qml.counts`` (hardware runs) or ``qml.probs`` (exact reference).

Conditions are a measurement value (``qml.cond(m, qml.X)``), an expression of one (``m == 1``, ``~m``) and a
``true_fn`` / ``false_fn`` pair; ``ipe3`` reuses its ancilla with ``qml.measure(0, reset=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pennylane as qml

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
    _teleport_prepare()
    m0 = qml.measure(0)
    m1 = qml.measure(1)
    qml.cond(m1, qml.X)(2)
    qml.H(2)
    qml.cond(m0, qml.X)(2)
    qml.H(2)
    _teleport_undo()
    return [m0, m1, qml.measure(2)]


def _star2(p: Program) -> Sequence[Any]:
    a, b, c = STAR_ANGLES
    qml.RY(a, 0)
    qml.RX(b, 1)
    qml.CNOT([0, 1])
    qml.RY(c, 1)
    qml.CNOT([1, 0])
    return p.clbits


def _adder4(p: Program) -> Sequence[Any]:
    a0, a1, b0, b1 = range(4)
    qml.RY(ADDER_ANGLES[0], a0)
    qml.X(a1)
    qml.RY(ADDER_ANGLES[1], b0)
    qml.H(b1)
    qml.ControlledPhaseShift(math.pi / 2, [b0, b1])
    qml.H(b0)
    qml.CZ([a0, b0])
    qml.ControlledPhaseShift(math.pi / 2, [a0, b1])
    qml.CZ([a1, b1])
    qml.H(b0)
    qml.ControlledPhaseShift(-math.pi / 2, [b0, b1])
    qml.H(b1)
    return p.clbits


def _qpe3(p: Program) -> Sequence[Any]:
    qml.X(3)
    for j in range(3):
        qml.H(j)
    for j in range(3):
        qml.ControlledPhaseShift(2 * math.pi * PHASE_NUMERATOR * 2**j / 8, [j, 3])
    qml.SWAP([0, 2])  # qml.QFT ends with its swaps, so its adjoint starts with them: these undo them
    qml.adjoint(qml.QFT)(wires=[0, 1, 2])
    return p.clbits


def _w3(p: Program) -> Sequence[Any]:
    qml.RY(W_ANGLE, 0)
    qml.CRY(math.pi / 2, [0, 1])
    qml.CNOT([1, 2])
    qml.CNOT([0, 1])
    qml.X(0)
    return p.clbits


def _grover3(p: Program) -> Sequence[Any]:
    for w in range(3):
        qml.H(w)
    for _ in range(2):
        qml.FlipSign(list(GROVER3_MARKED), wires=range(3))  # the oracle, as PennyLane spells it
        qml.GroverOperator(wires=range(3))  # the diffuser (up to a global phase)
    return p.clbits


def _teleport_prepare() -> None:
    theta, lam = TELEPORT_STATE
    qml.RY(theta, 0)
    qml.RZ(lam, 0)
    qml.H(1)
    qml.CNOT([1, 2])
    qml.CNOT([0, 1])
    qml.H(0)


def _teleport_undo() -> None:
    theta, lam = TELEPORT_STATE
    qml.RZ(-lam, 2)
    qml.RY(-theta, 2)


def _teleport_deferred(p: Program) -> Sequence[Any]:
    _teleport_prepare()
    qml.CNOT([1, 2])
    qml.CZ([0, 2])
    _teleport_undo()
    return p.clbits


def _teleport_z(p: Program) -> Sequence[Any]:
    _teleport_prepare()
    m0 = qml.measure(0)
    m1 = qml.measure(1)
    qml.cond(m1 == 0, qml.Identity, qml.X)(2)
    qml.cond(m0, qml.Z)(2)
    _teleport_undo()
    return [m0, m1, qml.measure(2)]


def _ghz_dyn5(p: Program) -> Sequence[Any]:
    for w in (0, 2, 4):
        qml.H(w)
    qml.CNOT([0, 1])
    qml.CNOT([2, 1])
    qml.CNOT([2, 3])
    qml.CNOT([4, 3])
    m0 = qml.measure(1)
    m1 = qml.measure(3)
    qml.cond(m0, qml.X)(2)
    qml.cond(m0 == 1, qml.X)(4)
    qml.cond(m1, qml.X)(4)
    return [m0, m1, *(qml.measure(w) for w in (0, 2, 4))]


def _ipe(p: Program) -> Sequence[Any]:
    k, n = IPE_PHASES[p.body]
    qml.X(1)
    bits: list[Any] = []
    for r in range(n):  # round r reads bit r of the phase, least significant first
        qml.H(0)
        qml.ControlledPhaseShift(2 * math.pi * k * 2 ** (n - 1 - r) / 2**n, [0, 1])
        for j in reversed(range(r)):  # the latest bit first
            if j == r - 1:
                qml.cond(bits[j], qml.PhaseShift)(-math.pi / 2 ** (r - j), 0)
            else:
                qml.cond(bits[j] == 1, qml.RZ)(-math.pi / 2 ** (r - j), 0)
        qml.H(0)
        bits.append(qml.measure(0, reset=r < n - 1))
    return bits


def _qft_dyn3(p: Program) -> Sequence[Any]:
    ry, phases = QFT_DYN_STATE
    for i in range(3):
        qml.RY(ry[i], i)
    qml.CNOT([0, 1])
    qml.CNOT([1, 2])
    for i in range(3):
        qml.PhaseShift(phases[i], i)
    qml.H(0)
    bits: list[Any] = []
    for j in range(3):
        bits.append(qml.measure(j))
        for k in range(j + 1, 3):
            angle = math.pi / 2 ** (k - j)
            if k == j + 1:  # the rotation just before k's H, moved after it: H·P(θ) ∝ RX(θ)·H
                qml.H(k)
                qml.cond(bits[j], qml.RX)(angle, k)
            else:
                qml.cond(bits[j], qml.PhaseShift)(angle, k)
    return bits


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
    "ipe2": _ipe,
    "ipe3": _ipe,
    "qft_dyn3": _qft_dyn3,
}


def qfunc(program: Program, kind: Literal["counts", "probs"] = "counts") -> Callable[[], Any]:
    """The program as a quantum function returning ``qml.counts`` or ``qml.probs`` of its classical bits."""
    measurement = qml.counts if kind == "counts" else qml.probs

    def fn() -> Any:
        readout = _BODIES[program.body](program)
        if program.feedback:
            return measurement(op=list(readout))
        return measurement(wires=list(readout))

    return fn


def tape(program: Program, kind: Literal["counts", "probs"] = "counts", shots: int | None = None) -> Any:
    """The program as a ``QuantumScript`` (``shots=None``: analytic)."""
    return qml.tape.make_qscript(qfunc(program, kind), shots=shots)()
