"""The one call that runs a mitigated batch: plan, one submission, estimates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qaas_core.mitigation._pipeline import CircuitInBasis, MitigatedResult, MitigationPlan, Pipeline

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration
    from qaas_core._circuit import Circuit
    from qaas_core._client import QaasClient
    from qaas_core.mitigation._pauli import ObservableLike

__all__ = ["run_mitigated"]


def run_mitigated(
    client: QaasClient,
    circuits: Sequence[Circuit | CircuitInBasis] | Circuit,
    observables: Sequence[ObservableLike | Sequence[ObservableLike]] | ObservableLike,
    shots: int,
    *,
    pipeline: Pipeline | None = None,
    pipelines: Sequence[Pipeline] | None = None,
    calibration: Calibration | None = None,
    timeout: float | None = None,
    **submit: Any,
) -> MitigatedResult:
    """Estimate observables of a batch with error mitigation, every variant of every circuit in **one** job.

    Args:
        client: the client (its session, if one is open, carries the job).
        circuits: native circuits, each ending in the measurements its observables read, or functions from a basis
            string to such a circuit measuring in that basis (:data:`~qaas_core.mitigation.CircuitInBasis`: how an
            adapter whose conversion tracks virtual-Z frames renders basis changes).
        observables: per circuit, one observable or a sequence of them (Pauli strings over the circuit's measured
            bits, mappings string -> coefficient, or :class:`~qaas_core.mitigation.PauliSum`); for a single circuit,
            its observable(s).
        shots: shots of every circuit the job runs (each variant).
        pipeline: the pipeline of every circuit (default: readout mitigation from the calibration).
        pipelines: one pipeline per circuit instead.
        calibration: the calibration to plan and validate with (default: the client's current one).
        timeout: longest wait for the results, in seconds.
        **submit: further arguments of :meth:`qaas_core.QaasClient.submit` (``options``, ``meta`` …); per-shot
            memory is off unless ``memory=True`` is given.

    Returns:
        The estimates, ``result[i][j]`` for observable ``j`` of circuit ``i``, with the job on ``result.job``.

    Raises:
        ValidationError: the batch, observables or pipelines are invalid (nothing was sent).
        CircuitError: a circuit cannot take a basis change or a fold, or a variant breaks a pre-submit check.
        JobFailedError, JobTimeoutError: the job failed or did not finish in time.
    """
    cal = calibration if calibration is not None else client.calibration()
    plan = MitigationPlan.build(circuits, observables, pipeline=pipeline, pipelines=pipelines, calibration=cal)
    options: Mapping[str, Any] = {"memory": False, **submit}
    job = client.submit(plan.circuits, shots, calibration=cal, **options)
    return plan.estimate(job.result(timeout=timeout), job=job)
