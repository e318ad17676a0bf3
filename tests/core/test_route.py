"""Layout and routing in the core: random programs on virtual qubits, placed and routed on a lattice (garnet20), a
star (deneb6) and a larger star-lattice device, apply the program's unitary to the program's qubits; OpenQASM 3 on
declared registers runs anywhere; layouts follow calibrated fidelity; errors are typed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qaas_core as q
from qaas_core._route import route
from tests.cross.helpers import assert_equivalent_up_to_output_phases, logical_unitary, native_unitary

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")
HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def random_program(rng: np.random.Generator, n: int, gates: int) -> str:
    lines = [HEADER, f"qubit[{n}] q;"]
    for _ in range(gates):
        kind = rng.choice(["cx", "cz", "swap", "h", "rx", "ry", "rz", "t"])
        if kind in ("cx", "cz", "swap"):
            a, b = rng.choice(n, 2, replace=False)
            lines.append(f"{kind} q[{a}], q[{b}];")
        elif kind in ("rx", "ry", "rz"):
            lines.append(f"{kind}({rng.uniform(-math.pi, math.pi):.6f}) q[{rng.integers(n)}];")
        else:
            lines.append(f"{kind} q[{rng.integers(n)}];")
    return "\n".join(lines)


def reference(source: str, n: int) -> np.ndarray:
    """The program's own unitary: translated with no device (qubit ``i`` is ``QB{i+1}``, nothing placed)."""
    free = q.circuit_from_qasm3(source)
    return native_unitary(free, [f"QB{i + 1}" for i in range(n)])


@pytest.mark.parametrize("calibration", [GARNET, DENEB], ids=["garnet20", "deneb6"])
@pytest.mark.parametrize("seed", range(8))
def test_routed_programs_apply_the_program_unitary(calibration: q.Calibration, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 6))
    source = random_program(rng, n, 25)
    routed = q.circuit_from_qasm3(source, calibration, route=True)
    q.validate_circuits([routed], calibration)
    layout = routed.metadata["layout"]
    used = [i for i in range(n) if f"q[{i}]" in layout["initial"]]
    initial = {k: layout["initial"][f"q[{i}]"] for k, i in enumerate(used)}
    final = {k: layout["final"][f"q[{i}]"] for k, i in enumerate(used)}
    u = logical_unitary(routed, initial, final)
    u_ref = reference(source, n)
    if len(used) < n:  # a qubit the program never touches: compare on the touched ones
        u_ref = native_unitary(q.circuit_from_qasm3(source), [f"QB{i + 1}" for i in used])
    assert_equivalent_up_to_output_phases(u_ref, u)


def test_a_program_that_does_not_fit_in_declaration_order_is_routed_by_default() -> None:
    source = HEADER + "qubit[4] q;\nbit[4] c;\nh q[0];\n" + "".join(f"cx q[0], q[{i}];\n" for i in (1, 2, 3))
    source += "c = measure q;\n"
    circuit = q.circuit_from_qasm3(source, GARNET)  # QB1 has two neighbours: q[0] cannot touch three in place
    layout = circuit.metadata["layout"]
    assert set(layout["initial"]) == {"q[0]", "q[1]", "q[2]", "q[3]"}
    # the measurements keep the program's keys, so counts come back in the program's bit order
    keys = [i.args["key"] for i in circuit.instructions if i.name == "measure"]
    assert keys == ["c_0", "c_1", "c_2", "c_3"]
    measured = {i.args["key"]: i.locus[0] for i in circuit.instructions if i.name == "measure"}
    assert measured == {f"c_{i}": layout["final"][f"q[{i}]"] for i in range(4)}
    # a hub of degree 3 is found on the lattice: no SWAP needed
    assert layout["swaps"] == 0


def test_the_layout_follows_calibrated_fidelity() -> None:
    """Make one coupling of garnet20 much better than every other: a two-qubit program lands on it."""
    view = q.DeviceView(GARNET)
    a, b = view.couplings[-1]
    doc = GARNET.to_dict()
    cz = doc["metrics"]["fidelity"]["cz"]
    for key in cz:
        cz[key] = 0.90
    cz[f"{a},{b}"] = 0.999
    better = q.Calibration.from_dict(doc)
    routed = q.circuit_from_qasm3(HEADER + "qubit[2] q; h q[0]; cx q[0], q[1];", better, route=True)
    assert set(routed.metadata["layout"]["initial"].values()) == {a, b}


def test_a_fixed_layout_and_the_typed_errors() -> None:
    bell = q.Circuit("bell", (q.prx("x", math.pi / 2, math.pi / 2), q.cz("x", "y"), q.measure("x", "y", key="m")))
    fixed = route(bell, GARNET, layout={"x": "QB1", "y": "QB20"})
    assert fixed.initial == {"x": "QB1", "y": "QB20"} and fixed.swaps >= 3
    q.validate_circuits([fixed.circuit], GARNET)
    with pytest.raises(q.CircuitError, match="distinct usable qubit"):
        route(bell, GARNET, layout={"x": "QB1", "y": "QB1"})
    with pytest.raises(q.CircuitError, match="uses 7 qubits; deneb6 has 6"):
        route(q.Circuit("wide", tuple(q.measure(f"v{i}", key=f"k{i}") for i in range(7))), DENEB)
    with pytest.raises(q.CircuitError, match="move names a physical resonator"):
        route(q.Circuit("mv", (q.move("x", "CR1"),)), DENEB)
    with pytest.raises(q.QasmError, match="not routed"):
        q.circuit_from_qasm3(HEADER + "x $0;", GARNET, route=True)
    with pytest.raises(q.ConfigurationError, match="needs a calibration"):
        q.circuit_from_qasm3(HEADER + "qubit q; x q;", route=True)


def test_feedback_follows_its_measured_qubit() -> None:
    prog = (HEADER + "qubit[3] q;\nbit[1] c;\nh q[0];\ncx q[0], q[2];\nc[0] = measure q[0];\n"
            "if (c[0] == 1) x q[2];\n")  # fmt: skip
    routed = q.circuit_from_qasm3(prog, GARNET, route=True)
    layout = routed.metadata["layout"]
    cc = [i for i in routed.instructions if i.name == "cc_prx"]
    assert cc and all(i.locus == (layout["final"]["q[2]"],) for i in cc)
    assert all(i.args["feedback_qubit"] == layout["final"]["q[0]"] for i in cc)
    names = [i.name for i in routed.instructions]
    assert names.index("measure") < names.index("cc_prx")  # never moved across its measurement
