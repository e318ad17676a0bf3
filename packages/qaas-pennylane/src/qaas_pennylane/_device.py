"""The PennyLane device ``qaas.iqm``: IQM quantum computers through LEXIS + HEAppE, or the qaas emulator of them.

Three ways to reach a QPU, one of them per device:

* ``emulator="garnet20"`` (any of :data:`qaas_core.PROFILES`) — an embedded emulator of the whole path, shared by
  the devices of the process (see :mod:`qaas_pennylane._emulator`); ``noise``, ``seed`` and
  ``emulator_options`` tune it.
* ``profile=`` / ``project=`` / ``resource=`` / ``token=`` — the real platform (or ``profile="emulator"``, a
  ``qaas emulator serve`` running elsewhere), resolved like every qaas client: argument → ``QAAS_*`` → config file.
* ``client=`` — a :class:`qaas_core.QaasClient` you built (the device never closes it).

Execution: the device's compile pipeline (:mod:`qaas_pennylane._preprocess`) validates and decomposes every tape
before anything is sent. ``execute`` then takes the current calibration (cached by the client), places and routes
each tape on the QPU (:mod:`qaas_pennylane._convert`) and submits **the whole batch as one job** — the 2·P tapes of
a parameter-shift gradient, the groups of a Hamiltonian, a shot vector. The job runs with the largest shot count
of the batch; tapes that asked for fewer use the first shots of their circuit.

Error mitigation: ``mitigation=`` a :class:`qaas_core.mitigation.Pipeline` makes every tape whose measurements are all
``qml.expval`` of Pauli words (or sums of them) an estimate of the core's pipeline (:mod:`qaas_pennylane._mitigation`):
its bases, twirls and folds go into the batch's one job with the other tapes.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.tape import QuantumScript

import qaas_core as q
from qaas_core.mitigation import MitigatedResult, Pipeline
from qaas_pennylane._convert import Conversion, Converter
from qaas_pennylane._emulator import embedded_client
from qaas_pennylane._errors import LayoutError, QaasDeviceError
from qaas_pennylane._layout import Topology
from qaas_pennylane._mitigation import MitigatedBatch
from qaas_pennylane._preprocess import compile_pipeline
from qaas_pennylane._results import tape_results

__all__ = ["QaasDevice"]

DEFAULT_EMULATOR: Final = "garnet20"
_TRUE: Final = frozenset({True, "1", "true", "True", "yes"})
_FALSE: Final = frozenset({False, "0", "false", "False", "no"})


def _flag(value: object, name: str) -> bool:
    """A boolean device option; 0/1 and true/false strings are accepted for ``pl-device-test --device-kwargs``."""
    if isinstance(value, bool | int | str) and value in _TRUE:
        return True
    if isinstance(value, bool | int | str) and value in _FALSE:
        return False
    raise q.ConfigurationError(f"qaas.iqm: {name} must be true or false, got {value!r}")


def _emulator_choice(
    emulator: str | bool | None,
    noise: bool | int | str | None,
    seed: int | None,
    options: Mapping[str, Any] | None,
    *,
    client: q.QaasClient | None,
    platform: Mapping[str, str | None],
) -> tuple[str | None, dict[str, Any]]:
    """The emulator profile (None: no emulator) and its settings, after checking the arguments agree.

    Raises:
        qaas_core.ConfigurationError: contradictory arguments, a bad flag or seed, or an unknown profile.
    """
    given = sorted(k for k, v in platform.items() if v is not None)
    emulated = emulator is not None and emulator is not False
    if client is not None and (given or emulated):
        raise q.ConfigurationError(f"qaas.iqm: pass client= or {', '.join(given or ['emulator'])}, not both")
    if emulated and given:
        raise q.ConfigurationError(f"qaas.iqm: emulator= runs locally; drop {', '.join(given)}")
    settings: dict[str, Any] = dict(options or {})
    if noise is not None:
        settings["noise"] = _flag(noise, "noise")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise q.ConfigurationError(f"qaas.iqm: seed must be an integer, got {seed!r}")
        settings["seed"] = seed
    if not emulated:
        if settings:
            raise q.ConfigurationError(
                f"qaas.iqm: {', '.join(sorted(settings))} only apply with emulator=...; "
                "a real QPU's noise is what it is"
            )
        return None, settings
    profile = DEFAULT_EMULATOR if emulator is True else str(emulator)
    q.load_profile(profile)  # an unknown profile fails now, not at the first run
    return profile, settings


class QaasDevice(Device):  # type: ignore[misc]
    """PennyLane device for IQM quantum computers reached through qaas (``qml.device("qaas.iqm", ...)``).

    Args:
        wires: number of wires or their labels (None: as many as each circuit uses).
        shots: default shots (deprecated by PennyLane in favour of ``qml.set_shots`` on the QNode; still honoured).
        emulator: run on an embedded emulator of this device profile (``True`` means ``"garnet20"``).
        noise: emulator only — simulate the calibrated noise (default True).
        seed: emulator only — base seed of the simulator, for reproducible runs.
        emulator_options: emulator only — further :meth:`qaas_core.QaasClient.emulator` settings.
        profile: qaas configuration profile of the platform (``lexis``, ``emulator`` or one from the config file).
        project: LEXIS project.
        resource: LEXIS quantum resource (e.g. ``EQE1-CZ-P0001``).
        token: LEXIS access token.
        client: an existing :class:`qaas_core.QaasClient` (not closed by the device).
        calibration: compile against this calibration instead of fetching the current one (pins its set).
        options: IQM execution options (:class:`qaas_core.RunOptions` fields, e.g. ``heralding_mode``).
        timeout: longest wait for a job's result in seconds (None: no limit).
        session: run every execution in one session (True, or its ``max_time`` / ``idle_timeout``).
        mitigation: a :class:`qaas_core.mitigation.Pipeline`: ``qml.expval`` of Pauli words and their sums are
            estimated through it (see :mod:`qaas_pennylane._mitigation`); the core's estimates of the last execution
            (standard errors, unmitigated values of the same job) are on :attr:`last_mitigated`.

    Raises:
        qaas_core.ConfigurationError: contradictory or unknown settings, an unknown emulator profile, or (for the
            platform) no project or resource configured.
        qaas_core.ValidationError: invalid execution options, or a ``mitigation`` that is not a core ``Pipeline``.
        LayoutError: more wires than the (known) QPU has usable qubits.
    """

    config_filepath = str(Path(__file__).with_name("qaas_iqm.toml"))

    def __init__(
        self,
        wires: Any = None,
        shots: Any = None,
        *,
        emulator: str | bool | None = None,
        noise: bool | int | str | None = None,
        seed: int | None = None,
        emulator_options: Mapping[str, Any] | None = None,
        profile: str | None = None,
        project: str | None = None,
        resource: str | None = None,
        token: str | None = None,
        client: q.QaasClient | None = None,
        calibration: q.Calibration | None = None,
        options: q.RunOptions | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        session: bool | Mapping[str, float] = False,
        mitigation: Pipeline | None = None,
    ) -> None:
        super().__init__(wires=wires, shots=shots)
        if mitigation is not None and not isinstance(mitigation, Pipeline):
            raise q.ValidationError(f"qaas.iqm: mitigation must be a qaas_core.mitigation.Pipeline, not {mitigation!r}")
        self._mitigation = mitigation
        platform = {"profile": profile, "project": project, "resource": resource, "token": token}
        self._emulator, self._emulator_settings = _emulator_choice(
            emulator, noise, seed, emulator_options, client=client, platform=platform
        )
        self._options = options if isinstance(options, q.RunOptions) else q.RunOptions.create(**dict(options or {}))
        self._timeout = timeout
        self._pinned = calibration
        self._client: q.QaasClient | None = client
        if client is None and self._emulator is None:
            made = q.QaasClient(profile=profile, project=project, resource=resource, token=token)
            weakref.finalize(self, made.close)
            made.settings.require("project", "resource")  # fail now, naming every missing setting and where to set it
            self._client = made
        known = calibration or (q.load_profile(self._emulator) if self._emulator else None)
        if known is not None and self.wires is not None:
            usable = len(Topology(known).qubits)
            if len(self.wires) > usable:
                raise LayoutError(f"qaas.iqm: {len(self.wires)} wires but the QPU has {usable} usable qubits")
        self._converters: dict[str, Converter] = {}
        self.last_job: q.Job | None = None
        """The job of the most recent execution (ids, events, ledger entry)."""
        self.last_mitigated: MitigatedResult | None = None
        """The core's estimates of the mitigated tapes of the most recent execution (None without any)."""
        self._session_limits = dict(session) if isinstance(session, Mapping) else ({} if session else None)
        self._session: q.Session | None = None

    # -- identity -------------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The device's short name, ``qaas.iqm``."""
        return "qaas.iqm"

    def __repr__(self) -> str:
        target = f"emulator={self._emulator!r}" if self._emulator else f"client={self._client!r}"
        wires = "any" if self.wires is None else len(self.wires)
        return f"<qaas.iqm device wires={wires} {target}>"

    # -- platform -------------------------------------------------------------------------------------------------

    @property
    def client(self) -> q.QaasClient:
        """The qaas client the device submits with (an embedded emulator starts on first use)."""
        if self._client is None:
            self._client = embedded_client(self._emulator or DEFAULT_EMULATOR, self._emulator_settings)
        return self._client

    @property
    def calibration(self) -> q.Calibration:
        """The calibration circuits are compiled against: the pinned one, or the resource's current one.

        Raises:
            qaas_core.QaasError: the calibration could not be fetched.
        """
        return self._pinned if self._pinned is not None else self.client.calibration()

    def _converter(self, calibration: q.Calibration) -> Converter:
        converter = self._converters.get(calibration.calibration_set_id)
        if converter is None:
            converter = Converter(calibration, self.wires)
            self._converters = {calibration.calibration_set_id: converter}
        return converter

    @property
    def mitigation(self) -> Pipeline | None:
        """The mitigation pipeline of ``qml.expval`` of Pauli observables, or None."""
        return self._mitigation

    def session(self, *, max_time: float = 3600.0, idle_timeout: float = 300.0) -> q.Session:
        """A session: every execution inside ``with dev.session():`` (a whole training loop) goes to one long HEAppE
        job, so the loop waits in the HPC queue once (see ``docs/sessions.md``). ``session=True`` on the device does
        the same for the device's whole life (the session job ends on its idle timeout).

        Raises:
            qaas_core.ConfigurationError: the direct IQM transport, or no session template at the site.
        """
        return self.client.session(max_time=max_time, idle_timeout=idle_timeout)

    def _ensure_session(self) -> None:
        if self._session_limits is None or (self._session is not None and not self._session.closed):
            return
        self._session = self.session(**self._session_limits).__enter__()
        weakref.finalize(self, self._session.__exit__, None, None, None)

    # -- PennyLane device API -------------------------------------------------------------------------------------

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> Any:
        """The compile pipeline: validation, decomposition and basis changes, all before any network call."""
        config = execution_config or ExecutionConfig()
        return compile_pipeline(self.wires, config.mcm_config.mcm_method, self.name,
                                mitigation=self._mitigation is not None)  # fmt: skip

    def execute(
        self, circuits: QuantumScript | Sequence[QuantumScript], execution_config: ExecutionConfig | None = None
    ) -> Any:
        """Run a batch of preprocessed tapes as one qaas job.

        Raises:
            QaasDeviceError: a tape without shots.
            LayoutError: a tape does not fit the QPU.
            qaas_core.CircuitError: a converted circuit breaks a calibration rule (nothing is sent).
            qaas_core.QaasError: the platform refused the job, or the job failed or timed out.
        """
        single = isinstance(circuits, QuantumScript)
        batch: tuple[Any, ...] = (circuits,) if single else tuple(circuits)
        if not batch:
            return ()
        calibration, mitigated, conversions, shots = self._prepare(batch)
        self._ensure_session()
        meta: dict[str, Any] = {"framework": "pennylane", "pennylane": str(qml.__version__), "tapes": len(batch)}
        planned = mitigated.circuits if mitigated is not None else ()
        if planned and self._mitigation is not None:
            meta["mitigation"] = self._mitigation.labels
        job = self.client.submit(
            [*planned, *(c.circuit for _, c in conversions)],
            shots,
            options=self._options,
            calibration=calibration,
            memory=bool(conversions),
            meta=meta,
        )
        self.last_job = job
        result = job.result(timeout=self._timeout)
        out: dict[int, Any] = {}
        self.last_mitigated = None
        if mitigated is not None:
            self.last_mitigated, out = mitigated.estimate(result, job)
        for k, (i, conv) in enumerate(conversions):
            out[i] = _one(batch[i], conv, result, len(planned) + k)
        results = tuple(out[i] for i in range(len(batch)))
        if self.tracker.active:
            self.tracker.update(batches=1, jobs=1, submission_id=job.submission_id, job_shots=shots)
            self.tracker.record()
            for tape, res in zip(batch, results, strict=True):
                self.tracker.update(executions=1, shots=tape.shots.total_shots, results=res)
                self.tracker.record()
        return results[0] if single else results

    def _prepare(
        self, batch: Sequence[QuantumScript]
    ) -> tuple[q.Calibration, MitigatedBatch | None, list[tuple[int, Conversion]], int]:
        """The calibration, the plan of the mitigated tapes, the other tapes' conversions (with their batch
        positions) and the job's shots.

        Raises:
            QaasDeviceError: a tape without shots. LayoutError: a tape does not fit the QPU.
        """
        for tape in batch:
            if not tape.shots:
                raise QaasDeviceError("qaas.iqm needs shots for every tape (use qml.set_shots on the QNode)")
        calibration = self.calibration
        converter = self._converter(calibration)
        mitigated = None if self._mitigation is None else MitigatedBatch(batch, converter, self._mitigation)
        skip = set(mitigated.indices) if mitigated is not None else set()
        conversions = [(i, converter.convert(tape, f"pennylane-{i}")) for i, tape in enumerate(batch) if i not in skip]
        return calibration, mitigated, conversions, max(tape.shots.total_shots for tape in batch)

    def estimate(self, qnode: Any, *args: Any, **kwargs: Any) -> q.Estimate:
        """What one execution of ``qnode(*args, **kwargs)`` would cost, without running it: QPU seconds, expected
        success probability per tape, bytes uploaded, allocation and budget left (``qaas_core.Estimate``). The tapes
        are the ones the device would receive (``qml.workflow.construct_batch(qnode, level="device")``); pass
        ``qml.gradients.param_shift(qnode)`` to estimate a gradient's shifted tapes. ``qnode`` may also be a
        preprocessed tape or a batch of them. With ``mitigation=``, every circuit the pipeline adds is counted.

        Raises:
            QaasDeviceError: a tape without shots. LayoutError: a tape does not fit the QPU.
            qaas_core.CircuitError: a converted circuit breaks a calibration rule.
        """
        if isinstance(qnode, QuantumScript):
            batch: Sequence[QuantumScript] = (qnode,)
        elif isinstance(qnode, Sequence):
            batch = tuple(qnode)
        else:
            batch, _ = qml.workflow.construct_batch(qnode, level="device")(*args, **kwargs)
        if not batch:
            raise QaasDeviceError("nothing to estimate: the QNode produced no tapes")
        calibration, mitigated, conversions, shots = self._prepare(batch)
        circuits = [*(mitigated.circuits if mitigated is not None else ()), *(c.circuit for _, c in conversions)]
        return self.client.estimate(circuits, shots, options=self._options, calibration=calibration)

    def compile(self, circuit: QuantumScript) -> Conversion:
        """The native circuit one preprocessed tape becomes (layout, routing, frames), without running it.

        Raises:
            LayoutError: the tape does not fit the QPU.
        """
        return self._converter(self.calibration).convert(circuit, "pennylane-0")


def _one(tape: Any, conversion: Conversion, result: q.Result, index: int) -> Any:
    return tape_results(tape, conversion, result.circuits[index])
