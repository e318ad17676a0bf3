"""The qaas engine: from circuits to results over LEXIS and HEAppE, the same code for the real platform and the
emulator (only the profile differs).

``QaasClient.submit`` validates the batch against the current calibration, reports the pre-submit checks, writes
the ``qaas.run/1`` request (gzip) into the ledger, and then makes exactly three HEAppE calls: ``CreateJob``, one
``UploadFilesToJobExecutionDir`` (whatever the batch size) and ``SubmitJob``. A client-generated ``submission_id``
travels in the job name, the environment and the request, so an ambiguous failure is resolved by looking, never by
creating a second run; the cluster side refuses to run an id twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from qaas_core._auth import DeviceFlow, TokenManager
from qaas_core._calibration import Calibration
from qaas_core._circuit import Circuit, circuits_from, validate_circuits
from qaas_core._config import Settings, check_heappe_url, load_settings
from qaas_core._errors import (
    CircuitError,
    ConfigurationError,
    JobFailedError,
    SubmissionUnconfirmedError,
    ValidationError,
)
from qaas_core._estimate import CORRECTION_HISTORY, Estimate, QPUTimeModel, build_estimate, check_spend, correction
from qaas_core._flow import run
from qaas_core._gzip import compress
from qaas_core._heappe import AsyncHEAppEClient, HEAppEClient
from qaas_core._http import deadline, new_async_client, new_client
from qaas_core._iqm import AsyncIQMServerClient, IQMServerClient, IQMTokens
from qaas_core._job import AsyncJob, Job, _Tracker
from qaas_core._lexis import HeappeTarget, QuantumResource, TargetCache, UserOrg, resolve_target
from qaas_core._phase import JobPhase
from qaas_core._schedule import circuit_duration
from qaas_core._submit import (
    calibration_flow,
    iqm_calibration_flow,
    iqm_submit_flow,
    job_spec,
    quantum_computer_flow,
    resume_flow,
    send_flow,
)
from qaas_core._wire import (
    MAX_CIRCUITS,
    MAX_SHOTS,
    RunOptions,
    RunRequest,
    check_calibration_set_id,
    encode_run_request,
)

if TYPE_CHECKING:
    import httpx

    from qaas_core._ledger import Lease, Ledger, LedgerEntry
    from qaas_core._session import Session

__all__ = ["PresubmitReport", "QaasClient", "StaleCalibrationWarning", "WorkerVersionWarning"]

logger = logging.getLogger(__name__)


DEFAULT_DURATION_OVER_T2: Final = 1.0  # the IQM server's default for max_circuit_duration_over_t2


class WorkerVersionWarning(UserWarning):
    """The site's worker runs another qaas-core release than this client, or lacks a wire schema it needs."""


class StaleCalibrationWarning(UserWarning):
    """A batch was compiled against a calibration set that is no longer the current one."""


@dataclass(frozen=True)
class PresubmitReport:
    """What the client checked before sending a batch.

    Attributes:
        circuits: number of circuits.
        shots: shots per circuit.
        calibration_set_id: the set the batch was validated against.
        longest_duration: estimated duration of the longest circuit (s), from calibrated gate durations.
        worst_duration_over_t2: the largest ratio of a circuit's duration to the lowest T2 of its qubits.
        request_bytes: size of the compressed request.
        warnings: human-readable findings (also logged).
        qpu_seconds: estimated QPU time of the job (:mod:`qaas_core._estimate`); None when the batch was not
            checked against a calibration.
    """

    circuits: int
    shots: int
    calibration_set_id: str | None
    longest_duration: float
    worst_duration_over_t2: float
    request_bytes: int
    warnings: tuple[str, ...]
    qpu_seconds: float | None = None


class QaasClient:
    """Submit circuit batches to a LEXIS quantum resource through HEAppE (or to the emulator).

    Args:
        profile: configuration profile (``lexis``, ``emulator`` or one from the config file).
        project: LEXIS project short name.
        resource: LEXIS quantum resource name (e.g. ``EQE1-CZ-P0001``).
        token: explicit LEXIS access token.
        settings: fully resolved settings (overrides the arguments above).
        http: httpx client to reuse (not closed by the client).
        ledger: job ledger (default: the one in the data directory).
        **overrides: any other :class:`~qaas_core._config.Settings` field.

    Raises:
        ConfigurationError: settings are missing or invalid (one message lists all that is missing).
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        project: str | None = None,
        resource: str | None = None,
        token: str | None = None,
        settings: Settings | None = None,
        http: httpx.Client | None = None,
        ledger: Ledger | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings or load_settings(profile, project=project, resource=resource, token=token, **overrides)
        self._own_http = http is None
        self.http = http or new_client(self.settings.timeout, self.settings.ca_bundle)
        self.tokens = TokenManager(self.settings, self.http)
        self._ledger = ledger
        self._userorg: UserOrg | None = None
        self._target: tuple[QuantumResource, HeappeTarget] | None = None
        self._heappe: HEAppEClient | None = None
        self._async_http: httpx.AsyncClient | None = None
        self._async_heappe: AsyncHEAppEClient | None = None
        self._calibration: tuple[float, Calibration] | None = None
        self._emulator: Any = None
        self._iqm: IQMServerClient | None = None
        self._async_iqm: AsyncIQMServerClient | None = None
        self._qc: str | None = None
        self._session: Session | None = None
        self.qpu_model = QPUTimeModel()  # how QPU time is estimated (qaas_core._estimate)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @classmethod
    def resolve(cls, client: QaasClient | None = None, **settings: Any) -> tuple[QaasClient, bool]:
        """The client an adapter should use: ``client`` itself, or a new one made from ``settings``.

        Returns:
            ``(client, owned)``: ``owned`` is True when the client was made here (the caller closes it).

        Raises:
            ConfigurationError: both a client and settings were given, or the settings are invalid.
        """
        given = sorted(name for name, value in settings.items() if value is not None)
        if client is not None:
            if given:
                raise ConfigurationError(f"pass either client= or client settings, not both (got {given})")
            return client, False
        return cls(**{name: value for name, value in settings.items() if value is not None}), True

    @classmethod
    def emulator(
        cls, device: str = "garnet20", *, on_device_login: Callable[[DeviceFlow], None] | None = None,
        **emulator_settings: Any,
    ) -> QaasClient:  # fmt: skip
        """Start an embedded emulator (LEXIS + HEAppE + IQM server on 127.0.0.1) and return a client bound to it.

        The client logs in through the OAuth device flow — ``on_device_login`` sees the verification URL and user
        code, as a person would — which the emulator then approves as its demo user; afterwards every call takes
        exactly the same HTTP path as production. The emulator stops when the client is closed.

        Args:
            device: bundled device profile (``qaas_core.PROFILES``).
            on_device_login: called with the started device login before it is approved.
            **emulator_settings: emulator settings (``noise``, ``seed``, ``simulation``…) and client settings
                (``data_dir`` — default: a fresh temporary directory — ``timeout``…).
        """
        from qaas_core.emulator._embedded import start_embedded

        emu, settings = start_embedded(device, **emulator_settings)
        client = cls(settings=settings)
        client.tokens.clock = emu.server.config.clock  # one clock decides token expiry on both sides
        client._emulator = emu
        try:
            flow = client.tokens.start_device_flow(offline=True)
            if on_device_login is not None:
                on_device_login(flow)
            emu.approve_device(flow.user_code)
            client.tokens.complete_device_flow(flow, timeout=30, sleep=lambda s: time.sleep(min(s, 0.05)))
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        """Close connections this client opened (and stop its embedded emulator, if any)."""
        import asyncio

        if self._own_http:
            self.http.close()
        if self._async_http is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.run(self._async_http.aclose())
            self._async_http = None
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None

    def __enter__(self) -> QaasClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.settings
        return f"<QaasClient profile={s.profile} project={s.project} resource={s.resource}>"

    @property
    def ledger(self) -> Ledger:
        """The job ledger of this client's data directory."""
        if self._ledger is None:
            from qaas_core._ledger import Ledger

            self._ledger = Ledger(self.settings.data_dir / "ledger.sqlite3")
        return self._ledger

    @property
    def emulator_url(self) -> str | None:
        """Base URL of the embedded emulator, if this client started one."""
        return None if self._emulator is None else str(self._emulator.url)

    # -- resources ------------------------------------------------------------------------------------------------

    @property
    def userorg(self) -> UserOrg:
        if self._userorg is None:
            self._userorg = UserOrg(self.settings, self.tokens, self.http)
        return self._userorg

    def backends(self, project: str | None = None) -> list[QuantumResource]:
        """The quantum resources of the project.

        Raises:
            ConfigurationError: no project configured, or not a member.
        """
        if self._direct:  # the IQM server's quantum computers
            iqm = self.iqm
            computers = iqm.protocol.parse_quantum_computers(iqm.send(iqm.protocol.quantum_computers()))
            return [QuantumResource(name=alias or qc_id, project="-", location="IQM server", heappe_url=iqm.base_url,
                                    aggregation="IQM") for qc_id, alias in computers]  # fmt: skip
        project = project or self.settings.project
        if not project:
            self.settings.require("project")
        return self.userorg.resources(str(project))

    def target(self) -> tuple[QuantumResource, HeappeTarget]:
        """The resource and its resolved HEAppE ids (cached for ``calibration_ttl`` seconds).

        Raises:
            ConfigurationError: project or resource missing, unknown, or not offering the qaas templates.
        """
        if self._target is not None:
            return self._target
        s = self.settings
        s.require("project", "resource")
        cache = TargetCache(s.data_dir / "cache" / "targets.json", ttl=s.calibration_ttl)
        key = f"{s.profile}|{s.userorg_url}|{s.project}|{s.resource}|{s.run_template}|{s.node_type}"
        cached = cache.get(key)
        if cached is not None and (not s.heappe_url or cached[1].heappe_url == s.heappe_url):
            self._target = cached
            return cached
        resources = [r for r in self.backends() if r.name == s.resource]
        if not resources:
            names = sorted({r.name for r in self.backends()})
            raise ConfigurationError(f"project {s.project!r} has no quantum resource {s.resource!r}; it has {names}")
        resource = resources[0]
        if s.heappe_url:
            resource = QuantumResource(**{**resource.__dict__, "heappe_url": s.heappe_url})
        heappe = self._make_heappe(resource.heappe_url)
        target = resolve_target(heappe, resource, s)
        self._check_site(heappe.base_url)
        cache.put(key, resource, target)
        self._target = (resource, target)
        return self._target

    def _check_site(self, base_url: str) -> None:
        """Warn when the site's worker runs another qaas-core release or lacks a schema this client needs (its
        anonymous ``/qaas`` document); a site that does not answer is not an error."""
        from qaas_core import __version__
        from qaas_core._http import MAX_BYTES
        from qaas_core._version import check_worker_version

        try:
            answer = self.http.get(f"{base_url}/qaas", extensions={MAX_BYTES: 64 << 10})
            info = answer.json() if answer.status_code == 200 else None
        except Exception as exc:  # the document is optional: a site without it is simply not checked
            logger.debug("no site document at %s/qaas: %s", base_url, type(exc).__name__)
            return
        problem = check_worker_version(__version__, info) if isinstance(info, dict) else None
        if problem:
            logger.warning("%s", problem)
            warnings.warn(problem, WorkerVersionWarning, stacklevel=4)

    def _make_heappe(self, url: str) -> HEAppEClient:
        url = check_heappe_url(url, self.settings)  # wherever the URL came from: LEXIS, the cache, the ledger
        if self._heappe is None or self._heappe.base_url != url.rstrip("/"):
            self._heappe = HEAppEClient(url, self.tokens, http=self.http, auth=self.settings.heappe_auth)
        return self._heappe

    @property
    def iqm(self) -> IQMServerClient:
        """The IQM server client of the direct transport (``transport = "iqm"``).

        Raises:
            ConfigurationError: no ``iqm_url``, or not exactly one IQM credential.
        """
        if self._iqm is None:
            s = self.settings
            s.require("iqm_url")
            self._iqm = IQMServerClient(str(s.iqm_url), IQMTokens(s.iqm_token, s.iqm_tokens_file), http=self.http)
        return self._iqm

    def quantum_computer(self) -> str:
        """The quantum computer jobs go to on the direct transport (the configured one, or the server's only one).

        Raises:
            ConfigurationError: it is unknown to the server, or the server has several and none was named.
        """
        if self._qc is None:
            wanted = self.settings.quantum_computer or self.settings.resource  # a resource names a QC here
            self._qc = run(quantum_computer_flow(self.iqm.protocol, wanted), self.iqm)
        return self._qc

    @property
    def _direct(self) -> bool:
        return self.settings.transport == "iqm"

    @property
    def heappe(self) -> HEAppEClient:
        """The HEAppE client of the configured resource."""
        return self._make_heappe(self.target()[1].heappe_url)

    # -- calibration ----------------------------------------------------------------------------------------------

    def calibration(self, *, refresh: bool = False, calibration_set_id: str | None = None,
                    timeout: float = 600.0) -> Calibration:  # fmt: skip
        """The resource's calibration, fetched through the calibrate template and cached per calibration set.

        Args:
            refresh: fetch even if the cached one is younger than ``calibration_ttl``.
            calibration_set_id: a pinned set (served from the cache when known).
            timeout: longest wait for the calibration job.

        Raises:
            ConfigurationError: the resource offers no calibrate template.
            JobFailedError: the calibration job failed.
        """
        from qaas_core._calcache import CalibrationCache

        if calibration_set_id is not None:
            check_calibration_set_id(calibration_set_id)  # it goes into the cluster job's environment
        name = self.quantum_computer() if self._direct else self.target()[0].name
        cache = CalibrationCache(self.settings.data_dir / "calibrations", name, self.settings.calibration_ttl)
        if calibration_set_id is not None:
            pinned = cache.load(calibration_set_id)
            if pinned is not None:
                return pinned
        elif not refresh:
            current = cache.current()
            if current is not None:
                return current
        if self._direct:
            with deadline(timeout, "reading the calibration"):
                calibration = run(iqm_calibration_flow(self.iqm.protocol, name, calibration_set_id), self.iqm)
        else:
            target = self.target()[1]
            if target.calibrate_template_id is None:
                raise ConfigurationError(
                    f"resource {name!r} offers no {self.settings.calibrate_template!r} command template"
                )
            calibration = Calibration.from_json(self._run_calibration_job(target, calibration_set_id, timeout))
        cache.store(calibration, current=calibration_set_id is None)
        return calibration

    def _run_calibration_job(self, target: HeappeTarget, calibration_set_id: str | None, timeout: float) -> bytes:
        env = [{"Name": "QAAS_CALIBRATION_SET", "Value": calibration_set_id}] if calibration_set_id else []
        spec = job_spec(target, f"qaas-calibrate-{uuid.uuid4().hex[:8]}", target.calibrate_template_id or 0,
                        target.calibrate_template_parameters, env, walltime=300)  # fmt: skip
        heappe = self.heappe
        return run(calibration_flow(heappe.protocol, spec, timeout=timeout, poll_max=self.settings.poll_max), heappe)

    # -- submission -----------------------------------------------------------------------------------------------

    def prepare(
        self,
        circuits: Sequence[Circuit] | Circuit,
        shots: int,
        *,
        options: RunOptions | Mapping[str, Any] | None = None,
        calibration_set_id: str | None = None,
        qubit_mapping: Mapping[str, str] | None = None,
        memory: bool = True,
        validate: bool = True,
        calibration: Calibration | None = None,
    ) -> tuple[RunRequest, bytes, PresubmitReport]:
        """Check a batch and build its compressed request, without sending anything.

        Raises:
            ValidationError: bad shots, batch size or options; CircuitError: a circuit does not fit the calibration, or
                lasts longer than ``max_circuit_duration_over_t2`` times the T2 of its worst qubit.
        """
        batch = circuits_from(circuits)
        if calibration_set_id is not None:
            check_calibration_set_id(calibration_set_id)
        if type(shots) is not int or not 1 <= shots <= MAX_SHOTS:
            raise ValidationError(f"shots must be an integer between 1 and {MAX_SHOTS}, got {shots!r}")
        if not batch:
            raise ValidationError("the batch has no circuits")
        if len(batch) > MAX_CIRCUITS:
            raise ValidationError(f"the batch has {len(batch)} circuits; at most {MAX_CIRCUITS} fit in one job")
        opts = options if isinstance(options, RunOptions) else RunOptions.create(**dict(options or {}))
        notes: list[str] = []
        longest = worst = 0.0
        cal = calibration
        if validate:
            cal = cal or self.calibration(calibration_set_id=calibration_set_id)
            mapped = batch if qubit_mapping is None else tuple(_map(c, qubit_mapping) for c in batch)
            validate_circuits(mapped, cal, move_gate_validation=opts.move_gate_validation)
            if calibration_set_id and cal.calibration_set_id != calibration_set_id:
                notes.append(f"the batch was compiled for calibration set {calibration_set_id}, "
                             f"but the current one is {cal.calibration_set_id}")  # fmt: skip
                warnings.warn(notes[-1] + "; it is pinned to the old set", StaleCalibrationWarning, stacklevel=3)
            limit = opts.max_circuit_duration_over_t2
            limit = DEFAULT_DURATION_OVER_T2 if limit is None else limit
            qubits = frozenset(cal.qubits)
            for c in mapped:
                duration = circuit_duration(c, cal)
                t2, qubit = min(((cal.metrics.t2[q], q) for q in c.components()
                                 if q in cal.metrics.t2 and q in qubits),  # qubits: not resonators
                                default=(math.inf, ""))  # fmt: skip
                ratio = duration / t2 if t2 and math.isfinite(t2) else 0.0
                longest, worst = max(longest, duration), max(worst, ratio)
                if limit and ratio > limit:
                    raise CircuitError(
                        f"it lasts {duration:.4g} s, {ratio:.2f} x the T2 of its qubit {qubit} ({t2:.4g} s), over the "
                        f"limit of {limit:g}: the QPU would disqualify it. Shorten it, or relax the check with the "
                        f"option max_circuit_duration_over_t2 (e.g. {math.ceil(ratio * 1.1 * 100) / 100:g}; 0 "
                        "turns it off; the server applies the same option)",
                        circuit=c.name,
                    )
        from qaas_core import __version__

        request = RunRequest(
            schema="qaas.run/1", submission_id=str(uuid.uuid4()), shots=shots, circuits=batch,
            resource=self.settings.resource,
            calibration_set_id=calibration_set_id or (cal.calibration_set_id if cal else None),
            qubit_mapping=dict(qubit_mapping) if qubit_mapping else None, options=opts, memory=memory,
            client={"qaas-core": __version__},
        )  # fmt: skip
        data = compress(encode_run_request(request))
        for note in notes:
            logger.warning("pre-submit check: %s", note)
        qpu = None
        if validate and cal is not None:
            heralding = opts.heralding_mode == "zeros"
            qpu = self.qpu_model.job_seconds(mapped, shots, cal, heralding=heralding) * self._correction()
        report = PresubmitReport(len(batch), shots, request.calibration_set_id, longest, worst, len(data),
                                 tuple(notes), qpu)  # fmt: skip
        return request, data, report

    def _account(self) -> tuple[str, float | None]:
        """The name QPU time is spent under (resource, or quantum computer on the direct transport) and its
        allocation in QPU seconds, if LEXIS gives one."""
        if self._direct:
            return self.quantum_computer(), None
        resource, _ = self.target()
        return resource.name, resource.allocation

    def _correction(self) -> float:
        name = self.settings.resource if not self._direct else self.settings.quantum_computer
        if not name:
            return 1.0
        return correction(self.ledger.list(resource=name, state="completed", limit=CORRECTION_HISTORY))

    def _check_spend(self, report: PresubmitReport) -> None:
        """Refuse a batch the allocation or the budget cannot pay for (before anything is sent)."""
        budget = self.settings.budget_qpu_seconds
        if report.qpu_seconds is None:
            if budget is not None:
                raise ValidationError("a QPU-time budget is set, so the batch must be checked against the "
                                      "calibration (validate=True) to estimate what it costs")  # fmt: skip
            return
        name, allocation = self._account()
        if allocation is None and budget is None:
            return
        check_spend(name, report.qpu_seconds, report.circuits, report.shots, allocation=allocation, budget=budget,
                    spent=self.ledger.spent(name))  # fmt: skip

    def estimate(
        self,
        circuits: Sequence[Circuit] | Circuit,
        shots: int,
        *,
        options: RunOptions | Mapping[str, Any] | None = None,
        calibration_set_id: str | None = None,
        qubit_mapping: Mapping[str, str] | None = None,
        calibration: Calibration | None = None,
    ) -> Estimate:
        """What submitting the batch would cost, without sending it: QPU seconds, expected success probability of
        each circuit, bytes uploaded, and the allocation and budget left (see :mod:`qaas_core._estimate`).

        Raises:
            ValidationError, CircuitError: the batch would be refused by :meth:`submit`.
        """
        cal = calibration or self.calibration(calibration_set_id=calibration_set_id)
        request, data, _ = self.prepare(circuits, shots, options=options, calibration_set_id=calibration_set_id,
                                        qubit_mapping=qubit_mapping, calibration=cal)  # fmt: skip
        batch = request.circuits if qubit_mapping is None else tuple(_map(c, qubit_mapping) for c in request.circuits)
        name, allocation = self._account()
        return build_estimate(
            resource=name, circuits=batch, shots=shots, calibration=cal,
            heralding=request.options.heralding_mode == "zeros", request_bytes=len(data), model=self.qpu_model,
            history=self.ledger.list(resource=name, state="completed", limit=CORRECTION_HISTORY),
            allocation=allocation, budget=self.settings.budget_qpu_seconds, spent=self.ledger.spent(name),
        )  # fmt: skip

    def submit(
        self,
        circuits: Sequence[Circuit] | Circuit,
        shots: int,
        *,
        options: RunOptions | Mapping[str, Any] | None = None,
        calibration_set_id: str | None = None,
        qubit_mapping: Mapping[str, str] | None = None,
        memory: bool = True,
        validate: bool = True,
        calibration: Calibration | None = None,
        walltime: int = 3600,
        meta: Mapping[str, Any] | None = None,
    ) -> Job:
        """Submit a batch as one HEAppE job and return its :class:`Job` handle.

        Args:
            circuits: one circuit or a batch (IQM transfer format).
            shots: shots per circuit.
            options: IQM execution options (:class:`RunOptions` or a mapping of them).
            calibration_set_id: the set the batch was compiled against (pinned; a warning if no longer current).
            qubit_mapping: logical -> physical names.
            memory: keep per-shot results (True) or only counts.
            validate: check the batch against the calibration first (fetches it if needed).
            calibration: the calibration to validate against (skips fetching).
            walltime: HEAppE walltime of the task in seconds (capped by the node type).
            meta: extra facts for the ledger (framework, user labels); no secrets.

        Raises:
            ValidationError: the batch or options are invalid (nothing was sent).
            AuthenticationError, TransportError, RemoteAPIError: the platform refused or could not be reached.
        """
        request, data, report = self.prepare(circuits, shots, options=options, calibration_set_id=calibration_set_id,
                                             qubit_mapping=qubit_mapping, memory=memory, validate=validate,
                                             calibration=calibration)  # fmt: skip
        self._check_spend(report)
        if self._direct:
            return self._submit_direct(request, data, report, meta)
        if self._session is not None:
            return self._session.submit(request, data, report, meta)
        resource, target = self.target()
        lease = self.ledger.lease(request.submission_id)
        self._record_new(request, data, resource.name, target.heappe_url, meta, lease, estimated=report.qpu_seconds)
        heappe = self.heappe
        try:  # the lease tells recover() in other processes that this submission is in good hands
            info, task_id = run(send_flow(heappe.protocol, self.ledger, target, request.submission_id, data, walltime),
                                heappe)  # fmt: skip
        finally:
            lease.release()
        tracker = _Tracker(request.submission_id, info.id, task_id, self.settings.poll_max, report.qpu_seconds)
        tracker.emit(JobPhase.CREATED, heappe_job_id=info.id)
        tracker.emit(JobPhase.UPLOADED, bytes=len(data))
        return Job(tracker, heappe, self.ledger, resource.name, report, self.settings.progress)

    def session(self, *, max_time: float = 3600.0, idle_timeout: float = 300.0) -> Session:
        """A session: one HEAppE job that serves every batch submitted inside ``with client.session():`` (see
        :mod:`qaas_core._session`), so a loop of small batches waits in the HPC queue once.

        Args:
            max_time: the session job's walltime in seconds (capped by the node type's).
            idle_timeout: the session job ends after this long without a batch.

        Raises:
            ValidationError: bad limits.
            ConfigurationError: the resource offers no session template, or this client uses the direct transport
                (the IQM server queues jobs itself: there is nothing to save).
        """
        if self._direct:
            raise ConfigurationError("sessions are a HEAppE feature; on the direct IQM transport every batch is one "
                                     "IQM job already, with no HPC queue in front of it")  # fmt: skip
        from qaas_core._session import Session

        return Session(self, max_time=max_time, idle_timeout=idle_timeout)

    def _submit_direct(
        self, request: RunRequest, data: bytes, report: PresubmitReport, meta: Mapping[str, Any] | None
    ) -> Job:
        """One IQM circuit job on the server directly; the IQM job id is the durable remote id."""
        qc = self.quantum_computer()
        iqm = self.iqm
        lease = self.ledger.lease(request.submission_id)
        self._record_new(request, data, qc, iqm.base_url, meta, lease, transport="iqm", estimated=report.qpu_seconds)
        try:
            answer = run(iqm_submit_flow(iqm.protocol, self.ledger, qc, request,
                                         use_timeslot=self.settings.use_timeslot), iqm)  # fmt: skip
        finally:
            lease.release()
        tracker = _Tracker(request.submission_id, None, None, self.settings.poll_max, report.qpu_seconds)
        tracker.iqm_job_id = answer.id
        tracker.emit(JobPhase.SUBMITTED, iqm_job_id=answer.id, bytes=len(data))
        tracker.apply_iqm(answer)
        return Job(tracker, iqm, self.ledger, qc, report, self.settings.progress)

    def _record_new(
        self, request: RunRequest, data: bytes, resource: str, url: str, meta: Mapping[str, Any] | None, lease: Lease,
        *, transport: str = "heappe", estimated: float | None = None,
    ) -> LedgerEntry:  # fmt: skip
        from qaas_core._ledger import LedgerEntry, utcnow

        now = utcnow()
        entry = LedgerEntry(
            submission_id=request.submission_id, heappe_job_id=None, heappe_task_id=None, iqm_job_id=None,
            profile=self.settings.profile, project=str(self.settings.project or "-"), resource=resource,
            heappe_url=url, state="preparing", request_digest=hashlib.sha256(data).hexdigest(),
            request_path=None, result_path=None, shots=request.shots, circuits=len(request.circuits),
            calibration_set_id=request.calibration_set_id, created=now, updated=now, error=None,
            meta=dict(meta or {}), transport=transport, estimated_qpu_seconds=estimated,
        )  # fmt: skip
        self.ledger.record_submission(entry, lease=lease)
        self.ledger.store_request(request.submission_id, data)
        return entry

    async def submit_async(self, circuits: Sequence[Circuit] | Circuit, shots: int, **kwargs: Any) -> AsyncJob:
        """The asyncio twin of :meth:`submit`: the same checks and the same three calls (with the same handling of
        ambiguous failures) run in a worker thread; the returned :class:`AsyncJob` follows the job on an
        ``httpx.AsyncClient``, so thousands of jobs can be awaited at once.
        """
        import asyncio

        job = await asyncio.to_thread(self.submit, circuits, shots, **kwargs)
        sender = self._async_iqm_client() if self._direct else self._async_client(self.heappe.base_url)
        return AsyncJob(job._t, sender, self.ledger, job.resource, job.report, self.settings.progress)

    def _async_iqm_client(self) -> AsyncIQMServerClient:
        if self._async_iqm is None:
            if self._async_http is None:
                self._async_http = new_async_client(self.settings.timeout, self.settings.ca_bundle)
            self._async_iqm = AsyncIQMServerClient(self.iqm.base_url, self.iqm.tokens, http=self._async_http)
        return self._async_iqm

    def _async_client(self, url: str) -> AsyncHEAppEClient:
        if self._async_heappe is None:
            if self._async_http is None:
                self._async_http = new_async_client(self.settings.timeout, self.settings.ca_bundle)
            self._async_heappe = AsyncHEAppEClient(url, self.tokens, http=self._async_http,
                                                   auth=self.settings.heappe_auth)  # fmt: skip
        return self._async_heappe

    async def aclose(self) -> None:
        """Close the asyncio connections (call from the event loop that used them)."""
        if self._async_http is not None:
            await self._async_http.aclose()
            self._async_http = None
            self._async_heappe = None
            self._async_iqm = None

    # -- retrieval ------------------------------------------------------------------------------------------------

    def retrieve(self, job_id: str | int) -> Job:
        """Rebuild a job handle from the ledger, by submission id, HEAppE job id or IQM job id.

        A submission that a previous process left half done (created or uploaded but not submitted) is finished
        first, from the request kept in the ledger — never run twice: if another process is still at it, this one
        waits for its lease.

        Raises:
            JobNotFoundError: the ledger has no such job.
        """
        entry = self.ledger.get(job_id)
        if JobPhase(entry.state).in_flight:
            with self.ledger.lease(entry.submission_id):
                entry = self.ledger.get(entry.submission_id)
                if JobPhase(entry.state).in_flight:
                    entry = self._resume(entry)
        if entry.transport == "iqm":
            return self._retrieve_direct(entry)
        assert entry.heappe_job_id is not None
        heappe = self._make_heappe(entry.heappe_url)
        tracker = _Tracker(entry.submission_id, entry.heappe_job_id, entry.heappe_task_id or entry.heappe_job_id,
                           self.settings.poll_max, entry.estimated_qpu_seconds)  # fmt: skip
        tracker.iqm_job_id = entry.iqm_job_id
        tracker.state = JobPhase.UPLOADED
        remote = None
        if isinstance(entry.meta.get("session"), str) and isinstance(entry.meta.get("batch"), int):
            from qaas_core._job import _SessionRemote
            from qaas_core._session import Orphan

            tracker.batch = entry.meta["batch"]
            live = self._session if self._session is not None and self._session.id == entry.meta["session"] else None
            remote = _SessionRemote(heappe.protocol, live or Orphan(self))
        return Job(tracker, heappe, self.ledger, entry.resource, progress=self.settings.progress, remote=remote)

    def _retrieve_direct(self, entry: LedgerEntry) -> Job:
        if entry.heappe_url.rstrip("/") != self.iqm.base_url:
            raise ConfigurationError(
                f"job {entry.submission_id} ran on the IQM server {entry.heappe_url}, not on the configured "
                f"{self.iqm.base_url}; use the profile it was submitted with"
            )
        if entry.iqm_job_id is None:
            raise JobFailedError(f"submission {entry.submission_id} has no IQM job: {entry.error or 'never sent'}",
                                 state=entry.state)  # fmt: skip
        tracker = _Tracker(entry.submission_id, None, None, self.settings.poll_max, entry.estimated_qpu_seconds)
        tracker.iqm_job_id = entry.iqm_job_id
        tracker.state = JobPhase.SUBMITTED
        return Job(tracker, self.iqm, self.ledger, entry.resource, progress=self.settings.progress)

    def recover(self) -> list[Job]:
        """Handles of every unfinished job of this profile's resource in the ledger (half-done submissions are
        finished first). Call after a crash, or from a new process, then ``result()`` each."""
        open_states = [p for p in JobPhase if not p.terminal]
        resource = self.quantum_computer() if self._direct else self.settings.resource
        return [self.retrieve(e.submission_id) for e in self.ledger.list(state=open_states, limit=None)
                if e.resource == resource and e.profile == self.settings.profile
                and e.transport == self.settings.transport]  # fmt: skip

    def _resume(self, entry: LedgerEntry) -> LedgerEntry:
        """Finish a submission a previous process left before ``SubmitJob`` (idempotently). On the direct transport
        there is nothing to finish: a process that died before the IQM server's answer leaves the submission unknown,
        and it is never sent again automatically."""
        if entry.transport == "iqm":
            message = (f"the process submitting {entry.submission_id} to the IQM server ended before the server's "
                       "answer was recorded; the job may exist (its first circuit's metadata holds "
                       f"qaas_submission_id={entry.submission_id}). It is not sent again automatically.")  # fmt: skip
            self.ledger.update(entry.submission_id, state=JobPhase.FAILED, error=message)
            raise SubmissionUnconfirmedError(message, state="failed")
        request = self.ledger.load_request(entry.submission_id)
        if request is None:
            raise JobFailedError(f"submission {entry.submission_id} has no stored request; submit it again",
                                 state=entry.state)  # fmt: skip
        _resource, target = self.target()
        heappe = self._make_heappe(entry.heappe_url)
        run(resume_flow(heappe.protocol, self.ledger, target, entry.submission_id, compress(request),
                        entry.heappe_job_id, entry.heappe_task_id), heappe)  # fmt: skip
        return self.ledger.get(entry.submission_id)

    def jobs(self, *, state: str | Sequence[str] | None = None, limit: int | None = 50) -> list[LedgerEntry]:
        """Jobs in the ledger, newest first."""
        return self.ledger.list(state=state, limit=limit)


def _map(circuit: Circuit, mapping: Mapping[str, str]) -> Circuit:
    from qaas_core._circuit import Instruction

    def m(name: str) -> str:
        return mapping.get(name, name)

    instructions = []
    for inst in circuit.instructions:
        args = inst.args
        if "feedback_qubit" in args:
            args = {**args, "feedback_qubit": m(args["feedback_qubit"])}
        instructions.append(Instruction(inst.name, tuple(m(c) for c in inst.locus), args, inst.implementation))
    return Circuit(circuit.name, tuple(instructions), circuit.metadata)
