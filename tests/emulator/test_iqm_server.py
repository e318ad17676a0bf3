"""The emulated IQM server, driven over real HTTP on 127.0.0.1 by the real, unmodified iqm-client 36.

iqm-client 36 builds its client with ``IQMClient.from_url(url, quantum_computer=, token=)`` (``IQMClient(...)``
itself takes an executor and a storage). Raw ``httpx`` calls cover what iqm-client refuses to send (int angles,
unknown qubits, broken JSON, oversized bodies, missing tokens).
"""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from exa.common.errors.iqm_error import AuthenticationError, NotFoundError
from iqm.iqm_client.iqm_client import IQMClient
from iqm.iqm_client.models import CircuitCompilationOptions
from iqm.pulse import Circuit as IQMCircuit
from iqm.pulse import CircuitOperation
from iqm.station_control.client.job_trackers import CircuitJobTracker
from iqm.station_control.interface.models import DynamicQuantumArchitecture, HeraldingMode, MoveGateValidationMode
from iqm.station_control.interface.models.jobs_new import JobStatus

import qaas_core as q
from qaas_core.emulator import EmulatorConfig, EmulatorServer, Simulator

# iqm-client's CircuitBatch is a union with its deprecated legacy circuit class: pydantic tries that member on every
# parse, which warns even for the JSON iqm-client itself writes. Every other warning stays an error.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`iqm\.station_control\.interface\.models\.circuit\._(Instruction|Circuit)` is deprecated"
)

GARNET = q.load_profile("garnet20")
DENEB = q.load_profile("deneb6")
HALF = math.pi / 2
ERROR_KEYS = {"message", "error_code", "source", "detail"}


# -- helpers and fixtures -----------------------------------------------------------------------------------------


def op(name: str, *locus: str, **args: Any) -> CircuitOperation:
    return CircuitOperation(name, locus, args)


def bell(a: str = "QB1", b: str = "QB2", name: str = "bell") -> IQMCircuit:
    return IQMCircuit(
        name,
        (
            op("prx", a, angle=HALF, phase=HALF),
            op("prx", b, angle=HALF, phase=HALF),
            op("cz", a, b),
            op("prx", b, angle=HALF, phase=3 * HALF),
            op("measure", a, b, key="m"),
        ),
    )


def connect(emu: EmulatorServer) -> IQMClient:
    return IQMClient.from_url(emu.url, quantum_computer=emu.config.quantum_computer, token=emu.config.iqm_token)


def wait(tracker: CircuitJobTracker) -> JobStatus:
    return tracker.wait_for_completion(timeout_secs=30, polling_interval=0.02, progress_callback=lambda _: None)


def wait_for_status(tracker: CircuitJobTracker, status: JobStatus, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while tracker.update() != status:
        assert time.monotonic() < deadline, f"job stayed {tracker.status}, expected {status}"
        time.sleep(0.02)


def raw(emu: EmulatorServer, token: str | None = "config") -> httpx.Client:
    """An httpx client on the emulator's /api/v1 with the right bearer token, another one, or none (None)."""
    token = emu.config.iqm_token if token == "config" else token
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=f"{emu.url}/api/v1", headers=headers, timeout=30)


def assert_iqm_error(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["source"] == "iqm-server"
    assert body["detail"] == body["message"]
    assert "Traceback" not in response.text
    for fragment in fragments:
        assert fragment in body["message"]
    return body


@pytest.fixture(scope="module")
def garnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(device="garnet20", noise=False, seed=7, state_dir=tmp_path_factory.mktemp("garnet"))
    with EmulatorServer(config) as emu:
        yield emu


@pytest.fixture(scope="module")
def client(garnet: EmulatorServer) -> IQMClient:
    return connect(garnet)


# -- architecture and metadata ------------------------------------------------------------------------------------


def test_client_connects_and_reads_about_and_health(garnet: EmulatorServer, client: IQMClient) -> None:
    assert client.quantum_computer_name == "garnet20"
    about = client.get_about()
    assert about["about_station"]["version"] == q.__version__
    assert client.get_health()["status"] == "healthy"
    with raw(garnet, token=None) as http:  # health and about are public; the rest is not
        assert http.get("quantum-computers/garnet20/health").status_code == 200
        assert_iqm_error(http.get("quantum-computers"), 401)


def test_dynamic_architecture_is_the_calibration(client: IQMClient) -> None:
    dqa = client.get_dynamic_quantum_architecture()
    assert dqa == DynamicQuantumArchitecture.model_validate(GARNET.to_dqa())
    assert client.get_dynamic_quantum_architecture(uuid.UUID(GARNET.calibration_set_id)) == dqa
    with pytest.raises(NotFoundError):
        client.get_dynamic_quantum_architecture(uuid.uuid4())


def test_static_architecture(client: IQMClient) -> None:
    sqa = client.get_static_quantum_architecture()
    assert sqa.dut_label == "emulated-garnet20"
    assert sqa.qubits == list(GARNET.qubits)
    assert sqa.computational_resonators == []
    assert {tuple(sorted(p)) for p in sqa.connectivity} == {tuple(sorted(p)) for p in GARNET.coupling_graph()}


def test_quality_metrics_round_trip(client: IQMClient) -> None:
    finder = client.get_calibration_quality_metrics()
    t1, t2 = finder.get_coherence_times(GARNET.qubits)
    assert (t1, t2) == (GARNET.metrics.t1, GARNET.metrics.t2)
    assert finder.get_gate_fidelity("cz", "tgss", ("QB1", "QB2")) == GARNET.fidelity("cz", ("QB1", "QB2"))
    assert finder.get_gate_duration("prx", "drag_gaussian", ("QB3",)) == GARNET.duration("prx", ("QB3",))
    assert finder.get_measure_errors("measure", "constant", ("QB4",)) == GARNET.metrics.readout_error["QB4"]

    calibration_set = client.get_calibration_set()
    metrics = client.get_quality_metric_set(uuid.UUID(GARNET.calibration_set_id))
    assert str(calibration_set.observation_set_id) == GARNET.calibration_set_id
    assert metrics.observation_set_type == "quality-metric-set"
    assert str(metrics.describes_id) == GARNET.calibration_set_id
    observations = [o.model_dump(mode="json") for o in calibration_set.observations + metrics.observations]
    assert q.Calibration.from_iqm(GARNET.to_dqa(), {"observations": observations}, device="garnet20") == GARNET


# -- jobs ---------------------------------------------------------------------------------------------------------


def test_bell_through_iqm_client(client: IQMClient) -> None:
    tracker = client.submit_circuits([bell()], shots=1000)
    assert tracker.status == JobStatus.WAITING
    assert wait(tracker) == JobStatus.COMPLETED

    shots = tracker.result()[0]["m"]
    assert len(shots) == 1000
    assert {tuple(s) for s in shots} == {(0, 0), (1, 1)}
    ones = sum(s == [1, 1] for s in shots)
    assert 400 < ones < 600
    (counts,) = tracker.result_counts()
    assert counts.measurement_keys == ["m"]
    assert counts.counts == {"00": 1000 - ones, "11": ones}
    assert client.get_job_measurements(tracker.job_id) == tracker.result()
    assert client.get_job_measurement_counts(tracker.job_id) == [counts]

    data = tracker.job_data
    assert data.compilation is not None
    assert str(data.compilation.calibration_set_id) == GARNET.calibration_set_id
    assert data.execution is not None
    assert {k: (v.value, v.max_value) for k, v in data.execution.progress.items()} == {"circuits": (1, 1)}
    assert data.queue_position is None
    assert [a.type for a in data.artifacts] == ["measurements", "measurement_counts"]
    steps = [e.status for e in data.timeline]
    for earlier, later in itertools.pairwise(steps):
        assert steps.index(earlier) < steps.index(later)
    assert {"created", "compilation_started", "compilation_ended", "execution_started", "execution_ended"} <= set(steps)
    assert steps[-1] == "completed"
    stamps = [e.timestamp for e in data.timeline]
    assert stamps == sorted(stamps)

    again = client.get_job(tracker.job_id)  # a fresh tracker fetches the payload from the server
    assert isinstance(again, CircuitJobTracker)
    payload = again.payload()
    assert payload.shots == 1000
    assert payload.circuits == [bell()]


def test_counts_concatenate_keys_in_program_order_and_mapping(client: IQMClient) -> None:
    first = IQMCircuit(
        "keys", (op("prx", "a", angle=math.pi, phase=0.0), op("measure", "b", key="first"), op("measure", "a", key="z"))
    )
    second = IQMCircuit("single", (op("measure", "c", key="only"),))
    a, b = GARNET.loci("cz")[7]  # any coupled pair
    tracker = client.submit_circuits([first, second], qubit_mapping={"a": a, "b": b, "c": "QB7"}, shots=50)
    assert wait(tracker) == JobStatus.COMPLETED
    results = tracker.result()
    assert results[0] == {"first": [[0]] * 50, "z": [[1]] * 50}
    assert results[1] == {"only": [[0]] * 50}
    counts = tracker.result_counts()
    assert (counts[0].measurement_keys, counts[0].counts) == (["first", "z"], {"01": 50})
    assert (counts[1].measurement_keys, counts[1].counts) == (["only"], {"0": 50})
    assert tracker.job_data.execution is not None
    assert tracker.job_data.execution.progress["circuits"].value == 2


def test_pinned_calibration_set(garnet: EmulatorServer, client: IQMClient) -> None:
    pinned = uuid.UUID(GARNET.calibration_set_id)
    tracker = client.submit_circuits([bell()], calibration_set_id=pinned, shots=10)
    assert wait(tracker) == JobStatus.COMPLETED
    assert tracker.job_data.compilation is not None
    assert tracker.job_data.compilation.calibration_set_id == pinned
    assert client.get_job(tracker.job_id).payload().calibration_set_id == pinned
    unknown = q.encode_iqm_job(
        [q.Circuit("c", (q.measure("QB1", key="m"),))], shots=1, calibration_set_id=str(uuid.uuid4())
    )
    with raw(garnet) as http:
        assert_iqm_error(http.post("jobs/garnet20/circuit", content=unknown), 404, "calibration set")
        assert_iqm_error(http.get(f"calibration-sets/garnet20/{uuid.uuid4()}/metrics"), 404)


def test_too_long_circuit_fails_the_job(client: IQMClient) -> None:
    slow = IQMCircuit("slow", (op("delay", "QB1", duration=1e-3), op("measure", "QB1", key="m")))
    tracker = client.submit_circuits([slow], shots=5)
    assert wait(tracker) == JobStatus.FAILED
    (error,) = tracker.job_data.errors
    assert error.error_code == "circuit_validation_error"
    assert "'slow'" in error.message
    assert "T2" in error.message
    assert tracker.result() is None
    with pytest.raises(NotFoundError):
        client.get_job_measurements(tracker.job_id)
    with pytest.warns(UserWarning, match="T2"):  # iqm-client itself warns about the errors of a job it loads
        client.get_job(tracker.job_id)

    allowed = client.submit_circuits(
        [slow], shots=5, options=CircuitCompilationOptions(max_circuit_duration_over_t2=0.0)
    )
    assert wait(allowed) == JobStatus.COMPLETED


def test_cancel_waiting_and_processing_jobs_and_delete(tmp_path: Path) -> None:
    config = EmulatorConfig(device="garnet20", noise=False, iqm_min_processing_seconds=30, state_dir=tmp_path)
    with EmulatorServer(config) as emu:
        client = connect(emu)
        running = client.submit_circuits([bell()], shots=10)
        wait_for_status(running, JobStatus.PROCESSING)
        second = client.submit_circuits([bell()], shots=10)
        third = client.submit_circuits([bell()], shots=10)
        assert (second.job_data.queue_position, third.job_data.queue_position) == (0, 1)

        second.cancel()
        assert second.update() == JobStatus.CANCELLED
        assert third.update() == JobStatus.WAITING
        assert third.job_data.queue_position == 0

        running.cancel()  # interrupts the processing job at once
        assert running.update() == JobStatus.CANCELLED
        assert running.job_data.timeline[-1].status == "cancelled"
        with pytest.raises(NotFoundError):
            client.get_job_measurement_counts(running.job_id)
        client.cancel_job(running.job_id)  # a terminal job keeps its status
        assert client.get_job(running.job_id).status == JobStatus.CANCELLED

        wait_for_status(third, JobStatus.PROCESSING)
        client.delete_job(third.job_id)
        with pytest.raises(NotFoundError):
            client.get_job(third.job_id)
        with raw(emu) as http:
            assert_iqm_error(http.get(f"jobs/{third.job_id}/payload"), 404)
            assert http.get("quantum-computers/garnet20/health").json()["jobs_processing"] == 0


def test_deneb_move_sandwich(tmp_path: Path) -> None:
    config = EmulatorConfig(device="deneb6", quantum_computer="deneb", noise=False, seed=1, state_dir=tmp_path)
    with EmulatorServer(config) as emu:
        client = connect(emu)
        assert client.get_dynamic_quantum_architecture() == DynamicQuantumArchitecture.model_validate(DENEB.to_dqa())
        assert client.get_static_quantum_architecture().computational_resonators == ["CR1"]
        ghz = IQMCircuit(
            "ghz-through-resonator",
            (
                op("prx", "QB1", angle=HALF, phase=HALF),
                op("prx", "QB2", angle=HALF, phase=HALF),
                op("move", "QB2", "CR1"),
                op("cz", "QB1", "CR1"),
                op("move", "QB2", "CR1"),
                op("prx", "QB2", angle=HALF, phase=3 * HALF),
                op("measure", "QB1", "QB2", key="m"),
            ),
        )
        tracker = client.submit_circuits([ghz], shots=400)
        assert wait(tracker) == JobStatus.COMPLETED
        (counts,) = tracker.result_counts()
        assert set(counts.counts) == {"00", "11"}

        inside = q.Circuit(
            "prx-inside",
            (q.move("QB2", "CR1"), q.prx("QB2", 0.5, 0.0), q.move("QB2", "CR1"), q.measure("QB2", key="m")),
        )
        with raw(emu) as http:
            strict = http.post("jobs/deneb/circuit", content=q.encode_iqm_job([inside], shots=3))
            assert_iqm_error(strict, 422, "'prx-inside', instruction 1", "sandwich")
            lenient = q.encode_iqm_job([inside], shots=3, options=q.RunOptions(move_gate_validation="allow_prx"))
            assert http.post("jobs/deneb/circuit", content=lenient).status_code == 200
        allowed = client.submit_circuits(
            [ghz], shots=10, options=CircuitCompilationOptions(move_gate_validation=MoveGateValidationMode.ALLOW_PRX)
        )
        assert wait(allowed) == JobStatus.COMPLETED


def test_heralding_zeros_drops_shots_on_a_noisy_server(tmp_path: Path) -> None:
    config = EmulatorConfig(device="garnet20", noise=True, seed=11, state_dir=tmp_path)
    with EmulatorServer(config) as emu:
        client = connect(emu)
        circuit = IQMCircuit("idle", (op("measure", "QB1", "QB2", "QB3", "QB4", key="m"),))
        heralded = client.submit_circuits(
            [circuit], shots=2000, options=CircuitCompilationOptions(heralding_mode=HeraldingMode.ZEROS)
        )
        plain = client.submit_circuits([circuit], shots=2000)
        assert wait(heralded) == wait(plain) == JobStatus.COMPLETED
        kept = len(heralded.result()[0]["m"])
        assert 1500 < kept < 2000
        assert sum(heralded.result_counts()[0].counts.values()) == kept
        assert len(plain.result()[0]["m"]) == 2000
        assert len(plain.result_counts()[0].counts) > 1  # readout errors show on a noisy QPU


def test_job_n_uses_seed_plus_n_and_a_job_without_heralded_shots_fails(tmp_path: Path) -> None:
    qubits = GARNET.qubits[:6]
    wide = q.Circuit("wide", (q.measure(*qubits, key="m"),))
    qpu = Simulator(GARNET, noise=True, idle_noise=True)  # what a noisy emulator runs

    def heralded_shots(seed: int) -> int:
        return qpu.run(wide, 1, seed=np.random.default_rng(seed), heralding="zeros").shots

    seed = next(s for s in range(1000) if heralded_shots(s) == 0)
    with EmulatorServer(EmulatorConfig(device="garnet20", noise=True, seed=seed, state_dir=tmp_path)) as emu:
        client = connect(emu)
        zeros = CircuitCompilationOptions(heralding_mode=HeraldingMode.ZEROS)
        first = client.submit_circuits([IQMCircuit("wide", (op("measure", *qubits, key="m"),))], options=zeros)
        assert wait(first) == JobStatus.FAILED  # job 0 ran with `seed`: no shot survived heralding
        (error,) = first.job_data.errors
        assert "heralding left no shots" in error.message
        second = client.submit_circuits([bell()], shots=200)
        assert wait(second) == JobStatus.COMPLETED
        measured = second.result()[0]["m"]
    ours = q.Circuit("bell", tuple(q.Instruction(o.name, o.locus, o.args) for o in bell().instructions))
    expected = qpu.run(ours, 200, seed=np.random.default_rng(seed + 1))  # job 1 runs with seed + 1
    assert measured == expected.measurements["m"].tolist()


# -- errors -------------------------------------------------------------------------------------------------------


def _job_json(*instructions: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps({"circuits": [{"name": "c", "instructions": list(instructions)}], "shots": 4, **fields}).encode()


MEASURE = {"name": "measure", "locus": ["QB1"], "args": {"key": "m"}}
INT_ANGLE = {"name": "prx", "locus": ["QB1"], "args": {"angle": 1, "phase": 0.0}}

SUBMIT_ERRORS = [
    pytest.param(
        q.encode_iqm_job([q.Circuit("c", (q.measure("QB99", key="m"),))], shots=1), 422, "QB99", id="unknown-qubit"
    ),
    pytest.param(
        q.encode_iqm_job([q.Circuit("lattice", (q.prx("QB1", 1.0, 0.0), q.cz("QB1", "QB3")))], shots=1),
        422,
        "circuit 'lattice', instruction 1",
        id="uncalibrated-locus",
    ),
    pytest.param(_job_json(INT_ANGLE, MEASURE), 422, "'angle' must be a float", id="int-angle"),
    pytest.param(b'{"circuits": [', 400, "not valid JSON", id="invalid-json"),
    pytest.param(b"\xff\xfe", 400, "not valid JSON", id="not-utf8"),
    pytest.param(b'{"circuits": "bell"}', 422, "circuits", id="wrong-shape"),
    pytest.param(_job_json(MEASURE, shots=0), 422, "shots", id="zero-shots"),
    pytest.param(_job_json(MEASURE, heralding_mode="ones"), 422, "heralding_mode", id="unknown-option-value"),
]


@pytest.mark.parametrize(("body", "status", "fragment"), SUBMIT_ERRORS)
def test_invalid_submissions_are_refused(garnet: EmulatorServer, body: bytes, status: int, fragment: str) -> None:
    with raw(garnet) as http:
        assert_iqm_error(http.post("jobs/garnet20/circuit", content=body), status, fragment)


def test_http_errors_are_iqm_style_and_the_server_survives(garnet: EmulatorServer, client: IQMClient) -> None:
    size = 100 * 2**20 + 1

    def oversized() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 2**20
        yield b" "

    with raw(garnet) as http:
        too_big = http.post("jobs/garnet20/circuit", content=oversized(), headers={"Content-Length": str(size)})
        assert_iqm_error(too_big, 413)
        assert_iqm_error(http.post("jobs/garnet20/circuit", content=oversized()), 413)  # chunked, no length
        assert_iqm_error(http.get(f"jobs/{uuid.uuid4()}"), 404, "not found")
        assert_iqm_error(http.get("jobs/not-a-uuid/artifacts/measurements"), 404)
        assert_iqm_error(http.post("jobs/nowhere/circuit", content=_job_json(MEASURE)), 404, "nowhere")
        assert_iqm_error(http.get("calibration-sets/nowhere/default/dynamic-quantum-architecture"), 404)
        assert_iqm_error(http.post("jobs/garnet20/run", content=b"\x00"), 404, "not served")
        assert_iqm_error(http.post("jobs/garnet20/circuit?use_timeslot=maybe", content=_job_json(MEASURE)), 422)
        assert http.post("jobs/garnet20/circuit?use_timeslot=true", content=_job_json(MEASURE)).status_code == 200
    for token in (None, "wrong"):
        with raw(garnet, token=token) as http:
            body = assert_iqm_error(http.post("jobs/garnet20/circuit", content=_job_json(MEASURE)), 401)
            assert body["error_code"] == "unauthorized"
            assert_iqm_error(http.get("calibration-sets/garnet20/default"), 401)
    with pytest.raises(AuthenticationError):
        IQMClient.from_url(garnet.url, quantum_computer="garnet20", token="wrong")

    tracker = client.submit_circuits([bell()], shots=20)
    assert wait(tracker) == JobStatus.COMPLETED


def test_artifacts_before_completion_are_not_found(tmp_path: Path) -> None:
    config = EmulatorConfig(device="garnet20", noise=False, iqm_queue_seconds=60, state_dir=tmp_path)
    with EmulatorServer(config) as emu, raw(emu) as http:
        job = http.post("jobs/garnet20/circuit", content=_job_json(MEASURE)).json()
        assert (job["status"], job["queue_position"]) == ("waiting", 0)
        assert_iqm_error(http.get(f"jobs/{job['id']}/artifacts/measurements"), 404, "waiting")
        assert_iqm_error(http.get(f"jobs/{job['id']}/artifacts/sweep_results"), 404)
        assert http.get(f"jobs/{job['id']}/payload").content == _job_json(MEASURE)


# -- persistence --------------------------------------------------------------------------------------------------


def test_restart_serves_finished_jobs_and_requeues_unfinished_ones(tmp_path: Path) -> None:
    def config(queue_seconds: float) -> EmulatorConfig:
        return EmulatorConfig(
            device="garnet20", noise=False, seed=3, state_dir=tmp_path, iqm_queue_seconds=queue_seconds
        )

    with EmulatorServer(config(0)) as emu:
        done = connect(emu).submit_circuits([bell()], shots=64)
        assert wait(done) == JobStatus.COMPLETED
        expected = (done.result(), done.result_counts())
    with EmulatorServer(config(60)) as emu:
        pending = connect(emu).submit_circuits([bell()], shots=32)
        assert pending.update() == JobStatus.WAITING
    with EmulatorServer(config(0)) as emu:
        client = connect(emu)
        assert (client.get_job_measurements(done.job_id), client.get_job_measurement_counts(done.job_id)) == expected
        restored = client.get_job(pending.job_id)
        assert isinstance(restored, CircuitJobTracker)
        assert wait(restored) == JobStatus.COMPLETED
        assert len(restored.result()[0]["m"]) == 32
