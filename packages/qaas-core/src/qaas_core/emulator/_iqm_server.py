"""The emulated IQM server: the ``/api/v1`` REST API that iqm-client 36 talks to, backed by our simulator.

One quantum computer (alias ``config.quantum_computer``) with one calibration set, the device profile
``config.device``; its id is both the pinned id and ``default``. Served endpoints (under ``/api/v1``)::

    GET    about                                              (public)
    GET    quantum-computers
    GET    quantum-computers/{qc}/health                      (public)
    GET    quantum-computers/{qc}/artifacts/about
    GET    quantum-computers/{qc}/artifacts/static-quantum-architectures
    GET    calibration-sets/{qc}/{id|default}                 calibration data (gate durations)
    GET    calibration-sets/{qc}/{id|default}/metrics         quality metrics (T1, T2, fidelities, readout)
    GET    calibration-sets/{qc}/{id|default}/dynamic-quantum-architecture
    POST   jobs/{qc}/circuit?use_timeslot=                    CircuitJobDefinition -> JobData
    GET    jobs/{id}                                          JobData
    GET    jobs/{id}/payload                                  the request body, verbatim
    GET    jobs/{id}/artifacts/measurements | measurement_counts
    POST   jobs/{id}/cancel                                   204
    DELETE jobs/{id}                                          204

All other endpoints answer 401 without the bearer token ``config.iqm_token``. Errors carry IQM's ``IQMServerError``
body (``message``, ``error_code``, ``source``, deprecated ``detail``) with the status iqm-client maps to its
exception classes (400 bad request, 401, 404, 413, 422 validation, 500). No traceback ever leaves the server.

Jobs run one at a time (one QPU, FIFO) on a background task: ``waiting`` (``queue_position``) -> ``processing``
(compilation: re-validation and the circuit duration / T2 check; execution: the simulator in a worker thread,
``execution.progress``) -> ``completed`` | ``failed`` | ``cancelled``. Job ``n`` (counted from 0) uses seed
``config.seed + n``. Job records, payloads and results live as JSON under ``state_dir/iqm/jobs/{id}/``; a restarted
server serves finished jobs and re-queues unfinished ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from qaas_core import __version__
from qaas_core._calibration import Calibration
from qaas_core._circuit import Circuit, Instruction, validate_circuits
from qaas_core._errors import CircuitError, PayloadError, QaasError
from qaas_core._profiles import load_profile
from qaas_core._schedule import circuit_duration
from qaas_core._wire import IQMJob, decode_iqm_job
from qaas_core.emulator._config import EmulatorConfig
from qaas_core.emulator._faults import FaultInjector
from qaas_core.emulator._simulator import SimulationResult, Simulator

__all__ = ["IQMServer"]

logger = logging.getLogger(__name__)

API: Final = "/api/v1"
SOURCE: Final = "iqm-server"
STATION: Final = "iqm-station-control"
MAX_BODY_BYTES: Final = 100 * 2**20
DEFAULT_DURATION_OVER_T2: Final = 1.0
ARTIFACTS: Final = ("measurements", "measurement_counts")
_TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})
_ALL_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE"]

Handler = Callable[[Request], Awaitable[Response]]


class _APIError(Exception):
    """An error answered to the client with an IQM-style body."""

    def __init__(self, status: int, message: str, error_code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


def _error_body(message: str, error_code: str) -> dict[str, Any]:
    return {"message": message, "error_code": error_code, "source": SOURCE, "detail": message}


def _error_response(status: int, message: str, error_code: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(_error_body(message, error_code), status_code=status, headers=headers)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Job(msgspec.Struct, kw_only=True):
    """The persisted record of one job (``job.json``)."""

    id: str
    seq: int
    status: str
    created: float
    calibration_set_id: str
    shots: int
    circuits: int
    use_timeslot: bool = False
    compiled: bool = False
    progress: int | None = None
    timeline: list[dict[str, str]] = msgspec.field(default_factory=list)
    errors: list[dict[str, str]] = msgspec.field(default_factory=list)

    def mark(self, status: str, source: str = SOURCE, *, at: datetime | None = None) -> None:
        """Add a timeline step at ``at`` (default now), never before the previous step."""
        moment = at or datetime.now(UTC)
        if self.timeline:
            moment = max(moment, datetime.fromisoformat(self.timeline[-1]["timestamp"]))
        self.timeline.append({"source": source, "status": status, "timestamp": moment.isoformat()})


@dataclass(frozen=True)
class _Plan:
    """A decoded, mapped and validated job request."""

    job: IQMJob
    circuits: tuple[Circuit, ...]
    calibration: Calibration


class IQMServer:
    """The emulated IQM server (a :class:`~qaas_core.emulator._app.Subsystem`).

    Args:
        config: emulator settings (device, alias, token, simulation, seed, queue timing, state directory).

    Raises:
        ConfigurationError: unknown device profile or simulation mode.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._calibration = load_profile(config.device)
        self._simulator = Simulator(
            self._calibration, mode=config.simulation, noise=config.noise, gate_noise=config.gate_noise,
            readout_noise=config.readout_noise, idle_noise=config.idle_noise,
        )  # fmt: skip
        state_dir = config.state_dir or Path(tempfile.mkdtemp(prefix="qaas-iqm-"))
        self._jobs_dir = state_dir / "iqm" / "jobs"
        self._qc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"qaas-emulator:{config.quantum_computer}"))
        self._dut_label = f"emulated-{config.device}"
        self._started_at = _now()
        self._jobs: dict[str, _Job] = {}
        self._queue: deque[str] = deque()
        self._next_seq = 0
        self._changed: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    # -- Subsystem protocol ---------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The ``/api/v1`` routes (plus IQM-style 404s for unserved paths under the IQM prefixes)."""

        faults = FaultInjector.for_config(self._config)

        def route(path: str, handler: Handler, method: str = "GET", *, public: bool = False) -> Route:
            # every served route passes the shared fault rules, as HEAppE's and LEXIS's do
            return faults.route(f"{API}/{path}", self._guard(handler, public=public), methods=[method])

        return [
            route("about", self._about, public=True),
            route("quantum-computers", self._quantum_computers),
            route("quantum-computers/{qc}/health", self._health, public=True),
            route("quantum-computers/{qc}/artifacts/about", self._station_about),
            route("quantum-computers/{qc}/artifacts/static-quantum-architectures", self._static_architecture),
            route("calibration-sets/{qc}/{cal}", self._calibration_set),
            route("calibration-sets/{qc}/{cal}/metrics", self._quality_metrics),
            route("calibration-sets/{qc}/{cal}/dynamic-quantum-architecture", self._dynamic_architecture),
            route("jobs/{qc}/circuit", self._submit, "POST"),
            route("jobs/{job_id}", self._get_job),
            route("jobs/{job_id}", self._delete_job, "DELETE"),
            route("jobs/{job_id}/payload", self._payload),
            route("jobs/{job_id}/cancel", self._cancel_job, "POST"),
            route("jobs/{job_id}/artifacts/{artifact}", self._artifact),
            *(
                Route(f"{API}/{prefix}/{{rest:path}}", self._guard(self._not_served), methods=_ALL_METHODS)
                for prefix in ("jobs", "quantum-computers", "calibration-sets")
            ),
        ]

    async def startup(self) -> None:
        """Load persisted jobs, re-queue unfinished ones and start the FIFO worker."""
        self._changed = asyncio.Event()
        self._jobs_dir.mkdir(parents=True, exist_ok=True)
        self._load()
        self._worker = asyncio.create_task(self._run_worker(), name="iqm-server-worker")

    async def shutdown(self) -> None:
        """Stop the worker; unfinished jobs stay on disk and are re-queued by the next start."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for job in self._jobs.values():
            if job.status not in _TERMINAL:
                self._save(job)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _guard(self, handler: Handler, *, public: bool = False) -> Handler:
        """Wrap ``handler``: bearer check, IQM-style errors, and no traceback in any response."""

        async def endpoint(request: Request) -> Response:
            try:
                if not public:
                    self._authenticate(request)
                return await handler(request)
            except _APIError as exc:
                return _error_response(exc.status, exc.message, exc.error_code)
            except ClientDisconnect:
                logger.info("client disconnected during %s %s", request.method, request.url.path)
                return _error_response(400, "the client disconnected", "client_disconnected")
            except Exception:
                logger.exception("unhandled error in %s %s", request.method, request.url.path)
                return _error_response(500, "internal server error", "internal_error")

        return endpoint

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if not header:
            raise _APIError(401, "missing Authorization header (expected 'Bearer <token>')", "unauthorized")
        scheme, _, token = header.partition(" ")
        expected = self._config.iqm_token.encode()
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), expected):
            raise _APIError(401, "invalid bearer token", "unauthorized")

    def _check_qc(self, request: Request) -> None:
        qc = request.path_params["qc"]
        if qc not in (self._config.quantum_computer, self._qc_id):
            raise _APIError(
                404,
                f"quantum computer {qc!r} not found; available: {self._config.quantum_computer}",
                "quantum_computer_not_found",
            )

    def _resolve_calibration(self, calibration_set_id: str) -> Calibration:
        cal = self._calibration
        if calibration_set_id != "default":
            try:
                same = uuid.UUID(calibration_set_id) == uuid.UUID(cal.calibration_set_id)
            except ValueError:
                same = False
            if not same:
                raise _APIError(404, f"calibration set {calibration_set_id!r} not found", "calibration_set_not_found")
        return cal

    def _job_for(self, request: Request) -> _Job:
        job_id = request.path_params["job_id"]
        job = None
        with contextlib.suppress(ValueError):
            job = self._jobs.get(str(uuid.UUID(job_id)))
        if job is None:
            raise _APIError(404, f"job {job_id!r} not found", "job_not_found")
        return job

    def _job_dir(self, job_id: str) -> Path:
        return self._jobs_dir / job_id

    def _save(self, job: _Job) -> None:
        if self._jobs.get(job.id) is not job:
            return  # deleted meanwhile
        try:
            _write_atomic(self._job_dir(job.id) / "job.json", msgspec.json.encode(job))
        except OSError:
            logger.exception("could not persist job %s", job.id)

    def _load(self) -> None:
        for record in self._jobs_dir.glob("*/job.json"):
            try:
                job = msgspec.json.decode(record.read_bytes(), type=_Job)
            except (OSError, msgspec.DecodeError):
                logger.warning("ignoring unreadable job record %s", record)
                continue
            self._jobs[job.id] = job
        self._next_seq = max((j.seq + 1 for j in self._jobs.values()), default=0)
        for job in sorted(self._jobs.values(), key=lambda j: j.seq):
            if job.status in ("waiting", "processing"):
                job.status, job.progress, job.compiled = "waiting", None, False
                self._save(job)
                self._queue.append(job.id)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _job_data(self, job: _Job) -> dict[str, Any]:
        """The iqm-client ``JobData`` JSON of ``job``."""
        waiting = job.status == "waiting"
        progress = None
        if job.progress is not None:
            progress = {"progress": {"circuits": {"value": job.progress, "max_value": job.circuits}}}
        return {
            "id": job.id,
            "type": "circuit",
            "status": job.status,
            "execution": progress,
            "compilation": {"calibration_set_id": job.calibration_set_id} if job.compiled else None,
            "messages": [],
            "errors": job.errors,
            "queue_position": self._queue.index(job.id) if waiting and job.id in self._queue else None,
            "timeline": job.timeline,
            "artifacts": [{"type": a} for a in ARTIFACTS] if job.status == "completed" else [],
        }

    # -- informational endpoints ------------------------------------------------------------------------------

    async def _about(self, request: Request) -> Response:
        return JSONResponse({"name": "qaas emulated IQM server", "version": __version__, "emulated": True})

    async def _quantum_computers(self, request: Request) -> Response:
        qc = {
            "id": self._qc_id,
            "alias": self._config.quantum_computer,
            "display_name": f"{self._config.quantum_computer} (qaas emulator)",
            "proxy_path": None,  # explicit: no station proxy, and no fallback to one in the client
        }
        return JSONResponse({"quantum_computers": [qc]})

    async def _health(self, request: Request) -> Response:
        self._check_qc(request)
        processing = sum(j.status == "processing" for j in self._jobs.values())
        return JSONResponse(
            {
                "status": "healthy",
                "quantum_computer": self._config.quantum_computer,
                "calibration_set_id": self._calibration.calibration_set_id,
                "jobs_waiting": len(self._queue),
                "jobs_processing": processing,
            }
        )

    async def _station_about(self, request: Request) -> Response:
        self._check_qc(request)
        versions = {"iqm-station-control-emulator": __version__, "qaas-core": __version__}
        return JSONResponse({"version": __version__, "software_versions": versions, "device": self._config.device})

    async def _static_architecture(self, request: Request) -> Response:
        self._check_qc(request)
        cal = self._calibration
        pairs = {tuple(locus) for gate in ("cz", "move") for locus in cal.loci(gate)}
        order = cal.qubit_index
        connectivity = sorted(
            {tuple(sorted(p, key=order.__getitem__)) for p in pairs}, key=lambda p: [order[c] for c in p]
        )
        sqa = {
            "dut_label": self._dut_label,
            "qubits": list(cal.qubits),
            "computational_resonators": list(cal.computational_resonators),
            "connectivity": [list(p) for p in connectivity],
        }
        return JSONResponse([sqa])

    async def _dynamic_architecture(self, request: Request) -> Response:
        self._check_qc(request)
        return JSONResponse(self._resolve_calibration(request.path_params["cal"]).to_dqa())

    async def _calibration_set(self, request: Request) -> Response:
        self._check_qc(request)
        cal = self._resolve_calibration(request.path_params["cal"])
        return JSONResponse(self._observation_set(cal, calibration_data=True))

    async def _quality_metrics(self, request: Request) -> Response:
        self._check_qc(request)
        cal = self._resolve_calibration(request.path_params["cal"])
        return JSONResponse(self._observation_set(cal, calibration_data=False))

    def _observation_set(self, cal: Calibration, *, calibration_data: bool) -> dict[str, Any]:
        """The calibration set (gate durations) or its quality-metric set (everything else), as IQM JSON."""
        if calibration_data:
            set_id, set_type, describes = cal.calibration_set_id, "calibration-set", None
        else:
            set_id = str(uuid.uuid5(uuid.UUID(cal.calibration_set_id), "quality-metrics"))
            set_type, describes = "quality-metric-set", cal.calibration_set_id
        observations = []
        for number, obs in enumerate(cal.to_observations(), start=1):
            if obs["dut_field"].startswith("gates.") != calibration_data:
                continue
            observations.append(
                {
                    **obs,
                    "uncertainty": None,
                    "invalid": False,
                    "observation_id": number,
                    "created_timestamp": self._started_at,
                    "modified_timestamp": self._started_at,
                    "dut_label": self._dut_label,
                    "source": {"type": "specification_source", "origin": f"qaas profile {cal.device}"},
                    "tags": [],
                    "observation_set_ids": [set_id],
                }
            )
        return {
            "observation_set_id": set_id,
            "observation_set_type": set_type,
            "describes_id": describes,
            "invalid": False,
            "dut_label": self._dut_label,
            "created_timestamp": self._started_at,
            "end_timestamp": self._started_at,
            "observations": observations,
        }

    async def _not_served(self, request: Request) -> Response:
        raise _APIError(
            404,
            f"{request.method} {request.url.path} is not served by the emulated IQM server "
            "(pulse-level jobs, station artifacts and the station proxy are not emulated)",
            "not_found",
        )

    # -- jobs -------------------------------------------------------------------------------------------------

    async def _submit(self, request: Request) -> Response:
        self._check_qc(request)
        flag = request.query_params.get("use_timeslot", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise _APIError(422, f"use_timeslot must be true or false, got {flag!r}", "validation_error")
        body = await self._read_body(request)
        plan = await asyncio.to_thread(self._compile, body)
        job = _Job(
            id=str(uuid.uuid4()),
            seq=self._next_seq,
            status="waiting",
            created=time.time(),
            calibration_set_id=plan.calibration.calibration_set_id,
            shots=plan.job.shots,
            circuits=len(plan.circuits),
            use_timeslot=flag in ("true", "1"),
        )
        job.mark("created")
        self._next_seq += 1
        directory = self._job_dir(job.id)
        directory.mkdir(parents=True)
        await asyncio.to_thread(_write_atomic, directory / "payload.json", body)
        self._jobs[job.id] = job
        self._save(job)
        self._queue.append(job.id)
        self._notify()
        return JSONResponse(self._job_data(job))

    async def _read_body(self, request: Request) -> bytes:
        too_large = _APIError(413, f"request body exceeds {MAX_BODY_BYTES} bytes", "payload_too_large")
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise _APIError(400, "invalid Content-Length header", "bad_request")
            if int(length) > MAX_BODY_BYTES:
                raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _compile(self, body: bytes) -> _Plan:
        """Decode, map and validate a job request as the IQM server does (runs in a worker thread).

        Raises:
            _APIError: 400 (not JSON), 422 (wrong shape or invalid circuit), 404 (unknown calibration set).
        """
        try:
            msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise _APIError(400, f"request body is not valid JSON: {exc}", "invalid_json") from None
        try:
            job = decode_iqm_job(body)
        except CircuitError as exc:
            raise _APIError(422, exc.message, "circuit_validation_error") from None
        except PayloadError as exc:
            raise _APIError(422, exc.message, "validation_error") from None
        calibration = self._resolve_calibration(job.calibration_set_id or "default")
        circuits = _apply_mapping(job.circuits, job.qubit_mapping)
        try:
            validate_circuits(circuits, calibration, move_gate_validation=job.options.move_gate_validation)
        except CircuitError as exc:
            raise _APIError(422, exc.message, "circuit_validation_error") from None
        return _Plan(job, circuits, calibration)

    async def _get_job(self, request: Request) -> Response:
        return JSONResponse(self._job_data(self._job_for(request)))

    async def _payload(self, request: Request) -> Response:
        return await self._job_file(self._job_for(request), "payload")

    async def _job_file(self, job: _Job, name: str) -> Response:
        try:
            body = await asyncio.to_thread((self._job_dir(job.id) / f"{name}.json").read_bytes)
        except FileNotFoundError:  # deleted meanwhile
            raise _APIError(404, f"job {job.id} not found", "job_not_found") from None
        return Response(body, media_type="application/json")

    async def _artifact(self, request: Request) -> Response:
        job = self._job_for(request)
        name = request.path_params["artifact"]
        if name not in ARTIFACTS or job.status != "completed":
            reason = "no such artifact type" if name not in ARTIFACTS else f"the job is {job.status}"
            raise _APIError(404, f"job {job.id} has no artifact {name!r} ({reason})", "artifact_not_found")
        return await self._job_file(job, name)

    async def _cancel_job(self, request: Request) -> Response:
        self._cancel(self._job_for(request))
        return Response(status_code=204)

    async def _delete_job(self, request: Request) -> Response:
        job = self._job_for(request)
        self._cancel(job)
        del self._jobs[job.id]
        await asyncio.to_thread(shutil.rmtree, self._job_dir(job.id), True)
        return Response(status_code=204)

    def _cancel(self, job: _Job) -> None:
        """Cancel a waiting or processing job; a job in a terminal status keeps it."""
        if job.status in _TERMINAL:
            return
        with contextlib.suppress(ValueError):
            self._queue.remove(job.id)
        job.status = "cancelled"
        job.mark("cancelled")
        self._save(job)
        self._notify()

    # -- the QPU ---------------------------------------------------------------------------------------------

    async def _run_worker(self) -> None:
        """Run queued jobs one at a time, in submission order."""
        assert self._changed is not None
        while True:
            if not self._queue:
                self._changed.clear()
                await self._changed.wait()
                continue
            job = self._jobs[self._queue[0]]
            delay = job.created + self._config.iqm_queue_seconds - time.time()
            if delay > 0:
                await self._wait_for_change(delay)
                continue  # the head may have been cancelled meanwhile
            self._queue.popleft()
            try:
                await self._process(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._active(job):  # errors of a job deleted meanwhile are expected (its files are gone)
                    logger.exception("job %s crashed the executor", job.id)
                    self._fail(job, "internal error while executing the job", "circuit_execution_error")

    async def _wait_for_change(self, seconds: float) -> None:
        assert self._changed is not None
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def _active(self, job: _Job) -> bool:
        return self._jobs.get(job.id) is job and job.status == "processing"

    def _fail(self, job: _Job, message: str, error_code: str) -> None:
        if not self._active(job):
            return
        job.status = "failed"
        job.errors.append({"message": message, "error_code": error_code, "source": SOURCE})
        job.mark("failed")
        self._save(job)

    def _qpu_seconds(self, plan: _Plan, seq: int) -> float:
        """How long the QPU is busy with the job: the shared model (``qaas_core._estimate``) spread by the seeded
        ``qpu_time_jitter`` of the configuration, as a real instrument varies from job to job."""
        model = self._config.qpu_time_model
        heralding = plan.job.options.heralding_mode == "zeros"
        seconds = model.job_seconds(plan.circuits, plan.job.shots, plan.calibration, heralding=heralding)
        spread = self._config.qpu_time_jitter
        seed = None if self._config.seed is None else [self._config.seed, seq, 1]  # apart from the shots' stream
        jitter = np.random.default_rng(seed).uniform(-spread, spread) if spread > 0 else 0.0
        return float(seconds * (1.0 + jitter))

    async def _process(self, job: _Job) -> None:
        started = time.monotonic()
        job.status = "processing"
        job.mark("compilation_started")
        self._save(job)
        body = await asyncio.to_thread((self._job_dir(job.id) / "payload.json").read_bytes)
        try:
            plan = await asyncio.to_thread(self._compile, body)
        except _APIError as exc:
            self._fail(job, exc.message, exc.error_code)
            return
        if not self._active(job):
            return
        problem = _duration_problem(plan)
        if problem is not None:
            self._fail(job, problem, "circuit_validation_error")
            return
        job.compiled = True
        job.mark("compilation_ended")
        job.progress = 0
        job.mark("execution_started", STATION)
        execution_started = datetime.fromisoformat(job.timeline[-1]["timestamp"])
        self._save(job)
        seed = None if self._config.seed is None else self._config.seed + job.seq
        rng = np.random.default_rng(seed)
        heralding = plan.job.options.heralding_mode
        qpu_seconds = self._qpu_seconds(plan, job.seq)
        results: list[SimulationResult] = []
        for circuit in plan.circuits:
            try:
                result = await asyncio.to_thread(
                    self._simulator.run, circuit, plan.job.shots, seed=rng, heralding=heralding
                )
            except QaasError as exc:
                self._fail(job, f"circuit {circuit.name!r}: {exc.message}", "circuit_execution_error")
                return
            if not self._active(job):
                return
            if result.shots == 0:
                self._fail(job, f"circuit {circuit.name!r}: heralding left no shots", "circuit_execution_error")
                return
            results.append(result)
            job.progress = len(results)
        qpu_wait = time.monotonic() + qpu_seconds * self._config.qpu_time_scale
        while (remaining := qpu_wait - time.monotonic()) > 0:
            if not self._active(job):
                return
            await self._wait_for_change(remaining)
        job.mark("execution_ended", STATION, at=execution_started + timedelta(seconds=qpu_seconds))
        job.mark("post_processing_started")
        artifacts = await asyncio.to_thread(_artifacts, plan.circuits, results)
        while (remaining := started + self._config.iqm_min_processing_seconds - time.monotonic()) > 0:
            if not self._active(job):
                return
            await self._wait_for_change(remaining)
        if not self._active(job):
            return
        for name, data in zip(ARTIFACTS, artifacts, strict=True):
            await asyncio.to_thread(_write_atomic, self._job_dir(job.id) / f"{name}.json", data)
        if not self._active(job):
            return
        job.mark("post_processing_ended")
        job.status = "completed"
        job.mark("completed")
        self._save(job)


def _apply_mapping(circuits: tuple[Circuit, ...], mapping: dict[str, str] | None) -> tuple[Circuit, ...]:
    """Rename logical components to physical ones (loci and ``cc_prx`` feedback qubits)."""
    if not mapping:
        return circuits

    def physical(inst: Instruction) -> Instruction:
        args = inst.args
        if inst.name == "cc_prx" and args.get("feedback_qubit") in mapping:
            args = {**args, "feedback_qubit": mapping[args["feedback_qubit"]]}
        return msgspec.structs.replace(inst, locus=tuple(mapping.get(c, c) for c in inst.locus), args=args)

    return tuple(msgspec.structs.replace(c, instructions=tuple(map(physical, c.instructions))) for c in circuits)


def _duration_problem(plan: _Plan) -> str | None:
    """Why a circuit is longer than ``max_circuit_duration_over_t2`` times the worst T2 of its qubits, or None."""
    ratio = plan.job.options.max_circuit_duration_over_t2
    ratio = DEFAULT_DURATION_OVER_T2 if ratio is None else ratio
    if ratio <= 0.0:
        return None
    cal = plan.calibration
    qubits = set(cal.qubits)
    for circuit in plan.circuits:
        t2 = {c: cal.metrics.t2[c] for c in circuit.components() if c in qubits and c in cal.metrics.t2}
        if not t2:
            continue
        worst = min(t2, key=t2.__getitem__)
        duration = circuit_duration(circuit, cal)
        if duration > ratio * t2[worst]:
            return (
                f"circuit {circuit.name!r}: duration {duration:.4g} s exceeds max_circuit_duration_over_t2 "
                f"({ratio:g}) times the T2 of its worst qubit {worst} ({t2[worst]:.4g} s)"
            )
    return None


def _artifacts(circuits: Sequence[Circuit], results: Sequence[SimulationResult]) -> tuple[bytes, bytes]:
    """The ``measurements`` and ``measurement_counts`` artifacts as JSON bytes."""
    measurements: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    for circuit, result in zip(circuits, results, strict=True):
        keys = list(circuit.measurement_keys())
        measurements.append({k: result.measurements[k].tolist() for k in keys})
        if keys:
            table = np.concatenate([result.measurements[k] for k in keys], axis=1)
            rows, numbers = np.unique(table, axis=0, return_counts=True)
            histogram = {"".join(str(int(b)) for b in row): int(n) for row, n in zip(rows, numbers, strict=True)}
        else:
            histogram = {"": result.shots}
        counts.append({"measurement_keys": keys, "counts": histogram})
    return msgspec.json.encode(measurements), msgspec.json.encode(counts)
