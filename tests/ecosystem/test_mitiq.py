"""mitiq's zero-noise extrapolation on the noisy emulator, written as an outside user writes it, for Qiskit and Cirq.

The circuit is a mirror circuit on three qubits (layers of random X and Z rotations and a CNOT chain, then the
inverse of it all): ideally every qubit ends in ``|0>``, so the mean ``<Z>`` of the three qubits is exactly 1. mitiq
folds it unitarily to noise scale factors 1, 3 and 5 and extrapolates to zero noise (Richardson).

Each executor is mitiq's *batched* kind (``Sequence[circuit] -> list[float]``), so mitiq hands it every folded
circuit of one expectation value at once, and it sends them as one qaas job: ``QaaSBackend.run`` of a list
(transpiled at ``optimization_level=0``, which translates gate by gate: higher levels cancel the folded ``CX·CX``
pairs) and ``QaaSSampler.run_batch`` with ``compile="faithful"`` (the default mode resynthesises and merges them).

Checked per framework, from the job ledger (what was sent) and the results:

* one executor call and one job of three circuits per expectation value;
* the folding reaches the QPU: the three circuits carry 8, 24 and 40 CZs;
* the noise grows with the scale factor, and the mitigated value is much closer to 1 than the unmitigated one
  (the scale-1 value of the same job); what remains is the readout error, which folding does not amplify, so the
  mitigated value lands near the readout-limited value the calibration predicts for the measured qubits.

The emulator (``qaas_emulator`` fixture of qaas-core's pytest plugin, garnet20 with its calibrated noise) and mitiq's
random folding have fixed seeds, so every run gives the same numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import cirq
import mitiq
import numpy as np
import pytest
from mitiq import zne
from mitiq.zne.scaling import fold_gates_at_random, fold_global
from qiskit import QuantumCircuit, transpile

import qaas_core as q
from qaas_cirq import QaaSSampler
from qaas_qiskit import QaaSProvider

SCALE_FACTORS = (1.0, 3.0, 5.0)
SHOTS = 10_000
WIDTH, DEPTH = 3, 2  # 2 CNOTs a layer, mirrored: 8 CNOTs unfolded
EXACT = 1.0  # mean <Z> of the mirror circuit's |000> output


@pytest.fixture
def qaas_emulator_settings() -> dict[str, Any]:
    """The plugin's emulator, with the calibration's noise (depolarising gates, readout errors) and a fixed seed."""
    return {"device": "garnet20", "noise": True, "seed": 20261204}


def layers(seed: int) -> list[tuple[list[tuple[float, float]], list[tuple[int, int]]]]:
    """The first half of the mirror circuit: per layer, (rx, rz) angles per qubit and the CNOT chain."""
    rng = np.random.default_rng(seed)
    chain = [(i, i + 1) for i in range(WIDTH - 1)]
    return [([(float(a), float(b)) for a, b in rng.uniform(-math.pi, math.pi, (WIDTH, 2))], chain)
            for _ in range(DEPTH)]  # fmt: skip


def qiskit_mirror(seed: int) -> QuantumCircuit:
    half = QuantumCircuit(WIDTH)
    for angles, chain in layers(seed):
        for qubit, (a, b) in enumerate(angles):
            half.rx(a, qubit)
            half.rz(b, qubit)
        for c, t in chain:
            half.cx(c, t)
    return half.compose(half.inverse())


def cirq_mirror(seed: int) -> cirq.Circuit:
    qubits = cirq.LineQubit.range(WIDTH)
    half = cirq.Circuit()
    for angles, chain in layers(seed):
        for qubit, (a, b) in zip(qubits, angles, strict=True):
            half.append([cirq.rx(a)(qubit), cirq.rz(b)(qubit)])
        half.append(cirq.CNOT(qubits[c], qubits[t]) for c, t in chain)
    return half + cirq.inverse(half)


def mean_z(bits: np.ndarray) -> float:
    """Mean over qubits of <Z> from a (shots, qubits) array of bits."""
    return float(np.mean(1 - 2 * bits.astype(float)))


def bits_of(counts: dict[str, int]) -> np.ndarray:
    return np.array([[int(b) for b in key.replace(" ", "")] for key, n in counts.items() for _ in range(n)])


def sent(client: q.QaasClient, submission_id: str) -> list[q.Circuit]:
    """The circuits of a job as the ledger stored its request (what went to the QPU)."""
    return list(q.decode_run_request(client.ledger.load_request(submission_id) or b"").circuits)


def cz_count(circuit: q.Circuit) -> int:
    return sum(1 for inst in circuit.instructions if inst.name == "cz")


def readout_limited(client: q.QaasClient, circuit: q.Circuit) -> float:
    """Mean <Z> of |0...0> read out by the measured qubits: 1 - 2 P(read 1 | 0), averaged (no gate errors)."""
    errors = client.calibration().metrics.readout_error
    measured = [c for inst in circuit.instructions if inst.name == "measure" for c in inst.locus]
    return float(np.mean([1 - 2 * errors[c][0] for c in measured]))


def check_zne(
    client: q.QaasClient, factory: zne.inference.Factory, mitigated: float, calls: list[str], jobs_before: int
) -> None:
    """The checks of the module docstring, for the one job the executor submitted."""
    (submission_id,) = calls  # one executor call for the three scale factors
    assert len(client.jobs(limit=None)) == jobs_before + 1
    circuits = sent(client, submission_id)
    assert [cz_count(c) for c in circuits] == [8 * int(s) for s in SCALE_FACTORS]
    values = list(factory.get_expectation_values())
    assert values == sorted(values, reverse=True) and values[0] - values[-1] > 0.1  # folding amplified the noise
    raw = values[0]
    floor = readout_limited(client, circuits[0])
    numbers = f"raw {raw:.4f}, mitigated {mitigated:.4f}, readout-limited {floor:.4f}, exact {EXACT}"
    assert abs(mitigated - EXACT) < 0.7 * abs(raw - EXACT), numbers
    assert abs(mitigated - floor) < 0.5 * abs(raw - floor), numbers  # most gate error gone; the readout error stays


def test_zne_with_a_qiskit_executor_is_one_job_per_expectation(qaas_emulator: q.QaasClient) -> None:
    backend = QaaSProvider(client=qaas_emulator).get_backend()
    layout = [backend.calibration.qubits.index(name) for name in ("QB1", "QB2", "QB5")]  # a path: QB1-QB2-QB5
    calls: list[str] = []

    def executor(circuits: Sequence[QuantumCircuit]) -> list[float]:
        isa = []
        for circuit in circuits:
            measured = circuit.copy()
            measured.measure_all()
            isa.append(transpile(measured, backend, optimization_level=0, initial_layout=layout))
        job = backend.run(isa, shots=SHOTS)
        calls.append(job.job_id())
        result = job.result()
        return [mean_z(bits_of(result.get_counts(i))) for i in range(len(isa))]

    factory = zne.RichardsonFactory(list(SCALE_FACTORS))
    before = len(qaas_emulator.jobs(limit=None))
    mitigated = zne.execute_with_zne(qiskit_mirror(5), executor, factory=factory, scale_noise=fold_global)
    check_zne(qaas_emulator, factory, mitigated, calls, before)


def test_zne_with_a_cirq_executor_compiling_faithfully_is_one_job_per_expectation(
    qaas_emulator: q.QaasClient,
) -> None:
    sampler = QaaSSampler(qaas_emulator, compile="faithful")
    calls: list[str] = []

    def executor(circuits: Sequence[cirq.Circuit]) -> list[float]:
        measured = [c + cirq.measure(*sorted(c.all_qubits()), key="z") for c in circuits]
        results = sampler.run_batch(measured, repetitions=SHOTS)
        calls.extend({r[0].metadata.submission_id for r in results})  # type: ignore[attr-defined]
        return [mean_z(r[0].measurements["z"]) for r in results]

    factory = zne.RichardsonFactory(list(SCALE_FACTORS))
    before = len(qaas_emulator.jobs(limit=None))
    scale = functools.partial(fold_gates_at_random, seed=3)
    mitigated = zne.execute_with_zne(cirq_mirror(5), executor, factory=factory, scale_noise=scale)
    check_zne(qaas_emulator, factory, mitigated, calls, before)


def test_mitiq_executor_max_batch_size_decides_the_jobs_per_expectation(qaas_emulator: q.QaasClient) -> None:
    """``mitiq.Executor(execute, max_batch_size=n)`` hands the executor at most ``n`` circuits a call: with ``n`` at
    least the number of scale factors every expectation is one job, expectation after expectation; below it, one
    expectation takes several jobs."""
    sampler = QaaSSampler(qaas_emulator, compile="faithful")

    def execute(circuits: Sequence[cirq.Circuit]) -> list[float]:
        measured = [c + cirq.measure(*sorted(c.all_qubits()), key="z") for c in circuits]
        return [mean_z(r[0].measurements["z"]) for r in sampler.run_batch(measured, repetitions=500)]

    for max_batch_size, jobs in ((len(SCALE_FACTORS), 1), (2, 2)):
        executor = mitiq.Executor(execute, max_batch_size=max_batch_size)
        assert executor.can_batch
        for _ in range(2):
            before = len(qaas_emulator.jobs(limit=None))
            factory = zne.RichardsonFactory(list(SCALE_FACTORS))
            zne.execute_with_zne(cirq_mirror(5), executor, factory=factory, scale_noise=fold_global)
            assert len(qaas_emulator.jobs(limit=None)) - before == jobs
        assert executor.calls_to_executor == 2 * jobs
