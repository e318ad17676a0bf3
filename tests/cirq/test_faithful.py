"""QaaSDevice.compile(mode="faithful"): gate by gate, nothing merged or cancelled; routing and MOVEs as by default."""

from __future__ import annotations

import cirq
import pytest
import sympy

import qaas_core as q
from qaas_cirq import ConversionError, MoveGate, QaaSDevice, circuit_to_qaas
from tests.cirq.helpers import assert_equal_up_to_output_z, assert_routed_equivalent, native_to_cirq

GARNET = QaaSDevice.from_profile("garnet20")
DENEB = QaaSDevice.from_profile("deneb6")
QB1, QB2, QB3, QB4 = (cirq.NamedQubit(f"QB{i}") for i in (1, 2, 3, 4))


def native_counts(circuit: cirq.Circuit) -> dict[str, int]:
    counts: dict[str, int] = {}
    for inst in circuit_to_qaas(circuit).instructions:
        counts[inst.name] = counts.get(inst.name, 0) + 1
    return counts


def folded(n: int, a: cirq.Qid = QB1, b: cirq.Qid = QB2) -> cirq.Circuit:
    """CZ folded as mitiq's fold_global does it: CZ (CZ^-1 CZ)^k, n = 2k + 1 gates."""
    ops = [cirq.CZ(a, b) if k % 2 == 0 else cirq.CZ(a, b) ** -1 for k in range(n)]
    return cirq.Circuit(cirq.H(a), *ops, cirq.measure(a, b, key="m"))


@pytest.mark.parametrize("n", [1, 3, 5])
def test_folded_czs_survive_faithful_compilation_and_collapse_by_default(n: int) -> None:
    assert native_counts(GARNET.compile(folded(n), mode="faithful").circuit)["cz"] == n
    assert native_counts(GARNET.compile(folded(n)).circuit)["cz"] == 1  # the default mode is unchanged
    assert native_counts(GARNET.compile(folded(n), mode="default").circuit)["cz"] == 1


@pytest.mark.parametrize("n", [1, 3, 5])
def test_folded_cnots_on_line_qubits_are_routed_and_kept(n: int) -> None:
    a, b = cirq.LineQubit.range(2)
    ops = [cirq.CNOT(a, b) if k % 2 == 0 else cirq.CNOT(a, b) ** -1 for k in range(n)]
    circuit = cirq.Circuit(cirq.H(a), *ops, cirq.measure(a, b, key="m"))
    compiled = GARNET.compile(circuit, mode="faithful")
    assert native_counts(compiled.circuit)["cz"] == n
    GARNET.validate_circuit(compiled.circuit)
    assert_routed_equivalent(circuit, compiled.circuit, compiled.initial_mapping, compiled.final_mapping, n)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_star_device_keeps_every_folded_cz_in_its_own_move_sandwich(n: int) -> None:
    a, b = cirq.NamedQubit("QB1"), cirq.NamedQubit("QB2")
    compiled = DENEB.compile(folded(n, a, b), mode="faithful")
    counts = native_counts(compiled.circuit)
    assert counts["cz"] == n and counts["move"] == 2 * n
    q.validate_circuits([circuit_to_qaas(compiled.circuit)], DENEB.calibration, move_gate_validation="strict")
    plan = DENEB.view.cz("QB1", "QB2")
    native = circuit_to_qaas(compiled.circuit).instructions
    assert [i for i in native if i.name in ("cz", "move")] == [i for _ in range(n) for i in plan]


def test_every_gate_becomes_its_own_decomposition() -> None:
    body = cirq.Circuit(
        cirq.H(QB1),  # not native: one PhasedXZ, one prx
        cirq.X(QB2) ** 0.5,  # native: stays as it is
        cirq.H(QB1),  # H·H would cancel by default; here two prx
        cirq.T(QB1),  # virtual
        cirq.CNOT(QB1, QB2),  # one CZ
        cirq.CNOT(QB1, QB2),  # CNOT·CNOT = I by default
        cirq.ISWAP(QB1, QB2),  # two CZs
        cirq.SWAP(QB1, QB2),  # three CZs
    )
    compiled = GARNET.compile(body, mode="faithful")
    assert compiled.initial_mapping == compiled.final_mapping == {QB1: QB1, QB2: QB2}
    ops = list(compiled.circuit.all_operations())
    assert ops[0].qubits == (QB1,) and isinstance(ops[0].gate, cirq.PhasedXZGate)
    assert cirq.X(QB2) ** 0.5 in ops
    counts = native_counts(compiled.circuit + cirq.measure(QB1, QB2, key="m"))
    assert counts["cz"] == 1 + 1 + 2 + 3
    default = native_counts(GARNET.compile(body + cirq.measure(QB1, QB2, key="m")).circuit)
    assert default["cz"] < counts["cz"] and default["prx"] < counts["prx"]
    order = [QB1, QB2]
    assert cirq.allclose_up_to_global_phase(body.unitary(order), compiled.circuit.unitary(order), atol=1e-7)


def test_faithful_circuits_are_native_and_equivalent_on_random_circuits() -> None:
    gates = {cirq.H: 1, cirq.T: 1, cirq.CNOT: 2, cirq.ISWAP: 2, cirq.SWAP: 2, cirq.rx(0.3): 1, cirq.CZ**0.37: 2}
    for device, seed in ((GARNET, 0), (GARNET, 1), (DENEB, 2)):
        logical = cirq.testing.random_circuit(cirq.LineQubit.range(4), n_moments=8, op_density=0.9,
                                              gate_domain=gates, random_state=seed)  # fmt: skip
        compiled = device.compile(logical, mode="faithful")
        device.validate_circuit(compiled.circuit)
        assert_routed_equivalent(logical, compiled.circuit, compiled.initial_mapping, compiled.final_mapping, seed)
        order = sorted(compiled.circuit.all_qubits())
        native = native_to_cirq(circuit_to_qaas(compiled.circuit))
        assert_equal_up_to_output_z(compiled.circuit.unitary(qubit_order=order), native.unitary(qubit_order=order))
        two_qubit = sum(len(op.qubits) == 2 for op in logical.all_operations())
        resynthesised = native_counts(device.compile(logical).circuit).get("cz", 0)
        assert native_counts(compiled.circuit).get("cz", 0) >= max(resynthesised, two_qubit - 1)


def test_classical_control_moves_and_waits_pass_through() -> None:
    res = cirq.NamedQid("CR1", dimension=2)
    star = cirq.Circuit(MoveGate()(QB1, res), cirq.CZ(QB2, res), MoveGate()(QB1, res), cirq.measure(QB1, QB2, key="m"))
    assert DENEB.compile(star, mode="faithful", route=False).circuit == star
    circuit = cirq.Circuit(
        cirq.H(QB1),
        cirq.measure(QB1, key="k"),
        cirq.H(QB2).with_classical_controls("k"),
        cirq.wait(QB2, nanos=100),
        cirq.measure(QB2, key="m"),
    )
    compiled = GARNET.compile(circuit, mode="faithful")
    counts = native_counts(compiled.circuit)
    assert counts["cc_prx"] >= 1 and counts["delay"] == 1 and counts["measure"] == 2


def test_unknown_mode_and_undecomposable_gates_are_errors() -> None:
    with pytest.raises(q.ValidationError, match="unknown compile mode 'fast'"):
        GARNET.compile(folded(1), mode="fast")  # type: ignore[arg-type]
    noisy = cirq.Circuit(cirq.amplitude_damp(0.1)(QB1), cirq.measure(QB1, key="m"))
    with pytest.raises(ConversionError, match="cannot decompose"):
        GARNET.compile(noisy, mode="faithful")
    # a symbolic CZ power is left for the resolver to check, in both modes
    symbolic = cirq.Circuit(cirq.CZ(QB1, QB2) ** sympy.Symbol("t"))
    assert GARNET.compile(symbolic, mode="faithful").circuit == GARNET.compile(symbolic).circuit == symbolic
