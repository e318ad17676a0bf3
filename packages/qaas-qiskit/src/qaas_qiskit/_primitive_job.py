"""``QaaSPrimitiveJob``: the job a qaas V2 primitive returns — one qaas job, and how its results become a
``PrimitiveResult``.

Unlike Qiskit's ``PrimitiveJob`` no thread runs anything: the primitive has already validated and submitted the batch
when it returns the job (so invalid input raises at ``run``), ``job_id()`` is the qaas submission id, and
``result()`` waits for the job and post-processes its counts once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from qiskit.primitives import BasePrimitiveJob
from qiskit.providers import JobStatus

import qaas_core as q
from qaas_qiskit._job import _STATUS

__all__ = ["QaaSPrimitiveJob"]

logger = logging.getLogger(__name__)

ResultT = TypeVar("ResultT")

_FINAL: Final = frozenset({JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED})


class QaaSPrimitiveJob(BasePrimitiveJob, Generic[ResultT]):  # type: ignore[misc]
    """A primitive's batch running as one qaas job.

    Args:
        job: the qaas job.
        finish: turns the job's results into the primitive's result.
        timeout: longest wait in :meth:`result` when none is given (None: no limit).
    """

    def __init__(self, job: q.Job, finish: Callable[[q.Result], ResultT], *, timeout: float | None = None) -> None:
        super().__init__(job.submission_id)
        self._job = job
        self._finish = finish
        self._timeout = timeout
        self._result: ResultT | None = None
        self._failure: q.JobFailedError | None = None

    @property
    def qaas_job(self) -> q.Job:
        """The underlying :class:`qaas_core.Job` (both ids, progress events, the presubmit report)."""
        return self._job

    def result(self, timeout: float | None = None) -> ResultT:
        """Wait for the job and return the primitive's result (computed once, then kept).

        Args:
            timeout: longest wait in seconds (default: the primitive's).

        Raises:
            JobFailedError: the job failed or was cancelled (both ids, the state and the reason).
            JobTimeoutError: the job did not finish in time (it keeps running).
            ValidationError, PayloadError: the results do not fit the submitted circuits.
        """
        if self._failure is not None:
            raise self._failure
        if self._result is None:
            try:
                native = self._job.result(self._timeout if timeout is None else timeout)
            except q.JobFailedError as exc:
                self._failure = exc
                logger.warning("%s", exc.message)
                raise
            self._result = self._finish(native)
        return self._result

    def status(self) -> JobStatus:
        """Poll once and return the job's status.

        Raises:
            QaasError: the platform could not be asked (typed).
        """
        if self._result is not None:
            return JobStatus.DONE
        if self._failure is not None:
            return _STATUS.get(self._failure.state, JobStatus.ERROR)
        phase = str(self._job.status())
        status = _STATUS.get(phase, JobStatus.RUNNING)
        if status is JobStatus.DONE:  # the cluster side has ended: whether it succeeded is in the result document
            try:
                self.result()
            except q.JobFailedError as exc:
                return _STATUS.get(exc.state, JobStatus.ERROR)
        return status

    def done(self) -> bool:
        """Whether the job has finished successfully."""
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        """Whether the job is running on the QPU side."""
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        """Whether the job was cancelled."""
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        """Whether the job has ended (done, failed or cancelled)."""
        return self.status() in _FINAL

    def cancel(self) -> None:
        """Cancel the job.

        Raises:
            RemoteAPIError: the platform refused (e.g. the job has already ended).
        """
        self._job.cancel()

    def __repr__(self) -> str:
        return f"<QaaSPrimitiveJob {self.job_id()} heappe={self._job.heappe_job_id}>"
