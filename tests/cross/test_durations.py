"""The client's pre-submit duration is the emulated server's, for every cross program and front end.

Both sides time a circuit with the one schedule model of the core (``qaas_core.schedule``: ASAP on calibrated
durations, a multi-qubit ``measure`` as one parallel readout, ``cc_prx`` after its feedback measurement). This test
does not take that for granted: it goes through each side's own entry point. The client's figure is
``PresubmitReport.longest_duration`` / ``worst_duration_over_t2`` (``QaasClient.prepare``, offline); the server's is
probed through its T2 check over real HTTP — a job whose ``max_circuit_duration_over_t2`` is a hair below the
client's ratio must fail that check, a hair above must run. So a server that timed any instruction differently (as
the old one did multi-qubit ``measure``) fails here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import qaas_core as q
from qaas_core.emulator import EmulatorConfig, EmulatorServer
from tests.cross import cases, test_star_identity
from tests.cross.frontends import FRONT_ENDS, front_end
from tests.cross.library import Program, program

SLACK = 1e-9
"""Relative margin around the client's ratio (far above rounding, far below any real timing difference)."""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EmulatorServer]]:
    """Device -> its emulated IQM server, started on first use."""
    started: dict[str, EmulatorServer] = {}
    root: Path = tmp_path_factory.mktemp("iqm-servers")

    class Lazy(dict[str, EmulatorServer]):
        def __missing__(self, device: str) -> EmulatorServer:
            config = EmulatorConfig(device=device, noise=False, seed=1, worker_service=False, state_dir=root / device)
            server = started[device] = EmulatorServer(config).start()
            self[device] = server
            return server

    try:
        yield Lazy()
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    """An offline client: ``prepare`` checks a batch against a given calibration without any network call."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QAAS_CONFIG", str(tmp_path_factory.mktemp("cfg") / "none.toml"))
        made = q.QaasClient(project="p", resource="r", token="t", data_dir=tmp_path_factory.mktemp("client"))
    try:
        yield made
    finally:
        made.close()


def runs_on_server(server: EmulatorServer, circuit: q.Circuit, ratio: float) -> bool:
    """Whether the server runs ``circuit`` with ``max_circuit_duration_over_t2 = ratio`` (False: its T2 check)."""
    body = q.encode_iqm_job([circuit], shots=1, options=q.RunOptions(max_circuit_duration_over_t2=ratio))
    headers = {"Authorization": f"Bearer {server.config.iqm_token}"}
    with httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30) as http:
        response = http.post(f"jobs/{server.config.quantum_computer}/circuit", content=body)
        assert response.status_code == 200, response.text
        job_id = response.json()["id"]
        deadline = time.monotonic() + 60
        while True:
            data = http.get(f"jobs/{job_id}").json()
            if data["status"] in ("completed", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"job {job_id} stayed {data['status']}"
            time.sleep(0.01)
    if data["status"] == "completed":
        return True
    (error,) = data["errors"]
    assert error["error_code"] == "circuit_validation_error", error
    assert "exceeds max_circuit_duration_over_t2" in error["message"], error
    return False


def check(client: q.QaasClient, server: EmulatorServer, calibration: q.Calibration, circuit: q.Circuit) -> None:
    _, _, report = client.prepare([circuit], 1, calibration=calibration)
    assert report.longest_duration == q.circuit_duration(circuit, calibration) > 0.0
    ratio = report.worst_duration_over_t2
    assert ratio > 0.0
    assert not runs_on_server(server, circuit, ratio * (1 - SLACK)), "the server finds the circuit shorter"
    assert runs_on_server(server, circuit, ratio * (1 + SLACK)), "the server finds the circuit longer"


@functools.cache
def _calibration(device: str) -> q.Calibration:
    return q.load_profile(device)


@pytest.mark.parametrize(("program", "front"), cases.program_front_ends())
def test_library_programs(
    client: q.QaasClient, servers: dict[str, EmulatorServer], program: Program, front: str
) -> None:
    calibration = _calibration(program.device)
    native = front_end(front).native(program, calibration)
    check(client, servers[program.device], calibration, native.circuit)


@pytest.mark.parametrize("front", [fe.name for fe in FRONT_ENDS])
def test_a_circuit_longer_than_t2_is_refused_by_both(
    client: q.QaasClient, servers: dict[str, EmulatorServer], front: str
) -> None:
    # ipe3 (three readouts, two resets, four conditioned π pulses: about 14 µs) on garnet20, whose T2 are 8-11 µs:
    # the library runs it on deneb6 only, because every front end compiles it here and the client refuses it
    calibration = _calibration("garnet20")
    circuit = front_end(front).native(program("ipe3").on("garnet20"), calibration).circuit
    with pytest.raises(q.CircuitError, match="T2"):
        client.prepare([circuit], 1, calibration=calibration)
    assert not runs_on_server(servers["garnet20"], circuit, 1.0), "the server runs it"


@pytest.mark.parametrize("front", sorted(test_star_identity.FRONT_ENDS))
@pytest.mark.parametrize("program", sorted(test_star_identity.PROGRAMS))
@pytest.mark.parametrize("device", test_star_identity.DEVICES)
def test_star_programs(
    client: q.QaasClient, servers: dict[str, EmulatorServer], device: str, program: str, front: str
) -> None:
    circuit = test_star_identity.FRONT_ENDS[front](device, program)
    check(client, servers[device], _calibration(device), circuit)


def test_a_multi_qubit_readout_is_timed_alike(client: q.QaasClient, servers: dict[str, EmulatorServer]) -> None:
    # the case on which the two used to disagree: the server took a parallel readout, the client timed it as 0
    calibration = _calibration("garnet20")
    circuit = q.Circuit("readout", (q.prx("QB1", 1.0, 0.0), q.measure("QB1", "QB2", "QB3", key="m")))
    readout = max(calibration.duration("measure", (c,)) or 0.0 for c in ("QB1", "QB2", "QB3"))
    assert q.circuit_duration(circuit, calibration) == (calibration.duration("prx", ("QB1",)) or 0.0) + readout
    check(client, servers["garnet20"], calibration, circuit)
