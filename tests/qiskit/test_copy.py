"""A backend under ``copy.deepcopy`` and ``pickle`` (what qiskit-experiments and qiskit-ibm-runtime's local mode do),
its run options as Qiskit's tools pass them, and the errors a Qiskit user sees."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import httpx
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.providers import JobStatus
from qiskit.result.models import MeasLevel, MeasReturnType

import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSProvider

SECRET = "tok-3f1c9e2a7b5d4c60-never-in-a-pickle"


def _bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def test_pickle_never_holds_an_explicit_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAAS_CONFIG", str(tmp_path / "none.toml"))
    client = q.QaasClient(project="p", resource="EQE1-CZ-P0001", token=SECRET, refresh_token=SECRET + "-r",
                          iqm_token=SECRET + "-i", data_dir=tmp_path)  # fmt: skip
    try:
        backend = QaaSBackend(client, calibration=q.load_profile("garnet20"))
        backend.set_options(shots=77)
        data = pickle.dumps(backend)
        assert SECRET.encode() not in data
        clone = pickle.loads(data)
    finally:
        client.close()
    assert clone.options.shots == 77
    assert clone.target.num_qubits == backend.target.num_qubits
    assert clone.provider is None
    assert clone.client is not client  # a client of its own, from the settings
    assert clone.client.settings.token is None  # an argument-only secret is not recovered
    assert clone.client.settings.resource == "EQE1-CZ-P0001"
    clone.client.close()


def test_secrets_come_back_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAAS_CONFIG", str(tmp_path / "none.toml"))
    with q.QaasClient(project="p", resource="r", token=SECRET, data_dir=tmp_path) as client:
        data = pickle.dumps(QaaSBackend(client, calibration=q.load_profile("adonis5")))
    assert SECRET.encode() not in data
    monkeypatch.setenv("QAAS_TOKEN", "from-the-environment")
    clone = pickle.loads(data)
    token = clone.client.settings.token
    assert token is not None and token.get() == "from-the-environment"
    clone.client.close()


def test_offline_backend_round_trips(garnet: QaaSBackend) -> None:
    clone = pickle.loads(pickle.dumps(garnet))
    assert clone.target.operation_names == garnet.target.operation_names
    with pytest.raises(q.ConfigurationError, match="offline"):
        clone.client  # noqa: B018


def test_deepcopy_shares_the_client_and_copies_the_options(garnet_emulator: QaaSProvider) -> None:
    backend = garnet_emulator.get_backend()
    assert copy.copy(backend).client is backend.client
    clone = copy.deepcopy(backend)
    assert clone.client is backend.client
    assert clone.provider is backend.provider
    clone.set_options(shots=33)
    assert backend.options.shots != 33
    counts = clone.run(transpile(_bell(), clone)).result().get_counts()
    assert sum(counts.values()) == 33


def test_unpickled_backend_reopens_its_client_and_runs(garnet_emulator: QaaSProvider) -> None:
    backend = garnet_emulator.get_backend()
    data = pickle.dumps(backend)
    iqm_token = backend.client.settings.iqm_token
    assert iqm_token is not None
    for secret in (iqm_token.get(), backend.client.tokens.access_token()):
        assert secret.encode() not in data
    clone = pickle.loads(data)
    counts = clone.run(transpile(_bell(), clone), shots=200).result().get_counts()
    assert clone.client is not backend.client
    assert set(counts) == {"00", "11"} and sum(counts.values()) == 200  # noiseless Bell pair
    clone.client.close()


def test_options_qiskit_tools_pass_are_accepted(garnet: QaaSBackend) -> None:
    backend = copy.deepcopy(garnet)
    backend.set_options(meas_level=MeasLevel.CLASSIFIED, meas_return=MeasReturnType.SINGLE)
    backend.set_options(max_circuit_duration_over_t2=0, heralding_mode="zeros", move_gate_validation="allow_prx")
    assert backend.options.max_circuit_duration_over_t2 == 0
    with pytest.raises(q.ValidationError, match="meas_level must be 2"):
        backend.set_options(meas_level=MeasLevel.KERNELED)
    with pytest.raises(q.ValidationError, match="heralding_mode"):
        backend.set_options(heralding_mode="sometimes")


def _long(backend: QaaSBackend) -> QuantumCircuit:
    """A circuit that waits 3 T2 of its qubit."""
    t2 = backend.target.qubit_properties[0].t2
    qc = QuantumCircuit(1, 1, name="waits")
    qc.x(0)
    qc.delay(3 * t2, 0, unit="s")
    qc.measure(0, 0)
    return transpile(qc, backend, initial_layout=[0])


def test_t2_limit_names_the_qiskit_option(garnet_emulator: QaaSProvider, caplog: pytest.LogCaptureFixture) -> None:
    backend = copy.deepcopy(garnet_emulator.get_backend())
    circuit = _long(backend)
    with pytest.raises(q.CircuitError, match=r"backend\.set_options\(max_circuit_duration_over_t2=") as info:
        backend.run(circuit, shots=10)
    assert info.value.circuit == "waits"
    # logged too, for the primitives' worker threads that report a failed job without its message
    assert [r.getMessage() for r in caplog.records if r.name == "qaas_qiskit._backend"] == [info.value.message]
    assert backend.run(circuit, shots=10, max_circuit_duration_over_t2=0).result().get_counts()
    backend.set_options(max_circuit_duration_over_t2=5.0)
    assert sum(backend.run(circuit, shots=10).result().get_counts().values()) == 10


def _fail_next_job(client: q.QaasClient, message: str | None) -> None:
    """Make the emulated cluster fail the next job with ``message`` (None: remove the rule)."""
    url = f"{client.emulator_url}/_emulator/faults"
    info = json.loads((client.settings.data_dir / "emulator.json").read_text())
    admin = {"X-Qaas-Emulator-Key": info["admin_key"], "Content-Type": "application/json"}
    httpx.delete(url, headers=admin).raise_for_status()
    if message is not None:
        rule = {"action": "fail_next_job", "job_name": "qaas-", "message": message, "count": 1}
        httpx.post(url, json=[rule], headers=admin).raise_for_status()


def test_a_failed_job_tells_qiskit_why(garnet_emulator: QaaSProvider, caplog: pytest.LogCaptureFixture) -> None:
    backend = garnet_emulator.get_backend()
    _fail_next_job(backend.client, "node qexec-7 lost its QPU link")
    try:
        job = backend.run(transpile(_bell(), backend), shots=10)
        with pytest.raises(q.JobFailedError, match="lost its QPU link"):
            job.result(timeout=120)
    finally:
        _fail_next_job(backend.client, None)
    assert job.status() is JobStatus.ERROR
    message = job.error_message()
    assert message is not None and "lost its QPU link" in message and job.job_id() in message
    with pytest.raises(q.JobFailedError, match="lost its QPU link"):  # the same answer every time
        job.result()
    assert [r.getMessage() for r in caplog.records if r.name == "qaas_qiskit._job"] == [message]
