"""Qiskit ``QuantumCircuit`` (native to a :class:`QaaSBackend` target) → ``qaas_core.Circuit``.

One walk over ``circuit.data``; qubits map to QPU names through tables computed once per calibration; instruction
structs are built directly. Operation by operation:

* Single-qubit gates — ``u`` and ``rz`` of the target, and ``r`` (``R(θ, φ) = RZ(φ)·RX(θ)·RZ(−φ)``, the IQM
  ``prx(θ, φ)`` itself) — are collected per qubit until something else happens on that qubit (a two-qubit gate, a
  measurement, a reset, a delay, a barrier, an ``if_test`` or the end), then played as **at most one** ``prx``:
  a run with one pulse as written (``u(θ, φ, λ) = RZ(φ)·PRX(θ, π/2)·RZ(λ)``), a longer one as the single
  ``RZ(a)·PRX(θ, φ)`` it equals (:func:`qaas_core.fuse`), a pure Z rotation (``rz``, ``u(0, φ, λ)``) as none.
* **Virtual Z.** Z rotations are never played: each qubit carries a frame angle (a :class:`qaas_core.Frames`, the
  one every qaas front end uses) and ``PRX(θ, φ)·RZ(λ) = RZ(λ)·PRX(θ, φ − λ)`` shifts the phase of every later
  pulse. ``cz`` and measurements commute with the frames, ``reset`` clears them, ``move`` (in a star device's CZ
  sandwich) exchanges the frames of qubit and resonator; what is left at the end are Z rotations just before the
  measurements (or at the end), which change no outcome — so a pending Z before a measurement is dropped. A
  ``cc_prx`` is shifted like any pulse and leaves the frame as it is (it commutes with the frame whether it fires
  or not). Phases are in the canonical range of every qaas front end (:func:`qaas_core.wrap_phase`, ``(−π, π]``).
* ``cz(a, b)`` → the device view's plan (:meth:`qaas_core.DeviceView.cz`): ``cz`` on a lattice coupling; on a star
  device, where ``a`` and ``b`` only meet through a computational resonator, the MOVE sandwich of the best route (the
  same code Cirq, PennyLane and OpenQASM 3 emit). This expansion happens here, after routing, so the transpiler never
  sees resonators and users never write MOVE; the target prices the virtual ``cz`` with the whole sequence.
* ``measure`` → ``measure`` with key ``m{clbit}`` (``m{clbit}_{n}`` for the ``n``-th re-measurement of the same
  clbit); the clbit index is the position in ``circuit.clbits``, so keys alone map results back to clbits (the
  last write wins, unmeasured clbits read 0). Register layout goes into the circuit metadata under ``"qiskit"``
  (it travels with the request and is kept in the ledger, so a new process can rebuild the registers).
* ``if_test`` / ``if_else`` on one measured clbit (``(clbit, 0|1)``, ``expr.lift(clbit)``, ``expr.logic_not``,
  ``expr.equal`` / ``not_equal`` with a constant) around single-qubit gates of any kind: the branch taken on 0 is
  played, then per qubit what turns it into the other branch as ``cc_prx`` pulses (:func:`qaas_core.conditioned`:
  a pulse, and a pair of π pulses for a Z part); the feeding ``measure`` gets a ``feedback_key``.
* ``reset``, ``barrier``, ``delay`` (seconds; ``dt`` units are 1 ns) map to the same-named operations; ``id`` is
  dropped. Anything else raises :class:`qaas_core.CircuitError` naming the circuit and the Qiskit instruction index.

:class:`CircuitTemplate` is the parametric fast path: the circuit is walked once with symbolic angles, every pulse
angle and phase is an affine function of the circuit parameters (frames included), and the coefficients go into a core
:class:`qaas_core.Template`, which fills in all bindings at once (the rest of the instructions are shared, immutable).
A run of several pulses that depends on parameters is fused per binding (:func:`qaas_core.fuse_arrays`):
its angle, phase and Z rotation enter the template as three more columns, so later phases stay affine.
"""

from __future__ import annotations

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
from qaas_core import fuse, fuse_arrays, wrap_phase
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
_PI: Final = math.pi
_HALF_PI: Final = math.pi / 2
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


def _condition(condition: Any, clbit_index: Mapping[Clbit, int]) -> tuple[int, int] | None:
    """``(clbit, value)`` of an ``if_test`` condition that tests one clbit for ``value`` (0 or 1), or None.

    Accepted: ``(clbit, 0|1|False|True)``, ``(creg, 0|1)`` on a one-bit register, ``expr.lift(clbit)``,
    ``expr.logic_not(clbit)`` / ``expr.bit_not``, and ``expr.equal`` / ``expr.not_equal`` of a clbit and a constant.
    """
    if isinstance(condition, tuple) and len(condition) == 2:
        target, value = condition
        if isinstance(target, ClassicalRegister) and target.size == 1:
            target = target[0]
        if isinstance(target, Clbit) and value in (0, 1) and target in clbit_index:
            return clbit_index[target], int(value)
        return None
    if isinstance(condition, expr.Var) and isinstance(condition.var, Clbit) and condition.var in clbit_index:
        return clbit_index[condition.var], 1
    if isinstance(condition, expr.Unary) and condition.op in (expr.Unary.Op.LOGIC_NOT, expr.Unary.Op.BIT_NOT):
        inner = _condition(condition.operand, clbit_index)
        return None if inner is None else (inner[0], 1 - inner[1])
    if isinstance(condition, expr.Cast):
        return _condition(condition.operand, clbit_index)
    if isinstance(condition, expr.Binary) and condition.op in (expr.Binary.Op.EQUAL, expr.Binary.Op.NOT_EQUAL):
        for bit, const in ((condition.left, condition.right), (condition.right, condition.left)):
            if isinstance(const, expr.Value) and const.value in (0, 1, False, True):
                inner = _condition(bit, clbit_index)
                if inner is not None:
                    clbit, value = inner
                    match = value if int(const.value) == 1 else 1 - value
                    return clbit, match if condition.op == expr.Binary.Op.EQUAL else 1 - match
    return None


def _numeric(run: Iterable[Any]) -> bool:
    """Whether every step of a run is a number (not a parameter expression)."""
    for step in run:
        if type(step) is tuple:
            if type(step[0]) is not float or type(step[1]) is not float:
                return False
        elif type(step) is not float:
            return False
    return True


class _Walk:
    """One conversion: the instructions, the symbolic slots (template mode), frames and pending single-qubit runs."""

    __slots__ = ("aux", "circuit", "frames", "fuse", "fused", "name", "out", "pending", "slots", "symbolic", "tables")

    def __init__(
        self, circuit: QuantumCircuit, tables: NativeTables, name: str, *, symbolic: bool, fuse: bool = True
    ) -> None:
        self.circuit = circuit
        self.tables = tables
        self.name = name
        self.symbolic = symbolic
        self.fuse = fuse  # False: every pulse of a run is played as written (gate folding, benchmarks)
        self.out: list[q.Instruction | None] = []
        self.slots: list[tuple[int, tuple[str], Any, Any]] = []
        self.frames = q.Frames()
        # Qiskit qubit -> [locus, step, step …]: the run of single-qubit gates not yet played (it starts with a pulse
        # ``(angle, phase)``; Z rotations are bare angles, as qaas_core.fuse takes them)
        self.pending: dict[Any, list[Any]] = {}
        self.fused: list[list[Any]] = []  # template mode: the parametric runs of several pulses, fused per binding
        self.aux: list[Parameter] = []  # their (θ, φ, a) as extra template parameters, three per fused run

    def error(self, index: int | None, reason: str) -> q.CircuitError:
        return q.CircuitError(reason, circuit=self.name, index=index)

    def value(self, index: int, value: Any, params: Sequence[Any]) -> Any:
        """A gate parameter as a float, or (template mode) as the expression it is."""
        try:
            return _number(value)
        except _Symbolic:
            if not self.symbolic:
                raise self._unbound(index, params) from None
            return value

    def emit(self, locus: tuple[str], angle: Any, phase: Any) -> None:
        if type(angle) is float and type(phase) is float:
            self.out.append(_Instruction("prx", locus, {"angle": angle, "phase": phase}))
        else:
            self.slots.append((len(self.out), locus, angle, phase))
            self.out.append(None)

    def flush(self, run: list[Any]) -> None:
        """Play a pending run: at most one ``prx``, and its Z rotations into the frame (every pulse as written,
        with ``fuse=False``)."""
        locus = run[0]
        qubit = locus[0]
        frames = self.frames
        if not self.fuse:
            for step in run[1:]:
                if type(step) is tuple:
                    self.emit(locus, step[0], frames.phase(qubit, step[1]))
                else:
                    frames.rotate(qubit, step)
            return
        end = len(run)
        if (end == 2 or (end == 3 and type(run[2]) is not tuple)) and not self.symbolic:
            # the common case, inlined: one pulse (an r, or a u with its Z after it); frames are floats here, and
            # these are Frames.phase and Frames.rotate operation for operation
            angle, phase = run[1]
            angles = frames.angles
            frame = angles.get(qubit)
            if frame is not None:
                phase = phase - frame
            if not -_PI < phase <= _PI:
                phase = wrap_phase(phase)
            self.out.append(_Instruction("prx", locus, {"angle": angle, "phase": phase}))
            if end == 3:
                frame = angles.get(qubit, 0.0) + run[2]
                angles[qubit] = frame if -_PI < frame <= _PI else wrap_phase(frame)
            return
        while type(run[end - 1]) is not tuple:
            end -= 1
        if end == 2:  # one pulse, played as written
            angle, phase = run[1]
            self.emit(locus, angle, frames.phase(qubit, phase))
        else:
            core = run[1:end]
            if _numeric(core):
                angle, phase, turn = fuse(core)
                if angle is not None:
                    self.emit(locus, angle, frames.phase(qubit, phase))
                frames.rotate(qubit, turn)
            else:  # template mode: fused per binding, its results are parameters of their own
                k = len(self.fused)
                angle, phase, turn = (Parameter(f"_qaas_fused_{k}_{part}") for part in ("angle", "phase", "turn"))
                self.fused.append(core)
                self.aux += (angle, phase, turn)
                self.emit(locus, angle, frames.phase(qubit, phase))
                frames.rotate(qubit, turn)
        for turn in run[end:]:
            frames.rotate(qubit, turn)

    def settle(self, qubits: Iterable[Any]) -> None:
        """Play the pending runs of ``qubits`` (before something that is not a single-qubit gate acts on them)."""
        pending = self.pending
        for qb in qubits:
            run = pending.pop(qb, None)
            if run is not None:
                self.flush(run)

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
        pending = self.pending
        frames = self.frames
        settle = self.settle
        flush = self.flush
        value = self.value
        angles = frames.angles
        rotate = frames.rotate if self.symbolic else None  # None: float frames, rotated inline (as Frames.rotate)
        pi, wrap = _PI, wrap_phase
        for index, ci in enumerate(circuit.data):
            name = ci.name
            if name in {"u", "r"}:
                qargs = ci.qubits
                locus = prx_locus.get(qargs)
                if locus is None:
                    raise self.error(index, self._missing(name, qargs, qindex))
                params = ci.params
                run = pending.get(qargs[0])
                if name == "r":
                    angle, phase = params
                    if type(angle) is not float or type(phase) is not float:
                        angle, phase = value(index, angle, params), value(index, phase, params)
                    if run is None:
                        pending[qargs[0]] = [locus, (angle, phase)]
                    else:
                        run.append((angle, phase))
                    continue
                theta, phi, lam = params
                if type(theta) is not float or type(phi) is not float or type(lam) is not float:
                    theta, phi, lam = (value(index, p, params) for p in params)
                # u(θ, φ, λ) = RZ(φ)·PRX(θ, π/2)·RZ(λ): λ now, the pulse and φ pending
                if type(theta) is float and theta == 0.0:  # a Z rotation written as u
                    turn = phi + lam
                    if run is not None:
                        run.append(turn)
                        continue
                elif run is None:
                    pending[qargs[0]] = [locus, (theta, _HALF_PI), phi]
                    turn = lam
                else:
                    run += (lam, (theta, _HALF_PI), phi)
                    continue
                if rotate is None:
                    frame = angles.get(locus[0], 0.0) + turn
                    angles[locus[0]] = frame if -pi < frame <= pi else wrap(frame)
                else:
                    rotate(locus[0], turn)
            elif name == "rz":
                qb = ci.qubits[0]
                params = ci.params
                turn = params[0] if type(params[0]) is float else value(index, params[0], params)
                run = pending.get(qb)
                if run is not None:
                    run.append(turn)
                elif rotate is None:
                    component = names[qindex[qb]]
                    frame = angles.get(component, 0.0) + turn
                    angles[component] = frame if -pi < frame <= pi else wrap(frame)
                else:
                    rotate(names[qindex[qb]], turn)
            elif name == "cz":
                key = ci.qubits
                if pending:
                    run = pending.pop(key[0], None)
                    if run is not None:
                        flush(run)
                    run = pending.pop(key[1], None)
                    if run is not None:
                        flush(run)
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
                    if frames.angles:
                        for inst in sequence:
                            if inst.name == "move":
                                frames.move(*inst.locus)
            elif name == "measure":
                qb = ci.qubits[0]
                i = qindex[qb]
                if i not in tables.measure:
                    raise self.error(index, f"measure: {names[i]} has no calibrated readout")
                if pending:
                    settle((qb,))
                c = cindex[ci.clbits[0]]
                n = writes.get(c, 0)
                writes[c] = n + 1
                last_measure[c] = len(out)
                append(instruction("measure", (names[i],), {"key": f"m{c}" if n == 0 else f"m{c}_{n}"}))
            elif name == "barrier":
                if ci.qubits:
                    settle(ci.qubits)
                    append(instruction("barrier", tuple(names[qindex[b]] for b in ci.qubits), {}))
            elif name == "reset":
                i = qindex[ci.qubits[0]]
                if i not in tables.reset:
                    raise self.error(index, f"reset: not calibrated on {names[i]}")
                settle(ci.qubits)
                frames.reset((names[i],))
                append(instruction("reset", (names[i],), {}))
            elif name == "delay":
                op = ci.operation
                if self.symbolic and isinstance(op.duration, ParameterExpression) and op.duration.parameters:
                    raise _Symbolic
                try:
                    seconds = _seconds(op.duration, op.unit)
                except ValueError as exc:
                    raise self.error(index, str(exc)) from None
                settle(ci.qubits)
                append(instruction("delay", tuple(names[qindex[b]] for b in ci.qubits), {"duration": seconds}))
            elif name == "if_else":
                settle(ci.qubits)
                self._if_else(index, ci, qindex, cindex, last_measure)
            elif name == "id":
                continue
            elif ci.is_control_flow():
                raise self.error(
                    index,
                    f"control flow {name!r} is not supported; the QPU runs only if_test / if_else on one measured "
                    "clbit around single-qubit gates (cc_prx)",
                )
            else:
                raise self.error(
                    index,
                    f"operation {name!r} is not native to the QPU (native: {_NOT_NATIVE}); "
                    "run transpile(circuit, backend) first",
                )
        for run in pending.values():
            self.flush(run)
        pending.clear()

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
        """``if_test`` on one measured clbit: the branch taken on 0 is played, then, per qubit, what turns it into
        the branch taken on 1 as ``cc_prx`` pulses (:func:`qaas_core.conditioned`, Z parts included)."""
        names = self.tables.names
        op = ci.operation
        found = _condition(op.condition, cindex)
        if found is None:
            raise self.error(
                index,
                f"if_test condition {op.condition!r} is not supported: the QPU branches on one measured clbit "
                "(clbit, clbit == 0 or 1, ~clbit)",
            )
        clbit, value = found
        position = last_measure.get(clbit)
        if position is None:
            raise self.error(index, f"if_test on clbit {clbit}, which is not measured before it")
        on1 = self._body(index, op.blocks[0], ci, qindex)
        on0 = self._body(index, op.blocks[1], ci, qindex) if len(op.blocks) > 1 and op.blocks[1] is not None else {}
        if value == 0:
            on0, on1 = on1, on0
        feeding = self.out[position]
        assert feeding is not None
        key = feeding.args["key"]
        pulses: list[q.Instruction] = []
        for i, matrix in on0.items():  # the 0 branch always ...
            theta, phase, turn = q.fuse_matrix(matrix.tolist())
            if theta is not None:
                self.emit((names[i],), theta, self.frames.phase(names[i], phase))
            self.frames.rotate(names[i], turn)
        identity = np.eye(2, dtype=complex)
        for i in dict.fromkeys([*on1, *on0]):  # ... then, on 1, the 1 branch after undoing it
            change = on1.get(i, identity) @ on0.get(i, identity).conj().T
            theta, phase, turn = q.fuse_matrix(change.tolist())
            run: list[Any] = [(theta, phase)] if theta is not None else []
            played = q.conditioned(names[i], [*run, turn], self.frames, feedback_qubit=feeding.locus[0],
                                   feedback_key=key)  # fmt: skip
            if played and i not in self.tables.cc_prx:
                raise self.error(index, f"cc_prx is not calibrated on {names[i]}")
            pulses.extend(played)
        if any(type(p.args["phase"]) is not float for p in pulses):
            raise _Symbolic  # template mode only (a parametric frame): converted per binding instead
        if pulses and "feedback_key" not in feeding.args:
            self.out[position] = _Instruction("measure", feeding.locus, {"key": key, "feedback_key": key})
        self.out.extend(pulses)

    def _body(self, index: int, block: QuantumCircuit, ci: Any, qindex: Mapping[Any, int]) -> dict[int, Any]:
        """Qubit index -> the product of one branch's single-qubit gates on it (numbers only)."""
        outer = {inner: qindex[o] for inner, o in zip(block.qubits, ci.qubits, strict=True)}
        products: dict[int, NDArray[np.complex128]] = {}
        for inner in block.data:
            if inner.name in ("barrier", "id"):
                continue
            if len(inner.qubits) != 1 or inner.clbits or inner.is_control_flow() or inner.name in ("measure", "reset"):
                raise self.error(
                    index,
                    f"if_test body holds {inner.name!r}; the QPU conditions single-qubit gates only (cc_prx)",
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
        return products

    def metadata(self) -> dict[str, Any]:
        return {METADATA_KEY: circuit_header(self.circuit)}


def _name(circuit: QuantumCircuit, position: int) -> str:
    return circuit.name or f"circuit-{position}"


def convert_circuit(
    circuit: QuantumCircuit, tables: NativeTables, *, position: int = 0, fuse: bool = True
) -> q.Circuit:
    """Convert a circuit that uses only the backend's native operations.

    Args:
        circuit: A circuit transpiled for the backend (parameters bound).
        tables: The backend's :class:`NativeTables`.
        position: Index of the circuit in its batch (names unnamed circuits).
        fuse: Play each run of single-qubit gates as one pulse (default); False plays every ``u``/``r`` as its own
            pulse (Z rotations stay virtual), for gate folding (zero-noise extrapolation) and benchmarks.

    Returns:
        The circuit in the IQM transfer format, register layout in ``metadata["qiskit"]``.

    Raises:
        CircuitError: a non-native or uncalibrated operation, an unbound parameter, unsupported control flow, or a
            qubit outside the QPU (names the circuit and the Qiskit instruction index).
    """
    walk = _Walk(circuit, tables, _name(circuit, position), symbolic=False, fuse=fuse)
    walk.run()
    if not walk.out:
        raise walk.error(None, "the circuit has no operations")
    return q.Circuit(walk.name, tuple(walk.out), walk.metadata())  # type: ignore[arg-type]


def _affine(value: Any, index: Mapping[Parameter, int]) -> Affine:
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


Affine = tuple[float, dict[int, float]]
"""``(constant, {parameter index: coefficient})``, what :func:`_affine` returns."""

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

    Every pulse angle and phase that depends on parameters is kept as an affine function of the circuit's parameters
    (what Qiskit's basis translation produces for rotation gates; a parametric ``rz`` enters through the frame); the
    coefficients go into a core :class:`qaas_core.Template`, which evaluates all of them for all bindings at once
    and rebuilds only those ``prx`` instructions. A parametric run of several pulses on one qubit is fused per
    binding and its angle, phase and Z rotation become three more template columns. The result is what binding and
    converting one by one gives: the same instructions with the same canonical phases — bit for bit where no
    parametric frame or fused run is involved, to rounding (``~1e-15``) where one is. The one difference: a pulse
    that depends on the parameters is played even for a binding that makes it the identity (the instruction count
    never depends on the values). Circuits whose parameters appear non-linearly or inside control flow (or in a
    frame that a ``cc_prx`` reads) fall back to ``assign_parameters`` and a full conversion per binding (still
    without transpiling).

    Args:
        circuit: A circuit transpiled for the backend, parameters unbound.
        tables: The backend's :class:`NativeTables`.
        position: Index of the circuit in its batch (names unnamed circuits).
        fuse: As for :func:`convert_circuit`.

    Raises:
        CircuitError: the circuit is not native to the backend (as for :func:`convert_circuit`).
    """

    def __init__(self, circuit: QuantumCircuit, tables: NativeTables, *, position: int = 0, fuse: bool = True) -> None:
        self.circuit = circuit
        self.tables = tables
        self.position = position
        self.fuse = fuse
        self.parameters: tuple[Parameter, ...] = tuple(circuit.parameters)
        self.affine = True
        walk = _Walk(circuit, tables, _name(circuit, position), symbolic=True, fuse=fuse)
        try:
            walk.run()
            own = {p: i for i, p in enumerate(self.parameters)}
            index = {**own, **{p: len(own) + i for i, p in enumerate(walk.aux)}}
            slots = [
                q.TemplateSlot(pos, locus, _affine(angle, index), _affine(phase, index))
                for pos, locus, angle, phase in walk.slots
            ]
            # per fused run, its steps: (angle, phase) of a pulse, (turn, None) of a Z rotation
            self._fused: list[list[tuple[Affine, Affine | None]]] = [
                [(_affine(s[0], own), _affine(s[1], own)) if type(s) is tuple else (_affine(s, own), None) for s in run]
                for run in walk.fused
            ]
        except _Symbolic:
            self.affine = False
            return
        if not walk.out:
            raise walk.error(None, "the circuit has no operations")
        self._name = walk.name
        self._metadata = walk.metadata()
        self._template = q.Template(walk.out, slots, len(index))

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
        if self._fused:
            values = np.hstack([values, self._fused_columns(values)])
        name, metadata, circuit = self._name, self._metadata, q.Circuit
        with q.gc_paused():
            return [circuit(name, instructions, metadata) for instructions in self._template.instantiate(values)]

    def _fused_columns(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Angle, phase and Z rotation of every fused run, per binding (the template's extra columns)."""
        count = len(values)

        def evaluate(form: Affine) -> NDArray[np.float64]:
            constant, terms = form
            out = np.full(count, constant)
            for column, coefficient in terms.items():
                out = out + coefficient * values[:, column]
            return out

        columns: list[NDArray[np.float64]] = []
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite bindings are reported by the template
            for run in self._fused:
                steps = [evaluate(a) if b is None else (evaluate(a), evaluate(b)) for a, b in run]
                columns += fuse_arrays(steps, count)
        return np.column_stack(columns)

    def bind(self, bindings: Sequence[ParameterBinding]) -> list[q.Circuit]:
        """Circuits for each binding (see :func:`binding_matrix` for the accepted forms).

        Raises:
            ValidationError: a parameter is missing or a value is not a finite number.
        """
        return self.bind_values(binding_matrix(self.parameters, bindings))

    def _fallback(self, row: NDArray[np.float64]) -> q.Circuit:
        bound = self.circuit.assign_parameters(dict(zip(self.parameters, row.tolist(), strict=True)), inplace=False)
        return convert_circuit(bound, self.tables, position=self.position, fuse=self.fuse)
