"""OpenQASM 3 input: gate decompositions checked numerically, measurement keys, feedback, errors, size limits,
large programs, and fuzzing (including the statement-by-statement parse against one parse of the whole text).

Unitaries are built with numpy from textbook gate matrices (qubit 0 is the most significant bit). Since Z rotations
are virtual, the emitted PRX/CZ circuit equals the program only up to Z rotations left at the end, i.e. up to a
left-multiplied diagonal D that is a tensor product of single-qubit phases; that is what :func:`assert_equivalent`
checks (a dropped CZ would leave a D that is *not* a product and fails).
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qaas_core as q
from qaas_core import _qasm3

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")
ROOT = Path(__file__).resolve().parents[2]
HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'

# -- textbook matrices ----------------------------------------------------------------------------------------

I2 = np.eye(2, dtype=complex)


def u3(t: float, p: float, lam: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -np.exp(1j * lam) * s], [np.exp(1j * p) * s, np.exp(1j * (p + lam)) * c]])


def rx(t: float) -> np.ndarray:
    return np.array([[math.cos(t / 2), -1j * math.sin(t / 2)], [-1j * math.sin(t / 2), math.cos(t / 2)]])


def ry(t: float) -> np.ndarray:
    return np.array([[math.cos(t / 2), -math.sin(t / 2)], [math.sin(t / 2), math.cos(t / 2)]], dtype=complex)


def rz(t: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def phase(lam: float) -> np.ndarray:
    return np.diag([1.0, np.exp(1j * lam)])


def prx_matrix(t: float, p: float) -> np.ndarray:
    c, s = math.cos(t / 2), math.sin(t / 2)
    return np.array([[c, -1j * np.exp(-1j * p) * s], [-1j * np.exp(1j * p) * s, c]])


def controlled(u: np.ndarray) -> np.ndarray:
    n = u.shape[0]
    out = np.eye(2 * n, dtype=complex)
    out[n:, n:] = u
    return out


X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0 + 0j, -1.0])
H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
SX = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2
SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]

# name -> (parameters, qubits, matrix)
REFERENCE: dict[str, tuple[int, int, Callable[..., np.ndarray]]] = {
    "id": (0, 1, lambda: I2),
    "x": (0, 1, lambda: X),
    "y": (0, 1, lambda: Y),
    "z": (0, 1, lambda: Z),
    "h": (0, 1, lambda: H),
    "s": (0, 1, lambda: phase(math.pi / 2)),
    "sdg": (0, 1, lambda: phase(-math.pi / 2)),
    "t": (0, 1, lambda: phase(math.pi / 4)),
    "tdg": (0, 1, lambda: phase(-math.pi / 4)),
    "sx": (0, 1, lambda: SX),
    "sxdg": (0, 1, lambda: SX.conj().T),
    "rx": (1, 1, rx),
    "ry": (1, 1, ry),
    "rz": (1, 1, rz),
    "p": (1, 1, phase),
    "phase": (1, 1, phase),
    "u1": (1, 1, phase),
    "u2": (2, 1, lambda p, lam: u3(math.pi / 2, p, lam)),
    "u3": (3, 1, u3),
    "u": (3, 1, u3),
    "U": (3, 1, u3),
    "prx": (2, 1, prx_matrix),
    "r": (2, 1, prx_matrix),
    "cx": (0, 2, lambda: controlled(X)),
    "CX": (0, 2, lambda: controlled(X)),
    "cnot": (0, 2, lambda: controlled(X)),
    "cy": (0, 2, lambda: controlled(Y)),
    "cz": (0, 2, lambda: controlled(Z)),
    "ch": (0, 2, lambda: controlled(H)),
    "swap": (0, 2, lambda: SWAP),
    "cp": (1, 2, lambda lam: controlled(phase(lam))),
    "cphase": (1, 2, lambda lam: controlled(phase(lam))),
    "cu1": (1, 2, lambda lam: controlled(phase(lam))),
    "crx": (1, 2, lambda t: controlled(rx(t))),
    "cry": (1, 2, lambda t: controlled(ry(t))),
    "crz": (1, 2, lambda t: controlled(rz(t))),
    "cu": (4, 2, lambda t, p, lam, g: controlled(np.exp(1j * g) * u3(t, p, lam))),
    "cu3": (3, 2, lambda t, p, lam: controlled(u3(t, p, lam))),
    "ccx": (0, 3, lambda: controlled(controlled(X))),
    "cswap": (0, 3, lambda: controlled(SWAP)),
}


def apply(u: np.ndarray, gate: np.ndarray, qubits: list[int], n: int) -> np.ndarray:
    """``gate`` (on ``qubits``, first = most significant) times ``u`` (a 2^n x 2^n matrix)."""
    k = len(qubits)
    tensor = u.reshape((2,) * n + (2**n,))
    tensor = np.tensordot(gate.reshape((2,) * (2 * k)), tensor, axes=(list(range(k, 2 * k)), qubits))
    return np.moveaxis(tensor, list(range(k)), qubits).reshape(2**n, 2**n)


def reference_unitary(gates: list[tuple[str, tuple[float, ...], list[int]]], n: int) -> np.ndarray:
    u = np.eye(2**n, dtype=complex)
    for name, params, qubits in gates:
        u = apply(u, REFERENCE[name][2](*params), qubits, n)
    return u


def emitted_unitary(circuit: q.Circuit, components: list[str]) -> np.ndarray:
    n = len(components)
    u = np.eye(2**n, dtype=complex)
    for inst in circuit.instructions:
        where = [components.index(c) for c in inst.locus]
        if inst.name == "prx":
            u = apply(u, prx_matrix(inst.args["angle"], inst.args["phase"]), where, n)
        elif inst.name == "cz":
            u = apply(u, controlled(Z), where, n)
        elif inst.name == "move":  # a SWAP on the subspace it is used in (the resonator holds |0> between uses)
            u = apply(u, SWAP, where, n)
        elif inst.name != "barrier":
            raise AssertionError(f"unexpected {inst.name} in a unitary circuit")
    return u


def assert_equivalent(u_ref: np.ndarray, u: np.ndarray) -> None:
    """``u_ref == D · u`` with D a tensor product of single-qubit diagonal phases (trailing virtual Z rotations)."""
    d = u_ref @ u.conj().T
    assert np.max(np.abs(d - np.diag(np.diag(d)))) < 1e-9, "not equal up to output Z phases"
    diag = np.diag(d)
    assert np.allclose(np.abs(diag), 1.0, atol=1e-9)
    n = int(math.log2(len(diag)))
    per_qubit = [diag[1 << (n - 1 - j)] / diag[0] for j in range(n)]
    for x in range(len(diag)):
        expected = diag[0] * np.prod([per_qubit[j] for j in range(n) if x >> (n - 1 - j) & 1])
        assert abs(diag[x] - expected) < 1e-9, "output phases are entangling, not virtual Z rotations"


def program(gates: list[tuple[str, tuple[float, ...], list[int]]], n: int) -> str:
    lines = [HEADER, f"qubit[{n}] q;"]
    for name, params, qubits in gates:
        args = f"({', '.join(repr(p) for p in params)})" if params else ""
        lines.append(f"{name}{args} {', '.join(f'q[{i}]' for i in qubits)};")
    return "\n".join([*lines, "barrier;"])  # a program of Z rotations alone emits nothing but this barrier


def check_program(gates: list[tuple[str, tuple[float, ...], list[int]]], n: int) -> q.Circuit:
    circuit = q.circuit_from_qasm3(program(gates, n))
    assert {i.name for i in circuit.instructions} <= {"prx", "cz", "barrier"}
    for inst in circuit.instructions:
        if inst.name == "prx":
            assert type(inst.args["angle"]) is float
            assert -math.pi < inst.args["phase"] <= math.pi  # the canonical phase of every front end
            assert q.wrap_phase(inst.args["phase"]) == inst.args["phase"]
    assert_equivalent(reference_unitary(gates, n), emitted_unitary(circuit, [f"QB{i + 1}" for i in range(n)]))
    return circuit


# -- decompositions -------------------------------------------------------------------------------------------


def test_equivalence_check_is_not_vacuous() -> None:
    assert_equivalent(reference_unitary([("rz", (0.3,), [0]), ("t", (), [1])], 2), np.eye(4))
    for wrong, right in [("x", "h"), ("cz", "id"), ("cx", "cz"), ("cp", "cz")]:
        n = REFERENCE[right][1] if REFERENCE[right][1] > 1 else REFERENCE[wrong][1]
        u_wrong = reference_unitary([(wrong, (0.7,) * REFERENCE[wrong][0], list(range(REFERENCE[wrong][1])))], n)
        u_right = reference_unitary([(right, (0.7,) * REFERENCE[right][0], list(range(REFERENCE[right][1])))], n)
        with pytest.raises(AssertionError):
            assert_equivalent(u_right, u_wrong)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_every_gate_matches_its_matrix(name: str) -> None:
    n_params, n_qubits, _ = REFERENCE[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    params = tuple(float(x) for x in rng.uniform(-4, 4, n_params))
    n = max(n_qubits, 2)
    layer = [("u3", tuple(float(x) for x in rng.uniform(-4, 4, 3)), [i]) for i in range(n)]
    # alone, and between random layers so that the frames left by the first layer are exercised
    check_program([(name, params, list(range(n_qubits)))], n)
    check_program([*layer, (name, params, list(range(n_qubits))[::-1]), *layer[::-1]], n)


@pytest.mark.parametrize("seed", range(25))
def test_random_sequences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = sorted(REFERENCE)
    gates = []
    for _ in range(14):
        name = names[rng.integers(len(names))]
        n_params, n_qubits, _ = REFERENCE[name]
        qubits = [int(x) for x in rng.permutation(3)[:n_qubits]]
        gates.append((name, tuple(float(x) for x in rng.uniform(-7, 7, n_params)), qubits))
    check_program(gates, 3)


def test_textbook_decompositions_are_emitted() -> None:
    c = q.circuit_from_qasm3(HEADER + "qubit[2] q; x q[0]; cx q[0], q[1];")
    assert list(c.instructions) == [
        q.prx("QB1", math.pi, 0.0),
        q.prx("QB2", -math.pi / 2, math.pi / 2),
        q.cz("QB1", "QB2"),
        q.prx("QB2", math.pi / 2, math.pi / 2),
    ]


def test_z_rotations_are_virtual_and_shift_later_phases() -> None:
    c = q.circuit_from_qasm3(HEADER + "qubit q; rz(0.5) q; s q; rx(1.0) q; barrier q; rz(2) q; prx(0.2, 0.1) q;")
    pulses = [i for i in c.instructions if i.name == "prx"]
    assert [(i.name, i.locus, i.args["angle"]) for i in pulses] == [
        ("prx", ("QB1",), 1.0),
        ("prx", ("QB1",), 0.2),
    ]
    phases = [i.args["phase"] for i in pulses]
    # frames 0.5 + π/2, then 2.5 + π/2 - 2π (wrapped into (-π, π])
    assert phases == pytest.approx([-0.5 - math.pi / 2, 0.1 - 2.5 - math.pi / 2 + 2 * math.pi], abs=1e-12)


def test_a_run_of_single_qubit_gates_is_one_pulse() -> None:
    c = q.circuit_from_qasm3(HEADER + "qubit q; rz(0.5) q; s q; rx(1.0) q; rz(2) q; prx(0.2, 0.1) q; h q; t q;")
    (pulse,) = c.instructions
    theta, phase, _ = q.fuse([0.5, math.pi / 2, (1.0, 0.0), 2.0, (0.2, 0.1), math.pi, (math.pi / 2, math.pi / 2),
                              math.pi / 4])  # fmt: skip
    assert pulse == q.prx("QB1", theta, q.wrap_phase(phase))
    assert q.circuit_from_qasm3(HEADER + "qubit q; h q; h q; x q; measure q;").instructions[0].args["angle"] == (
        pytest.approx(math.pi)
    )
    assert [i.name for i in q.circuit_from_qasm3(HEADER + "qubit q; x q; x q; measure q;").instructions] == ["measure"]


def test_reset_clears_the_frame_and_move_swaps_frames() -> None:
    c = q.circuit_from_qasm3(HEADER + "qubit q; rz(0.7) q; reset q; x q;")
    assert c.instructions[-1] == q.prx("QB1", math.pi, 0.0)
    c = q.circuit_from_qasm3(HEADER + "rz(0.5) $0; move $0, $6; x $0; x $6; move $0, $6; x $0;")
    phases = [i.args["phase"] for i in c.instructions if i.name == "prx"]
    assert phases == pytest.approx([0.0, -0.5, -0.5])


def test_broadcast_ranges_sets_and_negative_indices() -> None:
    c = q.circuit_from_qasm3(
        HEADER + "qubit[4] q; x q; barrier q; y q[1:2]; barrier q; z q[{0, 3}]; barrier q; sx q[-1]; cz q[0:1], q[2:3];"
    )
    loci = [i.locus for i in c.instructions if i.name != "barrier"]
    assert loci[:4] == [("QB1",), ("QB2",), ("QB3",), ("QB4",)]
    assert loci[4:6] == [("QB2",), ("QB3",)]
    assert loci[6:] == [("QB1", "QB3"), ("QB4",), ("QB2", "QB4")]  # QB4's sx is played when its cz comes


def test_expressions_constants_and_gphase() -> None:
    src = HEADER + (
        "const float a = pi / 4;\nangle[20] b = τ - 3 * a;\nint n = 2;\nqubit[n] q;\n"
        "rx(-a + 2 * (b - euler ** 0) + sqrt(4) / 2 + cos(0) - 1) q[0];\ngphase(pi);\nry(arcsin(1)) q[1];"
    )
    c = q.circuit_from_qasm3(src)
    b = 2 * math.pi - 3 * math.pi / 4
    assert c.instructions[0].args["angle"] == pytest.approx(-math.pi / 4 + 2 * (b - 1) + 1)
    assert c.instructions[1] == q.prx("QB2", math.pi / 2, math.pi / 2)


def test_gate_definitions_and_modifiers() -> None:
    src = HEADER + (
        "gate mine(a, b) x, y { rx(a) x; cx x, y; rz(b) y; h y; }\n"
        "qubit[2] q;\nmine(0.3, 0.7) q[1], q[0];\ninv @ mine(0.2, 0.9) q[0], q[1];\n"
        "pow(3) @ sx q[0];\npow(-2) @ t q[1];\ninv @ pow(2) @ u3(0.1, 0.2, 0.3) q[0];"
    )
    c = q.circuit_from_qasm3(src)
    expected = reference_unitary(
        [
            ("rx", (0.3,), [1]), ("cx", (), [1, 0]), ("rz", (0.7,), [0]), ("h", (), [0]),
            ("h", (), [1]), ("rz", (-0.9,), [1]), ("cx", (), [0, 1]), ("rx", (-0.2,), [0]),
            ("sx", (), [0]), ("sx", (), [0]), ("sx", (), [0]),
            ("tdg", (), [1]), ("tdg", (), [1]),
            ("u3", (-0.1, -0.3, -0.2), [0]), ("u3", (-0.1, -0.3, -0.2), [0]),
        ],
        2,
    )  # fmt: skip
    assert_equivalent(expected, emitted_unitary(c, ["QB1", "QB2"]))


def test_decompose_false_passes_natives_and_rejects_the_rest() -> None:
    src = HEADER + "qubit[2] q;\nprx(0.1, 0.2) q[0];\nr(0.3, 0.4) q[1];\ncz q[0], q[1];\nh q[0];"
    with pytest.raises(q.QasmError) as info:
        q.circuit_from_qasm3(src, decompose=False)
    assert info.value.line == 7
    assert "'h'" in info.value.reason
    c = q.circuit_from_qasm3(src.rsplit("\n", 1)[0], decompose=False)
    assert list(c.instructions) == [q.prx("QB1", 0.1, 0.2), q.prx("QB2", 0.3, 0.4), q.cz("QB1", "QB2")]


# -- devices --------------------------------------------------------------------------------------------------


def test_trivial_layout_and_validation_on_garnet() -> None:
    c = q.circuit_from_qasm3(HEADER + "qubit[1] a; qubit[2] b; cz a[0], b[0]; x b[1];", GARNET, name="lay")
    assert c.name == "lay"
    assert c.instructions[0] == q.cz("QB1", "QB2")
    assert c.instructions[1].locus == ("QB3",)
    with pytest.raises(q.CircuitError, match="not calibrated on locus") as info:  # route=False: as declared
        q.circuit_from_qasm3(HEADER + "qubit[3] q;\nh q[1];\ncx q[0], q[2];", GARNET, route=False)
    line = HEADER.count("\n") + 3
    assert info.value.line == line and "`cx q[0], q[2];`" in str(info.value) and f"line {line}," in str(info.value)
    with pytest.raises(q.CircuitError, match=r"physical qubits \(\$n\) are used as written") as info:
        q.circuit_from_qasm3(HEADER + "h $1;\ncz $0, $2;", GARNET)
    assert info.value.line == HEADER.count("\n") + 2
    # by default a program whose qubits do not fit in declaration order is placed and routed
    routed = q.circuit_from_qasm3(HEADER + "qubit[3] q; cz q[0], q[2];", GARNET)
    layout = routed.metadata["layout"]
    assert set(layout["initial"]) == {"q[0]", "q[2]"} and layout["swaps"] == 0
    assert routed.instructions == (q.cz(layout["initial"]["q[0]"], layout["initial"]["q[2]"]),)


def test_physical_qubits_include_resonators() -> None:
    c = q.circuit_from_qasm3(HEADER + "x $2;\nmove $1, $6;\ncz $0, $6;\nmove $1, $6;", DENEB)
    assert [(i.name, i.locus) for i in c.instructions] == [
        ("move", ("QB2", "CR1")),
        ("cz", ("QB1", "CR1")),
        ("move", ("QB2", "CR1")),
        ("prx", ("QB3",)),  # a run is played when something else acts on its qubit, or at the end
    ]
    assert q.circuit_from_qasm3(HEADER + "x $3;").instructions[0].locus == ("QB4",)
    with pytest.raises(q.QasmError, match=r"\$7 does not exist"):
        q.circuit_from_qasm3(HEADER + "x $7;", DENEB)


def test_star_device_cz_goes_through_the_resonator() -> None:
    c = q.circuit_from_qasm3(HEADER + "qubit[3] q; cz q[0], q[2]; cx q[1], q[0];", DENEB)
    assert list(c.instructions[:3]) == [q.move("QB3", "CR1"), q.cz("QB1", "CR1"), q.move("QB3", "CR1")]
    assert [i.name for i in c.instructions[3:]] == ["prx", "move", "cz", "move", "prx"]
    # the device view's route, whatever the operand order: equal fidelities, so the earlier qubit stays
    assert c.instructions[4:7] == q.DeviceView(DENEB).cz("QB2", "QB1") == q.DeviceView(DENEB).cz("QB1", "QB2")
    assert c.instructions[5] == q.cz("QB1", "CR1")
    with pytest.raises(q.CircuitError):  # without decomposition the qubit-qubit CZ is passed on, and rejected
        q.circuit_from_qasm3(HEADER + "qubit[2] q; cz q[0], q[1];", DENEB, decompose=False)


@pytest.mark.parametrize("seed", range(5))
def test_star_device_circuits_have_the_program_unitary(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["cx", "cz", "swap", "cp", "h", "u3", "ccx"]
    gates = []
    for _ in range(8):
        name = names[rng.integers(len(names))]
        n_params, n_qubits, _ = REFERENCE[name]
        qubits = [int(x) for x in rng.permutation(3)[:n_qubits]]
        gates.append((name, tuple(float(x) for x in rng.uniform(-4, 4, n_params)), qubits))
    circuit = q.circuit_from_qasm3(program(gates, 3), DENEB)
    assert "move" in {i.name for i in circuit.instructions}
    full = emitted_unitary(circuit, ["QB1", "QB2", "QB3", "CR1"])
    on_qubits = full[::2, ::2]  # resonator in |0> before and after
    assert np.allclose(on_qubits @ on_qubits.conj().T, np.eye(8), atol=1e-9)
    assert_equivalent(reference_unitary(gates, 3), on_qubits)


# -- measurements, feedback, timing ---------------------------------------------------------------------------


def test_measurement_keys_and_register_metadata() -> None:
    src = HEADER + (
        "qubit[3] q;\nbit[2] c;\nbit d;\nc = measure q[0:1];\nc[0] = measure q[2];\nmeasure q[1] -> c[0];\n"
        "d = measure q[0];\nmeasure q[2];\nmeasure q[0:1];\nbit[3] e = measure q;"
    )
    c = q.circuit_from_qasm3(src, metadata={"user": 1})
    keys = [(i.locus, i.args["key"]) for i in c.instructions]
    assert keys == [
        (("QB1",), "c_0"), (("QB2",), "c_1"), (("QB3",), "c_0_1"), (("QB2",), "c_0_2"), (("QB1",), "d_0"),
        (("QB3",), "m_0"), (("QB1",), "m_1"), (("QB2",), "m_2"), (("QB1",), "e_0"), (("QB2",), "e_1"),
        (("QB3",), "e_2"),
    ]  # fmt: skip
    assert c.metadata == {
        "user": 1,
        "cregs": {"c": 2, "d": 1, "e": 3},
        "clbits": {
            "c_0": ["c", 0], "c_1": ["c", 1], "c_0_1": ["c", 0], "c_0_2": ["c", 0], "d_0": ["d", 0],
            "e_0": ["e", 0], "e_1": ["e", 1], "e_2": ["e", 2],
        },
    }  # fmt: skip


def test_old_style_registers() -> None:
    c = q.circuit_from_qasm3("OPENQASM 3;\nqreg q[2];\ncreg c[2];\nh q[0];\nCX q[0], q[1];\nmeasure q -> c;")
    assert [i.args.get("key") for i in c.instructions if i.name == "measure"] == ["c_0", "c_1"]
    assert c.metadata is not None
    assert c.metadata["cregs"] == {"c": 2}


@pytest.mark.parametrize("condition", ["c[0] == 1", "c[0]", "1 == c[0]", "c[0] != 0", "c[0] == true", "b == 1", "b"])
def test_feedback_becomes_cc_prx(condition: str) -> None:
    bit = "b" if condition.startswith("b") else "c[0]"
    src = HEADER + f"qubit[2] q;\nbit[2] c;\nbit b;\nrz(0.4) q[1];\n{bit} = measure q[0];\nif ({condition}) x q[1];"
    c = q.circuit_from_qasm3(src, GARNET)
    key = "b_0" if bit == "b" else "c_0"
    assert list(c.instructions) == [
        q.measure("QB1", key=key, feedback_key=f"fb_{key}"),
        q.cc_prx("QB2", math.pi, -0.4, feedback_qubit="QB1", feedback_key=f"fb_{key}"),
    ]


def test_feedback_uses_the_latest_measurement_and_fuses_block_bodies() -> None:
    src = HEADER + (
        "qubit[2] q;\nbit[1] c;\nc[0] = measure q[0];\nc[0] = measure q[1];\n"
        "if (c[0]) { x q[0]; ry(0.3) q[0]; sx q[1]; }\nif (c[0] == 1) { y q[1]; }"
    )
    c = q.circuit_from_qasm3(src, GARNET)
    assert c.instructions[0] == q.measure("QB1", key="c_0")
    assert c.instructions[1] == q.measure("QB2", key="c_0_1", feedback_key="fb_c_0_1")
    fb = [(i.locus[0], i.args["feedback_qubit"], i.args["feedback_key"]) for i in c.instructions[2:]]
    assert set(fb) == {("QB1", "QB2", "fb_c_0_1"), ("QB2", "QB2", "fb_c_0_1")}
    # x then ry(0.3) on QB1 is one conditioned pulse (plus a Z pair): never one pulse per gate
    pulses = [i for i in c.instructions if i.name == "cc_prx" and i.locus == ("QB1",)]
    assert sum(1 for i in pulses if i.args["angle"] != math.pi) <= 1


def dynamic(body: str, prepare: str = "x q[0];") -> dict[str, int]:
    """Counts of q[1] (prepared |+> by h) after measuring q[0] into c[0] and running ``body``, then h q[1]."""
    from qaas_core.emulator import Simulator

    src = HEADER + f"qubit[2] q;\nbit[2] c;\n{prepare}\nh q[1];\nc[0] = measure q[0];\n{body}\nh q[1];\n"
    src += "c[1] = measure q[1];\n"
    circuit = q.circuit_from_qasm3(src, GARNET)
    bits = Simulator(GARNET, noise=False).run(circuit, 400, seed=1).measurements["c_1"][:, 0]
    return {"0": int((bits == 0).sum()), "1": int((bits == 1).sum())}


@pytest.mark.parametrize(
    ("body", "flipped_when_one"),
    [
        ("if (c[0]) z q[1];", True),  # a conditioned Z: the two-pulse construction
        ("if (c[0] == true) { s q[1]; s q[1]; }", True),
        ("if (c[0] == 1) { t q[1]; t q[1]; t q[1]; t q[1]; }", True),
        ("if (c[0] == 1) p(pi) q[1];", True),
        ("if (c[0] == 1) rz(pi) q[1];", True),
        ("if (c[0] == 1) { h q[1]; x q[1]; h q[1]; }", True),
        ("if (c[0] == 0) z q[1];", False),  # tested for 0: played on the other branch
        ("if (!c[0]) z q[1];", False),
        ("if (c[0] != 1) z q[1];", False),
        ("if (c[0] == false) z q[1];", False),
        ("if (c[0]) z q[1]; else { h q[1]; h q[1]; }", True),
        ("if (c[0]) { h q[1]; h q[1]; } else z q[1];", False),
        ("if (c[0] == 0) { h q[1]; h q[1]; } else { z q[1]; }", True),
    ],
)
def test_dynamic_circuits_with_z_components_negations_and_else(body: str, flipped_when_one: bool) -> None:
    """Each body flips |+> to |-> (a Z) exactly on the branch it names; q[0] is measured 1, then 0."""
    one, zero = dynamic(body), dynamic(body, prepare="")
    assert one == ({"0": 0, "1": 400} if flipped_when_one else {"0": 400, "1": 0})
    assert zero == ({"0": 400, "1": 0} if flipped_when_one else {"0": 0, "1": 400})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("if (c[0] == 1) cz q[0], q[1];", "acts on two qubits"),
        ("if (c[0] == 1) cx q[0], q[1];", "acts on two qubits"),
        ("if (c[0] == 1) { c[1] = measure q[1]; }", "QuantumMeasurementStatement"),
        ("if (c == 1) x q[1];", "unsupported condition"),
        ("if (c[0] > 0) x q[1];", "unsupported condition"),
        ("if (c[1] == 1) x q[1];", "before any measurement"),
    ],
)
def test_unsupported_feedback(body: str, fragment: str) -> None:
    src = HEADER + f"qubit[2] q;\nbit[2] c;\nc[0] = measure q[0];\n{body}"
    with pytest.raises(q.QasmError, match=fragment) as info:
        q.circuit_from_qasm3(src)
    assert info.value.line == 6


def test_delay_units_barrier_and_reset() -> None:
    src = HEADER + (
        "qubit[2] q;\nx q[0];\ndelay[100ns] q[0];\ndelay[2us] q;\ndelay[3µs] q[1];\ndelay[1.5ms];\n"
        "delay[1s] q[0];\nbarrier q[0], q;\nbarrier;\nreset q[1];\nreset q;"
    )
    c = q.circuit_from_qasm3(src, GARNET)
    durations = [(i.locus, i.args["duration"]) for i in c.instructions if i.name == "delay"]
    assert durations == [
        (("QB1",), pytest.approx(1e-7)),
        (("QB1", "QB2"), pytest.approx(2e-6)),
        (("QB2",), pytest.approx(3e-6)),
        (("QB1", "QB2"), pytest.approx(1.5e-3)),
        (("QB1",), 1.0),
    ]
    rest = [(i.name, i.locus) for i in c.instructions if i.name in ("barrier", "reset")]
    assert rest == [
        ("barrier", ("QB1", "QB2")),
        ("barrier", ("QB1", "QB2")),
        ("reset", ("QB2",)),
        ("reset", ("QB1", "QB2")),
    ]


# -- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "line", "column", "fragment"),
    [
        ("qubit[2] q;\nfoo q[0];", 4, 1, "unknown gate 'foo'"),
        ("qubit[2] q;\nx q[0];\nfor int i in [0:1] { x q[i]; }", 5, 1, "for loops"),
        ("qubit[2] q;\nwhile (true) { x q[0]; }", 4, 1, "while loops"),
        ("qubit[2] q;\n  delay[10dt] q;", 4, 3, "dt"),
        ("qubit[10] q;\nqubit[11] r;", 4, 1, "needs 21 qubits; garnet20 has 20"),
        ("qubit[2] q;\nx q[0];\nx $1;", 5, 1, "cannot be mixed"),
        ("x $1;\nqubit[2] q;", 4, 1, "cannot be mixed"),
        ("qubit q;\nx q q;", 4, 5, "syntax error"),
        ("qubit q;\nrx(theta) q;", 4, 1, "unknown identifier 'theta'"),
        ("input float theta;\nqubit q;\nrx(theta) q;", 3, 1, "unbound"),
        ("qubit q;\nrx(1/0) q;", 4, 4, "cannot evaluate"),
        ("qubit q;\nrx(1e308 * 10) q;", 4, 4, "finite"),
        ("qubit[2] q;\nctrl @ x q[0], q[1];", 4, 1, "modifier ctrl"),
        ("qubit[2] q;\ncx q[0], q[0];", 4, 1, "repeated"),
        ("qubit[2] q;\nx q[2];", 4, 1, "out of range"),
        ("qubit[2] q;\nbit[3] c;\nc = measure q;", 5, 1, "2 qubit(s) into 3 bit(s)"),
        ("qubit q;\ndef f(qubit a) { x a; }", 4, 1, "subroutine"),
        ("qubit q;\nbit c;\nc = 1;", 5, 1, "classical assignments"),
        ("qubit q;\ngate g a { g a; }\ng q;", 4, 12, "defined in terms of itself"),
        ("qubit q;\nrx q;", 4, 1, "takes 1 parameter"),
        ('include "mine.inc";', 3, 1, "mine.inc"),
        ("qubit q;\nqubit q;", 4, 1, "already declared"),
        ("qubit q;\nx r;", 4, 1, "unknown qubit register 'r'"),
        ("qubit q;\npow(0.5) @ x q;", 4, 1, "pow"),
        ("qubit q;\nx q;\noutput bit b;", 5, 1, "output"),
    ],
)
def test_errors_name_line_and_column(src: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(q.QasmError) as info:
        q.circuit_from_qasm3(HEADER + src, GARNET)
    assert fragment in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)
    assert str(info.value).startswith(f"line {line}, column {column}: ")


@pytest.mark.parametrize(
    ("src", "fragment"),
    [
        ("", "empty"),
        ("// only a comment\n", "empty"),
        ("OPENQASM 3;\nqubit q;", "no quantum operations"),
        ("OPENQASM 2.0;\nqreg q[1];\nx q[0];", "OpenQASM 2.0"),
        ("\x00\x01\x02 junk", "syntax error"),
        ("OPENQASM 3; qubit q; rx(" + "(" * 3000 + "1" + ")" * 3000 + ") q;", "nested too deeply"),
        ("OPENQASM 3; qubit q; pow(100000000) @ x q;", "pow"),
    ],
)
def test_junk_and_degenerate_programs(src: str, fragment: str) -> None:
    with pytest.raises(q.QasmError, match=fragment):
        q.circuit_from_qasm3(src)


def test_exponential_gate_definitions_are_capped() -> None:
    defs = "gate g0 a { x a; x a; }\n" + "".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 40))
    with pytest.raises(q.QasmError, match="too large"):
        q.circuit_from_qasm3(HEADER + defs + "qubit q;\ng39 q;")


def test_errors_are_located_in_the_program_text() -> None:
    """Statements parsed one by one, repeated or not, still report where they stand in the whole text."""
    cases = [
        ("qubit[2] q;\nx q[0]; x q[0]; x q[2];", 4, 17, "out of range"),
        ("qubit q;\n" + "x q;\n" * 50 + "  x q q;\n" + "x q;\n" * 50, 54, 7, "syntax error"),
        ("qubit q;\n" + "x q;\n" * 50 + "rx(\n  1/0) q;\nx q;", 55, 3, "cannot evaluate"),
        ("gate g(t) a {\n  rx(t) a;\n  foo a;\n}\nqubit q;\nx q;\ng(1) q;", 5, 3, "unknown gate 'foo'"),
        ("qubit q;\nx q; /* ; */ x q; // ;\r\n\tfoo q;", 5, 2, "unknown gate 'foo'"),
    ]
    for src, line, column, fragment in cases:
        with pytest.raises(q.QasmError, match=fragment) as info:
            q.circuit_from_qasm3(HEADER + src)
        assert (info.value.line, info.value.column) == (line, column), src


def test_syntax_errors_print_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    for src in ("qubit q; x q[0;", "qubit q; h q q;", '"'):
        with pytest.raises(q.QasmError):
            q.circuit_from_qasm3(src)
    assert capfd.readouterr() == ("", "")


def test_import_is_lazy() -> None:
    code = "import sys, qaas_core; print(sorted(m for m in sys.modules if m.startswith(('openqasm3', 'antlr4'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_docs_table_agrees_with_features() -> None:
    rows = {}
    text = (ROOT / "docs" / "qasm3.md").read_text(encoding="utf-8")
    for line in text.split("## Feature table", 1)[1].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 2 and cells[0] not in ("Feature", ""):
            rows[cells[0].strip("`").replace("\\|", "|")] = cells[1]
    rows.pop("---", None)
    assert rows == q.QASM3_FEATURES
    assert all(v in ("supported", "native", "decomposed") or v.startswith("unsupported: ") for v in rows.values())


# -- limits and large programs -------------------------------------------------------------------------------

DEEP = "qubit q;\nrx(" + "(" * 69 + "1" + ")" * 69 + ") q;"  # brackets 70 deep


@pytest.mark.parametrize(
    ("src", "limits", "fragment", "where"),
    [
        ("qubit q;\nx q;", {"max_bytes": 50}, "too large: 51 bytes, more than max_bytes=50", None),
        ("qubit q;\nrx(π) q;", {"max_bytes": 55}, "too large: 56 bytes, more than max_bytes=55", None),  # UTF-8
        ("x" * 8 * 2**20, {}, "too large: 8,388,646 bytes, more than max_bytes=8,388,608", None),
        ("qubit q;\n" + "x q;\n" * 10, {"max_statements": 12}, "13 statements", None),
        ("qubit q;\n" + "x q;\n" * 600_000, {}, "600,003 statements", None),
        ("qubit q;\nrx(((((1))))) q;", {"max_nesting": 4}, "nested 5 levels deep, more than max_nesting=4", (4, 7)),
        ("qubit[2] q;\n{ x q[(0)]; }", {"max_nesting": 2}, "nested 3 levels deep", (4, 7)),
        (DEEP, {}, "nested 70 levels deep, more than max_nesting=64", (4, 67)),
        ("rx(" + "(" * 10**6 + "1" + ")" * 10**6 + ") q;", {}, "nested at least 65,496 levels deep", (3, 67)),
    ],
)
def test_programs_over_a_limit_are_refused_before_parsing(
    src: str, limits: dict[str, Any], fragment: str, where: tuple[int, int] | None
) -> None:
    with pytest.raises(q.QasmError, match="pass a larger max_") as info:
        q.circuit_from_qasm3(HEADER + src, **limits)
    assert fragment in str(info.value)
    assert (info.value.line, info.value.column) == (where or (None, None))


def test_limits_count_code_only_and_can_be_raised() -> None:
    commented = "qubit q;\n// ;;; (((( {{{{\n/* ;;; [[[[ */\nx q;"
    assert q.circuit_from_qasm3(HEADER + commented, max_statements=4, max_nesting=1).instructions
    with pytest.raises(q.QasmError, match="max_nesting=64"):
        q.circuit_from_qasm3(HEADER + DEEP)
    assert q.circuit_from_qasm3(HEADER + DEEP, max_nesting=100).instructions
    small = HEADER + "qubit q;\nx q;\nh q;"
    with pytest.raises(q.QasmError, match="max_statements=4"):
        q.circuit_from_qasm3(small, max_statements=4)
    assert q.circuit_from_qasm3(small, max_statements=5, max_bytes=len(small)).instructions


@pytest.mark.parametrize("limits", [{"max_bytes": 0}, {"max_statements": -1}, {"max_nesting": True},
                                    {"max_bytes": 1.5}, {"max_nesting": "64"}])  # fmt: skip
def test_limits_must_be_positive_integers(limits: dict[str, Any]) -> None:
    with pytest.raises(q.ConfigurationError, match=next(iter(limits))):
        q.circuit_from_qasm3(HEADER + "qubit q;\nx q;", **limits)


def random_gates(count: int, n: int, seed: int) -> list[tuple[str, float, int, int]]:
    """h / cx / rz on ``n`` qubits; rz angles mostly 0.3 (repeated text), 1 % distinct."""
    rng = random.Random(seed)
    gates = []
    for _ in range(count):
        kind, a = rng.choice(["h", "cx", "rz"]), rng.randrange(n)
        b = (a + 1 + rng.randrange(n - 1)) % n
        angle = 0.3 if rng.random() < 0.99 else round(rng.uniform(-4, 4), 6)
        gates.append((kind, angle, a, b))
    return gates


def gate_program(gates: list[tuple[str, float, int, int]], n: int) -> str:
    text = {"h": "h q[{a}];", "cx": "cx q[{a}], q[{b}];", "rz": "rz({angle}) q[{a}];"}
    body = "\n".join(text[kind].format(angle=angle, a=a, b=b) for kind, angle, a, b in gates)
    return f"{HEADER}qubit[{n}] q;\nbit[{n}] c;\n{body}\nc = measure q;\n"


def test_a_large_program_gives_the_circuit_of_its_gates() -> None:
    """20,000 gates against the circuit built directly from the documented decompositions, virtual Z frames and
    runs of single-qubit steps played as one pulse."""
    n, gates = 20, random_gates(20_000, 20, seed=5)
    circuit = q.circuit_from_qasm3(gate_program(gates, n))
    frames, expected = q.Frames(), []
    runs: dict[int, list[tuple[float, float] | float]] = {}

    def settle(i: int) -> None:
        run, name = runs.pop(i, []), f"QB{i + 1}"
        if sum(isinstance(step, tuple) for step in run) <= 1:
            for step in run:
                if isinstance(step, tuple):
                    expected.append(q.prx(name, step[0], frames.phase(name, step[1])))
                else:
                    frames.rotate(name, step)
            return
        theta, phase, turn = q.fuse(run)
        if theta is not None:
            expected.append(q.prx(name, theta, frames.phase(name, phase)))
        frames.rotate(name, turn)

    for kind, angle, a, b in gates:
        if kind == "h":  # rz(π) then prx(π/2, π/2)
            runs.setdefault(a, []).extend([math.pi, (math.pi / 2, math.pi / 2)])
        elif kind == "cx":  # prx(-π/2, π/2) on b · cz(a, b) · prx(π/2, π/2) on b
            runs.setdefault(b, []).append((-math.pi / 2, math.pi / 2))
            settle(a)
            settle(b)
            expected.append(q.cz(f"QB{a + 1}", f"QB{b + 1}"))
            runs.setdefault(b, []).append((math.pi / 2, math.pi / 2))
        else:
            runs.setdefault(a, []).append(angle)
    for i in range(n):
        settle(i)
        expected.append(q.measure(f"QB{i + 1}", key=f"c_{i}"))
    assert len(circuit.instructions) == len(expected)
    for got, want in zip(circuit.instructions, expected, strict=True):
        assert (got.name, got.locus) == (want.name, want.locus)
        if got.name == "prx":
            assert got.args["angle"] == pytest.approx(want.args["angle"], abs=1e-12)
            assert abs((got.args["phase"] - want.args["phase"] + math.pi) % (2 * math.pi) - math.pi) < 1e-9
        else:
            assert got.args == want.args
    gate_by_gate = sum({"h": 1, "cx": 2}.get(kind, 0) for kind, *_ in gates)
    assert sum(i.name == "prx" for i in circuit.instructions) < 0.9 * gate_by_gate  # runs fused: fewer pulses


def test_a_program_is_translated_as_by_one_parse_of_the_whole_text() -> None:
    """Parsing statement by statement (repeated statements once) changes nothing, down to the last bit."""
    src = gate_program(random_gates(2_000, 8, seed=11), 8)
    parsed = _qasm3._parse(src)
    shared = {id(stmt) for stmt, _ in parsed.statements}
    assert len(shared) == len(set(src.splitlines())) - 1 < 100  # one statement a line, a header: each text once
    whole = _qasm3._Parsed(src).add(_qasm3._parse_exact(src), 0, first=True)
    reference = _qasm3._Translator(None, True)
    reference.run_program(whole)
    assert q.circuit_from_qasm3(src).instructions == tuple(reference.out)


def test_statements_differing_only_in_float_digits_are_parsed_once_and_read_exactly() -> None:
    """A program with every angle distinct (as a transpiler writes them) is parsed once per statement shape, and the
    statements and the circuit are those of one parse of the whole text, down to the last bit of every angle."""
    rng = random.Random(3)
    angles = [repr(rng.uniform(-4, 4)) for _ in range(600)] + ["1e-3", ".5", "2.", "3.25E+2"]
    body = "\n".join(f"rz({a}) q[{i % 4}];\nu({a}, -{a}, {a}*pi) q[{(i + 1) % 4}];\ncx q[0], q[1];"
                     for i, a in enumerate(angles))  # fmt: skip
    src = f"{HEADER}qubit[4] q;\nbit[4] c;\n{body}\nc = measure q;\n"
    parsed = _qasm3._parse(src)
    whole = _qasm3._Parsed(src).add(_qasm3._parse_exact(src), 0, first=True)
    assert [shape(stmt, src, start) for stmt, start in parsed.statements] == [
        shape(stmt, src, start) for stmt, start in whole.statements
    ]
    reference = _qasm3._Translator(None, True)
    reference.run_program(whole)
    assert q.circuit_from_qasm3(src).instructions == tuple(reference.out)


# -- fuzzing --------------------------------------------------------------------------------------------------

VALID = [
    HEADER + "qubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\nif (c[0] == 1) x q[1];",
    HEADER + "const float a = pi/3;\nqubit[3] q;\nu3(a, 2*a, -a) q[2];\nswap q[0], q[1];\nbarrier;\ndelay[20ns] q;",
    HEADER + "gate g(t) a, b { rx(t) a; cz a, b; }\nqubit[2] q;\ng(0.1) q[0], q[1];\ninv @ g(2) q[1], q[0];",
    HEADER + "x $0;\nmove $1, $6;\ncz $0, $6;\nmove $1, $6;\nbit b = measure $0;\nreset $0;",
    "OPENQASM 3;\nqreg q[2];\ncreg c[2];\nmeasure q[0] -> c[0];\nU(1,2,3) q[1];\nCX q[0],q[1];",
]
TOKENS = [
    "qubit", "bit", "[", "]", "(", ")", ";", "measure", "->", "=", "==", "if", "else", "pi", "1e309", "-",
    "99999999999999999999999", "$7", "$99999999999999999999", "gate", "{", "}", "inv @", "pow(3) @", "ctrl @",
    "delay[5dt]", "reset", "barrier", "c[0]", "q[5]", ",", "input float t;", "for", "0.5", "/0", "**", "$", "\n",
    "q[-9]", "q[0:9]", "c", "q", "π", "sqrt(-1)", "while", "def", "let", "#pragma", "@", "0x", "\x00",
]  # fmt: skip


@st.composite
def mutated_programs(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 10)))
        piece = draw(st.sampled_from(TOKENS).map(lambda t: f" {t} ") | st.sampled_from(TOKENS) | st.text(max_size=4))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + piece + text[i:]
        elif kind == "replace":
            text = text[:i] + piece + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


EXTRA_LINES = [
    "qubit[2] q;", "qubit[3] r;", "bit[2] c;", "bit b;", "qubit[0] z;", "bit[0] e;", "x $0;", "measure $6;",
    "if (c[1]) z q[0];", "if (b) x $0;", "if (c[0] == 1) { x q[0]; x q[1]; }", "c[0] = measure q[5];",
    "b = measure $1;", "c = measure q;", "delay[-1ns] q;", "delay[1ns] $6;", "rx(1e309) q[0];",
    "pow(-2) @ x q[0];", "inv @ move $1, $6;", "move $1, $6;", "cz $0, $6;", "cz q[0], q[1];", "barrier $0, q;",
    "x q[0:5:0];", "x q[9:0:-1];", "x q[{1, 1}];", "gate g a { measure a; }", "g q[0];",
    "gate h2(t) a { U(t, t, t) a; gphase(t); }", "h2(1) q[0];", "h2 q[0];", "const float w = 1/0;",
    "float v = 2;", "rx(v) q[1];", "reset $0;", "reset q;", "cx q, r;", "swap q[0], r[1];", "ccx q[0], q[1], r[0];",
    "ctrl @ x q[0], q[1];", "pow(2) @ inv @ cu(1, 2, 3, 4) q[0], q[1];", "rz(pi) q; sx q;", "cp(tau) r[0], r[2];",
]  # fmt: skip


@st.composite
def recombined_programs(draw: st.DrawFn) -> str:
    pool = [line for src in VALID for line in src.splitlines()[2:]] + EXTRA_LINES
    lines = draw(st.lists(st.sampled_from(pool), max_size=12))
    return (HEADER if draw(st.booleans()) else "") + "\n".join(lines)


def only_qaas_errors(src: str, calibration: q.Calibration | None) -> str:
    """Translate ``src``; only QaasError may escape, and never the translator's internal-error safety net."""
    try:
        circuit = q.circuit_from_qasm3(src, calibration)
    except q.QaasError as exc:
        message = str(exc)
    else:
        q.check_circuit(circuit)
        return "ok"
    assert "internal error" not in message
    return message


FUZZ = settings(
    max_examples=int(os.environ.get("QAAS_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.text(), st.sampled_from([None, GARNET, DENEB]))
def test_fuzz_arbitrary_text(src: str, calibration: q.Calibration | None) -> None:
    only_qaas_errors(src, calibration)


@FUZZ
@given(mutated_programs(), st.sampled_from([None, GARNET, DENEB]))
def test_fuzz_mutated_programs(src: str, calibration: q.Calibration | None) -> None:
    only_qaas_errors(src, calibration)


@FUZZ
@given(recombined_programs(), st.sampled_from([None, GARNET, DENEB]))
def test_fuzz_recombined_statements(src: str, calibration: q.Calibration | None) -> None:
    only_qaas_errors(src, calibration)


def shape(node: Any, src: str, start: int) -> Any:
    """An AST as nested tuples, with the place of every node in the whole text (its span is piece-relative).

    Identifier and BitType places are left out: openqasm3 builds some of them from a single token, and then their
    column is the character offset in the parsed text. The translator never reads them (see ``_Translator.fail``).
    """
    if isinstance(node, list):
        return [shape(item, src, start) for item in node]
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        span = None if type(node).__name__ in ("Identifier", "BitType") else getattr(node, "span", None)
        where = None if span is None else _qasm3._locate(src, start, span.start_line, span.start_column)
        fields = [(f.name, shape(getattr(node, f.name), src, start)) for f in dataclasses.fields(node)]
        return type(node).__name__, where, [field for field in fields if field[0] != "span"]
    return node


def parse_outcome(src: str, piecewise: bool) -> Any:
    """The syntax tree (or parse error) and the translation (or its error) of a program, parsed either way."""
    try:
        parsed = _qasm3._parse(src) if piecewise else _qasm3._Parsed(src).add(_qasm3._parse_exact(src), 0, first=True)
    except q.QasmError as exc:
        return "error", str(exc)
    statements = [shape(stmt, src, start) for stmt, start in parsed.statements]
    translator = _qasm3._Translator(None, True)
    try:
        translator.run_program(parsed)
    except Exception as exc:  # whatever happens must happen alike
        return parsed.version, parsed.version_line, statements, f"{type(exc).__name__}: {exc}"
    return parsed.version, parsed.version_line, statements, translator.out


TRICKY = [
    "x q;", "h q;", "rx(0.5)\nq;", "x q; x q;", "x q", ";", "{", "}", "{ x q; }", "x q[ 0 ];", "x $0;",
    "qubit q;", "bit c;", "bit[2] c;", "c = measure q;", "measure q -> c;", "OPENQASM 3.0;", "OPENQASM 2;",
    'include "stdgates.inc";', "if (c) x q;", "if (c == 1) x q; else h q;", "else x q;", "gate g a { x a; h a; }",
    "g q;", "#pragma p; x q;", "pragma p; x q;", "@ann x q; y\n", "mypragma q;", "gate mypragma a {\n x a;\n}",
    "inv @ x q;", "cal { // {\n } x q; }", "defcal x $0 { ; }", "for int i in [0:1] { x q; }", "/* ; } */",
    "// ; {\n", "x q /* c */;", "x q // c\n;", '"a;b";', "'x;'", "delay[100 ns] q;", "rz(1 im) q;", "rx(π) q;",
    "\r\n", "\t", "\n", "  ", "x q;; x q;", "def f() { return; }", "box { x q; }", "let a = q;", "end;",
    "rz(0.5) q;", "rz(2.5) q;", "rz(.25e-3) q;", "u(1., 2.5E+2, 3e1) q;", "rx(-0.75*pi) q;", "rz(1_0.5) q;",
    "x q[1.5];", "rz(0.5im) q;", "delay[1.5ns] q;", "rz(1.5.5) q;", "rz(0.5e) q;", "rz(9.9) q;", "rz(1.1) q;",
    "u(0.1, 0.2, pi - 0.3) q;", "rz(0.5)\nq;", "float f = 0.5;", "rz(5.) q;", "rz(7e-7) q;",
]  # fmt: skip


@st.composite
def tricky_programs(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(TRICKY), max_size=14))
    glue = draw(st.sampled_from(["", " ", "\n"]))
    return ("OPENQASM 3.0;\n" if draw(st.booleans()) else "") + glue.join(parts)


@FUZZ
@given(tricky_programs() | mutated_programs() | recombined_programs())
def test_fuzz_piecewise_parse_equals_one_parse(src: str) -> None:
    assert parse_outcome(src, piecewise=True) == parse_outcome(src, piecewise=False)


@pytest.mark.parametrize("src", VALID + ["", "// nothing", "qubit q; x q; OPENQASM 3; x q;", "x q; x q;\n"])
def test_piecewise_parse_equals_one_parse(src: str) -> None:
    assert parse_outcome(src, piecewise=True) == parse_outcome(src, piecewise=False)


def test_valid_fuzz_seeds_translate() -> None:
    for src in VALID:
        calibration = DENEB if "$6" in src else GARNET
        assert q.circuit_from_qasm3(src, calibration).instructions
