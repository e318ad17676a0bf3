"""Tape → IQM circuit conversion, checked exactly against default.qubit (no server).

Every converted circuit is simulated by the independent reference simulator in ``native_sim`` (all measurement
branches, no sampling), so a wrong frame, a wrong routing SWAP or a wrong MOVE sandwich shows up as a difference
in the outcome distribution, not as shot noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pennylane as qml
import pytest

import qaas_core as q
from qaas_pennylane import LayoutError, QaasDevice
from tests.pennylane.native_sim import ExactSamplingClient, final_probs

ONE_QUBIT = ("RX", "RY", "RZ", "PhaseShift", "Hadamard", "S", "T", "SX", "PauliX", "PauliY", "Rot", "U3", "U2")
TWO_QUBIT = ("CZ", "CNOT", "SWAP", "CRX", "CY", "IsingXX", "ControlledPhaseShift", "ISWAP")


def _device(profile: str, wires: int | None = None) -> QaasDevice:
    return QaasDevice(wires=wires, client=ExactSamplingClient(profile))  # type: ignore[arg-type]


def _compile(dev: QaasDevice, qfunc: Callable[[], Any], mcm_method: str = "device") -> list[q.Circuit]:
    tape = qml.tape.make_qscript(qfunc)().copy(shots=100)
    config = qml.devices.ExecutionConfig(mcm_config=qml.devices.MCMConfig(mcm_method=mcm_method))
    batch, _ = dev.preprocess_transforms(config)((tape,))
    circuits = [dev.compile(t).circuit for t in batch]
    q.validate_circuits(circuits, dev.calibration)  # strict MOVE sandwiches, calibrated loci only
    return circuits


def _reference_probs(qfunc: Callable[[], Any]) -> np.ndarray:
    return np.asarray(qml.QNode(qfunc, qml.device("default.qubit"), mcm_method="deferred")())


def _random_ops(rng: np.random.Generator, n: int, depth: int) -> list[Any]:
    ops: list[Any] = []
    for _ in range(depth):
        if rng.random() < 0.5:
            cls = getattr(qml, rng.choice(ONE_QUBIT))
            ops.append(cls(*rng.uniform(-math.pi, math.pi, cls.num_params), wires=int(rng.integers(n))))
        else:
            a, b = (int(x) for x in rng.choice(n, 2, replace=False))
            cls = getattr(qml, rng.choice(TWO_QUBIT))
            ops.append(cls(*rng.uniform(-math.pi, math.pi, cls.num_params), wires=[a, b]))
    if rng.random() < 0.5:
        ops.append(qml.Toffoli(wires=[0, 1, 2]))
    ops.append(qml.adjoint(qml.S(0)))
    ops.append(qml.QubitUnitary(qml.matrix(qml.Rot(0.3, -1.2, 2.1, wires=0)), wires=1))
    return ops


@pytest.mark.parametrize("profile", ["garnet20", "adonis5", "deneb6"])
def test_random_circuits_match_default_qubit_exactly(profile: str) -> None:
    rng = np.random.default_rng(2024)
    dev = _device(profile)
    n = 5
    for _ in range(12):
        ops = _random_ops(rng, n, 24)

        def circuit(ops: list[Any] = ops) -> Any:
            for op in ops:
                qml.apply(op)
            return qml.probs(wires=range(n))

        (native,) = _compile(dev, circuit)
        np.testing.assert_allclose(final_probs(native), _reference_probs(circuit), atol=1e-9)


def test_single_qubit_runs_become_at_most_one_prx_with_z_rotations_virtual() -> None:
    dev = _device("garnet20", wires=1)

    def run(*ops: Any) -> list[str]:
        def circuit() -> Any:
            for op in ops:
                qml.apply(op)
            return qml.probs(wires=0)

        (native,) = _compile(dev, circuit)
        return [i.name for i in native.instructions]

    assert run(qml.RZ(0.3, 0)) == ["measure"]
    assert run(qml.Hadamard(0), qml.Hadamard(0)) == ["measure"]
    assert run(qml.T(0), qml.S(0), qml.PhaseShift(0.2, 0)) == ["measure"]
    assert run(qml.RX(0.1, 0), qml.RZ(0.4, 0), qml.RY(0.2, 0), qml.Hadamard(0), qml.SX(0)) == ["prx", "measure"]


def test_phase_of_a_later_pulse_absorbs_earlier_z_rotations() -> None:
    dev = _device("garnet20", wires=2)

    def circuit() -> Any:
        qml.RX(0.5, 0)
        qml.RZ(0.7, 0)
        qml.CZ([0, 1])  # forces the first pulse out; RZ stays virtual across the CZ
        qml.RX(0.9, 0)
        return qml.probs(wires=[0, 1])

    (native,) = _compile(dev, circuit)
    prx = [i for i in native.instructions if i.name == "prx"]
    assert [round(i.args["angle"], 12) for i in prx] == [0.5, 0.9]
    assert prx[0].args["phase"] == pytest.approx(0.0, abs=1e-12)
    assert prx[1].args["phase"] == pytest.approx(-0.7)  # PRX(θ, 0)·RZ(0.7) = RZ(0.7)·PRX(θ, −0.7)
    assert all(type(v) is float for i in native.instructions for v in i.args.values() if not isinstance(v, str))


def test_cnot_is_cz_between_merged_hadamards_and_swap_costs_nothing() -> None:
    dev = _device("garnet20", wires=2)

    def cnot() -> Any:
        qml.CNOT([0, 1])
        return qml.probs(wires=[0, 1])

    (native,) = _compile(dev, cnot)
    assert [i.name for i in native.instructions] == ["prx", "cz", "prx", "measure"]

    def swap() -> Any:
        qml.PauliX(0)
        qml.SWAP([0, 1])
        return qml.probs(wires=[0, 1])

    (native,) = _compile(dev, swap)
    assert [i.name for i in native.instructions] == ["prx", "measure"]
    np.testing.assert_allclose(final_probs(native), [0, 1, 0, 0], atol=1e-12)


def test_layout_embeds_a_chain_without_routing_and_uses_calibrated_pairs() -> None:
    dev = _device("garnet20", wires=8)

    def chain() -> Any:
        qml.Hadamard(0)
        for w in range(7):
            qml.CNOT([w, w + 1])
        return qml.probs(wires=range(8))

    (native,) = _compile(dev, chain)
    assert sum(i.name == "cz" for i in native.instructions) == 7
    np.testing.assert_allclose(final_probs(native)[[0, -1]], [0.5, 0.5], atol=1e-12)


def test_routing_inserts_swaps_when_no_embedding_exists() -> None:
    dev = _device("adonis5", wires=5)  # a star: a path of five qubits does not fit without SWAPs

    def ghz() -> Any:
        qml.Hadamard(0)
        for w in range(4):
            qml.CNOT([w, w + 1])
        qml.CNOT([4, 0])
        return qml.probs(wires=range(5))

    (native,) = _compile(dev, ghz)
    assert sum(i.name == "cz" for i in native.instructions) > 5
    np.testing.assert_allclose(final_probs(native), _reference_probs(ghz), atol=1e-12)


def test_star_device_plays_cz_as_a_move_sandwich() -> None:
    dev = _device("deneb6", wires=2)

    def bell() -> Any:
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.probs(wires=[0, 1])

    (native,) = _compile(dev, bell)
    names = [i.name for i in native.instructions]
    start = names.index("move")
    assert names[start : start + 3] == ["move", "cz", "move"]
    mover, resonator = native.instructions[start].locus
    assert resonator == "CR1" and native.instructions[start + 2].locus == (mover, "CR1")
    assert "CR1" in native.instructions[start + 1].locus
    np.testing.assert_allclose(final_probs(native), [0.5, 0, 0, 0.5], atol=1e-12)


@pytest.mark.parametrize("profile", ["deneb6", "vlq24"])
def test_star_device_cz_is_the_device_views_plan_whatever_the_wire_order(profile: str) -> None:
    dev = _device(profile, wires=2)
    view = q.DeviceView(dev.calibration)
    plans = []
    for wires in ([0, 1], [1, 0]):

        def cz(wires: list[int] = wires) -> Any:
            qml.CZ(wires)
            return qml.probs(wires=[0, 1])

        (native,) = _compile(dev, cz)
        a, b = (native.metadata or {})["layout"]["0"], (native.metadata or {})["layout"]["1"]
        plans.append(native.instructions[:3])
        assert native.instructions[:3] == view.cz(a, b) == view.cz(b, a)
    assert plans[0] == plans[1]


def test_layout_picks_the_best_qubit_for_a_single_wire() -> None:
    dev = _device("garnet20", wires=1)
    cal = dev.calibration

    def score(x: str) -> float:
        r0, r1 = cal.metrics.readout_error[x]
        return -math.log(cal.fidelity("prx", (x,)) or 1) - math.log(1 - (r0 + r1) / 2)

    def one() -> Any:
        qml.Hadamard(0)
        return qml.probs(wires=0)

    (native,) = _compile(dev, one)
    assert native.instructions[0].locus[0] == min(cal.qubits, key=score)


def _teleport_like() -> Any:
    qml.RY(1.1, 0)
    m = qml.measure(0)
    qml.cond(m, qml.RX)(0.7, 1)
    qml.cond(~m, qml.RY)(0.4, 2)
    qml.cond(m, qml.Rot)(0.3, 0.5, 0.9, 2)
    qml.Hadamard(1)
    qml.RZ(0.4, 1)
    qml.Hadamard(1)
    return qml.probs(wires=[0, 1, 2])


def _reset_and_z_feedback() -> Any:
    qml.RX(0.3, 1)
    qml.RZ(0.7, 1)
    qml.RY(1.3, 0)
    m = qml.measure(0, reset=True)
    qml.cond(m, qml.S)(1)
    qml.cond(m, qml.RZ)(0.9, 1)  # a Z rotation in one branch only: played as two π pulses
    qml.Hadamard(1)
    qml.CNOT([0, 2])
    return qml.probs(wires=[0, 1, 2])


def _condition_on_zero() -> Any:
    qml.Hadamard(0)
    qml.CNOT([0, 1])
    m = qml.measure(1)
    qml.cond(m == 0, qml.PauliX)(2)
    qml.cond(m, qml.T)(0)
    qml.Hadamard(0)
    return qml.probs(wires=[0, 1, 2])


@pytest.mark.parametrize("circuit", [_teleport_like, _reset_and_z_feedback, _condition_on_zero])
def test_mid_circuit_measurements_and_feedback_match_default_qubit(circuit: Callable[[], Any]) -> None:
    dev = _device("garnet20", wires=3)
    (native,) = _compile(dev, circuit)
    assert any(i.name == "cc_prx" for i in native.instructions)
    np.testing.assert_allclose(final_probs(native), _reference_probs(circuit), atol=1e-12)


def test_too_many_wires_is_a_layout_error() -> None:
    with pytest.raises(LayoutError, match="21 wires"):
        QaasDevice(wires=21, emulator="garnet20")
    dev = _device("adonis5")

    def six() -> Any:
        for w in range(6):
            qml.Hadamard(w)
        return qml.probs(wires=range(6))

    with pytest.raises(LayoutError, match="needs 6 qubits"):
        _compile(dev, six)
