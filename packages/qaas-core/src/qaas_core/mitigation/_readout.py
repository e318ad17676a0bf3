"""Readout error mitigation with a tensored (per-qubit) confusion model.

Each qubit ``q`` misreads independently: ``P(read 1 | 0) = e0``, ``P(read 0 | 1) = e1``, so the distribution read is
``A p`` with ``A = A_1 ⊗ … ⊗ A_n`` and ``A_q = [[1 − e0, e1], [e0, 1 − e1]]`` (columns: the prepared bit). The figures
come from the calibration's readout errors (:meth:`ReadoutModel.from_calibration`) or from two circuits run in the
same job, all qubits in ``|0…0⟩`` and all in ``|1…1⟩`` (:meth:`ReadoutModel.from_counts`).

* **Expectation values** of Pauli strings: the inverse is applied shot by shot. Since ``A⁻¹`` is a tensor product and
  a parity is a product, the unbiased estimator of ``⟨Z_S⟩`` gives each shot the weight ``∏_{q∈S} g_q(bit_q)`` with
  ``g_q(0) = (1 − e1 + e0)/(1 − e0 − e1)`` and ``g_q(1) = −(1 − e0 + e1)/(1 − e0 − e1)``: no ``2^n`` vector is ever
  formed, and the variance of the estimate is that of the weights.
* **Counts**: :func:`mitigate_counts` applies ``A⁻¹`` to the measured distribution (dense, up to
  :data:`MAX_DENSE_BITS` bits), giving quasi-probabilities, then the nearest probability distribution in Euclidean
  norm (the projection onto the simplex, which is also the maximum-likelihood fix of Smolin, Gambetta and Smith).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from qaas_core._circuit import Circuit, measure, prx
from qaas_core._errors import ValidationError
from qaas_core.mitigation._stage import Stage

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration

__all__ = [
    "MAX_DENSE_BITS",
    "ReadoutMitigation",
    "ReadoutModel",
    "mitigate_counts",
    "nearest_probability",
    "outcome_matrix",
    "quasi_probabilities",
    "readout_calibration_circuits",
]

MAX_DENSE_BITS: Final = 20
"""Most bits :func:`quasi_probabilities` inverts densely (a ``2^n`` vector)."""


class ReadoutModel:
    """Per-qubit readout errors: qubit -> ``(P(read 1 | 0), P(read 0 | 1))``.

    Raises:
        ValidationError: an error outside ``[0, 1]``, or ``e0 + e1 >= 1`` (the confusion matrix is not invertible).
    """

    __slots__ = ("errors",)

    def __init__(self, errors: Mapping[str, tuple[float, float]]) -> None:
        for qubit, (e0, e1) in errors.items():
            if not (0.0 <= e0 <= 1.0 and 0.0 <= e1 <= 1.0) or e0 + e1 >= 1.0:
                raise ValidationError(f"readout errors of {qubit} ({e0}, {e1}) do not give an invertible confusion "
                                      "matrix (each in [0, 1], their sum below 1)")  # fmt: skip
        self.errors: dict[str, tuple[float, float]] = {q: (float(a), float(b)) for q, (a, b) in errors.items()}

    @classmethod
    def from_calibration(cls, calibration: Calibration, qubits: Sequence[str]) -> ReadoutModel:
        """The calibration's readout errors of ``qubits``.

        Raises:
            ValidationError: the calibration has no readout error for one of them.
        """
        table = calibration.metrics.readout_error
        missing = [q for q in qubits if q not in table]
        if missing:
            raise ValidationError(f"the calibration has no readout error for {', '.join(missing)}; "
                                  "use ReadoutMitigation(source='measured')")  # fmt: skip
        return cls({q: table[q] for q in qubits})

    @classmethod
    def from_counts(cls, zeros: Mapping[str, int], ones: Mapping[str, int], qubits: Sequence[str]) -> ReadoutModel:
        """Errors measured by :func:`readout_calibration_circuits`: counts of all-``|0⟩`` and all-``|1⟩`` runs whose
        bit ``j`` is ``qubits[j]``.

        Raises:
            ValidationError: empty counts or bitstrings of another width.
        """
        p1_given0 = _marginal_ones(zeros, len(qubits))
        p1_given1 = _marginal_ones(ones, len(qubits))
        return cls({q: (float(p1_given0[j]), float(1.0 - p1_given1[j])) for j, q in enumerate(qubits)})

    def matrix(self, qubit: str) -> np.ndarray:
        """The 2x2 confusion matrix of ``qubit`` (row: bit read, column: bit prepared)."""
        e0, e1 = self.errors[qubit]
        return np.array([[1.0 - e0, e1], [e0, 1.0 - e1]])

    def parity_factors(self, qubits: Sequence[str]) -> np.ndarray:
        """``(len(qubits), 2)``: the weight ``g_q(bit)`` of a shot reading ``bit`` on each qubit, in the unbiased
        estimator of a parity (see the module docstring)."""
        e = np.array([self.errors[q] for q in qubits], dtype=float).reshape(-1, 2)
        det = 1.0 - e[:, 0] - e[:, 1]
        return np.stack([(1.0 - e[:, 1] + e[:, 0]) / det, -(1.0 - e[:, 0] + e[:, 1]) / det], axis=1)

    def __repr__(self) -> str:
        return f"ReadoutModel({len(self.errors)} qubits)"


def _marginal_ones(counts: Mapping[str, int], width: int) -> np.ndarray:
    bits, freq = outcome_matrix(counts, width)
    total = freq.sum()
    if total <= 0:
        raise ValidationError("readout calibration counts are empty")
    ones: np.ndarray = (freq[:, None] * bits).sum(axis=0) / total
    return ones


def outcome_matrix(counts: Mapping[str, int], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts as an ``(outcomes, width)`` uint8 bit matrix and a float count vector.

    Raises:
        ValidationError: a bitstring is not ``width`` characters of 0 and 1.
    """
    keys = list(counts)
    for key in keys:
        if len(key) != width or not set(key) <= {"0", "1"}:
            raise ValidationError(f"bitstring {key[:40]!r} does not have {width} bits")
    if not keys:
        return np.zeros((0, width), dtype=np.uint8), np.zeros(0)
    raw = np.frombuffer("".join(keys).encode("ascii"), dtype=np.uint8).reshape(len(keys), width) - ord("0")
    return raw.astype(np.uint8), np.array([counts[k] for k in keys], dtype=float)


def readout_calibration_circuits(qubits: Sequence[str], name: str = "readout") -> tuple[Circuit, Circuit]:
    """Two circuits that measure ``qubits`` in ``|0…0⟩`` and in ``|1…1⟩`` (``PRX(π, 0)`` on each), key ``m``."""
    zeros = Circuit(f"{name}|0", (measure(*qubits, key="m"),))
    ones = Circuit(f"{name}|1", (*(prx(q, np.pi, 0.0) for q in qubits), measure(*qubits, key="m")))
    return zeros, ones


def quasi_probabilities(counts: Mapping[str, int], qubits: Sequence[str], model: ReadoutModel) -> np.ndarray:
    """``A⁻¹`` applied to the measured distribution: a ``2^n`` vector indexed by the bitstring read as a binary
    number (bit 0 = leftmost character = most significant); it sums to 1 but may have negative entries.

    Raises:
        ValidationError: more than :data:`MAX_DENSE_BITS` bits, or bitstrings of another width.
    """
    n = len(qubits)
    if n > MAX_DENSE_BITS:
        raise ValidationError(f"{n} bits are too many to invert densely (at most {MAX_DENSE_BITS}); "
                              "estimate observables instead, which needs no dense vector")  # fmt: skip
    bits, freq = outcome_matrix(counts, n)
    total = freq.sum()
    if total <= 0:
        raise ValidationError("cannot mitigate empty counts")
    index = bits.astype(np.int64) @ (1 << np.arange(n - 1, -1, -1, dtype=np.int64)) if n else np.zeros(len(freq), int)
    p = np.zeros(2**n)
    np.add.at(p, index, freq / total)
    tensor = p.reshape((2,) * n) if n else p
    for j, q in enumerate(qubits):
        inv = np.linalg.inv(model.matrix(q))
        tensor = np.moveaxis(np.tensordot(inv, tensor, axes=([1], [j])), 0, j)
    out: np.ndarray = tensor.reshape(-1)
    return out


def nearest_probability(quasi: np.ndarray) -> np.ndarray:
    """The probability vector nearest to ``quasi`` in Euclidean norm (projection onto the simplex)."""
    v = np.asarray(quasi, dtype=float)
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    ks = np.arange(1, v.size + 1)
    rho = int(np.nonzero(u - css / ks > 0)[0][-1])
    theta = css[rho] / (rho + 1)
    out: np.ndarray = np.maximum(v - theta, 0.0)
    return out


def mitigate_counts(counts: Mapping[str, int], qubits: Sequence[str], model: ReadoutModel) -> dict[str, float]:
    """The readout-mitigated distribution of ``counts`` (bit ``j`` read on ``qubits[j]``): tensored inverse, then the
    nearest probability distribution. Bitstrings of zero probability are left out.

    Raises:
        ValidationError: as :func:`quasi_probabilities`.
    """
    probs = nearest_probability(quasi_probabilities(counts, qubits, model))
    n = len(qubits)
    return {format(i, f"0{n}b") if n else "": float(p) for i, p in enumerate(probs) if p > 0.0}


ReadoutSource = Literal["calibration", "measured"]


class ReadoutMitigation(Stage):
    """Correct readout errors in the estimates (a post-stage: the circuits are not changed).

    Args:
        source: ``calibration`` — the per-qubit readout errors of the calibration the job runs with (no extra
            circuits) — or ``measured``: two circuits (all measured qubits of the batch in ``|0…0⟩`` and in
            ``|1…1⟩``) go into the same job, once per batch, and their counts give the errors.

    Raises:
        ValidationError: an unknown source.
    """

    def __init__(self, source: ReadoutSource = "calibration") -> None:
        if source not in ("calibration", "measured"):
            raise ValidationError(f"readout source must be 'calibration' or 'measured', got {source!r}")
        self.source: ReadoutSource = source
        self.label = f"readout({source})"

    def __repr__(self) -> str:
        return f"ReadoutMitigation({self.source!r})"
