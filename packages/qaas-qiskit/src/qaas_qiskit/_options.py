"""The closed set of run options of a :class:`QaaSBackend` (unknown names are an error, values are checked).

``shots`` (1 … 1,000,000), ``memory`` (keep per-shot results), ``calibration_set_id`` (pin a calibration set;
None: the current one), every IQM execution option of :class:`qaas_core.RunOptions` (``heralding_mode``,
``move_gate_validation``, ``max_circuit_duration_over_t2``, ``active_reset_cycles``, ``dd_mode`` …), and
``seed_simulator``, which Qiskit's primitives always pass: only ``None`` is accepted, because a QPU (and the
emulator, seeded when it starts) takes no per-job seed. ``meas_level`` (only ``2``, ``MeasLevel.CLASSIFIED``: the
QPU returns bits, never IQ points) and ``meas_return`` (``single`` or ``avg``, which Qiskit defines to matter only at
level 1) are accepted because qiskit-experiments and qiskit-ibm-runtime's local mode pass them. ``fuse_runs``
(default True) plays each run of single-qubit gates as one pulse; False plays every ``u``/``r`` as its own pulse (Z
rotations stay virtual), for gate folding (mitiq's zero-noise extrapolation) and experiments that count gates.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from qiskit.providers import Options

import qaas_core as q

__all__ = ["DEFAULT_SHOTS", "MAX_SHOTS", "OPTION_NAMES", "RunSettings", "default_options", "resolve_options"]

DEFAULT_SHOTS: Final = 1024
MAX_SHOTS: Final = 1_000_000
_CLASSIFIED: Final = 2  # qiskit.result.models.MeasLevel.CLASSIFIED
_IQM_FIELDS: Final = tuple(q.RunOptions.__struct_fields__)
OPTION_NAMES: Final = (
    "shots", "memory", "calibration_set_id", "seed_simulator", "meas_level", "meas_return", "fuse_runs", *_IQM_FIELDS,
)  # fmt: skip
"""Every option name a backend accepts (``Options`` fields, ``run`` keywords, ``set_options`` keywords)."""


@dataclass(frozen=True)
class RunSettings:
    """Checked options of one ``run`` call.

    Attributes:
        shots: Shots per circuit.
        memory: Keep per-shot results (``Result.get_memory``) as well as counts.
        calibration_set_id: Calibration set to pin, or None for the current one.
        iqm: IQM execution options.
        fuse_runs: Play each run of single-qubit gates as one pulse.
    """

    shots: int
    memory: bool
    calibration_set_id: str | None
    iqm: q.RunOptions
    fuse_runs: bool = True


def default_options() -> Options:
    """A fresh ``Options`` with every accepted field at its default."""
    return Options(
        shots=DEFAULT_SHOTS,
        memory=False,
        calibration_set_id=None,
        seed_simulator=None,
        meas_level=_CLASSIFIED,
        meas_return=None,
        fuse_runs=True,
        **q.RunOptions().to_dict(),
    )


def _check_names(values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(OPTION_NAMES))
    if unknown:
        raise q.ValidationError(
            f"unknown option(s) {', '.join(unknown)} for a qaas backend; known options: {', '.join(OPTION_NAMES)}"
        )


def resolve_options(current: Mapping[str, Any], overrides: Mapping[str, Any]) -> RunSettings:
    """Merge ``overrides`` over ``current`` and check every value.

    Raises:
        ValidationError: an unknown option or a bad value (nothing is sent).
    """
    _check_names(overrides)
    merged = {**current, **overrides}
    _check_names(merged)
    shots = merged.get("shots", DEFAULT_SHOTS)
    try:
        if isinstance(shots, bool):
            raise TypeError
        shots = operator.index(shots)
    except TypeError:
        raise q.ValidationError(f"shots must be an integer, got {shots!r}") from None
    if not 1 <= shots <= MAX_SHOTS:
        raise q.ValidationError(f"shots must be between 1 and {MAX_SHOTS}, got {shots}")
    memory = merged.get("memory", False)
    if not isinstance(memory, bool):
        raise q.ValidationError(f"memory must be True or False, got {memory!r}")
    calset = merged.get("calibration_set_id")
    if calset is not None and (not isinstance(calset, str) or not calset):
        raise q.ValidationError(f"calibration_set_id must be a non-empty string or None, got {calset!r}")
    if merged.get("seed_simulator") is not None:
        raise q.ValidationError(
            "seed_simulator cannot be set per job on a QPU; seed the emulator instead (QaaSProvider.emulator(seed=...))"
        )
    level = merged.get("meas_level", _CLASSIFIED)
    if isinstance(level, bool) or level != _CLASSIFIED:
        raise q.ValidationError(
            f"meas_level must be 2 (MeasLevel.CLASSIFIED): the QPU returns measured bits, not IQ data; got {level!r}"
        )
    if merged.get("meas_return") not in (None, "single", "avg"):
        raise q.ValidationError(f"meas_return must be 'single', 'avg' or None, got {merged['meas_return']!r}")
    fuse_runs = merged.get("fuse_runs", True)
    if not isinstance(fuse_runs, bool):
        raise q.ValidationError(f"fuse_runs must be True or False, got {fuse_runs!r}")
    iqm = q.RunOptions.create(**{k: merged[k] for k in _IQM_FIELDS if k in merged})
    return RunSettings(shots=shots, memory=memory, calibration_set_id=calset, iqm=iqm, fuse_runs=fuse_runs)
