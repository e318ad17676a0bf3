"""QuantumCircuit → qaas_core.Circuit without a server: wire output, unitaries, feedback, templates, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import RGate
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Operator

import qaas_core as q
from qaas_qiskit import QaaSBackend
from tests.qiskit.helpers import (
    active_qubits,
    equal_up_to_output_z,
    native_operator,
    reduced_operator,
    resonator_block,
)


def _rz(a: float) -> np.ndarray:
    return np.diag([np.exp(-0.5j * a), np.exp(0.5j * a)])


def _rx(a: float) -> np.ndarray:
    return np.array([[math.cos(a / 2), -1j * math.sin(a / 2)], [-1j * math.sin(a / 2), math.cos(a / 2)]])


@pytest.mark.parametrize(("theta", "phi"), [(0.7, 1.3), (math.pi, -0.4), (-2.1, 5.0), (0.0, 2.0)])
def test_r_gate_is_prx(theta: float, phi: float) -> None:
    # PRX(θ, φ) = RZ(φ)·RX(θ)·RZ(−φ) (IQM's definition) equals Qiskit's R(θ, φ) exactly, not only up to phase
    assert np.allclose(RGate(theta, phi).to_matrix(), _rz(phi) @ _rx(theta) @ _rz(-phi), atol=1e-12)


def test_exact_wire_output(garnet: QaaSBackend) -> None:
    qr, a, b = QuantumRegister(3, "q"), ClassicalRegister(2, "a"), ClassicalRegister(1, "b")
    qc = QuantumCircuit(qr, a, b, name="wire")
    qc.r(0.5, 0.25, 0)
    qc.cz(0, 1)
    qc.barrier(0, 1)
    qc.delay(120, 2, unit="ns")
    qc.delay(30, 2)  # dt = 1 ns
    qc.id(2)
    qc.reset(2)
    qc.measure(0, b[0])
    qc.measure(1, a[0])
    qc.measure(2, a[0])  # re-measurement of clbit 0: a second key, the last write wins
    data = json.loads(q.encode_circuits([garnet.convert(qc)]))
    assert data == [
        {
            "name": "wire",
            "instructions": [
                {"name": "prx", "locus": ["QB1"], "args": {"angle": 0.5, "phase": 0.25}, "implementation": None},
                {"name": "cz", "locus": ["QB1", "QB2"], "args": {}, "implementation": None},
                {"name": "barrier", "locus": ["QB1", "QB2"], "args": {}, "implementation": None},
                {"name": "delay", "locus": ["QB3"], "args": {"duration": 1.2e-07}, "implementation": None},
                {"name": "delay", "locus": ["QB3"], "args": {"duration": 3e-08}, "implementation": None},
                {"name": "reset", "locus": ["QB3"], "args": {}, "implementation": None},
                {"name": "measure", "locus": ["QB1"], "args": {"key": "m2"}, "implementation": None},
                {"name": "measure", "locus": ["QB2"], "args": {"key": "m0"}, "implementation": None},
                {"name": "measure", "locus": ["QB3"], "args": {"key": "m0_1"}, "implementation": None},
            ],
            "metadata": {
                "qiskit": {
                    "name": "wire",
                    "qregs": [["q", 3]],
                    "cregs": [["a", 2], ["b", 1]],
                    "clbits": 3,
                    "global_phase": 0.0,
                }
            },
        }
    ]
    q.validate_circuits([garnet.convert(qc)], garnet.calibration)


def test_json_metadata_travels_and_other_metadata_stays_home(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(1, 1, metadata={"experiment": "t1", "delays": [1, 2]})
    qc.measure(0, 0)
    assert garnet.convert(qc).metadata["qiskit"]["metadata"] == {"experiment": "t1", "delays": [1, 2]}
    qc.metadata = {"obj": object()}
    assert "metadata" not in garnet.convert(qc).metadata["qiskit"]


@pytest.mark.parametrize("seed", range(6))
def test_transpiled_and_converted_circuits_have_the_same_unitary(garnet: QaaSBackend, seed: int) -> None:
    qc = random_circuit(4, 6, max_operands=2, seed=seed)
    tq = transpile(qc, garnet, optimization_level=1, seed_transpiler=seed)
    assert set(tq.count_ops()) <= {"u", "rz", "cz", "barrier"}
    native = garnet.convert(tq)
    qubits = active_qubits(tq)
    names = [garnet.calibration.qubits[i] for i in qubits]
    assert {c for i in native.instructions for c in i.locus} <= set(names)
    assert equal_up_to_output_z(native_operator(native, names), reduced_operator(tq, qubits))


@pytest.mark.parametrize("seed", range(4))
def test_star_device_expands_virtual_cz_into_move_sandwiches(deneb: QaaSBackend, seed: int) -> None:
    qc = random_circuit(4, 5, max_operands=2, seed=10 + seed)
    tq = transpile(qc, deneb, optimization_level=1, seed_transpiler=seed)
    native = deneb.convert(tq)
    q.validate_circuits([native], deneb.calibration, move_gate_validation="strict")
    cal = deneb.calibration
    for k, inst in enumerate(native.instructions):
        if inst.name == "cz":  # every cz involves the resonator, between two moves of one other qubit
            qubit, resonator = inst.locus
            assert resonator in cal.computational_resonators
            before, after = native.instructions[k - 1], native.instructions[k + 1]
            assert before == after and before.name == "move" and before.locus[1] == resonator
            assert before.locus[0] != qubit
    qubits = list(range(len(cal.qubits)))
    full = native_operator(native, cal.qubits, cal.computational_resonators)
    assert equal_up_to_output_z(resonator_block(full, len(cal.qubits)), reduced_operator(tq, qubits))


def test_star_device_cz_is_the_device_views_plan_whatever_the_operand_order(deneb: QaaSBackend) -> None:
    view = q.DeviceView(deneb.calibration)
    for a, b in [(0, 1), (1, 0), (4, 2), (5, 0)]:
        qc = QuantumCircuit(6)
        qc.cz(a, b)
        native = deneb.convert(qc)
        names = deneb.calibration.qubits
        assert native.instructions == view.cz(names[a], names[b]) == view.cz(names[b], names[a])
        route = view.cz_route(names[a], names[b])
        assert route is not None and route.stay == names[min(a, b)]  # equal figures: the earlier qubit stays


def test_star_device_target_prices_the_whole_sandwich(deneb: QaaSBackend) -> None:
    cal = deneb.calibration
    props = deneb.target["cz"][(0, 1)]
    r = cal.resonator_for("QB1", "QB2")
    assert r == "CR1"
    expected = 2 * cal.duration("move", ("QB2", r)) + cal.duration("cz", ("QB1", r))
    assert props.duration == pytest.approx(expected)
    assert props.error == pytest.approx(cal.error("cz", ("QB1", "QB2")))
    assert deneb.target["cz"][(1, 0)] == props


def test_if_test_becomes_measure_with_feedback_and_cc_prx(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
        qc.ry(0.4, 2)
        qc.rx(0.3, 2)  # ry then rx on one qubit: not a single PRX, a Z part too: played with two more pulses
    qc.measure(1, 1)
    mixed = garnet.convert(transpile(qc, garnet, seed_transpiler=1))
    q.validate_circuits([mixed], garnet.calibration)
    assert sum(1 for i in mixed.instructions if i.name == "cc_prx") == 1 + 3  # X; RX·RY = PRX + a conditioned Z pair

    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
        qc.ry(0.4, 2)
        qc.ry(0.3, 2)
    qc.measure(1, 1)
    tq = transpile(qc, garnet, seed_transpiler=1)
    native = garnet.convert(tq)
    names = [i.name for i in native.instructions]
    measure = native.instructions[names.index("measure")]
    assert measure.args == {"key": "m0", "feedback_key": "m0"}
    cc = [i for i in native.instructions if i.name == "cc_prx"]
    assert len(cc) == 2
    for inst in cc:
        assert inst.args["feedback_key"] == "m0"
        assert inst.args["feedback_qubit"] == measure.locus[0]
    by_qubit = {i.locus[0]: i for i in cc}
    # the conditioned gates, up to global phase: X = PRX(π, 0), RY(0.7) = PRX(0.7, π/2)
    layout = tq.layout.final_index_layout()
    x_qubit, ry_qubit = (garnet.calibration.qubits[layout[i]] for i in (1, 2))
    x_angles = (by_qubit[x_qubit].args["angle"], by_qubit[x_qubit].args["phase"])
    ry_angles = (by_qubit[ry_qubit].args["angle"], by_qubit[ry_qubit].args["phase"])
    assert Operator(RGate(*x_angles)).equiv(Operator.from_label("X"))
    assert Operator(RGate(*ry_angles)).equiv(Operator(RGate(0.7, math.pi / 2)))
    q.validate_circuits([native], garnet.calibration)


def test_condition_forms_on_one_bit(garnet: QaaSBackend) -> None:
    from qiskit.circuit.classical import expr

    single = ClassicalRegister(1, "flag")
    for condition in ("bit", "register", "expr"):
        qc = QuantumCircuit(QuantumRegister(2), ClassicalRegister(1, "c"), single)
        qc.measure(0, single[0])
        cond = {"bit": (single[0], 1), "register": (single, 1), "expr": expr.lift(single[0])}[condition]
        with qc.if_test(cond):
            qc.r(math.pi, 0.0, 1)
        native = garnet.convert(qc)
        assert [i.name for i in native.instructions] == ["measure", "cc_prx"], condition
        assert native.instructions[1].args["feedback_key"] == "m1"


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda qc: qc.h(0), r"operation 'h' is not native.*transpile"),
        (lambda qc: qc.r(Parameter("t"), 0.0, 0), r"unbound parameter\(s\) t"),
        (lambda qc: qc.cz(0, 2), r"cz\(QB1, QB3\): the qubits are not coupled"),
        (lambda qc: qc.delay(Parameter("d"), 0), "delay"),
    ],
)
def test_bad_circuits_name_the_instruction(garnet: QaaSBackend, build: object, match: str) -> None:
    qc = QuantumCircuit(3, 1, name="bad")
    qc.r(0.1, 0.2, 1)
    build(qc)  # type: ignore[operator]
    with pytest.raises(q.CircuitError, match=match) as info:
        garnet.convert(qc)
    assert info.value.circuit == "bad"
    assert info.value.index == 1


def test_qubits_outside_the_target(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(21, 1)
    qc.measure(20, 0)
    with pytest.raises(q.CircuitError, match="21 qubits, the QPU 20"):
        garnet.convert(qc)


def test_unsupported_control_flow(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(2, 2)
    qc.measure(0, 0)
    with qc.while_loop((qc.clbits[0], 1)):
        qc.r(math.pi, 0, 0)
        qc.measure(0, 0)
    with pytest.raises(q.CircuitError, match="control flow 'while_loop' is not supported"):
        garnet.convert(qc)


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("register", "is not supported"),
        ("two-qubit body", "single-qubit gates only"),
        ("unmeasured", "not measured before"),
    ],
)
def test_unsupported_feedback(garnet: QaaSBackend, case: str, match: str) -> None:
    qc = QuantumCircuit(3, 2)
    if case != "unmeasured":
        qc.measure(0, 0)
        qc.measure(1, 1)
    condition = {"register": (qc.cregs[0], 3)}.get(case, (qc.clbits[0], 1))
    with qc.if_test(condition):
        if case == "two-qubit body":
            qc.cz(1, 2)
        else:
            qc.r(math.pi, 0, 2)
    with pytest.raises(q.CircuitError, match=match):
        garnet.convert(qc)


def _ansatz() -> QuantumCircuit:
    theta = ParameterVector("θ", 6)
    qc = QuantumCircuit(3)
    for i in range(3):
        qc.ry(theta[i], i)
        qc.rz(2 * theta[3 + i] - 0.5, i)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.rx(theta[0] + theta[5] / 3, 2)
    qc.measure_all()
    return qc


def test_template_binding_equals_binding_then_converting(garnet: QaaSBackend) -> None:
    tq = transpile(_ansatz(), garnet, optimization_level=1, seed_transpiler=3)
    template = garnet.template(tq)
    assert template.affine
    assert template.num_slots > 0
    rng = np.random.default_rng(5)
    values = rng.uniform(-3, 3, size=(4, len(template.parameters)))
    bound = template.bind_values(values)
    for row, circuit in zip(values, bound, strict=True):
        expected = garnet.convert(tq.assign_parameters(dict(zip(template.parameters, row, strict=True))))
        layout = ("qregs", "cregs", "clbits")
        assert [circuit.metadata["qiskit"][k] for k in layout] == [expected.metadata["qiskit"][k] for k in layout]
        assert [i.name for i in circuit.instructions] == [i.name for i in expected.instructions]
        for mine, theirs in zip(circuit.instructions, expected.instructions, strict=True):
            assert mine.locus == theirs.locus
            for key, value in theirs.args.items():
                assert mine.args[key] == pytest.approx(value, abs=1e-12) if isinstance(value, float) else value
                assert type(mine.args[key]) is type(value)
    q.validate_circuits(bound, garnet.calibration)


def _sizable(bound: float) -> st.SearchStrategy[float]:
    # Qiskit 2.6 itself evaluates c·t wrongly for |c·t| below ~1e-14 ((2.0 * t).bind({t: 1e-15}) gives 1e-15), so
    # the direct path is only a reference for products above that
    return st.one_of(st.just(0.0), st.floats(1e-6, bound), st.floats(-bound, -1e-6))


@settings(max_examples=80, deadline=None)
@given(form=st.tuples(_sizable(20.0), _sizable(20.0), _sizable(20.0), _sizable(20.0)), value=_sizable(10.0))
def test_template_binding_is_binding_then_converting_bit_for_bit(
    garnet: QaaSBackend, form: tuple[float, float, float, float], value: float
) -> None:
    t = Parameter("t")
    a, b, c, d = form
    qc = QuantumCircuit(2, 1)
    qc.r(a * t + b, c * t + d, 0)  # phases beyond ±π are wrapped alike on both paths
    qc.cz(0, 1)
    qc.r(1.0, t, 1)
    qc.measure(0, 0)
    (templated,) = garnet.template(qc).bind([{t: value}])
    direct = garnet.convert(qc.assign_parameters({t: value}))
    assert templated.instructions == direct.instructions  # every float equal, not only close
    for inst in templated.instructions:
        if inst.name == "prx":
            assert type(inst.args["angle"]) is type(inst.args["phase"]) is float
            assert q.wrap_phase(inst.args["phase"]) == inst.args["phase"]


def test_direct_conversion_wraps_phases_into_the_canonical_range(garnet: QaaSBackend) -> None:
    phases = []
    for phase in (5.0, -7.0, math.pi):
        qc = QuantumCircuit(1)
        qc.r(0.5, phase, 0)
        phases += [i.args["phase"] for i in garnet.convert(qc).instructions]
    assert phases == [5.0 - 2 * math.pi, -7.0 + 2 * math.pi, math.pi]


def test_template_falls_back_for_non_affine_parameters(garnet: QaaSBackend) -> None:
    t = Parameter("t")
    qc = QuantumCircuit(1, 1)
    qc.r(t * t, 0.0, 0)
    qc.measure(0, 0)
    template = garnet.template(qc)
    assert not template.affine
    (circuit,) = template.bind([{t: 1.5}])
    assert circuit.instructions[0].args == {"angle": 2.25, "phase": 0.0}

    d = Parameter("d")
    qc = QuantumCircuit(1, 1)
    qc.delay(d, 0, unit="ns")
    qc.measure(0, 0)
    template = garnet.template(qc)
    assert not template.affine
    assert [c.instructions[0].args["duration"] for c in template.bind([{d: [100.0, 20.0]}])] == [1e-07, 2e-08]


def test_binding_forms_and_errors(garnet: QaaSBackend) -> None:
    a, b = Parameter("a"), Parameter("b")
    v = ParameterVector("v", 2)
    qc = QuantumCircuit(1, 1)
    qc.r(a + v[0], b + v[1], 0)
    qc.measure(0, 0)
    template = garnet.template(qc)
    circuits = template.bind(
        [
            {a: 0.1, "b": 0.2, v: [1.0, 2.0]},  # by object, by name, whole vector
            {a: [0.0, 1.0], b: [0.0, 0.5], v[0]: [0.0, 0.0], v[1]: [0.0, 0.0]},  # Aer style: two bindings
        ]
    )
    angles = [(c.instructions[0].args["angle"], c.instructions[0].args["phase"]) for c in circuits]
    assert angles == [pytest.approx((1.1, 2.2)), (0.0, 0.0), (1.0, 0.5)]
    with pytest.raises(q.ValidationError, match="no value for parameter"):
        template.bind([{a: 1.0}])
    with pytest.raises(q.ValidationError, match="finite"):
        template.bind([{a: math.nan, b: 0, v: [0, 0]}])
    with pytest.raises(q.ValidationError, match="not a number"):
        template.bind([{a: "x", b: 0, v: [0, 0]}])
    with pytest.raises(q.ValidationError, match="equal-length"):
        template.bind([{a: [1.0, 2.0], b: [1.0], v: [0, 0]}])
