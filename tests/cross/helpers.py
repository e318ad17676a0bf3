"""Shared helpers of the cross-framework tests: unitaries of native circuits, and the statistical tests.

Unitaries are **big-endian**: in a matrix over components ``(c0, c1, …)``, ``c0`` is the most significant bit (as
in Cirq and PennyLane; Qiskit's little-endian operators are reversed before comparison).

Statistics: Pearson chi-square with the Wilson–Hilferty normal approximation of the chi-square upper tail (no
scipy needed, accurate to a few percent of ``p`` far into the tail). Cells with small expected counts are pooled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

import qaas_core as q

__all__ = [
    "assert_equivalent_up_to_output_phases",
    "chi2_sf",
    "goodness_of_fit_pvalue",
    "homogeneity_pvalue",
    "logical_unitary",
    "native_unitary",
    "outcome_vector",
]

_PRX_FREE = ("barrier", "measure")


def _prx(angle: float, phase: float) -> np.ndarray:
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return np.array([[c, -1j * np.exp(-1j * phase) * s], [-1j * np.exp(1j * phase) * s, c]])


_CZ = np.diag([1.0, 1.0, 1.0, -1.0]).astype(complex).reshape(2, 2, 2, 2)
_SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]].reshape(2, 2, 2, 2)


def native_unitary(circuit: q.Circuit, components: Sequence[str]) -> np.ndarray:
    """The unitary of a ``prx``/``cz``/``move`` circuit over ``components`` (big-endian).

    ``move`` is an ideal SWAP of the qubit and resonator states (what it does when the resonator holds ``|0>``, as
    the emulator models it); measurements and barriers are ignored, anything else is an error.
    """
    n = len(components)
    axis = {name: i for i, name in enumerate(components)}
    u = np.eye(2**n, dtype=complex).reshape((2,) * n + (2**n,))
    for inst in circuit.instructions:
        if inst.name in _PRX_FREE:
            continue
        wires = [axis[c] for c in inst.locus]
        if inst.name == "prx":
            gate = _prx(inst.args["angle"], inst.args["phase"])
            u = np.moveaxis(np.tensordot(gate, u, axes=([1], wires)), 0, wires[0])
        elif inst.name in ("cz", "move"):
            gate = _CZ if inst.name == "cz" else _SWAP
            u = np.moveaxis(np.tensordot(gate, u, axes=([2, 3], wires)), [0, 1], wires)
        else:
            raise AssertionError(f"{inst.name} has no unitary (circuit {circuit.name})")
    return u.reshape(2**n, 2**n)


def logical_unitary(
    circuit: q.Circuit, initial: Mapping[int, str], final: Mapping[int, str], *, tol: float = 1e-8
) -> np.ndarray:
    """The unitary a native circuit applies to logical qubits ``0 … n-1`` (big-endian, qubit 0 most significant).

    Logical qubit ``i`` starts on component ``initial[i]`` and ends on ``final[i]`` (the compiler's layout and
    routing). Every other component the circuit touches (routing ancillas, resonators) starts in ``|0>`` and must
    end in a state that does not depend on the input — not entangled with the logical qubits, e.g. an ancilla that
    a compiler leaves in ``|+>`` by dropping a trailing gate on an unmeasured qubit. The result is then a unitary up
    to a global phase; anything else (leakage, entanglement with an ancilla) fails here.
    """
    n = len(initial)
    logical_end = [final[i] for i in range(n)]
    components = sorted(set(circuit.components()) | set(initial.values()) | set(logical_end))
    ancillas = [c for c in components if c not in logical_end]
    k, a = len(components), len(ancillas)
    u = native_unitary(circuit, components).reshape((2,) * k + (2**k,))
    position = {c: k - 1 - i for i, c in enumerate(components)}  # bit weight of each component in a column index
    inputs = [sum(1 << position[initial[i]] for i in range(n) if (x >> (n - 1 - i)) & 1) for x in range(2**n)]
    axes = [components.index(c) for c in (*logical_end, *ancillas)]
    block = np.transpose(u[..., inputs], (*axes, k)).reshape(2**n, 2**a, 2**n)  # (logical out, ancillas, in)
    left, singular, _ = np.linalg.svd(block.transpose(0, 2, 1).reshape(4**n, 2**a), full_matrices=False)
    entangled = singular[1] / singular[0] if a else 0.0
    assert entangled < tol, f"{circuit.name}: the ancillas/resonators end entangled with the logical qubits"
    v: np.ndarray = (singular[0] * left[:, 0]).reshape(2**n, 2**n)
    leak = np.max(np.abs(v.conj().T @ v - np.eye(2**n)))
    assert leak < tol, f"{circuit.name}: not unitary on the logical qubits (deviation {leak:.2e})"
    return v


def assert_equivalent_up_to_output_phases(u_ref: np.ndarray, u: np.ndarray, *, tol: float = 1e-8) -> None:
    """``u_ref = D·u`` for a diagonal unitary ``D`` (a global phase and Z phases before measurement)."""
    m = u_ref @ u.conj().T
    off = np.max(np.abs(m - np.diag(np.diag(m))))
    assert off < tol, f"not equivalent: off-diagonal of U_ref·U^† up to {off:.2e}"
    assert np.allclose(np.abs(np.diag(m)), 1.0, atol=tol), "U_ref·U^† is not unitary-diagonal"


def chi2_sf(stat: float, dof: int) -> float:
    """Upper tail ``P(X >= stat)`` of a chi-square with ``dof`` degrees of freedom (Wilson–Hilferty)."""
    if dof <= 0:
        return 1.0
    z = ((stat / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def outcome_vector(values: Mapping[str, float], width: int) -> np.ndarray:
    """Counts (or probabilities) by bitstring as a vector over all ``2**width`` outcomes, indexed by the bitstring
    read as a binary number (leftmost character = most significant bit)."""
    out = np.zeros(2**width)
    for bits, n in values.items():
        assert len(bits) == width, f"bitstring {bits!r} does not have {width} bits"
        out[int(bits, 2)] += n
    return out


def goodness_of_fit_pvalue(observed: np.ndarray, probabilities: np.ndarray, *, min_expected: float = 5.0) -> float:
    """Pearson chi-square goodness of fit of ``observed`` counts to exact ``probabilities``.

    An outcome that cannot happen (probability below 1e-12) but was observed gives ``p = 0``. Outcomes whose
    expected count is below ``min_expected`` are pooled into one cell.
    """
    total = observed.sum()
    impossible = probabilities < 1e-12
    if observed[impossible].sum() > 0:
        return 0.0
    obs, exp = observed[~impossible], total * probabilities[~impossible] / probabilities[~impossible].sum()
    small = exp < min_expected
    if small.any():
        obs = np.append(obs[~small], obs[small].sum())
        exp = np.append(exp[~small], exp[small].sum())
    stat = float(((obs - exp) ** 2 / exp).sum())
    return chi2_sf(stat, len(obs) - 1)


def homogeneity_pvalue(a: np.ndarray, b: np.ndarray, *, min_total: float = 10.0) -> float:
    """Two-sample chi-square homogeneity test of two histograms over the same outcomes (sizes may differ).

    Outcomes seen fewer than ``min_total`` times in both samples together are pooled into one cell.
    """
    keep = (a + b) >= min_total
    a2, b2 = np.append(a[keep], a[~keep].sum()), np.append(b[keep], b[~keep].sum())
    total = a2 + b2
    mask = total > 0
    a2, b2, total = a2[mask], b2[mask], total[mask]
    ea, eb = total * a2.sum() / total.sum(), total * b2.sum() / total.sum()
    stat = float(((a2 - ea) ** 2 / ea).sum() + ((b2 - eb) ** 2 / eb).sum())
    return chi2_sf(stat, len(total) - 1)
