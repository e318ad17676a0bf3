"""Readout-mitigated distributions of a sampled register: Qiskit counts (``BackendSamplerV2``'s ``data.<register>``,
or ``Result.get_counts()``) through the core's tensored inverse (:func:`qaas_core.mitigation.mitigate_counts`).

Each clbit of the register is read on the physical qubit that last measured into it in the ISA circuit (qubit ``i``
is ``calibration.qubits[i]``); the calibration's per-qubit readout errors invert the confusion, and the nearest
probability distribution replaces the quasi-probabilities. Bitstrings keep Qiskit's order (clbit 0 on the right).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qiskit.circuit import QuantumCircuit

import qaas_core as q
from qaas_core.mitigation import ReadoutModel, mitigate_counts

if TYPE_CHECKING:
    from qaas_qiskit._backend import QaaSBackend

__all__ = ["readout_mitigated"]


def readout_mitigated(
    counts: Mapping[str, int] | Any, circuit: QuantumCircuit, backend: QaaSBackend, *, register: str | None = None
) -> dict[str, float]:
    """The readout-mitigated probabilities of one classical register's outcomes.

    Args:
        counts: the register's counts (a mapping, or a ``BitArray`` — ``pub_result.data.c``).
        circuit: the ISA circuit that was sampled (it says which qubit each clbit read).
        backend: the backend it ran on (its calibration gives the readout errors).
        register: the register's name (default: the circuit's only register).

    Returns:
        Bitstring -> probability (zero-probability outcomes left out), bitstrings as in ``counts``.

    Raises:
        ValidationError: no such register, a clbit no measurement writes, bitstrings of another width, or too many
            bits to invert densely.
    """
    cregs = {r.name: r for r in circuit.cregs}
    if register is None:
        if len(cregs) != 1:
            raise q.ValidationError(f"the circuit has registers {sorted(cregs)}: say which one (register=...)")
        register = next(iter(cregs))
    if register not in cregs:
        raise q.ValidationError(f"the circuit has no classical register {register!r} (it has {sorted(cregs)})")
    read_on: dict[Any, int] = {}
    for instruction in circuit.data:
        if instruction.operation.name == "measure":
            read_on[instruction.clbits[0]] = circuit.find_bit(instruction.qubits[0]).index
    bits = list(cregs[register])
    missing = [i for i, clbit in enumerate(bits) if clbit not in read_on]
    if missing:
        raise q.ValidationError(f"no measurement writes clbit(s) {missing} of register {register!r}")
    names = backend.calibration.qubits
    qubits = [names[read_on[clbit]] for clbit in reversed(bits)]  # leftmost character: the last clbit
    table = counts.get_counts() if hasattr(counts, "get_counts") else dict(counts)
    model = ReadoutModel.from_calibration(backend.calibration, qubits)
    return mitigate_counts(table, qubits, model)
