"""The library in OpenQASM 3, as ``qaas_core.circuit_from_qasm3`` reads it.

Physical qubits (``$n``, ``calibration.components[n]``) are used as written, so the first programs choose their
layout in the text: on garnet20 the physical path :data:`CHAIN` ``$0 - $1 - $4 - $3 - $2`` (QB1 - QB2 - QB5 - QB4 -
QB3), logical qubit ``i`` is ``CHAIN[i]``, and every two-qubit gate is between neighbours on it. ``qft3`` needs one
pair that is not coupled (0 and 2), so its text carries its own routing: a ``swap`` after which logical qubit 2 sits
on ``$1`` and logical qubit 1 on ``$4`` (:func:`layouts` reports it).

``star2`` and the third-party-style programs declare ``qubit[n] q`` (logical qubit ``i`` is ``q[i]``) and leave the
layout to the core: the declaration order (``QB1``, ``QB2`` …) when it fits the device, as on a star device where
every CZ becomes a MOVE sandwich; otherwise (``adder4``, ``qpe3``, ``grover3``, ``teleport_deferred`` and the
feedback programs on garnet20) placed by fidelity and routed, the layout in ``circuit.metadata["layout"]``. They use
the standard gates (``cp``, ``cry``, ``ccx``), a user ``gate`` (``grover3``'s ``ccz``), ``reset``, and feedback as
``if (c[j]) …``, ``if (c[j] == 1) { … }``, ``!= 0``, ``== true`` and ``if (!c[j]) { } else { … }``.

Classical bit ``j`` is ``c[j]`` of the one register ``bit[k] c``.
"""

from __future__ import annotations

from typing import Final

import qaas_core as q
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

__all__ = ["CHAIN", "layouts", "text"]

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


def _adder4(p: Program) -> str:
    a, b = ADDER_ANGLES
    return f"""
qubit[4] q;  // a = q[1] q[0], b = q[3] q[2]
ry({a!r}) q[0];
x q[1];
ry({b!r}) q[2];
h q[3];
cp(pi / 2) q[2], q[3];
h q[2];
cz q[0], q[2];
cp(pi / 2) q[0], q[3];
cz q[1], q[3];
h q[2];
cp(-pi / 2) q[2], q[3];
h q[3];
c = measure q;
"""


def _qpe3(p: Program) -> str:
    rotations = "".join(f"cp({2 * PHASE_NUMERATOR * 2**j} * pi / 8) q[{j}], q[3];\n" for j in range(3))
    return f"""
gate iqft3 a, b, c {{
  h c;
  cp(-pi / 2) c, b;
  h b;
  cp(-pi / 4) c, a;
  cp(-pi / 2) b, a;
  h a;
}}
qubit[4] q;
x q[3];
h q[0:2];
{rotations}iqft3 q[0], q[1], q[2];
c = measure q;
"""


def _w3(p: Program) -> str:
    return f"""
qubit[3] q;
ry({W_ANGLE!r}) q[0];
cry(pi / 2) q[0], q[1];
cx q[1], q[2];
cx q[0], q[1];
x q[0];
c = measure q;
"""


def _grover3(p: Program) -> str:
    flips = "".join(f"x q[{i}];\n" for i, bit in enumerate(GROVER3_MARKED) if not bit)
    iteration = f"{flips}ccz q[0], q[1], q[2];\n{flips}h q;\nx q;\nccz q[0], q[1], q[2];\nx q;\nh q;\n"
    return f"""
gate ccz a, b, c {{ h c; ccx a, b, c; h c; }}
qubit[3] q;
h q;
{iteration * 2}c = measure q;
"""


def _teleport_prepare() -> str:
    theta, lam = TELEPORT_STATE
    return f"""
qubit[3] q;
ry({theta!r}) q[0];
rz({lam!r}) q[0];
h q[1];
cx q[1], q[2];
cx q[0], q[1];
h q[0];
"""


def _teleport_undo() -> str:
    theta, lam = TELEPORT_STATE
    return f"rz({-lam!r}) q[2];\nry({-theta!r}) q[2];\n"


def _teleport_deferred(p: Program) -> str:
    return _teleport_prepare() + "cx q[1], q[2];\ncz q[0], q[2];\n" + _teleport_undo() + "c = measure q;\n"


def _teleport_z(p: Program) -> str:
    corrections = """c[0] = measure q[0];
c[1] = measure q[1];
if (!c[1]) { } else { x q[2]; }
if (c[0] == 1) { z q[2]; }
"""
    return _teleport_prepare() + corrections + _teleport_undo() + "c[2] = measure q[2];\n"


def _ghz_dyn5(p: Program) -> str:
    return """
qubit[5] q;
h q[0];
h q[2];
h q[4];
cx q[0], q[1];
cx q[2], q[1];
cx q[2], q[3];
cx q[4], q[3];
c[0] = measure q[1];
c[1] = measure q[3];
if (c[0]) x q[2];
if (c[0] == true) { x q[4]; }
if (c[1] != 0) { x q[4]; }
c[2] = measure q[0];
c[3] = measure q[2];
c[4] = measure q[4];
"""


def _ipe(p: Program) -> str:
    k, n = IPE_PHASES[p.body]
    lines = ["qubit[2] q;", "x q[1];"]
    for r in range(n):  # round r reads bit r of the phase, least significant first
        lines += ["h q[0];", f"cp({2 * k * 2 ** (n - 1 - r)} * pi / {2**n}) q[0], q[1];"]
        for j in reversed(range(r)):  # the latest bit first
            angle = f"-pi / {2 ** (r - j)}"
            lines.append(f"if (c[{j}]) {{ p({angle}) q[0]; }}" if j == r - 1 else f"if (c[{j}] == 1) rz({angle}) q[0];")
        lines += ["h q[0];", f"c[{r}] = measure q[0];"] + (["reset q[0];"] if r < n - 1 else [])
    return "\n".join(lines) + "\n"


def _qft_dyn3(p: Program) -> str:
    ry, phases = QFT_DYN_STATE
    prepare = "".join(f"ry({ry[i]!r}) q[{i}];\n" for i in range(3)) + "cx q[0], q[1];\ncx q[1], q[2];\n"
    prepare += "".join(f"p({phases[i]!r}) q[{i}];\n" for i in range(3))
    return f"""
qubit[3] q;
{prepare}h q[0];
c[0] = measure q[0];
if (c[0]) {{ p(pi / 2) q[1]; h q[1]; }} else {{ h q[1]; }}
if (c[0]) {{ p(pi / 4) q[2]; }}
c[1] = measure q[1];
if (c[1]) {{ p(pi / 2) q[2]; h q[2]; }} else {{ h q[2]; }}
c[2] = measure q[2];
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


def text(program: Program) -> str:
    """The program as OpenQASM 3 text."""
    return _HEADER + f"bit[{len(program.clbits)}] c;\n" + _BODIES[program.body](program)


def _names(calibration: q.Calibration, physical: tuple[str, ...]) -> dict[int, str]:
    return {i: calibration.components[int(name[1:])] for i, name in enumerate(physical)}


def _declared(layout: dict[str, str]) -> dict[int, str]:
    return {int(name.removeprefix("q[").removesuffix("]")): component for name, component in layout.items()}


def layouts(program: Program, circuit: q.Circuit, calibration: q.Calibration) -> tuple[dict[int, str], dict[int, str]]:
    """Logical qubit -> the component holding it at the start, and at the end, of the program's circuit.

    Declared qubits: the core's layout when it placed them (``metadata["layout"]``), else the declaration order on
    ``calibration.qubits``. Physical qubits: as the text places them (and, for ``qft3``, routes them).
    """
    routed = (circuit.metadata or {}).get("layout")
    if routed is not None:
        return _declared(routed["initial"]), _declared(routed["final"])
    if program.body not in _PHYSICAL:
        declared = dict(enumerate(calibration.qubits[: program.qubits]))
        return declared, declared
    initial = _names(calibration, CHAIN[: program.qubits])
    return initial, (_names(calibration, ("$0", "$4", "$1")) if program.body == "qft3" else initial)


_PHYSICAL: Final = frozenset(("bell", "ghz3", "ghz4", "ghz5", "qft3", "grover2", "clifford4", "ansatz4", "teleport"))
"""The programs written on physical qubits (the others declare ``qubit[n] q``)."""
