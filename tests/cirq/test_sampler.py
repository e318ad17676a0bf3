"""QaaSSampler end to end on the embedded emulator (noiseless, fixed seeds): LEXIS + HEAppE + worker + IQM server.

Most tests use a garnet20 (square lattice) sampler; the last one a deneb6 (resonator star) sampler that warms up in
the background meanwhile (each emulator's first job waits for its worker service to start).

Statistical checks use Pearson chi-square tests at significance 1e-3 with fixed seeds (the emulator's and Cirq's),
so they are deterministic; a wrong bit order, key mapping or angle convention fails them by a wide margin.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cirq
import numpy as np
import pytest
import sympy
from scipy import stats

import qaas_core as q
from qaas_cirq import ConversionError, MoveGate, QaaSResult, QaaSSampler

ALPHA = 1e-3
QB = {n: cirq.NamedQubit(f"QB{n}") for n in range(1, 21)}
THETA = sympy.Symbol("theta")


def _start(device: str, seed: int, data_dir: Path) -> QaaSSampler:
    sampler = QaaSSampler.emulator(device, noise=False, seed=seed, data_dir=data_dir, timeout=120)
    try:
        sampler.device  # noqa: B018 (fetching the calibration is the emulator's first job: it warms the worker up)
    except BaseException:
        sampler.close()
        raise
    return sampler


@pytest.fixture(scope="module")
def samplers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[QaaSSampler]]]:
    """The garnet20 sampler most tests use, and a deneb6 (resonator star) one warming up meanwhile."""
    with ThreadPoolExecutor(2) as pool:
        started = {
            "garnet20": pool.submit(_start, "garnet20", 11, tmp_path_factory.mktemp("garnet")),
            "deneb6": pool.submit(_start, "deneb6", 3, tmp_path_factory.mktemp("deneb")),
        }
        try:
            yield started
        finally:
            for future in started.values():
                if future.exception() is None:
                    future.result().close()


@pytest.fixture
def sampler(samplers: dict[str, Future[QaaSSampler]]) -> QaaSSampler:
    return samplers["garnet20"].result(timeout=300)


@pytest.fixture
def star(samplers: dict[str, Future[QaaSSampler]]) -> QaaSSampler:
    return samplers["deneb6"].result(timeout=300)


def job_count(sampler: QaaSSampler) -> int:
    return len(sampler.client.jobs(limit=None))


def bell(sampler: QaaSSampler) -> cirq.Circuit:
    a, b = cirq.LineQubit.range(2)
    return sampler.device.compile(cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key="bell"))).circuit


def test_bell_state(sampler: QaaSSampler) -> None:
    a, b = cirq.LineQubit.range(2)
    compiled = sampler.device.compile(cirq.Circuit(cirq.H(a), cirq.CNOT(a, b), cirq.measure(a, b, key="bell")))
    result = sampler.run(compiled, repetitions=300)  # a CompiledCircuit is accepted as is
    assert isinstance(result, QaaSResult) and result.repetitions == 300
    assert result.measurements["bell"].shape == (300, 2) and result.measurements["bell"].dtype == np.int8
    assert set(result.histogram(key="bell")) == {0, 3}
    meta = result.metadata
    assert meta.calibration_set_id == sampler.device.calibration_set_id
    assert meta.iqm_job_id and isinstance(meta.heappe_job_id, int) and meta.circuit_name == "cirq-0-0"
    assert sampler.client.ledger.get(meta.submission_id).state == "completed"
    assert result.params == cirq.ParamResolver({})


def test_a_sweep_of_100_resolvers_is_one_job(sampler: QaaSSampler) -> None:
    circuit = cirq.Circuit(
        cirq.rx(THETA)(QB[1]), cirq.ry(THETA / 2)(QB[2]), cirq.measure(QB[1], key="a"), cirq.measure(QB[2], key="b")
    )
    before = job_count(sampler)
    results = sampler.run_sweep(circuit, cirq.Linspace("theta", 0, math.pi, 100), repetitions=64)
    assert job_count(sampler) == before + 1
    assert len(results) == 100 and len({r.metadata.submission_id for r in results}) == 1  # type: ignore[attr-defined]
    assert sampler.client.ledger.get(results[0].metadata.submission_id).circuits == 100  # type: ignore[attr-defined]
    assert [r.params.value_of("theta") for r in results[:2]] == [0.0, pytest.approx(math.pi / 99)]
    assert results[0].measurements["a"].sum() == 0 and results[-1].measurements["a"].min() == 1  # θ = 0 and π
    ones = sum(int(r.measurements["a"].sum()) for r in results)
    expected = sum(64 * math.sin(t / 2) ** 2 for t in np.linspace(0, math.pi, 100))
    assert abs(ones - expected) < 4 * math.sqrt(64 * 100 * 0.25)


def test_run_batch_is_one_job_per_repetition_count(sampler: QaaSSampler) -> None:
    line = cirq.LineQubit.range(5)
    ghz = cirq.Circuit(cirq.H(line[0]), [cirq.CNOT(line[i], line[i + 1]) for i in range(4)],
                       cirq.measure(*line, key="ghz"))  # fmt: skip
    ghz = sampler.device.compile(ghz).circuit
    swept = cirq.Circuit(cirq.rx(THETA)(QB[3]), cirq.measure(QB[3], key="s"))
    before = job_count(sampler)
    results = sampler.run_batch([ghz, swept, bell(sampler)], [None, cirq.Points("theta", [0.0, math.pi, 0.0]), None],
                                repetitions=200)  # fmt: skip
    assert job_count(sampler) == before + 1
    assert [len(r) for r in results] == [1, 3, 1]
    assert set(results[0][0].histogram(key="ghz")) == {0, 31}
    assert [int(r.measurements["s"].sum()) for r in results[1]] == [0, 200, 0]
    assert set(results[2][0].histogram(key="bell")) == {0, 3}
    mixed = sampler.run_batch([swept, bell(sampler), swept], [{"theta": math.pi}, None, {"theta": 0.0}],
                              repetitions=[50, 30, 50])  # fmt: skip
    assert job_count(sampler) == before + 3
    assert [r[0].repetitions for r in mixed] == [50, 30, 50]
    assert mixed[0][0].measurements["s"].min() == 1 and mixed[2][0].measurements["s"].max() == 0


def test_mid_circuit_measurement_and_classical_control(sampler: QaaSSampler) -> None:
    q1, q2 = QB[1], QB[2]
    circuit = cirq.Circuit(
        cirq.ry(math.pi / 2)(q1),
        cirq.measure(q1, key="k"),
        cirq.X(q2).with_classical_controls("k"),
        cirq.measure(q1, q2, key="m"),
        cirq.ResetChannel()(q1),
        cirq.measure(q1, key="r"),
        cirq.X(q1),
        cirq.measure(q1, key="r"),
    )
    reps = 2000
    ours = sampler.run(circuit, repetitions=reps)
    k, m = ours.records["k"][:, 0, 0], ours.records["m"][:, 0, :]
    assert (m[:, 0] == k).all() and (m[:, 1] == k).all() and 0 < k.sum() < reps
    assert ours.records["r"].shape == (reps, 2, 1)
    assert ours.records["r"][:, 0, 0].max() == 0 and ours.records["r"][:, 1, 0].min() == 1
    reference = cirq.Simulator(seed=5).run(circuit, repetitions=reps)
    table = [[int(k.sum()), reps - int(k.sum())], [int(reference.records["k"].sum()),
                                                    reps - int(reference.records["k"].sum())]]  # fmt: skip
    assert stats.chi2_contingency(table).pvalue > ALPHA


def _marginal(state: np.ndarray, order: list[cirq.Qid], qubits: list[cirq.Qid]) -> np.ndarray:
    probs = np.abs(state.astype(np.complex128)) ** 2
    probs = (probs / probs.sum()).reshape([2] * len(order))
    keep = [order.index(x) for x in qubits]
    drop = tuple(i for i in range(len(order)) if i not in keep)
    return np.transpose(probs.sum(axis=drop), np.argsort(np.argsort(keep))).reshape(-1)


def test_noiseless_results_follow_the_cirq_simulator_distribution(sampler: QaaSSampler) -> None:
    a, b, c = cirq.LineQubit.range(3)
    body = cirq.Circuit(cirq.ry(0.4)(a), cirq.ry(1.3)(b), cirq.CNOT(a, c), cirq.ry(2.1)(c), cirq.CZ(b, c),
                        cirq.rx(0.7)(b), cirq.T(c), cirq.H(c))  # fmt: skip
    circuit = body + cirq.Circuit(cirq.measure(c, a, key="x"), cirq.measure(b, key="y"))
    reps = 4000
    result = sampler.run(sampler.device.compile(circuit), repetitions=reps)
    order = [a, b, c]
    state = cirq.final_state_vector(body, qubit_order=order)
    for key, qubits in (("x", [c, a]), ("y", [b])):
        expected = _marginal(state, order, qubits)
        observed = np.bincount([cirq.big_endian_bits_to_int(row) for row in result.measurements[key]],
                               minlength=len(expected))  # fmt: skip
        assert stats.chisquare(observed, expected * reps).pvalue > ALPHA, key
    joint = _marginal(state, order, [c, a, b])
    bits = np.concatenate([result.measurements["x"], result.measurements["y"]], axis=1)
    observed = np.bincount([cirq.big_endian_bits_to_int(row) for row in bits], minlength=8)
    assert stats.chisquare(observed, joint * reps).pvalue > ALPHA
    swapped = np.bincount([cirq.big_endian_bits_to_int(row[::-1]) for row in result.measurements["x"]], minlength=4)
    assert stats.chisquare(swapped, _marginal(state, order, [c, a]) * reps).pvalue < ALPHA  # the test can fail


def test_async_api(sampler: QaaSSampler) -> None:
    swept = cirq.Circuit(cirq.rx(THETA)(QB[4]), cirq.measure(QB[4], key="s"))
    circuit = bell(sampler)

    async def main() -> tuple[cirq.Result, list[cirq.Result], list[list[cirq.Result]]]:
        one, sweep, batch = await asyncio.gather(
            sampler.run_async(circuit, repetitions=100),
            sampler.run_sweep_async(swept, cirq.Points("theta", [math.pi, 0.0]), repetitions=20),
            sampler.run_batch_async([circuit, swept], [None, {"theta": math.pi}], repetitions=[30, 40]),
        )
        return one, list(sweep), [list(r) for r in batch]

    before = job_count(sampler)
    one, sweep, batch = asyncio.run(main())
    assert job_count(sampler) == before + 4
    assert set(one.histogram(key="bell")) == {0, 3}
    assert [int(r.measurements["s"].sum()) for r in sweep] == [20, 0]
    assert batch[0][0].repetitions == 30 and batch[1][0].measurements["s"].tolist() == [[1]] * 40
    again = asyncio.run(sampler.run_async(swept, {"theta": math.pi}, repetitions=5))  # a new loop works too
    assert again.measurements["s"].tolist() == [[1]] * 5


RETRIEVE = """
import json, sys
import qaas_cirq
sampler = qaas_cirq.QaaSSampler(profile="emulator", data_dir=sys.argv[1])
job = sampler.retrieve(sys.argv[2])
rows = [{"theta": r.params.value_of("theta"), "a": r.measurements["a"].tolist(), "sid": r.metadata.submission_id}
        for r in job.result(timeout=120)]
print(json.dumps(rows))
"""


def test_submit_returns_a_handle_that_another_process_can_retrieve(sampler: QaaSSampler) -> None:
    circuit = cirq.Circuit(cirq.rx(THETA)(QB[5]), cirq.measure(QB[5], key="a"))
    job = sampler.submit(circuit, cirq.Points("theta", [0.0, math.pi, 1.0]), repetitions=40)
    assert job.circuits == 3 and job.status() in {"uploaded", "queued", "running", "qpu_queued", "qpu_processing",
                                                  "completed"}  # fmt: skip
    data_dir = str(sampler.client.settings.data_dir)
    child = subprocess.run([sys.executable, "-c", RETRIEVE, data_dir, job.job_id], capture_output=True, text=True,
                           timeout=180)  # fmt: skip
    assert child.returncode == 0, child.stderr
    theirs = json.loads(child.stdout)
    ours = job.result(timeout=120)
    assert [(r.params.value_of("theta"), r.measurements["a"].tolist()) for r in ours] == [
        (t["theta"], t["a"]) for t in theirs
    ]
    assert {t["sid"] for t in theirs} == {job.job_id} and ours[1].measurements["a"].min() == 1
    for key in (job.heappe_job_id, job.iqm_job_id):
        assert key is not None
        again = sampler.retrieve(key)
        assert again.job_id == job.job_id and [r == s for r, s in zip(again.result(), ours, strict=True)] == [True] * 3
    assert sampler.retrieve(job.job_id).batch_result()[0][2] == ours[2]
    with pytest.raises(q.JobNotFoundError):
        sampler.retrieve("no-such-job")
    foreign = sampler.client.submit(q.Circuit("raw", (q.measure("QB1", key="m"),)), 10)
    with pytest.raises(q.PayloadError, match="sent by qaas-cirq"):
        sampler.retrieve(foreign.submission_id)


def test_invalid_input_fails_before_anything_is_sent(sampler: QaaSSampler) -> None:
    before = job_count(sampler)
    qb1, qb20 = QB[1], QB[20]
    cases: list[tuple[cirq.Circuit, str]] = [
        (cirq.Circuit(cirq.H(qb1), cirq.measure(qb1, key="m")), "compile"),
        (cirq.Circuit(cirq.rx(THETA)(qb1), cirq.measure(qb1, key="m")), "theta"),
        (cirq.Circuit(cirq.measure(qb1, key="m", invert_mask=(True,))), "invert mask"),
        (cirq.Circuit(cirq.measure(cirq.LineQubit(0), key="m")), "not a QPU component"),
        (cirq.Circuit(cirq.X(qb1)), "measures nothing"),
        (
            cirq.Circuit(cirq.X(qb1), cirq.CZ(qb1, qb20), cirq.measure(qb1, key="m")),
            r"moment 1, cirq.CZ.*not calibrated",
        ),
        (cirq.Circuit(cirq.measure(cirq.NamedQubit("QB21"), key="m")), "QB21"),
    ]
    for circuit, message in cases:
        with pytest.raises(ConversionError, match=message):
            sampler.run(circuit, repetitions=10)
    good = cirq.Circuit(cirq.measure(qb1, key="m"))
    with pytest.raises(ConversionError):
        sampler.run_batch([good, cases[0][0]])  # nothing partial: the good program is not sent either
    with pytest.raises(q.ValidationError, match="repetitions"):
        sampler.run(good, repetitions=0)
    with pytest.raises(q.ValidationError, match="shots"):
        sampler.run(good, repetitions=2_000_000)
    with pytest.raises(q.ValidationError, match="2 parameter sets"):
        sampler.run_batch([good], [None, None])
    with pytest.raises(q.ValidationError, match="invalid run option"):
        QaaSSampler(sampler.client, options={"heralding": "zeros"})
    with pytest.raises(q.ConfigurationError, match="not both"):
        QaaSSampler(sampler.client, project="p")
    assert job_count(sampler) == before
    assert sampler.run_sweep(good, []) == []  # an empty sweep sends nothing
    assert job_count(sampler) == before


def test_ghz_on_a_resonator_star(star: QaaSSampler) -> None:
    device = star.device
    assert device.resonators == (cirq.NamedQid("CR1", dimension=2),)
    line = cirq.LineQubit.range(4)
    ghz = cirq.Circuit(cirq.H(line[0]), [cirq.CNOT(line[0], line[i]) for i in (1, 2, 3)], cirq.measure(*line, key="g"))
    compiled = device.compile(ghz)
    assert sum(isinstance(op.gate, MoveGate) for op in compiled.circuit.all_operations()) == 6
    result = star.run(compiled, repetitions=300)
    assert set(result.histogram(key="g")) == {0, 15}
    request = q.decode_run_request(star.client.ledger.load_request(result.metadata.submission_id) or b"")
    names = [i.name for i in request.circuits[0].instructions]
    assert names.count("move") == 6 and names.count("cz") == 3  # the sandwiches went to the server as such
    assert all(i.locus[1] == "CR1" for i in request.circuits[0].instructions if i.name == "move")
