"""The IQM transfer format: an immutable circuit model and its rules.

A :class:`Circuit` is exactly what the IQM server receives (iqm-client >= 31 format): a name, a tuple of
:class:`Instruction` (``name``, ``locus``, ``args``, ``implementation``) and optional ``metadata``. Angles are
radians, durations are seconds, and every numeric argument is a ``float``.

Two levels of checking:

* :func:`check_circuit` needs nothing but the circuit: known operations, locus arity, argument names and types,
  unique measurement keys, ``cc_prx`` after the measurement that feeds it.
* :func:`validate_circuits` adds the calibration: known components, operations calibrated on each locus, requested
  implementations, and the MOVE sandwich rules of star devices.

Both raise :class:`~qaas_core.CircuitError` naming the circuit and the instruction index.

The limits (:data:`MAX_NAME_LENGTH`, :data:`MAX_MEASURE_WIDTH`) are the ones the ``qaas.result/1`` document enforces
when results are read back, so a circuit these checks accept always has a readable result.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from qaas_core._errors import CircuitError

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration

__all__ = [
    "MAX_MEASURE_WIDTH",
    "MAX_NAME_LENGTH",
    "NATIVE_OPERATIONS",
    "Circuit",
    "Instruction",
    "MoveGateValidation",
    "barrier",
    "cc_prx",
    "check_circuit",
    "cz",
    "delay",
    "measure",
    "move",
    "prx",
    "reset",
    "terminal_start",
    "validate_circuits",
]

MoveGateValidation = Literal["strict", "allow_prx", "none"]

MAX_NAME_LENGTH: Final = 1024
"""Most characters in a circuit name, measurement or feedback key, component or implementation name."""
MAX_MEASURE_WIDTH: Final = 4096
"""Most components one ``measure`` instruction (one measurement key) may read."""


class Instruction(msgspec.Struct, frozen=True, gc=False):
    """One native operation of a circuit.

    Attributes:
        name: Operation name, one of :data:`NATIVE_OPERATIONS`.
        locus: QPU component names the operation acts on, e.g. ``("QB1", "QB2")``.
        args: Operation arguments (see :data:`NATIVE_OPERATIONS`). Treat as read-only.
        implementation: Explicit gate implementation, normally ``None`` (the calibration's default).
    """

    name: str
    locus: tuple[str, ...]
    args: dict[str, Any] = {}
    implementation: str | None = None
    # gc=False: a batch holds millions of these and none can take part in a reference cycle, so the garbage
    # collector need not scan them (conversion of large batches is several times faster)


class Circuit(msgspec.Struct, frozen=True, gc=False):
    """A circuit in the IQM transfer format.

    Attributes:
        name: Non-empty circuit name.
        instructions: The operations in program order.
        metadata: Any JSON-serialisable data the server stores with the job.
    """

    name: str
    instructions: tuple[Instruction, ...]
    metadata: dict[str, Any] | None = None

    def measurement_keys(self) -> dict[str, tuple[str, ...]]:
        """Map each measurement key to the components it measures, in program order."""
        return {i.args["key"]: i.locus for i in self.instructions if i.name == "measure"}

    def components(self) -> tuple[str, ...]:
        """The QPU components the circuit touches, in order of first use."""
        seen: dict[str, None] = {}
        for inst in self.instructions:
            for c in inst.locus:
                seen.setdefault(c, None)
        return tuple(seen)


class _OpRule(msgspec.Struct, frozen=True):
    arity: int  # 0 means "one or more"
    required: Mapping[str, type]
    optional: Mapping[str, type]
    calibrated: bool
    symmetric: bool
    factorizable: bool


NATIVE_OPERATIONS: Final[Mapping[str, _OpRule]] = {
    "prx": _OpRule(1, {"angle": float, "phase": float}, {}, True, False, False),
    "cc_prx": _OpRule(
        1, {"angle": float, "phase": float, "feedback_qubit": str, "feedback_key": str}, {}, True, False, False
    ),
    "cz": _OpRule(2, {}, {}, True, True, False),
    "move": _OpRule(2, {}, {}, True, False, False),
    "measure": _OpRule(0, {"key": str}, {"feedback_key": str}, True, False, True),
    "reset": _OpRule(0, {}, {}, True, True, True),
    "barrier": _OpRule(0, {}, {}, False, True, False),
    "delay": _OpRule(0, {"duration": float}, {}, False, True, False),
}
"""The eight native operations: locus arity (0 = one or more), argument names and types, and calibration needs."""

_UNCALIBRATED_IMPLEMENTATIONS: Final[Mapping[str, tuple[str, ...]]] = {"barrier": (), "delay": ("wait",)}


# -- builders: the fast, typed way to make instructions -------------------------------------------------------


def prx(qubit: str, angle: float, phase: float) -> Instruction:
    """Phased X rotation ``RZ(phase)·RX(angle)·RZ(-phase)``; angles in radians."""
    return Instruction("prx", (qubit,), {"angle": float(angle), "phase": float(phase)})


def cc_prx(qubit: str, angle: float, phase: float, *, feedback_qubit: str, feedback_key: str) -> Instruction:
    """PRX applied only if the measurement of ``feedback_qubit`` under ``feedback_key`` gave 1."""
    return Instruction(
        "cc_prx",
        (qubit,),
        {"angle": float(angle), "phase": float(phase), "feedback_qubit": feedback_qubit, "feedback_key": feedback_key},
    )


def cz(a: str, b: str) -> Instruction:
    """Controlled-Z between two components."""
    return Instruction("cz", (a, b))


def move(qubit: str, resonator: str) -> Instruction:
    """Move the state of ``qubit`` into ``resonator`` (or back); the order is (qubit, resonator)."""
    return Instruction("move", (qubit, resonator))


def measure(*qubits: str, key: str, feedback_key: str | None = None) -> Instruction:
    """Z-basis measurement of ``qubits`` stored under ``key``."""
    args: dict[str, Any] = {"key": key}
    if feedback_key is not None:
        args["feedback_key"] = feedback_key
    return Instruction("measure", tuple(qubits), args)


def reset(*qubits: str) -> Instruction:
    """Active reset of ``qubits`` to ``|0>``."""
    return Instruction("reset", tuple(qubits))


def barrier(*components: str) -> Instruction:
    """Scheduling barrier across ``components``."""
    return Instruction("barrier", tuple(components))


def delay(duration: float, *components: str) -> Instruction:
    """Idle ``components`` for at least ``duration`` seconds."""
    return Instruction("delay", tuple(components), {"duration": float(duration)})


# -- structural checks ----------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return type(value).__name__


def _show(value: object) -> str:
    """``repr`` of a value, cut short so that an error message stays readable."""
    if type(value) is str and len(value) > 40:
        return f"{value[:40]!r}… ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _name_problem(value: object) -> str | None:
    """Why ``value`` is not a usable name (non-empty text of at most :data:`MAX_NAME_LENGTH` characters), or None."""
    if type(value) is not str or not value:
        return f"must be a non-empty string, got {_show(value)}"
    if len(value) > MAX_NAME_LENGTH:
        return f"must have at most {MAX_NAME_LENGTH} characters, got {_show(value)}"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"must be valid Unicode text (it holds a lone surrogate), got {_show(value)}"
    return None


def _metadata_problem(metadata: object) -> str | None:
    """Why ``metadata`` cannot travel as JSON, or None."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "metadata must be an object or null"
    try:
        _json_encode(metadata)
    except (TypeError, ValueError, RecursionError) as exc:
        return f"metadata is not JSON-serialisable: {exc}"
    return None


def _instruction_problem(inst: Instruction) -> str | None:
    """Why ``inst`` breaks a structural rule, or None."""
    rule = NATIVE_OPERATIONS.get(inst.name) if type(inst.name) is str else None
    if rule is None:
        return f"unknown operation {inst.name!r}; native operations are {', '.join(NATIVE_OPERATIONS)}"
    locus = inst.locus
    if not locus:
        return f"{inst.name}: empty locus"
    if rule.arity and len(locus) != rule.arity:
        return f"{inst.name}: locus must have {rule.arity} component(s), got {len(locus)}"
    if inst.name == "measure" and len(locus) > MAX_MEASURE_WIDTH:
        return f"measure: at most {MAX_MEASURE_WIDTH} components per measurement key, got {len(locus)}"
    for component in locus:
        problem = _name_problem(component)
        if problem is not None:
            return f"{inst.name}: locus component {problem}"
    if len(set(locus)) != len(locus):
        return f"{inst.name}: locus {locus} repeats a component"
    if inst.implementation is not None:
        problem = _name_problem(inst.implementation)
        if problem is not None:
            return f"{inst.name}: implementation {problem} (or null)"
    args = inst.args
    if type(args) is not dict:
        return f"{inst.name}: args must be an object, got {_type_name(args)}"
    for key in rule.required:
        if key not in args:
            return f"{inst.name}: missing argument {key!r}"
    for key, value in args.items():
        kind = rule.required.get(key) or rule.optional.get(key)
        if kind is None:
            return f"{inst.name}: unknown argument {key!r}"
        if kind is float:
            if type(value) is not float:
                return f"{inst.name}: argument {key!r} must be a float, got {_type_name(value)} {value!r}"
            if not math.isfinite(value):
                return f"{inst.name}: argument {key!r} must be finite, got {value!r}"
        else:
            problem = _name_problem(value)
            if problem is not None:
                return f"{inst.name}: argument {key!r} {problem}"
    if inst.name == "delay" and args["duration"] < 0.0:
        return f"delay: duration must be >= 0 seconds, got {args['duration']!r}"
    return None


_isfinite = math.isfinite
_json_encode = msgspec.json.Encoder().encode


def _fast_ok(inst: Instruction) -> bool:
    """Cheap acceptance of the two operations that make up most circuits; anything else takes the full check."""
    name = inst.name
    locus = inst.locus
    if name == "prx":
        if len(locus) != 1 or inst.implementation is not None:
            return False
        args = inst.args
        if type(args) is not dict or len(args) != 2:
            return False
        a = args.get("angle")
        p = args.get("phase")
        return (
            type(a) is float
            and type(p) is float
            and _isfinite(a)
            and _isfinite(p)
            and type(locus[0]) is str
            and 0 < len(locus[0]) <= MAX_NAME_LENGTH
            and locus[0].isascii()
        )
    if name == "cz":
        return (
            len(locus) == 2
            and not inst.args
            and inst.implementation is None
            and type(locus[0]) is str
            and type(locus[1]) is str
            and locus[0] != locus[1]
            and 0 < len(locus[0]) <= MAX_NAME_LENGTH
            and 0 < len(locus[1]) <= MAX_NAME_LENGTH
            and locus[0].isascii()
            and locus[1].isascii()
        )
    return False


def terminal_start(circuit: Circuit) -> int:
    """Index from which only final measurements (no component measured twice), barriers and delays follow: the
    readout the simulator samples at once and the part of a circuit that mitigation stages leave alone."""
    instructions = circuit.instructions
    start = len(instructions)
    seen: set[str] = set()
    for i in range(len(instructions) - 1, -1, -1):
        inst = instructions[i]
        if inst.name in ("barrier", "delay"):
            start = i
            continue
        if inst.name != "measure" or seen.intersection(inst.locus):
            break
        seen.update(inst.locus)
        start = i
    return start


def check_circuit(circuit: Circuit, *, position: int | None = None) -> None:
    """Check a circuit against the rules of the transfer format alone.

    Args:
        circuit: The circuit to check.
        position: Index of the circuit in its batch, used to name it when its name is unusable.

    Raises:
        CircuitError: the first rule broken, with circuit name and instruction index.
    """
    problem = _name_problem(circuit.name)
    label = f"#{position or 0}" if problem is not None else circuit.name
    if problem is not None:
        raise CircuitError(f"circuit name {problem}", circuit=label)
    if not circuit.instructions:
        raise CircuitError("circuit has no instructions", circuit=label)
    problem = _metadata_problem(circuit.metadata)
    if problem is not None:
        raise CircuitError(problem, circuit=label)
    keys: set[str] = set()
    feedback: dict[str, tuple[str, ...]] = {}
    for index, inst in enumerate(circuit.instructions):
        if _fast_ok(inst):
            continue
        problem = _instruction_problem(inst)
        if problem is None:
            if inst.name == "measure":
                key = inst.args["key"]
                if key in keys:
                    problem = f"measure: measurement key {key!r} is used more than once"
                keys.add(key)
                fb = inst.args.get("feedback_key")
                if fb is not None:
                    if fb in feedback:
                        problem = f"measure: feedback key {fb!r} is used more than once"
                    feedback[fb] = inst.locus
            elif inst.name == "cc_prx":
                fb = inst.args["feedback_key"]
                fq = inst.args["feedback_qubit"]
                if fb not in feedback:
                    problem = f"cc_prx: feedback key {fb!r} has no earlier measurement"
                elif fq not in feedback[fb]:
                    problem = (
                        f"cc_prx: feedback qubit {fq!r} is not measured under "
                        f"feedback key {fb!r} (that measurement acts on {feedback[fb]})"
                    )
        if problem is not None:
            raise CircuitError(problem, circuit=label, index=index)


# -- validation against a calibration ------------------------------------------------------------------------


def _calibration_problem(inst: Instruction, rule: _OpRule, calibration: Calibration) -> str | None:
    """Why ``inst`` cannot run on ``calibration``, or None."""
    components = calibration.component_set
    for component in inst.locus:
        if component not in components:
            return f"{inst.name}: component {component!r} does not exist on {calibration.device or 'the QPU'}"
    if not rule.calibrated:
        allowed_impl = _UNCALIBRATED_IMPLEMENTATIONS[inst.name]
        if inst.implementation is not None and inst.implementation not in allowed_impl:
            known = ", ".join(repr(i) for i in allowed_impl) or "none"
            return f"{inst.name}: unknown implementation {inst.implementation!r} (known: {known})"
        return None
    gate = calibration.gates.get(inst.name)
    if gate is None:
        return f"{inst.name}: operation is not calibrated (calibration set {calibration.calibration_set_id})"
    if inst.implementation is not None:
        loci = gate.implementations.get(inst.implementation)
        if loci is None:
            return (
                f"{inst.name}: implementation {inst.implementation!r} is not calibrated; "
                f"available: {', '.join(gate.implementations)}"
            )
        allowed: frozenset[tuple[str, ...]] | set[tuple[str, ...]] = set(loci)
        label = f"{inst.name}.{inst.implementation}"
    else:
        allowed = gate.locus_set
        label = inst.name
    if rule.factorizable:
        singles = {c for locus in allowed for c in locus}
        for component in inst.locus:
            if component not in singles:
                return f"{label}: not calibrated on {component!r}"
        return None
    locus = inst.locus
    if locus in allowed or (rule.symmetric and locus[::-1] in allowed):
        return None
    return f"{label}: not calibrated on locus {locus}"


def _check_moves(circuit: Circuit, calibration: Calibration, mode: MoveGateValidation, label: str) -> None:
    if mode == "none":
        return
    allowed = {"barrier", "prx"} if mode == "allow_prx" else {"barrier"}
    occupied: dict[str, str] = {}  # resonator -> qubit whose state it holds
    moved: set[str] = set()
    resonators = set(calibration.computational_resonators)
    qubits = set(calibration.qubits)
    for index, inst in enumerate(circuit.instructions):
        if inst.name == "move":
            qubit, resonator = inst.locus
            if qubit not in qubits or resonator not in resonators:
                raise CircuitError(
                    f"move: locus must be (qubit, resonator), got {inst.locus}", circuit=label, index=index
                )
            holder = occupied.get(resonator)
            if holder is None:
                if qubit in moved:
                    raise CircuitError(
                        f"move: the state of {qubit} is already in another resonator", circuit=label, index=index
                    )
                occupied[resonator] = qubit
                moved.add(qubit)
            elif holder != qubit:
                raise CircuitError(
                    f"move: {resonator} already holds the state of {holder}; close that sandwich first",
                    circuit=label,
                    index=index,
                )
            else:
                del occupied[resonator]
                moved.discard(qubit)
        elif moved and inst.name not in allowed:
            overlap = sorted(set(inst.locus) & moved)
            if overlap:
                raise CircuitError(
                    f"{inst.name} acts on {', '.join(overlap)} while its state is in a resonator "
                    f"(MOVE sandwich, validation mode {mode!r})",
                    circuit=label,
                    index=index,
                )


def validate_circuits(
    circuits: Iterable[Circuit],
    calibration: Calibration,
    *,
    move_gate_validation: MoveGateValidation = "strict",
) -> None:
    """Validate a batch against the transfer-format rules and a calibration.

    Args:
        circuits: The batch.
        calibration: The calibration the batch will run with.
        move_gate_validation: MOVE sandwich rule: ``strict`` (nothing but barriers on a moved qubit),
            ``allow_prx`` (PRX allowed too) or ``none``.

    Raises:
        CircuitError: the first rule broken, naming circuit and instruction index.
    """
    for position, circuit in enumerate(circuits):
        check_circuit(circuit, position=position)
        label = circuit.name
        fast = calibration.native_loci
        for index, inst in enumerate(circuit.instructions):
            if inst.implementation is None and (inst.name, inst.locus) in fast:
                continue
            problem = _calibration_problem(inst, NATIVE_OPERATIONS[inst.name], calibration)
            if problem is not None:
                raise CircuitError(problem, circuit=label, index=index)
        if "move" in calibration.gates or any(i.name == "move" for i in circuit.instructions):
            _check_moves(circuit, calibration, move_gate_validation, label)


def circuits_from(obj: Sequence[Circuit] | Circuit) -> tuple[Circuit, ...]:
    """Normalise one circuit or a sequence of circuits to a tuple."""
    return (obj,) if isinstance(obj, Circuit) else tuple(obj)
