"""The mitigation pipeline: logical circuits and observables in, one batch of variant circuits out, and from that
batch's counts one estimate with a standard error per observable.

**Expansion** (:meth:`MitigationPlan.build`, no I/O). For each logical circuit: its observables' Pauli terms are
grouped by measurement basis (:func:`~qaas_core.mitigation.measurement_bases`); each basis circuit goes through the
pipeline's pre-stages in order (:class:`Twirl` → ``instances`` copies, :class:`Fold` → one per scale,
:class:`DynamicalDecoupling` → the same circuit with pulses in its gaps). Every variant of every circuit of the batch,
plus the two readout calibration circuits if some pipeline measures its readout, is one circuit of **one** job.

**Estimation** (:meth:`MitigationPlan.estimate`, no I/O). Per circuit and Pauli term: the estimate of each variant
(readout-corrected shot weights if the pipeline has :class:`ReadoutMitigation`), averaged over twirl instances at
each noise scale, extrapolated to zero noise (``extrapolate=``), and summed with the observable's coefficients.

**Standard error.** The whole estimate is a function of the variants' counts; linearised (exactly linear unless the
extrapolation is exponential or the readout is measured) it gives every shot of every variant a weight, and the
shot-noise variance is the sum over variants of the variance of those weights divided by the shots. This keeps the
covariance of terms read from the same shots. With a measured readout model, the binomial noise of its two circuits
adds ``Σ (∂E/∂e)² e(1 − e)/N`` over the error rates ``e`` (derivatives by finite differences).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import numpy as np

from qaas_core._circuit import Circuit
from qaas_core._errors import ValidationError
from qaas_core._result import Result
from qaas_core._wire import MAX_CIRCUITS
from qaas_core.mitigation._dd import DynamicalDecoupling
from qaas_core.mitigation._extrapolate import Extrapolator
from qaas_core.mitigation._folding import Fold
from qaas_core.mitigation._native import MITIGATION_KEY, mark
from qaas_core.mitigation._pauli import (
    ObservableLike,
    PauliSum,
    _sequence_of_observables,
    measured_bits,
    measurement_bases,
    parity_values,
    with_basis,
)
from qaas_core.mitigation._readout import (
    ReadoutMitigation,
    ReadoutModel,
    outcome_matrix,
    readout_calibration_circuits,
)
from qaas_core.mitigation._stage import Context, Stage, Variant
from qaas_core.mitigation._twirl import Twirl

if TYPE_CHECKING:
    from qaas_core._calibration import Calibration
    from qaas_core._job import Job

__all__ = ["CircuitInBasis", "MitigatedResult", "MitigatedValue", "MitigationPlan", "Pipeline"]

_READOUT_NAME: Final = "qaas-readout"
_PLAIN: Final = np.array([1.0, -1.0])


class Pipeline:
    """The mitigation of one circuit: pre-stages that expand it, post-stages that fold the results back.

    Args:
        stages: :class:`Twirl`, :class:`Fold`, :class:`DynamicalDecoupling` (expanding, applied in the order given;
            dynamical decoupling must come after twirling and folding, whose circuits it schedules) and
            :class:`ReadoutMitigation` (anywhere), each at most once.
        extrapolate: how the values at the :class:`Fold` scales become one (required with :class:`Fold`, and only
            then).

    Raises:
        ValidationError: a stage that is not a stage, a repeated stage kind, dynamical decoupling before twirling or
            folding, or folding and extrapolation not given together (or too few scales for the extrapolator).
    """

    def __init__(self, stages: Sequence[Stage] = (), *, extrapolate: Extrapolator | None = None) -> None:
        stages = tuple(stages)
        kinds = [type(s) for s in stages]
        for stage in stages:
            if not isinstance(stage, Stage):
                raise ValidationError(f"{stage!r} is not a mitigation stage")
        if len(set(kinds)) != len(kinds):
            raise ValidationError(f"each kind of stage may appear once, got {[s.label for s in stages]}")
        if DynamicalDecoupling in kinds:
            dd = kinds.index(DynamicalDecoupling)
            late = [s.label for s in stages[dd + 1 :] if isinstance(s, Twirl | Fold)]
            if late:
                raise ValidationError(f"dynamical decoupling schedules the final circuits: put it after {late}")
        if extrapolate is not None and not isinstance(extrapolate, Extrapolator):
            raise ValidationError(f"extrapolate must be an Extrapolator (Linear() …), not {extrapolate!r}")
        fold = next((s for s in stages if isinstance(s, Fold)), None)
        if fold is not None and extrapolate is None:
            raise ValidationError("Fold runs several noise scales: say how to extrapolate them (extrapolate=...)")
        if fold is None and extrapolate is not None:
            raise ValidationError("extrapolation needs noise scales: add a Fold stage")
        if fold is not None and extrapolate is not None and len(fold.scales) < extrapolate.min_points():
            raise ValidationError(f"{extrapolate.label} extrapolation needs at least {extrapolate.min_points()} "
                                  f"noise scales; {fold.label} has {len(fold.scales)}")  # fmt: skip
        self.stages = stages
        self.extrapolate = extrapolate
        self.readout = next((s for s in stages if isinstance(s, ReadoutMitigation)), None)
        self.fold = fold

    @property
    def labels(self) -> list[str]:
        """The stages applied, in order (extrapolation last)."""
        out = [s.label for s in self.stages]
        if self.extrapolate is not None:
            out.append(f"extrapolate({self.extrapolate.label})")
        return out

    def __repr__(self) -> str:
        extra = f", extrapolate={self.extrapolate!r}" if self.extrapolate is not None else ""
        return f"Pipeline({list(self.stages)!r}{extra})"


@dataclass(frozen=True)
class MitigatedValue:
    """The estimate of one observable of one circuit.

    Attributes:
        value: the mitigated expectation value.
        stderr: its standard error from shot noise.
        raw: the unmitigated estimate from the same job (the variants at the lowest noise scale, twirl instances
            averaged, no readout correction).
        raw_stderr: the standard error of ``raw``.
        metadata: how it was made: ``stages`` (labels in order), ``circuits`` and ``shots`` (what this circuit's
            variants cost), ``bases``, and per noise scale ``noise_scales``, ``scaled_values``, ``scaled_stderr``
            (readout-corrected, twirl-averaged: the points the extrapolation went through).
    """

    value: float
    stderr: float
    raw: float
    raw_stderr: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


class MitigatedResult(Sequence[tuple[MitigatedValue, ...]]):
    """Estimates of a batch: ``result[i][j]`` is observable ``j`` of circuit ``i``.

    Attributes:
        values: the estimates, per circuit a tuple in the order of its observables.
        circuits: how many circuits the job ran (all variants, readout calibration included).
        shots: total shots over them.
        job: the job that ran them (None when estimated from counts handed in).
    """

    def __init__(self, values: tuple[tuple[MitigatedValue, ...], ...], circuits: int, shots: int,
                 job: Job | None = None) -> None:  # fmt: skip
        self.values = values
        self.circuits = circuits
        self.shots = shots
        self.job = job

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> tuple[MitigatedValue, ...]:  # type: ignore[override]
        return self.values[index]

    def __repr__(self) -> str:
        return f"<MitigatedResult {len(self.values)} circuit(s), {self.circuits} run, {self.shots} shots>"


CircuitInBasis: TypeAlias = Callable[[str], Circuit]
"""A logical circuit given as a function: basis string (a letter ``X``, ``Y`` or ``Z`` per measured bit) -> the native
circuit that measures bit ``j`` in basis ``j``. For front ends whose conversion leaves virtual-Z frames on the
measured qubits (every adapter's: the converted circuit equals the framework's only up to Z rotations before the
measurements, which a Z measurement ignores but an X or Y one does not), so the basis change must go through the same
conversion."""

_Slot: TypeAlias = tuple[tuple[np.ndarray, np.ndarray], int, dict[str, Any]]
"""One variant's data: (outcome bit matrix, counts), its basis index, its labels."""


@dataclass
class _Logical:
    circuit: Circuit
    observables: tuple[PauliSum, ...]
    pipeline: Pipeline
    qubits: list[str]  # measured component of each bit
    bases: list[tuple[str, tuple[str, ...]]]
    slots: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)  # (batch index, basis, labels)


class MitigationPlan:
    """The circuits a mitigated batch runs and how their counts become estimates (see the module docstring).

    Attributes:
        circuits: every circuit to submit, in one job.
    """

    def __init__(self, logicals: list[_Logical], circuits: tuple[Circuit, ...], readout_qubits: tuple[str, ...],
                 calibration: Calibration | None) -> None:  # fmt: skip
        self._logicals = logicals
        self.circuits = circuits
        self._readout_qubits = readout_qubits
        self._calibration = calibration

    @classmethod
    def build(
        cls,
        circuits: Sequence[Circuit | CircuitInBasis] | Circuit,
        observables: Sequence[ObservableLike | Sequence[ObservableLike]] | ObservableLike,
        *,
        pipeline: Pipeline | None = None,
        pipelines: Sequence[Pipeline] | None = None,
        calibration: Calibration | None = None,
    ) -> MitigationPlan:
        """Expand a batch into the circuits of one job.

        Args:
            circuits: the logical circuits (native, each ending in the measurements the observables read). A circuit
                may instead be a function from a basis string to the circuit measuring in that basis (see
                :data:`CircuitInBasis`): it is called once per basis the observables need (``"ZZ…"`` first), and
                every circuit it returns must measure the same components in the same order.
            observables: per circuit, one observable or a sequence of them (for a single circuit: its observable(s)).
            pipeline: the pipeline of every circuit (default: readout mitigation from the calibration only).
            pipelines: one pipeline per circuit instead.
            calibration: the calibration the job will run with (needed by folding weights, twirling, dynamical
                decoupling and calibration-based readout mitigation).

        Raises:
            ValidationError: mismatched lengths, both or neither of ``pipeline``/``pipelines`` misused, observables
                that do not fit their circuits, a stage that needs the calibration without one, or more circuits than
                one job holds.
            CircuitError: a circuit cannot take a basis change or a fold.
        """
        if isinstance(circuits, Circuit):
            circuits = [circuits]
            observables = [observables]  # type: ignore[list-item]
        batch = list(circuits)
        if isinstance(observables, PauliSum | str | Mapping):
            raise ValidationError("give one entry of observables per circuit (a list as long as the circuits)")
        specs = list(observables)
        if len(specs) != len(batch):
            raise ValidationError(f"{len(batch)} circuit(s) but {len(specs)} observable entries")
        if pipeline is not None and pipelines is not None:
            raise ValidationError("pass pipeline= (for every circuit) or pipelines= (one per circuit), not both")
        if pipelines is not None:
            chosen = list(pipelines)
            if len(chosen) != len(batch):
                raise ValidationError(f"{len(batch)} circuit(s) but {len(chosen)} pipelines")
        else:
            chosen = [pipeline or DEFAULT_PIPELINE] * len(batch)
        for p in chosen:
            if not isinstance(p, Pipeline):
                raise ValidationError(f"{p!r} is not a Pipeline")
        out: list[Circuit] = []
        logicals: list[_Logical] = []
        readout_qubits: dict[str, None] = {}
        for index, (given, spec, pipe) in enumerate(zip(batch, specs, chosen, strict=True)):
            obs = _sequence_of_observables(spec)
            circuit = given if isinstance(given, Circuit) else _in_basis(given, "Z" * obs[0].width, index)
            qubits = [c for _, c in measured_bits(circuit)]
            for o in obs:
                if o.width != len(qubits):
                    raise ValidationError(f"circuit {circuit.name!r} measures {len(qubits)} bit(s), but an observable "
                                          f"has {o.width}-letter Pauli strings")  # fmt: skip
            if pipe.readout is not None:
                if pipe.readout.source == "measured":
                    readout_qubits.update(dict.fromkeys(qubits))
                elif calibration is None:
                    raise ValidationError("readout mitigation from the calibration needs the calibration")
                else:
                    ReadoutModel.from_calibration(calibration, qubits)  # fail now if a qubit has no figures
            terms = [t for o in obs for t in o.terms]
            logical = _Logical(circuit, obs, pipe, qubits, measurement_bases(terms))
            for b, (basis, _) in enumerate(logical.bases):
                if isinstance(given, Circuit) or set(basis) <= {"Z"}:
                    measuring = with_basis(circuit, basis)
                else:
                    measuring = _in_basis(given, basis, index, qubits)
                variants = [Variant(measuring, {"basis": basis})]
                context = Context(calibration, (index, b))
                for stage in pipe.stages:
                    variants = [Variant(new.circuit, {**v.labels, **new.labels})
                                for v in variants for new in stage.expand(v.circuit, context)]  # fmt: skip
                for v in variants:
                    labels = {"circuit": index, **v.labels}
                    name = f"{circuit.name}|m{index}.{len(logical.slots)}"
                    logical.slots.append((len(out), b, labels))
                    out.append(mark(v.circuit, v.circuit.instructions, name, labels))
            logicals.append(logical)
        ro = tuple(readout_qubits)
        if ro:
            out.extend(readout_calibration_circuits(ro, _READOUT_NAME))
        if len(out) > MAX_CIRCUITS:
            raise ValidationError(f"the mitigated batch has {len(out)} circuits; at most {MAX_CIRCUITS} fit in one "
                                  "job (fewer twirl instances, noise scales or circuits)")  # fmt: skip
        return cls(logicals, tuple(out), ro, calibration)

    def estimate(self, counts: Result | Sequence[Mapping[str, int]], *, job: Job | None = None) -> MitigatedResult:
        """Fold the counts of :attr:`circuits` (in order) back into one estimate per observable.

        Args:
            counts: the job's :class:`~qaas_core.Result`, or the counts of each circuit.
            job: the job, kept on the result.

        Raises:
            ValidationError: counts of another number of circuits, or of other widths; a fit the data do not allow.
        """
        table: list[Mapping[str, int]] = (
            [counts.counts(i) for i in range(len(counts))] if isinstance(counts, Result) else list(counts)
        )
        if len(table) != len(self.circuits):
            raise ValidationError(f"counts of {len(table)} circuit(s) for a plan of {len(self.circuits)}")
        measured: ReadoutModel | None = None
        readout_shots = 0
        if self._readout_qubits:
            zeros, ones = table[-2], table[-1]
            measured = ReadoutModel.from_counts(zeros, ones, self._readout_qubits)
            readout_shots = min(sum(zeros.values()), sum(ones.values()))
        values = tuple(self._estimate_one(lg, table, measured, readout_shots) for lg in self._logicals)
        shots = sum(sum(c.values()) for c in table)
        return MitigatedResult(values, len(self.circuits), shots, job)

    # -- estimation of one logical circuit ---------------------------------------------------------------------

    def _model(self, lg: _Logical, measured: ReadoutModel | None) -> ReadoutModel | None:
        readout = lg.pipeline.readout
        if readout is None:
            return None
        if readout.source == "measured":
            return measured
        if self._calibration is None:  # pragma: no cover - refused when the plan was built
            raise ValidationError("readout mitigation from the calibration needs the calibration")
        return ReadoutModel.from_calibration(self._calibration, lg.qubits)

    def _estimate_one(self, lg: _Logical, table: list[Mapping[str, int]], measured: ReadoutModel | None,
                      readout_shots: int) -> tuple[MitigatedValue, ...]:  # fmt: skip
        width = len(lg.qubits)
        data = [(outcome_matrix(table[index], width), basis, labels) for index, basis, labels in lg.slots]
        model = self._model(lg, measured)
        factors = _PLAIN[None, :].repeat(width, 0) if model is None else model.parity_factors(lg.qubits)
        full = _Evaluation(lg, data, factors, lg.pipeline.extrapolate)
        plain = _Evaluation(lg, data, _PLAIN[None, :].repeat(width, 0), None, lowest_only=True)
        base = {
            "stages": lg.pipeline.labels,
            "circuits": len(lg.slots),
            "shots": int(sum(float(freq.sum()) for (_, freq), _, _ in data)),
            "bases": [b for b, _ in lg.bases],
            "readout": None if lg.pipeline.readout is None else lg.pipeline.readout.source,
        }
        extra_var = np.zeros(len(lg.observables))
        if model is not None and lg.pipeline.readout is not None and lg.pipeline.readout.source == "measured":
            extra_var = _readout_variance(lg, data, model, readout_shots)
        out = []
        for j, obs in enumerate(lg.observables):
            value, var = full.observable(obs)
            raw, raw_var = plain.observable(obs)
            scales, scaled, scaled_err = full.per_scale(obs)
            meta = {**base, "noise_scales": scales, "scaled_values": scaled, "scaled_stderr": scaled_err,
                    MITIGATION_KEY: True}  # fmt: skip
            out.append(MitigatedValue(value, math.sqrt(var + float(extra_var[j])), raw, math.sqrt(raw_var), meta))
        return tuple(out)


def _in_basis(make: CircuitInBasis, basis: str, index: int, qubits: Sequence[str] | None = None) -> Circuit:
    """The circuit ``make`` renders for ``basis``, checked to measure ``qubits`` (when given) in order.

    Raises:
        ValidationError: ``make`` is not callable, returns no circuit, or one that measures other components.
    """
    if not callable(make):
        raise ValidationError(f"circuit {index} is a {type(make).__name__}, not a Circuit or a function of the basis")
    circuit = make(basis)
    if not isinstance(circuit, Circuit):
        raise ValidationError(f"circuit {index}: the basis function returned {type(circuit).__name__}, not a Circuit")
    if qubits is not None and [c for _, c in measured_bits(circuit)] != list(qubits):
        raise ValidationError(f"circuit {index}: the circuit for basis {basis} measures "
                              f"{[c for _, c in measured_bits(circuit)]}, the Z-basis one {list(qubits)}")  # fmt: skip
    return circuit


class _Evaluation:
    """The term estimates of one logical circuit under one set of per-bit readout factors, and their gradients."""

    def __init__(
        self, lg: _Logical, data: list[_Slot], factors: np.ndarray, extrapolate: Extrapolator | None,
        *, lowest_only: bool = False,
    ) -> None:  # fmt: skip
        self.lg = lg
        self.data = data
        keys = sorted({float(labels.get("scale", 1.0)) for _, _, labels in data})
        if lowest_only:
            keys = keys[:1]
        self.keys = keys
        # per slot and term of its basis: the per-outcome estimator and its mean
        self.parity: dict[tuple[int, str], np.ndarray] = {}
        self.mean: dict[tuple[int, str], float] = {}
        for s, ((bits, freq), basis, _labels) in enumerate(data):
            for term in lg.bases[basis][1]:
                r = parity_values(bits, term, factors)
                self.parity[s, term] = r
                self.mean[s, term] = float(freq @ r / freq.sum()) if freq.sum() else math.nan
        # per term: the slots at each noise scale, the averaged values, the extrapolation
        self.term_value: dict[str, float] = {}
        self.grad: dict[str, dict[int, float]] = {}  # term -> slot -> d(term value)/d(slot mean)
        self.scaled: dict[str, list[float]] = {}
        self.slots_at: dict[str, list[list[int]]] = {}
        self.noise: list[float] = []
        noise_at: dict[float, list[float]] = {k: [] for k in keys}
        for _, _, labels in data:
            key = float(labels.get("scale", 1.0))
            if key in noise_at:
                noise_at[key].append(float(labels.get("noise_scale", key)))
        self.noise = [float(np.mean(noise_at[k])) if noise_at[k] else k for k in keys]
        for basis_index, (_, members) in enumerate(lg.bases):
            for term in members:
                groups = [[s for s, (_, b, labels) in enumerate(data)
                           if b == basis_index and float(labels.get("scale", 1.0)) == k] for k in keys]  # fmt: skip
                values = [float(np.mean([self.mean[s, term] for s in g])) for g in groups]
                self.slots_at[term] = groups
                self.scaled[term] = values
                if extrapolate is None:
                    weights = np.array([1.0] + [0.0] * (len(keys) - 1))
                    self.term_value[term] = values[0]
                else:
                    fit = extrapolate.extrapolate(self.noise, values)
                    weights = fit.weights
                    self.term_value[term] = fit.value
                self.grad[term] = {s: float(weights[k]) / len(g) for k, g in enumerate(groups) for s in g}

    def _variance(self, slot_weight: Mapping[int, Mapping[str, float]]) -> float:
        """Shot-noise variance of ``Σ_s Σ_t slot_weight[s][t] · mean(s, t)``."""
        total = 0.0
        for s, per_term in slot_weight.items():
            (_, freq), _, _ = self.data[s]
            n = float(freq.sum())
            if n <= 0:
                continue
            w = np.zeros(len(freq))
            for t, c in per_term.items():
                w += c * self.parity[s, t]
            p = freq / n
            total += float(p @ (w * w) - (p @ w) ** 2) / n
        return total

    def observable(self, obs: PauliSum) -> tuple[float, float]:
        """The estimate of ``obs`` and its shot-noise variance."""
        value = obs.constant + sum(c * self.term_value[t] for t, c in obs.terms.items())
        weights: dict[int, dict[str, float]] = {}
        for t, c in obs.terms.items():
            for s, g in self.grad[t].items():
                weights.setdefault(s, {})[t] = c * g
        return float(value), self._variance(weights)

    def per_scale(self, obs: PauliSum) -> tuple[list[float], list[float], list[float]]:
        """The noise scales and, at each, the twirl-averaged estimate of ``obs`` and its standard error."""
        values, errors = [], []
        for k in range(len(self.keys)):
            values.append(float(obs.constant + sum(c * self.scaled[t][k] for t, c in obs.terms.items())))
            weights: dict[int, dict[str, float]] = {}
            for t, c in obs.terms.items():
                group = self.slots_at[t][k]
                for s in group:
                    weights.setdefault(s, {})[t] = c / len(group)
            errors.append(math.sqrt(self._variance(weights)))
        return list(self.noise), values, errors


def _readout_variance(lg: _Logical, data: list[_Slot],
                      model: ReadoutModel, shots: int) -> np.ndarray:  # fmt: skip
    """Variance each observable's estimate takes from the binomial noise of the measured readout errors."""
    out = np.zeros(len(lg.observables))
    if shots <= 0:
        return out
    for q in dict.fromkeys(lg.qubits):
        for side in (0, 1):
            e = model.errors[q][side]
            h = max(1e-6, 1e-3 * min(e, 1.0 - e)) if 0.0 < e < 1.0 else 1e-6
            shifted = []
            for sign in (1.0, -1.0):
                errors = dict(model.errors)
                pair = list(errors[q])
                pair[side] = min(max(pair[side] + sign * h, 0.0), 0.999)
                errors[q] = (pair[0], pair[1])
                factors = ReadoutModel(errors).parity_factors(lg.qubits)
                ev = _Evaluation(lg, data, factors, lg.pipeline.extrapolate)
                shifted.append(np.array([ev.observable(o)[0] for o in lg.observables]))
            derivative = (shifted[0] - shifted[1]) / (2 * h)
            p = min(max(e, 1.0 / shots), 1.0 - 1.0 / shots)  # a zero count still carries uncertainty
            out += derivative**2 * p * (1.0 - p) / shots
    return out


DEFAULT_PIPELINE: Final = Pipeline([ReadoutMitigation()])
"""What :meth:`MitigationPlan.build` and :func:`~qaas_core.mitigation.run_mitigated` use when no pipeline is given:
readout mitigation from the calibration (no extra circuits)."""
