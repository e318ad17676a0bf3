"""Virtual Z rotations: the frame of every component, and the one canonical phase of PRX-type instructions.

The IQM transfer format has no Z rotation. Every converter (Qiskit, Cirq, PennyLane, OpenQASM 3) therefore keeps a
*frame* angle λ per component — the Z rotation applied so far but not yet played — and since
``PRX(θ, φ)·RZ(λ) = RZ(λ)·PRX(θ, φ − λ)``, a later ``PRX(θ, φ)`` is played as ``PRX(θ, φ − λ)``. ``cz`` and
measurements commute with the frames, ``reset`` clears them, and ``move`` exchanges the frames of the qubit and the
resonator. The frames left at the end are Z rotations just before measurement (or at the end): they change no
outcome, so they are never played.

**Canonical phase.** Every ``prx`` / ``cc_prx`` phase that a converter or a template emits is
:func:`wrap_phase` of the raw value: its representative in ``(−π, π]`` (the convention of Cirq's half-turns and of
``cmath.phase``), computed as ``φ − 2π·round(φ / 2π)`` (round half to even) and moved into ``(−π, π]`` if rounding
left it just outside; the identity on ``(−π, π]``. These few float operations are the same one by one in Python and
element-wise in numpy (:func:`qaas_core._template.wrap_phases`), so a direct conversion and a template instantiation
of the same value give the same bits (and stay within an ulp or two of the exact remainder). Angles are left as the
front end wrote them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["PHASE_LIMIT", "PI", "TAU", "Frames", "wrap_phase"]

PI: Final = math.pi
TAU: Final = 2.0 * math.pi
"""A full turn, ``2π`` (exactly twice the float ``π``)."""

PHASE_LIMIT: Final = TAU * 2.0**52
"""Beyond this, ``2π`` is below the spacing of floats and no phase is meaningful."""


def wrap_phase(phase: float) -> float:
    """The canonical phase: ``phase`` modulo ``2π`` in ``(−π, π]`` (see the module docstring; non-finite values and
    values beyond ``2**52`` turns are returned as they are, for validation to report)."""
    if -PI < phase <= PI or not -PHASE_LIMIT < phase < PHASE_LIMIT:
        return phase
    wrapped = phase - TAU * round(phase / TAU)
    if wrapped > PI:
        wrapped -= TAU
    elif wrapped <= -PI:
        wrapped += TAU
    return wrapped


class Frames:
    """The virtual Z frame of each component, as the instructions of one circuit are emitted in order.

    Values are floats, or any value that supports ``+`` and ``-`` with floats (an adapter's symbolic angle: a sweep
    template keeps phases symbolic, and wraps them when it fills them in). Float frames and phases are wrapped with
    :func:`wrap_phase`.

    Attributes:
        angles: component -> frame angle (components never rotated are absent: frame 0). Read-only for callers;
            exposed so that a hot loop can look frames up without a method call.
    """

    __slots__ = ("angles",)

    def __init__(self) -> None:
        self.angles: dict[str, Any] = {}

    def rotate(self, component: str, angle: Any) -> None:
        """A virtual ``RZ(angle)`` on ``component``: add it to the frame."""
        frame = self.angles.get(component, 0.0) + angle
        self.angles[component] = wrap_phase(frame) if type(frame) is float else frame

    def phase(self, component: str, phase: Any) -> Any:
        """The phase with which a ``PRX(θ, phase)`` on ``component`` is played: ``phase − frame``, wrapped."""
        frame = self.angles.get(component)
        if frame is not None:
            phase = phase - frame
        return wrap_phase(phase) if type(phase) is float else phase

    def reset(self, components: Iterable[str]) -> None:
        """The components were reset to ``|0>``: their frames no longer matter."""
        for component in components:
            self.angles.pop(component, None)

    def move(self, qubit: str, resonator: str) -> None:
        """A MOVE hands the state (and its frame) of ``qubit`` to ``resonator``, or back: exchange the frames."""
        angles = self.angles
        fq, fr = angles.pop(qubit, None), angles.pop(resonator, None)
        if fq is not None:
            angles[resonator] = fq
        if fr is not None:
            angles[qubit] = fr

    def __repr__(self) -> str:
        return f"Frames({self.angles!r})"
