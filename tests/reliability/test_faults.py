"""The fault matrix: every fault at every phase of a job, over real HTTP against the emulator.

Each cell must end in one of two ways: recovered transparently (the job's counts are right), or a typed
``QaasError`` that says what happened — never a hang (every wait is bounded) and never a raw httpx/json exception.
``QAAS_WRITE_FAULT_TABLE=1 pytest tests/reliability`` rewrites ``docs/faults.md`` from the outcomes.
"""

from __future__ import annotations

import gzip
import math
import os
import time
from pathlib import Path

import pytest

import qaas_core as q
from tests.reliability.conftest import set_faults

HALF = math.pi / 2
BELL = q.Circuit("bell", (
    q.prx("QB1", HALF, HALF), q.prx("QB2", HALF, HALF), q.cz("QB1", "QB2"), q.prx("QB2", HALF, 3 * HALF),
    q.measure("QB1", "QB2", key="m"),
))  # fmt: skip

PHASES = {
    "create": "JobManagement/CreateJob",
    "upload": "FileTransfer/UploadFilesToJobExecutionDir",
    "submit": "JobManagement/SubmitJob",
    "poll": "JobManagement/CurrentInfoForJob",
    "download": "FileTransfer/DownloadFileFromCluster",
}
# fault name -> rule (without path) ; every one of them is transient (fires twice) and must be recovered
TRANSIENT = {
    "500": {"action": "status", "status": 500, "count": 2},
    "502": {"action": "status", "status": 502, "count": 2},
    "503": {"action": "status", "status": 503, "count": 2},
    "429 + Retry-After": {"action": "status", "status": 429, "retry_after": 1, "count": 2},
    "connection reset": {"action": "drop", "count": 2},
    "read timeout": {"action": "delay", "delay_seconds": 2.5, "count": 1},
    "401 expired token": {"action": "expire_tokens", "count": 1},
}
OUTCOMES: dict[tuple[str, str], str] = {}


def run_bell(client: q.QaasClient, *, timeout: float = 90) -> q.Result:
    job = client.submit(BELL, 64, calibration=client.calibration())
    return job.result(timeout=timeout)


def record(fault: str, phase: str, outcome: str) -> None:
    OUTCOMES[(fault, phase)] = outcome


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_transient_fault_is_recovered(fast_emulator: q.QaasClient, fault: str, phase: str) -> None:
    fast_emulator.calibration()
    set_faults(fast_emulator, [{**TRANSIENT[fault], "path": PHASES[phase]}])
    started = time.monotonic()
    try:
        result = run_bell(fast_emulator)
    finally:
        set_faults(fast_emulator, [])
    counts = result.counts(0)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 64
    record(fault, phase, f"recovered ({time.monotonic() - started:.1f} s)")


@pytest.mark.parametrize("phase", list(PHASES))
def test_persistent_outage_is_a_typed_bounded_error(fast_emulator: q.QaasClient, phase: str) -> None:
    fast_emulator.calibration()
    set_faults(fast_emulator, [{"action": "status", "status": 503, "path": PHASES[phase], "count": None}])
    started = time.monotonic()
    job: q.Job | None = None
    try:
        with pytest.raises(q.QaasError) as info:
            job = fast_emulator.submit(BELL, 64, calibration=fast_emulator.calibration())
            job.result(timeout=60)
    finally:
        set_faults(fast_emulator, [])
    err = info.value
    assert isinstance(err, q.RemoteAPIError) and err.status_code == 503 and err.retryable
    assert time.monotonic() - started < 60
    if job is not None:  # the job itself is still there: once the service is back, the result comes
        counts = job.result(timeout=60).counts(0)
        assert sum(counts.values()) == 64
    record(
        "503 that does not end",
        phase,
        f"{type(err).__name__} (retryable) after {time.monotonic() - started:.0f} s"
        + (", job recovered afterwards" if job is not None else ", nothing submitted"),
    )


def test_session_expiry_is_recovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # session codes need a HEAppE that runs session authentication (a bearer one issues none)
    monkeypatch.setenv("QAAS_RETRY_WAIT_SCALE", "0.1")
    session_client = q.QaasClient.emulator("garnet20", noise=False, simulation="fast", data_dir=tmp_path, timeout=1.5,
                                           scheduler_tick_seconds=0.05, heappe_auth="session")  # fmt: skip
    try:
        assert sum(run_bell(session_client).counts(0).values()) == 64
        first = session_client.heappe.session_code
        assert first and session_client.heappe.auth == "session"
        for phase in ("create", "poll", "download"):
            set_faults(session_client, [{"action": "expire_sessions", "path": PHASES[phase], "count": 1}])
            try:
                assert sum(run_bell(session_client).counts(0).values()) == 64
            finally:
                set_faults(session_client, [])
            record("HEAppE session expiry", phase, "recovered (new session code)")
        assert session_client.heappe.session_code not in (None, first)
    finally:
        session_client.close()


def test_worker_error_fails_the_job_with_both_ids(fast_emulator: q.QaasClient) -> None:
    set_faults(fast_emulator, [{"action": "fail_next_job", "job_name": "qaas-", "message": "node qexec-3 lost its link",
                       "count": 1}])  # fmt: skip
    try:
        job = fast_emulator.submit(BELL, 64, calibration=fast_emulator.calibration())
        with pytest.raises(q.JobFailedError) as info:
            job.result(timeout=60)
    finally:
        set_faults(fast_emulator, [])
    assert info.value.heappe_job_id == job.heappe_job_id and "lost its link" in str(info.value)
    record("job Failed with a worker error", "poll", "JobFailedError (HEAppE id, reason)")


def _task_dir(client: q.QaasClient, job: q.Job) -> Path:
    root = Path(str(client._emulator.server.config.state_dir)) / "cluster"  # type: ignore[union-attr]
    (path,) = [p for p in root.glob(f"*/*/{job._t.heappe_task_id}") if p.is_dir()]
    return path


@pytest.mark.parametrize("damage", ["garbled", "truncated"])
def test_damaged_result_file_is_a_typed_error(fast_emulator: q.QaasClient, damage: str) -> None:
    job = fast_emulator.submit(BELL, 64, calibration=fast_emulator.calibration())
    job.wait(timeout=60)
    path = _task_dir(fast_emulator, job) / "result.json.gz"
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(b"\x00garbage{" if damage == "garbled" else gzip.compress(data[: len(data) // 2]))
    with pytest.raises(q.PayloadError) as info:
        job.result(timeout=30)
    assert "result" in str(info.value)
    record(f"{damage} result.json", "download", "PayloadError (names the file)")


def _worker_pids(task_dir: Path) -> list[int]:
    """Processes running ``qaas_core.worker`` in ``task_dir`` (read from /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"qaas_core.worker" in cmdline and Path(cwd) == task_dir:
            pids.append(int(proc.name))
    return pids


def test_worker_killed_fails_the_job(tmp_path: Path) -> None:
    """kill -9 of the task's worker process (a node crash): HEAppE reports Failed, the IQM job is cancelled."""
    import signal

    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path, iqm_queue_seconds=20.0,
                               scheduler_tick_seconds=0.05) as client:  # fmt: skip
        job = client.submit(BELL, 64, calibration=client.calibration())
        deadline = time.monotonic() + 60
        while job.status() != "qpu_queued":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        pids = _worker_pids(_task_dir(client, job))
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(q.JobFailedError) as info:
            job.result(timeout=60)
    # HEAppE reports the task Failed; the worker service noticed its task vanish and cancelled the IQM job, so no
    # QPU time is spent on a result nobody will collect. The error says which of the two the client saw.
    assert info.value.state in ("failed", "cancelled") and info.value.heappe_job_id == job.heappe_job_id
    assert any(word in str(info.value) for word in ("-9", "signal", "exited", "stopped", "cancelled"))
    record("worker crash / kill", "poll", "JobFailedError (HEAppE id; IQM job cancelled, no orphaned QPU work)")


def test_emulator_restart_mid_job(tmp_path: Path) -> None:
    os.environ["QAAS_RETRY_WAIT_SCALE"] = "0.1"
    try:
        client = q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path, iqm_queue_seconds=3.0,
                                       scheduler_tick_seconds=0.05)  # fmt: skip
        emu = client._emulator
        try:
            job = client.submit(BELL, 64, calibration=client.calibration())
            deadline = time.monotonic() + 30
            while job.status() not in ("qpu_queued", "qpu_processing"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            port = emu.server.port
            emu.server.stop()  # everything goes down mid-job; state stays on disk
            from qaas_core.emulator import EmulatorConfig, EmulatorServer

            config = emu.server.config
            emu.server = EmulatorServer(EmulatorConfig(**{**config.__dict__, "port": port})).start()
            result = job.result(timeout=90)
            assert sum(result.counts(0).values()) == 64
            assert result.iqm_job_id == job.iqm_job_id  # the re-run attached to the same IQM job
        finally:
            client.close()
    finally:
        os.environ.pop("QAAS_RETRY_WAIT_SCALE", None)
    record("emulator restart mid-job", "poll", "recovered (task re-run attaches to the same IQM job)")


def test_zz_write_table() -> None:
    """Render the outcomes (all cells of this module) as docs/faults.md when asked; check it names every cell."""
    table = Path(__file__).resolve().parents[2] / "docs" / "faults.md"
    if os.environ.get("QAAS_WRITE_FAULT_TABLE") and OUTCOMES:
        phases = list(PHASES)
        faults_seen = list(dict.fromkeys(f for f, _ in OUTCOMES))
        lines = [
            "# Reliability: the fault matrix",
            "",
            "Generated by `QAAS_WRITE_FAULT_TABLE=1 pytest tests/reliability` from the outcomes of "
            "`tests/reliability/test_faults.py` (real HTTP against the emulator; transient faults fire twice; "
            "times include the injected faults and retries with waits scaled by 0.1).",
            "",
            "| fault | " + " | ".join(phases) + " |",
            "|---|" + "---|" * len(phases),
        ]
        for f in faults_seen:
            lines.append(f"| {f} | " + " | ".join(OUTCOMES.get((f, p), "—") for p in phases) + " |")
        table.write_text("\n".join(lines) + "\n")
    text = table.read_text()
    for fault in [
        *TRANSIENT,
        "503 that does not end",
        "HEAppE session expiry",
        "job Failed with a worker error",
        "garbled result.json",
        "truncated result.json",
        "worker crash / kill",
        "emulator restart mid-job",
    ]:
        assert f"| {fault} |" in text, fault
