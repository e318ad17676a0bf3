"""Parametric circuits: a native circuit converted once, filled in for many parameter values at a time.

A :class:`Template` is what every front end's parametric path (Qiskit parameter binding, Cirq sweeps) turns a
circuit into: the instructions that do not depend on the parameters, built once and shared by every circuit made
from the template, and *slots* — the ``prx`` / ``cc_prx`` instructions whose angle or phase does. Each slot's angle
and phase is an affine function of the parameters ``θ``::

    value = Σ_k c_k·θ_k + c_0        (terms in increasing parameter order, then the constant)

which the adapter extracts from its own symbolic expressions (:data:`Affine`). Instantiation evaluates every slot for
every row of a ``(circuits, parameters)`` matrix at once with numpy, in exactly that order and with each product
and sum rounded on its own (no fused multiply-add, no blocked summation), so a circuit's numbers never depend on
how many others are made with it. Phases then get the canonical form of every direct conversion,
:func:`qaas_core._frames.wrap_phase` (``(−π, π]``, bit for bit), and only the slot instructions are built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

import numpy as np

from qaas_core._circuit import Instruction
from qaas_core._errors import ValidationError
from qaas_core._frames import PI, TAU
from qaas_core._gc import gc_paused

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Affine", "Template", "TemplateSlot"]

Affine: TypeAlias = tuple[float, Mapping[int, float]]
"""``(constant, {parameter index: coefficient})``: an affine function of the template's parameters."""


class TemplateSlot(NamedTuple):
    """A ``prx`` (or ``cc_prx``) of a template whose angle or phase depends on the parameters.

    Attributes:
        position: Index of the instruction in the circuit.
        locus: Its qubit, ``(name,)``.
        angle: The angle as an :data:`Affine` function of the parameters (radians).
        phase: The phase, likewise (not yet wrapped).
        feedback: ``(feedback_qubit, feedback_key)`` for a ``cc_prx``; None for a ``prx``.
    """

    position: int
    locus: tuple[str, ...]
    angle: Affine
    phase: Affine
    feedback: tuple[str, str] | None = None


def wrap_phases(phases: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`qaas_core._frames.wrap_phase` of every element, bit for bit (in place; returns ``phases``).

    ``fmod`` is exact, and for ``π < |r| < 2π`` so is ``r ∓ 2π`` (Sterbenz), which together give the IEEE remainder;
    the ties ``|r| = π`` (round half to even) are left to ``math.remainder`` itself; ``−π`` becomes ``π``.
    """
    outside = (phases <= -PI) | (phases > PI)
    if not outside.any():
        return phases
    r = np.fmod(phases[outside], TAU)
    r[r > PI] -= TAU
    r[r < -PI] += TAU
    ties = np.abs(r) == PI
    if ties.any():
        r[ties] = [math.remainder(x, TAU) for x in phases[outside][ties].tolist()]
    r[r == -PI] = PI
    phases[outside] = r
    return phases


class _Level(NamedTuple):
    rows: NDArray[np.intp]
    columns: NDArray[np.intp]
    coefficients: NDArray[np.float64]


class Template:
    """A native circuit with parametric ``prx`` / ``cc_prx`` slots (see the module docstring).

    Args:
        instructions: The circuit's instructions in program order; the entries at slot positions are ignored
            (None is customary).
        slots: The parametric instructions.
        parameters: How many parameters the affine functions take (columns of the values matrix).

    Raises:
        ValidationError: a slot position or parameter index is out of range, two slots share a position, or a
            coefficient is not a finite number.
    """

    def __init__(
        self,
        instructions: Sequence[Instruction | None],
        slots: Sequence[TemplateSlot],
        parameters: int,
    ) -> None:
        self.parameters = parameters
        self.slots: tuple[TemplateSlot, ...] = tuple(slots)
        self._base: list[Instruction | None] = list(instructions)
        positions = [s.position for s in self.slots]
        if len(set(positions)) != len(positions) or any(not 0 <= p < len(self._base) for p in positions):
            raise ValidationError("template slots must name distinct positions of the circuit")
        for p in positions:
            self._base[p] = None
        missing = [i for i, inst in enumerate(self._base) if inst is None and i not in set(positions)]
        if missing:
            raise ValidationError(f"template instructions {missing} are neither instructions nor slots")
        count = len(self.slots)
        forms = [s.angle for s in self.slots] + [s.phase for s in self.slots]  # rows: angles, then phases
        self._const = np.array([_finite(float(c), "constant") for c, _ in forms], dtype=float).reshape(2 * count, 1)
        by_level: list[tuple[list[int], list[int], list[float]]] = []
        for row, (_, terms) in enumerate(forms):
            for level, (column, coefficient) in enumerate(sorted(terms.items())):
                if not 0 <= column < parameters:
                    raise ValidationError(f"template parameter index {column} is out of range (0..{parameters - 1})")
                if level == len(by_level):
                    by_level.append(([], [], []))
                rows, columns, coefficients = by_level[level]
                rows.append(row)
                columns.append(column)
                coefficients.append(_finite(float(coefficient), "coefficient"))
        self._levels = [
            _Level(np.array(r, dtype=np.intp), np.array(c, dtype=np.intp), np.array(k, dtype=float)[:, None])
            for r, c, k in by_level
        ]
        with_terms = np.zeros(2 * count, dtype=bool)
        if self._levels:
            with_terms[self._levels[0].rows] = True
        self._with_terms, self._constant_only = np.nonzero(with_terms)[0], np.nonzero(~with_terms)[0]
        self._positions = positions
        self._loci = [s.locus for s in self.slots]
        self._names = ["prx" if s.feedback is None else "cc_prx" for s in self.slots]
        self._feedback = [
            (k, {"feedback_qubit": s.feedback[0], "feedback_key": s.feedback[1]})
            for k, s in enumerate(self.slots)
            if s.feedback is not None
        ]

    @property
    def num_slots(self) -> int:
        """How many instructions depend on the parameters."""
        return len(self.slots)

    def placeholders(self) -> tuple[Instruction, ...]:
        """The instructions with angle and phase 0 in every slot: the structure, for checks against a calibration."""
        out = list(self._base)
        for k, slot in enumerate(self.slots):
            args: dict[str, object] = {"angle": 0.0, "phase": 0.0}
            if slot.feedback is not None:
                args.update(feedback_qubit=slot.feedback[0], feedback_key=slot.feedback[1])
            out[slot.position] = Instruction(self._names[k], slot.locus, args)
        return tuple(out)  # type: ignore[arg-type]  # every position is filled

    def evaluate(self, values: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The raw angles and phases (phases not wrapped) of every slot for a ``(circuits, parameters)`` matrix.

        Returns:
            ``(angles, phases)``, each of shape ``(circuits, slots)``.

        Raises:
            ValidationError: ``values`` does not have one column per parameter.
        """
        values = np.asarray(values, dtype=float)
        if values.ndim != 2 or values.shape[1] != self.parameters:
            raise ValidationError(f"template values must be a (circuits, {self.parameters}) matrix, got {values.shape}")
        columns = np.ascontiguousarray(values.T)
        out = np.zeros((2 * len(self.slots), values.shape[0]))
        with np.errstate(all="ignore"):  # non-finite results are the caller's to report
            for level, (rows, cols, coefficients) in enumerate(self._levels):
                terms = coefficients * columns[cols]
                if level == 0:
                    out[rows] = terms
                else:
                    out[rows] += terms
            out[self._with_terms] += self._const[self._with_terms]
            out[self._constant_only] = self._const[self._constant_only]  # not 0 + c: keeps the sign of a zero
        count = len(self.slots)
        return out[:count].T, out[count:].T

    def build(self, angles: NDArray[np.float64], phases: NDArray[np.float64]) -> list[tuple[Instruction, ...]]:
        """The circuits' instructions for ``(circuits, slots)`` matrices of angles and raw phases.

        Phases are wrapped (:func:`qaas_core._frames.wrap_phase`); every value must be finite (see
        :meth:`instantiate`).
        """
        angle_rows = np.asarray(angles, dtype=float).tolist()
        phase_rows = wrap_phases(np.array(phases, dtype=float)).tolist()
        base, positions, names, loci, feedback = self._base, self._positions, self._names, self._loci, self._feedback
        instruction = Instruction
        out: list[tuple[Instruction, ...]] = []
        with gc_paused():
            for angle_row, phase_row in zip(angle_rows, phase_rows, strict=True):
                arguments = [{"angle": a, "phase": p} for a, p in zip(angle_row, phase_row, strict=True)]
                for k, extra in feedback:  # cc_prx slots: rare
                    arguments[k].update(extra)
                insts = base.copy()
                for position, inst in zip(positions, map(instruction, names, loci, arguments), strict=True):
                    insts[position] = inst
                out.append(tuple(insts))  # type: ignore[arg-type]  # every position is filled
        return out

    def instantiate(self, values: NDArray[np.float64]) -> list[tuple[Instruction, ...]]:
        """The instructions of one circuit per row of a ``(circuits, parameters)`` matrix of values.

        Raises:
            ValidationError: the matrix has the wrong shape, or a row makes an angle or a phase non-finite (the
                message names the row).
        """
        angles, phases = self.evaluate(values)
        bad = _first_nonfinite(angles, phases)
        if bad is not None:
            raise ValidationError(f"parameter values #{bad} make a rotation angle or phase non-finite")
        return self.build(angles, phases)

    def __repr__(self) -> str:
        return f"<Template: {len(self._base)} instructions, {len(self.slots)} slots, {self.parameters} parameters>"


def _first_nonfinite(angles: NDArray[np.float64], phases: NDArray[np.float64]) -> int | None:
    """The first row (circuit) of the ``(circuits, slots)`` matrices with a non-finite value, or None."""
    finite = np.isfinite(angles).all(axis=1) & np.isfinite(phases).all(axis=1)
    if finite.all():
        return None
    return int(np.nonzero(~finite)[0][0])


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValidationError(f"template {what} must be finite, got {value!r}")
    return value
