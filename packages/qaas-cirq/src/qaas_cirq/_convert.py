"""Cirq circuits → the IQM transfer format (:class:`qaas_core.Circuit`).

The circuit must already be native (see :meth:`qaas_cirq.QaaSDevice.compile`); conversion then is one pass over the
operations, in moment order:

==================================================  ==============================================================
Cirq                                                IQM
==================================================  ==============================================================
``PhasedXPowGate(p, t)``, ``XPowGate(t)``,          ``prx(angle=π·t, phase=π·p)`` (``p`` = 0 for X, ½ for Y)
``YPowGate(t)`` (also ``rx``, ``ry``, ``X``, ``Y``)
``ZPowGate(t)`` (``rz``, ``Z``, ``S``, ``T``)       nothing: a *virtual* Z, folded into later phases (below)
``PhasedXZGate(x, z, a)``                           ``prx(π·x, π·a)`` followed by a virtual ``Z^z``
``CZPowGate`` with exponent 1 (``cirq.CZ``)         ``cz``
``MeasurementGate``                                 ``measure`` (key = the Cirq key; invert masks are refused)
``ResetChannel``                                    ``reset``
:class:`~qaas_cirq.MoveGate`                        ``move`` (operands: qubit, resonator)
``WaitGate``                                        ``delay`` (seconds)
X / Y / PhasedX controlled by one single-qubit      ``cc_prx`` (the measurement gets a ``feedback_key``)
measurement key
``IdentityGate``, ``GlobalPhaseGate``               nothing
==================================================  ==============================================================

Global phases (``global_shift``) are dropped. Qubits are ``cirq.NamedQubit`` (or ``cirq.NamedQid`` of dimension 2)
named like the QPU component (``QB1`` …, resonators ``CR1`` …).

**Virtual Z.** The IQM format has no Z rotation. Every component carries a frame angle λ (the Z rotation owed at
that point, a :class:`qaas_core.Frames`); ``PRX(θ, φ)·RZ(λ) = RZ(λ)·PRX(θ, φ − λ)`` shifts each later PRX phase,
CZ and measurements commute with the frames, ``reset`` clears them and ``move`` exchanges the frames of qubit and
resonator. The frames left at the end are Z rotations just before the measurements (or at the end), which change no
outcome; the converted circuit equals the Cirq circuit up to those output Z phases. Phases are wrapped into (−π, π]
(:func:`qaas_core.wrap_phase`, the canonical phase of every qaas front end).

**Measurement keys.** IQM needs unique keys; Cirq allows a key to repeat (its results then carry several
*instances*). The first measurement under a key keeps it, later ones are sent as ``key#1``, ``key#2`` … and mapped
back when results arrive.

Parameterised circuits are converted once into a template by :mod:`qaas_cirq._sweep`, which shares this walker.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, Final, NamedTuple

import cirq
import sympy

import qaas_core as q
from qaas_cirq._affine import Affine, affine_of
from qaas_cirq._errors import ConversionError
from qaas_cirq._gates import MoveGate

__all__ = [
    "NotTemplatable",
    "Slot",
    "Walk",
    "circuit_to_qaas",
    "circuits_to_qaas",
    "component_name",
    "instructions_of",
    "native_operation",
    "walk",
]

_PI: Final = math.pi
_HALF_PI: Final = math.pi / 2
_Instruction: Final = q.Instruction

# operation kinds
_X, _Y, _PHX, _PHXZ, _Z, _CZ, _MEASURE, _RESET, _MOVE, _WAIT, _SKIP, _UNSUPPORTED = range(12)

_KIND_BY_CLASS: Final[tuple[tuple[type, int], ...]] = (
    (cirq.PhasedXPowGate, _PHX),
    (cirq.XPowGate, _X),
    (cirq.YPowGate, _Y),
    (cirq.ZPowGate, _Z),
    (cirq.PhasedXZGate, _PHXZ),
    (cirq.CZPowGate, _CZ),
    (cirq.MeasurementGate, _MEASURE),
    (cirq.ResetChannel, _RESET),
    (MoveGate, _MOVE),
    (cirq.WaitGate, _WAIT),
    (cirq.IdentityGate, _SKIP),
    (cirq.GlobalPhaseGate, _SKIP),
)
_KINDS: dict[type, int] = {}  # gate class -> kind, filled on first sight
_LOCI: dict[cirq.Qid, tuple[str, ...]] = {}  # qid -> (component name,), a bounded cache
_BY_NAME: dict[str, tuple[str, ...]] = {}  # NamedQubit name -> (name,), for the fast path


class _NoType:
    """Stands for a type whose private fields cannot be trusted (never the type of anything)."""


def _fast_fields() -> tuple[frozenset[type], frozenset[type], type]:
    """Which exact types' private fields mirror their public properties in this Cirq version (checked at import).

    The conversion's hot loop reads ``op._gate``, ``op._qubits``, ``gate._exponent``, ``gate._phase_exponent`` and
    ``qubit._name`` for these types instead of calling the properties, which is a third of the conversion time. A
    Cirq release that renames a field only switches the fast path off for that type (see the tests).

    Returns:
        Operation types, gate types (``_exponent``, and ``_phase_exponent`` for PhasedX) and the qubit type whose
        ``_name`` can be read (or a type nothing has).
    """
    a, b = cirq.NamedQubit("QB1"), cirq.NamedQubit("QB2")
    samples = [
        cirq.PhasedXPowGate(phase_exponent=0.25, exponent=0.5)(a), cirq.X(a), cirq.Y(a), cirq.Z(a), cirq.X(a) ** 0.5,
        cirq.Y(a) ** 0.5, cirq.Z(a) ** 0.5, cirq.rx(0.1)(a), cirq.ry(0.2)(a), cirq.rz(0.3)(a), cirq.CZ(a, b),
    ]  # fmt: skip
    operations: set[type] = set()
    gates: set[type] = set()
    for op in samples:
        gate = op.gate
        if getattr(op, "_gate", None) is gate and getattr(op, "_qubits", None) == op.qubits:
            operations.add(type(op))
        phased = not isinstance(gate, cirq.PhasedXPowGate) or getattr(gate, "_phase_exponent", None) == 0.25
        if getattr(gate, "_exponent", None) == gate.exponent and phased:
            gates.add(type(gate))
    named: type = cirq.NamedQubit if getattr(a, "_name", None) == a.name else _NoType
    return frozenset(operations), frozenset(gates), named


_FAST_OPS, _FAST_GATES, _NAMED_QUBIT = _fast_fields()


def _kind(gate: object) -> int:
    cls = type(gate)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = next((k for base, k in _KIND_BY_CLASS if isinstance(gate, base)), _UNSUPPORTED)
        _KINDS[cls] = kind
    return kind


def _locus_of(qid: cirq.Qid) -> tuple[str, ...]:
    locus = _LOCI.get(qid)
    if locus is not None:
        return locus
    if isinstance(qid, cirq.NamedQubit) or (isinstance(qid, cirq.NamedQid) and qid.dimension == 2):
        locus = (qid.name,)
    else:
        raise ConversionError(
            f"{qid!r} is not a QPU component; compile the circuit for the device (QaaSDevice.compile) or use "
            "cirq.NamedQubit('QB1') …"
        )
    if len(_LOCI) > 65536:
        _LOCI.clear()
        _BY_NAME.clear()
    _LOCI[qid] = locus
    if type(qid) is _NAMED_QUBIT:
        _BY_NAME[locus[0]] = locus
    return locus


def component_name(qid: cirq.Qid) -> str:
    """The QPU component a Cirq qubit stands for.

    Raises:
        ConversionError: ``qid`` is not a ``cirq.NamedQubit`` or a two-level ``cirq.NamedQid``.
    """
    return _locus_of(qid)[0]


Value = float | Affine


def _slow_value(x: object, what: str, symbolic: bool, moment: int, op: cirq.Operation) -> Value:
    """A gate parameter that is not a plain float: other real numbers, sympy numbers or expressions."""
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, sympy.Basic):
        if symbolic:
            try:
                value = affine_of(x)
            except TypeError as exc:
                raise ConversionError(f"{what} {x} is not real-valued", moment=moment, operation=op) from exc
            return value if value.terms or value.other else value.const
        if not x.free_symbols:
            try:
                return float(x)
            except TypeError as exc:
                raise ConversionError(f"{what} {x} is not a real number", moment=moment, operation=op) from exc
        names = ", ".join(sorted(str(s) for s in x.free_symbols))
        raise ConversionError(
            f"unresolved parameter(s) {names} in {what}; pass values for them (params= / a ParamResolver)",
            moment=moment,
            operation=op,
        )
    raise ConversionError(f"{what} {x!r} is not a real number", moment=moment, operation=op)


# -- the walk -------------------------------------------------------------------------------------------------


class Slot(NamedTuple):
    """A ``prx`` / ``cc_prx`` whose angle or phase depends on sweep symbols (phase not yet wrapped)."""

    name: str
    locus: tuple[str, ...]
    angle: Value
    phase: Value
    extra: dict[str, str]


class NotTemplatable(Exception):
    """A symbolic parameter sits where only a per-resolver conversion can handle it (e.g. a symbolic CZ power)."""


class Walk(NamedTuple):
    """The result of one pass over a circuit.

    Attributes:
        items: Instructions in program order; :class:`Slot` where a value depends on symbols.
        keys: Wire measurement key -> ``(Cirq key, instance)``, only for keys that were renamed (repeated keys).
        measured: Whether the circuit measures anything.
    """

    items: list[q.Instruction | Slot]
    keys: dict[str, tuple[str, int]]
    measured: bool


class _Unroll(Exception):
    """The circuit holds CircuitOperations: unroll and walk again."""


def walk(
    circuit: cirq.AbstractCircuit,
    *,
    symbolic: bool = False,
    origins: list[tuple[int, cirq.Operation]] | None = None,
) -> Walk:
    """Convert the operations of ``circuit`` to native instructions (see the module docstring).

    Args:
        circuit: A native circuit.
        symbolic: Keep sympy-dependent angles and phases as :class:`Slot` items (otherwise they are an error).
        origins: If given, receives ``(moment index, operation)`` for every item, for error reports.

    Raises:
        ConversionError: the circuit is not native or uses something the IQM format cannot express.
        NotTemplatable: (only with ``symbolic``) a symbol sits where a template cannot hold it.
    """
    try:
        return _walk(circuit, symbolic, origins)
    except _Unroll:
        if origins is not None:
            origins.clear()
        flat = cirq.unroll_circuit_op(circuit, deep=True, tags_to_check=None)
        return _walk(flat, symbolic, origins)


def _walk(circuit: cirq.AbstractCircuit, symbolic: bool, origins: list[tuple[int, cirq.Operation]] | None) -> Walk:
    items: list[q.Instruction | Slot] = []
    append = items.append
    frames = q.Frames()
    angles = frames.angles  # read directly on the fast path
    wrap = q.wrap_phase
    loci = _LOCI
    locus_of = _locus_of
    by_name = _BY_NAME
    fast_ops, fast_gates = _FAST_OPS, _FAST_GATES
    named_qubit: Any = _NAMED_QUBIT
    # the two operations compiled circuits are made of get a short path (anything unusual takes the general one)
    phx_type = cirq.PhasedXPowGate if cirq.PhasedXPowGate in fast_gates else _NoType
    cz_type = cirq.CZPowGate if cirq.CZPowGate in fast_gates else _NoType
    kinds = _KINDS
    instruction = _Instruction
    pi = _PI
    cz_cache: dict[tuple[str, str], q.Instruction] = {}
    # Cirq key -> (index of its latest measure item, wire key, locus); Cirq key -> measurements so far
    latest: dict[str, tuple[int, str, tuple[str, ...]]] = {}
    renamed: dict[str, tuple[str, int]] = {}
    wire_keys: set[str] = set()

    for mi, moment in enumerate(circuit):
        for op in moment.operations:
            fast = type(op) in fast_ops
            gate = op._gate if fast else op.gate  # type: ignore[attr-defined]
            if fast:
                g: Any = gate
                gate_type = type(g)
                if gate_type is phx_type:
                    e = g._exponent
                    p = g._phase_exponent
                    qid = op._qubits[0]  # type: ignore[attr-defined]
                    locus = by_name.get(qid._name) if type(qid) is named_qubit else None
                    if locus is not None and type(e) is float and type(p) is float:
                        ph: Any = p * pi
                        if angles:
                            fr = angles.get(locus[0])
                            if fr is not None:
                                ph = ph - fr
                        if type(ph) is float:
                            if ph > pi or ph < -pi:
                                ph = wrap(ph)
                            append(instruction("prx", locus, {"angle": e * pi, "phase": ph}))
                            if origins is not None:
                                origins.append((mi, op))
                            continue
                elif gate_type is cz_type and g._exponent == 1.0:
                    a, b = op._qubits  # type: ignore[attr-defined]
                    if type(a) is named_qubit and type(b) is named_qubit:
                        key = (a._name, b._name)
                        inst = cz_cache.get(key)
                        if inst is None:
                            inst = cz_cache[key] = instruction("cz", key)
                        append(inst)
                        if origins is not None:
                            origins.append((mi, op))
                        continue
            kind = kinds.get(type(gate))
            if kind is None:
                if gate is None:
                    _other_operation(op, mi, items, frames, latest, symbolic)
                    if origins is not None:
                        origins.extend((mi, op) for _ in range(len(items) - len(origins)))
                    continue
                kind = _kind(gate)
            qubits = op._qubits if fast else op.qubits  # type: ignore[attr-defined]
            if kind <= _PHX:  # X, Y, PhasedX
                locus = loci.get(qubits[0]) or locus_of(qubits[0])
                name = locus[0]
                exact = type(gate) in fast_gates
                e = gate._exponent if exact else gate.exponent  # type: ignore[union-attr]
                angle: Value = e * pi if type(e) is float else _slow_value(e, "exponent", symbolic, mi, op) * pi
                if kind == _X:
                    phase: Value = 0.0
                elif kind == _Y:
                    phase = _HALF_PI
                else:
                    p = gate._phase_exponent if exact else gate.phase_exponent  # type: ignore[union-attr]
                    phase = p * pi if type(p) is float else _slow_value(p, "phase exponent", symbolic, mi, op) * pi
                phase = frames.phase(name, phase)
                if type(angle) is float and type(phase) is float:
                    append(instruction("prx", locus, {"angle": angle, "phase": phase}))
                else:
                    append(Slot("prx", locus, angle, phase, {}))
            elif kind == _CZ:
                a, b = qubits
                na = (loci.get(a) or locus_of(a))[0]
                nb = (loci.get(b) or locus_of(b))[0]
                e = gate._exponent if type(gate) in fast_gates else gate.exponent  # type: ignore[union-attr]
                if e != 1.0:
                    _check_cz_exponent(e, symbolic, mi, op)
                inst = cz_cache.get((na, nb))
                if inst is None:
                    inst = cz_cache[(na, nb)] = instruction("cz", (na, nb))
                append(inst)
            elif kind == _Z:
                name = (loci.get(qubits[0]) or locus_of(qubits[0]))[0]
                e = gate._exponent if type(gate) in fast_gates else gate.exponent  # type: ignore[union-attr]
                turn: Value = e * pi if type(e) is float else _slow_value(e, "exponent", symbolic, mi, op) * pi
                frames.rotate(name, turn)
            elif kind == _PHXZ:
                locus = loci.get(qubits[0]) or locus_of(qubits[0])
                name = locus[0]
                x = gate.x_exponent  # type: ignore[union-attr]
                z = gate.z_exponent  # type: ignore[union-attr]
                a_ = gate.axis_phase_exponent  # type: ignore[union-attr]
                xv = x if type(x) is float else _slow_value(x, "x exponent", symbolic, mi, op)
                zv = z if type(z) is float else _slow_value(z, "z exponent", symbolic, mi, op)
                av = a_ if type(a_) is float else _slow_value(a_, "axis phase exponent", symbolic, mi, op)
                if not (type(xv) is float and xv == 0.0):
                    phase = frames.phase(name, av * pi)
                    if type(xv) is float and type(phase) is float:
                        append(instruction("prx", locus, {"angle": xv * pi, "phase": phase}))
                    else:
                        append(Slot("prx", locus, xv * pi, phase, {}))
                frames.rotate(name, zv * pi)
            elif kind == _MEASURE:
                locus = tuple([(loci.get(qid) or locus_of(qid))[0] for qid in qubits])
                key = gate.key  # type: ignore[union-attr]
                if any(gate.full_invert_mask()) or gate.confusion_map:  # type: ignore[union-attr]
                    raise ConversionError(
                        "measurement invert masks and confusion maps are not supported by IQM; measure plainly and "
                        "flip the bits afterwards",
                        moment=mi,
                        operation=op,
                    )
                previous = latest.get(key)
                if previous is None:
                    wire = key
                else:
                    instance = renamed.get(previous[1], (key, 0))[1] + 1
                    wire = f"{key}#{instance}"
                    renamed.setdefault(key, (key, 0))
                    renamed[wire] = (key, instance)
                if wire in wire_keys:
                    raise ConversionError(
                        f"measurement key {wire!r} collides with the name given to a repeated key; rename it",
                        moment=mi,
                        operation=op,
                    )
                wire_keys.add(wire)
                latest[key] = (len(items), wire, locus)
                append(instruction("measure", locus, {"key": wire}))
            elif kind == _RESET:
                if gate.dimension != 2:  # type: ignore[union-attr]
                    raise ConversionError("only qubit resets (dimension 2) are native", moment=mi, operation=op)
                locus = tuple([(loci.get(qid) or locus_of(qid))[0] for qid in qubits])
                frames.reset(locus)
                append(instruction("reset", locus))
            elif kind == _MOVE:
                qb, res = ((loci.get(qid) or locus_of(qid))[0] for qid in qubits)
                frames.move(qb, res)
                append(instruction("move", (qb, res)))
            elif kind == _WAIT:
                nanos = gate.duration.total_nanos()  # type: ignore[union-attr]
                if not isinstance(nanos, numbers.Real):
                    if symbolic:
                        raise NotTemplatable
                    _slow_value(nanos, "wait duration", False, mi, op)
                locus = tuple([(loci.get(qid) or locus_of(qid))[0] for qid in qubits])
                if locus:
                    append(instruction("delay", locus, {"duration": float(nanos) * 1e-9}))
            elif kind == _SKIP:
                pass
            else:
                _unsupported(op, mi)
            if origins is not None and len(origins) < len(items):
                origins.append((mi, op))
    return Walk(items, renamed, bool(latest))


def _check_cz_exponent(e: object, symbolic: bool, mi: int, op: cirq.Operation) -> None:
    if isinstance(e, sympy.Basic) and e.free_symbols:
        if symbolic:
            raise NotTemplatable
        _slow_value(e, "exponent", False, mi, op)
    value = float(e)  # type: ignore[arg-type]
    if abs(math.remainder(value - 1.0, 2.0)) > 1e-12:
        raise ConversionError(
            f"CZ**{value} is not native (only CZ); compile the circuit first (QaaSDevice.compile)",
            moment=mi,
            operation=op,
        )


def _unsupported(op: cirq.Operation, mi: int | None) -> None:
    raise ConversionError(
        f"{type(op.gate).__name__} is not a native IQM operation; compile the circuit first (QaaSDevice.compile)",
        moment=mi,
        operation=op,
    )


def _other_operation(
    op: cirq.Operation,
    mi: int,
    items: list[q.Instruction | Slot],
    frames: q.Frames,
    latest: dict[str, tuple[int, str, tuple[str, ...]]],
    symbolic: bool,
) -> None:
    """Operations without a gate: classically controlled ones (→ ``cc_prx``) and subcircuits (→ unroll)."""
    if isinstance(op, cirq.CircuitOperation):
        raise _Unroll
    if not isinstance(op, cirq.ClassicallyControlledOperation):
        raise ConversionError(
            f"{type(op).__name__} is not a native IQM operation; compile the circuit first (QaaSDevice.compile)",
            moment=mi,
            operation=op,
        )
    key, on0, on1 = _condition(op, mi)
    measured = latest.get(key)
    if measured is None:
        raise ConversionError(f"the condition reads key {key!r}, which no earlier measurement sets", moment=mi,
                              operation=op)  # fmt: skip
    index, wire, mlocus = measured
    if len(mlocus) != 1:
        raise ConversionError(
            f"cc_prx needs a single-qubit measurement as condition; key {key!r} measures {len(mlocus)} qubits",
            moment=mi,
            operation=op,
        )
    sub = op.without_classical_controls()
    gate = sub.gate
    kind = _kind(gate) if gate is not None else _UNSUPPORTED
    name = component_name(sub.qubits[0]) if len(sub.qubits) == 1 else ""
    prx_type = kind in (_X, _Y, _PHX) or (kind == _PHXZ and _no_z(gate, symbolic, mi, op))
    if not (on0 or on1):
        return
    if on0 or not prx_type:  # any single-qubit unitary, and conditions on 0: the core's conditioned construction
        _conditioned_unitary(sub, name, on0, on1, items, frames, (index, wire, mlocus), mi)
        return
    if kind == _PHXZ:
        angle = _slow_value(gate.x_exponent, "x exponent", symbolic, mi, op) * _PI  # type: ignore[union-attr]
        phase: Value = _slow_value(gate.axis_phase_exponent, "axis phase exponent", symbolic, mi, op) * _PI  # type: ignore[union-attr]
    else:
        angle = _slow_value(gate.exponent, "exponent", symbolic, mi, op) * _PI  # type: ignore[union-attr]
        if kind == _X:
            phase = 0.0
        elif kind == _Y:
            phase = _HALF_PI
        else:
            phase = _slow_value(gate.phase_exponent, "phase exponent", symbolic, mi, op) * _PI  # type: ignore[union-attr]
    phase = frames.phase(name, phase)
    measure = items[index]
    if isinstance(measure, q.Instruction) and "feedback_key" not in measure.args:
        items[index] = _Instruction("measure", measure.locus, {"key": wire, "feedback_key": wire})
    extra = {"feedback_qubit": mlocus[0], "feedback_key": wire}
    if type(angle) is float and type(phase) is float:
        items.append(_Instruction("cc_prx", (name,), {"angle": angle, "phase": phase, **extra}))
    else:
        items.append(Slot("cc_prx", (name,), angle, phase, extra))


def _no_z(gate: Any, symbolic: bool, mi: int, op: cirq.Operation) -> bool:
    """Whether a PhasedXZ has no Z part (z = 0 mod 2), so it is one PRX; a symbolic z is refused by name."""
    z = _slow_value(gate.z_exponent, "z exponent", symbolic, mi, op)
    if isinstance(z, Affine):
        raise ConversionError("a classically controlled PhasedXZ with a symbolic z cannot be played (the Z part of a "
                              "conditional needs its value); resolve it first", moment=mi, operation=op)  # fmt: skip
    return abs(math.remainder(z, 2.0)) <= 1e-12


def _condition(op: cirq.ClassicallyControlledOperation, mi: int) -> tuple[str, bool, bool]:
    """The measurement key a condition reads and whether the operation runs when its bit is 0 and when it is 1.

    One condition on one key: ``cirq.KeyCondition`` (the latest measurement) or a ``cirq.SympyCondition`` in that
    one key's value (``m == 0``, ``Not(m)`` …), evaluated at 0 and 1.
    """
    conditions = tuple(op.classical_controls)
    condition = conditions[0] if len(conditions) == 1 else None
    if type(condition) is cirq.KeyCondition and condition.index == -1:
        return str(condition.key), False, True
    if type(condition) is cirq.SympyCondition and len(condition.keys) == 1:
        (key,) = condition.keys
        symbols = condition.expr.free_symbols
        if len(symbols) == 1:
            (symbol,) = symbols
            try:
                on0, on1 = (bool(condition.expr.subs(symbol, v)) for v in (0, 1))
            except TypeError:
                pass
            else:
                return str(key), on0, on1
    raise ConversionError("a classically controlled operation needs one condition on one single-qubit measurement "
                          "(cirq.KeyCondition, or a SympyCondition in that key alone): the QPU branches on one bit",
                          moment=mi, operation=op)  # fmt: skip


def _conditioned_unitary(
    sub: cirq.Operation, name: str, on0: bool, on1: bool, items: list[q.Instruction | Slot], frames: q.Frames,
    measured: tuple[int, str, tuple[str, ...]], mi: int,
) -> None:  # fmt: skip
    """A single-qubit unitary played when the bit is 1, when it is 0 (played, then undone on 1) or always."""
    if len(sub.qubits) != 1 or not cirq.has_unitary(sub) or cirq.is_parameterized(sub):
        raise ConversionError("only single-qubit gates with a fixed unitary can be classically controlled: the QPU "
                              "conditions single-qubit pulses", moment=mi, operation=sub)  # fmt: skip
    theta, phase, z = q.fuse_matrix(cirq.unitary(sub).tolist())
    run: list[tuple[float, float] | float] = ([] if theta is None else [(theta, phase)]) + [z]
    if on0:  # always ...
        if theta is not None:
            items.append(_Instruction("prx", (name,), {"angle": theta, "phase": frames.phase(name, phase)}))
        frames.rotate(name, z)
        if on1:
            return
        run = [(-theta, phase)] if theta is not None else []
        run = [-z, *run]  # ... and undone when the bit is 1: the inverse, latest step first
    index, wire, mlocus = measured
    measure = items[index]
    if isinstance(measure, q.Instruction) and "feedback_key" not in measure.args:
        items[index] = _Instruction("measure", measure.locus, {"key": wire, "feedback_key": wire})
    items.extend(q.conditioned(name, run, frames, feedback_qubit=mlocus[0], feedback_key=wire))


_OPERATION_NAMES: Final = {
    _X: "prx", _Y: "prx", _PHX: "prx", _PHXZ: "prx", _Z: "", _CZ: "cz", _MEASURE: "measure", _RESET: "reset",
    _MOVE: "move", _WAIT: "delay", _SKIP: "",
}  # fmt: skip


def native_operation(op: cirq.Operation) -> str:
    """The IQM operation ``op`` becomes: ``prx``, ``cz`` … ``cc_prx``, or ``""`` for virtual / dropped ones.

    Raises:
        ConversionError: ``op`` is not native.
    """
    gate = op.gate
    if gate is None:
        if isinstance(op, cirq.ClassicallyControlledOperation):
            sub = op.without_classical_controls()
            if len(sub.qubits) == 1 and (cirq.has_unitary(sub) or _kind(sub.gate) in (_X, _Y, _PHX, _PHXZ)):
                return "cc_prx"
            raise ConversionError("only single-qubit gates can be classically controlled (cc_prx)",
                                  operation=op)  # fmt: skip
        if isinstance(op, cirq.CircuitOperation):
            raise ConversionError("subcircuits must be unrolled (cirq.unroll_circuit_op)", operation=op)
        _unsupported(op, None)
    kind = _kind(gate)
    if kind == _UNSUPPORTED:
        _unsupported(op, None)
    if kind == _CZ:
        e = gate.exponent  # type: ignore[union-attr]
        if not (isinstance(e, sympy.Basic) and e.free_symbols):
            _check_cz_exponent(e, False, 0, op)
    elif kind == _MEASURE and (any(gate.full_invert_mask()) or gate.confusion_map):  # type: ignore[union-attr]
        raise ConversionError("measurement invert masks and confusion maps are not supported by IQM", operation=op)
    elif kind == _RESET and gate.dimension != 2:  # type: ignore[union-attr]
        raise ConversionError("only qubit resets (dimension 2) are native", operation=op)
    return _OPERATION_NAMES[kind]


def circuit_to_qaas(
    circuit: cirq.AbstractCircuit, *, name: str = "cirq", metadata: dict[str, Any] | None = None
) -> q.Circuit:
    """Convert a native, fully resolved Cirq circuit to a :class:`qaas_core.Circuit`.

    Args:
        circuit: A circuit in the native gate set (see the module docstring), on ``cirq.NamedQubit`` components.
        name: Name of the IQM circuit.
        metadata: JSON metadata stored with the circuit. Repeated measurement keys add a ``keys`` entry mapping
            the wire keys back to ``[Cirq key, instance]``.

    Returns:
        The circuit in the IQM transfer format.

    Raises:
        ConversionError: a non-native operation, an invert mask, an unknown kind of qubit or an unresolved symbol.
    """
    with q.gc_paused():
        result = walk(circuit)
    if result.keys:
        metadata = {**(metadata or {}), "keys": {w: list(v) for w, v in result.keys.items()}}
    return q.Circuit(name, tuple(result.items), metadata)  # type: ignore[arg-type]


def circuits_to_qaas(circuits: Iterable[cirq.AbstractCircuit], *, name: str = "cirq") -> list[q.Circuit]:
    """Convert a batch of native, resolved circuits (named ``{name}-0``, ``{name}-1`` …).

    The same as :func:`circuit_to_qaas` per circuit, but the whole batch is built under one pause of the garbage
    collector, which otherwise re-scans every instruction built so far again and again (twice as fast for a batch
    of a thousand 600-operation circuits).

    Raises:
        ConversionError: a circuit cannot be converted (the error names it by its position).
    """
    out = []
    with q.gc_paused():
        for index, circuit in enumerate(circuits):
            try:
                out.append(circuit_to_qaas(circuit, name=f"{name}-{index}"))
            except ConversionError as exc:
                raise ConversionError(f"circuit {index}: {exc.reason}", moment=exc.moment,
                                      operation=exc.operation) from exc  # fmt: skip
    return out


def instructions_of(items: Iterable[q.Instruction | Slot]) -> tuple[q.Instruction, ...]:
    """Items with every slot replaced by a placeholder PRX (for checks that need the structure only)."""
    return tuple(
        i if isinstance(i, q.Instruction) else _Instruction(i.name, i.locus, {"angle": 0.0, "phase": 0.0, **i.extra})
        for i in items
    )
