"""Observables: real sums of Pauli strings over a circuit's measured bits, grouped by the basis that measures them.

**Bit order.** Character ``j`` of a Pauli string acts on bit ``j`` of the circuit's counts (the core's bit-order
contract: measurement keys in program order, each key's components in locus order), so ``"XZI"`` for a circuit ending
in ``measure("QB3", "QB1", "QB2", key="m")`` is ``X`` on QB3, ``Z`` on QB1 and nothing on QB2. An adapter whose
framework numbers qubits from the right (Qiskit) reverses its labels before calling the core.

**Measurement bases.** A circuit measures in the Z basis. Terms that agree qubit by qubit (each position ``I`` or one
common letter: *qubit-wise commuting*) share one basis; :func:`measurement_bases` groups them greedily, heaviest
first, and :func:`with_basis` appends the rotation that turns each ``X`` or ``Y`` measurement into a Z one just before
the ``measure`` of that bit (``X``: ``PRX(π/2, −π/2)``, i.e. ``RY(−π/2)``; ``Y``: ``PRX(π/2, 0)``, i.e. ``RX(π/2)``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias

from qaas_core._circuit import Circuit, Instruction, prx
from qaas_core._errors import CircuitError, ValidationError
from qaas_core.mitigation._native import TERMINAL_PASS

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ObservableLike",
    "PauliSum",
    "as_observable",
    "measured_bits",
    "measurement_bases",
    "parity_values",
    "with_basis",
]

_LETTERS: Final = frozenset("IXYZ")
_HALF: Final = math.pi / 2
_ROTATION: Final = {"X": (_HALF, -_HALF), "Y": (_HALF, 0.0)}  # PRX(angle, phase) that maps the letter to Z


class PauliSum:
    """A real linear combination of Pauli strings over the measured bits of one circuit.

    Args:
        terms: Pauli string (letters ``IXYZ``, one per measured bit) -> real coefficient (a complex one must have
            no imaginary part); the all-``I`` string is the constant term.

    Attributes:
        terms: the non-identity strings and their coefficients (zero coefficients dropped).
        constant: the coefficient of the identity.
        width: the number of bits the strings cover.

    Raises:
        ValidationError: no terms, strings of different lengths, unknown letters, or a complex coefficient.
    """

    __slots__ = ("constant", "terms", "width")

    def __init__(self, terms: Mapping[str, complex | float]) -> None:
        if not terms:
            raise ValidationError("an observable needs at least one Pauli term")
        widths = {len(s) for s in terms}
        if len(widths) != 1 or 0 in widths:
            raise ValidationError(f"the Pauli strings of an observable must have one non-zero length, got {widths}")
        out: dict[str, float] = {}
        constant = 0.0
        for label, coefficient in terms.items():
            if not isinstance(label, str) or not set(label) <= _LETTERS:
                raise ValidationError(f"Pauli string {label!r} may only hold the letters I, X, Y, Z")
            value = complex(coefficient)
            if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
                raise ValidationError(f"the coefficient of {label!r} is complex ({coefficient!r}); "
                                      "the observable must be Hermitian")  # fmt: skip
            if set(label) == {"I"}:
                constant += value.real
            else:
                out[label] = out.get(label, 0.0) + value.real
        self.terms: dict[str, float] = {k: v for k, v in out.items() if v != 0.0}
        self.constant = constant
        self.width = widths.pop()

    def __repr__(self) -> str:
        parts = [f"{v:+g}·{k}" for k, v in self.terms.items()]
        if self.constant:
            parts.insert(0, f"{self.constant:+g}")
        return f"PauliSum({' '.join(parts) or '0'})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, PauliSum) and self.terms == other.terms and self.constant == other.constant
                and self.width == other.width)  # fmt: skip

    __hash__ = None  # type: ignore[assignment]


ObservableLike: TypeAlias = PauliSum | str | Mapping[str, complex | float]
"""One observable: a :class:`PauliSum`, one Pauli string (coefficient 1) or a mapping string -> coefficient."""


def as_observable(obj: ObservableLike) -> PauliSum:
    """The :class:`PauliSum` of an observable given in any accepted form.

    Raises:
        ValidationError: not an observable.
    """
    if isinstance(obj, PauliSum):
        return obj
    if isinstance(obj, str):
        return PauliSum({obj: 1.0})
    if isinstance(obj, Mapping):
        return PauliSum(obj)
    raise ValidationError(f"an observable is a Pauli string, a mapping of them or a PauliSum, not {type(obj).__name__}")


def measurement_bases(terms: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Group Pauli strings into qubit-wise commuting sets, greedily, heaviest strings first.

    Returns:
        ``(basis, members)`` pairs: ``basis`` has a letter ``X``, ``Y`` or ``Z`` per bit (``Z`` where every member has
        ``I``) and measures every member string.
    """
    unique = list(dict.fromkeys(terms))
    unique.sort(key=lambda s: -sum(c != "I" for c in s))
    groups: list[tuple[list[str], list[str]]] = []  # (letters per bit, members)
    for term in unique:
        for letters, members in groups:
            if all(a == "I" or b in ("I", a) for a, b in zip(term, letters, strict=True)):
                for j, a in enumerate(term):
                    if a != "I":
                        letters[j] = a
                members.append(term)
                break
        else:
            groups.append((list(term), [term]))
    return [("".join("Z" if c == "I" else c for c in letters), tuple(members)) for letters, members in groups]


def measured_bits(circuit: Circuit) -> list[tuple[int, str]]:
    """Per bit of the circuit's counts: the index of its ``measure`` instruction and the measured component."""
    return [(i, c) for i, inst in enumerate(circuit.instructions) if inst.name == "measure" for c in inst.locus]


def with_basis(circuit: Circuit, basis: str) -> Circuit:
    """``circuit`` measuring bit ``j`` in the basis ``basis[j]`` (``X``, ``Y`` or ``Z``) instead of Z.

    Raises:
        CircuitError: the basis does not cover the circuit's bits, or a bit to rotate is not a final measurement of
            its qubit (something other than a barrier or delay acts on the qubit afterwards).
    """
    bits = measured_bits(circuit)
    if len(basis) != len(bits):
        raise CircuitError(f"the observable covers {len(basis)} bit(s), the circuit measures {len(bits)}",
                           circuit=circuit.name)  # fmt: skip
    if set(basis) <= {"Z"}:
        return circuit
    before: dict[int, list[Instruction]] = {}
    instructions = circuit.instructions
    for (index, component), letter in zip(bits, basis, strict=True):
        if letter == "Z":
            continue
        later = next(
            (k for k in range(index + 1, len(instructions))
             if component in instructions[k].locus and instructions[k].name not in TERMINAL_PASS),
            None,
        )  # fmt: skip
        if later is not None:
            raise CircuitError(
                f"measuring {component} in the {letter} basis needs its measurement to be final, but "
                f"{instructions[later].name} acts on it afterwards",
                circuit=circuit.name,
                index=later,
            )
        angle, phase = _ROTATION[letter]
        before.setdefault(index, []).append(prx(component, angle, phase))
    out: list[Instruction] = []
    for i, inst in enumerate(instructions):
        out.extend(before.get(i, ()))
        out.append(inst)
    return Circuit(circuit.name, tuple(out), circuit.metadata)


def parity_values(outcomes: np.ndarray, term: str, factors: np.ndarray) -> np.ndarray:
    """The per-outcome estimator of a Pauli term measured in its basis: the product over the term's support of
    ``factors[j, bit_j]`` (``(1, −1)`` per bit gives the plain parity; a readout model gives its unbiased inverse).

    Args:
        outcomes: ``(outcomes, width)`` bit matrix.
        term: the Pauli string.
        factors: ``(width, 2)`` per-bit factor of reading 0 and reading 1.
    """
    import numpy as np

    support = [j for j, c in enumerate(term) if c != "I"]
    if not support:
        return np.ones(outcomes.shape[0])
    cols = np.array(support)
    values: np.ndarray = np.prod(factors[cols[None, :], outcomes[:, cols]], axis=1)
    return values


def _sequence_of_observables(obj: ObservableLike | Sequence[ObservableLike]) -> tuple[PauliSum, ...]:
    """One circuit's observables: a single observable or a sequence of them."""
    if isinstance(obj, PauliSum | str | Mapping):
        return (as_observable(obj),)
    if isinstance(obj, Sequence):
        if not obj:
            raise ValidationError("a circuit needs at least one observable")
        return tuple(as_observable(o) for o in obj)
    raise ValidationError(f"observables must be Pauli strings, mappings or PauliSums, not {type(obj).__name__}")
