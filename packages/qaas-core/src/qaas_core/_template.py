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

import itertools
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np

from qaas_core._circuit import Instruction
from qaas_core._errors import ValidationError
from qaas_core._frames import PHASE_LIMIT, PI, TAU
from qaas_core._gc import gc_paused

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["Affine", "Template", "TemplateSlot"]

Affine: TypeAlias = tuple[float, Mapping[Any, float]]
"""``(constant, {parameter: coefficient})``: an affine function of the template's parameters, each named by its
column index (or by the parameter itself, when the template is given its parameters)."""


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
    """:func:`qaas_core._frames.wrap_phase` of every element, bit for bit: the same float operations element-wise."""
    with np.errstate(invalid="ignore"):  # non-finite values pass through unchanged, as in wrap_phase
        wrapped = phases - TAU * np.round(phases / TAU)
        wrapped = np.where(wrapped > PI, wrapped - TAU, wrapped)
        wrapped = np.where(wrapped <= -PI, wrapped + TAU, wrapped)
        keep = ((phases > -PI) & (phases <= PI)) | ~((phases > -PHASE_LIMIT) & (phases < PHASE_LIMIT))
    return np.where(keep, phases, wrapped)


class Template:
    """A native circuit with parametric ``prx`` / ``cc_prx`` slots (see the module docstring).

    Args:
        instructions: The circuit's instructions in program order; the entries at slot positions are ignored
            (None is customary).
        slots: The parametric instructions.
        parameters: How many parameters the affine functions take (columns of the values matrix; terms are keyed by
            column index), or the parameters themselves in column order (terms are keyed by them).

    Raises:
        ValidationError: a slot position or parameter index is out of range, two slots share a position, or a
            coefficient is not a finite number.
    """

    def __init__(
        self,
        instructions: Sequence[Instruction | None],
        slots: Sequence[TemplateSlot],
        parameters: int | Sequence[Hashable],
    ) -> None:
        keys = None if isinstance(parameters, int) else list(parameters)
        self.parameters = parameters if isinstance(parameters, int) else len(parameters)
        self.slots: tuple[TemplateSlot, ...] = tuple(slots)
        self._base: list[Instruction | None] = list(instructions)
        positions = [s.position for s in self.slots]
        if len(set(positions)) != len(positions) or any(not 0 <= p < len(self._base) for p in positions):
            raise ValidationError("template slots must name distinct positions of the circuit")
        for p in positions:
            self._base[p] = None
        taken = set(positions)
        missing = [i for i, inst in enumerate(self._base) if inst is None and i not in taken]
        if missing:
            raise ValidationError(f"template instructions {missing} are neither instructions nor slots")
        count = len(self.slots)
        forms = [s.angle for s in self.slots] + [s.phase for s in self.slots]  # rows: angles, then phases
        self._const = _finite(np.array([c for c, _ in forms], dtype=float), "constants").reshape(2 * count, 1)
        row_list: list[int] = []
        keys_list: list[Any] = []
        coefficient_list: list[float] = []
        for row, (_, terms) in enumerate(forms):
            if terms:
                row_list += [row] * len(terms)
                keys_list += terms
                coefficient_list += terms.values()
        rows = np.array(row_list, dtype=np.intp)
        if keys is not None:
            index = {key: i for i, key in enumerate(keys)}
            try:
                keys_list = [index[key] for key in keys_list]
            except KeyError as exc:
                raise ValidationError(f"template term on {exc.args[0]!r}, which is not a parameter") from None
        columns = np.array(keys_list, dtype=np.intp)
        coefficients = _finite(np.array(coefficient_list, dtype=float), "coefficients")
        if len(columns) and not ((columns >= 0) & (columns < self.parameters)).all():
            raise ValidationError(f"template parameter indices must lie in 0..{self.parameters - 1}")
        # Rows with more terms first; level k holds the k-th term (by parameter index) of every row that has one, and
        # those rows are a prefix of that order, so evaluation adds level by level into slices, without scattering.
        counts = np.bincount(rows, minlength=2 * count)
        self._with_terms = np.flatnonzero(counts)[np.argsort(-counts[counts > 0], kind="stable")]
        self._constant_only = np.flatnonzero(counts == 0)
        rank = np.empty(2 * count, dtype=np.intp)
        rank[self._with_terms] = np.arange(len(self._with_terms))
        order = np.lexsort((columns, rank[rows]))  # by position in that order, then by parameter index
        rows, columns, coefficients = rows[order], columns[order], coefficients[order]
        level = np.arange(len(rows)) - np.searchsorted(rank[rows], rank[rows])  # a term's place within its row
        by_level = np.lexsort((rank[rows], level))
        sizes = np.bincount(level) if len(level) else level
        bounds = np.r_[0, np.cumsum(sizes)]
        self._levels = [
            (columns[by_level[a:b]], coefficients[by_level[a:b]][:, None]) for a, b in itertools.pairwise(bounds)
        ]
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
        out = np.empty((2 * len(self.slots), values.shape[0]))
        with np.errstate(all="ignore"):  # non-finite results are the caller's to report
            if self._levels:
                columns = np.ascontiguousarray(values.T)
                first, coefficients = self._levels[0]
                total = coefficients * columns[first]
                for cols, coefficients in self._levels[1:]:
                    total[: len(cols)] += coefficients * columns[cols]
                out[self._with_terms] = total + self._const[self._with_terms]
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


def _finite(values: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    if not np.isfinite(values).all():
        raise ValidationError(f"template {what} must be finite numbers")
    return values
