"""``QaaSBackend``: a Qiskit ``BackendV2`` for one LEXIS quantum resource (an IQM QPU, or the emulator's).

The target comes from the resource's calibration (:mod:`qaas_qiskit._target`), so ``transpile(circuit, backend)``
and ``generate_preset_pass_manager(backend=backend)`` give native circuits. ``run`` converts them (or OpenQASM 3
programs) to the IQM transfer format, checks everything before any network call, and submits the whole list —
every parameter binding included — as one qaas job.

A backend survives ``copy.deepcopy`` (the copy shares the client: connections, locks and an embedded emulator are
never copied) and ``pickle`` (what qiskit-experiments and Qiskit's primitives do with it). A pickle holds the
calibration, the target, the options and the client's settings *without* secrets; the unpickled backend opens a
client of its own on first use, reading tokens again from the environment, the configuration file, the profile and
the token cache of the data directory (:meth:`qaas_core.Settings.with_secrets_resolved`).
"""

from __future__ import annotations

import copy
import logging
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias, overload

from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.providers import BackendV2, Options

import qaas_core as q
from qaas_qiskit._convert import METADATA_KEY, CircuitTemplate, NativeTables, ParameterBinding, convert_circuit
from qaas_qiskit._job import QaaSJob
from qaas_qiskit._options import RunSettings, default_options, resolve_options
from qaas_qiskit._results import Layout, header_from_qiskit, layout_from_circuit
from qaas_qiskit._target import DT, target_from_calibration

if TYPE_CHECKING:
    from qiskit.transpiler import Target

__all__ = ["MAX_CIRCUITS", "QaaSBackend"]

MAX_CIRCUITS: Final = 100_000
"""Most circuits in one job (the qaas core's limit); Qiskit's primitives split larger batches."""

RunInput: TypeAlias = "QuantumCircuit | str"

logger = logging.getLogger(__name__)

_T2_OPTION: Final = "max_circuit_duration_over_t2"
_T2_HINT: Final = (
    f". In Qiskit: backend.set_options({_T2_OPTION}=...) for every job (what qiskit-experiments and the primitives "
    f"use), or backend.run(..., {_T2_OPTION}=...) for one"
)


class QaaSBackend(BackendV2):  # type: ignore[misc]
    """An IQM quantum computer reached through LEXIS and HEAppE (or the embedded emulator).

    Get one from :meth:`QaaSProvider.get_backend`. :meth:`from_calibration` gives an offline backend that
    transpiles and converts but cannot run.

    Args:
        client: The qaas client bound to the resource (None: offline, ``calibration`` required).
        name: Backend name (default: the client's resource).
        provider: The provider that made this backend.
        calibration: A calibration to use instead of fetching the resource's current one.
        **options: Initial values of the run options (see :meth:`run`).

    Raises:
        ConfigurationError: neither a client nor a calibration is given.
        ValidationError: an unknown or invalid option.
    """

    def __init__(
        self,
        client: q.QaasClient | None = None,
        *,
        name: str | None = None,
        provider: Any = None,
        calibration: q.Calibration | None = None,
        **options: Any,
    ) -> None:
        if client is None and calibration is None:
            raise q.ConfigurationError("a QaaSBackend needs a qaas client or, offline, a calibration")
        resource = client.settings.resource if client is not None else None
        device = calibration.device if calibration is not None else ""
        from qaas_qiskit import __version__

        super().__init__(
            provider=provider,
            name=name or resource or f"qaas-{device or 'offline'}",
            description=f"IQM QPU {resource or device} through qaas (LEXIS + HEAppE)",
            backend_version=__version__,
        )
        self._client = client
        self._settings: q.Settings | None = None  # an unpickled backend's client recipe (no secrets)
        self._calibration = calibration
        self._target: Target | None = None
        self._tables: NativeTables | None = None
        if options:
            self.set_options(**options)

    @classmethod
    def from_calibration(cls, calibration: q.Calibration, *, name: str | None = None) -> QaaSBackend:
        """An offline backend for a calibration (e.g. ``qaas_core.load_profile("garnet20")``): transpile and convert.

        ``run`` raises :class:`~qaas_core.ConfigurationError` on it.
        """
        return cls(None, name=name, calibration=calibration)

    # -- what the transpiler sees ------------------------------------------------------------------------------

    @property
    def client(self) -> q.QaasClient:
        """The qaas client this backend submits through.

        Raises:
            ConfigurationError: the backend is offline.
        """
        if self._client is None:
            if self._settings is None:
                raise q.ConfigurationError(
                    f"backend {self.name} is offline (made from a calibration); get one from QaaSProvider to run"
                )
            client = q.QaasClient(settings=self._settings.with_secrets_resolved())
            weakref.finalize(client, client.http.close)  # the connections of a client this backend opened
            self._client = client
        return self._client

    @property
    def calibration(self) -> q.Calibration:
        """The calibration the target is built from (fetched from the resource on first use).

        Raises:
            QaasError: the calibration could not be fetched (typed).
        """
        if self._calibration is None:
            self._calibration = self.client.calibration(calibration_set_id=self._options.calibration_set_id)
        return self._calibration

    def refresh(self) -> None:
        """Fetch the resource's current calibration and rebuild the target (after a recalibration).

        Raises:
            QaasError: the calibration could not be fetched (typed).
        """
        self._calibration = self.client.calibration(refresh=True, calibration_set_id=self._options.calibration_set_id)
        self._target = None
        self._tables = None

    @property
    def target(self) -> Target:
        """The Qiskit target of the current calibration (qubit ``i`` is ``calibration.qubits[i]``)."""
        if self._target is None:
            self._target = target_from_calibration(self.calibration, description=self.description)
        return self._target

    @property
    def tables(self) -> NativeTables:
        """The conversion tables of the current calibration."""
        if self._tables is None:
            self._tables = NativeTables(self.calibration)
        return self._tables

    @property
    def max_circuits(self) -> int:
        """Most circuits in one job."""
        return MAX_CIRCUITS

    @property
    def dt(self) -> float:
        """1 ns: the unit of ``delay(..., unit="dt")`` and of scheduled durations."""
        return DT

    @classmethod
    def _default_options(cls) -> Options:
        return default_options()

    def set_options(self, **fields: Any) -> None:
        """Set run options (checked now; unknown names are an error).

        Raises:
            ValidationError: an unknown option or a bad value.
        """
        resolve_options(dict(self._options.items()), fields)
        if "calibration_set_id" in fields and fields["calibration_set_id"] != self._options.calibration_set_id:
            self._calibration = self._calibration if self._client is None else None
            self._target = None
            self._tables = None
        self._options.update_options(**fields)

    # -- conversion ---------------------------------------------------------------------------------------------

    @overload
    def convert(self, circuits: QuantumCircuit) -> q.Circuit: ...

    @overload
    def convert(self, circuits: Sequence[QuantumCircuit]) -> list[q.Circuit]: ...  # type: ignore[overload-cannot-match]

    def convert(self, circuits: QuantumCircuit | Sequence[QuantumCircuit]) -> q.Circuit | list[q.Circuit]:
        """Convert circuits transpiled for this backend to the IQM transfer format (no network).

        Args:
            circuits: One circuit, or a batch (converted with the garbage collector paused).

        Returns:
            One ``qaas_core.Circuit``, or a list of them.

        Raises:
            CircuitError: a non-native operation, an unbound parameter or unsupported control flow.
        """
        tables = self.tables
        if isinstance(circuits, QuantumCircuit):
            return convert_circuit(circuits, tables)
        with q.gc_paused():
            return [convert_circuit(c, tables, position=i) for i, c in enumerate(circuits)]

    def template(self, circuit: QuantumCircuit) -> CircuitTemplate:
        """Convert a parameterised circuit once, for fast binding (see :class:`CircuitTemplate`).

        Raises:
            CircuitError: a non-native operation or unsupported control flow.
        """
        return CircuitTemplate(circuit, self.tables)

    def _prepare(
        self, items: Sequence[RunInput], binds: Sequence[ParameterBinding] | None, *, fuse: bool = True
    ) -> tuple[list[q.Circuit], list[Layout]]:
        tables = self.tables
        circuits: list[q.Circuit] = []
        layouts: list[Layout] = []
        if binds is not None:
            _check_binding_keys(items, binds)
        for position, item in enumerate(items):
            if isinstance(item, str):
                if binds is not None:
                    raise q.ValidationError("parameter_binds apply to QuantumCircuits, not to OpenQASM 3 programs")
                native = q.circuit_from_qasm3(item, self.calibration, name=f"qasm3-{position}")
                circuits.append(native)
                layouts.append(layout_from_circuit(native))
            elif isinstance(item, QuantumCircuit):
                if binds is None:
                    native = convert_circuit(item, tables, position=position, fuse=fuse)
                    circuits.append(native)
                    bound = [native]
                else:
                    bound = CircuitTemplate(item, tables, position=position, fuse=fuse).bind(binds)
                    circuits.extend(bound)
                metadata = bound[0].metadata or {}
                layout = Layout(header_from_qiskit(metadata[METADATA_KEY], item.metadata or {}))
                layouts.extend([layout] * len(bound))
            else:
                raise q.ValidationError(
                    f"run() takes QuantumCircuits or OpenQASM 3 strings, got {type(item).__name__} at position "
                    f"{position}"
                )
        return circuits, layouts

    def _batch(
        self, run_input: RunInput | Iterable[RunInput], parameter_binds: Sequence[ParameterBinding] | None,
        options: dict[str, Any],
    ) -> tuple[RunSettings, list[q.Circuit], list[Layout]]:  # fmt: skip
        """The options, native circuits and layouts of a ``run`` call (everything checked, nothing sent)."""
        settings = resolve_options(dict(self._options.items()), options)
        items: list[RunInput] = [run_input] if isinstance(run_input, QuantumCircuit | str) else list(run_input)
        if not items:
            raise q.ValidationError("run() got no circuits")
        binds = None if parameter_binds is None else list(parameter_binds)
        if binds is not None and not binds:
            raise q.ValidationError("parameter_binds is empty; pass None to run the circuits as they are")
        with q.gc_paused():
            circuits, layouts = self._prepare(items, binds, fuse=settings.fuse_runs)
        return settings, circuits, layouts

    def estimate(
        self,
        run_input: RunInput | Iterable[RunInput],
        *,
        parameter_binds: Sequence[ParameterBinding] | None = None,
        **options: Any,
    ) -> q.Estimate:
        """What :meth:`run` with the same arguments would cost, without sending anything: QPU seconds, expected
        success probability per circuit, bytes uploaded, allocation and budget left (:class:`qaas_core.Estimate`).

        Raises:
            ValidationError, CircuitError, QasmError: the batch would be refused by :meth:`run`.
        """
        settings, circuits, _ = self._batch(run_input, parameter_binds, options)
        return self.client.estimate(circuits, settings.shots, options=settings.iqm,
                                    calibration_set_id=settings.calibration_set_id)  # fmt: skip

    def run(
        self,
        run_input: RunInput | Iterable[RunInput],
        *,
        parameter_binds: Sequence[ParameterBinding] | None = None,
        **options: Any,
    ) -> QaaSJob:
        """Run circuits (transpiled for this backend) or OpenQASM 3 programs as one job.

        Args:
            run_input: One circuit or program, or a list of them.
            parameter_binds: Bindings applied to every circuit: each maps a :class:`Parameter` (or its name, or a
                :class:`ParameterVector`) to a number, or to a sequence of numbers standing for that many bindings.
                The results hold circuit ``i``'s binding ``k`` at ``i * len(bindings) + k``. Bound circuits are not
                transpiled again: each is converted once and its angles evaluated per binding.
            **options: Overrides of the backend options for this job: ``shots``, ``memory``,
                ``calibration_set_id`` and the IQM options (``heralding_mode``, ``move_gate_validation``,
                ``max_circuit_duration_over_t2``, ``active_reset_cycles``, ``dd_mode`` …).

        Returns:
            The job (its id is the qaas submission id).

        Raises:
            ValidationError: bad options, inputs or bindings; CircuitError: a circuit does not fit the QPU (non-native
                operation, unbound parameter, unsupported control flow, longer than ``max_circuit_duration_over_t2``
                times the T2 of its qubits …); QasmError: a program cannot be translated. All before anything is
                sent.
            ConfigurationError: the backend is offline.
            AuthenticationError, TransportError, RemoteAPIError: the platform refused or could not be reached.
        """
        settings, circuits, layouts = self._batch(run_input, parameter_binds, options)
        from qaas_qiskit import __version__

        try:
            job = self.client.submit(
                circuits,
                settings.shots,
                options=settings.iqm,
                calibration_set_id=settings.calibration_set_id,
                memory=settings.memory,
                meta={"framework": "qiskit", "qaas-qiskit": __version__},
            )
        except q.CircuitError as exc:
            if _T2_OPTION not in exc.reason:
                raise
            error = q.CircuitError(exc.reason + _T2_HINT, circuit=exc.circuit, index=exc.index)
            # also logged: Qiskit's primitives and qiskit-ibm-runtime's local mode (qiskit-experiments' default) call
            # run() in a worker thread and report a failed job with an empty error message
            logger.warning("%s", error.message)
            raise error from exc
        return QaaSJob(self, job, layouts)

    def open_session(self, *, max_time: float = 3600.0, idle_timeout: float = 300.0) -> q.Session:
        """A session: every ``backend.run`` (and every V2 primitive on this backend) inside
        ``with backend.open_session():`` goes to one long HEAppE job, so a loop waits in the HPC queue once
        (see ``docs/sessions.md``).

        Args:
            max_time: the session job's walltime in seconds.
            idle_timeout: the session job ends after this long without a batch.

        Raises:
            ConfigurationError: an offline backend, the direct IQM transport, or no session template at the site.
        """
        return self.client.session(max_time=max_time, idle_timeout=idle_timeout)

    # -- copies and pickles ---------------------------------------------------------------------------------------

    def __copy__(self) -> QaaSBackend:
        """A shallow copy (everything shared, the client included), as for any object."""
        clone = object.__new__(type(self))
        clone.__dict__.update(vars(self))
        return clone

    def __deepcopy__(self, memo: dict[int, Any]) -> QaaSBackend:
        """A copy with its own options, calibration and target that shares the client and the provider."""
        for shared in (self._client, self._provider):
            if shared is not None:
                memo[id(shared)] = shared
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        clone.__dict__.update({key: copy.deepcopy(value, memo) for key, value in vars(self).items()})
        return clone

    def __getstate__(self) -> dict[str, Any]:
        """What a pickle keeps: no client, provider or conversion tables, and the settings without secrets."""
        state = dict(vars(self))
        client = state.pop("_client")
        state.update(_provider=None, _tables=None)
        settings = client.settings if client is not None else self._settings
        state["_settings"] = settings.without_secrets() if settings is not None else None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client = None

    def __repr__(self) -> str:
        return f"<QaaSBackend {self.name}>"


def _check_binding_keys(items: Sequence[RunInput], binds: Sequence[ParameterBinding]) -> None:
    known: set[Parameter] = set()
    for item in items:
        if isinstance(item, QuantumCircuit):
            known.update(item.parameters)
    names = {p.name for p in known}
    for number, binding in enumerate(binds):
        if not isinstance(binding, Mapping):
            raise q.ValidationError(f"parameter_binds[{number}] must be a mapping of parameters to values")
        for key in binding:
            if isinstance(key, ParameterVector):
                ok = any(element in known for element in key)
            elif isinstance(key, Parameter):
                ok = key in known
            else:
                ok = str(key) in names
            if not ok:
                raise q.ValidationError(f"parameter_binds[{number}] names {key!s}, which no circuit of this run uses")
