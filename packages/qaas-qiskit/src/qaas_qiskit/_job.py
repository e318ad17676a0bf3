"""``QaaSJob``: a Qiskit ``JobV1`` around one qaas job (one HEAppE job, one IQM job, the whole batch).

``job_id()`` is the qaas submission id, which ``QaaSProvider.retrieve_job`` accepts in any process that shares the
data directory (so do the HEAppE and IQM job ids). ``status()`` polls once; ``queue_position()`` reports the IQM
queue position the cluster side saw.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from qiskit.providers import JobStatus, JobV1

import qaas_core as q
from qaas_qiskit._results import Layout, layout_from_circuit, to_qiskit_result

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qiskit.result import Result

    from qaas_qiskit._backend import QaaSBackend

__all__ = ["QaaSJob"]

logger = logging.getLogger(__name__)

_STATUS: Final[dict[str, JobStatus]] = {
    q.JobPhase.PREPARING: JobStatus.INITIALIZING,
    q.JobPhase.CREATED: JobStatus.INITIALIZING,
    q.JobPhase.UPLOADED: JobStatus.INITIALIZING,
    q.JobPhase.SUBMITTED: JobStatus.QUEUED,
    q.JobPhase.QUEUED: JobStatus.QUEUED,
    q.JobPhase.QPU_QUEUED: JobStatus.QUEUED,
    q.JobPhase.RUNNING: JobStatus.RUNNING,
    q.JobPhase.QPU_PROCESSING: JobStatus.RUNNING,
    q.JobPhase.COMPLETED: JobStatus.DONE,
    q.JobPhase.FAILED: JobStatus.ERROR,
    q.JobPhase.CANCELLED: JobStatus.CANCELLED,
    q.JobPhase.DELETED: JobStatus.CANCELLED,
}
"""Qiskit's status of each core job phase (one table for QaaSJob and the primitives' jobs)."""


class QaaSJob(JobV1):  # type: ignore[misc]
    """A batch of circuits running on a qaas backend.

    Args:
        backend: The backend that ran it.
        job: The qaas job handle.
        layouts: Register layout of each circuit (None: read from the request stored in the ledger).
    """

    def __init__(self, backend: QaaSBackend, job: q.Job, layouts: Sequence[Layout] | None = None) -> None:
        super().__init__(backend, job.submission_id)
        self._job = job
        self._layouts = list(layouts) if layouts is not None else None
        self._result: Result | None = None
        self._failure: q.JobFailedError | None = None

    @property
    def qaas_job(self) -> q.Job:
        """The underlying :class:`qaas_core.Job` (both ids, progress events, ``on_progress``)."""
        return self._job

    @property
    def heappe_job_id(self) -> int | None:
        """The HEAppE job id (None on the direct IQM transport)."""
        return self._job.heappe_job_id

    @property
    def iqm_job_id(self) -> str | None:
        """The IQM job id, once the cluster side has reported it."""
        return self._job.iqm_job_id

    def submit(self) -> None:
        """Jobs are submitted by :meth:`QaaSBackend.run`; this always raises.

        Raises:
            ValidationError: always.
        """
        raise q.ValidationError(f"job {self.job_id()} was submitted by QaaSBackend.run(); it cannot be submitted again")

    def result(self, timeout: float | None = None, *, show_progress: bool | None = None) -> Result:
        """Wait for the job and return its results (downloaded once, then kept).

        Args:
            timeout: Longest wait in seconds (None: no limit).
            show_progress: Draw a progress line (None: on a terminal or in a notebook, or as ``QAAS_PROGRESS`` says).

        Raises:
            JobFailedError: the job failed or was cancelled (both ids, the state and the reason).
            JobTimeoutError: the job did not finish in time (it keeps running).
            PayloadError: the result does not match the submitted circuits.
        """
        if self._failure is not None:
            raise self._failure
        if self._result is None:
            try:
                native = self._job.result(timeout, show_progress=show_progress)
            except q.JobFailedError as exc:  # kept for status() and error_message(), raised again on every call
                self._failure = exc
                # also logged once: Qiskit's primitives wrap this job and report its failure with an empty message
                logger.warning("%s", exc.message)
                raise
            backend: QaaSBackend = self.backend()
            self._result = to_qiskit_result(
                native,
                self._layouts_for(native),
                backend_name=backend.name,
                backend_version=str(backend.backend_version),
                job_id=self.job_id(),
            )
        return self._result

    def _layouts_for(self, native: q.Result) -> list[Layout]:
        if self._layouts is not None:
            return self._layouts
        request = self._job.request()
        if request is None:
            raise q.PayloadError(f"the ledger keeps no request for job {self.job_id()}; registers cannot be rebuilt")
        self._layouts = [
            layout_from_circuit(c, r.keys) for c, r in zip(request.circuits, native.circuits, strict=False)
        ]
        return self._layouts

    def status(self) -> JobStatus:
        """Poll once and return the job's status.

        Raises:
            QaasError: the platform could not be asked (typed).
        """
        if self._result is not None:
            return JobStatus.DONE
        if self._failure is not None:
            return _STATUS.get(self._failure.state, JobStatus.ERROR)
        try:
            self._job.wait(timeout=0, show_progress=False)
            # the cluster side has ended: whether it succeeded is in the result document
            self.result(timeout=60, show_progress=False)
        except q.JobTimeoutError:
            return _STATUS.get(self._job.state, JobStatus.RUNNING)
        except q.JobFailedError as exc:
            self._failure = exc
            return _STATUS.get(exc.state, JobStatus.ERROR)
        return JobStatus.DONE

    def cancel(self) -> None:
        """Cancel the job (HEAppE stops the cluster task, which cancels the IQM job).

        Raises:
            RemoteAPIError: the platform refused (e.g. the job has already ended).
        """
        self._job.cancel()

    def queue_position(self, refresh: bool = True) -> int | None:
        """Position in the QPU queue, as the IQM server last reported it (None when not queued there).

        Args:
            refresh: Poll once first.
        """
        if refresh and self._result is None and self._failure is None:
            self._job.status()
        return self._job.queue_position

    def __repr__(self) -> str:
        return f"<QaaSJob {self.job_id()} heappe={self.heappe_job_id} iqm={self.iqm_job_id or '-'}>"

    def error_message(self) -> str | None:
        """Why the job failed (the server's reason, both job ids and the state), or None if it has not failed.

        Polls once when the job's outcome is not known yet.
        """
        if self._failure is None and self._result is None:
            self.status()
        return None if self._failure is None else self._failure.message
