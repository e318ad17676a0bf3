"""QaaSJob: the handle of a submitted sweep or batch (one qaas job), from submission or rebuilt from the ledger."""

from __future__ import annotations

from collections.abc import Sequence

import qaas_core as q
from qaas_cirq._results import CircuitInfo, QaaSResult, to_cirq_results

__all__ = ["QaaSJob"]


class QaaSJob:
    """A sweep or a batch of Cirq programs running as one qaas job.

    Get one from :meth:`QaaSSampler.submit`, :meth:`QaaSSampler.submit_batch` or :meth:`QaaSSampler.retrieve`.

    Args:
        job: The qaas-core job.
        infos: Per circuit of the job, how to rebuild its Cirq result.
    """

    def __init__(self, job: q.Job, infos: Sequence[CircuitInfo]) -> None:
        self._job = job
        self._infos = tuple(infos)
        self._programs = infos[0].programs if infos else 0

    @property
    def job_id(self) -> str:
        """The qaas submission id: pass it to :meth:`QaaSSampler.retrieve`, from this process or another."""
        return self._job.submission_id

    @property
    def heappe_job_id(self) -> int | None:
        """The HEAppE job id (None on the direct IQM transport)."""
        return self._job.heappe_job_id

    @property
    def iqm_job_id(self) -> str | None:
        """The IQM job id, once the cluster side has reported it."""
        return self._job.iqm_job_id

    @property
    def qaas_job(self) -> q.Job:
        """The underlying qaas-core job (progress events, queue position …)."""
        return self._job

    @property
    def circuits(self) -> int:
        """Number of circuits in the job."""
        return len(self._infos)

    def status(self) -> str:
        """Poll once; returns the latest progress kind (``queued``, ``running``, ``qpu_queued``, ``done`` …).

        Raises:
            QaasError: the platform could not be asked.
        """
        return self._job.status()

    def cancel(self) -> None:
        """Cancel the job.

        Raises:
            RemoteAPIError: HEAppE refused (e.g. the job already ended).
        """
        self._job.cancel()

    def result(self, timeout: float | None = None) -> list[QaaSResult]:
        """Wait for the job; one result per circuit, in submission order (for a sweep: one per resolver).

        Raises:
            JobFailedError: the job failed or was cancelled.
            JobTimeoutError: not finished within ``timeout`` seconds (the job keeps running).
        """
        return to_cirq_results(self._job.result(timeout), self._infos)

    def batch_result(self, timeout: float | None = None) -> list[list[QaaSResult]]:
        """Wait for the job; results grouped per program, as ``cirq.Sampler.run_batch`` returns them.

        Raises:
            JobFailedError: the job failed or was cancelled.
            JobTimeoutError: not finished within ``timeout`` seconds.
        """
        grouped: list[list[QaaSResult]] = [[] for _ in range(self._programs)]
        for result in self.result(timeout):
            grouped[result.metadata.program].append(result)
        return grouped

    def __repr__(self) -> str:
        return (f"<QaaSJob {self.job_id} heappe={self.heappe_job_id} iqm={self.iqm_job_id or '-'} "
                f"{len(self._infos)} circuit(s)>")  # fmt: skip
