"""Cirq observables (``cirq.PauliString``, ``cirq.PauliSum``) as the core's Pauli strings over a circuit's measured
bits.

Character ``j`` of a core string acts on bit ``j`` of the counts (:mod:`qaas_core.mitigation`); here the bits are
those of the mid-circuit measurements (identity) followed by the observables' qubits in Cirq's qubit order. A
coefficient must be real (the observable Hermitian); the empty Pauli string is the constant term.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import cirq

import qaas_core as q
from qaas_core.mitigation import PauliSum

__all__ = ["CirqObservable", "as_pauli_sums", "measured_qubits", "to_core"]

CirqObservable: TypeAlias = "cirq.PauliString[cirq.Qid] | cirq.PauliSum"
"""One observable: a Pauli string (with its coefficient) or a sum of them."""


def as_pauli_sums(observables: CirqObservable | Sequence[CirqObservable], position: int) -> list[cirq.PauliSum]:
    """One circuit's observables (one, or a sequence of them) as ``cirq.PauliSum``.

    Raises:
        ValidationError: an observable that is not a Pauli string or sum, or none at all.
    """
    items = [observables] if isinstance(observables, cirq.PauliString | cirq.PauliSum) else list(observables)
    if not items:
        raise q.ValidationError(f"circuit {position} has no observables")
    out = []
    for item in items:
        if isinstance(item, cirq.PauliString):
            out.append(cirq.PauliSum.from_pauli_strings([item]))
        elif isinstance(item, cirq.PauliSum):
            out.append(item)
        else:
            raise q.ValidationError(f"circuit {position}: an observable is a cirq.PauliString or cirq.PauliSum, "
                                    f"not {type(item).__name__}")  # fmt: skip
    return out


def measured_qubits(observables: Sequence[cirq.PauliSum]) -> list[cirq.Qid]:
    """The qubits the observables act on, in Cirq's order (none when all are constants)."""
    return sorted({qubit for obs in observables for term in obs for qubit in term.qubits})


def to_core(observable: cirq.PauliSum, qubits: Sequence[cirq.Qid], before: int = 0) -> PauliSum:
    """``observable`` as a core :class:`~qaas_core.mitigation.PauliSum` over ``before`` identity bits and then
    ``qubits``.

    Raises:
        ValidationError: a complex coefficient.
    """
    terms: dict[str, complex | float] = {}
    for term in observable:
        label = "I" * before + "".join(str(term.get(qubit, "I")) for qubit in qubits)
        terms[label] = terms.get(label, 0.0) + complex(term.coefficient)
    if not terms:  # the zero observable
        terms["I" * (before + len(qubits))] = 0.0
    return PauliSum(terms)
