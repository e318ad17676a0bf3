"""Error mitigation on the device (``qml.device("qaas.iqm", ..., mitigation=Pipeline(...))``): expectation values of
Pauli words and sums of them are estimated by a core pipeline (:mod:`qaas_core.mitigation`); this module only
converts.

* **Which tapes.** A tape whose measurements are all ``qml.expval`` of observables with a Pauli representation
  (``qml.X(0) @ qml.Z(1)``, ``qml.Hamiltonian``/``qml.dot`` sums, ``qml.Identity``) is *mitigable*
  (:func:`~qaas_pennylane._preprocess.mitigable`): preprocessing does not split or diagonalise it, the core groups
  its terms into measurement bases instead. Any other tape runs as without mitigation, in the same job.
* **Bases through the conversion.** The core asks for the tape's circuit in a basis (a letter per measured wire);
  this module appends ``RY(−π/2)`` for ``X`` and ``RX(π/2)`` for ``Y`` — the core's own rotations — and converts the
  tape with the device's converter, whose virtual-Z frames turn them as they must. The measured wires are the
  observables' wires in order of first appearance, read after the mid-circuit measurements' bits (identity there).
* **One job.** :class:`MitigatedBatch` builds one :class:`~qaas_core.mitigation.MitigationPlan` for the mitigable
  tapes of a batch; the device sends its circuits together with the other tapes' and reads each tape's value back as
  the mitigated estimate (one float per ``expval``). The core's :class:`~qaas_core.mitigation.MitigatedResult`
  (standard errors, raw values of the same job, stages) is kept on ``device.last_mitigated``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pennylane as qml
from pennylane.tape import QuantumScript

import qaas_core as q
from qaas_core.mitigation import MitigatedResult, MitigatedValue, MitigationPlan, PauliSum, Pipeline
from qaas_pennylane._errors import QaasDeviceError
from qaas_pennylane._preprocess import mitigable

if TYPE_CHECKING:
    from qaas_pennylane._convert import Converter

__all__ = ["MitigatedBatch", "MitigatedTape"]

_HALF: Final = math.pi / 2


class MitigatedTape:
    """One mitigable tape: its circuit in any measurement basis and its observables over the measured bits.

    Raises:
        QaasDeviceError: a shot vector (a mitigated estimate is one value per expectation).
        LayoutError: the tape does not fit the QPU.
    """

    def __init__(self, tape: Any, converter: Converter, name: str) -> None:
        if tape.shots.has_partitioned_shots:
            raise QaasDeviceError("with mitigation= each expectation value is one mitigated estimate; a shot vector "
                                  "cannot be split into bins (give one shot count)")  # fmt: skip
        self.tape = tape
        self._converter = converter
        self._name = name
        sentences = [mp.obs.pauli_rep for mp in tape.measurements]
        wires: dict[Hashable, None] = {w: None for s in sentences for word in s for w in word}
        fallback = tape.wires[:1] or (converter.device_wires or (0,))[:1]
        self.wires: tuple[Hashable, ...] = tuple(wires) or tuple(fallback)  # constants still need a shot count
        self._rendered: dict[str, q.Circuit] = {}
        z = self._render("Z" * len(self.wires))
        bits = sum(len(inst.locus) for inst in z.instructions if inst.name == "measure")
        self._before = bits - len(self.wires)  # bits of mid-circuit measurements
        self.observables = [self._pauli_sum(s) for s in sentences]

    def _pauli_sum(self, sentence: Any) -> PauliSum:
        terms: dict[str, complex | float] = {}
        for word, coefficient in sentence.items():
            label = "I" * self._before + "".join(word.get(w, "I") for w in self.wires)
            terms[label] = terms.get(label, 0.0) + complex(coefficient)
        if not terms:  # the zero observable
            terms["I" * (self._before + len(self.wires))] = 0.0
        return PauliSum(terms)

    def in_basis(self, basis: str) -> q.Circuit:
        """The tape's native circuit measuring wire ``wires[j]`` in basis ``basis[before + j]``."""
        if set(basis[: self._before]) - {"Z"}:
            raise QaasDeviceError("a mid-circuit measurement cannot be read in another basis")
        return self._render(basis[self._before :])

    def _render(self, letters: str) -> q.Circuit:
        found = self._rendered.get(letters)
        if found is None:
            rotations = []
            for wire, letter in zip(self.wires, letters, strict=True):
                if letter == "X":
                    rotations.append(qml.RY(-_HALF, wires=wire))
                elif letter == "Y":
                    rotations.append(qml.RX(_HALF, wires=wire))
            with qml.QueuingManager.stop_recording():
                tape = QuantumScript([*self.tape.operations, *rotations], [qml.sample(wires=self.wires)],
                                     shots=self.tape.shots)  # fmt: skip
            found = self._converter.convert(tape, self._name).circuit
            self._rendered[letters] = found
        return found

    def value(self, estimates: Sequence[MitigatedValue]) -> Any:
        """The tape's result: the mitigated estimate of each ``expval`` (one value for one measurement)."""
        values = tuple(np.float64(v.value) for v in estimates)
        return values[0] if len(values) == 1 else values


class MitigatedBatch:
    """The mitigable tapes of a batch as one plan of the core (every variant to go into the batch's one job).

    Args:
        tapes: the batch (preprocessed tapes).
        converter: the device's converter for the calibration of the job.
        pipeline: the core pipeline of every mitigable tape.

    Attributes:
        indices: positions of the mitigable tapes in the batch.
        circuits: the circuits their estimates need (first in the job).

    Raises:
        QaasDeviceError, LayoutError: a tape cannot be converted; ValidationError, CircuitError: the core refuses
            the plan (e.g. a fold of a circuit with mid-circuit measurements).
    """

    def __init__(self, tapes: Sequence[Any], converter: Converter, pipeline: Pipeline) -> None:
        self.indices = [i for i, tape in enumerate(tapes) if mitigable(tape)]
        self._tapes = [MitigatedTape(tapes[i], converter, f"pennylane-{i}") for i in self.indices]
        self._plan: MitigationPlan | None = None
        self.circuits: tuple[q.Circuit, ...] = ()
        if self._tapes:
            self._plan = MitigationPlan.build([t.in_basis for t in self._tapes], [t.observables for t in self._tapes],
                                              pipeline=pipeline, calibration=converter.calibration)  # fmt: skip
            self.circuits = self._plan.circuits

    def estimate(self, result: q.Result, job: q.Job | None = None) -> tuple[MitigatedResult | None, dict[int, Any]]:
        """The core's estimates and, per mitigable tape (batch position), its PennyLane result.

        Raises:
            ValidationError: the counts do not fit the plan.
        """
        if self._plan is None:
            return None, {}
        counts = [result.counts(i) for i in range(len(self.circuits))]
        estimates = self._plan.estimate(counts, job=job)
        return estimates, {i: t.value(estimates[k]) for k, (i, t) in enumerate(zip(self.indices, self._tapes,
                                                                                    strict=True))}  # fmt: skip
