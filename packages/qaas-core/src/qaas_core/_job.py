"""Jobs: one HEAppE job per batch, followed to its result.

A :class:`Job` (sync) or :class:`AsyncJob` (asyncio) knows both ids — the HEAppE job and, once the worker reports
it, the IQM job — and turns HEAppE states plus the worker's ``progress.json`` into :class:`ProgressEvent` s whose
kinds are :class:`~qaas_core.JobPhase` values: ``created``, ``uploaded``, ``queued``, ``running``, ``qpu_queued``,
``qpu_processing``, ``completed`` (or ``failed`` / ``cancelled``). Polling adapts: quick at first, then backing off
to ``poll_max`` (HEAppE itself refreshes job states every 30 s). ``timeout=`` bounds the whole operation, every
request and read included.

What a job does is written once, as flows (:mod:`qaas_core._flow`): polling, waiting, downloading the result and
cancelling. :class:`Job` runs them with the sync driver, :class:`AsyncJob` with the async one; both share the state
(:class:`_Tracker`), the events, the failure reasons and the request counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from qaas_core._errors import DeadlineError, JobFailedError, JobTimeoutError, PayloadError, QaasError, RemoteAPIError
from qaas_core._flow import Flow, Local, Sleep, arun, run
from qaas_core._gzip import maybe_decompress
from qaas_core._heappe import FilePart, JobInfo, JobState
from qaas_core._http import Call, deadline
from qaas_core._phase import JobPhase
from qaas_core._result import (
    RESULT_SCHEMA,
    JobMessage,
    Result,
    ResultDocument,
    TimelineEntry,
    check_result_against_request,
    completed_result,
    decode_result,
    encode_result,
    max_result_bytes,
)

if TYPE_CHECKING:
    from qaas_core._client import PresubmitReport
    from qaas_core._heappe import AsyncHEAppEClient, HEAppEClient, HEAppEProtocol
    from qaas_core._iqm import AsyncIQMServerClient, IQMJobData, IQMProtocol, IQMServerClient
    from qaas_core._ledger import Ledger
    from qaas_core._wire import RunRequest

__all__ = ["AsyncJob", "Job", "JobTimeoutError", "ProgressEvent"]

logger = logging.getLogger(__name__)

POLL_FIRST: Final = 0.5
POLL_GROWTH: Final = 1.5
PROGRESS_FILE_TYPE: Final = 1
RESULT_FILES: Final = ("result.json.gz", "result.json")
UNKNOWN_REQUEST_LIMIT: Final = 256 << 20  # a result whose request is not at hand (no ledger) may be this large
_REPEATABLE: Final = frozenset({JobPhase.QPU_QUEUED})  # queue positions change within the phase


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a job.

    Attributes:
        kind: the :class:`~qaas_core.JobPhase` reached (compares equal to its string value).
        timestamp: when qaas saw it (seconds since the epoch).
        detail: extra facts (``queue_position``, ``iqm_job_id``, ``heappe_state`` …); every event has ``elapsed``
            (seconds since the job was submitted or retrieved) and, when the QPU time was estimated, ``remaining``
            (estimated QPU seconds still to go: the whole estimate before the QPU starts, since the job's time in
            HPC and QPU queues cannot be known).
    """

    kind: JobPhase
    timestamp: float
    detail: dict[str, Any] = field(default_factory=dict)


class _Tracker:
    """Job state shared by :class:`Job` and :class:`AsyncJob` (no I/O)."""

    def __init__(
        self, submission_id: str, heappe_job_id: int | None, heappe_task_id: int | None, poll_max: float,
        estimate: float | None = None,
    ) -> None:  # fmt: skip
        self.submission_id = submission_id
        self.heappe_job_id = heappe_job_id
        self.heappe_task_id = heappe_task_id
        self.iqm_job_id: str | None = None
        self.iqm_status: str | None = None  # the IQM server's own status, on the direct transport
        self.iqm_data: IQMJobData | None = None
        self.batch: int | None = None  # the batch number inside a session job (None: a job of its own)
        self.batch_ended = False  # the session worker reported this batch finished (done, failed or cancelled)
        self.state: JobPhase | str = ""
        self.heappe_state = JobState.CONFIGURING
        self.events: list[ProgressEvent] = []
        self.listeners: list[Callable[[ProgressEvent], None]] = []
        self.progress_offset = 0
        self.progress_tail = ""
        self.queue_position: int | None = None
        self.error_message: str | None = None
        self.poll_max = poll_max
        self.delay = POLL_FIRST
        self.polls = 0
        self.poll_requests = 0  # HTTP requests spent on polling (state + progress)
        self.started = time.time()
        self.estimate = estimate  # estimated QPU seconds (qaas_core._estimate)
        self.processing_since: float | None = None

    def remaining(self, now: float | None = None) -> float | None:
        """Estimated QPU seconds still to go (None when not estimated)."""
        if self.estimate is None:
            return None
        if isinstance(self.state, JobPhase) and self.state.terminal:
            return 0.0
        if self.processing_since is None:
            return self.estimate
        return max(0.0, self.estimate - ((now or time.time()) - self.processing_since))

    def emit(self, kind: JobPhase | str, **detail: Any) -> None:
        phase = JobPhase(kind)
        if self.events and self.events[-1].kind == phase and phase not in _REPEATABLE:
            return
        if not phase.terminal and isinstance(self.state, JobPhase) and phase.rank < self.state.rank:
            return  # never move backwards
        now = time.time()
        if phase == JobPhase.QPU_PROCESSING and self.processing_since is None:
            self.processing_since = now
        self.state = phase
        detail["elapsed"] = now - self.started
        remaining = self.remaining(now)
        if remaining is not None:
            detail["remaining"] = remaining
        event = ProgressEvent(phase, now, detail)
        self.events.append(event)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a listener must not break the job
                logger.exception("progress listener failed")

    def apply_info(self, info: JobInfo) -> None:
        self.heappe_state = info.job_state
        task = info.tasks[0] if info.tasks else None
        if task is not None and task.error_message:
            self.error_message = task.error_message
        phase = JobPhase.from_heappe(int(info.job_state))
        if phase in (JobPhase.QUEUED, JobPhase.RUNNING):
            self.emit(phase, heappe_state=int(info.job_state))

    def apply_progress(self, parts: list[FilePart]) -> None:
        for part in parts:
            if part.file_type != PROGRESS_FILE_TYPE or not part.content:
                continue
            self.progress_offset += len(part.content.encode())
            text = self.progress_tail + part.content
            lines = text.split("\n")
            self.progress_tail = lines.pop()
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    self._worker_event(event)

    def _worker_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if self.batch is not None:  # a session's progress file: only this batch's events count
            if event.get("batch") != self.batch:
                return
            if kind in ("done", "failed", "cancelled"):
                self.batch_ended = True
        if event.get("iqm_job_id"):
            self.iqm_job_id = str(event["iqm_job_id"])
        if kind in ("submitted", "attached"):
            self.emit(JobPhase.QPU_QUEUED, iqm_job_id=self.iqm_job_id)
        elif kind == "qpu_queued":
            position = event.get("queue_position")
            self.queue_position = position if isinstance(position, int) else None
            self.emit(JobPhase.QPU_QUEUED, iqm_job_id=self.iqm_job_id, queue_position=self.queue_position)
        elif kind == "qpu_processing":
            self.queue_position = None
            self.emit(JobPhase.QPU_PROCESSING, iqm_job_id=self.iqm_job_id)

    def next_delay(self) -> float:
        delay = self.delay
        self.delay = min(self.poll_max, self.delay * POLL_GROWTH)
        return delay

    @property
    def running(self) -> bool:
        return self.heappe_state == JobState.RUNNING

    @property
    def ledger_phase(self) -> JobPhase:
        """What the ledger records while the job runs (terminal phases are recorded by the result step)."""
        phase = JobPhase.from_heappe(int(self.heappe_state))
        return phase if phase in (JobPhase.QUEUED, JobPhase.RUNNING, JobPhase.UPLOADED) else JobPhase.RUNNING

    def result_paths(self) -> list[str]:
        return [f"/{self.heappe_task_id}/{name}" for name in RESULT_FILES]

    def apply_iqm(self, data: IQMJobData) -> None:
        """What the IQM server says of the job (direct transport)."""
        self.iqm_status = data.status
        self.iqm_data = data
        if data.status == "waiting":
            self.queue_position = data.queue_position
            self.emit(JobPhase.QPU_QUEUED, iqm_job_id=self.iqm_job_id, queue_position=data.queue_position)
        elif data.status == "processing":
            self.queue_position = None
            self.emit(JobPhase.QPU_PROCESSING, iqm_job_id=self.iqm_job_id)

    def failure(self, document: ResultDocument | None, stderr: str | None) -> JobFailedError:
        state = {JobState.CANCELED: "cancelled", JobState.DELETED: "deleted"}.get(self.heappe_state, "failed")
        if document is not None:
            self.iqm_job_id = document.iqm_job_id or self.iqm_job_id
            if document.status == "cancelled":
                state = "cancelled"
        reasons = [e.message for e in document.errors] if document is not None else []
        if not reasons and self.error_message:
            reasons.append(self.error_message)
        if not reasons and stderr:
            reasons.append(stderr.strip().splitlines()[-1] if stderr.strip() else "")
        hint = {
            "cancelled": "the job was cancelled; submit again if you still need it",
            "deleted": "the job was deleted on the cluster",
        }.get(state, "see the reason above; fix the input or retry later")
        where = f"HEAppE {self.heappe_job_id}, " if self.heappe_job_id is not None else ""
        message = (
            f"job {self.submission_id} ({where}IQM {self.iqm_job_id or '-'}) {state}: "
            f"{'; '.join(r for r in reasons if r) or 'no reason given'} — {hint}"
        )
        return JobFailedError(message, heappe_job_id=self.heappe_job_id, iqm_job_id=self.iqm_job_id, state=state)


class _HeappeRemote:
    """How a job is followed through HEAppE: job state and the worker's progress file; the result file it wrote."""

    def __init__(self, protocol: HEAppEProtocol) -> None:
        self.protocol = protocol

    def poll(self, t: _Tracker) -> Flow[None]:
        job_id, task_id = t.heappe_job_id, t.heappe_task_id
        assert job_id is not None
        assert task_id is not None
        call = self.protocol.job_info(job_id)
        t.apply_info(self.protocol.parse_job((yield call), call.what))
        if t.running or t.heappe_state.terminal:
            t.poll_requests += 1
            parts = self.protocol.file_parts(job_id, [(task_id, PROGRESS_FILE_TYPE, t.progress_offset)])
            with contextlib.suppress(RemoteAPIError):
                t.apply_progress(self.protocol.parse_file_parts((yield parts)))

    @staticmethod
    def ended(t: _Tracker) -> bool:
        return t.heappe_state.terminal

    @staticmethod
    def ledger_phase(t: _Tracker) -> JobPhase:
        return t.ledger_phase

    def _download(self, t: _Tracker, path: str, limit: int | None) -> Flow[bytes | None]:
        assert t.heappe_job_id is not None
        call = self.protocol.download(t.heappe_job_id, path, limit)
        try:
            return self.protocol.parse_download((yield call), call.what)
        except RemoteAPIError as exc:
            if _missing(exc):
                return None
            raise

    def fetch(self, job: _JobBase, limit: int) -> Flow[tuple[ResultDocument | None, bytes | None, str | None]]:
        """(result document, its bytes, the end of stderr): what the cluster side left."""
        t = job._t
        data = None
        for path in t.result_paths():
            data = yield from self._download(t, path, limit)
            if data is not None:
                break
        document = _decode_result_file(data, limit) if data is not None else None
        if document is not None and t.heappe_state != JobState.FINISHED and document.status == "completed":
            document = None  # a completed result of a task that did not finish is not to be trusted
        stderr = None
        if document is None:
            with contextlib.suppress(QaasError):
                raw = yield from self._download(t, f"/{t.heappe_task_id}/stderr.txt", 1 << 20)
                stderr = raw.decode("utf-8", "replace")[-2000:] if raw else None
        return document, data, stderr

    def cancel(self, t: _Tracker) -> Call:
        assert t.heappe_job_id is not None
        return self.protocol.cancel_job(t.heappe_job_id)

    def resend(self, job: _JobBase) -> Flow[bool]:
        """A job of its own is never sent again (its failure is the answer)."""
        yield from ()
        return False


class _IQMRemote:
    """How a job is followed on the IQM server directly: its job data; the result built from its measurements."""

    def __init__(self, protocol: IQMProtocol) -> None:
        self.protocol = protocol

    def poll(self, t: _Tracker) -> Flow[None]:
        assert t.iqm_job_id is not None
        t.apply_iqm(self.protocol.parse_job((yield self.protocol.job(t.iqm_job_id))))

    @staticmethod
    def ended(t: _Tracker) -> bool:
        return t.iqm_status in ("completed", "failed", "cancelled")

    @staticmethod
    def ledger_phase(t: _Tracker) -> JobPhase:
        return {"waiting": JobPhase.QPU_QUEUED, "processing": JobPhase.QPU_PROCESSING}.get(
            t.iqm_status or "", JobPhase.SUBMITTED
        )

    def fetch(self, job: _JobBase, limit: int) -> Flow[tuple[ResultDocument | None, bytes | None, str | None]]:
        t = job._t
        assert t.iqm_job_id is not None
        data = t.iqm_data  # the last poll saw it end: no need to ask again
        if data is None or not data.terminal:
            data = self.protocol.parse_job((yield self.protocol.job(t.iqm_job_id)))
        common: dict[str, Any] = {
            "iqm_job_id": t.iqm_job_id, "calibration_set_id": data.calibration_set_id,
            "timeline": tuple(TimelineEntry(s.status, s.timestamp, s.source) for s in data.timeline),
            "errors": tuple(JobMessage(e.message, e.source, e.error_code) for e in data.errors),
        }  # fmt: skip
        request = yield Local(job.request)
        if data.status != "completed" or request is None:
            reason = () if request is not None else (JobMessage("the ledger holds no request of this job", "qaas"),)
            status: Literal["failed", "cancelled"] = "cancelled" if data.status == "cancelled" else "failed"
            document = ResultDocument(schema=RESULT_SCHEMA, submission_id=t.submission_id, status=status,
                                      **{**common, "errors": common["errors"] + reason})  # fmt: skip
            return document, None, None
        # the measurements take about as many bytes as the packed result would in JSON, times the digits' width
        measurements = self.protocol.parse_measurements((yield self.protocol.measurements(t.iqm_job_id, 8 * limit)))
        document = completed_result(request, measurements, **common)
        return document, encode_result(document), None

    def cancel(self, t: _Tracker) -> Call:
        assert t.iqm_job_id is not None
        return self.protocol.cancel(t.iqm_job_id)

    def resend(self, job: _JobBase) -> Flow[bool]:
        yield from ()
        return False


class SessionHandle(Protocol):
    """What a session batch needs from its session: to be sent again when the session job ended without it."""

    def resend_flow(self, job: _JobBase) -> Flow[bool]:
        """Move the batch to a live session job (True), or say it cannot be (False: the job fails)."""
        ...


class _SessionRemote(_HeappeRemote):
    """A batch inside a session job: the job's state and its own progress events; its numbered result file."""

    def __init__(self, protocol: HEAppEProtocol, session: SessionHandle) -> None:
        super().__init__(protocol)
        self.session = session

    @staticmethod
    def ended(t: _Tracker) -> bool:
        return t.batch_ended or t.heappe_state.terminal

    def fetch(self, job: _JobBase, limit: int) -> Flow[tuple[ResultDocument | None, bytes | None, str | None]]:
        t = job._t
        if not t.batch_ended:
            return None, None, None  # the session job ended first: the batch goes to the next one
        data = None
        for name in (f"batch-{t.batch:06d}.result.json.gz", f"batch-{t.batch:06d}.result.json"):
            data = yield from self._download(t, f"/{t.heappe_task_id}/{name}", limit)
            if data is not None:
                break
        document = _decode_result_file(data, limit) if data is not None else None
        return document, data, None

    def resend(self, job: _JobBase) -> Flow[bool]:
        return (yield from self.session.resend_flow(job))


_Remote = _HeappeRemote | _IQMRemote | _SessionRemote


def _remote(protocol: HEAppEProtocol | IQMProtocol) -> _Remote:
    from qaas_core._iqm import IQMProtocol

    return _IQMRemote(protocol) if isinstance(protocol, IQMProtocol) else _HeappeRemote(protocol)


def _decode_result_file(data: bytes, limit: int) -> ResultDocument:
    return decode_result(maybe_decompress(data, limit, "the result file"))


def _missing(exc: RemoteAPIError) -> bool:
    return exc.status_code in (400, 404)


class _JobBase:
    """State, facts and flows of a job; the subclasses only choose the driver."""

    def __init__(
        self,
        tracker: _Tracker,
        protocol: HEAppEProtocol | IQMProtocol,
        ledger: Ledger | None,
        resource: str,
        report: PresubmitReport | None = None,
        progress: str = "auto",
        remote: _Remote | None = None,
    ) -> None:
        self._t = tracker
        self.progress = progress  # auto | always | never: whether blocking waits draw a progress line
        self._remote = remote or _remote(protocol)
        self._ledger = ledger
        self.resource = resource
        self._result: Result | None = None
        self._request: RunRequest | None = None
        self._report = report

    # -- facts ----------------------------------------------------------------------------------------------------

    @property
    def submission_id(self) -> str:
        """The client-generated id of this submission (also the ledger key)."""
        return self._t.submission_id

    @property
    def heappe_job_id(self) -> int | None:
        """The HEAppE job id (None on the direct IQM transport)."""
        return self._t.heappe_job_id

    @property
    def iqm_job_id(self) -> str | None:
        """The IQM job id, once the worker has reported it."""
        return self._t.iqm_job_id

    @property
    def report(self) -> PresubmitReport | None:
        """What the client checked before sending this batch (None for a job rebuilt from the ledger)."""
        return self._report

    def request(self) -> RunRequest | None:
        """The request this job runs (from the ledger), or None when the ledger does not hold it."""
        if self._request is None and self._ledger is not None:
            from qaas_core._wire import decode_run_request

            data = self._ledger.load_request(self.submission_id)
            self._request = decode_run_request(data) if data is not None else None
        return self._request

    @property
    def events(self) -> list[ProgressEvent]:
        """Progress events seen so far."""
        return list(self._t.events)

    @property
    def state(self) -> JobPhase | str:
        """The latest :class:`~qaas_core.JobPhase` (empty before the first event)."""
        return self._t.state

    @property
    def finished(self) -> bool:
        """True once the cluster side has ended (finished, failed or cancelled), or another process has fetched the
        result; ``result()`` then returns or raises without waiting."""
        return self._remote.ended(self._t) or self._cached_result() is not None

    @property
    def queue_position(self) -> int | None:
        """Position in the QPU queue, when the IQM server reports it."""
        return self._t.queue_position

    @property
    def polls(self) -> int:
        """Status polls made so far."""
        return self._t.polls

    @property
    def poll_requests(self) -> int:
        """HTTP requests spent on polling (job state and progress file)."""
        return self._t.poll_requests

    def on_progress(self, callback: Callable[[ProgressEvent], None]) -> None:
        """Call ``callback`` with every new :class:`ProgressEvent` (also those already seen)."""
        for event in self._t.events:
            callback(event)
        self._t.listeners.append(callback)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.submission_id} heappe={self.heappe_job_id or '-'} "
                f"iqm={self.iqm_job_id or '-'} {self.state}>")  # fmt: skip

    # -- local state ----------------------------------------------------------------------------------------------

    @property
    def _result_limit(self) -> int:
        request = self.request()
        return UNKNOWN_REQUEST_LIMIT if request is None else max_result_bytes(request)

    def _record(self, **fields: Any) -> None:
        if self._ledger is not None:
            with contextlib.suppress(QaasError):
                self._ledger.update(self.submission_id, **fields)

    def _cached_result(self) -> Result | None:
        if self._result is not None:
            return self._result
        if self._ledger is None:
            return None
        data = self._ledger.load_result(self.submission_id)
        if data is None:
            return None
        self._result = Result(_decode_result_file(data, self._result_limit), heappe_job_id=self.heappe_job_id)
        self._t.iqm_job_id = self._result.iqm_job_id
        return self._result

    def _finish(self, document: ResultDocument, data: bytes) -> Result:
        if document.submission_id != self.submission_id:
            raise PayloadError(
                f"the result on the cluster belongs to submission {document.submission_id}, not {self.submission_id}"
            )
        request = self.request()
        if request is not None:
            check_result_against_request(document, request)
        self._t.iqm_job_id = document.iqm_job_id or self._t.iqm_job_id
        if self._ledger is not None:
            self._ledger.store_result(self.submission_id, data)
        result = Result(document, heappe_job_id=self.heappe_job_id)
        reported = {} if result.qpu_seconds is None else {"qpu_seconds": result.qpu_seconds}
        self._record(state=JobPhase.COMPLETED, iqm_job_id=self._t.iqm_job_id,
                     calibration_set_id=document.calibration_set_id, **reported)  # fmt: skip
        self._t.emit(JobPhase.COMPLETED, iqm_job_id=self._t.iqm_job_id)
        self._result = result
        return result

    def _fail(self, document: ResultDocument | None, stderr: str | None) -> JobFailedError:
        error = self._t.failure(document, stderr)
        phase = JobPhase.CANCELLED if error.state == "cancelled" else JobPhase.FAILED
        self._record(state=JobPhase.DELETED if error.state == "deleted" else phase, error=error.message)
        self._t.emit(phase)
        return error

    def _ids(self) -> str:
        if self.heappe_job_id is not None:
            return f"HEAppE {self.heappe_job_id}"
        return f"IQM {self.iqm_job_id}"

    @contextlib.contextmanager
    def _timed(self, timeout: float | None) -> Iterator[None]:
        """One deadline over the whole operation; running out of it is a :class:`JobTimeoutError`."""
        try:
            with deadline(timeout):
                yield
        except DeadlineError as exc:
            raise self._timed_out(timeout) from exc

    def _timed_out(self, timeout: float | None) -> JobTimeoutError:
        return JobTimeoutError(
            f"job {self.submission_id} ({self._ids()}) is still {self._t.state or 'submitted'} after {timeout} s; "
            "wait again or cancel it"
        )

    # -- flows (run by either driver) -----------------------------------------------------------------------------

    def _status_flow(self) -> Flow[JobPhase | str]:
        t = self._t
        if (yield Local(self._cached_result)) is not None:
            return JobPhase.COMPLETED
        t.polls += 1
        t.poll_requests += 1
        yield from self._remote.poll(t)
        yield Local(lambda: self._record(state=self._remote.ledger_phase(t), iqm_job_id=t.iqm_job_id))
        return t.state

    def _wait_flow(self, timeout: float | None) -> Flow[JobPhase | str]:
        if (yield Local(self._cached_result)) is not None:
            return JobPhase.COMPLETED
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            yield from self._status_flow()
            if (yield Local(lambda: self.finished)):  # ended remotely, or another process fetched the result
                return self._t.state
            delay = self._t.next_delay()
            if end is not None:
                left = end - time.monotonic()
                if left <= 0:
                    raise self._timed_out(timeout)
                delay = min(delay, left)
            yield Sleep(delay)

    def _result_flow(self, timeout: float | None) -> Flow[Result]:
        cached = yield Local(self._cached_result)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        while True:
            yield from self._wait_flow(timeout)
            cached = yield Local(self._cached_result)  # another process may have fetched it meanwhile
            if cached is not None:
                return cached  # type: ignore[no-any-return]
            limit = yield Local(lambda: self._result_limit)
            document, data, stderr = yield from self._remote.fetch(self, limit)
            if document is not None or not (yield from self._remote.resend(self)):
                break
        if document is not None and data is not None and document.status == "completed":
            return (yield Local(lambda: self._finish(document, data)))  # type: ignore[no-any-return]
        raise (yield Local(lambda: self._fail(document, stderr)))

    def _cancel_flow(self) -> Flow[None]:
        yield self._remote.cancel(self._t)
        yield Local(lambda: self._record(state=JobPhase.CANCELLED))
        self._t.emit(JobPhase.CANCELLED)


class Job(_JobBase):
    """A submitted batch (synchronous API). Get one from ``QaasClient.submit`` or ``QaasClient.retrieve``."""

    def __init__(
        self,
        tracker: _Tracker,
        heappe: HEAppEClient | IQMServerClient,
        ledger: Ledger | None,
        resource: str,
        report: PresubmitReport | None = None,
        progress: str = "auto",
        remote: _Remote | None = None,
    ) -> None:
        super().__init__(tracker, heappe.protocol, ledger, resource, report, progress, remote)
        self._heappe = heappe

    def status(self) -> JobPhase | str:
        """Poll once and return the latest phase.

        Raises:
            QaasError: the cluster could not be asked (typed; transient failures are retried first).
        """
        return run(self._status_flow(), self._heappe)

    def wait(self, timeout: float | None = None, *, show_progress: bool | None = None) -> JobPhase | str:
        """Wait until the job ends on the cluster; returns the latest phase.

        Args:
            timeout: longest wait in seconds (None: no limit).
            show_progress: draw a progress line (None: as the ``progress`` setting says — on a terminal or in a
                notebook for ``auto``).

        Raises:
            JobTimeoutError: not finished within ``timeout`` seconds (the job keeps running).
        """
        with self._timed(timeout), _progress_display(self, show_progress):
            return run(self._wait_flow(timeout), self._heappe)

    def result(self, timeout: float | None = None, *, show_progress: bool | None = None) -> Result:
        """Wait for the job and return its results (downloaded once, then served from the ledger).

        Args:
            timeout: longest wait in seconds for the whole operation (None: no limit).
            show_progress: draw a progress line (None: as the ``progress`` setting says).

        Raises:
            JobFailedError: the job failed or was cancelled (with both ids and the reason).
            JobTimeoutError: not finished within ``timeout`` (the whole operation, downloads included).
        """
        with self._timed(timeout), _progress_display(self, show_progress):
            return run(self._result_flow(timeout), self._heappe)

    def cancel(self) -> None:
        """Cancel the job (HEAppE kills the worker, which cancels the IQM job).

        Raises:
            RemoteAPIError: HEAppE refused (e.g. the job already ended).
        """
        run(self._cancel_flow(), self._heappe)


class AsyncJob(_JobBase):
    """The asyncio twin of :class:`Job`: the same flows, run by the async driver."""

    def __init__(
        self,
        tracker: _Tracker,
        heappe: AsyncHEAppEClient | AsyncIQMServerClient,
        ledger: Ledger | None,
        resource: str,
        report: PresubmitReport | None = None,
        progress: str = "auto",
        remote: _Remote | None = None,
    ) -> None:
        super().__init__(tracker, heappe.protocol, ledger, resource, report, progress, remote)
        self._heappe = heappe

    async def status(self) -> JobPhase | str:
        """Poll once and return the latest phase."""
        return await arun(self._status_flow(), self._heappe)

    async def wait(self, timeout: float | None = None) -> JobPhase | str:
        """Wait until the job ends on the cluster.

        Raises:
            JobTimeoutError: not finished within ``timeout`` seconds (the job keeps running).
        """
        with self._timed(timeout):
            return await arun(self._wait_flow(timeout), self._heappe)

    async def result(self, timeout: float | None = None) -> Result:
        """Wait for the job and return its results.

        Raises:
            JobFailedError: the job failed or was cancelled.
            JobTimeoutError: not finished within ``timeout``.
        """
        with self._timed(timeout):
            return await arun(self._result_flow(timeout), self._heappe)

    async def cancel(self) -> None:
        """Cancel the job."""
        await arun(self._cancel_flow(), self._heappe)


def _interactive() -> bool:
    """A person is watching: standard error is a terminal, or this runs in a notebook kernel."""
    import sys

    return sys.stderr.isatty() or "ipykernel" in sys.modules


@contextlib.contextmanager
def _progress_display(job: _JobBase, show: bool | None) -> Iterator[None]:
    if show is None:
        show = job.progress == "always" or (job.progress == "auto" and _interactive())
    if not show or job._cached_result() is not None:
        yield
        return
    bar = _ProgressBar(job)
    try:
        yield
    finally:
        bar.close()


class _ProgressBar:
    """A rich progress display of a job's events (terminal or notebook)."""

    def __init__(self, job: _JobBase) -> None:
        from rich.console import Console
        from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
        from rich.text import Text

        tracker = job._t

        class Remaining(ProgressColumn):
            """Estimated QPU time still to go, counted down while the QPU runs the job."""

            def render(self, task: Task) -> Text:
                left = tracker.remaining()
                return Text("" if left is None else f"~{left:.1f} s QPU left", style="progress.remaining")

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                  TimeElapsedColumn(), Remaining(), transient=False,
                                  console=Console(stderr=True))  # fmt: skip
        self._progress.start()
        self._task = self._progress.add_task(f"job {job.heappe_job_id}: {job.state}", total=None)
        self._job = job
        job.on_progress(self._update)

    def _update(self, event: ProgressEvent) -> None:
        extra = ""
        if event.detail.get("queue_position") is not None:
            extra = f" (queue position {event.detail['queue_position']})"
        self._progress.update(self._task, description=f"job {self._job.heappe_job_id}: {event.kind}{extra}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._job._t.listeners.remove(self._update)
        self._progress.stop()
