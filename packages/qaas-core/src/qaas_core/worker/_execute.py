"""What the worker does with a request, using iqm-client (imported here, and only here).

:func:`run` and :func:`calibrate` take their input as bytes and report through a :class:`~._files.Sink`, so the same
code runs in the task process (a :class:`~._files.FileSink` on the task directory) and in the worker service (a
sink that answers over the socket).

Exit codes (also the HEAppE task's exit code):

== ==========================================================================================
0  done: ``result.json`` written (``completed``)
2  bad input: the request is missing or invalid, or its submission id belongs to another request
3  the IQM job failed (``result.json`` carries the server's errors), or it may exist but cannot be found
4  the job was cancelled
5  configuration: the site's worker configuration is missing or wrong, or the task is not isolated
6  the IQM server could not be reached or refused the worker's credentials
7  internal error (a bug: please report it with stderr)
== ==========================================================================================
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any, Final
from uuid import UUID

from qaas_core._calibration import Calibration
from qaas_core._errors import ConfigurationError, QaasError, ValidationError
from qaas_core._gzip import compress, is_gzip
from qaas_core._result import RESULT_SCHEMA, JobMessage, ResultDocument, TimelineEntry, completed_result, encode_result
from qaas_core._wire import RunRequest, check_calibration_set_id, encode_iqm_job
from qaas_core.worker._config import WorkerConfig
from qaas_core.worker._files import Sink, decode_request
from qaas_core.worker._registry import Claim, ClaimRefused, Registry, SubmissionAmbiguous

__all__ = ["EXIT", "WorkerError", "calibrate", "run"]

logger = logging.getLogger(__name__)

EXIT: Final = {"ok": 0, "bad_input": 2, "failed": 3, "cancelled": 4, "config": 5, "unreachable": 6, "internal": 7}
POLL_MIN, POLL_MAX = 0.02, 2.0
MAX_POLL_FAILURES: Final = 8


class WorkerError(QaasError):
    """A task could not be carried out; ``exit_code`` says how (see the module docstring)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("qaas-core", "iqm-client"):
        with contextlib.suppress(PackageNotFoundError):
            out[dist] = version(dist)
    return out


def _client(config: WorkerConfig) -> Any:
    """An IQMClient built from the site's configuration only (the environment was cleaned before)."""
    try:
        config.require_iqm()
        token = config.read_token()
    except ConfigurationError as exc:
        raise WorkerError(str(exc), EXIT["config"]) from exc
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from iqm.iqm_client import IQMClient
        from iqm.iqm_server_client.iqm_server_client import IQMServerClient
        from iqm.iqm_server_client.iqm_server_executor import IQMServerExecutor
        from iqm.iqm_server_client.iqm_server_storage import IQMServerStorage
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise WorkerError(
            f"iqm-client is not installed (pip install 'qaas-core[worker]'): {exc}", EXIT["config"]
        ) from exc
    try:
        server = IQMServerClient(
            config.iqm_url,
            quantum_computer=config.quantum_computer,
            token=token,
            tokens_file=str(config.tokens_file) if config.tokens_file else None,
            timeout=config.submit_timeout,
        )
        return IQMClient(executor=IQMServerExecutor(client=server), storage=IQMServerStorage(client=server))
    except Exception as exc:
        raise _iqm_error("cannot connect to the IQM server", exc) from exc


def _iqm_error(what: str, exc: BaseException) -> WorkerError:
    text = f"{what}: {type(exc).__name__}: {exc}"
    if "Configuration" in type(exc).__name__:
        return WorkerError(text, EXIT["config"])
    return WorkerError(text, EXIT["unreachable"])


def _timeline(job_data: Any) -> list[TimelineEntry]:
    out = []
    for entry in getattr(job_data, "timeline", None) or []:
        stamp = entry.timestamp.isoformat() if hasattr(entry.timestamp, "isoformat") else str(entry.timestamp)
        out.append(TimelineEntry(status=str(entry.status), timestamp=stamp, source=str(entry.source)))
    return out


def _errors(job_data: Any) -> list[JobMessage]:
    return [
        JobMessage(message=str(e.message), source=str(getattr(e, "source", "") or ""),
                   error_code=getattr(e, "error_code", None))
        for e in getattr(job_data, "errors", None) or []
    ]  # fmt: skip


class _Output:
    """Writes the result document through the sink (compressed when the request was)."""

    def __init__(self, sink: Sink, compressed: bool) -> None:
        self.sink = sink
        self.compressed = compressed
        self.written = False

    def result(self, document: ResultDocument) -> None:
        data = encode_result(document)
        name = "result.json.gz" if self.compressed else "result.json"
        self.sink.write(name, compress(data) if self.compressed else data)
        self.written = True

    def failure(self, submission_id: str, message: str, status: str = "failed") -> None:
        self.result(ResultDocument(
            schema=RESULT_SCHEMA, submission_id=submission_id, status=status,  # type: ignore[arg-type]
            errors=(JobMessage(message=message, source="qaas-worker"),), worker=_versions(),
        ))  # fmt: skip


def run(
    raw: bytes,
    *,
    config: WorkerConfig,
    account: str,
    sink: Sink,
    should_stop: Callable[[], bool] = lambda: False,
    timeout: float | None = None,
) -> int:
    """Carry out ``qaas-worker run`` for the request bytes ``raw`` on behalf of cluster account ``account``.

    Returns the exit code (see the module docstring).

    Raises:
        WorkerError: the task failed (a failed or cancelled result was written through the sink first).
    """
    output = _Output(sink, is_gzip(raw))
    try:
        request, digest = decode_request(raw, config.max_request_bytes)
    except ValidationError as exc:
        sink.progress("failed", reason="bad input")
        output.failure("unknown", str(exc))
        raise WorkerError(f"bad request: {exc}", EXIT["bad_input"]) from exc
    try:
        registry = Registry(config.state_dir, account, heartbeat=config.heartbeat_seconds,
                            stale_after=config.stale_after)  # fmt: skip
        claim = registry.claim(request.submission_id, digest, should_stop=should_stop)
    except ClaimRefused as exc:
        sink.progress("failed", reason="refused")
        output.failure(request.submission_id, str(exc))
        raise WorkerError(str(exc), EXIT["bad_input"]) from exc
    except SubmissionAmbiguous as exc:
        sink.progress("failed", reason="ambiguous")
        output.failure(request.submission_id, str(exc))
        raise WorkerError(str(exc), EXIT["failed"]) from exc
    except InterruptedError as exc:
        sink.progress("cancelled", reason=str(exc))
        output.failure(request.submission_id, f"cancelled: {exc}", status="cancelled")
        return EXIT["cancelled"]
    try:
        return _run(request, claim, config, sink, output, should_stop, timeout)
    except WorkerError as exc:
        sink.progress("failed", reason=str(exc))
        if not output.written:
            output.failure(request.submission_id, str(exc))
        raise
    finally:
        claim.close()


def _run(
    request: RunRequest,
    claim: Claim,
    config: WorkerConfig,
    sink: Sink,
    output: _Output,
    should_stop: Callable[[], bool],
    timeout: float | None,
) -> int:
    try:
        client = _client(config)
    except WorkerError:
        if claim.iqm_job_id is None:
            claim.release()
        raise
    if claim.iqm_job_id is None:
        from iqm.station_control.interface.models import CircuitJobDefinition

        body = encode_iqm_job(request.circuits, shots=request.shots, options=request.options,
                              calibration_set_id=request.calibration_set_id,
                              qubit_mapping=request.qubit_mapping)  # fmt: skip
        try:
            definition = CircuitJobDefinition.model_validate_json(body)
        except Exception as exc:
            claim.release()
            raise WorkerError(f"the IQM client refused the job: {type(exc).__name__}: {exc}", EXIT["failed"]) from exc
        try:
            claim.submitting()
        except ClaimRefused as exc:
            raise WorkerError(str(exc), EXIT["failed"]) from exc
        try:
            tracker = client.submit_circuit_job(definition)
        except Exception as exc:
            if _ambiguous(exc):
                claim.ambiguous()
                raise WorkerError(
                    f"no clear answer from the IQM server while submitting {request.submission_id} "
                    f"({type(exc).__name__}); the job may exist, so it is not sent again automatically",
                    EXIT["unreachable"],
                ) from exc
            claim.release()
            raise _submit_error(exc) from exc
        iqm_job_id = str(tracker.job_id)
        claim.submitted(iqm_job_id)
        sink.progress("submitted", iqm_job_id=iqm_job_id)
    else:
        iqm_job_id = claim.iqm_job_id
        sink.progress("attached", iqm_job_id=iqm_job_id)
        try:
            tracker = client.get_job(UUID(iqm_job_id))
        except Exception as exc:
            raise _iqm_error(f"cannot find IQM job {iqm_job_id}", exc) from exc
    return _follow(request, sink, output, tracker, iqm_job_id, should_stop, timeout)


def _ambiguous(exc: BaseException) -> bool:
    """Whether a failed submit may nevertheless have created the job (the request may have been received)."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        text = str(seen)
        if "Timeout" in name or "ReadTimeout" in text:
            return True
        if name in ("ConnectionError", "ChunkedEncodingError", "RemoteDisconnected", "ProtocolError"):
            return "NewConnectionError" not in text and "Connection refused" not in text
        seen = seen.__cause__ or seen.__context__
    return False


def _submit_error(exc: BaseException) -> WorkerError:
    name = type(exc).__name__
    if "Validation" in name or "BadRequest" in name or "ClientError" in name:
        return WorkerError(f"the IQM server rejected the job: {name}: {exc}", EXIT["failed"])
    return _iqm_error("could not submit the job to the IQM server", exc)


def _follow(
    request: RunRequest,
    sink: Sink,
    output: _Output,
    tracker: Any,
    iqm_job_id: str,
    should_stop: Callable[[], bool],
    timeout: float | None,
) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    delay, failures, last = POLL_MIN, 0, ""
    while True:
        try:
            status = str(tracker.update())
            failures = 0
        except Exception as exc:  # a failed status request does not fail the job: retry with backoff
            failures += 1
            if failures >= MAX_POLL_FAILURES:
                raise _iqm_error(f"lost contact with the IQM server while following job {iqm_job_id}", exc) from exc
            status = last
        data = tracker.job_data
        if status != last:
            fields: dict[str, Any] = {"iqm_job_id": iqm_job_id, "status": status}
            if data.queue_position is not None:
                fields["queue_position"] = data.queue_position
            sink.progress({"waiting": "qpu_queued", "processing": "qpu_processing"}.get(status, status), **fields)
            last = status
        if status in ("completed", "failed", "cancelled"):
            break
        if should_stop() or (deadline is not None and time.monotonic() > deadline):
            reason = "the task was stopped" if should_stop() else f"no result within {timeout} s"
            with contextlib.suppress(Exception):
                tracker.cancel()
            output.result(ResultDocument(
                schema=RESULT_SCHEMA, submission_id=request.submission_id, status="cancelled", iqm_job_id=iqm_job_id,
                errors=(JobMessage(message=f"cancelled: {reason}", source="qaas-worker"),), worker=_versions(),
            ))  # fmt: skip
            sink.progress("cancelled", reason=reason)
            return EXIT["cancelled"]
        time.sleep(delay)
        delay = min(POLL_MAX, delay * 1.5)
    data = tracker.job_data
    calset = (
        str(data.compilation.calibration_set_id) if data.compilation and data.compilation.calibration_set_id else None
    )
    common: dict[str, Any] = {
        "schema": RESULT_SCHEMA, "submission_id": request.submission_id, "iqm_job_id": iqm_job_id,
        "calibration_set_id": calset or request.calibration_set_id, "timeline": tuple(_timeline(data)),
        "errors": tuple(_errors(data)), "worker": _versions(),
    }  # fmt: skip
    if status != "completed":
        output.result(ResultDocument(status=status, **common))  # type: ignore[arg-type]
        sink.progress(status)
        return EXIT["failed"] if status == "failed" else EXIT["cancelled"]
    try:
        measurements = tracker.result()
    except Exception as exc:
        raise _iqm_error(f"could not download the results of IQM job {iqm_job_id}", exc) from exc
    try:
        document = completed_result(request, measurements, iqm_job_id=iqm_job_id,
                                     calibration_set_id=common["calibration_set_id"], timeline=common["timeline"],
                                     errors=common["errors"], worker=common["worker"])  # fmt: skip
    except QaasError as exc:
        raise WorkerError(f"IQM job {iqm_job_id} returned unusable measurements: {exc}", EXIT["failed"]) from exc
    output.result(document)
    sink.progress("done", iqm_job_id=iqm_job_id)
    return EXIT["ok"]


# -- calibrate ------------------------------------------------------------------------------------------------


def check_calibration_set(value: str | None) -> UUID | None:
    """The calibration set a client asked for, as a UUID (None: the current one).

    Raises:
        WorkerError: not a canonical UUID (bad input).
    """
    if not value:
        return None
    try:
        return UUID(check_calibration_set_id(value))
    except ValidationError as exc:
        raise WorkerError(str(exc), EXIT["bad_input"]) from exc


def calibrate(*, config: WorkerConfig, calibration_set_id: str | None, sink: Sink) -> int:
    """Carry out ``qaas-worker calibrate``: write ``calibration.json`` for the current (or a pinned) set."""
    calset = check_calibration_set(calibration_set_id)
    client = _client(config)
    try:
        dqa = client.get_dynamic_quantum_architecture(calset).model_dump(mode="json")
        metrics = client.get_quality_metric_set(calset).model_dump(mode="json")
    except Exception as exc:
        raise _iqm_error("could not read the calibration from the IQM server", exc) from exc
    observations = list(metrics.get("observations") or [])
    with contextlib.suppress(Exception):  # gate durations live in the calibration set itself
        observations += client.get_calibration_set(calset).model_dump(mode="json").get("observations") or []
    device = config.quantum_computer or ""
    with contextlib.suppress(Exception):
        device = device or str(client.quantum_computer_name)
    try:
        calibration = Calibration.from_iqm(dqa, {"observations": observations}, device=device)
    except QaasError as exc:
        raise WorkerError(f"the IQM server's calibration is malformed: {exc}", EXIT["failed"]) from exc
    sink.write("calibration.json", calibration.to_json())
    sink.progress("done", calibration_set_id=calibration.calibration_set_id)
    return EXIT["ok"]
