"""``QaaSEstimator``: a Qiskit ``EstimatorV2`` whose estimates go through the core's error-mitigation pipelines.

``run(pubs)`` prepares every pub (:mod:`qaas_qiskit._pub`: one logical circuit per parameter binding, observables as
Pauli strings over the measured qubits), hands the whole batch to :meth:`qaas_core.mitigation.MitigationPlan.build`
with the pipeline the options select (:mod:`qaas_qiskit._estimator_options`), and submits **every variant of every
pub in one qaas job** before it returns. The job's ``result()`` folds the counts back
(:meth:`~qaas_core.mitigation.MitigationPlan.estimate`) into one ``PubResult`` per pub: ``data.evs`` and
``data.stds`` (the mitigated estimates and their shot-noise standard errors) and ``data.raw_evs`` /
``data.raw_stds`` (the unmitigated estimates from the same job). No mitigation happens here: this module only
converts and reshapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.primitives import BaseEstimatorV2, DataBin, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub

import qaas_core as q
from qaas_core.mitigation import MitigatedResult, MitigationPlan, Pipeline
from qaas_qiskit._estimator_options import EstimatorOptions
from qaas_qiskit._options import resolve_options
from qaas_qiskit._primitive_job import QaaSPrimitiveJob
from qaas_qiskit._pub import PreparedPub, prepare_pub

if TYPE_CHECKING:
    from qiskit.primitives.containers.estimator_pub import EstimatorPubLike

    from qaas_qiskit._backend import QaaSBackend

__all__ = ["QaaSEstimator"]


class QaaSEstimator(BaseEstimatorV2):  # type: ignore[misc]
    """An ``EstimatorV2`` on a :class:`~qaas_qiskit.QaaSBackend` with error mitigation by the qaas core.

    Pubs take circuits transpiled for the backend (ISA circuits) and observables on their qubits
    (``observable.apply_layout(isa.layout)``), as for any V2 estimator on hardware. All pubs of a ``run`` — every
    parameter binding, observable basis and mitigation variant — run as one job with one shot count per circuit:
    the options' ``default_shots``, or ``ceil(1 / precision²)`` for the most precise pub. Mitigation widens the
    error bars (``data.stds`` reports them honestly), so a target precision is one of the raw estimate.

    Args:
        backend: the backend to run on (its run options — IQM options, calibration set — apply to the job).
        options: :class:`EstimatorOptions` or a mapping of them (``resilience_level``, ``pipeline`` …).
        timeout: longest wait for a job's results in ``result()`` (None: no limit).

    Raises:
        ValidationError: an unknown option or a bad value.
    """

    def __init__(
        self,
        backend: QaaSBackend,
        *,
        options: EstimatorOptions | Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        self._backend = backend
        self._options = EstimatorOptions.create(options)
        self._timeout = timeout

    @property
    def backend(self) -> QaaSBackend:
        """The backend the estimator runs on."""
        return self._backend

    @property
    def options(self) -> EstimatorOptions:
        """The options (set attributes to change them; bad values raise at once)."""
        return self._options

    def run(
        self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None
    ) -> QaaSPrimitiveJob[PrimitiveResult[PubResult]]:
        """Estimate the expectation values of every pub, all in one job (submitted before this returns).

        Args:
            pubs: ``(circuit, observables)``, ``(circuit, observables, parameter_values)`` or
                ``(…, precision)`` tuples, or ``EstimatorPub`` objects.
            precision: target precision of pubs that give none (default: ``options.default_precision``).

        Returns:
            The job; its ``result()`` is a ``PrimitiveResult`` with one ``PubResult`` per pub.

        Raises:
            ValidationError: bad pubs, options or precision; CircuitError: a circuit is not native to the backend, or
                a variant breaks a pre-submit check (e.g. a fold longer than ``max_circuit_duration_over_t2``
                allows). All before anything is sent.
            QaasError: the platform refused the job or could not be reached (typed).
        """
        if precision is None:
            precision = self._options.default_precision
        try:
            coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        except (TypeError, ValueError) as exc:
            raise q.ValidationError(f"invalid estimator pub: {exc}") from exc
        if not coerced:
            raise q.ValidationError("run() got no pubs")
        for index, pub in enumerate(coerced):
            if not pub.precision > 0:
                raise q.ValidationError(f"pub {index} has precision {pub.precision}; it must be positive")
        shots = self._options.shots(min(pub.precision for pub in coerced))
        pipeline = self._options.mitigation()
        backend = self._backend
        calibration = backend.calibration
        with q.gc_paused():
            prepared = [prepare_pub(pub, backend, index) for index, pub in enumerate(coerced)]
            plan = MitigationPlan.build(
                [c for p in prepared for c in p.circuits],
                [o for p in prepared for o in p.observables],
                pipeline=pipeline,
                calibration=calibration,
            )
        settings = resolve_options(dict(backend.options.items()), {})
        from qaas_qiskit import __version__

        meta = {"framework": "qiskit", "qaas-qiskit": __version__, "primitive": "estimator",
                "mitigation": pipeline.labels}  # fmt: skip
        job = backend.client.submit(
            plan.circuits,
            shots,
            options=settings.iqm,
            calibration_set_id=settings.calibration_set_id,
            calibration=calibration,
            memory=False,
            meta=meta,
        )

        def finish(result: q.Result) -> PrimitiveResult[PubResult]:
            return _primitive_result(plan.estimate(result, job=job), prepared, pipeline, shots)

        return QaaSPrimitiveJob(job, finish, timeout=self._timeout)

    def __repr__(self) -> str:
        return f"<QaaSEstimator on {self._backend.name} {self._options.mitigation().labels}>"


def _primitive_result(
    estimates: MitigatedResult, prepared: list[PreparedPub], pipeline: Pipeline, shots: int
) -> PrimitiveResult[PubResult]:
    """One ``PubResult`` per pub from the batch's estimates (in the order the pubs' circuits were planned)."""
    out = []
    offset = 0
    for p in prepared:
        values = [estimates[offset + b] for b in range(len(p.circuits))]
        offset += len(p.circuits)
        evs, stds, raw, raw_stds = (np.empty(p.shape) for _ in range(4))
        for index in np.ndindex(p.shape):
            binding, position = p.slots[index]
            value = values[binding][position]
            evs[index], stds[index] = value.value, value.stderr
            raw[index], raw_stds[index] = value.raw, value.raw_stderr
        data = DataBin(evs=evs, stds=stds, raw_evs=raw, raw_stds=raw_stds, shape=p.shape)
        mitigation = {
            "stages": pipeline.labels,
            "circuits": sum(int(v[0].metadata["circuits"]) for v in values),
            "qubits": list(p.qubits),
        }
        metadata = {"target_precision": p.pub.precision, "shots": shots, "circuit_metadata": p.pub.circuit.metadata,
                    "mitigation": mitigation}  # fmt: skip
        out.append(PubResult(data, metadata=metadata))
    job = estimates.job
    meta = {"version": 2, "job_id": None if job is None else job.submission_id, "circuits": estimates.circuits,
            "shots": estimates.shots}  # fmt: skip
    return PrimitiveResult(out, metadata=meta)
