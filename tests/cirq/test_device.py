"""QaaSDevice from a calibration: components, graphs, gate set and validation."""

from __future__ import annotations

import cirq
import pytest

import qaas_core as q
from qaas_cirq import ConversionError, MoveGate, QaaSDevice

GARNET = QaaSDevice.from_profile("garnet20")
DENEB = QaaSDevice.from_profile("deneb6")
QB = {n: cirq.NamedQubit(f"QB{n}") for n in range(1, 21)}
CR1 = cirq.NamedQid("CR1", dimension=2)


def test_lattice_device_describes_the_calibration() -> None:
    cal = q.load_profile("garnet20")
    assert GARNET.calibration_set_id == cal.calibration_set_id
    assert GARNET.qubits == tuple(QB[n] for n in range(1, 21)) and GARNET.resonators == ()
    assert GARNET.metadata.qubit_set == frozenset(QB.values())
    edges = {frozenset((a.name, b.name)) for a, b in GARNET.metadata.nx_graph.edges}
    assert edges == {frozenset(locus) for locus in cal.loci("cz")}
    assert {frozenset((a.name, b.name)) for a, b in GARNET.routing_graph.edges} == edges
    assert GARNET.component("QB7") == QB[7]
    with pytest.raises(ConversionError, match="no component 'QB99'"):
        GARNET.component("QB99")
    assert "garnet20" in repr(GARNET)


def test_star_device_has_a_resonator_and_a_complete_routing_graph() -> None:
    assert DENEB.resonators == (CR1,) and len(DENEB.qubits) == 6
    assert CR1 in DENEB.metadata.qubit_set
    assert DENEB.metadata.nx_graph.degree(CR1) == 6  # CZ and MOVE loci all go through the resonator
    assert DENEB.routing_graph.number_of_edges() == 15 and CR1 not in DENEB.routing_graph


def test_gateset_lists_the_native_families() -> None:
    for op in (
        cirq.X(QB[1]),
        cirq.PhasedXPowGate(phase_exponent=0.1)(QB[1]),
        cirq.Z(QB[1]) ** 0.3,
        cirq.CZ(QB[1], QB[2]),
        cirq.measure(QB[1]),
        cirq.ResetChannel()(QB[1]),
        MoveGate()(QB[1], CR1),
    ):
        assert op in GARNET.gateset
    assert cirq.H(QB[1]) not in GARNET.gateset and (cirq.CZ**0.5)(QB[1], QB[2]) not in GARNET.gateset  # fmt: skip


@pytest.mark.parametrize(
    "op",
    [
        cirq.X(QB[1]),
        cirq.CZ(QB[2], QB[1]),  # either order
        cirq.measure(QB[1], QB[20], key="m"),
        cirq.ResetChannel()(QB[3]),
        cirq.Z(QB[5]),
        cirq.WaitGate(cirq.Duration(nanos=5))(QB[4]),
        cirq.X(QB[2]).with_classical_controls("k"),
    ],
)
def test_native_operations_validate(op: cirq.Operation) -> None:
    GARNET.validate_operation(op)


@pytest.mark.parametrize(
    ("device", "op", "message"),
    [
        (GARNET, cirq.H(QB[1]), "not a native IQM operation"),
        (GARNET, cirq.CZ(QB[1], QB[20]), r"cz is not calibrated on \('QB1', 'QB20'\)"),
        (GARNET, cirq.X(cirq.NamedQubit("QB21")), "not a component of this device"),
        (GARNET, MoveGate()(QB[1], QB[2]), "move is not calibrated"),
        (DENEB, cirq.CZ(QB[1], QB[2]), "cz is not calibrated"),
        (GARNET, cirq.CZ(QB[1], QB[2]).with_classical_controls("k"), "single-qubit gates"),
    ],
)
def test_invalid_operations_raise_value_errors_from_the_qaas_tree(
    device: QaaSDevice, op: cirq.Operation, message: str
) -> None:
    with pytest.raises(ConversionError, match=message) as info:
        device.validate_operation(op)
    assert isinstance(info.value, ValueError) and isinstance(info.value, q.ValidationError)


def test_validate_circuit_applies_the_servers_rules_and_names_the_cirq_operation() -> None:
    qb1, qb2 = DENEB.qubits[:2]
    sandwich = [MoveGate()(qb2, CR1), cirq.CZ(qb1, CR1), MoveGate()(qb2, CR1)]
    DENEB.validate_circuit(cirq.Circuit(*sandwich, cirq.measure(qb1, qb2, key="m")))
    bad = cirq.Circuit(MoveGate()(qb2, CR1), cirq.X(qb2), MoveGate()(qb2, CR1))
    with pytest.raises(ConversionError, match=r"moment 1, cirq.X\(cirq.NamedQubit\('QB2'\)\).*sandwich"):
        DENEB.validate_circuit(bad)
    lenient = QaaSDevice(DENEB.calibration, move_gate_validation="allow_prx")
    lenient.validate_circuit(bad)
    with pytest.raises(ConversionError, match=r"moment 1.*not calibrated"):
        GARNET.validate_circuit(cirq.Circuit(cirq.X(QB[1]), cirq.CZ(QB[1], QB[3])))
    with pytest.raises(ConversionError, match="no earlier measurement"):
        GARNET.validate_circuit(cirq.Circuit(cirq.X(QB[1]).with_classical_controls("k"), cirq.measure(QB[2], key="k")))
    GARNET.validate_circuit(cirq.Circuit(cirq.Z(QB[1])))  # nothing to send, nothing wrong
