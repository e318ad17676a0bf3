"""``QaaSEstimator``: Qiskit's EstimatorV2 with the core's error mitigation, on a noisy garnet20 emulator (depolarising
gates, readout errors, T1/T2 while idle; fixed seeds).

The benchmarks of ``tests/mitigation`` written in Qiskit — a 5-qubit GHZ state's parity ⟨X⊗5⟩ (exact 1) and a
4-qubit transverse-field Ising energy (exact from the state vector) — run as two pubs of one ``run``: every basis,
twirl and fold of both in one job. The mitigated estimates must be at least 3× closer to the exact values than the
unmitigated ones of the same job, consistent with them within their error bars, and the same numbers (within
statistical error) as the core gives for the same circuits written natively.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.primitives import BackendSamplerV2, PrimitiveResult
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp

import qaas_core as q
from qaas_core.mitigation import Exponential, Fold, Linear, Pipeline, ReadoutMitigation, Twirl, run_mitigated
from qaas_qiskit import EstimatorOptions, QaaSBackend, QaaSEstimator, QaaSProvider, readout_mitigated
from tests.mitigation.helpers import _ANSATZ, CHAIN4, CHAIN5, ISING, ghz, ising_ansatz
from tests.mitigation.statevector import expectation

SHOTS = 1000
ZNE = {"resilience_level": 2, "twirl_instances": 4, "seed": 0, "default_shots": SHOTS}
"""Twirl(4) + Fold([1, 3, 5]) + ReadoutMitigation(), Richardson: the pipeline of tests/mitigation."""


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QaaSProvider]:
    root = tmp_path_factory.mktemp("noisy")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QAAS_CONFIG", str(root / "no-config.toml"))
        with QaaSProvider.emulator("garnet20", noise=True, seed=11, data_dir=Path(root)) as provider:
            yield provider


@pytest.fixture(scope="module")
def backend(provider: QaaSProvider) -> QaaSBackend:
    return provider.get_backend()


def jobs(backend: QaaSBackend) -> int:
    return len(backend.client.jobs(limit=None))


def ghz5(backend: QaaSBackend) -> tuple[QuantumCircuit, SparsePauliOp]:
    qc = QuantumCircuit(5)
    qc.h(0)
    for i in range(4):
        qc.cx(i, i + 1)
    names = backend.calibration.qubits
    isa = transpile(qc, backend, initial_layout=[names.index(c) for c in CHAIN5], seed_transpiler=1)
    return isa, SparsePauliOp("XXXXX").apply_layout(isa.layout)


def ising(backend: QaaSBackend) -> tuple[QuantumCircuit, SparsePauliOp]:
    """The ansatz of tests/mitigation (RY layers, CZ layers) and H = −Σ ZZ − ½ Σ X (core strings read from the left,
    Qiskit labels from the right)."""
    qc = QuantumCircuit(4)
    for layer in range(3):
        if layer:
            for a, b in ((0, 1), (2, 3), (1, 2)):
                qc.cz(a, b)
        for i in range(4):
            qc.ry(_ANSATZ[4 * layer + i], i)
    names = backend.calibration.qubits
    isa = transpile(qc, backend, initial_layout=[names.index(c) for c in CHAIN4], seed_transpiler=1)
    hamiltonian = SparsePauliOp.from_list([(label[::-1], c) for label, c in ISING.items()])
    return isa, hamiltonian.apply_layout(isa.layout)


EXACT = {
    "ghz": expectation(ghz(), "XXXXX"),
    "ising": sum(c * expectation(ising_ansatz(), t) for t, c in ISING.items()),
}


def test_options_select_the_core_pipeline() -> None:
    labels = {level: EstimatorOptions(resilience_level=level).mitigation().labels for level in (0, 1, 2)}
    assert labels == {
        0: [],
        1: ["readout(calibration)"],
        2: ["fold(global; 1, 3, 5)", "readout(calibration)", "extrapolate(richardson)"],
    }
    options = EstimatorOptions.create(ZNE | {"readout": "measured", "zne_extrapolator": "linear"})
    assert options.mitigation().labels == ["twirl(4)", "fold(global; 1, 3, 5)", "readout(measured)",
                                           "extrapolate(linear)"]  # fmt: skip
    mine = Pipeline([Fold([1, 2]), ReadoutMitigation()], extrapolate=Linear())
    assert EstimatorOptions(pipeline=mine, resilience_level=0).mitigation() is mine  # pipeline= wins
    with pytest.raises(q.ValidationError, match="unknown estimator option"):
        EstimatorOptions.create({"resilience": 2})
    with pytest.raises(q.ValidationError, match="unknown estimator option"):
        options.resilience = 2  # type: ignore[attr-defined]
    for name, bad in [("resilience_level", 3), ("zne_noise_factors", [1]), ("zne_noise_factors", [0.5, 1]),
                      ("zne_extrapolator", "cubic"), ("readout", "tensor"), ("default_precision", 0),
                      ("twirl_instances", -1), ("pipeline", "zne")]:  # fmt: skip
        with pytest.raises(q.ValidationError):
            options.update(**{name: bad})
    assert options.resilience_level == 2  # a refused update changes nothing
    three_parameters = Exponential(asymptote=None)
    with pytest.raises(q.ValidationError, match="needs at least 3"):
        EstimatorOptions(resilience_level=2, zne_noise_factors=(1, 3), zne_extrapolator=three_parameters).mitigation()


def test_ghz_and_ising_mitigated_in_one_job(backend: QaaSBackend) -> None:
    estimator = QaaSEstimator(backend, options=ZNE)
    before = jobs(backend)
    job = estimator.run([ghz5(backend), ising(backend)])
    result = job.result()
    assert jobs(backend) == before + 1  # both pubs, every basis, twirl and fold: one job
    assert job.status() is JobStatus.DONE and job.done() and job.in_final_state()
    assert isinstance(result, PrimitiveResult)
    # GHZ: one basis x 4 twirls x 3 scales; Ising: two bases x 4 x 3
    assert result.metadata["circuits"] == job.qaas_job.report.circuits == 12 + 24
    assert result.metadata["job_id"] == job.job_id() == job.qaas_job.submission_id
    report = {}
    for name, pub in zip(EXACT, result, strict=True):
        truth = EXACT[name]
        value, stderr, raw = float(pub.data.evs), float(pub.data.stds), float(pub.data.raw_evs)
        report[name] = (truth, raw, value, stderr)
        assert pub.metadata["mitigation"]["stages"] == estimator.options.mitigation().labels
        assert pub.metadata["shots"] == SHOTS
        assert abs(value - truth) * 3 <= abs(raw - truth), report
        assert abs(value - truth) < 3 * stderr, report
    print("\n(exact, raw, mitigated, stderr):", report)
    # the same numbers as the core gives for the same benchmarks written natively (another job, same pipeline)
    pipeline = estimator.options.mitigation()
    core = run_mitigated(backend.client, [ghz(), ising_ansatz()], [["XXXXX"], [ISING]], SHOTS, pipeline=pipeline)
    for pub, (native,) in zip(result, core, strict=True):
        spread = math.hypot(float(pub.data.stds), native.stderr)
        assert abs(float(pub.data.evs) - native.value) < 3 * spread, (float(pub.data.evs), native.value, spread)


def test_pub_shapes_bindings_and_bases(backend: QaaSBackend) -> None:
    """A parameter sweep broadcast against two observables, and a Y measurement of a state whose phase the conversion
    keeps in a virtual-Z frame (S after H: ⟨Y⟩ = 1, which the core's own basis change would read as 0)."""
    theta = Parameter("θ")
    sweep = QuantumCircuit(1)
    sweep.ry(theta, 0)
    sweep_isa = transpile(sweep, backend, initial_layout=[3], seed_transpiler=1)
    angles = np.array([0.3, 1.2, 2.5])
    z, x = (SparsePauliOp(p).apply_layout(sweep_isa.layout) for p in "ZX")
    phase = QuantumCircuit(2)
    phase.h(0)
    phase.s(0)
    phase.h(1)
    phase_isa = transpile(phase, backend, initial_layout=[7, 8], seed_transpiler=1)
    observables = [SparsePauliOp(p).apply_layout(phase_isa.layout) for p in ("IY", "XI", "XY", "ZZ")]
    estimator = QaaSEstimator(backend, options={"default_shots": 2000})  # level 1: readout mitigation
    before = jobs(backend)
    result = estimator.run([(sweep_isa, [[z], [x]], angles), (phase_isa, observables)]).result()
    assert jobs(backend) == before + 1
    first, second = result
    assert first.data.evs.shape == first.data.stds.shape == (2, 3)
    expected = np.array([np.cos(angles), np.sin(angles)])
    assert np.all(np.abs(first.data.evs - expected) < 4 * first.data.stds + 0.02), (first.data.evs, expected)
    assert first.metadata["mitigation"]["circuits"] == 3 * 2  # three bindings x two bases
    assert second.data.evs.shape == (4,)
    assert np.all(np.abs(second.data.evs - [1, 1, 1, 0]) < 4 * second.data.stds + 0.03), second.data.evs


def test_invalid_input_is_refused_before_anything_is_sent(backend: QaaSBackend) -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)  # not transpiled: h and cx are not native
    estimator = QaaSEstimator(backend)
    before = jobs(backend)
    with pytest.raises(q.CircuitError):
        estimator.run([(qc, "ZZ")])
    with pytest.raises(q.ValidationError, match="precision"):
        estimator.run([(transpile(qc, backend, seed_transpiler=1), "Z" * 20)], precision=-1.0)
    with pytest.raises(q.ValidationError, match="no pubs"):
        estimator.run([])
    with pytest.raises(q.ValidationError, match="unknown estimator option"):
        QaaSEstimator(backend, options={"resilience": 1})
    assert jobs(backend) == before


def test_readout_only_and_explicit_pipeline(backend: QaaSBackend) -> None:
    """Level 0 is the plain estimate (mitigated = raw), and ``pipeline=`` runs exactly the stages it names."""
    isa, x5 = ghz5(backend)
    plain = QaaSEstimator(backend, options={"resilience_level": 0, "default_shots": SHOTS})
    data = plain.run([(isa, x5)]).result()[0].data
    assert float(data.evs) == float(data.raw_evs)
    pipeline = Pipeline([Twirl(2), Fold([1, 3]), ReadoutMitigation()], extrapolate=Linear())
    custom = QaaSEstimator(backend, options={"pipeline": pipeline, "default_shots": SHOTS})
    pub = custom.run([(isa, x5)]).result()[0]
    names = backend.calibration.qubits
    qubits = sorted(names.index(c) for c in CHAIN5)
    assert pub.metadata["mitigation"] == {"stages": pipeline.labels, "circuits": 4, "qubits": qubits}
    assert abs(float(pub.data.evs) - 1.0) < abs(float(data.evs) - 1.0)


def test_readout_mitigated_sampler_distribution(backend: QaaSBackend) -> None:
    """BackendSamplerV2 counts of a GHZ-3 register through the core's readout inverse: closer to ½|000⟩⟨000| +
    ½|111⟩⟨111| than the raw frequencies (total variation distance), in Qiskit's bitstring order."""
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure([0, 1, 2], [2, 0, 1])  # clbits permuted: the helper follows each clbit to its qubit
    isa = transpile(qc, backend, seed_transpiler=1)
    shots = 4000
    counts = BackendSamplerV2(backend=backend).run([isa], shots=shots).result()[0].data.c
    mitigated = readout_mitigated(counts, isa, backend)
    ideal = {"000": 0.5, "111": 0.5}

    def distance(p: dict[str, float]) -> float:
        return 0.5 * sum(abs(p.get(k, 0.0) - ideal.get(k, 0.0)) for k in {*p, *ideal})

    raw = {k: v / shots for k, v in counts.get_counts().items()}
    assert math.isclose(sum(mitigated.values()), 1.0) and min(mitigated.values()) > 0
    assert distance(mitigated) < distance(raw) / 2, (distance(mitigated), distance(raw))
    assert readout_mitigated(counts.get_counts(), isa, backend, register="c") == mitigated
    with pytest.raises(q.ValidationError, match="no classical register"):
        readout_mitigated(counts, isa, backend, register="meas")
