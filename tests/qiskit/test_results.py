"""qaas_core.Result → qiskit Result without a server: BasicSimulator's format, registers, last write wins, jobs."""

from __future__ import annotations

import base64
import math
from collections import Counter

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.providers import JobStatus
from qiskit.providers.basic_provider import BasicSimulator

import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSJob
from qaas_qiskit._results import Layout, header_from_qiskit, layout_from_circuit, to_qiskit_result


def _pack(bits: np.ndarray) -> str:
    return base64.b64encode(np.packbits(np.asarray(bits, dtype=np.uint8), axis=None).tobytes()).decode()


def _result(circuits: list[tuple[q.Circuit, dict[str, np.ndarray]]], *, memory: bool = True) -> q.Result:
    out = []
    for circuit, bits in circuits:
        keys = {k: len(v) for k, v in circuit.measurement_keys().items()}
        shots = len(next(iter(bits.values()))) if bits else 0
        if memory:
            out.append(q.CircuitResult(circuit.name, shots, keys, memory={k: _pack(bits[k]) for k in keys}))
        else:
            rows = np.concatenate([bits[k] for k in keys], axis=1)
            table = Counter("".join(map(str, r)) for r in rows.tolist())
            out.append(q.CircuitResult(circuit.name, shots, keys, counts=dict(table)))
    doc = q.ResultDocument(
        schema="qaas.result/1",
        submission_id="sub-1",
        status="completed",
        iqm_job_id="iqm-1",
        calibration_set_id="cal-1",
        circuits=tuple(out),
    )
    return q.Result(doc, heappe_job_id=7)


def _layout(qc: QuantumCircuit, native: q.Circuit) -> Layout:
    return Layout(header_from_qiskit(native.metadata["qiskit"], qc.metadata or {}))


def _deterministic() -> QuantumCircuit:
    qr, a, b = QuantumRegister(3, "q"), ClassicalRegister(2, "a"), ClassicalRegister(2, "b")
    qc = QuantumCircuit(qr, a, b, name="det")
    qc.r(math.pi, 0, 0)
    qc.r(math.pi, 0, 2)
    qc.measure(0, a[1])  # 1
    qc.measure(1, b[0])  # 0
    qc.measure(2, a[0])  # 1 ...
    qc.r(math.pi, 0, 2)
    qc.measure(2, a[0])  # ... then 0: the last write wins; b[1] is never measured
    return qc


def test_same_format_as_basic_simulator(garnet: QaaSBackend) -> None:
    qc = _deterministic()
    shots = 5
    reference = BasicSimulator().run(qc, shots=shots, memory=True).result()
    native = garnet.convert(qc)
    assert list(native.measurement_keys()) == ["m1", "m2", "m0", "m0_1"]
    ones = np.ones((shots, 1), dtype=np.uint8)
    bits = {"m1": ones, "m2": 0 * ones, "m0": ones, "m0_1": 0 * ones}
    mine = to_qiskit_result(_result([(native, bits)]), [_layout(qc, native)], backend_name="b", backend_version="1",
                            job_id="sub-1")  # fmt: skip
    assert mine.get_counts() == reference.get_counts() == {"00 10": shots}
    assert mine.get_memory() == reference.get_memory() == ["00 10"] * shots
    assert mine.results[0].data.counts == reference.results[0].data.counts == {"0x2": shots}
    assert mine.results[0].data.memory == reference.results[0].data.memory
    assert mine.results[0].header == reference.results[0].header
    assert mine.get_counts("det") == mine.get_counts(qc) == mine.get_counts(0)
    exp = mine.results[0]
    assert (exp.submission_id, exp.iqm_job_id, exp.heappe_job_id, exp.calibration_set_id) == (
        "sub-1", "iqm-1", 7, "cal-1"
    )  # fmt: skip
    assert mine.job_id == "sub-1"
    assert mine.success


def _oracle(native: q.Circuit, bits: dict[str, np.ndarray], layout: Layout) -> list[str]:
    """Per-shot strings computed the slow, obvious way: registers left to right from the last, bit 0 rightmost."""
    shots = len(next(iter(bits.values())))
    header = layout.header
    out = []
    for s in range(shots):
        clbits = [0] * header["memory_slots"]
        for key in native.measurement_keys():  # program order
            c = int(key[1:].split("_")[0])
            clbits[c] = int(bits[key][s, 0])
        parts, start = [], 0
        for _, size in header["creg_sizes"]:
            parts.append("".join(str(clbits[start + j]) for j in reversed(range(size))))
            start += size
        out.append(" ".join(reversed(parts)))
    return out


@pytest.mark.parametrize("memory", [True, False])
def test_random_measurements_into_several_registers(garnet: QaaSBackend, memory: bool) -> None:
    rng = np.random.default_rng(11)
    regs = [ClassicalRegister(3, "x"), ClassicalRegister(1, "y"), ClassicalRegister(4, "z")]
    qc = QuantumCircuit(QuantumRegister(5, "q"), *regs)
    for _ in range(14):
        qc.measure(int(rng.integers(5)), int(rng.integers(qc.num_clbits)))
    native = garnet.convert(qc)
    shots = 300
    bits = {k: rng.integers(0, 2, size=(shots, 1), dtype=np.uint8) for k in native.measurement_keys()}
    layout = _layout(qc, native)
    mine = to_qiskit_result(_result([(native, bits)], memory=memory), [layout], backend_name="b",
                            backend_version="1", job_id="j")  # fmt: skip
    expected = _oracle(native, bits, layout)
    if memory:
        assert mine.get_memory() == expected
    assert mine.get_counts() == Counter(expected)


def test_wide_registers_use_python_integers(garnet: QaaSBackend) -> None:
    qc = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(70, "w"))
    qc.measure(0, 0)
    qc.measure(1, 69)
    native = garnet.convert(qc)
    bits = {"m0": np.array([[1], [0]], dtype=np.uint8), "m69": np.array([[1], [1]], dtype=np.uint8)}
    mine = to_qiskit_result(_result([(native, bits)]), [_layout(qc, native)], backend_name="b",
                            backend_version="1", job_id="j")  # fmt: skip
    assert mine.results[0].data.memory == [hex((1 << 69) | 1), hex(1 << 69)]
    assert mine.get_memory() == ["1" + "0" * 68 + "1", "1" + "0" * 69]


def test_layout_from_the_stored_request_alone(garnet: QaaSBackend) -> None:
    qc = _deterministic()
    native = q.decode_run_request(
        q.encode_run_request(
            q.RunRequest(schema="qaas.run/1", submission_id="s", shots=1, circuits=(garnet.convert(qc),))
        )
    ).circuits[0]  # what a new process reads back from the ledger
    layout = layout_from_circuit(native)
    assert layout.header == BasicSimulator().run(qc, shots=1).result().results[0].header


def test_openqasm3_layout(garnet: QaaSBackend) -> None:
    source = """
    OPENQASM 3.0;
    qubit[2] q;
    bit[2] c;
    bit d;
    x q[0];
    c[1] = measure q[0];
    d = measure q[1];
    """
    native = q.circuit_from_qasm3(source, garnet.calibration, name="prog")
    layout = layout_from_circuit(native)
    assert layout.header["creg_sizes"] == [["c", 2], ["d", 1]]
    keys = native.measurement_keys()
    bits = {k: np.array([[1 if locus == ("QB1",) else 0]], dtype=np.uint8) for k, locus in keys.items()}
    mine = to_qiskit_result(_result([(native, bits)]), [layout], backend_name="b", backend_version="1", job_id="j")
    assert mine.get_counts() == {"0 10": 1}


def test_foreign_keys_without_layout_fill_one_register() -> None:
    native = q.Circuit("f", (q.measure("QB1", "QB2", key="k"), q.measure("QB3", key="z")))
    layout = layout_from_circuit(native)
    bits = {"k": np.array([[1, 0]], dtype=np.uint8), "z": np.array([[1]], dtype=np.uint8)}
    mine = to_qiskit_result(_result([(native, bits)]), [layout], backend_name="b", backend_version="1", job_id="j")
    assert mine.get_counts() == {"101": 1}


def test_mismatched_results_are_payload_errors(garnet: QaaSBackend) -> None:
    qc = _deterministic()
    native = garnet.convert(qc)
    bits = {k: np.zeros((1, 1), dtype=np.uint8) for k in native.measurement_keys()}
    result = _result([(native, bits)])
    with pytest.raises(q.PayloadError, match="the job submitted 2"):
        to_qiskit_result(result, [_layout(qc, native)] * 2, backend_name="b", backend_version="1", job_id="j")
    foreign = q.Circuit("f", (q.measure("QB1", key="k"),))
    with pytest.raises(q.PayloadError, match="not written by qaas-qiskit"):
        to_qiskit_result(_result([(foreign, {"k": bits["m1"]})]), [_layout(qc, native)], backend_name="b",
                         backend_version="1", job_id="j")  # fmt: skip


class _FakeJob:
    """Stands in for qaas_core.Job: the states a real one walks through."""

    def __init__(self, result: q.Result, states: list[str], failure: q.JobFailedError | None = None) -> None:
        self.submission_id = "sub-1"
        self.heappe_job_id = 7
        self.iqm_job_id: str | None = None
        self.queue_position: int | None = 3
        self.state = "uploaded"
        self._states = states
        self._result = result
        self._failure = failure
        self.cancelled = False
        self.polls = 0

    def status(self) -> str:
        self.polls += 1
        self.state = self._states.pop(0) if self._states else self.state
        return self.state

    def wait(self, timeout: float | None = None, *, show_progress: bool | None = None) -> str:
        self.status()
        if self.state != "ended":
            raise q.JobTimeoutError("not yet")
        return self.state

    def result(self, timeout: float | None = None, *, show_progress: bool | None = None) -> q.Result:
        if self._failure is not None:
            raise self._failure
        return self._result

    def cancel(self) -> None:
        self.cancelled = True


def _job(garnet: QaaSBackend, states: list[str], failure: q.JobFailedError | None = None) -> QaaSJob:
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    native = garnet.convert(qc)
    fake = _FakeJob(_result([(native, {"m0": np.ones((4, 1), dtype=np.uint8)})]), states, failure)
    return QaaSJob(garnet, fake, [_layout(qc, native)])  # type: ignore[arg-type]


def test_job_status_follows_the_qaas_states(garnet: QaaSBackend) -> None:
    job = _job(garnet, ["created", "queued", "qpu_queued", "qpu_processing", "ended"])
    seen = [job.status() for _ in range(4)]
    assert seen == [JobStatus.INITIALIZING, JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.RUNNING]
    assert job.queue_position() == 3
    assert job.status() == JobStatus.DONE
    assert job.result().get_counts() == {"1": 4}
    assert job.job_id() == "sub-1"
    job.cancel()
    assert job.qaas_job.cancelled  # type: ignore[attr-defined]
    with pytest.raises(q.ValidationError, match="cannot be submitted again"):
        job.submit()


@pytest.mark.parametrize(("state", "status"), [("failed", JobStatus.ERROR), ("cancelled", JobStatus.CANCELLED)])
def test_failed_jobs(garnet: QaaSBackend, state: str, status: JobStatus) -> None:
    failure = q.JobFailedError("it broke", heappe_job_id=7, state=state)
    job = _job(garnet, ["ended"], failure)
    assert job.status() == status
    assert job.error_message() == "it broke"
    with pytest.raises(q.JobFailedError, match="it broke"):
        job.result()
