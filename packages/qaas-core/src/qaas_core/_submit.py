"""The submission protocol, as flows: create, upload and submit a HEAppE job exactly once; resume one a crashed
process left half done; run a calibration job; and, on the direct transport, submit to the IQM server and read its
calibration.

Exactly three HEAppE calls carry a batch: ``CreateJob``, one ``UploadFilesToJobExecutionDir`` (whatever the batch
size) and ``SubmitJob``. The client-generated submission id travels in the job name, so an ambiguous failure of a
call that is not safe to repeat is resolved by looking (``ListJobsForCurrentUser``, ``CurrentInfoForJob``), never by
creating a second run. Every step is recorded in the ledger as it happens, so any process can take up where a dead
one stopped (under the ledger's lease, see :class:`~qaas_core._ledger.Lease`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from qaas_core._circuit import Circuit
from qaas_core._errors import (
    ConfigurationError,
    JobFailedError,
    JobTimeoutError,
    QaasError,
    RemoteAPIError,
    ResponseError,
    SubmissionUnconfirmedError,
    TransportError,
)
from qaas_core._flow import Flow, Local, Sleep
from qaas_core._heappe import HEAppEProtocol, JobInfo, JobState
from qaas_core._phase import JobPhase

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration
    from qaas_core._iqm import IQMJobData, IQMProtocol
    from qaas_core._ledger import Ledger
    from qaas_core._lexis import HeappeTarget
    from qaas_core._wire import RunRequest

__all__ = [
    "REQUEST_FILE",
    "calibration_flow",
    "create_flow",
    "iqm_calibration_flow",
    "iqm_submit_flow",
    "job_name",
    "job_spec",
    "quantum_computer_flow",
    "resume_flow",
    "send_flow",
    "submit_job_flow",
]

REQUEST_FILE: Final = "request.json.gz"
_ATTEMPTS: Final = 4


def _wait_scale() -> float:
    return float(os.environ.get("QAAS_RETRY_WAIT_SCALE", "1"))


def _backoff(attempt: int) -> Sleep:
    return Sleep(min(8.0, 0.5 * 2**attempt) * _wait_scale())


def job_name(submission_id: str) -> str:
    """The HEAppE job name of a submission (how an ambiguous ``CreateJob`` is found again)."""
    return f"qaas-{submission_id}"[:50]


def job_spec(
    target: HeappeTarget,
    name: str,
    template_id: int,
    parameters: Sequence[str],
    env: list[dict[str, Any]],
    *,
    walltime: int,
) -> dict[str, Any]:
    """The ``JobSpecification`` of a one-task qaas job (pure)."""
    values = {"requestFile": REQUEST_FILE, "resource": target.resource}
    return {
        "Name": name[:50],
        "ProjectId": target.project_id,
        "ClusterId": target.cluster_id,
        "FileTransferMethodId": target.file_transfer_method_id,
        "EnvironmentVariables": env,
        "Tasks": [{
            "Name": name[:50],
            "MinCores": 1,
            "MaxCores": 1,
            "WalltimeLimit": min(walltime, target.max_walltime),
            "ClusterNodeTypeId": target.node_type_id,
            "CommandTemplateId": template_id,
            "TemplateParameterValues": [
                {"CommandParameterIdentifier": p, "ParameterValue": values.get(p, "")} for p in parameters
            ],
            "ProgressFile": "progress.json",
            "LogFile": "worker.log",
            "StandardOutputFile": "stdout.txt",
            "StandardErrorFile": "stderr.txt",
            "Priority": 4,
        }],
    }  # fmt: skip


def run_spec(target: HeappeTarget, submission_id: str, walltime: int) -> dict[str, Any]:
    """The job specification that runs one submission with the run template."""
    env = [{"Name": "QAAS_SUBMISSION_ID", "Value": submission_id}]
    return job_spec(target, job_name(submission_id), target.run_template_id, target.run_template_parameters, env,
                    walltime=walltime)  # fmt: skip


def find_created_flow(protocol: HEAppEProtocol, name: str) -> Flow[JobInfo | None]:
    """The Configuring job of that name, if one exists (looking never fails the caller)."""
    try:
        jobs = protocol.parse_jobs((yield protocol.list_jobs([int(JobState.CONFIGURING)])))
    except QaasError:
        return None
    return next((info for info in jobs if info.name == name), None)


def create_flow(protocol: HEAppEProtocol, spec: dict[str, Any]) -> Flow[JobInfo]:
    """``CreateJob``; after an ambiguous failure, look for the job by name before creating another."""
    call = protocol.create_job(spec)
    for attempt in range(_ATTEMPTS):
        try:
            return protocol.parse_job((yield call), call.what)
        except (TransportError, RemoteAPIError) as exc:
            if not exc.retryable or attempt == _ATTEMPTS - 1:
                raise
            yield _backoff(attempt)
            found = yield from find_created_flow(protocol, str(spec["Name"]))
            if found is not None:
                return found
    raise AssertionError("unreachable")  # pragma: no cover


def submit_job_flow(protocol: HEAppEProtocol, job_id: int) -> Flow[None]:
    """``SubmitJob``; after a failure, a job that HEAppE already moved on counts as submitted."""
    call = protocol.submit_job(job_id)
    for attempt in range(_ATTEMPTS):
        try:
            yield call
            return
        except (TransportError, RemoteAPIError) as exc:
            try:
                state = protocol.parse_job((yield protocol.job_info(job_id)), "reading the job state").job_state
            except QaasError:
                state = JobState.CONFIGURING
            if state != JobState.CONFIGURING:
                return
            if not exc.retryable or attempt == _ATTEMPTS - 1:
                raise
            yield _backoff(attempt)


def send_flow(
    protocol: HEAppEProtocol, ledger: Ledger, target: HeappeTarget, submission_id: str, data: bytes, walltime: int
) -> Flow[tuple[JobInfo, int]]:
    """Create, upload and submit a recorded submission; returns the job info and the task id."""
    info = yield from create_flow(protocol, run_spec(target, submission_id, walltime))
    task_id = info.tasks[0].id if info.tasks else info.id
    yield Local(lambda: ledger.update(submission_id, state=JobPhase.CREATED, heappe_job_id=info.id,
                                      heappe_task_id=task_id))  # fmt: skip
    protocol.parse_upload((yield protocol.upload(info.id, task_id, [(REQUEST_FILE, data)])))
    yield Local(lambda: ledger.update(submission_id, state=JobPhase.UPLOADED))
    yield from submit_job_flow(protocol, info.id)
    yield Local(lambda: ledger.update(submission_id, state=JobPhase.SUBMITTED))
    return info, task_id


def resume_flow(
    protocol: HEAppEProtocol,
    ledger: Ledger,
    target: HeappeTarget,
    submission_id: str,
    data: bytes,
    job_id: int | None,
    task_id: int | None,
) -> Flow[None]:
    """Finish a submission a previous process left before ``SubmitJob`` (idempotently: every step looks first)."""
    if job_id is None:
        found = yield from find_created_flow(protocol, job_name(submission_id))
        info = found or (yield from create_flow(protocol, run_spec(target, submission_id, 3600)))
        job_id, task_id = info.id, (info.tasks[0].id if info.tasks else info.id)
        created = (job_id, task_id)
        yield Local(lambda: ledger.update(submission_id, state=JobPhase.CREATED, heappe_job_id=created[0],
                                          heappe_task_id=created[1]))  # fmt: skip
    state = protocol.parse_job((yield protocol.job_info(job_id)), "reading the job state").job_state
    if state == JobState.CONFIGURING:
        protocol.parse_upload((yield protocol.upload(job_id, task_id or job_id, [(REQUEST_FILE, data)])))
        yield Local(lambda: ledger.update(submission_id, state=JobPhase.UPLOADED))
        yield from submit_job_flow(protocol, job_id)
    yield Local(lambda: ledger.update(submission_id, state=JobPhase.SUBMITTED))


def calibration_flow(protocol: HEAppEProtocol, spec: dict[str, Any], *, timeout: float, poll_max: float) -> Flow[bytes]:
    """Run a calibration job and return its ``calibration.json``.

    Raises:
        JobTimeoutError: not finished within ``timeout`` (it is cancelled).
        JobFailedError: the job failed or wrote no calibration.
    """
    info = yield from create_flow(protocol, spec)
    yield from submit_job_flow(protocol, info.id)
    end = time.monotonic() + timeout
    delay = 0.2
    while True:
        info = protocol.parse_job((yield protocol.job_info(info.id)), "reading the calibration job's state")
        if info.job_state.terminal:
            break
        if time.monotonic() > end:
            with contextlib.suppress(QaasError):
                yield protocol.cancel_job(info.id)
            raise JobTimeoutError(f"the calibration job {info.id} did not finish within {timeout} s")
        yield Sleep(delay)
        delay = min(poll_max, delay * 1.5)
    task = info.tasks[0].id if info.tasks else info.id
    if info.job_state != JobState.FINISHED:
        reason = info.tasks[0].error_message if info.tasks and info.tasks[0].error_message else "no reason given"
        raise JobFailedError(f"the calibration job {info.id} ended in state {info.job_state.name}: {reason}",
                             heappe_job_id=info.id, state="failed")  # fmt: skip
    call = protocol.download(info.id, f"/{task}/calibration.json", 64 << 20)
    data = protocol.parse_download((yield call), call.what)
    if data is None:
        raise JobFailedError(f"the calibration job {info.id} wrote no calibration.json", heappe_job_id=info.id)
    return data


# -- the IQM server directly -----------------------------------------------------------------------------------------


def quantum_computer_flow(protocol: IQMProtocol, wanted: str | None) -> Flow[str]:
    """The alias (or id) of the quantum computer to use: ``wanted``, checked against the server's list, or the only
    one the server has.

    Raises:
        ConfigurationError: ``wanted`` is unknown, or the server has several and none was named.
    """
    computers = protocol.parse_quantum_computers((yield protocol.quantum_computers()))
    names = sorted({alias or qc_id for qc_id, alias in computers})
    if wanted:
        if any(wanted in (qc_id, alias) for qc_id, alias in computers):
            return wanted
        raise ConfigurationError(f"the IQM server has no quantum computer {wanted!r}; it has {names}")
    if len(computers) == 1:
        qc_id, alias = computers[0]
        return alias or qc_id
    raise ConfigurationError(f"the IQM server has {len(computers)} quantum computers {names}: set quantum_computer")


def iqm_calibration_flow(protocol: IQMProtocol, qc: str, calibration_set_id: str | None) -> Flow[Calibration]:
    """The calibration (architecture, metrics, gate durations) of the current or a pinned set, read directly."""
    from qaas_core._calibration import Calibration

    dqa = protocol.parse_object((yield protocol.dynamic_architecture(qc, calibration_set_id)), "reading the DQA")
    metrics = protocol.parse_object((yield protocol.quality_metrics(qc, calibration_set_id)), "reading the metrics")
    observations = list(metrics.get("observations") or [])
    try:  # gate durations live in the calibration set itself
        calset = protocol.parse_object((yield protocol.calibration_set(qc, calibration_set_id)), "reading the set")
        observations += list(calset.get("observations") or [])
    except QaasError:
        pass
    return Calibration.from_iqm(dqa, {"observations": observations}, device=qc)


def iqm_submit_flow(
    protocol: IQMProtocol, ledger: Ledger, qc: str, request: RunRequest, *, use_timeslot: bool
) -> Flow[IQMJobData]:
    """Submit a recorded request as one IQM circuit job and record its id.

    The IQM API has no idempotency key, so a submit whose answer is lost is never sent again: the submission is
    recorded as failed with a message that names it, and its first circuit carries ``qaas_submission_id`` in its
    metadata, so the job can be recognised on the server (``GET jobs/{id}/payload``).

    Raises:
        SubmissionUnconfirmedError: no clear answer; the job may exist.
    """
    from qaas_core._wire import encode_iqm_job

    first = request.circuits[0]
    tag = {**(first.metadata or {}), "qaas_submission_id": request.submission_id}
    tagged = (Circuit(first.name, first.instructions, tag), *request.circuits[1:])
    body = encode_iqm_job(
        tagged,
        shots=request.shots,
        options=request.options,
        calibration_set_id=request.calibration_set_id,
        qubit_mapping=request.qubit_mapping,
    )
    sent_at = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    try:
        data = protocol.parse_job((yield protocol.submit(qc, body, use_timeslot=use_timeslot)), "submitting")
    except (TransportError, ResponseError) as exc:
        message = (
            f"the IQM server did not confirm submission {request.submission_id} (sent {sent_at}): {exc}. The job may "
            "exist; it is not sent again automatically. Check your jobs on the IQM server (its first circuit's "
            f"metadata holds qaas_submission_id={request.submission_id}) before you submit the circuits again."
        )
        yield Local(lambda: ledger.update(request.submission_id, state=JobPhase.FAILED, error=message))
        raise SubmissionUnconfirmedError(message, state="failed") from exc
    except RemoteAPIError:
        yield Local(lambda: ledger.update(request.submission_id, state=JobPhase.FAILED,
                                          error="the IQM server refused the job"))  # fmt: skip
        raise
    yield Local(lambda: ledger.update(request.submission_id, state=JobPhase.SUBMITTED, iqm_job_id=data.id))
    return data
