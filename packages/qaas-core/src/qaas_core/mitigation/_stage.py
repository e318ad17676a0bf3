"""What every mitigation stage is: a pre-stage turns one circuit into variants, a post-stage only changes how results
are read back (or both)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration
    from qaas_core._circuit import Circuit

__all__ = ["Context", "Stage", "Variant"]


class Context(NamedTuple):
    """What a stage may use when it expands a circuit.

    Attributes:
        calibration: the calibration the batch runs with (durations, errors, readout errors).
        seed: the entropy path of this circuit (pipeline seed, circuit index, basis index) for random stages.
    """

    calibration: Calibration | None
    seed: tuple[int, ...]


class Variant(NamedTuple):
    """One circuit a stage made, with the labels that say how (``{"twirl": 3}``, ``{"noise_scale": 2.96}`` …)."""

    circuit: Circuit
    labels: dict[str, Any]


class Stage:
    """A step of a :class:`~qaas_core.mitigation.Pipeline`. The base class expands nothing."""

    label = "stage"

    def expand(self, circuit: Circuit, context: Context) -> list[Variant]:
        """The circuits to run in place of ``circuit`` (default: ``circuit`` itself)."""
        return [Variant(circuit, {})]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
