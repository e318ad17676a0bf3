"""Qiskit ``QuantumCircuit`` (native to a :class:`QaaSBackend` target) → ``qaas_core.Circuit``.

One walk over ``circuit.data``; qubits map to QPU names through tables computed once per calibration; instruction
structs are built directly. Operation by operation:

* ``r(θ, φ)`` → ``prx(θ, φ)`` (same matrix: ``R(θ, φ) = RZ(φ)·RX(θ)·RZ(−φ)``), angles in radians, the phase in
  the canonical range of every qaas front end (:func:`qaas_core.wrap_phase`, ``(−π, π]``).
* ``cz(a, b)`` → the device view's plan (:meth:`qaas_core.DeviceView.cz`): ``cz`` on a lattice coupling; on a star
  device, where ``a`` and ``b`` only meet through a computational resonator, the MOVE sandwich of the best route (the
  same code Cirq, PennyLane and OpenQASM 3 emit). This expansion happens here, after routing, so the transpiler never
  sees resonators and users never write MOVE; the target prices the virtual ``cz`` with the whole sequence.
* ``measure`` → ``measure`` with key ``m{clbit}`` (``m{clbit}_{n}`` for the ``n``-th re-measurement of the same
  clbit); the clbit index is the position in ``circuit.clbits``, so keys alone map results back to clbits (the
  last write wins, unmeasured clbits read 0). Register layout goes into the circuit metadata under ``"qiskit"``
  (it travels with the request and is kept in the ledger, so a new process can rebuild the registers).
* ``if_test`` on one measured clbit (``== 1``) whose body holds only single-qubit gates that reduce to one PRX per
  qubit → the feeding ``measure`` gets a ``feedback_key`` and each qubit gets a ``cc_prx``.
* ``reset``, ``barrier``, ``delay`` (seconds; ``dt`` units are 1 ns) map to the same-named operations; ``id`` is
  dropped. Anything else raises :class:`qaas_core.CircuitError` naming the circuit and the Qiskit instruction index.

:class:`CircuitTemplate` is the parametric fast path: the circuit is walked once with symbolic ``r`` angles, every
angle and phase is an affine function of the circuit parameters, and the coefficients go into a core
:class:`qaas_core.Template`, which fills in all bindings at once (the rest of the instructions are shared, immutable).
"""

from __future__ import annotations

import cmath
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from qiskit.circuit import (
    ClassicalRegister,
    Clbit,
    Parameter,
    ParameterExpression,
    ParameterVector,
    QuantumCircuit,
)
from qiskit.circuit.classical import expr

import qaas_core as q
from qaas_qiskit._target import DT, NATIVE_GATES

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "METADATA_KEY",
    "CircuitTemplate",
    "NativeTables",
    "circuit_header",
    "convert_circuit",
]

METADATA_KEY: Final = "qiskit"
"""Key of the register layout in ``qaas_core.Circuit.metadata``."""

# per second, so that decimal durations convert exactly (120 ns -> 1.2e-07 s, not 1.2000000000000002e-07)
_PER_SECOND: Final = {"s": 1.0, "ms": 1e3, "us": 1e6, "µs": 1e6, "ns": 1e9, "ps": 1e12, "dt": round(1 / DT)}
_NOT_NATIVE: Final = ", ".join(NATIVE_GATES)
_Instruction = q.Instruction


class _Symbolic(Exception):
    """A parameter sits where the template cannot keep it symbolic (control flow, non-affine expression)."""


class NativeTables:
    """What the conversion needs from a calibration, precomputed once per backend (from the core's device view).

    Attributes:
        calibration: The calibration the tables come from.
        view: Its :class:`qaas_core.DeviceView`.
        names: Qubit index → QPU name.
        cz: Ordered qubit-index pair → native instructions realising ``cz`` between them (the view's plan).
    """

    def __init__(self, calibration: q.Calibration) -> None:
        self.calibration = calibration
        self.view = view = q.DeviceView(calibration)
        self.names: tuple[str, ...] = calibration.qubits
        index = {name: i for i, name in enumerate(self.names)}
        self.prx: frozenset[int] = frozenset(index[n] for n in view.calibrated("prx"))
        self.measure: frozenset[int] = frozenset(index[n] for n in view.calibrated("measure"))
        self.reset: frozenset[int] = frozenset(index[n] for n in view.calibrated("reset"))
        self.cc_prx: frozenset[int] = frozenset(index[n] for n in view.calibrated("cc_prx"))
        self.cz: dict[tuple[int, int], tuple[q.Instruction, ...]] = {}
        for a, b in view.couplings:
            self.cz[(index[a], index[b])] = view.cz(a, b)
            self.cz[(index[b], index[a])] = view.cz(b, a)


def _json_or_none(value: Any) -> Any:
    if not value:
        return None
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None  # e.g. the PauliLists BackendEstimatorV2 keeps there; the live result still carries them
    return value


def circuit_header(circuit: QuantumCircuit) -> dict[str, Any]:
    """The register layout stored in ``qaas_core.Circuit.metadata["qiskit"]`` (JSON only)."""
    phase = circuit.global_phase
    header: dict[str, Any] = {
        "name": circuit.name,
        "qregs": [[r.name, r.size] for r in circuit.qregs],
        "cregs": [[r.name, r.size] for r in circuit.cregs],
        "clbits": circuit.num_clbits,
        "global_phase": float(phase) if isinstance(phase, float | int) else 0.0,
    }
    metadata = _json_or_none(circuit.metadata)
    if metadata is not None:
        header["metadata"] = metadata
    return header


def _number(value: Any) -> float:
    if type(value) is float:
        return value
    if isinstance(value, ParameterExpression):
        if value.parameters:
            raise _Symbolic
        return float(value.numeric().real)
    return float(value)


def _seconds(duration: Any, unit: str) -> float:
    per_second = _PER_SECOND.get(unit)
    if per_second is None or isinstance(duration, expr.Expr | ParameterExpression):
        raise ValueError(f"delay of {duration!r} {unit} cannot be converted to seconds (stretch or expression)")
    seconds = float(duration) / per_second
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"delay must be a finite non-negative duration, got {duration!r} {unit}")
    return seconds


def _condition_clbit(condition: Any, clbit_index: Mapping[Clbit, int]) -> int | None:
    """The clbit of an ``if_test`` condition that means "this bit is 1", or None for anything else."""
    if isinstance(condition, tuple) and len(condition) == 2:
        target, value = condition
        if isinstance(target, Clbit) and value in (1, True):
            return clbit_index.get(target)
        if isinstance(target, ClassicalRegister) and target.size == 1 and value == 1:
            return clbit_index.get(target[0])
        return None
    if isinstance(condition, expr.Var) and isinstance(condition.var, Clbit):
        return clbit_index.get(condition.var)
    return None


def _prx_of(matrix: NDArray[np.complex128]) -> tuple[float, float] | None:
    """``(θ, φ)`` with ``matrix ∝ PRX(θ, φ)`` (``θ`` in ``[0, π]``); ``(0, 0)`` for the identity; None if no PRX fits.

    ``PRX(θ, φ) = [[c, -i e^{-iφ} s], [-i e^{iφ} s, c]]`` with ``c = cos(θ/2)``, ``s = sin(θ/2)``: up to a global
    phase, a single-qubit unitary is a PRX exactly when its two diagonal entries are equal.
    """
    u00, u01, u10, u11 = complex(matrix[0, 0]), complex(matrix[0, 1]), complex(matrix[1, 0]), complex(matrix[1, 1])
    if abs(u00 - u11) > 1e-8:
        return None
    g = cmath.sqrt(u00 * u11 - u01 * u10)
    alpha, beta = u00 / g, u10 / g
    if alpha.real < 0:
        alpha, beta = -alpha, -beta
    s = abs(beta)
    if s < 1e-12:
        return (0.0, 0.0)
    return 2.0 * math.atan2(s, alpha.real), cmath.phase(1j * beta)


class _Walk:
    """One conversion: the instructions, the symbolic slots (template mode) and the per-circuit tables."""

    __slots__ = ("circuit", "name", "out", "slots", "symbolic", "tables")

    def __init__(self, circuit: QuantumCircuit, tables: NativeTables, name: str, *, symbolic: bool) -> None:
        self.circuit = circuit
        self.tables = tables
        self.name = name
        self.symbolic = symbolic
        self.out: list[q.Instruction | None] = []
        self.slots: list[tuple[int, tuple[str], Any, Any]] = []

    def error(self, index: int | None, reason: str) -> q.CircuitError:
        return q.CircuitError(reason, circuit=self.name, index=index)

    def run(self) -> None:
        circuit = self.circuit
        tables = self.tables
        names = tables.names
        if circuit.num_qubits > len(names):
            raise self.error(
                None, f"the circuit has {circuit.num_qubits} qubits, the QPU {len(names)}; transpile it for the backend"
            )
        qubits = circuit.qubits
        prx_locus = {(qb,): (names[i],) for i, qb in enumerate(qubits) if i in tables.prx}
        qindex = {qb: i for i, qb in enumerate(qubits)}
        cindex = {cb: i for i, cb in enumerate(circuit.clbits)}
        cz_cache: dict[Any, tuple[q.Instruction, ...]] = {}
        writes: dict[int, int] = {}
        last_measure: dict[int, int] = {}
        out = self.out
        append = out.append
        extend = out.extend
        instruction = _Instruction
        wrap = q.wrap_phase
        for index, ci in enumerate(circuit.data):
            name = ci.name
            if name == "r":
                angle, phase = ci.params
                locus = prx_locus.get(ci.qubits)
                if locus is None:
                    raise self.error(index, self._missing("r", ci.qubits, qindex))
                if type(angle) is not float or type(phase) is not float:
                    try:
                        angle, phase = _number(angle), _number(phase)
                    except _Symbolic:
                        if not self.symbolic:
                            raise self._unbound(index, ci.params) from None
                        self.slots.append((len(out), locus, angle, phase))
                        append(None)
                        continue
                append(instruction("prx", locus, {"angle": angle, "phase": wrap(phase)}))
            elif name == "cz":
                key = ci.qubits
                sequence = cz_cache.get(key)
                if sequence is None:
                    pair = (qindex[key[0]], qindex[key[1]])
                    found = tables.cz.get(pair)
                    if found is None:
                        a, b = names[pair[0]], names[pair[1]]
                        raise self.error(index, f"cz({a}, {b}): the qubits are not coupled; transpile the circuit "
                                                "for the backend (its target has the couplings)")  # fmt: skip
                    sequence = cz_cache[key] = found
                if len(sequence) == 1:
                    append(sequence[0])
                else:
                    extend(sequence)
            elif name == "measure":
                i = qindex[ci.qubits[0]]
                if i not in tables.measure:
                    raise self.error(index, f"measure: {names[i]} has no calibrated readout")
                c = cindex[ci.clbits[0]]
                n = writes.get(c, 0)
                writes[c] = n + 1
                last_measure[c] = len(out)
                append(instruction("measure", (names[i],), {"key": f"m{c}" if n == 0 else f"m{c}_{n}"}))
            elif name == "barrier":
                if ci.qubits:
                    append(instruction("barrier", tuple(names[qindex[b]] for b in ci.qubits), {}))
            elif name == "reset":
                i = qindex[ci.qubits[0]]
                if i not in tables.reset:
                    raise self.error(index, f"reset: not calibrated on {names[i]}")
                append(instruction("reset", (names[i],), {}))
            elif name == "delay":
                op = ci.operation
                if self.symbolic and isinstance(op.duration, ParameterExpression) and op.duration.parameters:
                    raise _Symbolic
                try:
                    seconds = _seconds(op.duration, op.unit)
                except ValueError as exc:
                    raise self.error(index, str(exc)) from None
                append(instruction("delay", tuple(names[qindex[b]] for b in ci.qubits), {"duration": seconds}))
            elif name == "if_else":
                self._if_else(index, ci, qindex, cindex, last_measure)
            elif name == "id":
                continue
            elif ci.is_control_flow():
                raise self.error(
                    index,
                    f"control flow {name!r} is not supported; the QPU runs only if_test on one measured clbit "
                    "(== 1) around single-qubit rotations (cc_prx)",
                )
            else:
                raise self.error(
                    index,
                    f"operation {name!r} is not native to the QPU (native: {_NOT_NATIVE}); "
                    "run transpile(circuit, backend) first",
                )

    def _missing(self, gate: str, qargs: Sequence[Any], qindex: Mapping[Any, int]) -> str:
        i = qindex[qargs[0]]
        return f"{gate}: not calibrated on {self.tables.names[i]}"

    def _unbound(self, index: int, params: Iterable[Any]) -> q.CircuitError:
        free = sorted({p.name for x in params if isinstance(x, ParameterExpression) for p in x.parameters})
        return self.error(
            index,
            f"unbound parameter(s) {', '.join(free)}: bind them (run(..., parameter_binds=[...]) or "
            "circuit.assign_parameters) before running",
        )

    def _if_else(
        self,
        index: int,
        ci: Any,
        qindex: Mapping[Any, int],
        cindex: Mapping[Clbit, int],
        last_measure: dict[int, int],
    ) -> None:
        names = self.tables.names
        op = ci.operation
        clbit = _condition_clbit(op.condition, cindex)
        if clbit is None:
            raise self.error(
                index,
                f"if_test condition {op.condition!r} is not supported: the QPU branches only on one measured clbit "
                "being 1 (if_test((clbit, 1)))",
            )
        true_body, false_body = op.blocks[0], (op.blocks[1] if len(op.blocks) > 1 else None)
        if false_body is not None and any(b.name not in ("barrier", "id") for b in false_body.data):
            raise self.error(index, "if_test with an else branch is not supported (cc_prx acts only when the bit is 1)")
        position = last_measure.get(clbit)
        if position is None:
            raise self.error(index, f"if_test on clbit {clbit}, which is not measured before it")
        feeding = self.out[position]
        assert feeding is not None
        key = feeding.args["key"]
        fq = feeding.locus[0]
        if "feedback_key" not in feeding.args:
            self.out[position] = _Instruction("measure", feeding.locus, {"key": key, "feedback_key": key})
        outer = {inner: qindex[o] for inner, o in zip(true_body.qubits, ci.qubits, strict=True)}
        products: dict[int, NDArray[np.complex128]] = {}
        for inner in true_body.data:
            if inner.name in ("barrier", "id"):
                continue
            if len(inner.qubits) != 1 or inner.clbits or inner.is_control_flow() or inner.name in ("measure", "reset"):
                raise self.error(
                    index,
                    f"if_test body holds {inner.name!r}; only single-qubit gates that reduce to one PRX per qubit "
                    "can be conditioned (cc_prx)",
                )
            if any(isinstance(p, ParameterExpression) and p.parameters for p in inner.params):
                if self.symbolic:
                    raise _Symbolic
                raise self._unbound(index, inner.params)
            matrix = inner.matrix
            if matrix is None:
                raise self.error(index, f"if_test body gate {inner.name!r} has no matrix")
            i = outer[inner.qubits[0]]
            products[i] = matrix @ products[i] if i in products else np.asarray(matrix, dtype=complex)
        for i, matrix in products.items():
            angles = _prx_of(matrix)
            if angles is None:
                raise self.error(
                    index,
                    f"if_test body on {names[i]} is not a PRX rotation (it has a Z component); the QPU can only "
                    "condition PRX (cc_prx)",
                )
            if angles == (0.0, 0.0):
                continue
            if i not in self.tables.cc_prx:
                raise self.error(index, f"cc_prx is not calibrated on {names[i]}")
            self.out.append(
                _Instruction(
                    "cc_prx",
                    (names[i],),
                    {"angle": angles[0], "phase": angles[1], "feedback_qubit": fq, "feedback_key": key},
                )
            )

    def metadata(self) -> dict[str, Any]:
        return {METADATA_KEY: circuit_header(self.circuit)}


def _name(circuit: QuantumCircuit, position: int) -> str:
    return circuit.name or f"circuit-{position}"


def convert_circuit(circuit: QuantumCircuit, tables: NativeTables, *, position: int = 0) -> q.Circuit:
    """Convert a circuit that uses only the backend's native operations.

    Args:
        circuit: A circuit transpiled for the backend (parameters bound).
        tables: The backend's :class:`NativeTables`.
        position: Index of the circuit in its batch (names unnamed circuits).

    Returns:
        The circuit in the IQM transfer format, register layout in ``metadata["qiskit"]``.

    Raises:
        CircuitError: a non-native or uncalibrated operation, an unbound parameter, unsupported control flow, or a
            qubit outside the QPU (names the circuit and the Qiskit instruction index).
    """
    walk = _Walk(circuit, tables, _name(circuit, position), symbolic=False)
    walk.run()
    if not walk.out:
        raise walk.error(None, "the circuit has no operations")
    return q.Circuit(walk.name, tuple(walk.out), walk.metadata())  # type: ignore[arg-type]


def _affine(value: Any, index: Mapping[Parameter, int]) -> tuple[float, dict[int, float]]:
    """``value`` as ``(constant, {parameter index: coefficient})`` if it is affine in the parameters, else _Symbolic."""
    if not isinstance(value, ParameterExpression) or not value.parameters:
        return _number(value), {}
    terms: dict[int, float] = {}
    for p in value.parameters:
        slope = value.gradient(p)
        if isinstance(slope, ParameterExpression):
            raise _Symbolic
        slope = complex(slope)
        if slope.imag:
            raise _Symbolic
        if slope.real:
            terms[index[p]] = slope.real
    constant = value.bind(dict.fromkeys(value.parameters, 0.0))
    return float(constant.numeric().real), terms


ParameterBinding = Mapping[Parameter | ParameterVector | str, Any]
"""One binding: parameter (or its name, or a whole vector) → value (or a sequence of values, one per binding)."""


def binding_matrix(parameters: Sequence[Parameter], bindings: Sequence[ParameterBinding]) -> NDArray[np.float64]:
    """Values of ``parameters`` for each binding, as a ``(bindings, parameters)`` matrix.

    Keys may be :class:`Parameter` objects, their names, or a :class:`ParameterVector` (with one value per element).
    A value may be a sequence instead of a number (the Aer convention): the binding then stands for that many
    bindings. Keys naming no parameter of ``parameters`` are ignored here (the backend checks them per batch).

    Raises:
        ValidationError: a parameter is missing, a value is not a finite number, or sequence lengths differ.
    """
    index = {p: i for i, p in enumerate(parameters)}
    by_name = {p.name: i for i, p in enumerate(parameters)}
    rows: list[NDArray[np.float64]] = []
    for number, binding in enumerate(bindings):
        columns: dict[int, NDArray[np.float64]] = {}
        for key, value in binding.items():
            if isinstance(key, ParameterVector):
                try:
                    arr = np.asarray(value, dtype=float)
                except (TypeError, ValueError) as exc:
                    raise q.ValidationError(f"binding {number}: values of {key.name} are not numbers") from exc
                if arr.shape[-1:] != (len(key),):
                    raise q.ValidationError(f"binding {number}: {key.name} needs {len(key)} values per binding")
                for j, element in enumerate(key):
                    if element in index:
                        columns[index[element]] = arr[..., j]
                continue
            column = index.get(key) if isinstance(key, Parameter) else by_name.get(str(key))
            if column is None:
                continue
            try:
                columns[column] = np.asarray(value, dtype=float)
            except (TypeError, ValueError) as exc:
                raise q.ValidationError(f"binding {number}: value of {key} is not a number: {value!r}") from exc
        missing = [p.name for p, i in index.items() if i not in columns]
        if missing:
            raise q.ValidationError(f"binding {number} gives no value for parameter(s) {', '.join(missing)}")
        shapes = {a.shape for a in columns.values()}
        if len(shapes) > 1 or any(len(s) > 1 for s in shapes):
            raise q.ValidationError(f"binding {number}: give one number per parameter, or equal-length sequences")
        shape = shapes.pop() if shapes else ()
        count = shape[0] if shape else 1
        block = np.empty((count, len(parameters)))
        for column, values in columns.items():
            block[:, column] = values
        rows.append(block)
    matrix = np.concatenate(rows) if rows else np.empty((0, len(parameters)))
    if not np.isfinite(matrix).all():
        raise q.ValidationError("parameter values must be finite numbers")
    return matrix


class CircuitTemplate:
    """A parameterised native circuit, converted once and bound many times without re-transpiling.

    Every ``r`` angle and phase that depends on parameters is kept as an affine function of the circuit's parameters
    (what Qiskit's basis translation produces for rotation gates); the coefficients go into a core
    :class:`qaas_core.Template`, which evaluates all of them for all bindings at once and rebuilds only those
    ``prx`` instructions, with the same bits and canonical phases as binding and converting one by one. Circuits
    whose parameters appear non-linearly or inside control flow fall back to ``assign_parameters`` and a full
    conversion per binding (still without transpiling).

    Args:
        circuit: A circuit transpiled for the backend, parameters unbound.
        tables: The backend's :class:`NativeTables`.
        position: Index of the circuit in its batch (names unnamed circuits).

    Raises:
        CircuitError: the circuit is not native to the backend (as for :func:`convert_circuit`).
    """

    def __init__(self, circuit: QuantumCircuit, tables: NativeTables, *, position: int = 0) -> None:
        self.circuit = circuit
        self.tables = tables
        self.position = position
        self.parameters: tuple[Parameter, ...] = tuple(circuit.parameters)
        self.affine = True
        walk = _Walk(circuit, tables, _name(circuit, position), symbolic=True)
        try:
            walk.run()
            index = {p: i for i, p in enumerate(self.parameters)}
            slots = [
                q.TemplateSlot(pos, locus, _affine(angle, index), _affine(phase, index))
                for pos, locus, angle, phase in walk.slots
            ]
        except _Symbolic:
            self.affine = False
            return
        if not walk.out:
            raise walk.error(None, "the circuit has no operations")
        self._name = walk.name
        self._metadata = walk.metadata()
        self._template = q.Template(walk.out, slots, len(self.parameters))

    @property
    def num_slots(self) -> int:
        """How many ``prx`` instructions depend on the parameters (0 when falling back to full conversion)."""
        return self._template.num_slots if self.affine else 0

    def bind_values(self, values: NDArray[np.float64]) -> list[q.Circuit]:
        """Circuits for a ``(bindings, parameters)`` matrix of values (columns in :attr:`parameters` order).

        Raises:
            CircuitError: a fallback conversion failed (e.g. a bound value made a delay negative).
            ValidationError: a binding makes an angle or a phase non-finite.
        """
        if not self.affine:
            with q.gc_paused():
                return [self._fallback(row) for row in values]
        name, metadata, circuit = self._name, self._metadata, q.Circuit
        with q.gc_paused():
            return [circuit(name, instructions, metadata) for instructions in self._template.instantiate(values)]

    def bind(self, bindings: Sequence[ParameterBinding]) -> list[q.Circuit]:
        """Circuits for each binding (see :func:`binding_matrix` for the accepted forms).

        Raises:
            ValidationError: a parameter is missing or a value is not a finite number.
        """
        return self.bind_values(binding_matrix(self.parameters, bindings))

    def _fallback(self, row: NDArray[np.float64]) -> q.Circuit:
        bound = self.circuit.assign_parameters(dict(zip(self.parameters, row.tolist(), strict=True)), inplace=False)
        return convert_circuit(bound, self.tables, position=self.position)
