"""An estimator pub as the core mitigation pipeline takes it: per parameter binding, a logical circuit rendered in any
measurement basis by this adapter's conversion, and its observables as Pauli strings over the measured bits.

* **Measured qubits.** The union of the supports of every observable of the pub, in ascending Qiskit qubit order,
  measured at the end into a fresh register, after a barrier (so the converted circuit ends in its measurements, as
  global folding needs), once the pub's own final measurements are removed (an estimator circuit's state is what is
  estimated).
* **Basis changes go through the conversion.** The core asks for the circuit measuring in a basis (a letter per
  measured bit); an ``X`` becomes ``RGate(π/2, −π/2)`` and a ``Y`` ``RGate(π/2, 0)`` before the measurement — the
  rotations the core itself uses — appended in Qiskit and converted with the circuit, so the virtual-Z frames the
  conversion leaves on each qubit shift them as they must. Each basis is converted once for all bindings (a
  parameterised circuit through the backend's :class:`~qaas_qiskit.CircuitTemplate`).
* **Bit order.** The core's character ``j`` acts on bit ``j`` of the counts: bits of mid-circuit measurements first
  (identity), then the measured qubits in the order above. Qiskit labels read from the right, so the letter of qubit
  ``i`` is ``label[-1 - i]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import numpy as np
from qiskit.circuit import ClassicalRegister, QuantumCircuit
from qiskit.circuit.library import RGate

import qaas_core as q
from qaas_core.mitigation import PauliSum

if TYPE_CHECKING:
    from qiskit.primitives.containers.estimator_pub import EstimatorPub

    from qaas_qiskit._backend import QaaSBackend

__all__ = ["PreparedPub", "prepare_pub"]

_ROTATION: Final = {"X": (math.pi / 2, -math.pi / 2), "Y": (math.pi / 2, 0.0)}
_REGISTER: Final = "qaas_obs"


class PreparedPub:
    """One pub ready for :meth:`qaas_core.mitigation.MitigationPlan.build`.

    Attributes:
        pub: the coerced pub.
        circuits: per binding (flat index of the pub's bindings array), the circuit as a function of the basis.
        observables: per binding, the distinct observables it is estimated for.
        slots: for every index of the pub's shape, ``(binding, observable position)``.
    """

    def __init__(self, pub: EstimatorPub, backend: QaaSBackend, position: int) -> None:
        self.pub = pub
        circuit: QuantumCircuit = pub.circuit.remove_final_measurements(inplace=False)
        if circuit.num_qubits > backend.num_qubits:
            raise q.ValidationError(f"pub {position}: the circuit has {circuit.num_qubits} qubits, the backend "
                                    f"{backend.num_qubits}; transpile it for the backend first")  # fmt: skip
        values = pub.parameter_values
        shape = values.shape
        indices = np.fromiter(np.ndindex(shape), dtype=object).reshape(shape)
        bc_index, bc_obs = np.broadcast_arrays(indices, pub.observables)
        support = sorted({i for obs in bc_obs.ravel() for label in obs for i, c in enumerate(reversed(label))
                          if c != "I"})  # fmt: skip
        self.qubits: list[int] = support or [0]  # an observable that is all identity still needs a shot count
        self._backend = backend
        self._circuit = circuit
        self._position = position
        self._bindings = max(1, math.prod(shape))
        self._values = values
        self._rendered: dict[str, list[q.Circuit]] = {}
        z = self._render("Z" * len(self.qubits))[0]
        bits = [c for inst in z.instructions if inst.name == "measure" for c in inst.locus]
        self._before = len(bits) - len(self.qubits)  # bits of mid-circuit measurements
        names = backend.calibration.qubits
        if bits[self._before :] != [names[i] for i in self.qubits]:
            raise q.CircuitError(f"the converted circuit measures {bits[self._before :]} last, not the observables' "
                                 f"qubits {[names[i] for i in self.qubits]}", circuit=z.name)  # fmt: skip
        self.observables: list[list[PauliSum]] = [[] for _ in range(self._bindings)]
        seen: list[dict[tuple[tuple[str, float], ...], int]] = [{} for _ in range(self._bindings)]
        self.slots = np.empty(bc_index.shape, dtype=object)
        for index in np.ndindex(bc_index.shape):
            binding = int(np.ravel_multi_index(bc_index[index], shape)) if shape else 0
            obs: dict[str, float] = dict(bc_obs[index])
            key = tuple(sorted(obs.items()))
            if key not in seen[binding]:
                seen[binding][key] = len(self.observables[binding])
                self.observables[binding].append(self._pauli_sum(obs))
            self.slots[index] = (binding, seen[binding][key])
        self.circuits: list[Callable[[str], q.Circuit]] = [
            functools.partial(self._in_basis, b) for b in range(self._bindings)
        ]

    @property
    def shape(self) -> tuple[int, ...]:
        """The pub's broadcast shape (that of ``evs``)."""
        return tuple(self.slots.shape)

    def _pauli_sum(self, obs: dict[str, float]) -> PauliSum:
        terms: dict[str, complex | float] = {}
        for label, coefficient in obs.items():
            key = "I" * self._before + "".join(label[-1 - i] for i in self.qubits)
            terms[key] = terms.get(key, 0.0) + coefficient
        return PauliSum(terms)

    def _in_basis(self, binding: int, basis: str) -> q.Circuit:
        if set(basis[: self._before]) - {"Z"}:
            raise q.ValidationError("a mid-circuit measurement cannot be read in another basis")
        return self._render(basis[self._before :])[binding]

    def _render(self, letters: str) -> list[q.Circuit]:
        """The native circuits of every binding, measuring qubit ``qubits[j]`` in basis ``letters[j]``."""
        found = self._rendered.get(letters)
        if found is None:
            qc = _measuring(self._circuit, self.qubits, letters)
            if qc.parameters:
                template = self._backend.template(qc)
                matrix = self._values.as_array(template.parameters).reshape(self._bindings, len(template.parameters))
                found = template.bind_values(matrix)
            else:
                found = [self._backend.convert(qc)] * self._bindings
            self._rendered[letters] = found
        return found


def _measuring(circuit: QuantumCircuit, qubits: list[int], letters: str) -> QuantumCircuit:
    """``circuit`` with the basis change of ``letters`` and a measurement of ``qubits`` into a new register."""
    out = circuit.copy()
    names = {r.name for r in out.cregs}
    name = _REGISTER
    while name in names:
        name += "_"
    register = ClassicalRegister(len(qubits), name)
    out.add_register(register)
    for qubit, letter in zip(qubits, letters, strict=True):
        if letter in _ROTATION:
            out.append(RGate(*_ROTATION[letter]), [qubit])
    out.barrier(qubits)  # every pulse before the measurements: what folding takes as the unitary body
    out.measure(qubits, register)
    return out


def prepare_pub(pub: EstimatorPub, backend: QaaSBackend, position: int) -> PreparedPub:
    """Prepare one pub (see :class:`PreparedPub`).

    Raises:
        ValidationError: the circuit is wider than the backend, or a binding is invalid.
        CircuitError: the circuit is not native to the backend (transpile it first).
    """
    return PreparedPub(pub, backend, position)
