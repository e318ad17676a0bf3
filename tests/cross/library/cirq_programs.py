"""The library in Cirq: one ``cirq.Circuit`` per program on ``cirq.LineQubit(0 … n-1)``.

Measurement keys: programs measured only at the end use one key ``c`` whose columns are the classical bits in order;
``teleport`` measures into ``c0``, ``c1`` and ``c2`` (a classically controlled gate needs its own key).

``ansatz4`` has symbolic parameters (sympy symbols ``θ0`` … ``θ19``); :func:`resolver` gives their values.
"""

from __future__ import annotations

from collections.abc import Iterator

import cirq
import sympy

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


def keys(program: Program) -> tuple[str, ...]:
    """The measurement keys whose columns, concatenated, are the classical bits in order."""
    return tuple(f"c{j}" for j in range(len(program.clbits))) if program.feedback else ("c",)


def circuit(program: Program) -> cirq.Circuit:
    """The program as a Cirq circuit on ``cirq.LineQubit.range(program.qubits)``."""
    q = cirq.LineQubit.range(program.qubits)
    out = cirq.Circuit(_BODIES[program.name](q))
    if not program.feedback:
        out.append(cirq.measure(*(q[i] for i in program.clbits), key="c"))
    return out


def resolver(program: Program) -> cirq.ParamResolver:
    """Values of the circuit's symbols (empty for programs without)."""
    return cirq.ParamResolver(dict(zip(_THETA, ansatz_values(), strict=True)) if program.name == "ansatz4" else {})


def resolved_circuit(program: Program) -> cirq.Circuit:
    """The circuit with its symbols resolved."""
    return cirq.resolve_parameters(circuit(program), resolver(program))
