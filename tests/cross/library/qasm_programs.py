"""The library in OpenQASM 3, as ``qaas_core.circuit_from_qasm3`` reads it.

The OpenQASM front end does no placement or routing (``docs``: declared qubits take ``calibration.qubits`` in
order, ``$n`` is ``calibration.components[n]``), so the program text is where the layout is chosen. On garnet20
the programs use the physical path :data:`CHAIN` ``$0 - $1 - $4 - $3 - $2`` (QB1 - QB2 - QB5 - QB4 - QB3): logical
qubit ``i`` is ``CHAIN[i]``, and every two-qubit gate is between neighbours on it. ``qft3`` needs one pair that is
not coupled (0 and 2), so its text carries its own routing: a ``swap`` after which logical qubit 2 sits on ``$1``
and logical qubit 1 on ``$4`` (:func:`final_layout` reports it). ``star2`` on deneb6 declares ``qubit[2] q``
(``QB1``, ``QB2``); its CZs become MOVE sandwiches in the translator.

Classical bit ``j`` is ``c[j]`` of the one register ``bit[k] c``.
"""

from __future__ import annotations

from typing import Final

import qaas_core as q
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

__all__ = ["CHAIN", "final_layout", "initial_layout", "text"]

CHAIN: Final = ("$0", "$1", "$4", "$3", "$2")
"""Logical qubit ``i`` of the garnet20 programs is the physical qubit ``CHAIN[i]`` (a path of couplings)."""

_HEADER: Final = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def _measure(program: Program, where: tuple[str, ...]) -> str:
    return "".join(f"c[{j}] = measure {where[i]};\n" for j, i in enumerate(program.clbits))


def _ghz(p: Program) -> str:
    q = CHAIN
    body = f"h {q[0]};\n" + "".join(f"cx {q[i]}, {q[i + 1]};\n" for i in range(p.qubits - 1))
    return body + _measure(p, q)


def _bell(p: Program) -> str:
    return """
h $0;
cx $0, $1;
c[0] = measure $0;
c[1] = measure $1;
"""


def _qft3(p: Program) -> str:
    flips = "".join(f"x {CHAIN[i]};\n" for i, bit in enumerate(QFT_INPUT) if bit)
    return (
        flips
        + """
h $0;
cp(pi / 2) $1, $0;
swap $1, $4;  // routing: logical 2 now on $1, logical 1 on $4
cp(pi / 4) $1, $0;
h $4;
cp(pi / 2) $1, $4;
h $1;
h $0;
h $4;
h $1;
c[0] = measure $0;
c[1] = measure $4;
c[2] = measure $1;
"""
    )


def _grover2(p: Program) -> str:
    flips = "".join(f"x {CHAIN[i]};\n" for i, bit in enumerate(GROVER_MARKED) if not bit)
    return f"""
h $0;
h $1;
{flips}cz $0, $1;
{flips}h $0;
h $1;
x $0;
x $1;
cz $0, $1;
x $0;
x $1;
h $0;
h $1;
c[0] = measure $0;
c[1] = measure $1;
"""


def _clifford4(p: Program) -> str:
    lines = []
    for singles, pairs in CLIFFORD_LAYERS:
        lines += [f"{g} {CHAIN[i]};" for i, word in enumerate(singles) for g in word if g != "i"]
        lines += [f"cz {CHAIN[a]}, {CHAIN[b]};" for a, b in pairs]
    return "\n".join(lines) + "\n" + _measure(p, CHAIN)


def _ansatz4(p: Program) -> str:
    lines = []
    for ry, rz in ANSATZ_ANGLES:
        for i in range(4):
            lines += [f"ry({ry[i]!r}) {CHAIN[i]};", f"rz({rz[i]!r}) {CHAIN[i]};"]
        lines += [f"cx {CHAIN[i]}, {CHAIN[i + 1]};" for i in range(3)]
    lines += [f"ry({ANSATZ_FINAL[i]!r}) {CHAIN[i]};" for i in range(4)]
    return "\n".join(lines) + "\n" + _measure(p, CHAIN)


def _teleport(p: Program) -> str:
    theta, lam = TELEPORT_STATE
    return f"""
ry({theta!r}) $0;
rz({lam!r}) $0;
h $1;
cx $1, $4;
cx $0, $1;
h $0;
c[0] = measure $0;
c[1] = measure $1;
if (c[1] == 1) x $4;
h $4;
if (c[0] == 1) x $4;
h $4;
rz({-lam!r}) $4;
ry({-theta!r}) $4;
c[2] = measure $4;
"""


def _star2(p: Program) -> str:
    a, b, c = STAR_ANGLES
    return f"""
qubit[2] q;
ry({a!r}) q[0];
rx({b!r}) q[1];
cx q[0], q[1];
ry({c!r}) q[1];
cx q[1], q[0];
c[0] = measure q[1];
c[1] = measure q[0];
"""


_BODIES = {
    "bell": _bell,
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


def text(program: Program) -> str:
    """The program as OpenQASM 3 text."""
    return _HEADER + f"bit[{len(program.clbits)}] c;\n" + _BODIES[program.name](program)


def _names(calibration: q.Calibration, physical: tuple[str, ...]) -> dict[int, str]:
    out = {}
    for i, name in enumerate(physical):
        out[i] = calibration.components[int(name[1:])] if name.startswith("$") else name
    return out


def initial_layout(program: Program, calibration: q.Calibration) -> dict[int, str]:
    """Logical qubit -> the component holding it at the start, as the text places it."""
    if program.device == "deneb6":
        return dict(enumerate(calibration.qubits[: program.qubits]))
    return _names(calibration, CHAIN[: program.qubits])


def final_layout(program: Program, calibration: q.Calibration) -> dict[int, str]:
    """Logical qubit -> the component holding it at the end (after the text's own routing)."""
    if program.name == "qft3":
        return _names(calibration, ("$0", "$4", "$1"))
    return initial_layout(program, calibration)
