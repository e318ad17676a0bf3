"""The direct transport: the client on the emulated IQM server over real HTTP, with an IQM token, no LEXIS or HEAppE."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import qaas_core as q
from qaas_core.emulator._faults import FaultInjector

HALF = math.pi / 2
ROOT = Path(__file__).resolve().parents[2]


def bell(name: str = "bell") -> q.Circuit:
    return q.Circuit(name, (
        q.prx("QB1", HALF, HALF), q.prx("QB2", HALF, HALF), q.cz("QB1", "QB2"), q.prx("QB2", HALF, 3 * HALF),
        q.measure("QB1", "QB2", key="m"),
    ))  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    os.environ["QAAS_RETRY_WAIT_SCALE"] = "0.05"
    c = q.QaasClient.emulator("garnet20", noise=False, seed=3, transport="iqm", timeout=2.0,
                              data_dir=tmp_path_factory.mktemp("direct"))  # fmt: skip
    try:
        yield c
    finally:
        c.close()
        os.environ.pop("QAAS_RETRY_WAIT_SCALE", None)


def faults(client: q.QaasClient) -> FaultInjector:
    return FaultInjector.for_config(client._emulator.server.config)  # type: ignore[union-attr]


def iqm_jobs(client: q.QaasClient) -> int:
    root = Path(str(client._emulator.server.config.state_dir)) / "iqm" / "jobs"  # type: ignore[union-attr]
    return sum(1 for p in root.iterdir() if p.is_dir()) if root.exists() else 0


def test_a_batch_runs_as_one_iqm_job_with_few_requests(client: q.QaasClient) -> None:
    calibration = client.calibration()
    batch = [bell(f"bell-{i}") for i in range(1000)]
    before_jobs, before_requests = iqm_jobs(client), client.iqm.requests
    job = client.submit(batch, 20, calibration=calibration, memory=False)
    result = job.result(timeout=300)
    assert iqm_jobs(client) == before_jobs + 1
    assert job.heappe_job_id is None and job.iqm_job_id == result.iqm_job_id
    for i in (0, 500, 999):
        assert set(result.counts(i)) <= {"00", "11"} and sum(result.counts(i).values()) == 20
    spent = client.iqm.requests - before_requests
    assert spent - job.poll_requests == 2, spent  # one submit, one measurements download, the rest is polling
    entry = client.ledger.get(job.iqm_job_id)
    assert entry.transport == "iqm" and entry.state == "completed" and entry.heappe_job_id is None
    assert job.events[0].kind == "submitted" and job.events[-1].kind == "completed"


def test_pinned_calibration_set_and_the_first_circuit_is_tagged(client: q.QaasClient) -> None:
    calibration = client.calibration()
    job = client.submit(bell(), 10, calibration=calibration, calibration_set_id=calibration.calibration_set_id)
    assert job.result(timeout=60).calibration_set_id == calibration.calibration_set_id
    headers = {"Authorization": f"Bearer {client.settings.iqm_token.get()}"}  # type: ignore[union-attr]
    payload = httpx.get(f"{client.iqm.base_url}/api/v1/jobs/{job.iqm_job_id}/payload", headers=headers).json()
    assert payload["calibration_set_id"] == calibration.calibration_set_id
    assert payload["circuits"][0]["metadata"]["qaas_submission_id"] == job.submission_id


def test_transient_faults_are_survived(client: q.QaasClient) -> None:
    calibration = client.calibration()
    faults(client).add([
        {"path": "/api/v1/jobs/[^/]+$", "method": "GET", "status": 503, "count": 2},
        {"path": "/artifacts/measurements$", "action": "drop", "count": 1},
        {"path": "/api/v1/jobs/[^/]+$", "method": "GET", "action": "delay", "delay_seconds": 3, "count": 1},
    ])  # fmt: skip
    try:
        result = client.submit(bell(), 40, calibration=calibration).result(timeout=120)
    finally:
        faults(client).clear()
    assert sum(result.counts(0).values()) == 40


def test_a_submit_without_an_answer_is_never_sent_twice(client: q.QaasClient) -> None:
    calibration = client.calibration()
    before = iqm_jobs(client)
    faults(client).add([{"path": "/circuit$", "method": "POST", "action": "late", "delay_seconds": 4, "count": 1}])
    try:
        with pytest.raises(q.SubmissionUnconfirmedError, match="qaas_submission_id=") as info:
            client.submit(bell(), 10, calibration=calibration)
    finally:
        faults(client).clear()
    time.sleep(4.5)
    assert iqm_jobs(client) == before + 1  # the server did take it
    (entry,) = [e for e in client.jobs(limit=5) if e.submission_id in info.value.message]
    assert entry.state == "failed" and "may exist" in (entry.error or "")
    assert entry.submission_id not in {j.submission_id for j in client.recover()}  # nothing resends it
    assert iqm_jobs(client) == before + 1


def test_a_wrong_token_is_a_typed_error(client: q.QaasClient, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"access_token": "not-the-token"}))
    wrong = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir, transport="iqm",
                         iqm_tokens_file=str(tokens))  # fmt: skip
    try:
        with pytest.raises(q.AuthenticationError, match="refused the token"):
            wrong.calibration(refresh=True)
        assert "not-the-token" not in repr(wrong.iqm.tokens)
    finally:
        wrong.close()


KILL = """
import os, sys
import qaas_core as q
from qaas_core import _iqm
from tests.client.test_iqm_direct import bell

phase = sys.argv[1]
original = _iqm.IQMServerClient.send
def send(self, call):
    response = original(self, call)
    if phase == "before-recording" and call.method == "POST" and call.path.endswith("/circuit"):
        os.kill(os.getpid(), 9)  # the server took the job; its answer was never recorded
    if phase == "while-polling" and call.method == "GET" and "/jobs/" in call.path:
        os.kill(os.getpid(), 9)  # the job and its id are recorded
    return response
_iqm.IQMServerClient.send = send
client = q.QaasClient(transport="iqm")
client.submit(bell(), 30, calibration=client.calibration()).result(timeout=60)
"""


def _killed(client: q.QaasClient, phase: str) -> q.LedgerEntry:
    client.calibration()
    before = {e.submission_id for e in client.jobs(limit=None)}
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILL, phase], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    (entry,) = [e for e in client.jobs(limit=None) if e.submission_id not in before]
    return entry


def test_kill_while_polling_then_retrieve_by_iqm_job_id(client: q.QaasClient) -> None:
    entry = _killed(client, "while-polling")
    assert entry.iqm_job_id and entry.state == "submitted"
    fresh = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir, transport="iqm")
    try:
        result = fresh.retrieve(entry.iqm_job_id).result(timeout=60)
        assert sum(result.counts(0).values()) == 30
        assert fresh.ledger.get(entry.submission_id).state == "completed"
    finally:
        fresh.close()


def test_kill_before_the_answer_was_recorded_is_reported_and_never_resent(client: q.QaasClient) -> None:
    before = iqm_jobs(client)
    entry = _killed(client, "before-recording")
    assert entry.state == "preparing" and entry.iqm_job_id is None
    assert iqm_jobs(client) == before + 1
    fresh = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir, transport="iqm")
    try:
        with pytest.raises(q.SubmissionUnconfirmedError, match="not sent again"):
            fresh.retrieve(entry.submission_id)
        assert fresh.ledger.get(entry.submission_id).state == "failed"
        assert entry.submission_id not in {j.submission_id for j in fresh.recover()}
    finally:
        fresh.close()
    assert iqm_jobs(client) == before + 1


def test_queue_position_is_reported_and_a_queued_job_can_be_cancelled(tmp_path: Path) -> None:
    with q.QaasClient.emulator("garnet20", noise=False, transport="iqm", iqm_queue_seconds=30.0,
                               data_dir=tmp_path) as slow:  # fmt: skip
        calibration = slow.calibration()
        first = slow.submit(bell("first"), 10, calibration=calibration)
        second = slow.submit(bell("second"), 10, calibration=calibration)
        second.status()
        assert second.queue_position is not None and second.queue_position >= 1
        assert any(e.kind == "qpu_queued" and e.detail.get("queue_position") is not None for e in second.events)
        second.cancel()
        with pytest.raises(q.JobFailedError) as info:
            second.result(timeout=30)
        assert info.value.state == "cancelled" and slow.ledger.get(second.submission_id).state == "cancelled"
        first.cancel()


def test_openqasm_from_the_cli_on_the_direct_transport(client: q.QaasClient) -> None:
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator",
           "QAAS_TRANSPORT": "iqm", "COLUMNS": "200"}  # fmt: skip
    ghz = str(ROOT / "examples" / "ghz.qasm")
    argv = [sys.executable, "-m", "qaas_core.cli", "run", ghz, "--shots", "200", "--json"]
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["heappe_job_id"] is None and doc["iqm_job_id"] and "IQM job" in run.stderr
    assert set(doc["counts"][0]) <= {"000", "111"} and sum(doc["counts"][0].values()) == 200
