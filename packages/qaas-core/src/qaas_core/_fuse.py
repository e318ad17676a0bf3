"""A run of single-qubit gates → one PRX pulse and a virtual Z: ``U = RZ(a)·PRX(θ, φ)`` for any single-qubit ``U``.

A *run* is what one qubit does between two other operations on it (a two-qubit gate, a measurement, a barrier …):
pulses ``PRX(θ, φ)`` and Z rotations ``RZ(λ)``, in time order. Any product of them is, up to a global phase, one
pulse followed by one Z rotation, and the Z rotation is free: the conversion adds it to the qubit's frame
(:class:`qaas_core.Frames`). So a run costs at most one pulse, and none when it is a pure Z rotation.

The product is kept as a unit quaternion ``(w, x, y, z)`` standing for ``w·I − i(x·X + y·Y + z·Z)``:
``PRX(θ, φ) = (cos θ/2, sin θ/2 cos φ, sin θ/2 sin φ, 0)`` and ``RZ(λ) = (cos λ/2, 0, 0, sin λ/2)``. Comparing with
``RZ(a)·PRX(θ, φ) = (c_θ c_a, s_θ cos(φ + a/2), s_θ sin(φ + a/2), c_θ s_a)`` (``c_θ = cos θ/2`` …) gives
``θ = 2·atan2(|(x, y)|, |(w, z)|)``, ``a/2 = atan2(z, w)`` and ``φ = atan2(y, x) − a/2``; when ``|(w, z)|`` vanishes
(a half turn) ``a`` is free and taken as 0. :func:`fuse` does this with floats, :func:`fuse_arrays` for many
parameter bindings at once (numpy, the same formulas; results agree to rounding, not bit for bit).

:func:`conditioned` plays a run only when a measured bit is 1 (IQM feedback): the pulse as ``cc_prx``, and the Z
part — which no frame can take, since it happens in one branch only — as two conditioned π pulses. Every front end
builds its classically controlled single-qubit gates with it.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar

import numpy as np

from qaas_core._circuit import Instruction, cc_prx
from qaas_core._frames import Frames, wrap_phase

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Item", "conditioned", "fuse", "fuse_arrays", "fuse_matrix", "inverse"]

Item: TypeAlias = "tuple[float, float] | float"
"""One step of a run: a pulse ``(angle, phase)`` or a Z rotation ``λ`` (radians)."""

_HALF_TURN: Final = 1e-12
"""Below this, ``|(w, z)|`` is a half turn (``a`` is taken as 0) and ``|(x, y)|`` no pulse at all."""


def fuse(run: Sequence[Item]) -> tuple[float | None, float, float]:
    """``(θ, φ, a)`` with ``product(run) ∝ RZ(a)·PRX(θ, φ)``, ``θ`` in ``[0, π]``; ``θ`` is None when the run is a
    pure Z rotation (no pulse needed)."""
    w, x, y, z = 1.0, 0.0, 0.0, 0.0
    cos, sin = math.cos, math.sin
    for item in run:
        if type(item) is tuple:
            angle, phase = item
            s = sin(angle / 2)
            w, x, y, z = _pulse_then(cos(angle / 2), s * cos(phase), s * sin(phase), w, x, y, z)
        else:
            w, x, y, z = _z_then(cos(item / 2), sin(item / 2), w, x, y, z)  # type: ignore[operator]
    return _angles(w, x, y, z)


_Q = TypeVar("_Q", float, "NDArray[np.float64]")


def _pulse_then(c: _Q, bx: _Q, by: _Q, w: _Q, x: _Q, y: _Q, z: _Q) -> tuple[_Q, _Q, _Q, _Q]:
    """``(c, bx, by, 0) ⊗ (w, x, y, z)``: a PRX (as a unit quaternion) after the run so far, for floats or arrays."""
    return c * w - bx * x - by * y, c * x + w * bx + by * z, c * y + w * by - bx * z, c * z + bx * y - by * x


def _z_then(c: _Q, s: _Q, w: _Q, x: _Q, y: _Q, z: _Q) -> tuple[_Q, _Q, _Q, _Q]:
    """``(c, 0, 0, s) ⊗ (w, x, y, z)``: a Z rotation after the run so far, for floats or arrays."""
    return c * w - s * z, c * x - s * y, c * y + s * x, c * z + s * w


def _angles(w: float, x: float, y: float, z: float) -> tuple[float | None, float, float]:
    along, across = math.hypot(w, z), math.hypot(x, y)
    half = math.atan2(z, w) if along >= _HALF_TURN else 0.0
    if across < _HALF_TURN:
        return None, 0.0, 2.0 * half
    return 2.0 * math.atan2(across, along), math.atan2(y, x) - half, 2.0 * half


def fuse_matrix(matrix: Sequence[Sequence[complex]]) -> tuple[float | None, float, float]:
    """:func:`fuse` of a single-qubit unitary given as a 2×2 matrix (rows): ``(θ, φ, a)`` with
    ``matrix ∝ RZ(a)·PRX(θ, φ)``. The matrix is scaled into SU(2) first (``w·I − i(x·X + y·Y + z·Z)``); the sign
    that scaling leaves free changes ``a`` by 2π only.

    Raises:
        ValueError: the matrix is not 2×2 or is singular.
    """
    (m00, m01), (m10, m11) = ((complex(v) for v in row) for row in matrix)
    det = m00 * m11 - m01 * m10
    if abs(det) < 1e-12:
        raise ValueError("a singular matrix is not a unitary")
    root = cmath.sqrt(det)
    m00, m10 = m00 / root, m10 / root
    return _angles(m00.real, -m10.imag, m10.real, -m00.imag)


Arrays: TypeAlias = "tuple[NDArray[np.float64], NDArray[np.float64]] | NDArray[np.float64]"


def fuse_arrays(
    run: Sequence[Arrays], count: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """:func:`fuse` for ``count`` bindings at once: each step holds one value per binding. Always returns a pulse
    (``θ`` may be 0): the number of instructions must not depend on the values."""
    w, x, y, z = np.ones(count), np.zeros(count), np.zeros(count), np.zeros(count)
    for item in run:
        if isinstance(item, tuple):
            angle, phase = item
            s = np.sin(angle / 2)
            w, x, y, z = _pulse_then(np.cos(angle / 2), s * np.cos(phase), s * np.sin(phase), w, x, y, z)
        else:
            w, x, y, z = _z_then(np.cos(item / 2), np.sin(item / 2), w, x, y, z)
    along, across = np.hypot(w, z), np.hypot(x, y)
    half = np.where(along >= _HALF_TURN, np.arctan2(z, w), 0.0)
    return 2.0 * np.arctan2(across, along), np.arctan2(y, x) - half, 2.0 * half


def conditioned(
    qubit: str, run: Sequence[Item], frames: Frames, *, feedback_qubit: str, feedback_key: str
) -> list[Instruction]:
    """``cc_prx`` pulses that apply ``product(run)`` to ``qubit`` only when the measurement under ``feedback_key``
    gave 1 — the one construction every front end uses for a classically controlled single-qubit gate.

    With ``product(run) ∝ RZ(a)·PRX(θ, φ)`` (:func:`fuse`): the pulse is ``cc_prx(θ, φ − frame)``, and the Z part,
    which a frame cannot take because it happens in one branch only, is the pair ``cc_prx(π, 0)`` then
    ``cc_prx(π, a/2)`` (``PRX(π, a/2)·PRX(π, 0) ∝ RZ(a)``, independent of the frame). The frames do not change.
    """
    theta, phase, a = fuse(run)
    feedback = {"feedback_qubit": feedback_qubit, "feedback_key": feedback_key}
    out: list[Instruction] = []
    if theta is not None and theta > _HALF_TURN:
        out.append(cc_prx(qubit, theta, frames.phase(qubit, phase), **feedback))
    residual = wrap_phase(a)
    if abs(residual) > _HALF_TURN:
        out.append(cc_prx(qubit, math.pi, 0.0, **feedback))
        out.append(cc_prx(qubit, math.pi, wrap_phase(residual / 2), **feedback))
    return out


def inverse(run: Sequence[Item]) -> list[Item]:
    """The run that undoes ``run``: the steps in reverse order, each inverted."""
    return [(-item[0], item[1]) if isinstance(item, tuple) else -item for item in reversed(run)]
