"""Dynamic circuits in Cirq to the limit of the hardware: any single-qubit gate (Z parts included) classically
controlled by one measured bit, conditions on 1 or 0 (KeyCondition, SympyCondition), checked on the noiseless
simulator of the emulator; what the QPU cannot branch on is a typed error naming the construct."""

from __future__ import annotations

import cirq
import pytest
import sympy

import qaas_cirq
import qaas_core as q
from qaas_core.emulator import Simulator

GARNET = q.load_profile("garnet20")
A, B = cirq.NamedQubit("QB1"), cirq.NamedQubit("QB2")


def z_flip_rate(conditioned: cirq.Operation, prepare_one: bool) -> float:
    """B starts in |+>; A is measured (1 if ``prepare_one``), then ``conditioned`` acts on B, then H B is read."""
    ops = [cirq.X(A)] if prepare_one else []
    circuit = cirq.Circuit(
        [*ops, cirq.H(B), cirq.measure(A, key="a"), conditioned, cirq.H(B), cirq.measure(B, key="b")]
    )
    native = qaas_cirq.circuit_to_qaas(qaas_cirq.QaaSDevice(GARNET).compile(circuit, mode="faithful").circuit)
    q.validate_circuits([native], GARNET)
    bits = Simulator(GARNET, noise=False).run(native, 300, seed=2).measurements["b"][:, 0]
    return float(bits.mean())


CONDITIONS = {
    "key": (cirq.KeyCondition(cirq.MeasurementKey("a")), (False, True)),
    "equals 1": (cirq.SympyCondition(sympy.Eq(sympy.Symbol("a"), 1)), (False, True)),
    "equals 0": (cirq.SympyCondition(sympy.Eq(sympy.Symbol("a"), 0)), (True, False)),
    "not": (cirq.SympyCondition(sympy.Not(sympy.Symbol("a"))), (True, False)),
}


@pytest.mark.parametrize("gate", [cirq.Z, cirq.S**2, cirq.T**4, cirq.ZPowGate(exponent=1, global_shift=0.3),
                                  cirq.PhasedXZGate(x_exponent=0, z_exponent=1, axis_phase_exponent=0.2),
                                  cirq.MatrixGate(cirq.unitary(cirq.H) @ cirq.unitary(cirq.X) @ cirq.unitary(cirq.H))],
                         ids=["Z", "S^2", "T^4", "Z shifted", "PhasedXZ z=1", "HXH matrix"])  # fmt: skip
@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_conditioned_z_flips_exactly_on_its_branch(gate: cirq.Gate, condition: str) -> None:
    control, (on0, on1) = CONDITIONS[condition]
    op = gate.on(B).with_classical_controls(control)
    assert z_flip_rate(op, prepare_one=True) == (1.0 if on1 else 0.0)
    assert z_flip_rate(op, prepare_one=False) == (1.0 if on0 else 0.0)


def test_the_native_pulses_of_a_conditioned_t() -> None:
    circuit = cirq.Circuit(cirq.measure(A, key="a"), cirq.T(B).with_classical_controls("a"), cirq.measure(B, key="b"))
    native = qaas_cirq.circuit_to_qaas(circuit)
    pulses = [i for i in native.instructions if i.name == "cc_prx"]
    assert [i.args["angle"] for i in pulses] == pytest.approx([3.141592653589793] * 2)  # the Z pair, no PRX
    assert {i.args["feedback_key"] for i in pulses} == {"a"} and native.instructions[0].args["feedback_key"] == "a"


@pytest.mark.parametrize(
    ("op", "fragment"),
    [
        (cirq.CZ(A, B).with_classical_controls("a"), "single-qubit"),
        (cirq.X(B).with_classical_controls(cirq.SympyCondition(sympy.Symbol("a") + sympy.Symbol("c") > 1)),
         "one condition on one single-qubit measurement"),
        (cirq.X(B).with_classical_controls("a", "c"), "one condition on one single-qubit measurement"),
        (cirq.rz(sympy.Symbol("t")).on(B).with_classical_controls("a"), "fixed unitary"),
    ],
)  # fmt: skip
def test_what_the_qpu_cannot_branch_on_is_named(op: cirq.Operation, fragment: str) -> None:
    circuit = cirq.Circuit(cirq.measure(A, key="a"), cirq.measure(cirq.NamedQubit("QB4"), key="c"), op,
                           cirq.measure(B, key="b"))  # fmt: skip
    with pytest.raises(qaas_cirq.ConversionError, match=fragment):
        qaas_cirq.circuit_to_qaas(circuit)
