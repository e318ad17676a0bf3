"""Dynamical decoupling: π pulses played in the idle gaps of a circuit, from the ASAP schedule of
:mod:`qaas_core._schedule` (the one model of the duration checks and the emulator).

A qubit idles between two of its instructions when the second waits for another component. If the gap holds the
whole sequence — ``XY4`` (``X Y X Y``) or ``XX`` — the pulses go in with even spacing ``τ`` (``τ/2`` before the
first and after the last, as ``delay`` instructions), so the sequence ends exactly when the gap does and **no other
instruction moves in time**. The product of the pulses is the identity up to a global phase.

Gaps are filled only on qubits that have already been acted on (a qubit still in ``|0⟩`` needs no protection),
never on a computational resonator or on a qubit whose state sits in a resonator (MOVE sandwich), and explicit
``delay`` instructions are left as they are. A site that rounds delay durations up to its hardware granularity may
shift the pulses by that much.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, Literal

from qaas_core._circuit import Circuit, Instruction, delay, prx
from qaas_core._errors import ValidationError
from qaas_core._schedule import schedule
from qaas_core.mitigation._native import mark
from qaas_core.mitigation._stage import Context, Stage, Variant

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration

__all__ = ["SEQUENCES", "DynamicalDecoupling", "insert_dd"]

DDSequence = Literal["XY4", "XX"]
SEQUENCES: Final[dict[str, tuple[float, ...]]] = {"XY4": (0.0, math.pi / 2, 0.0, math.pi / 2), "XX": (0.0, 0.0)}
"""Phases of the π pulses of each sequence (``PRX(π, 0)`` is X, ``PRX(π, π/2)`` is Y)."""

_SLACK: Final = 1e-9  # relative margin so that float rounding never makes a sequence outlast its gap


def insert_dd(circuit: Circuit, calibration: Calibration, sequence: DDSequence = "XY4") -> tuple[Circuit, int]:
    """Fill every idle gap of ``circuit`` that holds ``sequence`` with it.

    Returns:
        The new circuit (marked ``preserve``) and how many sequences were inserted.

    Raises:
        ValidationError: an unknown sequence.
    """
    phases = SEQUENCES.get(sequence)
    if phases is None:
        raise ValidationError(f"unknown dynamical decoupling sequence {sequence!r}; known: {', '.join(SEQUENCES)}")
    timing = schedule(circuit, calibration)
    pulse = {q: calibration.duration("prx", (q,)) for q in calibration.qubits}
    takes_prx = {locus[0] for locus in calibration.loci("prx")}
    free_at: dict[str, float] = {}  # qubit -> end of its last instruction, once it has been acted on
    moved: set[str] = set()
    inserted = 0
    out: list[Instruction] = []
    for inst, start, duration in zip(circuit.instructions, timing.starts, timing.durations, strict=True):
        for q in inst.locus:
            last = free_at.get(q)
            d = pulse.get(q)
            if last is None or q in moved or q not in takes_prx or not d:
                continue
            gap = start - last
            busy = len(phases) * d
            if gap < busy:
                continue
            spacing = (gap - busy) * (1.0 - _SLACK) / len(phases)
            block: list[Instruction] = []
            for k, phase in enumerate(phases):
                wait = spacing / 2 if k == 0 else spacing
                if wait > 0.0:
                    block.append(delay(wait, q))
                block.append(prx(q, math.pi, phase))
            if spacing > 0.0:
                block.append(delay(spacing / 2, q))
            out += block
            inserted += 1
        out.append(inst)
        if inst.name == "move":
            qubit = inst.locus[0]
            moved.symmetric_difference_update({qubit})
        for q in inst.locus:
            if inst.name == "reset":
                free_at.pop(q, None)
            elif inst.name == "barrier":
                if q in free_at:
                    free_at[q] = start
            else:
                free_at[q] = start + duration
    return mark(circuit, tuple(out), circuit.name, {}), inserted


class DynamicalDecoupling(Stage):
    """Insert a dynamical decoupling sequence into the idle gaps of each circuit (after the other pre-stages, whose
    circuits it schedules).

    Args:
        sequence: ``XY4`` (robust to pulse errors) or ``XX``.

    Raises:
        ValidationError: an unknown sequence.
    """

    def __init__(self, sequence: DDSequence = "XY4") -> None:
        if sequence not in SEQUENCES:
            raise ValidationError(f"unknown dynamical decoupling sequence {sequence!r}; known: {', '.join(SEQUENCES)}")
        self.sequence: DDSequence = sequence
        self.label = f"dd({sequence})"

    def expand(self, circuit: Circuit, context: Context) -> list[Variant]:
        if context.calibration is None:
            raise ValidationError("dynamical decoupling needs the calibration (gate durations)")
        done, count = insert_dd(circuit, context.calibration, self.sequence)
        return [Variant(done, {"dd_sequences": count})]

    def __repr__(self) -> str:
        return f"DynamicalDecoupling({self.sequence!r})"
