"""Dynamic circuits in Qiskit to the limit of the hardware: ``if_test`` / ``if_else`` on one measured clbit in every
spelling (tuple, ``expr.lift``, ``expr.logic_not``, ``expr.equal`` with True or False), bodies with any single-qubit
gates (Z parts included) and else branches, each checked on the noiseless simulator of the emulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Clbit
from qiskit.circuit.classical import expr

import qaas_core as q
from qaas_core.emulator import Simulator
from qaas_qiskit import QaaSBackend

Body = Callable[[QuantumCircuit], None]


def z(qc: QuantumCircuit) -> None:
    qc.z(1)


def nothing(qc: QuantumCircuit) -> None:
    qc.id(1)


CONDITIONS: dict[str, tuple[Callable[[Clbit], object], int]] = {
    "tuple 1": (lambda bit: (bit, 1), 1),
    "tuple 0": (lambda bit: (bit, 0), 0),
    "tuple False": (lambda bit: (bit, False), 0),
    "lift": (expr.lift, 1),
    "not": (expr.logic_not, 0),
    "equal True": (lambda bit: expr.equal(bit, True), 1),
    "equal False": (lambda bit: expr.equal(bit, False), 0),
    "not equal True": (lambda bit: expr.not_equal(bit, True), 0),
}
BODIES: dict[str, Body] = {
    "z": z,
    "s s": lambda qc: (qc.s(1), qc.s(1)),
    "t x4": lambda qc: [qc.t(1) for _ in range(4)],
    "p(pi)": lambda qc: qc.p(3.141592653589793, 1),
    "rz(pi)": lambda qc: qc.rz(3.141592653589793, 1),
    "h x h": lambda qc: (qc.h(1), qc.x(1), qc.h(1)),
}


def flip_rate(backend: QaaSBackend, build: Callable[[QuantumCircuit], None], one: bool) -> float:
    """Qubit 1 starts in |+>; qubit 0 is measured (1 if ``one``); ``build`` adds the conditional; H then read 1."""
    qc = QuantumCircuit(2, 2)
    if one:
        qc.x(0)
    qc.h(1)
    qc.measure(0, 0)
    build(qc)
    qc.h(1)
    qc.measure(1, 1)
    native = backend.convert(transpile(qc, backend, seed_transpiler=5, optimization_level=1))
    q.validate_circuits([native], backend.calibration)
    bits = Simulator(backend.calibration, noise=False).run(native, 300, seed=4).measurements["m1"][:, 0]
    return float(bits.mean())


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("condition", CONDITIONS)
def test_conditioned_z_on_every_condition(garnet: QaaSBackend, condition: str, body: str) -> None:
    make, value = CONDITIONS[condition]

    def build(qc: QuantumCircuit) -> None:
        with qc.if_test(make(qc.clbits[0])):  # type: ignore[arg-type]
            BODIES[body](qc)

    assert flip_rate(garnet, build, one=True) == (1.0 if value == 1 else 0.0)
    assert flip_rate(garnet, build, one=False) == (1.0 if value == 0 else 0.0)


@pytest.mark.parametrize(("then", "otherwise", "on1", "on0"), [(z, nothing, 1.0, 0.0), (nothing, z, 0.0, 1.0),
                                                                 (z, z, 1.0, 1.0)])  # fmt: skip
def test_else_branches(garnet: QaaSBackend, then: Body, otherwise: Body, on1: float, on0: float) -> None:
    def build(qc: QuantumCircuit) -> None:
        with qc.if_test((qc.clbits[0], 1)) as other:
            then(qc)
        with other:
            otherwise(qc)

    assert flip_rate(garnet, build, one=True) == on1
    assert flip_rate(garnet, build, one=False) == on0


def test_star_device_feedback(deneb: QaaSBackend) -> None:
    def build(qc: QuantumCircuit) -> None:
        with qc.if_test(expr.lift(qc.clbits[0])):
            qc.t(1)
            qc.t(1)
            qc.s(1)

    assert flip_rate(deneb, build, one=True) == 1.0
    assert flip_rate(deneb, build, one=False) == 0.0
