"""Noise scaling by unitary folding of native gates, for zero-noise extrapolation.

* **Global**: the circuit's unitary body ``C`` (everything before its final measurements) becomes
  ``C (C†C)^k`` followed by ``L†L`` for a suffix ``L`` of ``C`` — the partial fold that reaches scales other than odd
  integers.
* **Local**: each gate ``G`` (every unitary gate, or only ``cz``) becomes ``G (G†G)^k``, one more fold on an evenly
  spread subset for the fractional part. Local folding works on any circuit, mid-circuit measurements included.

Inverses are native: ``PRX(θ, φ)† = PRX(−θ, φ)``, ``cz`` and ``move`` are their own inverses; nothing is
re-synthesised, and the folded circuits are marked ``preserve`` (:data:`~qaas_core.mitigation.MITIGATION_KEY`) so that
no compiler cancels ``G†G`` afterwards.

**The noise scale that is reported** (and that extrapolation uses) is the *achieved* one: the total calibrated gate
error ``Σ (1 − F)`` of the folded circuit over that of the original (with a calibration that knows every gate's
fidelity; otherwise gate counts). It is close to the requested scale for global folding and smaller for CZ-only
local folding, whose single-qubit errors do not grow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from qaas_core._circuit import Circuit, Instruction
from qaas_core._errors import CircuitError, ValidationError
from qaas_core.mitigation._native import TERMINAL_PASS, UNITARY_OPERATIONS, inverse, mark, terminal_start
from qaas_core.mitigation._stage import Context, Stage, Variant

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration

__all__ = ["Fold", "fold_global", "fold_local", "gate_weights"]

FoldMethod = Literal["global", "local"]
FoldGates = Literal["all", "cz"]


def gate_weights(instructions: Sequence[Instruction], calibration: Calibration | None) -> np.ndarray:
    """Noise weight of each instruction: its calibrated error ``1 − F`` for unitary gates, 0 for the rest. Without a
    calibration, or when it lacks the fidelity of any gate, every unitary gate weighs 1."""
    is_gate = np.array([i.name in UNITARY_OPERATIONS for i in instructions], dtype=bool)
    if calibration is not None:
        errors = [calibration.error(i.name, i.locus) if g else 0.0 for i, g in zip(instructions, is_gate, strict=True)]
        if all(e is not None for e in errors):
            weights = np.array(errors, dtype=float)
            if weights.sum() > 0.0:
                return weights
    return is_gate.astype(float)


def _check_scale(scale: float) -> float:
    value = float(scale)
    if not math.isfinite(value) or value < 1.0:
        raise ValidationError(f"a noise scale must be a finite number >= 1, got {scale!r}")
    return value


def _inverse_of(instructions: Sequence[Instruction]) -> list[Instruction]:
    return [inverse(i) for i in reversed(instructions)]


def fold_global(circuit: Circuit, scale: float, *, calibration: Calibration | None = None) -> tuple[Circuit, float]:
    """Fold the whole unitary body of ``circuit`` to reach noise ``scale``.

    Returns:
        The folded circuit (marked ``preserve``) and the noise scale achieved.

    Raises:
        ValidationError: ``scale`` below 1.
        CircuitError: the body holds a non-unitary operation (``measure`` before the end, ``reset``, ``cc_prx``);
            use local folding for such circuits.
    """
    scale = _check_scale(scale)
    cut = terminal_start(circuit)
    body, tail = circuit.instructions[:cut], circuit.instructions[cut:]
    for index, inst in enumerate(body):
        if inst.name not in UNITARY_OPERATIONS and inst.name not in TERMINAL_PASS:
            raise CircuitError(
                f"global folding needs a unitary circuit before the final measurements, but {inst.name} is not "
                "unitary; use Fold(method='local')",
                circuit=circuit.name,
                index=index,
            )
    weights = gate_weights(body, calibration)
    total = float(weights.sum())
    if total == 0.0:
        return mark(circuit, circuit.instructions, circuit.name, {}), 1.0
    full = math.floor((scale - 1.0) / 2.0 + 1e-9)
    wanted = (scale - 1.0 - 2.0 * full) / 2.0 * total  # weight still to fold once
    gate_positions = [i for i, inst in enumerate(body) if inst.name in UNITARY_OPERATIONS]
    # suffix sums: folding the last r gates adds 2 x (their weight)
    suffix = np.concatenate([[0.0], np.cumsum(weights[gate_positions][::-1])])
    r = int(np.argmin(np.abs(suffix - wanted)))
    folded: list[Instruction] = list(body)
    for _ in range(full):
        folded += _inverse_of(body)
        folded += body
    if r:
        start = gate_positions[-r]
        folded += _inverse_of(body[start:])
        folded += body[start:]
    achieved = (total * (2 * full + 1) + 2.0 * float(suffix[r])) / total
    return mark(circuit, (*folded, *tail), circuit.name, {}), achieved


def fold_local(
    circuit: Circuit, scale: float, *, gates: FoldGates = "all", calibration: Calibration | None = None
) -> tuple[Circuit, float]:
    """Fold each gate (every unitary gate, or only ``cz`` with ``gates="cz"``) to reach ``scale`` on those gates.

    Returns:
        The folded circuit (marked ``preserve``) and the noise scale achieved over all gates (see the module
        docstring).

    Raises:
        ValidationError: ``scale`` below 1, or an unknown ``gates`` choice.
    """
    scale = _check_scale(scale)
    if gates not in ("all", "cz"):
        raise ValidationError(f"gates must be 'all' or 'cz', got {gates!r}")
    instructions = circuit.instructions
    weights = gate_weights(instructions, calibration)
    total = float(weights.sum())
    chosen = [i for i, inst in enumerate(instructions)
              if inst.name in UNITARY_OPERATIONS and (gates == "all" or inst.name == "cz")]  # fmt: skip
    class_weight = float(weights[chosen].sum()) if chosen else 0.0
    if total == 0.0 or class_weight == 0.0:
        return mark(circuit, instructions, circuit.name, {}), 1.0
    full = math.floor((scale - 1.0) / 2.0 + 1e-9)
    wanted = (scale - 1.0 - 2.0 * full) / 2.0 * class_weight
    mean = class_weight / len(chosen)
    extra = min(len(chosen), round(wanted / mean))
    picked = {chosen[int(j)] for j in np.round(np.linspace(0, len(chosen) - 1, extra))} if extra else set()
    folds = dict.fromkeys(chosen, full)
    for i in picked:
        folds[i] += 1
    out: list[Instruction] = []
    added = 0.0
    for i, inst in enumerate(instructions):
        out.append(inst)
        count = folds.get(i, 0)
        if count:
            out += [inverse(inst), inst] * count
            added += 2.0 * count * float(weights[i])
    return mark(circuit, tuple(out), circuit.name, {}), (total + added) / total


class Fold(Stage):
    """Run each circuit at several noise scales by unitary folding (the variants zero-noise extrapolation needs).

    Args:
        scales: requested noise scales, each >= 1 (1 is the circuit as it is).
        method: ``global`` (the whole circuit) or ``local`` (gate by gate).
        gates: with local folding, fold ``all`` unitary gates or only ``cz``.

    Raises:
        ValidationError: no scales, a scale below 1, repeated scales, or an unknown method or gate choice.
    """

    def __init__(self, scales: Sequence[float] = (1, 3, 5), *, method: FoldMethod = "global",
                 gates: FoldGates = "all") -> None:  # fmt: skip
        values = tuple(_check_scale(s) for s in scales)
        if not values:
            raise ValidationError("Fold needs at least one noise scale")
        if len(set(values)) != len(values):
            raise ValidationError(f"noise scales must be distinct, got {list(values)}")
        if method not in ("global", "local"):
            raise ValidationError(f"fold method must be 'global' or 'local', got {method!r}")
        if gates not in ("all", "cz"):
            raise ValidationError(f"gates must be 'all' or 'cz', got {gates!r}")
        if method == "global" and gates != "all":
            raise ValidationError("gates='cz' needs method='local' (global folding folds the whole circuit)")
        self.scales = values
        self.method: FoldMethod = method
        self.gates: FoldGates = gates
        where = "global" if method == "global" else f"local {gates}"
        self.label = f"fold({where}; {', '.join(f'{s:g}' for s in values)})"

    def expand(self, circuit: Circuit, context: Context) -> list[Variant]:
        out = []
        for scale in self.scales:
            if self.method == "global":
                folded, achieved = fold_global(circuit, scale, calibration=context.calibration)
            else:
                folded, achieved = fold_local(circuit, scale, gates=self.gates, calibration=context.calibration)
            out.append(Variant(folded, {"scale": scale, "noise_scale": achieved}))
        return out

    def __repr__(self) -> str:
        return f"Fold({list(self.scales)!r}, method={self.method!r}, gates={self.gates!r})"
