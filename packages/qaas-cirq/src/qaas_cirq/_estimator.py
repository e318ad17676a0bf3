"""``MitigatedEstimator``: expectation values of Cirq observables with the core's error mitigation, one job a batch.

For each circuit: its terminal measurements are dropped, the observables' qubits are measured under a key of its
own, and the circuit is compiled **once** for the device (the sampler's mode, or ``compile=``) — before the pipeline
expands anything. The core then receives the circuit as a function of the measurement basis
(:data:`qaas_core.mitigation.CircuitInBasis`): this module appends the basis change (``PhX(−½)^½`` for ``X``,
``X^½`` for ``Y``, the core's own rotations) to the compiled circuit and converts it, so the virtual-Z frames of the
conversion turn them as they must, and the core twirls and folds the native result — its variants are marked
``preserve`` and go to :meth:`qaas_core.QaasClient.submit` as they are, never through Cirq compilation again. Every
variant of every circuit is one job (:meth:`~qaas_core.mitigation.MitigationPlan.build`, one submission,
:meth:`~qaas_core.mitigation.MitigationPlan.estimate`). No mitigation happens here: this module only converts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import cirq

import qaas_core as q
from qaas_cirq._compile import CompiledCircuit, CompileMode, check_mode
from qaas_cirq._convert import circuit_to_qaas
from qaas_cirq._observables import CirqObservable, as_pauli_sums, measured_qubits, to_core
from qaas_cirq._sampler import QaaSSampler
from qaas_core.mitigation import DEFAULT_PIPELINE, MitigatedResult, MitigationPlan, PauliSum, Pipeline

__all__ = ["MitigatedEstimator"]

KEY: Final = "qaas_obs"
"""Measurement key of the observables' qubits (a suffix is added if the circuit already uses it)."""

_ROTATION: Final = {
    "X": cirq.PhasedXPowGate(phase_exponent=-0.5, exponent=0.5),  # PRX(π/2, −π/2) = RY(−π/2)
    "Y": cirq.PhasedXPowGate(phase_exponent=0.0, exponent=0.5),  # PRX(π/2, 0) = RX(π/2)
}


class _Logical:
    """One circuit compiled for the device, rendered natively in any basis of its measured device qubits."""

    def __init__(self, body: cirq.Circuit, measured: Sequence[cirq.Qid], key: str, name: str) -> None:
        self.body = body
        self.measured = tuple(measured)  # device qubit of each observable qubit, in bit order
        self.key = key
        self.name = name
        self._rendered: dict[str, q.Circuit] = {}
        z = self._render("Z" * len(self.measured))
        bits = [c for inst in z.instructions if inst.name == "measure" for c in inst.locus]
        self.before = len(bits) - len(self.measured)  # bits of mid-circuit measurements

    def in_basis(self, basis: str) -> q.Circuit:
        if set(basis[: self.before]) - {"Z"}:
            raise q.ValidationError("a mid-circuit measurement cannot be read in another basis")
        return self._render(basis[self.before :])

    def _render(self, letters: str) -> q.Circuit:
        found = self._rendered.get(letters)
        if found is None:
            rotations = [_ROTATION[c](d) for c, d in zip(letters, self.measured, strict=True) if c in _ROTATION]
            tail = cirq.Circuit(cirq.Moment(rotations), cirq.Moment(cirq.measure(*self.measured, key=self.key)))
            found = circuit_to_qaas(self.body + tail, name=self.name)
            self._rendered[letters] = found
        return found


class MitigatedEstimator:
    """Estimate Cirq observables with error mitigation by the qaas core, on a :class:`~qaas_cirq.QaaSSampler`.

    Example::

        from qaas_core.mitigation import Fold, Pipeline, ReadoutMitigation, Richardson

        zne = Pipeline([Fold([1, 3, 5]), ReadoutMitigation()], extrapolate=Richardson())
        estimator = MitigatedEstimator(sampler, zne)
        result = estimator.estimate([ghz], [[cirq.X(a) * cirq.X(b) * cirq.X(c)]], repetitions=2000)
        result[0][0].value, result[0][0].stderr, result[0][0].raw

    Args:
        sampler: the sampler whose client, device, IQM options and calibration set the jobs use.
        pipeline: the mitigation pipeline of every circuit (default: readout mitigation from the calibration).
        compile: how circuits are compiled for the device before the pipeline expands them: ``"default"``
            (resynthesis, fewest gates), ``"faithful"`` (gate by gate), False (they are native already, on device
            qubits) or None: the sampler's mode, else ``"default"``. A :class:`~qaas_cirq.CompiledCircuit` is not
            compiled again.

    Raises:
        ValidationError: an unknown compile mode or a pipeline that is not a core ``Pipeline``.
    """

    def __init__(
        self,
        sampler: QaaSSampler,
        pipeline: Pipeline | None = None,
        *,
        compile: CompileMode | Literal[False] | None = None,
    ) -> None:
        if pipeline is not None and not isinstance(pipeline, Pipeline):
            raise q.ValidationError(f"pipeline must be a qaas_core.mitigation.Pipeline, not {pipeline!r}")
        self.sampler = sampler
        self.pipeline = pipeline
        self._mode: CompileMode | None = None
        if compile is not False:
            self._mode = check_mode(compile or sampler.compile_mode or "default")

    def estimate(
        self,
        circuits: cirq.AbstractCircuit | CompiledCircuit | Sequence[cirq.AbstractCircuit | CompiledCircuit],
        observables: CirqObservable | Sequence[CirqObservable] | Sequence[CirqObservable | Sequence[CirqObservable]],
        *,
        repetitions: int = 1000,
        param_resolver: cirq.ParamResolverOrSimilarType = None,
        timeout: float | None = None,
    ) -> MitigatedResult:
        """Estimate every observable of every circuit, all variants in one job.

        Args:
            circuits: one circuit or a batch (their final measurements are ignored: the state before them is what
                is estimated).
            observables: per circuit, one observable (``cirq.PauliString`` / ``cirq.PauliSum``) or a sequence of
                them; for a single circuit, its observable(s).
            repetitions: shots of every circuit the job runs (each variant).
            param_resolver: values of the circuits' symbols.
            timeout: longest wait for the results (default: the sampler's).

        Returns:
            The core's estimates: ``result[i][j]`` for observable ``j`` of circuit ``i`` with ``value``, ``stderr``,
            ``raw``, ``raw_stderr`` and ``metadata``; the job is ``result.job``.

        Raises:
            ValidationError: bad observables, repetitions or pipeline; ConversionError: a circuit cannot be compiled
                or converted; CircuitError: a variant breaks a pre-submit check. All before anything is sent.
            JobFailedError, JobTimeoutError: the job failed or did not finish in time.
        """
        if isinstance(circuits, cirq.AbstractCircuit | CompiledCircuit):
            circuits, observables = [circuits], [observables]  # type: ignore[list-item]
        batch = list(circuits)
        specs = list(observables)
        if len(specs) != len(batch):
            raise q.ValidationError(f"{len(batch)} circuit(s) but {len(specs)} observable entries")
        if not batch:
            raise q.ValidationError("estimate() got no circuits")
        shots = QaaSSampler._check_repetitions(repetitions)
        kwargs = self.sampler._submit_kwargs()
        logicals: list[_Logical] = []
        core_observables: list[list[PauliSum]] = []
        with q.gc_paused():
            for index, (circuit, spec) in enumerate(zip(batch, specs, strict=True)):
                sums = as_pauli_sums(spec, index)
                logical, qubits = self._logical(circuit, sums, param_resolver, index)
                logicals.append(logical)
                core_observables.append([to_core(o, qubits, logical.before) for o in sums])
            plan = MitigationPlan.build([lg.in_basis for lg in logicals], core_observables, pipeline=self.pipeline,
                                        calibration=kwargs["calibration"])  # fmt: skip
        from qaas_cirq import __version__

        labels = (self.pipeline or DEFAULT_PIPELINE).labels
        meta = {"framework": "cirq", "qaas-cirq": __version__, "estimator": True, "mitigation": labels}
        job = self.sampler.client.submit(plan.circuits, shots, memory=False, **{**kwargs, "meta": meta})
        wait = self.sampler.timeout if timeout is None else timeout
        return plan.estimate(job.result(wait), job=job)

    def _logical(
        self,
        circuit: cirq.AbstractCircuit | CompiledCircuit,
        observables: list[cirq.PauliSum],
        resolver: cirq.ParamResolverOrSimilarType,
        index: int,
    ) -> tuple[_Logical, list[cirq.Qid]]:
        """The compiled circuit without its final measurements, and the observables' qubits in bit order.

        The measurement of the observables is appended after compilation: compiling drops the Z rotations before a
        measurement (they change no Z outcome), and an X or Y observable reads them.
        """
        compiled = circuit if isinstance(circuit, CompiledCircuit) else None
        source = compiled.circuit if compiled is not None else circuit
        if not isinstance(source, cirq.AbstractCircuit):
            raise q.ValidationError(f"circuit {index} is a {type(source).__name__}, not a cirq circuit")
        qubits = measured_qubits(observables) or sorted(source.all_qubits())[:1]  # constants: one qubit's shots
        keys = {str(k) for k in cirq.measurement_key_names(source)}
        key = KEY
        while key in keys:
            key += "_"
        body = _without_terminal_measurements(cirq.resolve_parameters(source, resolver))
        if compiled is not None:
            mapping = dict(compiled.final_mapping)
            measured_before = {qb for op in source.all_operations() if cirq.is_measurement(op) for qb in op.qubits}
            if measured_before & {mapping.get(qb) for qb in qubits}:
                raise q.ValidationError(
                    f"circuit {index} was compiled with measurements of the observables' qubits, which drops the Z "
                    "rotations before them that X and Y observables read: compile it without final measurements"
                )
        elif self._mode is not None:
            idle = [cirq.I(qb) for qb in qubits if qb not in body.all_qubits()]  # placed too, though unused
            result = self.sampler.device.compile(body + cirq.Circuit(idle), mode=self._mode)
            body, mapping = result.circuit, dict(result.final_mapping)
        else:
            mapping = {qb: qb for qb in qubits}
        missing = [qb for qb in qubits if qb not in mapping]
        if missing:
            raise q.ValidationError(f"circuit {index}: the observables act on {missing}, which it does not use")
        return _Logical(body, [mapping[qb] for qb in qubits], key, f"cirq-{index}"), qubits


def _without_terminal_measurements(circuit: cirq.AbstractCircuit) -> cirq.Circuit:
    """``circuit`` without the measurements that nothing acts after (on their qubits or through their keys)."""
    out = circuit.unfreeze(copy=True)
    drop = []
    for index, op in out.findall_operations(cirq.is_measurement):
        key = cirq.measurement_key_name(op)
        later = out.next_moment_operating_on(op.qubits, index + 1)
        read = any(key in {str(k) for k in cirq.control_keys(other)} for m in out[index + 1 :] for other in m)
        if later is None and not read:
            drop.append((index, op))
    out.batch_remove(drop)
    return out
