"""Exactly once and nothing lost: ambiguous failures never run a batch twice; a killed client loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import qaas_core as q
from tests.reliability.conftest import set_faults
from tests.reliability.test_faults import BELL


@pytest.fixture
def client(fast_emulator: q.QaasClient) -> q.QaasClient:
    return fast_emulator


def iqm_jobs(client: q.QaasClient) -> int:
    """IQM jobs the emulated QPU received (each worker execution that reached the QPU creates one)."""
    root = Path(str(client._emulator.server.config.state_dir)) / "iqm" / "jobs"  # type: ignore[union-attr]
    return sum(1 for p in root.iterdir() if p.is_dir()) if root.exists() else 0


def heappe_runs(client: q.QaasClient, submission_id: str) -> int:
    """HEAppE jobs of this submission that went past Configuring (each runs the worker once)."""
    call = client.heappe.protocol.list_jobs()
    jobs = client.heappe.protocol.parse_jobs(client.heappe.send(call))
    return sum(1 for j in jobs if j.name == f"qaas-{submission_id}"[:50] and j.state != 1)


@pytest.mark.parametrize("path", ["JobManagement/CreateJob", "JobManagement/SubmitJob",
                                  "FileTransfer/UploadFilesToJobExecutionDir"])  # fmt: skip
def test_timeout_after_the_server_accepted_runs_once(client: q.QaasClient, path: str) -> None:
    client.calibration()
    before = iqm_jobs(client)
    # the server handles the request, but only after the client (timeout 1.5 s) gave up: an ambiguous failure
    set_faults(client, [{"action": "delay", "delay_seconds": 2.5, "path": path, "count": 1}])
    try:
        job = client.submit(BELL, 32, calibration=client.calibration())
        result = job.result(timeout=60)
    finally:
        set_faults(client, [])
    assert sum(result.counts(0).values()) == 32
    assert iqm_jobs(client) == before + 1
    assert heappe_runs(client, job.submission_id) == 1


KILL_SCRIPT = """
import os, sys
import qaas_core as q
from qaas_core import _heappe
from tests.reliability.test_faults import BELL

phase = sys.argv[1]
seen = {"n": 0}
original = _heappe.HEAppEClient.send

def send(self, call):
    path = call.path
    if phase == "before-upload" and "UploadFiles" in path:
        os.kill(os.getpid(), 9)
    if phase == "before-submit" and "SubmitJob" in path:
        os.kill(os.getpid(), 9)
    response = original(self, call)
    if phase == "after-submit" and "SubmitJob" in path:
        os.kill(os.getpid(), 9)
    if phase == "while-polling" and "CurrentInfoForJob" in path:
        seen["n"] += 1
        if seen["n"] == 2:
            os.kill(os.getpid(), 9)
    if phase == "after-download" and "DownloadFileFromCluster" in path:
        os.kill(os.getpid(), 9)
    return response

_heappe.HEAppEClient.send = send
client = q.QaasClient()
job = client.submit(BELL, 48, calibration=client.calibration())
job.result(timeout=60)
print("not killed")
"""


@pytest.mark.parametrize("phase", ["before-upload", "before-submit", "after-submit", "while-polling",
                                   "after-download"])  # fmt: skip
def test_kill_the_client_at_each_phase_and_recover(client: q.QaasClient, phase: str) -> None:
    client.calibration()
    before_jobs = {e.submission_id for e in client.jobs(limit=None)}
    before_iqm = iqm_jobs(client)
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, phase], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == -9, (proc.stdout, proc.stderr)
    (new,) = [e for e in client.jobs(limit=None) if e.submission_id not in before_jobs]
    # a new process (here: a fresh client on the same data directory) recovers it from the ledger
    fresh = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir)
    try:
        recovered = {j.submission_id: j for j in fresh.recover()}
        job = recovered.get(new.submission_id) or fresh.retrieve(new.submission_id)
        result = job.result(timeout=60)
    finally:
        fresh.close()
    assert sum(result.counts(0).values()) == 48 and set(result.counts(0)) <= {"00", "11"}
    assert iqm_jobs(client) == before_iqm + 1
    assert heappe_runs(client, new.submission_id) == 1
    # and once downloaded, the result is local: no HEAppE request needed any more
    again = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir)
    try:
        assert again.retrieve(new.submission_id).result().counts(0) == result.counts(0)
        assert again.heappe.requests == 0
    finally:
        again.close()
