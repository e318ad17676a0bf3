"""Circuits given as functions of the measurement basis (``CircuitInBasis``): how a front end whose conversion keeps Z
rotations virtual renders X and Y measurements itself, so the frames left on the measured qubits are respected."""

from __future__ import annotations

import math

import pytest

import qaas_core as q
from qaas_core.mitigation import (
    CircuitInBasis,
    Fold,
    MitigationPlan,
    ObservableLike,
    Pipeline,
    ReadoutMitigation,
    Richardson,
    with_basis,
)
from tests.mitigation.helpers import GARNET, TRIANGLE, ghz
from tests.mitigation.statevector import expectation

HALF = math.pi / 2
ROTATION = {"X": -HALF, "Y": 0.0}  # the phase of PRX(π/2, ·) that turns the letter into Z (as the core's with_basis)


def framed(frame: float) -> tuple[q.Circuit, CircuitInBasis]:
    """|+⟩ on QB1 played natively, with a virtual RZ(frame) still owed (the logical state is RZ(frame)|+⟩), and the
    function that measures it in a basis the way a converter that tracks the frame does: PRX(π/2, φ − frame)."""
    body = (q.prx("QB1", HALF, HALF),)
    native = q.Circuit("framed", (*body, q.measure("QB1", key="m")))

    def in_basis(basis: str) -> q.Circuit:
        rotation = () if basis == "Z" else (q.prx("QB1", HALF, ROTATION[basis] - frame),)
        return q.Circuit("framed", (*body, *rotation, q.measure("QB1", key="m")))

    return native, in_basis


def measured_value(plan: MitigationPlan, basis_index: int) -> float:
    """Exact ⟨Z⟩ read by the plan's circuit of one basis."""
    return expectation(plan.circuits[basis_index], "Z")


def test_a_function_renders_the_bases_with_the_frame() -> None:
    native, in_basis = framed(HALF)  # the logical state is RZ(π/2)|+⟩ = |+i⟩: ⟨X⟩ = 0, ⟨Y⟩ = 1
    rendered = MitigationPlan.build([in_basis], [["X", "Y"]], pipeline=Pipeline(), calibration=GARNET)
    assert [measured_value(rendered, b) for b in (0, 1)] == pytest.approx([0.0, 1.0], abs=1e-12)
    # the core's own basis change sees only the native |+⟩ and measures the wrong axes
    plain = MitigationPlan.build([native], [["X", "Y"]], pipeline=Pipeline(), calibration=GARNET)
    assert [measured_value(plain, b) for b in (0, 1)] == pytest.approx([1.0, 0.0], abs=1e-12)


def test_a_function_is_called_once_per_basis_z_first_and_stages_apply() -> None:
    circuit = ghz(TRIANGLE, "ghz3")
    calls: list[str] = []

    def in_basis(basis: str) -> q.Circuit:
        calls.append(basis)
        return with_basis(circuit, basis)

    zne = Pipeline([Fold([1, 3]), ReadoutMitigation()], extrapolate=Richardson())
    observables: list[list[ObservableLike]] = [["XXX", {"ZZI": 1.0, "IZZ": 1.0}]]
    given = MitigationPlan.build([in_basis], observables, pipeline=zne, calibration=GARNET)
    direct = MitigationPlan.build([circuit], observables, pipeline=zne, calibration=GARNET)
    assert calls == ["ZZZ", "XXX"]
    assert [c.instructions for c in given.circuits] == [c.instructions for c in direct.circuits]
    assert [c.metadata for c in given.circuits] == [c.metadata for c in direct.circuits]


def test_a_function_must_measure_the_same_bits() -> None:
    circuit = ghz(TRIANGLE, "ghz3")

    def other_order(basis: str) -> q.Circuit:
        if basis == "ZZZ":
            return circuit
        return q.Circuit("bad", (*circuit.instructions[:-1], q.measure(*reversed(TRIANGLE), key="m")))

    with pytest.raises(q.ValidationError, match="measures"):
        MitigationPlan.build([other_order], [["XXX"]], calibration=GARNET)
    with pytest.raises(q.ValidationError, match="not a Circuit"):
        MitigationPlan.build([lambda basis: "OPENQASM 3;"], [["XXX"]], calibration=GARNET)  # type: ignore[list-item,return-value]
    with pytest.raises(q.ValidationError, match="function of the basis"):
        MitigationPlan.build([42], [["XXX"]], calibration=GARNET)  # type: ignore[list-item]
