"""The library in Cirq: one ``cirq.Circuit`` per program on ``cirq.LineQubit(0 … n-1)``.

Measurement keys: programs measured only at the end use one key ``c`` whose columns are the classical bits in order;
programs with feedback measure classical bit ``j`` into the key ``cj`` (a classically controlled gate needs its own
key). Conditions are written both ways Cirq offers: a key (``KeyCondition``) and a sympy expression of one key
(``SympyCondition``: ``Eq(c0, 1)``, ``Ne(c1, 0)``).

``ansatz4`` has symbolic parameters (sympy symbols ``θ0`` … ``θ19``); :func:`resolver` gives their values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import cirq
import sympy

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

__all__ = ["circuit", "keys", "resolved_circuit", "resolver"]

_THETA = tuple(sympy.Symbol(f"θ{k}") for k in range(len(ansatz_values())))


def _ghz(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield cirq.H(q[0])
    for i in range(len(q) - 1):
        yield cirq.CNOT(q[i], q[i + 1])


def _qft3(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield [cirq.X(q[i]) for i, bit in enumerate(QFT_INPUT) if bit]
    for j in range(3):
        yield cirq.H(q[j])
        for k in range(j + 1, 3):
            yield cirq.CZ(q[k], q[j]) ** (1 / 2 ** (k - j))  # CZ**t = controlled phase of pi*t
    yield cirq.H.on_each(q)


def _grover2(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    flips = [q[i] for i, bit in enumerate(GROVER_MARKED) if not bit]
    yield cirq.H.on_each(q)
    yield cirq.X.on_each(flips)
    yield cirq.CZ(q[0], q[1])
    yield cirq.X.on_each(flips)
    yield cirq.H.on_each(q)
    yield cirq.X.on_each(q)
    yield cirq.CZ(q[0], q[1])
    yield cirq.X.on_each(q)
    yield cirq.H.on_each(q)


def _clifford4(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    gates = {"h": cirq.H, "s": cirq.S}
    for singles, pairs in CLIFFORD_LAYERS:
        for i, word in enumerate(singles):
            yield [gates[g](q[i]) for g in word if g in gates]
        yield [cirq.CZ(q[a], q[b]) for a, b in pairs]


def _ansatz4(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    theta = iter(_THETA)
    for _ in ANSATZ_ANGLES:
        for i in range(4):
            yield cirq.ry(next(theta))(q[i])
            yield cirq.rz(next(theta))(q[i])
        for i in range(3):
            yield cirq.CNOT(q[i], q[i + 1])
    yield [cirq.ry(next(theta))(q[i]) for i in range(len(ANSATZ_FINAL))]


def _teleport(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    theta, lam = TELEPORT_STATE
    yield cirq.ry(theta)(q[0])
    yield cirq.rz(lam)(q[0])
    yield cirq.H(q[1])
    yield cirq.CNOT(q[1], q[2])
    yield cirq.CNOT(q[0], q[1])
    yield cirq.H(q[0])
    yield cirq.measure(q[0], key="c0")
    yield cirq.measure(q[1], key="c1")
    yield cirq.X(q[2]).with_classical_controls("c1")
    yield cirq.H(q[2])
    yield cirq.X(q[2]).with_classical_controls("c0")
    yield cirq.H(q[2])
    yield cirq.rz(-lam)(q[2])
    yield cirq.ry(-theta)(q[2])
    yield cirq.measure(q[2], key="c2")


def _star2(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    a, b, c = STAR_ANGLES
    yield cirq.ry(a)(q[0])
    yield cirq.rx(b)(q[1])
    yield cirq.CNOT(q[0], q[1])
    yield cirq.ry(c)(q[1])
    yield cirq.CNOT(q[1], q[0])


def _cp(angle: float, a: cirq.Qid, b: cirq.Qid) -> cirq.Operation:
    return cirq.CZ(a, b) ** (angle / math.pi)  # CZ**t is the controlled phase of π·t


def _p(angle: float, a: cirq.Qid) -> cirq.Operation:
    return cirq.Z(a) ** (angle / math.pi)


def _adder4(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    a0, a1, b0, b1 = q
    yield cirq.ry(ADDER_ANGLES[0])(a0), cirq.X(a1), cirq.ry(ADDER_ANGLES[1])(b0)
    yield cirq.H(b1), _cp(math.pi / 2, b0, b1), cirq.H(b0)
    yield cirq.CZ(a0, b0), _cp(math.pi / 2, a0, b1), cirq.CZ(a1, b1)
    yield cirq.H(b0), _cp(-math.pi / 2, b0, b1), cirq.H(b1)


def _qpe3(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield cirq.X(q[3]), cirq.H.on_each(q[:3])
    for j in range(3):
        yield _cp(2 * math.pi * PHASE_NUMERATOR * 2**j / 8, q[j], q[3])
    yield cirq.H(q[2]), _cp(-math.pi / 2, q[2], q[1]), cirq.H(q[1])
    yield _cp(-math.pi / 4, q[2], q[0]), _cp(-math.pi / 2, q[1], q[0]), cirq.H(q[0])


def _w3(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield cirq.ry(W_ANGLE)(q[0])
    yield cirq.ry(math.pi / 2)(q[1]).controlled_by(q[0])
    yield cirq.CNOT(q[1], q[2]), cirq.CNOT(q[0], q[1]), cirq.X(q[0])


def _grover3(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    zeros = [q[i] for i, bit in enumerate(GROVER3_MARKED) if not bit]
    yield cirq.H.on_each(q)
    for _ in range(2):
        yield cirq.X.on_each(zeros), cirq.CCZ(*q), cirq.X.on_each(zeros)
        yield cirq.H.on_each(q), cirq.X.on_each(q), cirq.CCZ(*q), cirq.X.on_each(q), cirq.H.on_each(q)


def _teleport_prepare(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    theta, lam = TELEPORT_STATE
    yield cirq.ry(theta)(q[0]), cirq.rz(lam)(q[0])
    yield cirq.H(q[1]), cirq.CNOT(q[1], q[2]), cirq.CNOT(q[0], q[1]), cirq.H(q[0])


def _teleport_undo(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    theta, lam = TELEPORT_STATE
    yield cirq.rz(-lam)(q[2]), cirq.ry(-theta)(q[2])


def _teleport_deferred(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield _teleport_prepare(q)
    yield cirq.CNOT(q[1], q[2]), cirq.CZ(q[0], q[2])
    yield _teleport_undo(q)


def _teleport_z(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield _teleport_prepare(q)
    yield cirq.measure(q[0], key="c0"), cirq.measure(q[1], key="c1")
    yield cirq.X(q[2]).with_classical_controls(sympy.Ne(sympy.Symbol("c1"), 0))
    yield cirq.Z(q[2]).with_classical_controls("c0")
    yield _teleport_undo(q)
    yield cirq.measure(q[2], key="c2")


def _ghz_dyn5(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield cirq.H.on_each(q[0], q[2], q[4])
    yield cirq.CNOT(q[0], q[1]), cirq.CNOT(q[2], q[1]), cirq.CNOT(q[2], q[3]), cirq.CNOT(q[4], q[3])
    yield cirq.measure(q[1], key="c0"), cirq.measure(q[3], key="c1")
    yield cirq.X(q[2]).with_classical_controls("c0")
    yield cirq.X(q[4]).with_classical_controls(sympy.Eq(sympy.Symbol("c0"), 1))
    yield cirq.X(q[4]).with_classical_controls("c1")
    yield (cirq.measure(q[i], key=f"c{j}") for j, i in enumerate((0, 2, 4), start=2))


def _ipe(k: int, n: int, q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    yield cirq.X(q[1])
    for r in range(n):  # round r reads bit r of the phase, least significant first
        yield cirq.H(q[0]), _cp(2 * math.pi * k * 2 ** (n - 1 - r) / 2**n, q[0], q[1])
        for j in reversed(range(r)):  # the latest bit first
            if j == r - 1:
                yield _p(-math.pi / 2 ** (r - j), q[0]).with_classical_controls(f"c{j}")
            else:
                condition = sympy.Eq(sympy.Symbol(f"c{j}"), 1)
                yield cirq.rz(-math.pi / 2 ** (r - j))(q[0]).with_classical_controls(condition)
        yield cirq.H(q[0]), cirq.measure(q[0], key=f"c{r}")
        if r < n - 1:
            yield cirq.reset(q[0])


def _qft_dyn3(q: list[cirq.LineQubit]) -> Iterator[cirq.OP_TREE]:
    ry, phases = QFT_DYN_STATE
    yield (cirq.ry(ry[i])(q[i]) for i in range(3))
    yield cirq.CNOT(q[0], q[1]), cirq.CNOT(q[1], q[2])
    yield (_p(phases[i], q[i]) for i in range(3))
    yield cirq.H(q[0])
    for j in range(3):
        yield cirq.measure(q[j], key=f"c{j}")
        for k in range(j + 1, 3):
            angle = math.pi / 2 ** (k - j)
            if k == j + 1:  # the rotation just before k's H, moved after it: H·P(θ) ∝ RX(θ)·H
                yield cirq.H(q[k]), cirq.rx(angle)(q[k]).with_classical_controls(f"c{j}")
            else:
                yield _p(angle, q[k]).with_classical_controls(f"c{j}")


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


def keys(program: Program) -> tuple[str, ...]:
    """The measurement keys whose columns, concatenated, are the classical bits in order."""
    return tuple(f"c{j}" for j in range(len(program.clbits))) if program.feedback else ("c",)


def circuit(program: Program) -> cirq.Circuit:
    """The program as a Cirq circuit on ``cirq.LineQubit.range(program.qubits)``."""
    q = cirq.LineQubit.range(program.qubits)
    out = cirq.Circuit(_BODIES[program.body](q))
    if not program.feedback:
        out.append(cirq.measure(*(q[i] for i in program.clbits), key="c"))
    return out


def resolver(program: Program) -> cirq.ParamResolver:
    """Values of the circuit's symbols (empty for programs without)."""
    return cirq.ParamResolver(dict(zip(_THETA, ansatz_values(), strict=True)) if program.body == "ansatz4" else {})


def resolved_circuit(program: Program) -> cirq.Circuit:
    """The circuit with its symbols resolved."""
    return cirq.resolve_parameters(circuit(program), resolver(program))
