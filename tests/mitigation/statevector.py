"""An exact statevector of native circuits for the mitigation tests, built from the emulator simulator's own PRX matrix
(so "equivalent" here means equivalent for the simulator the end-to-end tests run on)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import qaas_core as q
from qaas_core.emulator._simulator import _prx_matrix

_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def _apply_1q(psi: np.ndarray, u: np.ndarray, axis: int, n: int) -> np.ndarray:
    t = psi.reshape((2,) * n)
    t = np.moveaxis(np.tensordot(u, t, axes=([1], [axis])), 0, axis)
    return t.reshape(-1)


def unitary(circuit: q.Circuit, qubits: Sequence[str]) -> np.ndarray:
    """The unitary of the circuit's gates on ``qubits`` (axis 0 = ``qubits[0]`` = most significant bit); ``measure``,
    ``barrier`` and ``delay`` are ignored."""
    n = len(qubits)
    columns = []
    for k in range(2**n):
        psi = np.zeros(2**n, dtype=complex)
        psi[k] = 1.0
        columns.append(run(circuit, qubits, psi))
    return np.stack(columns, axis=1)


def run(circuit: q.Circuit, qubits: Sequence[str], psi: np.ndarray | None = None) -> np.ndarray:
    """The state after the circuit's gates, from ``psi`` (default ``|0…0⟩``)."""
    n = len(qubits)
    axis = {c: j for j, c in enumerate(qubits)}
    if psi is None:
        psi = np.zeros(2**n, dtype=complex)
        psi[0] = 1.0
    psi = psi.copy()
    for inst in circuit.instructions:
        if inst.name == "prx":
            psi = _apply_1q(psi, _prx_matrix(inst.args["angle"], inst.args["phase"]), axis[inst.locus[0]], n)
        elif inst.name == "cz":
            t = psi.reshape((2,) * n).copy()
            idx: list[Any] = [slice(None)] * n
            idx[axis[inst.locus[0]]] = 1
            idx[axis[inst.locus[1]]] = 1
            t[tuple(idx)] *= -1
            psi = t.reshape(-1)
        elif inst.name in ("measure", "barrier", "delay"):
            continue
        else:
            raise ValueError(f"the test statevector does not play {inst.name}")
    return psi


def expectation(circuit: q.Circuit, pauli: str) -> float:
    """Exact ⟨pauli⟩ on the circuit's measured bits (character j on bit j) just before the measurements."""
    bits = [c for inst in circuit.instructions if inst.name == "measure" for c in inst.locus]
    qubits = list(dict.fromkeys([*circuit.components(), *bits]))
    psi = run(circuit, qubits)
    phi = psi.copy()
    for letter, c in zip(pauli, bits, strict=True):
        phi = _apply_1q(phi, _PAULI[letter], qubits.index(c), len(qubits))
    return float(np.vdot(psi, phi).real)


def same_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-9) -> bool:
    """True when ``a = e^{iχ} b``."""
    k = int(np.argmax(np.abs(b)))
    phase = a.flat[k] / b.flat[k]
    return bool(abs(abs(phase) - 1) < atol and np.allclose(a, phase * b, atol=atol))
