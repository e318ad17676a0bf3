"""Helpers shared by the qaas-cirq tests: native circuits back to Cirq, and unitary comparisons."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

import cirq
import numpy as np

import qaas_core as q
from qaas_cirq import MoveGate

RESONATOR_PREFIXES = ("CR", "COMP_R", "COMPR")


def qid(name: str) -> cirq.Qid:
    """The Cirq qid the device uses for a component name."""
    if name.startswith(RESONATOR_PREFIXES):
        return cirq.NamedQid(name, dimension=2)
    return cirq.NamedQubit(name)


def native_to_cirq(circuit: q.Circuit) -> cirq.Circuit:
    """An IQM native circuit as a Cirq circuit (prx -> PhasedXPowGate, cc_prx -> classically controlled)."""
    ops: list[cirq.Operation] = []
    for inst in circuit.instructions:
        qs = [qid(c) for c in inst.locus]
        a = inst.args
        if inst.name == "prx":
            ops.append(cirq.PhasedXPowGate(phase_exponent=a["phase"] / np.pi, exponent=a["angle"] / np.pi)(*qs))
        elif inst.name == "cc_prx":
            gate = cirq.PhasedXPowGate(phase_exponent=a["phase"] / np.pi, exponent=a["angle"] / np.pi)
            ops.append(gate(*qs).with_classical_controls(a["feedback_key"]))
        elif inst.name == "cz":
            ops.append(cirq.CZ(*qs))
        elif inst.name == "move":
            ops.append(MoveGate()(*qs))
        elif inst.name == "measure":
            ops.append(cirq.measure(*qs, key=a["key"]))
        elif inst.name == "reset":
            ops.extend(cirq.ResetChannel()(x) for x in qs)
        elif inst.name == "delay":
            ops.append(cirq.WaitGate(cirq.Duration(nanos=a["duration"] * 1e9), num_qubits=len(qs))(*qs))
        else:
            raise AssertionError(f"unexpected {inst.name}")
    return cirq.Circuit(ops)


def assert_equal_up_to_output_z(expected: np.ndarray, actual: np.ndarray, atol: float = 1e-7) -> None:
    """``expected = D · actual`` (up to global phase) with ``D`` a product of single-qubit Z rotations."""
    m = expected @ actual.conj().T
    diagonal = np.diag(m)
    np.testing.assert_allclose(np.abs(m - np.diag(diagonal)).max(), 0.0, atol=atol)
    np.testing.assert_allclose(np.abs(diagonal), 1.0, atol=atol)
    dim = len(diagonal)
    n = dim.bit_length() - 1
    ref = diagonal[0]
    alphas = [np.angle(diagonal[1 << (n - 1 - j)] / ref) for j in range(n)]
    for index in range(dim):
        phase = sum(alphas[j] for j in range(n) if index >> (n - 1 - j) & 1)
        np.testing.assert_allclose(diagonal[index], ref * np.exp(1j * phase), atol=atol * 10)


def assert_routed_equivalent(
    original: cirq.Circuit,
    compiled: cirq.Circuit,
    initial: Mapping[cirq.Qid, cirq.Qid],
    final: Mapping[cirq.Qid, cirq.Qid],
    seed: int,
) -> None:
    """The compiled circuit maps a random logical input state like the original, with the logical qubits moved from
    their initial to their final device positions (other device qubits start and end in |0>)."""
    logical = sorted(original.all_qubits())
    physical = sorted(set(compiled.all_qubits()) | set(initial.values()) | set(final.values()))
    prep = cirq.MatrixGate(cirq.testing.random_unitary(2 ** len(logical), random_state=seed))
    ours = cirq.Circuit(prep(*(initial[x] for x in logical)), compiled)
    reference = cirq.Circuit(prep(*logical), original).transform_qubits(lambda x: final[x])
    state = cirq.final_state_vector(ours, qubit_order=physical, ignore_terminal_measurements=True)
    expected = cirq.final_state_vector(reference, qubit_order=physical, ignore_terminal_measurements=True)
    assert cirq.allclose_up_to_global_phase(state, expected, atol=1e-6)


def result_document(
    name_bits: Sequence[tuple[str, Mapping[str, np.ndarray]]], *, submission_id: str = "sub-1"
) -> q.Result:
    """A qaas Result holding the given per-key bit matrices (as the worker packs them)."""
    circuits = []
    for name, bits in name_bits:
        shots = next(iter(bits.values())).shape[0] if bits else 0
        memory = {
            key: base64.b64encode(np.packbits(np.asarray(b, dtype=np.uint8), axis=None).tobytes()).decode()
            for key, b in bits.items()
        }
        keys = {key: int(np.asarray(b).shape[1]) for key, b in bits.items()}
        circuits.append(q.CircuitResult(name, shots, keys, memory=memory))
    doc = q.ResultDocument(
        schema="qaas.result/1",
        submission_id=submission_id,
        status="completed",
        iqm_job_id="iqm-1",
        calibration_set_id="cal-1",
        circuits=tuple(circuits),
    )
    return q.Result(q.decode_result(q.encode_result(doc)), heappe_job_id=7)
