"""qaas results → PennyLane results.

Each circuit's bits become a ``(shots, wires)`` sample matrix over the wires of its final measurement (in the
order of :attr:`~qaas_pennylane._convert.Conversion.measured`), plus one column per mid-circuit measurement that a
terminal measurement reads (as a private pseudo-wire, the way ``defer_measurements`` maps measurement values to
wires). Every measurement process then computes its value with PennyLane's own ``process_samples``, so
``expval``, ``var``, ``probs``, ``sample`` and ``counts`` (of wires, observables or measurement values) mean exactly
what they mean on ``default.qubit``.

Shots: a batch runs with the largest shot count of its tapes; a tape that asked for fewer reads the first shots of
its circuit (shots are independent, so any prefix is a fair sample). A shot vector is cut into consecutive bins.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pennylane.measurements import CountsMP, MeasurementValue
from pennylane.wires import Wires

import qaas_core as q
from qaas_pennylane._convert import MEASURE_KEY, Conversion

__all__ = ["tape_results"]


@dataclass(frozen=True)
class _McmWire:
    """Pseudo-wire that carries the outcomes of one mid-circuit measurement."""

    meas_uid: str

    def __repr__(self) -> str:
        return f"mcm[{self.meas_uid[:8]}]"


def _remap_value(mv: MeasurementValue, wires: Mapping[str, _McmWire]) -> MeasurementValue:
    measurements = [m.map_wires({m.wires[0]: wires[str(m.meas_uid)]}) for m in mv.measurements]
    return MeasurementValue(measurements, mv.processing_fn if mv.has_processing else None)


def _remap(mp: Any, wires: Mapping[str, _McmWire]) -> Any:
    """A measurement of mid-circuit values rewritten to read their pseudo-wires."""
    mv = mp.mv
    if mv is None:
        return mp
    new = [_remap_value(v, wires) for v in mv] if isinstance(mv, list | tuple) else _remap_value(mv, wires)
    if isinstance(mp, CountsMP):
        return CountsMP(obs=new, all_outcomes=mp.all_outcomes)
    return type(mp)(obs=new)


def _uids(mp: Any) -> list[str]:
    mv = mp.mv
    if mv is None:
        return []
    values = mv if isinstance(mv, list | tuple) else [mv]
    return [str(m.meas_uid) for v in values for m in v.measurements]


def tape_results(tape: Any, conversion: Conversion, result: q.CircuitResult) -> Any:
    """The PennyLane result of one tape, shaped as ``default.qubit`` shapes it.

    Args:
        tape: the preprocessed tape.
        conversion: how it was converted.
        result: its circuit's results (with per-shot memory).

    Raises:
        qaas_core.JobFailedError: the QPU returned fewer shots than a shot vector needs (heralding).
        qaas_core.PayloadError: the results lack a measurement key the conversion wrote.
    """
    needed = tape.shots.total_shots
    columns: list[np.ndarray] = []
    order: list[Hashable] = []
    if conversion.measured:
        columns.append(result.bits(MEASURE_KEY))
        order.extend(conversion.measured)
    pseudo: dict[str, _McmWire] = {}
    for mp in tape.measurements:
        for uid in _uids(mp):
            if uid not in pseudo:
                pseudo[uid] = _McmWire(uid)
                columns.append(result.bits(conversion.mcm_keys[uid]))
                order.append(pseudo[uid])
    rows = result.shots
    samples = np.concatenate(columns, axis=1).astype(np.int64) if columns else np.zeros((rows, 0), dtype=np.int64)
    if rows < needed:
        if tape.shots.has_partitioned_shots:
            raise q.JobFailedError(
                f"circuit {result.name!r} returned {rows} shots (heralding dropped some) but the shot vector "
                f"needs {needed}",
                state="completed",
            )
        needed = rows
    samples = samples[:needed]
    wire_order = Wires(order)
    measurements = [_remap(mp, pseudo) for mp in tape.measurements]

    def one_bin(part: np.ndarray) -> Any:
        values = tuple(mp.process_samples(part, wire_order) for mp in measurements)
        return values[0] if len(values) == 1 else values

    if tape.shots.has_partitioned_shots:
        return tuple(one_bin(samples[lo:hi]) for lo, hi in tape.shots.bins())
    return one_bin(samples)
