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

import httpx
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


def site_config(emu: EmulatorServer, state: Path, *, token: str | None = None, socket: str | None = None) -> Path:
    """The site's worker.toml (and its 0600 token file), as an administrator writes them."""
    state.mkdir(parents=True, exist_ok=True)
    token_file = state / "iqm-token"
    token_file.write_text(token or emu.config.iqm_token)
    token_file.chmod(0o600)
    lines = ["[iqm]", f'url = "{emu.url}"', f'quantum_computer = "{emu.config.quantum_computer}"',
             f'token_file = "{token_file}"', "", "[state]", f'dir = "{state / "records"}"']  # fmt: skip
    if socket:
        lines += ["", "[service]", f'socket = "{socket}"']
    path = state / "worker.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], **extra}


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


def run_worker(config: Path, cwd: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run([sys.executable, "-I", "-m", "qaas_core.worker", "--config", str(config), *args], cwd=cwd,
                          env=env or clean_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def read_result(path: Path) -> object:
    raw = path.read_bytes()
    return decode_result(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def test_run_writes_result_and_progress(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = task(tmp_path / "t", request())
    proc = run_worker(site_config(emulator, tmp_path / "state"), d, "run")
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
    proc = run_worker(site_config(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 0, proc.stderr
    assert not (d / "result.json").exists()
    doc = read_result(d / "result.json.gz")
    counts = doc.circuits[0].bitstring_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 300
    assert doc.circuits[0].memory is None


def test_same_submission_id_never_runs_twice(emulator: EmulatorServer, tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    cfg = site_config(emulator, tmp_path / "state")
    first = task(tmp_path / "a", request(sid))
    second = task(tmp_path / "b", request(sid))
    assert run_worker(cfg, first, "run").returncode == 0
    proc = run_worker(cfg, second, "run")
    assert proc.returncode == 0, proc.stderr
    a, b = read_result(first / "result.json"), read_result(second / "result.json")
    assert a.iqm_job_id == b.iqm_job_id
    events = [e["event"] for e in read_progress(second / "progress.json")]
    assert "attached" in events and "submitted" not in events
    # a re-run in the same directory reuses the finished result
    assert run_worker(cfg, first, "run").returncode == 0
    assert read_progress(first / "progress.json")[-1].get("reused") is True


def test_bad_request_exit_code_and_message(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "request.json").write_text('{"schema": "qaas.run/1", "submission_id": "x", "shots": 0, "circuits": []}')
    proc = run_worker(site_config(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 2
    assert "bad request" in proc.stderr and "Traceback" not in proc.stderr
    assert read_result(d / "result.json").status == "failed"


def test_missing_configuration_and_bad_token(emulator: EmulatorServer, tmp_path: Path) -> None:
    d = task(tmp_path / "t", request())
    cfg = site_config(emulator, tmp_path / "state")
    no_url = tmp_path / "no-url.toml"
    no_url.write_text("\n".join(line for line in cfg.read_text().splitlines() if not line.startswith("url")))
    proc = run_worker(no_url, d, "run")
    assert proc.returncode == 5 and "no IQM server" in proc.stderr
    proc = run_worker(tmp_path / "missing.toml", d, "run")
    assert proc.returncode == 5 and "no worker configuration" in proc.stderr
    d2 = task(tmp_path / "t2", request())
    proc = run_worker(site_config(emulator, tmp_path / "state2", token="wrong"), d2, "run")
    assert proc.returncode == 6, proc.stderr
    assert "Traceback" not in proc.stderr and "wrong" not in proc.stderr
    # a token file others may read is refused before it is used
    (tmp_path / "state2" / "iqm-token").chmod(0o644)
    proc = run_worker(tmp_path / "state2" / "worker.toml", task(tmp_path / "t3", request()), "run")
    assert proc.returncode == 5 and "chmod 600" in proc.stderr


def test_invalid_circuit_fails_the_job(emulator: EmulatorServer, tmp_path: Path) -> None:
    bad = q.Circuit("far", (q.cz("QB1", "QB20"), q.measure("QB1", key="m")))
    d = task(tmp_path / "t", request(circuits=(bad,)))
    proc = run_worker(site_config(emulator, tmp_path / "state"), d, "run")
    assert proc.returncode == 3, proc.stderr
    doc = read_result(d / "result.json")
    assert doc.status == "failed" and doc.errors


def test_calibrate_writes_the_servers_calibration(emulator: EmulatorServer, tmp_path: Path) -> None:
    proc = run_worker(site_config(emulator, tmp_path / "state"), tmp_path, "calibrate")
    assert proc.returncode == 0, proc.stderr
    got = q.Calibration.from_json((tmp_path / "calibration.json").read_bytes())
    want = q.load_profile("garnet20")
    assert got.calibration_set_id == want.calibration_set_id
    assert got.to_dqa() == want.to_dqa()
    assert got.metrics.t1 == pytest.approx(want.metrics.t1)
    assert got.fidelity("cz", ("QB1", "QB2")) == pytest.approx(want.fidelity("cz", ("QB1", "QB2")))


def test_service_mode_and_cancellation_by_kill(tmp_path: Path) -> None:
    config = EmulatorConfig(device="garnet20", noise=False, state_dir=tmp_path / "emu", iqm_queue_seconds=30.0,
                            worker_service=False)  # fmt: skip
    with EmulatorServer(config) as emu:
        sock = str(tmp_path / "w.sock")
        cfg = site_config(emu, tmp_path / "state", socket=sock)
        log = tmp_path / "service.log"
        with open(log, "w") as log_file:
            service = subprocess.Popen([sys.executable, "-I", "-m", "qaas_core.worker", "--config", str(cfg), "serve"],
                                       env=clean_env(), stderr=log_file)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not Path(sock).exists():
                assert service.poll() is None, log.read_text()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            d = task(tmp_path / "slow", request())
            client = subprocess.Popen([sys.executable, "-I", "-m", "qaas_core.worker", "--config", str(cfg), "run"],
                                      cwd=d, env=clean_env(), stderr=subprocess.DEVNULL)  # fmt: skip
            deadline = time.monotonic() + 30
            while "submitted" not in (d / "progress.json").read_text() if (d / "progress.json").exists() else True:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            events = read_progress(d / "progress.json")
            iqm_job_id = next(e["iqm_job_id"] for e in events if e["event"] == "submitted")
            # the service did the work: the task process never held the IQM token
            assert events[0]["event"] == "started" and events[0]["pid"] == client.pid
            client.kill()  # what HEAppE does on CancelJob or walltime
            client.wait(10)
            deadline = time.monotonic() + 30
            headers = {"Authorization": f"Bearer {emu.config.iqm_token}"}
            while True:
                status = httpx.get(f"{emu.url}/api/v1/jobs/{iqm_job_id}", headers=headers).json()["status"]
                if status == "cancelled":
                    break
                assert time.monotonic() < deadline, status
                time.sleep(0.1)
        finally:
            service.terminate()
            service.wait(10)


# -- a shared site: one user's work is out of every other user's reach -----------------------------------------------


def test_a_replayed_submission_id_of_another_account_reveals_nothing(emulator: EmulatorServer, tmp_path: Path) -> None:
    cfg = site_config(emulator, tmp_path / "state")
    sid = str(uuid.uuid4())
    alice = task(tmp_path / "alice", request(sid))
    assert run_worker(cfg, alice, "--account", "alice-acct", "run").returncode == 0
    victim = read_result(alice / "result.json").iqm_job_id
    # another project's account uses her id for its own circuit: it runs as a job of its own, paid by it
    flipped = q.Circuit("x", (q.prx("QB1", math.pi, 0.0), q.measure("QB1", key="m")))
    mallory = task(tmp_path / "mallory", request(sid, circuits=(flipped,), shots=50))
    proc = run_worker(cfg, mallory, "--account", "mallory-acct", "run")
    assert proc.returncode == 0, proc.stderr
    doc = read_result(mallory / "result.json")
    assert doc.iqm_job_id != victim and set(doc.circuits[0].bitstring_counts()) == {"1"}
    for path in mallory.iterdir():
        assert victim.encode() not in path.read_bytes()


def test_the_same_id_for_another_request_of_the_same_account_is_refused(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    cfg = site_config(emulator, tmp_path / "state")
    sid = str(uuid.uuid4())
    first = task(tmp_path / "a", request(sid))
    assert run_worker(cfg, first, "--account", "p1", "run").returncode == 0
    victim = read_result(first / "result.json").iqm_job_id
    other = task(tmp_path / "b", request(sid, shots=7))
    proc = run_worker(cfg, other, "--account", "p1", "run")
    assert proc.returncode == 2 and "different request" in proc.stderr
    doc = read_result(other / "result.json")
    assert doc.status == "failed" and doc.iqm_job_id is None
    assert victim not in proc.stderr + proc.stdout
    for path in other.iterdir():
        assert victim.encode() not in path.read_bytes()


def test_the_job_environment_cannot_configure_or_inject_code_into_the_worker(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    cfg = site_config(emulator, tmp_path / "state")
    d = task(tmp_path / "t", request(shots=20))
    # what a user can upload and export through HEAppE: code on PYTHONPATH, and settings for iqm-client/requests
    (d / "sitecustomize.py").write_text("import pathlib\npathlib.Path('pwned').write_text('ran')\n")
    (d / "usercustomize.py").write_text("import pathlib\npathlib.Path('pwned').write_text('ran')\n")
    hostile = clean_env(PYTHONPATH=".", PYTHONSTARTUP="sitecustomize.py", IQM_SERVER_URL="http://127.0.0.1:9",
                        IQM_TOKEN="users-own-token", IQM_TOKENS_FILE="/nonexistent", HTTPS_PROXY="http://127.0.0.1:9",
                        HTTP_PROXY="http://127.0.0.1:9", REQUESTS_CA_BUNDLE=str(d / "evil-ca.pem"),
                        QAAS_WORKER_STATE=str(tmp_path / "elsewhere"), PYTHONINSPECT="1")  # fmt: skip
    proc = run_worker(cfg, d, "run", env=hostile)
    assert proc.returncode == 0, proc.stderr
    assert not (d / "pwned").exists()
    assert read_result(d / "result.json").status == "completed"
    assert not (tmp_path / "elsewhere").exists()


def test_a_worker_not_started_isolated_or_with_preloaded_code_refuses(emulator: EmulatorServer, tmp_path: Path) -> None:
    cfg = site_config(emulator, tmp_path / "state")
    d = task(tmp_path / "t", request())
    proc = subprocess.run([sys.executable, "-m", "qaas_core.worker", "--config", str(cfg), "run"], cwd=d,
                          env=clean_env(), capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 5 and "isolated" in proc.stderr
    proc = run_worker(cfg, d, "run", env=clean_env(LD_PRELOAD=str(d / "missing.so")))
    assert proc.returncode == 5 and "LD_PRELOAD" in proc.stderr
    assert not (d / "result.json").exists()


def test_an_oversized_or_bomb_request_is_refused_without_being_expanded(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    cfg = site_config(emulator, state)
    cfg.write_text(cfg.read_text() + "\n[limits]\nmax_request_bytes = 1048576\nmax_upload_bytes = 65536\n")
    bomb = task(tmp_path / "bomb", request())
    (bomb / "request.json").unlink()
    (bomb / "request.json.gz").write_bytes(gzip.compress(b" " * (64 << 20), 9))  # 64 KiB that expand to 64 MiB
    proc = run_worker(cfg, bomb, "run")
    assert proc.returncode == 2 and "expands beyond the limit of 1048576 bytes" in proc.stderr
    big = task(tmp_path / "big", request())
    (big / "request.json").write_bytes(b" " * 70_000)
    proc = run_worker(cfg, big, "run")
    assert proc.returncode == 2 and "larger than the site's limit of 65536 bytes" in proc.stderr


def test_a_submit_without_a_clear_answer_is_never_sent_again(emulator: EmulatorServer, tmp_path: Path) -> None:
    from qaas_core.emulator._faults import FaultInjector

    state = tmp_path / "state"
    cfg = site_config(emulator, state)
    cfg.write_text(cfg.read_text().replace("[iqm]\n", "[iqm]\nsubmit_timeout = 1\n"))
    jobs = emulator.config.state_dir / "iqm" / "jobs"
    before = len(list(jobs.iterdir()))
    # the IQM server takes the job, but answers only after the worker stopped waiting
    FaultInjector.for_config(emulator.config).add(
        [{"method": "POST", "path": "/circuit$", "action": "late", "delay_seconds": 3, "count": 1}]
    )
    sid = str(uuid.uuid4())
    proc = run_worker(cfg, task(tmp_path / "a", request(sid)), "run")
    assert proc.returncode == 6 and "may exist" in proc.stderr
    time.sleep(3)
    assert len(list(jobs.iterdir())) == before + 1  # the server did create it
    # HEAppE (or the client) runs the task again: it is not submitted a second time
    proc = run_worker(cfg, task(tmp_path / "b", request(sid)), "run")
    assert proc.returncode == 3 and "may or may not exist" in proc.stderr
    assert len(list(jobs.iterdir())) == before + 1
