"""QaaSSampler(compile=...) runs code written for any cirq.Sampler: cirq.experiments on the noisy emulator.

The emulator's noise comes from the garnet20 calibration (see ``qaas_core.emulator._simulator``): after every gate a
depolarising channel of the calibrated average fidelity F — Pauli error 1.5·(1 − F) for a ``prx``, 1.25·(1 − F) for
a ``cz`` —, T1/T2 decay on idle qubits and during delays, readout errors. So the fits have a reference:

* randomized benchmarking: the Pauli error per Clifford, ``(1 − 1/d²)(1 − p)`` from the decay ``A·p^m + B`` of the
  survival probability, against the calibrated Pauli errors of the native gates the jobs actually played (read back
  from the ledger), summed and divided by the number of Cliffords. ``p`` comes from a fit with ``B = 1/d`` (a fully
  depolarised register reads all zeros with probability 1/d, readout errors or not): Cirq's own fit leaves ``B``
  free, which short sequences do not pin down (it lands anywhere from 0.6x to 1.1x of the truth, seed by seed);
* T1 decay: the fitted constant against the calibrated T1.

Seeds are fixed (the emulator's, the RB generators'), so the numbers are the same on every run; the bounds are wide
enough for any seed (the fits land within ~20 % of the reference).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import cirq
import numpy as np
import pytest

import qaas_core as q
from qaas_cirq import ConversionError, QaaSResult, QaaSSampler

QB = {n: cirq.NamedQubit(f"QB{n}") for n in range(1, 21)}


@pytest.fixture(scope="module")
def sampler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QaaSSampler]:
    """A noisy garnet20 that compiles gate by gate and takes circuits longer than T2 (decay experiments need them)."""
    with QaaSSampler.emulator(
        "garnet20",
        noise=True,
        seed=2024,
        compile="faithful",
        options={"max_circuit_duration_over_t2": 0.0},
        data_dir=tmp_path_factory.mktemp("experiments"),
        timeout=300,
    ) as started:
        _ = started.device  # the first job starts the emulator's worker
        yield started


def submissions(sampler: QaaSSampler) -> set[str]:
    return {entry.submission_id for entry in sampler.client.jobs(limit=None)}


def played(sampler: QaaSSampler, ids: set[str]) -> list[q.Circuit]:
    """The native circuits the jobs ``ids`` sent, as the ledger stored them."""
    out: list[q.Circuit] = []
    for submission in sorted(ids):
        request = sampler.client.retrieve(submission).request()
        assert request is not None
        out += request.circuits
    return out


def pauli_error(calibration: q.Calibration, circuits: list[q.Circuit]) -> float:
    """Sum of the calibrated Pauli errors of every gate in ``circuits`` (readout left out: RB fits absorb it)."""
    total = 0.0
    for circuit in circuits:
        for inst in circuit.instructions:
            if inst.name in ("prx", "cz"):
                fidelity = calibration.fidelity(inst.name, inst.locus)
                assert fidelity is not None
                total += (1.5 if inst.name == "prx" else 1.25) * (1.0 - fidelity)
    return total


def decay(data: list[tuple[int, float]], d: int) -> float:
    """``p`` of ``survival = A·p^m + 1/d``: a least-squares line through ``log(survival − 1/d)``."""
    m = np.array([length for length, _ in data], dtype=float)
    y = np.log(np.array([survival for _, survival in data]) - 1 / d)
    return float(np.exp(np.polyfit(m, y, 1)[0]))


def cz_counts(sampler: QaaSSampler, ids: set[str]) -> list[int]:
    return [sum(i.name == "cz" for i in c.instructions) for c in played(sampler, ids)]


def folded(n: int) -> cirq.Circuit:
    """A CNOT folded to n = 1, 3, 5 … gates on line qubits (not device qubits: the sampler routes)."""
    a, b = cirq.LineQubit.range(2)
    return cirq.Circuit(cirq.H(a), [cirq.CNOT(a, b) ** (-1) ** k for k in range(n)], cirq.measure(a, b, key="m"))


def test_the_compile_mode_decides_what_is_played(sampler: QaaSSampler) -> None:
    default = QaaSSampler(sampler.client, compile="default")
    assert (sampler.compile_mode, default.compile_mode, QaaSSampler(sampler.client).compile_mode) == (
        "faithful",
        "default",
        None,
    )
    before = submissions(sampler)
    [[r1], [r3], [r5]] = sampler.run_batch([folded(1), folded(3), folded(5)], repetitions=200)
    faithful_ids = submissions(sampler) - before
    assert len(faithful_ids) == 1  # one job for the batch
    assert cz_counts(sampler, faithful_ids) == [1, 3, 5]
    before = submissions(sampler)
    default.run_batch([folded(1), folded(3), folded(5)], repetitions=200)
    assert cz_counts(sampler, submissions(sampler) - before) == [1, 1, 1]
    for result in (r1, r3, r5):  # a Bell pair: 00 and 11, plus noise
        counts = result.histogram(key="m")
        assert counts[0] + counts[3] > 170
    # a CompiledCircuit is played as compiled, whatever the sampler's mode; async takes the same path
    before = submissions(sampler)
    compiled = sampler.device.compile(folded(5))  # default mode: one CZ
    sampler.run(compiled.circuit, repetitions=10)
    asyncio.run(sampler.run_async(folded(3), repetitions=10))
    counts = cz_counts(sampler, submissions(sampler) - before)
    assert sorted(counts) == [1, 3]


def test_without_compile_non_native_circuits_are_refused(sampler: QaaSSampler, tmp_path: Path) -> None:
    plain = QaaSSampler(sampler.client)
    np.random.seed(1)  # cirq's two-qubit RB draws from numpy's global generator
    with pytest.raises(ConversionError, match="not a native IQM operation"):
        cirq.experiments.two_qubit_randomized_benchmarking(
            plain, QB[1], QB[2], num_clifford_range=[2], num_circuits=1, repetitions=10
        )
    with pytest.raises(q.ValidationError, match="ambiguous"):
        QaaSSampler(sampler.client, compile=True)  # type: ignore[arg-type]
    with pytest.raises(q.ValidationError, match="unknown compile mode 'fast'"):
        QaaSSampler(sampler.client, compile="fast")  # type: ignore[arg-type]
    with pytest.raises(q.ValidationError, match="unknown compile mode"):
        QaaSSampler.emulator("garnet20", compile="resynthesize", data_dir=tmp_path)  # type: ignore[arg-type]


def test_single_qubit_randomized_benchmarking(sampler: QaaSSampler) -> None:
    qubit = QB[6]  # the worst prx of garnet20 (F = 0.99808): a clear decay over a few hundred Cliffords
    lengths, circuits = (1, 25, 75, 150, 300), 6
    parameters = cirq.experiments.RBParameters(num_clifford_range=lengths, num_circuits=circuits, repetitions=400)
    before = submissions(sampler)
    result = cirq.experiments.single_qubit_rb(sampler, qubit, parameters, rng_or_seed=7)
    new = submissions(sampler) - before
    assert len(new) == 1  # run_batch of all 30 circuits: one job
    survival = [p for _, p in result.data]
    assert survival[0] > 0.9 and survival[-1] < survival[0] - 0.1  # it decays
    fitted = 0.75 * (1 - decay(result.data, 2))  # (1 - 1/d²)(1 - p), d = 2
    cliffords = circuits * sum(m + 1 for m in lengths)  # each circuit: m random Cliffords and their inverse
    expected = pauli_error(sampler.device.calibration, played(sampler, new)) / cliffords
    print(f"1q RB on QB6: Pauli error per Clifford {fitted:.3e} (Cirq's free fit {result.pauli_error():.3e}), "
          f"calibration predicts {expected:.3e}")  # fmt: skip
    assert 0.75 * expected < fitted < 1.35 * expected


def test_two_qubit_randomized_benchmarking_in_one_session(sampler: QaaSSampler) -> None:
    lengths, circuits = (1, 10, 25, 50), 6
    np.random.seed(11)  # cirq's two-qubit RB draws from numpy's global generator
    before = submissions(sampler)
    with sampler.session():  # one sampler.run per circuit: 24 batches, one HEAppE job
        result = cirq.experiments.two_qubit_randomized_benchmarking(
            sampler, QB[1], QB[2], num_clifford_range=lengths, num_circuits=circuits, repetitions=300
        )
    new = submissions(sampler) - before
    assert len(new) == len(lengths) * circuits
    heappe_jobs = {entry.heappe_job_id for entry in sampler.client.jobs(limit=None) if entry.submission_id in new}
    assert len(heappe_jobs) == 1
    survival = [p for _, p in result.data]
    assert survival[0] > 0.85 and survival[-1] < survival[0] - 0.3
    fitted = (1 - 1 / 16) * (1 - decay(result.data, 4))  # d = 4
    cliffords = circuits * sum(m + 1 for m in lengths)
    expected = pauli_error(sampler.device.calibration, played(sampler, new)) / cliffords
    free = 15 / 16 * (1 - result._fit_exponential()[0][2])
    print(f"2q RB on QB1-QB2: Pauli error per Clifford {fitted:.3e} (Cirq's free fit {free:.3e}), "
          f"gate errors alone predict {expected:.3e}")  # fmt: skip
    # idle qubits dephase (T2 ≈ 10 µs) while the other one is pulsed: the fit exceeds the gates' share a little
    assert 0.85 * expected < fitted < 1.6 * expected


def test_t1_decay(sampler: QaaSSampler) -> None:
    qubit = QB[4]  # the shortest T1 of garnet20
    t1 = sampler.device.calibration.metrics.t1["QB4"]
    before = submissions(sampler)
    result = cirq.experiments.t1_decay(
        sampler,
        qubit=qubit,
        num_points=20,
        max_delay=cirq.Duration(nanos=5 * t1 * 1e9),
        min_delay=cirq.Duration(nanos=50),
        repetitions=1000,
    )
    assert len(submissions(sampler) - before) == 1  # the sweep is one job
    fitted = result.constant * 1e-9
    print(f"T1 of QB4: fitted {fitted * 1e6:.2f} µs, calibration {t1 * 1e6:.2f} µs")
    assert 0.7 * t1 < fitted < 1.3 * t1


def test_live_results_round_trip_through_cirq_json(sampler: QaaSSampler) -> None:
    [result] = sampler.run_sweep(folded(3), params=None, repetitions=50)
    assert isinstance(result, QaaSResult)
    back = cirq.read_json(json_text=cirq.to_json(result))
    assert back == result and back.metadata == result.metadata
    assert back.metadata.iqm_job_id is not None and back.metadata.heappe_job_id is not None
