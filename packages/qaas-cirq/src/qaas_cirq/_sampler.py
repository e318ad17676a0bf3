"""QaaSSampler: a ``cirq.Sampler`` that runs native circuits on IQM computers through qaas (or its emulator).

A sweep is one qaas job, and so is a whole ``run_batch`` (one job per distinct repetition count). Parameters are
resolved on the client through a template (:mod:`qaas_cirq._sweep`): the circuit is converted once and each
resolver only fills in angles. Everything is validated against the device's calibration before anything is sent.
The ``*_async`` methods use asyncio and the core's asynchronous HTTP client.

With ``compile=`` the sampler compiles each circuit it is given (:meth:`QaaSDevice.compile` in that mode) before the
conversion, so code written for any ``cirq.Sampler`` — ``cirq.experiments`` routines, mitiq executors — runs as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal

import cirq

import qaas_core as q
from qaas_cirq._compile import CompiledCircuit, CompileMode, check_mode
from qaas_cirq._device import QaaSDevice
from qaas_cirq._errors import ConversionError
from qaas_cirq._job import QaaSJob
from qaas_cirq._results import CircuitInfo, QaaSResult, circuit_metadata, to_cirq_results
from qaas_cirq._sweep import Template, to_resolvers

__all__ = ["QaaSSampler"]

Program = cirq.AbstractCircuit | CompiledCircuit


class QaaSSampler(cirq.Sampler):
    """Run Cirq circuits on an IQM quantum computer reached through LEXIS + HEAppE (or the embedded emulator).

    Circuits must be native for the device (compile them with ``sampler.device.compile(circuit)``), unless the
    sampler compiles them itself (``compile=``); results are :class:`~qaas_cirq.QaaSResult` (a ``cirq.ResultDict``)
    shaped like ``cirq.Simulator``'s, with job metadata.

    ``compile="faithful"`` is the choice for code that builds circuits for any ``cirq.Sampler`` and counts on their
    gates: ``cirq.experiments`` (randomized benchmarking, T1 decay …) and mitiq's zero-noise extrapolation, whose
    folded gates the ``"default"`` mode would merge away. ``compile="default"`` suits algorithms (fewest gates).
    Each circuit is compiled on its own (routing, when its qubits are not device qubits, may place circuits of one
    batch differently: use device qubits to pin them). A :class:`~qaas_cirq.CompiledCircuit` is never compiled again.

    Args:
        client: A qaas client to use (not closed by the sampler). Without it, one is made from the settings below.
        profile: qaas configuration profile (``lexis``, ``emulator`` …).
        project: LEXIS project.
        resource: LEXIS quantum resource.
        token: LEXIS access token.
        device: The device to compile and validate for (default: built from the resource's current calibration).
        options: IQM execution options (:class:`qaas_core.RunOptions` or a mapping of them).
        calibration_set_id: Calibration set to fetch the device for and to pin jobs to (default: the current one).
        timeout: Longest wait for a job's results in the blocking calls, in seconds (None: no limit).
        compile: None or False: circuits must be native (a non-native gate is a ``ConversionError``);
            ``"default"`` or ``"faithful"``: compile every circuit in that mode (see :meth:`QaaSDevice.compile`).
        **settings: Other qaas client settings (``data_dir`` …).

    Raises:
        ConfigurationError: both a client and client settings were given, or the settings are incomplete.
        ValidationError: unknown or invalid options, or an unknown compile mode.
    """

    def __init__(
        self,
        client: q.QaasClient | None = None,
        *,
        profile: str | None = None,
        project: str | None = None,
        resource: str | None = None,
        token: str | None = None,
        device: QaaSDevice | None = None,
        options: q.RunOptions | Mapping[str, Any] | None = None,
        calibration_set_id: str | None = None,
        timeout: float | None = None,
        compile: CompileMode | Literal[False] | None = None,
        **settings: Any,
    ) -> None:
        self._compile = self._compile_mode(compile)
        self._options = options if isinstance(options, q.RunOptions) else q.RunOptions.create(**dict(options or {}))
        self._client, self._owns_client = q.QaasClient.resolve(
            client, profile=profile, project=project, resource=resource, token=token, **settings
        )
        self._device = device
        self._device_lock = threading.Lock()
        self._calibration_set_id = calibration_set_id
        self.timeout = timeout
        self._async_users = 0

    @classmethod
    def emulator(
        cls,
        device: str = "garnet20",
        *,
        options: q.RunOptions | Mapping[str, Any] | None = None,
        timeout: float | None = None,
        compile: CompileMode | Literal[False] | None = None,
        **settings: Any,
    ) -> QaaSSampler:
        """A sampler on a freshly started embedded emulator of ``device`` (stopped by :meth:`close`).

        Args:
            device: Device profile (``garnet20``, ``deneb6`` …, see ``qaas_core.PROFILES``).
            options: IQM execution options.
            timeout: Longest wait for results in the blocking calls.
            compile: Compile every circuit in this mode (``"default"`` / ``"faithful"``), or None.
            **settings: Emulator and client settings (``noise=False``, ``seed=1``, ``data_dir=…``).

        Raises:
            ValidationError: unknown compile mode (checked before the emulator starts).
        """
        cls._compile_mode(compile)
        client = q.QaasClient.emulator(device, **settings)
        try:
            sampler = cls(client, options=options, timeout=timeout, compile=compile)
        except BaseException:
            client.close()
            raise
        sampler._owns_client = True
        return sampler

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def session(self, *, max_time: float = 3600.0, idle_timeout: float = 300.0) -> q.Session:
        """A session: every job this sampler submits inside ``with sampler.session():`` goes to one long HEAppE job,
        so a loop of sweeps waits in the HPC queue once (see ``docs/sessions.md``).

        Raises:
            ConfigurationError: the direct IQM transport, or no session template at the site.
        """
        return self._client.session(max_time=max_time, idle_timeout=idle_timeout)

    def close(self) -> None:
        """Close the client if the sampler made it (and so stop its emulator)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> QaaSSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<QaaSSampler {self._client!r}>"

    @property
    def client(self) -> q.QaasClient:
        """The qaas client."""
        return self._client

    @property
    def compile_mode(self) -> CompileMode | None:
        """The mode every circuit is compiled in before it is sent, or None (circuits must be native)."""
        return self._compile

    @staticmethod
    def _compile_mode(value: object) -> CompileMode | None:
        if value is None or value is False:
            return None
        if value is True:
            raise q.ValidationError("compile=True is ambiguous: pass compile='default' (fewest gates) or "
                                    "compile='faithful' (gate by gate, for ZNE folding and benchmarking)")  # fmt: skip
        return check_mode(value)

    @property
    def options(self) -> q.RunOptions:
        """The IQM execution options of every job."""
        return self._options

    @property
    def device(self) -> QaaSDevice:
        """The device (fetched from the resource's calibration on first use, then kept).

        Raises:
            QaasError: the calibration could not be fetched.
        """
        with self._device_lock:
            if self._device is None:
                calibration = self._client.calibration(calibration_set_id=self._calibration_set_id)
                self._device = QaaSDevice(calibration, move_gate_validation=self._options.move_gate_validation)
            return self._device

    # -- preparation ----------------------------------------------------------------------------------------------

    def _prepare(
        self, programs: Sequence[Program], params_list: Sequence[cirq.Sweepable]
    ) -> tuple[list[q.Circuit], list[CircuitInfo]]:
        """Convert and validate a batch: one circuit per program and resolver."""
        device = self.device
        with q.gc_paused():
            return self._convert(device, programs, params_list, self._compile)

    @staticmethod
    def _convert(
        device: QaaSDevice,
        programs: Sequence[Program],
        params_list: Sequence[cirq.Sweepable],
        mode: CompileMode | None = None,
    ) -> tuple[list[q.Circuit], list[CircuitInfo]]:
        circuits: list[q.Circuit] = []
        infos: list[CircuitInfo] = []
        count = len(programs)
        for index, (program, params) in enumerate(zip(programs, params_list, strict=True)):
            circuit = program.circuit if isinstance(program, CompiledCircuit) else program
            if not isinstance(circuit, cirq.AbstractCircuit):
                raise q.ValidationError(f"program {index} is a {type(circuit).__name__}, not a cirq circuit")
            if mode is not None and not isinstance(program, CompiledCircuit):
                circuit = device.compile(circuit, mode=mode).circuit
            template = Template(circuit)
            if not template.measured:
                raise ConversionError(f"program {index} measures nothing, so a run would return no data")
            if template.structure is not None:
                try:
                    device.validate_instructions(template.items)
                except ConversionError:
                    device.validate_circuit(circuit)  # the same problem, located on the Cirq operation
                    raise
            resolvers = to_resolvers(params)
            for j, instructions in enumerate(template.instantiate(resolvers)):
                if template.structure is None:
                    device.validate_instructions(instructions)
                info = CircuitInfo(index, count, resolvers[j], dict(template.keys))
                circuits.append(q.Circuit(f"cirq-{index}-{j}", instructions, circuit_metadata(info)))
                infos.append(info)
        return circuits, infos

    def _submit_kwargs(self) -> dict[str, Any]:
        from qaas_cirq import __version__

        return {
            "options": self._options,
            "calibration": self.device.calibration,
            "calibration_set_id": self._calibration_set_id,
            "meta": {"framework": "cirq", "qaas-cirq": __version__},
        }

    @staticmethod
    def _check_repetitions(repetitions: object) -> int:
        if type(repetitions) is not int or repetitions < 1:
            raise q.ValidationError(f"repetitions must be a positive integer, got {repetitions!r}")
        return repetitions

    @staticmethod
    def _batch_args(
        programs: Sequence[Program],
        params_list: Sequence[cirq.Sweepable] | None,
        repetitions: int | Sequence[int],
    ) -> tuple[list[cirq.Sweepable], list[int]]:
        n = len(programs)
        params: list[cirq.Sweepable] = [None] * n if params_list is None else list(params_list)
        reps = [repetitions] * n if isinstance(repetitions, int) else list(repetitions)
        if len(params) != n or len(reps) != n:
            raise q.ValidationError(f"{n} programs, but {len(params)} parameter sets and {len(reps)} repetition counts")
        return params, [QaaSSampler._check_repetitions(r) for r in reps]

    # -- non-blocking handles -------------------------------------------------------------------------------------

    def submit(self, program: Program, params: cirq.Sweepable = None, repetitions: int = 1) -> QaaSJob:
        """Validate a sweep of ``program`` and submit it as one job; returns at once.

        Raises:
            ConversionError: the program is not native for the device, or a symbol is left unresolved.
            ValidationError: bad repetitions or options (nothing was sent).
            QaasError: the platform refused or could not be reached.
        """
        return self.submit_batch([program], [params], repetitions)

    def submit_batch(
        self, programs: Sequence[Program], params_list: Sequence[cirq.Sweepable] | None = None, repetitions: int = 1
    ) -> QaaSJob:
        """Validate several programs (each with its sweep) and submit them as one job; returns at once.

        Raises:
            ConversionError: a program is not native for the device, or a symbol is left unresolved.
            ValidationError: bad repetitions, mismatched arguments, or an empty batch (nothing was sent).
            QaasError: the platform refused or could not be reached.
        """
        programs = list(programs)
        params, _ = self._batch_args(programs, params_list, self._check_repetitions(repetitions))
        circuits, infos = self._prepare(programs, params)
        if not circuits:
            raise q.ValidationError("the batch has no circuits (empty sweeps)")
        job = self._client.submit(circuits, repetitions, **self._submit_kwargs())
        return QaaSJob(job, infos)

    def estimate(
        self, programs: Program | Sequence[Program], params_list: cirq.Sweepable | Sequence[cirq.Sweepable] = None,
        repetitions: int = 1,
    ) -> q.Estimate:  # fmt: skip
        """What :meth:`submit_batch` of the same arguments would cost, without sending anything: QPU seconds,
        expected success probability per circuit (one per program and resolver), bytes uploaded, allocation and
        budget left (:class:`qaas_core.Estimate`). One program with its sweep, or a list of programs with one sweep
        each.

        Raises:
            ConversionError: a program is not native for the device (or cannot be compiled in the sampler's mode).
            ValidationError: bad repetitions or mismatched arguments.
        """
        if isinstance(programs, cirq.AbstractCircuit | CompiledCircuit):
            programs, params_list = [programs], [params_list]
        programs = list(programs)
        params, _ = self._batch_args(programs, params_list, self._check_repetitions(repetitions))  # type: ignore[arg-type]
        circuits, _ = self._prepare(programs, params)
        if not circuits:
            raise q.ValidationError("the batch has no circuits (empty sweeps)")
        kwargs = self._submit_kwargs()
        return self._client.estimate(circuits, repetitions, options=kwargs["options"],
                                     calibration=kwargs["calibration"],
                                     calibration_set_id=kwargs["calibration_set_id"])  # fmt: skip

    def retrieve(self, job_id: str | int) -> QaaSJob:
        """Rebuild the handle of a job submitted by qaas-cirq, by submission, HEAppE or IQM id (any process sharing
        the data directory).

        Raises:
            JobNotFoundError: the ledger knows no such job.
            PayloadError: the job was not submitted by qaas-cirq, or its stored request is missing.
        """
        job = self._client.retrieve(job_id)
        request = job.request()
        if request is None:
            raise q.PayloadError(f"the ledger holds no request for job {job.submission_id}; its results cannot be "
                                 "mapped back to Cirq")  # fmt: skip
        return QaaSJob(job, [CircuitInfo.from_metadata(c.metadata, c.name) for c in request.circuits])

    # -- cirq.Sampler ---------------------------------------------------------------------------------------------

    def run_sweep(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int = 1
    ) -> Sequence[cirq.Result]:
        """Run ``program`` for every resolver of ``params`` as one job and wait for the results.

        Raises:
            ConversionError, ValidationError: invalid input (nothing was sent).
            JobFailedError, JobTimeoutError: the job failed or did not finish within :attr:`timeout`.
        """
        return self.run_batch([program], [params], repetitions)[0]

    def run_batch(
        self,
        programs: Sequence[cirq.AbstractCircuit],
        params_list: Sequence[cirq.Sweepable] | None = None,
        repetitions: int | Sequence[int] = 1,
    ) -> Sequence[Sequence[cirq.Result]]:
        """Run several programs, each with its sweep, as one job per distinct repetition count.

        Raises:
            ConversionError, ValidationError: invalid input (nothing was sent).
            JobFailedError, JobTimeoutError: a job failed or did not finish within :attr:`timeout`.
        """
        programs = list(programs)
        params, reps = self._batch_args(programs, params_list, repetitions)
        groups = self._groups(reps)
        prepared = {shots: self._prepare([programs[i] for i in idx], [params[i] for i in idx])
                    for shots, idx in groups.items()}  # fmt: skip
        jobs = {}
        for shots, (circuits, infos) in prepared.items():
            if circuits:
                jobs[shots] = (self._client.submit(circuits, shots, **self._submit_kwargs()), infos)
        out: list[list[cirq.Result]] = [[] for _ in programs]
        for shots, (job, infos) in jobs.items():
            self._scatter(out, groups[shots], to_cirq_results(job.result(self.timeout), infos))
        return out

    @staticmethod
    def _groups(reps: Sequence[int]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for index, shots in enumerate(reps):
            groups.setdefault(shots, []).append(index)
        return groups

    @staticmethod
    def _scatter(out: list[list[cirq.Result]], indices: Sequence[int], results: Sequence[QaaSResult]) -> None:
        for result in results:
            out[indices[result.metadata.program]].append(result)

    # -- asyncio --------------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _async_session(self) -> AsyncIterator[None]:
        """Keep the client's asyncio connections while any async call runs; close them after the last one."""
        self._async_users += 1
        try:
            yield
        finally:
            self._async_users -= 1
            if self._async_users == 0:
                await self._client.aclose()

    async def run_async(
        self, program: cirq.AbstractCircuit, param_resolver: cirq.ParamResolverOrSimilarType = None,
        repetitions: int = 1,
    ) -> cirq.Result:  # fmt: skip
        """asyncio twin of :meth:`run`."""
        return (await self.run_sweep_async(program, param_resolver, repetitions))[0]

    async def run_sweep_async(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable, repetitions: int = 1
    ) -> Sequence[cirq.Result]:
        """asyncio twin of :meth:`run_sweep` (one job; conversion runs in a worker thread)."""
        return (await self.run_batch_async([program], [params], repetitions))[0]

    async def run_batch_async(
        self,
        programs: Sequence[cirq.AbstractCircuit],
        params_list: Sequence[cirq.Sweepable] | None = None,
        repetitions: int | Sequence[int] = 1,
    ) -> Sequence[Sequence[cirq.Result]]:
        """asyncio twin of :meth:`run_batch` (one job per distinct repetition count, awaited concurrently)."""
        programs = list(programs)
        params, reps = self._batch_args(programs, params_list, repetitions)
        groups = self._groups(reps)
        out: list[list[cirq.Result]] = [[] for _ in programs]

        def prepare() -> tuple[dict[int, tuple[list[q.Circuit], list[CircuitInfo]]], dict[str, Any]]:
            batches = {shots: self._prepare([programs[i] for i in idx], [params[i] for i in idx])
                       for shots, idx in groups.items()}  # fmt: skip
            return batches, self._submit_kwargs()

        async def one(shots: int, circuits: list[q.Circuit], infos: list[CircuitInfo], kwargs: dict[str, Any]) -> None:
            job = await self._client.submit_async(circuits, shots, **kwargs)
            self._scatter(out, groups[shots], to_cirq_results(await job.result(self.timeout), infos))

        async with self._async_session():
            batches, kwargs = await asyncio.to_thread(prepare)  # validate everything before sending anything
            await asyncio.gather(*(one(shots, c, i, kwargs) for shots, (c, i) in batches.items() if c))
        return out
