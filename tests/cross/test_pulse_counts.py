"""The same program costs the same number of single-qubit pulses (``prx``) whichever front end compiles it.

Every qaas front end plays a run of single-qubit gates between two other operations on a qubit as at most one PRX
pulse, with Z rotations virtual (folded into the frames of :class:`qaas_core.Frames`): Qiskit's converter fuses the
runs its transpiler leaves (``u`` and ``rz`` in the target), Cirq's compiler merges them into ``PhasedXZ``, PennyLane's
converter keeps a pending unitary per qubit. So a program's pulse count is the number of its runs that are not pure Z
rotations — what these tests check, on a lattice (garnet20) and on a star device (deneb6, where each CZ is a MOVE
sandwich), with each front end's own compiler. Qiskit is compared at optimisation levels 0 and 1; levels 2 and 3
re-synthesise two-qubit blocks (KAK), which may put a pulse where the program had only a Z rotation — the
transpiler's choice, not the conversion's: there the native circuit is checked to hold at most one pulse per run.

OpenQASM 3's translator plays its runs the same way (one pulse as written, a longer run fused by
:func:`qaas_core.fuse`), so it is compared with the others too.

The programs use a line of three qubits, ``0 - 1 - 2``, so that no front end needs to route; each op is
``(gate, qubit, *angles)`` with ``u(θ, φ, λ)`` written as ``rz(λ)·ry(θ)·rz(φ)`` in Cirq (which has no ``u``).
"""

from __future__ import annotations

import functools
from typing import Any, Final

import cirq
import pennylane as qml
import pytest
from qiskit import QuantumCircuit, transpile

import qaas_cirq
import qaas_core as q
from qaas_qiskit import QaaSBackend

Op = tuple[Any, ...]
Z_GATES: Final = frozenset({"rz"})

PROGRAMS: Final[dict[str, tuple[Op, ...]]] = {
    "one-gate runs": (
        ("h", 0),
        ("rz", 1, 0.4),
        ("sx", 1),
        ("rz", 1, -1.3),
        ("cz", 0, 1),
        ("u", 0, 0.3, 1.1, -0.6),
        ("rz", 2, 2.2),
        ("cz", 1, 2),
        ("x", 1),
        ("rz", 2, 0.9),
        ("cz", 0, 1),
        ("ry", 2, 0.8),
        ("rz", 0, 0.5),
        ("cz", 1, 2),
        ("h", 1),
        ("sx", 2),
    ),
    "chains": (
        ("h", 0),
        ("rz", 0, 0.7),
        ("sx", 0),
        ("u", 0, 0.3, 1.1, -0.6),
        ("x", 1),
        ("h", 1),
        ("cz", 0, 1),
        ("sx", 1),
        ("rz", 1, -0.2),
        ("ry", 1, 1.7),
        ("h", 2),
        ("sx", 2),
        ("cz", 1, 2),
        ("u", 2, 1.9, -0.4, 2.5),
        ("rz", 2, 0.3),
        ("h", 2),
        ("h", 0),
        ("rz", 0, 1.2),
        ("x", 0),
        ("cz", 0, 1),
        ("rz", 1, 0.6),
        ("rz", 1, 0.1),
    ),
}
DEVICES: Final = ("garnet20", "deneb6")


def expected_pulses(ops: tuple[Op, ...]) -> int:
    """Runs (maximal single-qubit stretches on one qubit) that hold a gate other than a Z rotation."""
    count = 0
    busy: set[int] = set()  # qubits whose current run has a pulse
    for op in ops:
        if op[0] == "cz":
            busy -= {op[1], op[2]}
        elif op[0] not in Z_GATES and op[1] not in busy:
            busy.add(op[1])
            count += 1
    return count


def non_z_gates(ops: tuple[Op, ...]) -> int:
    return sum(op[0] not in Z_GATES and op[0] != "cz" for op in ops)


@functools.cache
def line(device: str) -> tuple[int, int, int]:
    """Three qubit indices ``a - b - c`` of the device with ``a, b`` and ``b, c`` coupled."""
    cal = q.load_profile(device)
    view = q.DeviceView(cal)
    index = {name: i for i, name in enumerate(cal.qubits)}
    for b in view.qubits:
        near = view.neighbours(b)
        if len(near) >= 2:
            return index[near[0]], index[b], index[near[1]]
    raise AssertionError(f"{device} has no line of three qubits")


def pulses(circuit: q.Circuit) -> int:
    return sum(inst.name == "prx" for inst in circuit.instructions)


def most_pulses_in_a_run(circuit: q.Circuit) -> int:
    """The most ``prx`` a component gets with nothing else on it in between."""
    run: dict[str, int] = {}
    most = 0
    for inst in circuit.instructions:
        for component in inst.locus:
            run[component] = run.get(component, 0) + 1 if inst.name == "prx" else 0
            most = max(most, run[component])
    return most


def qiskit_circuit(ops: tuple[Op, ...]) -> QuantumCircuit:
    qc = QuantumCircuit(3)
    for name, *args in ops:
        if name == "u":
            qc.u(*args[1:], args[0])
        elif name in ("rz", "ry"):
            getattr(qc, name)(args[1], args[0])
        else:
            getattr(qc, name)(*args)
    qc.measure_all()
    return qc


def qiskit_native(device: str, ops: tuple[Op, ...], level: int) -> q.Circuit:
    backend = QaaSBackend.from_calibration(q.load_profile(device))
    placed = list(line(device))
    compiled = transpile(
        qiskit_circuit(ops), backend, optimization_level=level, initial_layout=placed, seed_transpiler=5
    )
    return backend.convert(compiled)


def cirq_native(device: str, ops: tuple[Op, ...]) -> q.Circuit:
    qubits = cirq.LineQubit.range(3)
    circuit = cirq.Circuit()
    for name, k, *angles in ops:
        qb = qubits[k]
        if name == "cz":
            circuit.append(cirq.CZ(qb, qubits[angles[0]]))
        elif name == "u":
            theta, phi, lam = angles
            circuit.append([cirq.rz(lam)(qb), cirq.ry(theta)(qb), cirq.rz(phi)(qb)])
        elif name in ("rz", "ry"):
            circuit.append(getattr(cirq, name)(angles[0])(qb))
        else:
            circuit.append({"h": cirq.H, "sx": cirq.X**0.5, "x": cirq.X}[name](qb))
    circuit.append(cirq.measure(*qubits, key="m"))
    compiled = qaas_cirq.QaaSDevice(q.load_profile(device)).compile(circuit)
    return qaas_cirq.circuit_to_qaas(compiled.circuit, name="pulses")


def pennylane_native(device: str, ops: tuple[Op, ...]) -> q.Circuit:
    dev = qml.device("qaas.iqm", calibration=q.load_profile(device), emulator=device)
    gates = {"h": qml.Hadamard, "sx": qml.SX, "x": qml.PauliX, "rz": qml.RZ, "ry": qml.RY, "u": qml.U3}

    def qfunc() -> Any:
        for name, k, *args in ops:
            if name == "cz":
                qml.CZ(wires=[k, args[0]])
            else:
                gates[name](*args, wires=k)
        return qml.counts(wires=range(3))

    tape = qml.tape.make_qscript(qfunc)().copy(shots=1)
    (compiled,), _ = dev.preprocess_transforms()((tape,))
    return dev.compile(compiled).circuit


def qasm_native(device: str, ops: tuple[Op, ...]) -> q.Circuit:
    where = [f"${i}" for i in line(device)]
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', "bit[3] c;"]
    for name, k, *args in ops:
        if name == "cz":
            lines.append(f"cz {where[k]}, {where[args[0]]};")
        elif args:
            lines.append(f"{'u3' if name == 'u' else name}({', '.join(map(repr, args))}) {where[k]};")
        else:
            lines.append(f"{name} {where[k]};")
    lines += [f"c[{i}] = measure {where[i]};" for i in range(3)]
    return q.circuit_from_qasm3("\n".join(lines), q.load_profile(device), name="pulses")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("program", PROGRAMS)
def test_every_compiling_front_end_plays_one_pulse_per_run(device: str, program: str) -> None:
    ops = PROGRAMS[program]
    expected = expected_pulses(ops)
    counts = {f"qiskit-O{level}": pulses(qiskit_native(device, ops, level)) for level in (0, 1)}
    counts["cirq"] = pulses(cirq_native(device, ops))
    counts["pennylane"] = pulses(pennylane_native(device, ops))
    counts["openqasm3"] = pulses(qasm_native(device, ops))
    assert counts == dict.fromkeys(counts, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("level", range(4))
def test_qiskit_plays_at_most_one_pulse_per_run_at_every_level(device: str, program: str, level: int) -> None:
    assert most_pulses_in_a_run(qiskit_native(device, PROGRAMS[program], level)) == 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("program", PROGRAMS)
def test_openqasm3_plays_at_most_one_pulse_per_run(device: str, program: str) -> None:
    assert most_pulses_in_a_run(qasm_native(device, PROGRAMS[program])) == 1


def test_the_programs_exercise_what_they_claim() -> None:
    assert non_z_gates(PROGRAMS["one-gate runs"]) == expected_pulses(PROGRAMS["one-gate runs"])
    assert non_z_gates(PROGRAMS["chains"]) > expected_pulses(PROGRAMS["chains"])
