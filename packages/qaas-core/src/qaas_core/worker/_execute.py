"""What the worker does with a task directory, using iqm-client (imported here, and only here).

Exit codes (also the HEAppE task's exit code):

== ==========================================================================================
0  done: ``result.json`` written (``completed``)
2  bad input: the request is missing or invalid (``result.json`` says why)
3  the IQM job failed (``result.json`` carries the server's errors)
4  the job was cancelled
5  configuration: the worker's environment lacks the IQM server settings
6  the IQM server could not be reached or refused the worker's credentials
7  internal error (a bug: please report it with stderr)
== ==========================================================================================
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from qaas_core._calibration import Calibration
from qaas_core._errors import QaasError, ValidationError
from qaas_core._result import RESULT_SCHEMA, JobMessage, ResultDocument, TimelineEntry, circuit_result
from qaas_core._wire import RunRequest, encode_iqm_job
from qaas_core.worker._files import Progress, TaskFiles, now, write_atomic

__all__ = ["EXIT", "WorkerError", "calibrate_task", "run_task"]

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


def _client() -> Any:
    """An IQMClient from the worker's environment (IQM_SERVER_URL, IQM_QUANTUM_COMPUTER, IQM_TOKEN …)."""
    if not os.environ.get("IQM_SERVER_URL"):
        raise WorkerError("IQM_SERVER_URL is not set: the worker does not know which IQM server to use", EXIT["config"])
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        from iqm.iqm_client import IQMClient
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise WorkerError(
            f"iqm-client is not installed (pip install 'qaas-core[worker]'): {exc}", EXIT["config"]
        ) from exc
    try:
        return IQMClient.from_url()
    except Exception as exc:
        raise _iqm_error("cannot connect to the IQM server", exc) from exc


def _iqm_error(what: str, exc: BaseException) -> WorkerError:
    text = f"{what}: {type(exc).__name__}: {exc}"
    name = type(exc).__name__
    if "Configuration" in name:
        return WorkerError(text, EXIT["config"])
    return WorkerError(text, EXIT["unreachable"])


# -- exactly once: one IQM job per submission id, whatever the number of HEAppE jobs carrying it ---------------


class _Registry:
    """Records which IQM job runs each submission id (``<state>/submissions/<digest>.json``, created exclusively)."""

    def __init__(self, state_dir: Path, submission_id: str) -> None:
        folder = state_dir / "submissions"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / (hashlib.sha256(submission_id.encode()).hexdigest()[:32] + ".json")
        self.submission_id = submission_id

    def claim(self, wait: float = 30.0) -> str | None:
        """Claim the submission. Returns None when this worker must submit, or the IQM job id to attach to."""
        deadline = time.monotonic() + wait
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                record = self._read()
                if record.get("iqm_job_id"):
                    return str(record["iqm_job_id"])
                if not _alive(int(record.get("pid", 0))) or time.monotonic() > deadline:
                    # the claimant died before it submitted (or never recorded it): take the claim over
                    self._write({"submission_id": self.submission_id, "pid": os.getpid(), "claimed": now()})
                    return None
                time.sleep(0.05)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump({"submission_id": self.submission_id, "pid": os.getpid(), "claimed": now()}, fh)
            return None

    def record(self, iqm_job_id: str) -> None:
        self._write({"submission_id": self.submission_id, "iqm_job_id": iqm_job_id, "submitted": now()})

    def release(self) -> None:
        """Forget a claim that never reached the IQM server (so a retry may submit)."""
        if not self._read().get("iqm_job_id"):
            self.path.unlink(missing_ok=True)

    def _read(self) -> dict[str, Any]:
        try:
            value = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def _write(self, record: dict[str, Any]) -> None:
        write_atomic(self.path, json.dumps(record).encode())


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- run ------------------------------------------------------------------------------------------------------


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


def run_task(
    task_dir: Path, *, state_dir: Path, should_stop: Callable[[], bool] = lambda: False, timeout: float | None = None
) -> int:
    """Carry out ``qaas-worker run`` in ``task_dir``; returns the exit code (see the module docstring)."""
    files = TaskFiles(task_dir)
    progress = Progress(task_dir)
    progress.emit("started", pid=os.getpid())
    try:
        request = files.read_request()
    except ValidationError as exc:
        progress.emit("failed", reason="bad input")
        doc = ResultDocument(
            schema=RESULT_SCHEMA,
            submission_id="unknown",
            status="failed",
            errors=(JobMessage(message=str(exc), source="qaas-worker"),),
            worker=_versions(),
        )
        files.write_result(doc)
        raise WorkerError(f"bad request: {exc}", EXIT["bad_input"]) from exc
    existing = _existing_result(files, request.submission_id)
    if existing is not None:
        progress.emit("done", reused=True)
        return existing
    registry = _Registry(state_dir, request.submission_id)
    try:
        return _run(request, files, progress, registry, should_stop, timeout)
    except WorkerError as exc:
        progress.emit("failed", reason=str(exc))
        if not files.result_path.exists():
            files.write_result(ResultDocument(
                schema=RESULT_SCHEMA, submission_id=request.submission_id, status="failed",
                errors=(JobMessage(message=str(exc), source="qaas-worker"),), worker=_versions(),
            ))  # fmt: skip
        raise


def _existing_result(files: TaskFiles, submission_id: str) -> int | None:
    """A finished result for this submission already in the directory (a re-run of the same task)."""
    from qaas_core._result import decode_result

    for path in (files.root / "result.json", files.root / "result.json.gz"):
        if path.is_file():
            try:
                raw = path.read_bytes()
                if raw[:2] == b"\x1f\x8b":
                    import gzip

                    raw = gzip.decompress(raw)
                doc = decode_result(raw)
            except (QaasError, OSError, EOFError):
                continue
            if doc.submission_id == submission_id and doc.status == "completed":
                return EXIT["ok"]
    return None


def _run(
    request: RunRequest,
    files: TaskFiles,
    progress: Progress,
    registry: _Registry,
    should_stop: Callable[[], bool],
    timeout: float | None,
) -> int:
    attached = registry.claim()
    client = _client()
    from iqm.station_control.interface.models import CircuitJobDefinition

    if attached is None:
        body = encode_iqm_job(
            request.circuits,
            shots=request.shots,
            options=request.options,
            calibration_set_id=request.calibration_set_id,
            qubit_mapping=request.qubit_mapping,
        )
        try:
            definition = CircuitJobDefinition.model_validate_json(body)
            tracker = client.submit_circuit_job(definition)
        except Exception as exc:
            registry.release()
            raise _submit_error(exc) from exc
        iqm_job_id = str(tracker.job_id)
        registry.record(iqm_job_id)
        progress.emit("submitted", iqm_job_id=iqm_job_id)
    else:
        from uuid import UUID

        iqm_job_id = attached
        progress.emit("attached", iqm_job_id=iqm_job_id)
        try:
            tracker = client.get_job(UUID(attached))
        except Exception as exc:
            raise _iqm_error(f"cannot find IQM job {attached}", exc) from exc
    return _follow(request, files, progress, tracker, iqm_job_id, should_stop, timeout)


def _submit_error(exc: BaseException) -> WorkerError:
    name = type(exc).__name__
    if "Validation" in name or "BadRequest" in name or "ClientError" in name:
        return WorkerError(f"the IQM server rejected the job: {name}: {exc}", EXIT["failed"])
    return _iqm_error("could not submit the job to the IQM server", exc)


def _follow(
    request: RunRequest,
    files: TaskFiles,
    progress: Progress,
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
            progress.emit({"waiting": "qpu_queued", "processing": "qpu_processing"}.get(status, status), **fields)
            last = status
        if status in ("completed", "failed", "cancelled"):
            break
        if should_stop() or (deadline is not None and time.monotonic() > deadline):
            reason = "the task was stopped" if should_stop() else f"no result within {timeout} s"
            with contextlib.suppress(Exception):
                tracker.cancel()
            files.write_result(ResultDocument(
                schema=RESULT_SCHEMA, submission_id=request.submission_id, status="cancelled", iqm_job_id=iqm_job_id,
                errors=(JobMessage(message=f"cancelled: {reason}", source="qaas-worker"),), worker=_versions(),
            ))  # fmt: skip
            progress.emit("cancelled", reason=reason)
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
        files.write_result(ResultDocument(status=status, **common))  # type: ignore[arg-type]
        progress.emit(status)
        return EXIT["failed"] if status == "failed" else EXIT["cancelled"]
    try:
        measurements = tracker.result()
    except Exception as exc:
        raise _iqm_error(f"could not download the results of IQM job {iqm_job_id}", exc) from exc
    circuits = []
    for circuit, shots in zip(request.circuits, measurements, strict=True):
        keys = [(i.args["key"], len(i.locus)) for i in circuit.instructions if i.name == "measure"]
        count = len(next(iter(shots.values()))) if shots else 0
        circuits.append(circuit_result(circuit.name, shots, count, memory=request.memory, keys=keys))
    files.write_result(ResultDocument(status="completed", circuits=tuple(circuits), **common))
    progress.emit("done", iqm_job_id=iqm_job_id)
    return EXIT["ok"]


# -- calibrate ------------------------------------------------------------------------------------------------


def calibrate_task(task_dir: Path, *, calibration_set_id: str | None = None) -> int:
    """Carry out ``qaas-worker calibrate``: write ``calibration.json`` for the current (or a pinned) set."""
    from uuid import UUID

    progress = Progress(task_dir)
    progress.emit("started", pid=os.getpid())
    client = _client()
    calset = UUID(calibration_set_id) if calibration_set_id else None
    try:
        dqa = client.get_dynamic_quantum_architecture(calset).model_dump(mode="json")
        metrics = client.get_quality_metric_set(calset).model_dump(mode="json")
    except Exception as exc:
        raise _iqm_error("could not read the calibration from the IQM server", exc) from exc
    observations = list(metrics.get("observations") or [])
    with contextlib.suppress(Exception):  # gate durations live in the calibration set itself
        observations += client.get_calibration_set(calset).model_dump(mode="json").get("observations") or []
    device = os.environ.get("IQM_QUANTUM_COMPUTER", "")
    with contextlib.suppress(Exception):
        device = device or str(client.quantum_computer_name)
    try:
        calibration = Calibration.from_iqm(dqa, {"observations": observations}, device=device)
    except QaasError as exc:
        raise WorkerError(f"the IQM server's calibration is malformed: {exc}", EXIT["failed"]) from exc
    write_atomic(task_dir / "calibration.json", calibration.to_json())
    progress.emit("done", calibration_set_id=calibration.calibration_set_id)
    return EXIT["ok"]
