"""qaas-worker against the emulated IQM server, as HEAppE would run it: a real subprocess in a task directory."""

from __future__ import annotations

import gzip
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import qaas_core as q
from qaas_core._result import decode_result
from qaas_core.emulator import EmulatorConfig, EmulatorServer
from qaas_core.worker._files import read_progress

HALF = math.pi / 2
BELL = q.Circuit("bell", (
    q.prx("QB1", HALF, HALF), q.prx("QB2", HALF, HALF), q.cz("QB1", "QB2"), q.prx("QB2", HALF, 3 * HALF),
    q.measure("QB1", "QB2", key="m"),
))  # fmt: skip


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(device="garnet20", noise=False, seed=1, state_dir=tmp_path_factory.mktemp("emu"))
    with EmulatorServer(config) as emu:
        yield emu


def worker_env(emu: EmulatorServer, state: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IQM_", "QAAS_"))}
    env.update(IQM_SERVER_URL=emu.url, IQM_QUANTUM_COMPUTER=emu.config.quantum_computer,
               IQM_TOKEN=emu.config.iqm_token, QAAS_WORKER_STATE=str(state), **extra)  # fmt: skip
    return env


def task(tmp: Path, request: q.RunRequest, *, compress: bool = False) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    data = q.encode_run_request(request)
    if compress:
        (tmp / "request.json.gz").write_bytes(gzip.compress(data))
    else:
        (tmp / "request.json").write_bytes(data)
    return tmp


def request(submission_id: str | None = None, **kw: object) -> q.RunRequest:
    fields: dict[str, object] = {
        "schema": "qaas.run/1",
        "submission_id": submission_id or str(uuid.uuid4()),
        "shots": 500,
        "circuits": (BELL,),
    }
    fields.update(kw)
    return q.RunRequest(**fields)  # type: ignore[arg-type]


def run_worker(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qaas_core.worker", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


def read_result(path: Path) -> object:
    raw = path.read_bytes()
    return decode_result(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def test_run_writes_result_and_progress(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = task(tmp_path / "t", request())
    proc = run_worker(worker_env(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 0, proc.stderr
    doc = read_result(d / "result.json")
    assert doc.status == "completed" and doc.iqm_job_id
    assert doc.calibration_set_id == q.load_profile("garnet20").calibration_set_id
    (circuit,) = doc.circuits
    assert circuit.shots == 500 and circuit.keys == {"m": 2}
    bits = circuit.bits("m")
    assert bits.shape == (500, 2)
    assert set(map(tuple, bits.tolist())) <= {(0, 0), (1, 1)}
    assert 150 < bits[:, 0].sum() < 350
    events = [e["event"] for e in read_progress(d / "progress.json")]
    assert events[0] == "started" and "submitted" in events and events[-1] == "done"
    assert any(e.status == "completed" for e in doc.timeline)


def test_compressed_request_gives_compressed_counts_only_result(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = task(tmp_path / "t", request(memory=False, shots=300), compress=True)
    proc = run_worker(worker_env(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 0, proc.stderr
    assert not (d / "result.json").exists()
    doc = read_result(d / "result.json.gz")
    counts = doc.circuits[0].bitstring_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 300
    assert doc.circuits[0].memory is None


def test_same_submission_id_never_runs_twice(emulator: EmulatorServer, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    env = worker_env(emulator, tmp_path / "state")
    first = task(tmp_path / "a", request(sid))
    second = task(tmp_path / "b", request(sid))
    assert run_worker(env, first, "run").returncode == 0
    proc = run_worker(env, second, "run")
    assert proc.returncode == 0, proc.stderr
    a, b = read_result(first / "result.json"), read_result(second / "result.json")
    assert a.iqm_job_id == b.iqm_job_id
    events = [e["event"] for e in read_progress(second / "progress.json")]
    assert "attached" in events and "submitted" not in events
    # a re-run in the same directory reuses the finished result
    assert run_worker(env, first, "run").returncode == 0
    assert read_progress(first / "progress.json")[-1].get("reused") is True


def test_bad_request_exit_code_and_message(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "request.json").write_text('{"schema": "qaas.run/1", "submission_id": "x", "shots": 0, "circuits": []}')
    proc = run_worker(worker_env(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 2
    assert "bad request" in proc.stderr and "Traceback" not in proc.stderr
    assert read_result(d / "result.json").status == "failed"


def test_missing_configuration_and_bad_token(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = task(tmp_path / "t", request())
    env = worker_env(emulator, tmp_path / "state")
    no_url = {k: v for k, v in env.items() if k != "IQM_SERVER_URL"}
    proc = run_worker(no_url, d, "run")
    assert proc.returncode == 5 and "IQM_SERVER_URL" in proc.stderr
    d2 = task(tmp_path / "t2", request())
    proc = run_worker({**env, "IQM_TOKEN": "wrong"}, d2, "run")
    assert proc.returncode == 6, proc.stderr
    assert "Traceback" not in proc.stderr and "wrong" not in proc.stderr


def test_invalid_circuit_fails_the_job(emulator: EmulatorServer, tmp_path: Path) -> None:
    bad = q.Circuit("far", (q.cz("QB1", "QB20"), q.measure("QB1", key="m")))
    d = task(tmp_path / "t", request(circuits=(bad,)))
    proc = run_worker(worker_env(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 3, proc.stderr
    doc = read_result(d / "result.json")
    assert doc.status == "failed" and doc.errors


def test_calibrate_writes_the_servers_calibration(emulator: EmulatorServer, tmp_path: Path) -> None:
    proc = run_worker(worker_env(emulator, tmp_path / "state"), tmp_path, "calibrate")
    assert proc.returncode == 0, proc.stderr
    got = q.Calibration.from_json((tmp_path / "calibration.json").read_bytes())
    want = q.load_profile("garnet20")
    assert got.calibration_set_id == want.calibration_set_id
    assert got.to_dqa() == want.to_dqa()
    assert got.metrics.t1 == pytest.approx(want.metrics.t1)
    assert got.fidelity("cz", ("QB1", "QB2")) == pytest.approx(want.fidelity("cz", ("QB1", "QB2")))


def test_service_mode_and_cancellation_by_kill(tmp_path: Path) -> None:
    config = EmulatorConfig(device="garnet20", noise=False, state_dir=tmp_path / "emu", iqm_queue_seconds=30.0)
    with EmulatorServer(config) as emu:
        sock = str(tmp_path / "w.sock")
        env = worker_env(emu, tmp_path / "state", QAAS_WORKER_SOCKET=sock)
        log = tmp_path / "service.log"
        with open(log, "w") as log_file:
            service = subprocess.Popen([sys.executable, "-m", "qaas_core.worker", "serve", "--socket", sock], env=env,
                                       stderr=log_file)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not Path(sock).exists():
                assert service.poll() is None, log.read_text()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            d = task(tmp_path / "slow", request())
            client = subprocess.Popen([sys.executable, "-m", "qaas_core.worker", "run"], cwd=d, env=env,
                                      stderr=subprocess.DEVNULL)  # fmt: skip
            deadline = time.monotonic() + 30
            while "submitted" not in (d / "progress.json").read_text() if (d / "progress.json").exists() else True:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            client.kill()  # what HEAppE does on CancelJob or walltime
            client.wait(10)
            deadline = time.monotonic() + 30
            while not (d / "result.json").exists():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            doc = read_result(d / "result.json")
            assert doc.status == "cancelled"
        finally:
            service.terminate()
            service.wait(10)
