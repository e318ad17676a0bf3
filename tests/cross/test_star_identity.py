"""One program on a star device (deneb6, vlq24) gives the **same native circuit** from Qiskit, Cirq, PennyLane and
OpenQASM 3: the device view's MOVE sandwiches (route and CZ direction by calibrated fidelity, the same whatever the
operand order), the virtual-Z frames and the canonical phases are the core's, written once.

The program is written in each front end's own native vocabulary, on the physical qubits PennyLane's layout picks
(the only front end that always places by itself):

========================  ==================  =========================  ===========================  ==============
program                   Qiskit              Cirq                       PennyLane                    OpenQASM 3
========================  ==================  =========================  ===========================  ==============
``x``: PRX(π/2, 0)        ``r(π/2, 0)``       ``PhasedX(0)^½``           ``RX(π/2)``                  ``r(pi/2, 0)``
``y``: PRX(π/2, π/2)      ``r(π/2, π/2)``     ``PhasedX(½)^½``           ``RY(π/2)``                  ``r(pi/2, pi/2)``
``z``: RZ(λ)              ``rz(λ)``           ``Z^(λ/π)``                ``RZ(λ)``                    ``rz(λ)``
``cz``                    ``cz``              ``CZ``                     ``CZ``                       ``cz``
========================  ==================  =========================  ===========================  ==============

Where a front end cannot say it the same way:

* Qiskit's ``rz`` is virtual (zero duration and error in its target): its converter folds it into the frames like
  every other front end, across the MOVE sandwiches too (the frame of a moved qubit travels into the resonator and
  back).
* Cirq runs its own compiler (``QaaSDevice.compile``, which places the MOVEs): it re-synthesises single-qubit gates,
  so only rotations it keeps as written are used — quarter turns. A half turn comes back as exponent −1, i.e.
  ``PRX(−π, φ)``, the same operation as PennyLane's ``PRX(π, φ)`` up to a global phase but not the same instruction.
  Cirq also packs operations into moments, and PennyLane plays a qubit's pending gates when a two-qubit gate needs
  it: the instructions come in another order where they act on disjoint components. Circuits are therefore compared
  as instruction DAGs (each instruction at its ASAP layer, the order on every component kept), which is what the
  server schedules. One consequence of the star topology: two CZs on disjoint qubits commute in the program but not
  on the device, where both pass through the one resonator; Cirq puts such CZs in one moment in an order of its own,
  so in these programs every CZ shares a qubit with the one before it.
* Measurements: Qiskit and OpenQASM 3 measure one classical bit per instruction (keys ``m{i}`` / ``c_{i}``), Cirq and
  PennyLane all qubits under one key. What is compared is which component each classical bit reads.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Final

import cirq
import pennylane as qml
import pytest
from qiskit import QuantumCircuit

import qaas_cirq
import qaas_core as q
from qaas_qiskit import QaaSBackend

PI: Final = math.pi
Op = tuple[Any, ...]

PROGRAMS: Final[dict[str, tuple[int, tuple[Op, ...]]]] = {
    # CZs in both operand orders, frames of ±π/2 and π, phases that need wrapping (π/2 + π/2 = π, and
    # 0 − π = −π, given as π)
    "star-quarter-turns": (
        4,
        (
            ("x", 0),
            ("y", 1),
            ("cz", 1, 0),
            ("z", 0, PI / 2),
            ("z", 0, PI / 2),
            ("y", 2),
            ("cz", 0, 2),
            ("z", 1, -PI / 2),
            ("y", 1),
            ("cz", 2, 1),
            ("y", 0),
            ("z", 2, -PI / 2),
            ("x", 2),
            ("cz", 0, 1),
            ("x", 3),
            ("cz", 1, 3),
            ("z", 3, PI),
            ("x", 3),
            ("cz", 3, 2),
            ("cz", 2, 0),
            ("y", 3),
            ("cz", 0, 3),
        ),
    ),  # every CZ shares a qubit with the one before it (see the module docstring)
    "star-ghz": (3, (("y", 0), ("y", 1), ("cz", 0, 1), ("x", 1), ("y", 2), ("cz", 2, 1), ("x", 2))),
}
DEVICES: Final = ("deneb6", "vlq24")


@functools.cache
def calibration(device: str) -> q.Calibration:
    return q.load_profile(device)


@functools.cache
def pennylane_native(device: str, program: str) -> tuple[q.Circuit, dict[int, str]]:
    """PennyLane's circuit and the layout it chose (wire -> qubit)."""
    n, ops = PROGRAMS[program]
    dev = qml.device("qaas.iqm", calibration=calibration(device), emulator=device)

    def qfunc() -> Any:
        for op in ops:
            if op[0] == "x":
                qml.RX(PI / 2, wires=op[1])
            elif op[0] == "y":
                qml.RY(PI / 2, wires=op[1])
            elif op[0] == "z":
                qml.RZ(op[2], wires=op[1])
            else:
                qml.CZ(wires=[op[1], op[2]])
        return qml.counts(wires=range(n))

    tape = qml.tape.make_qscript(qfunc)().copy(shots=1)
    (compiled,), _ = dev.preprocess_transforms()((tape,))
    conversion = dev.compile(compiled)
    assert conversion.measured == tuple(range(n))
    return conversion.circuit, {int(w): p for w, p in conversion.layout.items()}


def layout(device: str, program: str) -> dict[int, str]:
    return pennylane_native(device, program)[1]


def qiskit_native(device: str, program: str) -> q.Circuit:
    n, ops = PROGRAMS[program]
    cal = calibration(device)
    index = {w: cal.qubits.index(p) for w, p in layout(device, program).items()}
    qc = QuantumCircuit(len(cal.qubits), n)
    for op in ops:
        if op[0] in ("x", "y"):
            qc.r(PI / 2, 0.0 if op[0] == "x" else PI / 2, index[op[1]])
        elif op[0] == "z":
            qc.rz(op[2], index[op[1]])
        else:
            qc.cz(index[op[1]], index[op[2]])
    for w in range(n):
        qc.measure(index[w], w)
    return QaaSBackend.from_calibration(cal).convert(qc)


def cirq_native(device: str, program: str) -> q.Circuit:
    n, ops = PROGRAMS[program]
    qubit = {w: cirq.NamedQubit(p) for w, p in layout(device, program).items()}
    circuit = cirq.Circuit()
    for op in ops:
        if op[0] in ("x", "y"):
            circuit.append(cirq.PhasedXPowGate(phase_exponent=0.0 if op[0] == "x" else 0.5, exponent=0.5)(qubit[op[1]]))
        elif op[0] == "z":
            circuit.append(cirq.Z(qubit[op[1]]) ** (op[2] / PI))
        else:
            circuit.append(cirq.CZ(qubit[op[1]], qubit[op[2]]))
    circuit.append(cirq.measure(*(qubit[w] for w in range(n)), key="m"))
    compiled = qaas_cirq.QaaSDevice(calibration(device)).compile(circuit, route=False)
    return qaas_cirq.circuit_to_qaas(compiled.circuit, name=program)


def qasm_native(device: str, program: str) -> q.Circuit:
    n, ops = PROGRAMS[program]
    cal = calibration(device)
    where = {w: f"${cal.components.index(p)}" for w, p in layout(device, program).items()}
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', f"bit[{n}] c;"]
    for op in ops:
        if op[0] in ("x", "y"):
            lines.append(f"r(pi / 2, {'0' if op[0] == 'x' else 'pi / 2'}) {where[op[1]]};")
        elif op[0] == "z":
            lines.append(f"rz({op[2]!r}) {where[op[1]]};")
        else:
            lines.append(f"cz {where[op[1]]}, {where[op[2]]};")
    lines += [f"c[{w}] = measure {where[w]};" for w in range(n)]
    return q.circuit_from_qasm3("\n".join(lines), cal, name=program)


FRONT_ENDS: Final[dict[str, Callable[[str, str], q.Circuit]]] = {
    "qiskit": qiskit_native,
    "cirq": cirq_native,
    "pennylane": lambda device, program: pennylane_native(device, program)[0],
    "qasm3": qasm_native,
}


def dag(circuit: q.Circuit) -> list[tuple[int, tuple[str, ...], str, tuple[tuple[str, Any], ...]]]:
    """The gates of a circuit (measurements aside) as a DAG: each at its ASAP layer, sorted — equal for two circuits
    exactly when they differ only in the order of instructions on disjoint components."""
    layer: dict[str, int] = {}
    out = []
    for inst in circuit.instructions:
        if inst.name == "measure":
            continue
        depth = max((layer.get(c, 0) for c in inst.locus), default=0)
        for c in inst.locus:
            layer[c] = depth + 1
        out.append((depth, inst.locus, inst.name, tuple(sorted(inst.args.items()))))
    return sorted(out)


def readout(circuit: q.Circuit) -> list[str]:
    """The measured components, classical bit 0 first."""
    return [c for inst in circuit.instructions if inst.name == "measure" for c in inst.locus]


@pytest.mark.parametrize("program", sorted(PROGRAMS))
@pytest.mark.parametrize("device", DEVICES)
def test_every_front_end_emits_the_same_native_circuit(device: str, program: str) -> None:
    natives = {name: build(device, program) for name, build in FRONT_ENDS.items()}
    reference = dag(natives["qasm3"])
    assert any(name == "move" for _, _, name, _ in reference), "the program must go through the resonator"
    for name, circuit in natives.items():
        assert dag(circuit) == reference, f"{name} differs from OpenQASM 3"
        assert readout(circuit) == [layout(device, program)[w] for w in range(PROGRAMS[program][0])], name
        q.validate_circuits([circuit], calibration(device))
    # same DAG, same schedule
    assert len({q.circuit_duration(c, calibration(device)) for c in natives.values()}) == 1


@pytest.mark.parametrize("device", DEVICES)
def test_every_sandwich_is_the_device_views_plan(device: str) -> None:
    cal = calibration(device)
    view = q.DeviceView(cal)
    for program in PROGRAMS:
        for name, build in FRONT_ENDS.items():
            for resonator in cal.computational_resonators:
                on_it = [i for i in build(device, program).instructions if resonator in i.locus]
                assert len(on_it) % 3 == 0, (name, program)
                for k in range(0, len(on_it), 3):
                    move, cz, back = on_it[k : k + 3]
                    assert (move.name, cz.name, back) == ("move", "cz", move), (name, program, k)
                    assert (
                        (move, cz, back) == view.cz(cz.locus[0], move.locus[0]) == view.cz(move.locus[0], cz.locus[0])
                    )


def test_the_programs_exercise_wrapping_and_both_operand_orders() -> None:
    # the test above would be weaker if the program lost these: keep them
    _, ops = PROGRAMS["star-quarter-turns"]
    pairs = [(op[1], op[2]) for op in ops if op[0] == "cz"]
    assert any((b, a) in pairs for a, b in pairs)
    phases = [i.args["phase"] for i in qasm_native("deneb6", "star-quarter-turns").instructions if i.name == "prx"]
    assert PI in phases and -PI / 2 in phases
