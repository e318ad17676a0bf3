"""End to end over the embedded emulator (LEXIS + HEAppE + worker + IQM server; noiseless garnet20, one per session).

Statistical checks use a chi-square goodness-of-fit against exact probabilities and fail below p = 1e-4; the
emulator is seeded, so the outcomes are reproducible.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.random import random_circuit
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2, StatevectorSampler
from qiskit.providers import JobStatus
from qiskit.providers.basic_provider import BasicSimulator
from qiskit.quantum_info import SparsePauliOp, Statevector

import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSJob, QaaSProvider
from tests.qiskit.helpers import chi_square_p, exact_counts, same_distribution_p

P_MIN = 1e-4


@pytest.fixture(scope="module")
def provider(garnet_emulator: QaaSProvider) -> QaaSProvider:
    return garnet_emulator


@pytest.fixture(scope="module")
def data_dir(provider: QaaSProvider) -> Path:
    return Path(provider.client.settings.data_dir)


@pytest.fixture(scope="module")
def backend(provider: QaaSProvider) -> QaaSBackend:
    return provider.get_backend()


@pytest.fixture
def requests(provider: QaaSProvider) -> Iterator[list[str]]:
    """Every HTTP request the provider's client sends during the test."""
    seen: list[str] = []

    def hook(request: Any) -> None:
        seen.append(f"{request.method} {request.url.path}")

    hooks = provider.client.http.event_hooks
    hooks["request"] = [*hooks.get("request", []), hook]
    yield seen
    hooks["request"] = [h for h in hooks["request"] if h is not hook]


def _ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(QuantumRegister(n, "q"), ClassicalRegister(n, "c"), name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure(range(n), range(n))
    return qc


def test_provider_and_backend(provider: QaaSProvider, backend: QaaSBackend) -> None:
    assert [b.name for b in provider.backends()] == [backend.name]
    assert provider.get_backend(backend.name) is backend
    assert backend.num_qubits == 20
    assert backend.calibration.device == "garnet20"
    with pytest.raises(q.ConfigurationError, match="no quantum resource"):
        provider.get_backend("nope")


def test_ghz_and_bell_in_one_job(backend: QaaSBackend) -> None:
    circuits = [_ghz(2), _ghz(5)]
    job = backend.run(transpile(circuits, backend, seed_transpiler=1), shots=2000)
    result = job.result(timeout=120)
    assert len(result.results) == 2
    for n, counts in zip((2, 5), result.get_counts(), strict=True):
        assert set(counts) <= {"0" * n, "1" * n}
        assert chi_square_p(counts, {"0" * n: 0.5, "1" * n: 0.5}) > P_MIN


def _scrambled(seed: int) -> QuantumCircuit:
    """A random 4-qubit circuit measured into shuffled clbits of two registers, one clbit left unmeasured."""
    rng = np.random.default_rng(seed)
    body = random_circuit(4, 4, max_operands=2, seed=seed)
    qc = QuantumCircuit(QuantumRegister(4, "q"), ClassicalRegister(3, "lo"), ClassicalRegister(2, "hi"))
    qc.compose(body, range(4), inplace=True)
    clbits = rng.permutation(5)[:4]
    for qubit, clbit in enumerate(clbits):
        qc.measure(qubit, int(clbit))
    return qc


def test_random_circuits_match_exact_probabilities_and_basic_simulator_format(backend: QaaSBackend) -> None:
    circuits = [_scrambled(s) for s in range(3)]
    shots = 3000
    result = backend.run(transpile(circuits, backend, seed_transpiler=2), shots=shots, memory=True).result(120)
    reference = BasicSimulator().run(circuits, shots=shots, seed_simulator=11).result()
    for i, qc in enumerate(circuits):
        counts = result.get_counts(i)
        assert chi_square_p(counts, exact_counts(qc)) > P_MIN, (i, counts)
        assert same_distribution_p(counts, reference.get_counts(i)) > P_MIN, (i, counts)
        mine, theirs = result.results[i].header, reference.results[i].header
        for field in ("creg_sizes", "clbit_labels", "memory_slots", "name"):
            assert mine[field] == theirs[field]
        assert len(result.get_memory(i)) == shots
        assert set(result.get_memory(i)) == set(counts)
        assert all(len(k) == 6 and k[2] == " " for k in counts)  # "hi lo"


def test_mid_circuit_measurement_feedback_reset_and_last_write(backend: QaaSBackend, provider: QaaSProvider) -> None:
    qc = QuantumCircuit(QuantumRegister(4, "q"), ClassicalRegister(3, "c"), ClassicalRegister(2, "d"))
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)  # copies the random bit c[0] into qubit 1
    qc.measure(1, 1)
    qc.x(2)
    qc.measure(2, 2)
    qc.x(2)
    qc.measure(2, 2)  # re-measured: the last write (0) wins
    qc.x(3)
    qc.reset(3)
    qc.measure(3, 3)  # reset: always 0; d[1] is never measured
    tq = transpile(qc, backend, seed_transpiler=3)
    job = backend.run(tq, shots=1000, memory=True)
    counts = job.result(120).get_counts()
    assert set(counts) <= {"00 000", "00 011"}
    assert chi_square_p(counts, {"00 000": 0.5, "00 011": 0.5}) > P_MIN
    request = q.decode_run_request(provider.client.ledger.load_request(job.job_id()) or b"")
    names = [i.name for i in request.circuits[0].instructions]
    assert "cc_prx" in names
    assert "reset" in names


def test_parameter_binds_run_as_one_job(backend: QaaSBackend, provider: QaaSProvider) -> None:
    theta, phi = Parameter("θ"), Parameter("φ")
    qc = QuantumCircuit(2, 2)
    qc.ry(theta, 0)
    qc.rx(phi, 1)
    qc.rz(2 * phi, 1)
    qc.measure([0, 1], [0, 1])
    tq = transpile(qc, backend, seed_transpiler=4)
    values = [0.0, 0.6, 1.4, math.pi / 2, 2.5, math.pi]
    before = len(provider.client.jobs(limit=None))
    shots = 1500
    job = backend.run(tq, parameter_binds=[{theta: values, "φ": values[::-1]}], shots=shots)
    result = job.result(120)
    assert len(provider.client.jobs(limit=None)) == before + 1
    assert len(result.results) == len(values)
    for k, (t, p) in enumerate(zip(values, values[::-1], strict=True)):
        p0, p1 = math.sin(t / 2) ** 2, math.sin(p / 2) ** 2
        exact = {f"{b1}{b0}": (p0 if b0 else 1 - p0) * (p1 if b1 else 1 - p1) for b0 in (0, 1) for b1 in (0, 1)}
        assert chi_square_p(result.get_counts(k), {k_: v for k_, v in exact.items() if v > 1e-12}) > P_MIN


def test_backend_sampler_v2(backend: QaaSBackend) -> None:
    theta = Parameter("θ")
    qc = QuantumCircuit(QuantumRegister(3, "q"), ClassicalRegister(2, "a"), ClassicalRegister(1, "b"))
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.h(2)
    qc.measure(0, 1)
    qc.measure(1, 0)
    qc.measure(2, 2)
    tq = transpile(qc, backend, seed_transpiler=5)
    values = [[0.4], [2.0]]
    shots = 2000
    sampled = BackendSamplerV2(backend=backend).run([(tq, values)], shots=shots).result()[0]
    exact = StatevectorSampler(seed=1).run([(qc, values)], shots=10).result()[0]
    assert sampled.data.a.get_counts(0).keys() <= {"00", "11"}
    for k, (t,) in enumerate(values):
        p = math.sin(t / 2) ** 2
        assert chi_square_p(sampled.data.a.get_counts(k), {"00": 1 - p, "11": p}) > P_MIN
        assert chi_square_p(sampled.data.b.get_counts(k), {"0": 0.5, "1": 0.5}) > P_MIN
    for register in ("a", "b"):  # the same registers, widths and shapes as Qiskit's reference sampler
        mine, theirs = getattr(sampled.data, register), getattr(exact.data, register)
        assert (mine.num_bits, mine.shape) == (theirs.num_bits, theirs.shape)
        assert mine.num_shots == shots


def test_backend_estimator_v2(backend: QaaSBackend) -> None:
    theta = Parameter("θ")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.rx(0.3, 1)
    isa = transpile(qc, backend, seed_transpiler=6)
    observables = [SparsePauliOp(p) for p in ("ZZ", "XX", "IZ", "YI")]
    estimator = BackendEstimatorV2(backend=backend, options={"default_precision": 1 / 60})
    values = [0.7]
    pub = (isa, [o.apply_layout(isa.layout) for o in observables], values)
    result = estimator.run([pub]).result()[0]
    state = Statevector(qc.assign_parameters(values))
    for obs, ev, std in zip(observables, result.data.evs, result.data.stds, strict=True):
        exact = float(np.real(state.expectation_value(obs)))
        assert abs(ev - exact) < 5 * std + 1e-9, (obs, ev, exact, std)


def test_openqasm3_program_and_options_reach_the_request(backend: QaaSBackend, provider: QaaSProvider) -> None:
    source = """
    OPENQASM 3.0;
    include "stdgates.inc";
    qubit[2] q;
    bit[2] c;
    bit d;
    x q[0];
    c[1] = measure q[0];
    d = measure q[1];
    """
    job = backend.run(source, shots=50, heralding_mode="zeros", active_reset_cycles=1)
    assert job.result(120).get_counts() == {"0 10": 50}
    request = q.decode_run_request(provider.client.ledger.load_request(job.job_id()) or b"")
    assert request.options.heralding_mode == "zeros"
    assert request.options.active_reset_cycles == 1


def test_job_handle_metadata_and_options(backend: QaaSBackend) -> None:
    qc = _ghz(2)
    backend.set_options(shots=123)
    try:
        job = backend.run(transpile(qc, backend, seed_transpiler=1))
        result = job.result(120)
    finally:
        backend.set_options(shots=1024)
    assert isinstance(job, QaaSJob)
    assert job.status() == JobStatus.DONE
    assert job.queue_position() is None
    assert result.results[0].shots == 123
    exp = result.results[0]
    assert exp.submission_id == job.job_id() == result.job_id
    assert exp.calibration_set_id == backend.calibration.calibration_set_id
    assert exp.iqm_job_id and exp.iqm_job_id == job.iqm_job_id
    assert exp.heappe_job_id == job.heappe_job_id
    assert exp.timeline and {"status", "timestamp", "source"} <= set(exp.timeline[0])
    with pytest.raises(Exception, match="No memory"):
        result.get_memory()  # memory=False by default, as on Qiskit's simulators


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda b: b.run(_ghz(2)), q.CircuitError),  # not transpiled: h, cx
        (lambda b: b.run(_unbound()), q.CircuitError),
        (lambda b: b.run(QuantumCircuit(25, 1)), q.CircuitError),
        (lambda b: b.run(_native(), shots=0), q.ValidationError),
        (lambda b: b.run(_native(), shots=10**7), q.ValidationError),
        (lambda b: b.run(_native(), heralding="zeros"), q.ValidationError),
        (lambda b: b.run(_native(), heralding_mode="sometimes"), q.ValidationError),
        (lambda b: b.run(_native(), seed_simulator=5), q.ValidationError),
        (lambda b: b.run(_native(), memory="yes"), q.ValidationError),
        (lambda b: b.run(_native(), parameter_binds=[{Parameter("x"): 1.0}]), q.ValidationError),
        (lambda b: b.run("OPENQASM 3.0; qubit q; foo q;"), q.QasmError),
        (lambda b: b.run([]), q.ValidationError),
        (lambda b: b.run([42]), q.ValidationError),
        (lambda b: b.set_options(colour="blue"), q.ValidationError),
    ],
)
def test_bad_input_fails_before_any_http(backend: QaaSBackend, requests: list[str], make: Any, error: type) -> None:
    with pytest.raises(error):
        make(backend)
    assert requests == []


def test_the_request_hook_sees_a_good_run(backend: QaaSBackend, requests: list[str]) -> None:
    # the control for the test above: the same hook does see the HTTP calls of a valid run
    backend.run(_native(), shots=10).result(120)
    assert any(r.startswith("POST") for r in requests)


def _native() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.r(1.0, 0.0, 0)
    qc.measure(0, 0)
    return qc


def _unbound() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.r(Parameter("t"), 0.0, 0)
    qc.measure(0, 0)
    return qc


_RETRIEVE = """
import json, sys
from qaas_qiskit import QaaSProvider
with QaaSProvider(profile="emulator", data_dir=sys.argv[1]) as provider:
    job = provider.retrieve_job(sys.argv[2])
    result = job.result(timeout=120)
    print(json.dumps({
        "job_id": job.job_id(),
        "counts": result.get_counts(),
        "memory": result.get_memory(),
        "creg_sizes": result.results[0].header["creg_sizes"],
        "metadata": result.results[0].header["metadata"],
        "iqm_job_id": result.results[0].iqm_job_id,
    }))
"""


def test_retrieve_job_in_a_new_process(backend: QaaSBackend, provider: QaaSProvider, data_dir: Path) -> None:
    qc = _scrambled(7)
    qc.metadata = {"sample": "A-17"}
    job = backend.run(transpile(qc, backend, seed_transpiler=7), shots=400, memory=True)
    env = {**os.environ, "QAAS_CONFIG": str(data_dir / "no-config.toml")}
    proc = subprocess.run(
        [sys.executable, "-c", _RETRIEVE, str(data_dir), job.job_id()],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout)
    result = job.result(120)
    assert seen["job_id"] == job.job_id()
    assert seen["counts"] == result.get_counts()
    assert seen["memory"] == result.get_memory()
    assert seen["creg_sizes"] == [["lo", 3], ["hi", 2]]
    assert seen["metadata"] == {"sample": "A-17"}
    assert seen["iqm_job_id"] == result.results[0].iqm_job_id
    for key in (job.heappe_job_id, job.iqm_job_id):
        again = provider.retrieve_job(key)
        assert again.job_id() == job.job_id()
        assert again.result().get_counts() == result.get_counts()
