"""The one vocabulary of a job's life, shared by progress events, the ledger and the adapters.

``preparing → created → uploaded → submitted → queued → running → qpu_queued → qpu_processing → completed``, or one
of the other terminal phases ``failed``, ``cancelled``, ``deleted``. The first four are the client's steps (recorded
before anything is sent, then one per HEAppE call), ``queued``/``running`` the HPC scheduler's, ``qpu_*`` the IQM
server's as the cluster side reports them. HEAppE's own integer states (:class:`~qaas_core._heappe.JobState`) are
a wire detail mapped onto these phases in one place (:meth:`JobPhase.from_heappe`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["JobPhase"]


class JobPhase(StrEnum):
    """Where a job is in its life; ``str`` so that it compares and stores as its value (``"completed"``)."""

    PREPARING = "preparing"
    CREATED = "created"
    UPLOADED = "uploaded"
    SUBMITTED = "submitted"
    QUEUED = "queued"
    RUNNING = "running"
    QPU_QUEUED = "qpu_queued"
    QPU_PROCESSING = "qpu_processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELETED = "deleted"

    @property
    def terminal(self) -> bool:
        """Completed, failed, cancelled or deleted: nothing more will happen."""
        return self in _TERMINAL

    @property
    def rank(self) -> int:
        """Position in the forward order (terminal phases rank last): a job never moves to a lower rank."""
        return _RANK[self]

    @property
    def in_flight(self) -> bool:
        """Recorded but not yet handed to the scheduler: a process is (or was) in the middle of submitting it."""
        return self in (JobPhase.PREPARING, JobPhase.CREATED, JobPhase.UPLOADED)

    @classmethod
    def from_heappe(cls, state: int) -> JobPhase | None:
        """The phase a HEAppE job state (1, 2, 4 … 256) stands for; None for Finished (16), where the result document
        decides between completed and failed. Unknown states read as failed."""
        return _FROM_HEAPPE.get(state, cls.FAILED)


_TERMINAL = frozenset({JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED, JobPhase.DELETED})
_RANK = {phase: index for index, phase in enumerate(JobPhase)}
_FROM_HEAPPE: dict[int, JobPhase | None] = {
    1: JobPhase.UPLOADED,  # Configuring: created, files may be uploaded, not yet submitted
    2: JobPhase.QUEUED,
    4: JobPhase.QUEUED,
    8: JobPhase.RUNNING,
    16: None,
    32: JobPhase.FAILED,
    64: JobPhase.CANCELLED,
    128: JobPhase.QUEUED,  # WaitingForServiceAccount
    256: JobPhase.DELETED,
}
