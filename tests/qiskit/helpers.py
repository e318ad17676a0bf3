"""Helpers of the qaas-qiskit tests: unitaries of Qiskit and native circuits, exact distributions, chi-square."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit.library import CZGate, RGate, SwapGate
from qiskit.quantum_info import Operator

import qaas_core as q


def active_qubits(circuit: QuantumCircuit) -> list[int]:
    """Indices of the qubits a circuit's gates touch (measurements and barriers ignored)."""
    used: set[int] = set()
    for ci in circuit.data:
        if ci.name not in ("measure", "barrier"):
            used.update(circuit.find_bit(b).index for b in ci.qubits)
    return sorted(used)


def reduced_operator(circuit: QuantumCircuit, qubits: Sequence[int]) -> Operator:
    """The unitary of ``circuit`` (measurements, barriers dropped) on ``qubits`` only."""
    position = {p: i for i, p in enumerate(qubits)}
    out = QuantumCircuit(len(qubits), global_phase=circuit.global_phase)
    for ci in circuit.data:
        if ci.name in ("measure", "barrier"):
            continue
        out.append(ci.operation, [position[circuit.find_bit(b).index] for b in ci.qubits])
    return Operator(out)


def native_operator(circuit: q.Circuit, qubits: Sequence[str], resonators: Sequence[str] = ()) -> Operator:
    """The unitary of a native circuit on ``qubits`` followed by ``resonators``.

    ``prx`` is ``RGate``, ``cz`` is ``CZGate`` and ``move`` is an ideal SWAP of the qubit's state into the
    resonator (what it does when the resonator holds ``|0>``).
    """
    position = {name: i for i, name in enumerate([*qubits, *resonators])}
    out = QuantumCircuit(len(position))
    for inst in circuit.instructions:
        wires = [position[c] for c in inst.locus]
        if inst.name == "prx":
            out.append(RGate(inst.args["angle"], inst.args["phase"]), wires)
        elif inst.name == "cz":
            out.append(CZGate(), wires)
        elif inst.name == "move":
            out.append(SwapGate(), wires)
        elif inst.name in ("measure", "barrier"):
            continue
        else:
            raise AssertionError(f"unexpected {inst.name} in a unitary circuit")
    return Operator(out)


def equal_up_to_output_z(native: Operator, expected: Operator, atol: float = 1e-8) -> bool:
    """Whether ``native = (Z rotations on each qubit) · expected`` up to a global phase: what a conversion with
    virtual Z gives, since the frames left at the end (Z rotations before the measurements) are never played."""
    d = np.asarray(native.data) @ np.asarray(expected.data).conj().T
    diagonal = np.diag(d)
    if not np.allclose(d, np.diag(diagonal), atol=atol) or abs(abs(diagonal[0]) - 1) > atol:
        return False
    n = int(np.log2(len(diagonal)))
    ratio = [diagonal[1 << j] / diagonal[0] for j in range(n)]  # qubit j's Z rotation (relative phase of |1>)
    product = np.array([np.prod([ratio[j] for j in range(n) if k >> j & 1]) for k in range(len(diagonal))])
    return bool(np.allclose(diagonal, diagonal[0] * product, atol=atol))


def resonator_block(operator: Operator, n_qubits: int) -> Operator:
    """The block of ``operator`` (qubits, then resonators) with every resonator in ``|0>`` before and after."""
    dim = 2**n_qubits
    return Operator(np.asarray(operator.data)[:dim, :dim])


def exact_counts(circuit: QuantumCircuit) -> dict[str, float]:
    """Exact distribution of ``get_counts()`` keys for a circuit whose measurements all come last.

    Keys are formatted as Qiskit formats them (registers separated by spaces, clbit 0 rightmost).
    """
    from qiskit.quantum_info import Statevector
    from qiskit.result import Counts

    final: dict[int, int] = {}  # clbit -> qubit (last write wins)
    for ci in circuit.data:
        if ci.name == "measure":
            final[circuit.find_bit(ci.clbits[0]).index] = circuit.find_bit(ci.qubits[0]).index
    state = Statevector(circuit.remove_final_measurements(inplace=False))
    qubits = sorted(set(final.values()))
    probs = state.probabilities_dict(qargs=qubits)
    creg_sizes = [[r.name, r.size] for r in circuit.cregs]
    out: dict[str, float] = {}
    for outcome, p in probs.items():
        if p < 1e-12:
            continue
        bit_of_qubit = {qb: int(outcome[len(qubits) - 1 - i]) for i, qb in enumerate(qubits)}
        value = sum(bit_of_qubit[qb] << c for c, qb in final.items())
        key = next(iter(Counts({hex(value): 1}, creg_sizes=creg_sizes, memory_slots=circuit.num_clbits)))
        out[key] = out.get(key, 0.0) + p
    return out


def chi_square_p(counts: dict[str, int], probabilities: dict[str, float]) -> float:
    """p-value of observing ``counts`` under ``probabilities`` (bins expecting < 5 shots pooled).

    Raises AssertionError if an outcome of probability 0 was observed (impossible on a noiseless QPU).
    """
    from scipy.stats import chisquare

    impossible = set(counts) - set(probabilities)
    assert not impossible, f"outcomes of probability 0 observed: {sorted(impossible)}"
    shots = sum(counts.values())
    observed, expected = [], []
    pool_o, pool_e = 0, 0.0
    for key, p in probabilities.items():
        e = p * shots
        if e < 5:
            pool_o += counts.get(key, 0)
            pool_e += e
        else:
            observed.append(counts.get(key, 0))
            expected.append(e)
    if pool_e > 0:
        observed.append(pool_o)
        expected.append(pool_e)
    if len(observed) < 2:
        return 1.0
    total = sum(expected)
    expected = [e * shots / total for e in expected]
    return float(chisquare(observed, expected).pvalue)


def same_distribution_p(a: dict[str, int], b: dict[str, int]) -> float:
    """p-value of a chi-square homogeneity test: could ``a`` and ``b`` be samples of one distribution?

    Outcomes seen fewer than 10 times in total are pooled.
    """
    from scipy.stats import chi2_contingency

    keys = sorted(set(a) | set(b))
    rows: list[list[int]] = []
    pooled = [0, 0]
    for key in keys:
        pair = [a.get(key, 0), b.get(key, 0)]
        if sum(pair) < 10:
            pooled = [pooled[0] + pair[0], pooled[1] + pair[1]]
        else:
            rows.append(pair)
    if sum(pooled):
        rows.append(pooled)
    if len(rows) < 2:
        return 1.0
    return float(chi2_contingency(np.array(rows).T).pvalue)
