"""QaaSDevice.compile: routing before decomposition, native output, virtual Z, MOVE sandwiches, kept keys."""

from __future__ import annotations

import cirq
import pytest

import qaas_core as q
from qaas_cirq import CompiledCircuit, ConversionError, MoveGate, QaaSDevice, circuit_to_qaas
from qaas_cirq._compile import _drop_dead_swaps
from tests.cirq.helpers import assert_equal_up_to_output_z, assert_routed_equivalent, native_to_cirq

GARNET = QaaSDevice.from_profile("garnet20")
DENEB = QaaSDevice.from_profile("deneb6")
ADONIS = QaaSDevice.from_profile("adonis5")


def random_logical(n: int, seed: int) -> cirq.Circuit:
    gates = {cirq.H: 1, cirq.T: 1, cirq.CNOT: 2, cirq.ISWAP: 2, cirq.SWAP: 2, cirq.rx(0.3): 1, cirq.CZ**0.37: 2,
             cirq.PhasedISwapPowGate(phase_exponent=0.2, exponent=0.6): 2}  # fmt: skip
    return cirq.testing.random_circuit(cirq.LineQubit.range(n), n_moments=10, op_density=0.9, gate_domain=gates,
                                       random_state=seed)  # fmt: skip


@pytest.mark.parametrize(("device", "n", "seed"), [(GARNET, 5, 0), (GARNET, 5, 1), (ADONIS, 4, 2), (DENEB, 4, 3)])
def test_compiled_circuits_are_native_and_equivalent(device: QaaSDevice, n: int, seed: int) -> None:
    logical = random_logical(n, seed)
    compiled = device.compile(logical)
    assert isinstance(compiled, CompiledCircuit)
    device.validate_circuit(compiled.circuit)  # native, calibrated loci, closed MOVE sandwiches
    assert_routed_equivalent(logical, compiled.circuit, compiled.initial_mapping, compiled.final_mapping, seed)
    # the conversion (virtual Z) agrees with the compiled circuit up to Z phases on the outputs
    order = sorted(compiled.circuit.all_qubits())
    native = native_to_cirq(circuit_to_qaas(compiled.circuit))
    assert_equal_up_to_output_z(compiled.circuit.unitary(qubit_order=order), native.unitary(qubit_order=order))


def test_star_device_cz_goes_through_the_resonator() -> None:
    a, b, c = cirq.LineQubit.range(3)
    ghz = cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.CNOT(b, c))
    compiled = DENEB.compile(ghz)
    ops = list(compiled.circuit.all_operations())
    moves = [op for op in ops if isinstance(op.gate, MoveGate)]
    assert len(moves) == 4 and all(op.qubits[1] == cirq.NamedQid("CR1", dimension=2) for op in moves)
    assert all(cirq.NamedQid("CR1", dimension=2) in op.qubits for op in ops if op.gate == cirq.CZ)
    assert_routed_equivalent(ghz, compiled.circuit, compiled.initial_mapping, compiled.final_mapping, 5)
    native = circuit_to_qaas(compiled.circuit)
    q.validate_circuits([native], DENEB.calibration, move_gate_validation="strict")


def test_star_device_cz_is_the_device_views_plan_whatever_the_operand_order() -> None:
    qb = {n: cirq.NamedQubit(n) for n in ("QB1", "QB2", "QB5")}
    for a, b in [("QB1", "QB2"), ("QB2", "QB1"), ("QB5", "QB2")]:
        compiled = DENEB.compile(cirq.Circuit(cirq.CZ(qb[a], qb[b])), route=False)
        native = circuit_to_qaas(compiled.circuit).instructions
        assert native == DENEB.view.cz(a, b) == DENEB.view.cz(b, a)
        route = DENEB.view.cz_route(a, b)
        assert route is not None and route.stay == min(a, b, key=DENEB.calibration.qubits.index)
    assert {tuple(sorted((x.name, y.name))) for x, y in DENEB.routing_graph.edges} == set(DENEB.view.couplings)


def test_measurement_keys_and_qubit_order_survive_routing() -> None:
    qs = cirq.LineQubit.range(4)
    circuit = cirq.Circuit(
        cirq.X(qs[0]),
        [cirq.CNOT(qs[0], qs[j]) for j in (1, 2)],  # |1110>
        cirq.measure(qs[3], qs[0], key="x"),  # (0, 1)
        cirq.CNOT(qs[2], qs[3]),
        cirq.X(qs[1]),
        cirq.measure(qs[1], qs[2], qs[3], key="y"),  # (0, 1, 1)
    )
    compiled = ADONIS.compile(circuit)  # a star without resonator: QB3 is the hub, so the router must swap
    assert compiled.initial_mapping != compiled.final_mapping  # the router did swap
    ours = cirq.Simulator().run(compiled.circuit, repetitions=3)
    assert ours == cirq.Simulator().run(circuit, repetitions=3)
    assert ours.measurements["x"].tolist() == [[0, 1]] * 3 and ours.measurements["y"].tolist() == [[0, 1, 1]] * 3


def test_a_circuit_already_on_coupled_device_qubits_keeps_its_placement() -> None:
    qb1, qb2, qb4 = (cirq.NamedQubit(n) for n in ("QB1", "QB2", "QB4"))
    circuit = cirq.Circuit(cirq.H(qb1), cirq.CNOT(qb1, qb2), cirq.CNOT(qb1, qb4), cirq.measure(qb1, qb2, qb4, key="m"))
    compiled = GARNET.compile(circuit)
    assert compiled.initial_mapping == compiled.final_mapping == {x: x for x in (qb1, qb2, qb4)}
    assert compiled.circuit.all_qubits() == {qb1, qb2, qb4}
    iqm_named = circuit.transform_qubits(lambda x: cirq.NamedQid(x.name, dimension=2))  # IQM's adapter style
    assert GARNET.compile(iqm_named).circuit.all_qubits() == {qb1, qb2, qb4}


def test_routing_options_and_failures() -> None:
    qs = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(cirq.CNOT(qs[0], qs[1]), cirq.CNOT(qs[1], qs[2]), cirq.measure(*qs, key="m"))
    subset = [cirq.NamedQubit(n) for n in ("QB1", "QB2", "QB5")]
    compiled = GARNET.compile(circuit, qubit_subset=subset)
    assert compiled.circuit.all_qubits() <= set(subset)
    with pytest.raises(ConversionError, match="not on the device"):
        GARNET.compile(circuit, route=False)
    with pytest.raises(ConversionError, match="offers 5"):
        ADONIS.compile(cirq.Circuit(cirq.H.on_each(*cirq.LineQubit.range(6))))
    with pytest.raises(ConversionError, match="not connected"):
        GARNET.compile(circuit, qubit_subset=[cirq.NamedQubit(n) for n in ("QB1", "QB2", "QB20")])
    with pytest.raises(ConversionError, match="resonators directly"):
        DENEB.compile(cirq.Circuit(MoveGate()(cirq.LineQubit(0), cirq.NamedQid("CR1", dimension=2))))


def test_three_qubit_gates_and_classical_control_compile() -> None:
    a, b, c = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(
        cirq.CCX(a, b, c), cirq.measure(a, key="k"), cirq.H(b).with_classical_controls("k"), cirq.measure(b, c, key="m")
    )
    compiled = GARNET.compile(circuit)
    GARNET.validate_circuit(compiled.circuit)
    names = [i.name for i in circuit_to_qaas(compiled.circuit).instructions]
    assert names.count("cc_prx") >= 1 and names.count("measure") == 2


def test_routing_swaps_after_terminal_measurements_are_dropped() -> None:
    a, b, c = (cirq.NamedQubit(n) for n in ("QB1", "QB2", "QB3"))
    routed = cirq.Circuit(
        cirq.measure(a, key="x"),
        cirq.measure(b, key="y"),
        cirq.SWAP(a, b),  # inserted by the router after both were measured: dead
        cirq.SWAP(b, c),  # c is used later: kept
        cirq.measure(b, key="z"),
    )
    kept, final = _drop_dead_swaps(routed, {"l0": a, "l1": b, "l2": c})  # type: ignore[dict-item]
    assert [op.gate for op in kept.all_operations()].count(cirq.SWAP) == 1
    assert final == {"l0": a, "l1": c, "l2": b}


def test_classically_controlled_circuits_are_placed_not_routed() -> None:
    """RouteCQC would move a controlled gate ahead of its measurement: such circuits are placed on couplings."""
    import cirq

    import qaas_core as q
    from qaas_cirq import QaaSDevice

    device = QaaSDevice(q.load_profile("garnet20"))
    a, b, c = cirq.LineQubit.range(3)
    teleport_like = cirq.Circuit(
        cirq.CNOT(a, b), cirq.measure(a, key="k"), cirq.X(c).with_classical_controls("k"), cirq.measure(c, key="r")
    )
    compiled = device.compile(teleport_like)
    order = list(compiled.circuit.all_operations())
    measure_at = next(i for i, op in enumerate(order) if cirq.is_measurement(op) and "k" in str(op))
    controlled_at = next(
        i for i, op in enumerate(order) if isinstance(op.untagged, cirq.ClassicallyControlledOperation)
    )
    assert measure_at < controlled_at
    assert len(set(compiled.initial_mapping.values())) == 3
    # a controlled circuit whose interactions cannot sit on the couplings is refused with a clear error
    star = [cirq.LineQubit(i) for i in range(6)]
    dense = cirq.Circuit([cirq.CZ(star[0], s) for s in star[1:]], cirq.measure(star[0], key="k"),
                         cirq.X(star[1]).with_classical_controls("k"))  # fmt: skip
    import pytest

    with pytest.raises(q.ValidationError, match="classically controlled"):
        device.compile(dense)
