"""The closed options of :class:`~qaas_qiskit.QaaSEstimator`, and the core mitigation pipeline they select.

``resilience_level`` picks a preset, in the spirit of Qiskit Runtime's levels:

=====  =======================================================================================================
level  pipeline (``qaas_core.mitigation``)
=====  =======================================================================================================
0      none: the plain estimate
1      ``ReadoutMitigation(readout)`` — the per-qubit readout errors of the calibration (no extra circuits) or,
       with ``readout="measured"``, of two calibration circuits in the same job (the default level)
2      level 1 plus zero-noise extrapolation: ``Fold(zne_noise_factors, method=zne_fold)`` and
       ``zne_extrapolator`` (``"richardson"``, ``"linear"``, ``"exponential"`` or any core ``Extrapolator``)
=====  =======================================================================================================

``twirl_instances`` > 0 adds ``Twirl(twirl_instances, seed=seed)`` in front at any level, and ``pipeline=`` (a core
``Pipeline``) replaces the preset altogether. Unknown names and bad values are a
:class:`~qaas_core.ValidationError` when set, not when the job runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

import qaas_core as q
from qaas_core.mitigation import (
    Exponential,
    Extrapolator,
    Fold,
    Linear,
    Pipeline,
    ReadoutMitigation,
    Richardson,
    Stage,
    Twirl,
)

__all__ = ["EXTRAPOLATORS", "EstimatorOptions"]

EXTRAPOLATORS: Final = {"richardson": Richardson, "linear": Linear, "exponential": Exponential}
"""The extrapolators ``zne_extrapolator`` may name (or give a core ``Extrapolator`` instance)."""


@dataclass(slots=True)
class EstimatorOptions:
    """Options of :class:`~qaas_qiskit.QaaSEstimator` (set them at construction or as attributes).

    Attributes:
        default_precision: the target precision when neither ``run`` nor a pub gives one; the shots per circuit are
            ``ceil(1 / precision²)`` (of the most precise pub: one job runs every pub).
        default_shots: shots per circuit instead of deriving them from the precision.
        resilience_level: 0 (none), 1 (readout mitigation) or 2 (readout mitigation and zero-noise extrapolation).
        pipeline: a ``qaas_core.mitigation.Pipeline`` to use instead of the level's preset.
        readout: where readout errors come from: ``"calibration"`` or ``"measured"`` (two circuits in the job).
        zne_noise_factors: noise scales of level 2 (each >= 1, at least two).
        zne_extrapolator: ``"richardson"``, ``"linear"``, ``"exponential"`` or a core ``Extrapolator``.
        zne_fold: ``"global"`` (fold the whole circuit) or ``"local"`` (gate by gate).
        twirl_instances: Pauli-twirled copies of every circuit (0: no twirling).
        seed: seed of the twirl draws.

    Raises:
        ValidationError: an unknown option or a bad value.
    """

    default_precision: float = 1 / 64
    default_shots: int | None = None
    resilience_level: int = 1
    pipeline: Pipeline | None = None
    readout: Literal["calibration", "measured"] = "calibration"
    zne_noise_factors: Sequence[float] = (1.0, 3.0, 5.0)
    zne_extrapolator: str | Extrapolator = "richardson"
    zne_fold: Literal["global", "local"] = "global"
    twirl_instances: int = 0
    seed: int = 0

    @classmethod
    def create(cls, options: EstimatorOptions | Mapping[str, Any] | None = None) -> EstimatorOptions:
        """Options from a mapping (or a copy of given options).

        Raises:
            ValidationError: an unknown option or a bad value.
        """
        if isinstance(options, EstimatorOptions):
            return cls(**{f.name: getattr(options, f.name) for f in fields(cls)})
        values = dict(options or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise q.ValidationError(f"unknown estimator option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return cls(**values)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:
            raise q.ValidationError(f"unknown estimator option {name!r}")
        object.__setattr__(self, name, _checked(name, value))

    def update(self, **values: Any) -> None:
        """Set several options.

        Raises:
            ValidationError: an unknown option or a bad value (nothing is changed).
        """
        checked = EstimatorOptions.create({**{f.name: getattr(self, f.name) for f in fields(self)}, **values})
        for f in fields(self):
            object.__setattr__(self, f.name, getattr(checked, f.name))

    def shots(self, precision: float) -> int:
        """Shots per circuit for a target precision (or ``default_shots``)."""
        if self.default_shots is not None:
            return self.default_shots
        return math.ceil(1.0 / precision**2)

    def mitigation(self) -> Pipeline:
        """The pipeline these options select (see the module docstring).

        Raises:
            ValidationError: the options do not make a valid pipeline (e.g. too few noise factors).
        """
        if self.pipeline is not None:
            return self.pipeline
        stages: list[Stage] = []
        if self.twirl_instances:
            stages.append(Twirl(self.twirl_instances, seed=self.seed))
        extrapolate: Extrapolator | None = None
        if self.resilience_level >= 2:
            stages.append(Fold(self.zne_noise_factors, method=self.zne_fold))
            chosen = self.zne_extrapolator
            extrapolate = EXTRAPOLATORS[chosen]() if isinstance(chosen, str) else chosen
        if self.resilience_level >= 1:
            stages.append(ReadoutMitigation(self.readout))
        return Pipeline(stages, extrapolate=extrapolate)


def _checked(name: str, value: Any) -> Any:
    """``value`` if it suits option ``name``.

    Raises:
        ValidationError: it does not.
    """
    ok = True
    if name == "default_precision":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    elif name in ("default_shots", "twirl_instances", "seed", "resilience_level"):
        lowest = {"default_shots": 1, "twirl_instances": 0, "seed": 0, "resilience_level": 0}[name]
        ok = (value is None and name == "default_shots") or (type(value) is int and value >= lowest)
        if name == "resilience_level" and ok and value > 2:
            raise q.ValidationError(f"resilience_level must be 0, 1 or 2, got {value!r}")
        if name == "default_shots" and value is not None and ok and value > 1_000_000:
            raise q.ValidationError(f"default_shots must be at most 1,000,000, got {value}")
    elif name == "pipeline":
        ok = value is None or isinstance(value, Pipeline)
    elif name == "readout":
        ok = value in ("calibration", "measured")
    elif name == "zne_noise_factors":
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            ok = False
        else:
            Fold(value)  # the core's checks (each >= 1, distinct)
            if len(value) < 2:
                raise q.ValidationError(f"zne_noise_factors needs at least two noise scales, got {list(value)}")
            value = tuple(float(v) for v in value)
    elif name == "zne_extrapolator":
        ok = isinstance(value, Extrapolator) or value in EXTRAPOLATORS
    elif name == "zne_fold":
        ok = value in ("global", "local")
    if not ok:
        raise q.ValidationError(f"bad value for estimator option {name}: {value!r}")
    return value
