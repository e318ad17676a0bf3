"""Error mitigation on native circuits and core results: readout correction, zero-noise extrapolation by unitary
folding, Pauli twirling and dynamical decoupling, composed per circuit in pipelines whose variants all run in one
job.

::

    from qaas_core.mitigation import Fold, Pipeline, ReadoutMitigation, Richardson, Twirl, run_mitigated

    zne = Pipeline([Twirl(8), Fold([1, 3, 5]), ReadoutMitigation()], extrapolate=Richardson())
    result = run_mitigated(client, [ghz], [["XXXXX", "ZZZZZ"]], shots=2000, pipeline=zne)
    x = result[0][0]
    x.value, x.stderr, x.raw, x.metadata["stages"]

**Stages.** Pre-stages expand a circuit into variants, in the order given: :class:`Twirl` (random Pauli frames
around every CZ, merged into the neighbouring ``prx``), :class:`Fold` (noise scaling ``G (G†G)^k``, globally or gate
by gate), :class:`DynamicalDecoupling` (``XY4`` / ``XX`` in idle gaps of the ASAP schedule; last). The post-stage
:class:`ReadoutMitigation` corrects readout errors from the calibration or from two calibration circuits in the same
job, and ``Pipeline(extrapolate=…)`` — :class:`Linear`, :class:`Polynomial`, :class:`Richardson`,
:class:`Exponential` — takes the folded values to zero noise.

**Observables** are real sums of Pauli strings over a circuit's measured bits (:class:`PauliSum`, a string, or a
mapping string -> coefficient), character ``j`` on bit ``j`` of the counts. ``X`` and ``Y`` terms are measured after
a basis change; terms that commute qubit by qubit share one basis circuit.

**One job.** :func:`run_mitigated` builds a :class:`MitigationPlan` (pure: every variant of every circuit of the batch
in order), makes exactly one ``client.submit`` and folds the counts back into one :class:`MitigatedValue` per
observable: value, standard error, the raw estimate of the same job and the stages in ``metadata``. Every circuit a
stage made carries ``metadata["qaas.mitigation"]["preserve"] = True`` (:func:`is_preserved`): run it as it is.

**For adapters.** Convert circuits to native :class:`qaas_core.Circuit` and observables to Pauli strings (in the bit
order above), map options to a :class:`Pipeline`, then call :func:`run_mitigated` — or :meth:`MitigationPlan.build`,
submit :attr:`MitigationPlan.circuits` any way (async, in a session) and :meth:`MitigationPlan.estimate` the result.
A conversion that keeps Z rotations virtual leaves frames on the measured qubits, which an X or Y measurement must
see: pass such a circuit as a :data:`CircuitInBasis` function, which appends the basis change in the framework and
converts, instead of a native circuit the core would rotate itself.
"""

from __future__ import annotations

from qaas_core.mitigation._dd import SEQUENCES, DynamicalDecoupling, insert_dd
from qaas_core.mitigation._extrapolate import (
    Exponential,
    Extrapolation,
    Extrapolator,
    Linear,
    Polynomial,
    Richardson,
)
from qaas_core.mitigation._folding import Fold, fold_global, fold_local
from qaas_core.mitigation._native import MITIGATION_KEY, is_preserved
from qaas_core.mitigation._pauli import ObservableLike, PauliSum, measurement_bases, with_basis
from qaas_core.mitigation._pipeline import (
    DEFAULT_PIPELINE,
    CircuitInBasis,
    MitigatedResult,
    MitigatedValue,
    MitigationPlan,
    Pipeline,
)
from qaas_core.mitigation._readout import (
    ReadoutMitigation,
    ReadoutModel,
    mitigate_counts,
    nearest_probability,
    quasi_probabilities,
    readout_calibration_circuits,
)
from qaas_core.mitigation._run import run_mitigated
from qaas_core.mitigation._stage import Context, Stage, Variant
from qaas_core.mitigation._twirl import Twirl, twirl

__all__ = [
    "DEFAULT_PIPELINE",
    "MITIGATION_KEY",
    "SEQUENCES",
    "CircuitInBasis",
    "Context",
    "DynamicalDecoupling",
    "Exponential",
    "Extrapolation",
    "Extrapolator",
    "Fold",
    "Linear",
    "MitigatedResult",
    "MitigatedValue",
    "MitigationPlan",
    "ObservableLike",
    "PauliSum",
    "Pipeline",
    "Polynomial",
    "ReadoutMitigation",
    "ReadoutModel",
    "Richardson",
    "Stage",
    "Twirl",
    "Variant",
    "fold_global",
    "fold_local",
    "insert_dd",
    "is_preserved",
    "measurement_bases",
    "mitigate_counts",
    "nearest_probability",
    "quasi_probabilities",
    "readout_calibration_circuits",
    "run_mitigated",
    "twirl",
    "with_basis",
]
