"""How long a circuit runs: the one schedule model of the client's pre-submit check, the emulated server's duration
check and the simulator's idle noise.

The model is ASAP (as soon as possible) with the calibrated durations:

* An instruction starts as soon as every component of its locus is free; a ``cc_prx`` also waits for the end of
  the measurement that carries its ``feedback_key`` (it cannot act on a result not yet read).
* It lasts the calibrated duration of its operation on its locus (a ``cz`` in either order). ``delay`` lasts its
  ``duration`` argument; ``barrier`` lasts nothing but still synchronises its components (they are all free only
  from the latest of them on).
* A ``measure`` or ``reset`` of several components is one **parallel** operation: all of them start together and
  stay busy for the calibrated duration of the whole locus if the calibration has one, otherwise for the longest of
  their single-component durations.
* A duration the calibration does not know counts as 0.

The duration of a circuit is the time at which its last component is free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration
    from qaas_core._circuit import Circuit, Instruction

__all__ = ["Schedule", "circuit_duration", "instruction_duration", "schedule"]

_PARALLEL = frozenset({"measure", "reset"})


class Schedule(NamedTuple):
    """An ASAP schedule of a circuit (seconds).

    Attributes:
        starts: Start time of each instruction, in program order.
        durations: Duration of each instruction.
        duration: When the last component is free: the duration of the circuit.
    """

    starts: tuple[float, ...]
    durations: tuple[float, ...]
    duration: float


def instruction_duration(instruction: Instruction, calibration: Calibration) -> float:
    """How long ``instruction`` keeps its components busy (see the module docstring for the rules)."""
    name = instruction.name
    if name == "delay":
        return float(instruction.args["duration"])
    if name == "barrier":
        return 0.0
    duration = calibration.duration(name, instruction.locus)
    if duration is None and name in _PARALLEL and len(instruction.locus) > 1:
        return max(calibration.duration(name, (c,)) or 0.0 for c in instruction.locus)
    return duration or 0.0


def _run(
    circuit: Circuit, calibration: Calibration, starts: list[float] | None, durations: list[float] | None
) -> float:
    clock: dict[str, float] = {}
    ready: dict[str, float] = {}  # feedback key -> end of the measurement that sets it
    get = clock.get
    for inst in circuit.instructions:
        locus = inst.locus
        start = get(locus[0], 0.0) if len(locus) == 1 else max([get(c, 0.0) for c in locus], default=0.0)
        if inst.name == "cc_prx":
            start = max(start, ready.get(inst.args.get("feedback_key", ""), 0.0))
        duration = instruction_duration(inst, calibration)
        end = start + duration
        for c in locus:
            clock[c] = end
        if inst.name == "measure" and "feedback_key" in inst.args:
            ready[inst.args["feedback_key"]] = end
        if starts is not None and durations is not None:
            starts.append(start)
            durations.append(duration)
    return max(clock.values(), default=0.0)


def circuit_duration(circuit: Circuit, calibration: Calibration) -> float:
    """The duration in seconds of ``circuit`` under the ASAP schedule of the module docstring."""
    return _run(circuit, calibration, None, None)


def schedule(circuit: Circuit, calibration: Calibration) -> Schedule:
    """The ASAP schedule of ``circuit`` (start and duration of every instruction, and the circuit's duration)."""
    starts: list[float] = []
    durations: list[float] = []
    total = _run(circuit, calibration, starts, durations)
    return Schedule(tuple(starts), tuple(durations), total)
