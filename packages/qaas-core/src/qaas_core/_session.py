"""Sessions: one long HEAppE job serves many batches, so an optimisation loop pays the HPC queue once.

``with client.session(max_time=3600, idle_timeout=300):`` opens a session job (command template ``qaas-session``,
``qaas-worker session`` on the cluster) at once, so its wait in the queue overlaps with whatever the user does next.
Every batch submitted inside the block — by the core, or by an adapter built on the client — is uploaded into that
job's directory as ``batch-NNNNNN.json.gz`` (HEAppE accepts uploads while a job waits or runs) and followed by its own
progress events and result file: one upload and some polls per batch, no job creation, no queue.

If the session job ends before a batch's result (walltime, a crash, a cancel), the batch is sent to the next session
job, opened then: with the same submission id, so the cluster side's exactly-once records attach it to the IQM job it
may already have started; nothing is run twice. The ledger records every batch with its session and number
(``meta``) and the HEAppE job that ran it. A batch retrieved by another process after the session's owner died is
finished by the session job if it is still running, else sent as a job of its own (same submission id).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from qaas_core._errors import ConfigurationError, ValidationError
from qaas_core._flow import Flow, Local, Sleep, run
from qaas_core._gzip import compress
from qaas_core._job import Job, _HeappeRemote, _JobBase, _SessionRemote, _Tracker
from qaas_core._phase import JobPhase
from qaas_core._submit import create_flow, job_spec, run_spec, submit_job_flow

if TYPE_CHECKING:
    from qaas_core._client import PresubmitReport, QaasClient
    from qaas_core._heappe import HEAppEProtocol
    from qaas_core._lexis import HeappeTarget
    from qaas_core._wire import RunRequest

__all__ = ["Session"]

MAX_SESSION: Final = 7 * 24 * 3600.0
BATCH_POLL_FIRST: Final = 0.1


def batch_file(number: int) -> str:
    """The name a batch is uploaded under."""
    return f"batch-{number:06d}.json.gz"


class Session:
    """A session job and the batches it serves (get one from :meth:`QaasClient.session`).

    Args:
        client: the client whose batches go to the session.
        max_time: the session job's walltime (seconds; capped by the node type's).
        idle_timeout: the session job ends after this long without a batch.

    Raises:
        ValidationError: a limit that is not a positive number of seconds (at most a week).
        ConfigurationError: the resource offers no session command template.
    """

    def __init__(self, client: QaasClient, *, max_time: float = 3600.0, idle_timeout: float = 300.0) -> None:
        for name, value in (("max_time", max_time), ("idle_timeout", idle_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_SESSION:
                raise ValidationError(f"{name} must be a number of seconds in (0, {MAX_SESSION:.0f}], got {value!r}")
        self.id = str(uuid.uuid4())
        self.max_time = float(max_time)
        self.idle_timeout = float(idle_timeout)
        self._client = client
        self._lock = threading.Lock()
        self._current: tuple[int, int] | None = None  # HEAppE job and task of the session job in use
        self._opening = False
        self._next = 1
        self.jobs: list[int] = []  # every session job this session used, oldest first
        self.closed = False
        self._previous: Session | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Session {self.id[:8]} {state} jobs={self.jobs} batches={self._next - 1}>"

    # -- the session job ------------------------------------------------------------------------------------------

    def _target(self) -> HeappeTarget:
        target = self._client.target()[1]
        if target.session_template_id is None:
            raise ConfigurationError(
                f"resource {target.resource!r} offers no {self._client.settings.session_template!r} command template; "
                "ask the site to deploy it (docs/deploy.md), or run without a session"
            )
        return target

    def _open_flow(self, protocol: HEAppEProtocol, target: HeappeTarget) -> Flow[tuple[int, int]]:
        env = [
            {"Name": "QAAS_SESSION_ID", "Value": self.id},
            {"Name": "QAAS_SESSION_MAX_TIME", "Value": f"{self.max_time:g}"},
            {"Name": "QAAS_SESSION_IDLE_TIMEOUT", "Value": f"{self.idle_timeout:g}"},
        ]
        spec = job_spec(target, f"qaas-session-{self.id[:8]}", target.session_template_id or 0,
                        target.session_template_parameters, env, walltime=int(self.max_time))  # fmt: skip
        info = yield from create_flow(protocol, spec)
        yield from submit_job_flow(protocol, info.id)
        return info.id, (info.tasks[0].id if info.tasks else info.id)

    def _job_flow(
        self, protocol: HEAppEProtocol, target: HeappeTarget, dead: int | None = None
    ) -> Flow[tuple[int, int]]:
        """The session job to use: the current one, or a new one if there is none (or ``dead`` was the current)."""
        while True:
            with self._lock:
                if self._current is not None and self._current[0] == dead:
                    self._current = None
                if self._current is not None:
                    return self._current
                if not self._opening:
                    self._opening = True
                    break
            yield Sleep(0.05)  # another batch is opening it
        try:
            opened = yield from self._open_flow(protocol, target)
        finally:
            with self._lock:
                self._opening = False
        with self._lock:
            self._current = opened
            self.jobs.append(opened[0])
        return opened

    def open(self) -> None:
        """Create and submit the session job now (it waits in the queue while the first batch is prepared)."""
        if self.closed:
            raise ValidationError(f"session {self.id} is closed")
        heappe = self._client.heappe
        run(self._job_flow(heappe.protocol, self._target()), heappe)

    def close(self) -> None:
        """Tell the session job to end once its batches are done (it would end on its idle timeout otherwise)."""
        if self.closed:
            return
        self.closed = True
        with self._lock:
            current = self._current
        if current is not None:
            heappe = self._client.heappe
            heappe.protocol.parse_upload(heappe.send(heappe.protocol.upload(current[0], current[1], [("close", b"")])))

    def __enter__(self) -> Session:
        self.open()
        self._previous = self._client._session
        self._client._session = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._client._session = self._previous
        self.close()

    # -- batches --------------------------------------------------------------------------------------------------

    def submit(self, request: RunRequest, data: bytes, report: PresubmitReport, meta: Mapping[str, Any] | None) -> Job:
        """Send a prepared batch into the session job; returns its :class:`Job` (the client calls this)."""
        if self.closed:
            raise ValidationError(f"session {self.id} is closed; submit outside it, or open another")
        client, ledger = self._client, self._client.ledger
        resource, target = client.target()
        heappe = client.heappe
        job_id, task_id = run(self._job_flow(heappe.protocol, self._target()), heappe)
        with self._lock:
            number = self._next
            self._next += 1
        lease = ledger.lease(request.submission_id)
        tagged = {**dict(meta or {}), "session": self.id, "batch": number}
        client._record_new(request, data, resource.name, target.heappe_url, tagged, lease, estimated=report.qpu_seconds)
        try:
            ledger.update(request.submission_id, state=JobPhase.CREATED, heappe_job_id=job_id, heappe_task_id=task_id)
            protocol = heappe.protocol
            protocol.parse_upload(heappe.send(protocol.upload(job_id, task_id, [(batch_file(number), data)])))
            ledger.update(request.submission_id, state=JobPhase.SUBMITTED)
        finally:
            lease.release()
        tracker = _Tracker(request.submission_id, job_id, task_id, client.settings.poll_max, report.qpu_seconds)
        tracker.batch = number
        tracker.delay = BATCH_POLL_FIRST  # no queue in front of a batch: its result comes about as fast as the QPU
        tracker.emit(JobPhase.UPLOADED, heappe_job_id=job_id, session=self.id, batch=number, bytes=len(data))
        return Job(tracker, heappe, ledger, resource.name, report, client.settings.progress,
                   remote=_SessionRemote(heappe.protocol, self))  # fmt: skip

    def resend_flow(self, job: _JobBase) -> Flow[bool]:
        """The session job ended before this batch's result: upload it to the next session job."""
        t = job._t
        ledger = self._client.ledger
        entry = yield Local(lambda: ledger.get(t.submission_id))
        if entry.is_terminal or self.closed:
            return False
        heappe = self._client.heappe
        dead = t.heappe_job_id
        job_id, task_id = yield from self._job_flow(heappe.protocol, self._target(), dead)
        data = yield Local(lambda: ledger.load_request(t.submission_id))
        if data is None:
            return False
        assert t.batch is not None
        heappe.protocol.parse_upload((yield heappe.protocol.upload(job_id, task_id, [(batch_file(t.batch),
                                                                                      compress(data))])))  # fmt: skip
        _moved(t, job_id, task_id)
        yield Local(lambda: ledger.update(t.submission_id, heappe_job_id=job_id, heappe_task_id=task_id))
        return True


class Orphan:
    """The session of a batch retrieved by another process: the batch is finished by its session job if that still
    runs, else sent as a job of its own (the same submission id: the cluster side attaches it if it had started)."""

    def __init__(self, client: QaasClient) -> None:
        self._client = client

    def resend_flow(self, job: _JobBase) -> Flow[bool]:
        t = job._t
        ledger = self._client.ledger
        entry = yield Local(lambda: ledger.get(t.submission_id))
        data = yield Local(lambda: ledger.load_request(t.submission_id))
        if entry.is_terminal or data is None:
            return False
        heappe = self._client.heappe
        target = self._client.target()[1]
        info = yield from create_flow(heappe.protocol, run_spec(target, t.submission_id, 3600))
        task_id = info.tasks[0].id if info.tasks else info.id
        from qaas_core._submit import REQUEST_FILE

        heappe.protocol.parse_upload((yield heappe.protocol.upload(info.id, task_id, [(REQUEST_FILE, compress(data))])))
        yield from submit_job_flow(heappe.protocol, info.id)
        _moved(t, info.id, task_id)
        t.batch = None
        job._remote = _HeappeRemote(heappe.protocol)  # a job of its own from now on
        yield Local(lambda: ledger.update(t.submission_id, heappe_job_id=info.id, heappe_task_id=task_id))
        return True


def _moved(t: _Tracker, job_id: int, task_id: int) -> None:
    """The tracker follows another HEAppE job from now on."""
    from qaas_core._heappe import JobState

    t.heappe_job_id, t.heappe_task_id = job_id, task_id
    t.heappe_state = JobState.CONFIGURING
    t.progress_offset, t.progress_tail = 0, ""
    t.batch_ended = False
    t.delay = BATCH_POLL_FIRST
