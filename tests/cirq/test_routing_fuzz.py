"""Every router failure is a typed error or a working fallback: the reproducer that made ``cirq.RouteCQC`` raise a
bare ``IndexError`` compiles, and random circuits through both compile modes on a lattice and a star device give a
circuit with the original's unitary (on the qubits' final positions) or a ``ConversionError`` — nothing else."""

from __future__ import annotations

import cirq
import numpy as np
import pytest

import qaas_cirq
import qaas_core as q
from tests.cross.helpers import assert_equivalent_up_to_output_phases, logical_unitary

DEVICES = {name: qaas_cirq.QaaSDevice(q.load_profile(name)) for name in ("garnet20", "deneb6")}


def native_unitary_of(compiled: qaas_cirq.CompiledCircuit, qubits: list[cirq.Qid]) -> np.ndarray:
    native = qaas_cirq.circuit_to_qaas(compiled.circuit, name="fuzz")
    name = {qid: str(compiled.initial_mapping[qid]) for qid in qubits}
    initial = {i: name[qid] for i, qid in enumerate(qubits)}
    final = {i: str(compiled.final_mapping[qid]) for i, qid in enumerate(qubits)}
    return logical_unitary(native, initial, final)


@pytest.mark.parametrize("mode", ["default", "faithful"])
@pytest.mark.parametrize("device", DEVICES)
def test_the_routecqc_crash_reproducer_compiles_right(device: str, mode: str) -> None:
    a, b, c = cirq.LineQubit.range(3)
    pairs = [(a, c), (b, c), (b, a), (a, b), (b, a), (b, a), (a, b), (b, a), (a, b)]
    body = cirq.Circuit(cirq.CNOT(x, y) for x, y in pairs)
    compiled = DEVICES[device].compile(body + cirq.Circuit(cirq.measure(b)), mode=mode)
    qubits = [a, b, c]
    assert_equivalent_up_to_output_phases(cirq.unitary(body.transform_qubits(lambda x: x)), native_unitary_of(
        compiled._replace(circuit=cirq.Circuit(op for op in compiled.circuit.all_operations()
                                               if not cirq.is_measurement(op))), qubits))  # fmt: skip


GATES_1Q = [cirq.H, cirq.X, cirq.S, cirq.T, cirq.Y**0.3, cirq.rx(0.7), cirq.PhasedXPowGate(phase_exponent=0.2)]
GATES_2Q = [cirq.CNOT, cirq.CZ, cirq.SWAP, cirq.ISWAP, cirq.CZ**0.5, cirq.XX**0.25]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", range(12))
def test_random_circuits_compile_to_their_unitary_or_a_typed_error(device: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    qubits = cirq.LineQubit.range(n)
    ops = []
    for _ in range(int(rng.integers(4, 30))):
        if rng.random() < 0.5:
            x, y = rng.choice(n, 2, replace=False)
            ops.append(GATES_2Q[rng.integers(len(GATES_2Q))](qubits[x], qubits[y]))
        else:
            ops.append(GATES_1Q[rng.integers(len(GATES_1Q))](qubits[rng.integers(n)]))
    body = cirq.Circuit(ops)
    used = sorted(body.all_qubits())
    for mode in ("default", "faithful"):
        try:
            compiled = DEVICES[device].compile(body, mode=mode)
        except qaas_cirq.ConversionError:
            continue  # a typed refusal is an accepted answer; anything else fails the test
        q.validate_circuits([qaas_cirq.circuit_to_qaas(compiled.circuit, name="fuzz")], DEVICES[device].calibration)
        assert_equivalent_up_to_output_phases(cirq.unitary(body), native_unitary_of(compiled, used))
