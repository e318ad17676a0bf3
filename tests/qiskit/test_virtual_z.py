"""Virtual Z on Qiskit: ``rz`` costs nothing, and a run of single-qubit gates costs at most one PRX pulse.

The target offers ``u`` (one pulse) and a virtual ``rz``; the converter keeps a frame per qubit
(:class:`qaas_core.Frames`) and fuses the single-qubit gates between two other operations on a qubit into one ``prx``.
These tests check the pulse counts, the unitaries (up to the Z rotations left before the measurements), and how the
frames meet measurements, resets, feedback (``cc_prx``), MOVE sandwiches and parametric templates.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.random import random_circuit

import qaas_core as q
from qaas_qiskit import QaaSBackend
from qaas_qiskit._convert import convert_circuit
from tests.qiskit.helpers import (
    active_qubits,
    equal_up_to_output_z,
    native_operator,
    reduced_operator,
    resonator_block,
)

LEVELS = (0, 1, 2, 3)


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


def _phases(circuit: q.Circuit, name: str = "prx") -> list[float]:
    return [inst.args["phase"] for inst in circuit.instructions if inst.name == name]


@pytest.mark.parametrize("level", LEVELS)
def test_h_is_one_pulse(garnet: QaaSBackend, level: int) -> None:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    native = garnet.convert(transpile(qc, garnet, optimization_level=level, seed_transpiler=1))
    assert [inst.name for inst in native.instructions] == ["prx", "measure"]


@pytest.mark.parametrize("level", LEVELS)
def test_a_chain_of_single_qubit_gates_is_one_pulse(garnet: QaaSBackend, level: int) -> None:
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.rz(0.4, 0)
    qc.sx(0)
    qc.u(0.3, 1.1, -0.6, 0)
    tq = transpile(qc, garnet, optimization_level=level, seed_transpiler=1)
    native = garnet.convert(tq)
    assert pulses(native) == 1
    (qubit,) = active_qubits(tq)
    assert equal_up_to_output_z(
        native_operator(native, [garnet.calibration.qubits[qubit]]), reduced_operator(tq, [qubit])
    )


def test_hand_written_runs_are_fused_and_z_only_runs_cost_nothing(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(2, 2)
    qc.r(0.5, 0.2, 0)
    qc.r(1.1, -0.7, 0)
    qc.rz(0.9, 0)
    qc.r(0.3, 2.0, 0)  # three pulses with a Z between them: one
    qc.u(0.0, 0.4, 0.5, 1)  # u with θ = 0 is a Z rotation
    qc.rz(-0.2, 1)
    qc.cz(0, 1)
    qc.r(0.5, 0.2, 1)
    qc.r(-0.5, 0.2, 1)  # the identity: nothing
    qc.measure([0, 1], [0, 1])
    native = garnet.convert(qc)
    assert [inst.name for inst in native.instructions] == ["prx", "cz", "measure", "measure"]
    names = list(garnet.calibration.qubits[:2])
    unitary = qc.remove_final_measurements(inplace=False)
    assert equal_up_to_output_z(native_operator(native, names), reduced_operator(unitary, [0, 1]))


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("seed", range(3))
def test_transpiled_random_circuits_play_at_most_one_pulse_per_run(garnet: QaaSBackend, level: int, seed: int) -> None:
    qc = random_circuit(4, 12, max_operands=2, seed=100 + seed)
    tq = transpile(qc, garnet, optimization_level=level, seed_transpiler=seed)
    native = garnet.convert(tq)
    assert most_pulses_in_a_run(native) == 1
    qubits = active_qubits(tq)
    names = [garnet.calibration.qubits[i] for i in qubits]
    assert equal_up_to_output_z(native_operator(native, names), reduced_operator(tq, qubits))


def test_a_z_before_a_measurement_is_never_played_and_its_frame_goes_on(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(1, 2)
    qc.u(math.pi / 2, 0.0, math.pi, 0)  # h
    qc.rz(0.3, 0)
    qc.measure(0, 0)  # the Z before it changes no outcome: not played
    qc.r(math.pi / 2, 0.0, 0)  # after the measurement the frame still holds (as in every qaas front end)
    qc.measure(0, 1)
    native = garnet.convert(qc)
    assert [inst.name for inst in native.instructions] == ["prx", "measure", "prx", "measure"]
    h_frame = math.pi  # u(π/2, 0, π) = RZ(π) then PRX(π/2, π/2 − π): it leaves a frame of π
    assert _phases(native)[1] == pytest.approx(q.wrap_phase(0.0 - h_frame - 0.3))


def test_reset_clears_the_frame(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(1)
    qc.rz(0.4, 0)
    qc.reset(0)
    qc.r(math.pi / 2, 0.1, 0)
    assert _phases(garnet.convert(qc)) == [0.1]


def test_cc_prx_follows_the_frame_and_keeps_it(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(2, 1)
    qc.rz(0.7, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.r(math.pi / 2, 0.0, 1)
    native = garnet.convert(qc)
    assert [inst.name for inst in native.instructions] == ["measure", "cc_prx", "prx"]
    (cc,) = (inst for inst in native.instructions if inst.name == "cc_prx")
    assert cc.args["angle"] == pytest.approx(math.pi)
    assert cc.args["phase"] == pytest.approx(-0.7)  # X = PRX(π, 0), shifted by the frame
    assert _phases(native) == [pytest.approx(-0.7)]  # the frame is the same whether the cc_prx fired or not


def test_a_pending_run_is_played_before_the_feedback_pulse(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(2, 1)
    qc.sx(1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    native = garnet.convert(transpile(qc, garnet, optimization_level=0, initial_layout=[0, 1]))
    assert [inst.name for inst in native.instructions] == ["measure", "prx", "cc_prx"]


def test_frames_cross_the_move_sandwich_of_a_star_device(deneb: QaaSBackend) -> None:
    view = q.DeviceView(deneb.calibration)
    names = deneb.calibration.qubits
    route = view.cz_route(names[0], names[1])
    assert route is not None
    mover = names.index(route.mover)
    qc = QuantumCircuit(6)
    qc.rz(0.5, mover)
    qc.cz(0, 1)  # move(mover, CR1) cz(stay, CR1) move(mover, CR1): the mover's frame goes to CR1 and back
    qc.r(math.pi / 2, 0.0, mover)
    native = deneb.convert(qc)
    assert [inst.name for inst in native.instructions] == ["move", "cz", "move", "prx"]
    assert _phases(native) == [pytest.approx(-0.5)]


@pytest.mark.parametrize("seed", range(3))
def test_star_device_random_circuits_with_frames(deneb: QaaSBackend, seed: int) -> None:
    qc = random_circuit(3, 10, max_operands=2, seed=200 + seed)
    tq = transpile(qc, deneb, optimization_level=1, seed_transpiler=seed)
    native = deneb.convert(tq)
    assert most_pulses_in_a_run(native) == 1
    cal = deneb.calibration
    full = native_operator(native, cal.qubits, cal.computational_resonators)
    assert equal_up_to_output_z(resonator_block(full, len(cal.qubits)), reduced_operator(tq, list(range(6))))


def test_template_fuses_parametric_runs_per_binding(garnet: QaaSBackend) -> None:
    t, s = Parameter("t"), Parameter("s")
    qc = QuantumCircuit(2, 2)
    qc.r(t, 0.0, 0)
    qc.rz(s, 0)
    qc.r(1.0, t, 0)  # two pulses around a parametric Z: fused per binding
    qc.cz(0, 1)
    qc.r(0.4, 0.3, 0)  # its phase depends on the fused run's Z rotation
    qc.rz(2 * s - 0.5, 1)
    qc.r(t, 0.5, 1)  # one pulse behind a parametric frame
    qc.measure([0, 1], [0, 1])
    template = garnet.template(qc)
    assert template.affine
    assert template.num_slots == 3
    values = np.random.default_rng(3).uniform(-3, 3, size=(6, 2))
    names = list(garnet.calibration.qubits[:2])
    for row, circuit in zip(values, template.bind_values(values), strict=True):
        bound = qc.assign_parameters(dict(zip(template.parameters, row.tolist(), strict=True)))
        direct = garnet.convert(bound)
        assert [i.name for i in circuit.instructions] == [i.name for i in direct.instructions]
        for mine, theirs in zip(circuit.instructions, direct.instructions, strict=True):
            assert mine.locus == theirs.locus
            for key, value in theirs.args.items():
                assert mine.args[key] == (pytest.approx(value, abs=1e-12) if isinstance(value, float) else value)
        unitary = bound.remove_final_measurements(inplace=False)
        assert equal_up_to_output_z(native_operator(circuit, names), reduced_operator(unitary, [0, 1]))


def test_fuse_runs_false_plays_every_pulse_as_written(garnet: QaaSBackend) -> None:
    """Gate folding (mitiq's ZNE, G·G†·G) must reach the QPU: with ``fuse_runs=False`` each u/r is its own pulse, Z
    rotations stay virtual, and the circuit is the same unitary up to the final Z rotations."""
    qc = QuantumCircuit(1, 1)
    for _ in range(3):  # sx · sx† · sx, as a folding tool writes it
        qc.sx(0)
        qc.sxdg(0)
        qc.sx(0)
    qc.measure(0, 0)
    tq = transpile(qc, garnet, optimization_level=0)
    fused = garnet.convert(tq)
    faithful = convert_circuit(tq, garnet.tables, fuse=False)
    assert sum(i.name == "prx" for i in fused.instructions) == 1
    assert sum(i.name == "prx" for i in faithful.instructions) == sum(i.name in ("u", "r") for i in tq.data) == 9
    qubit = fused.instructions[0].locus[0]
    assert equal_up_to_output_z(native_operator(fused, [qubit]), native_operator(faithful, [qubit]))
    _, (through_run,), _ = garnet._batch(tq, None, {"fuse_runs": False})  # what run(..., fuse_runs=False) sends
    assert through_run.instructions == faithful.instructions
    with pytest.raises(q.ValidationError, match="fuse_runs"):
        garnet._batch(tq, None, {"fuse_runs": "no"})
