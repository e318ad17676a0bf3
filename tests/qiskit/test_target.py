"""Calibration → Qiskit Target: gates, loci, errors, durations, qubit properties, and what the transpiler makes."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.transpiler import generate_preset_pass_manager

import qaas_core as q
from qaas_qiskit import DT, QaaSBackend, target_from_calibration


@pytest.mark.parametrize("device", q.PROFILES)
def test_target_mirrors_the_calibration(device: str) -> None:
    cal = q.load_profile(device)
    target = target_from_calibration(cal)
    assert target.num_qubits == len(cal.qubits)
    assert target.dt == DT == 1e-9
    assert {"u", "rz", "cz", "measure", "reset", "delay", "if_else"} <= set(target.operation_names)
    assert "r" not in target.operation_names  # a name qiskit-experiments has no error ratio for
    couplings = {(cal.qubits[a], cal.qubits[b]) for a, b in target["cz"]}
    expected = {p for a, b in cal.coupling_graph() for p in ((a, b), (b, a))}
    assert couplings == expected
    for (a, b), props in target["cz"].items():
        pair = (cal.qubits[a], cal.qubits[b])
        assert props.error == pytest.approx(cal.error("cz", pair))
        assert props.duration == pytest.approx(cal.duration("cz", pair))
    for (i,), props in target["u"].items():  # one PRX pulse (and a virtual Z)
        assert props.error == pytest.approx(cal.error("prx", (cal.qubits[i],)))
        assert props.duration == pytest.approx(cal.duration("prx", (cal.qubits[i],)))
    assert set(target["rz"]) == set(target["u"])
    for props in target["rz"].values():  # virtual: free and instantaneous
        assert props.error == 0.0
        assert props.duration == 0.0
    for i, name in enumerate(cal.qubits):
        assert target.qubit_properties[i].t1 == cal.metrics.t1[name]
        assert target.qubit_properties[i].t2 == cal.metrics.t2[name]
        assert target["measure"][(i,)].duration == cal.duration("measure", (name,))


def test_star_target_has_no_resonator_and_offers_virtual_couplings(deneb: QaaSBackend) -> None:
    cal = deneb.calibration
    assert deneb.num_qubits == len(cal.qubits) == 6
    assert "move" not in deneb.target.operation_names
    assert len(deneb.target["cz"]) == 2 * len(cal.coupling_graph())


def test_only_calibrated_operations_appear() -> None:
    cal = q.load_profile("garnet20")
    gates = {name: g for name, g in cal.gates.items() if name not in ("cc_prx", "reset")}
    bare = q.Calibration(calibration_set_id="x", qubits=cal.qubits, gates=gates, metrics=cal.metrics)
    names = set(target_from_calibration(bare).operation_names)
    assert "if_else" not in names
    assert "reset" not in names


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_transpile_and_preset_pass_manager_give_native_circuits(garnet: QaaSBackend, level: int) -> None:
    qc = QuantumCircuit(4, 4)
    qc.h(0)
    qc.cx(0, 1)
    qc.swap(1, 3)
    qc.ccx(0, 1, 2)
    qc.u(0.1, 0.2, 0.3, 3)
    qc.measure(range(4), range(4))
    for tq in (
        transpile(qc, garnet, optimization_level=level, seed_transpiler=1),
        generate_preset_pass_manager(optimization_level=level, backend=garnet, seed_transpiler=1).run(qc),
    ):
        assert set(tq.count_ops()) <= {"u", "rz", "cz", "measure", "barrier"}
        q.validate_circuits([garnet.convert(tq)], garnet.calibration)


def test_backend_basics(garnet: QaaSBackend) -> None:
    assert garnet.max_circuits == 100_000
    assert garnet.dt == 1e-9
    assert garnet.qubit_properties(0).t1 == garnet.calibration.metrics.t1["QB1"]
    assert garnet.name == "qaas-garnet20"
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    with pytest.raises(q.ConfigurationError, match="offline"):
        garnet.run(qc)
    with pytest.raises(q.ConfigurationError):
        QaaSBackend()
