"""One user can never read, spend or disturb another user's work: attacks over real HTTP against the emulator.

Each test is an attack that once succeeded (see docs/security.md) and must now do no harm.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import qaas_core as q
from qaas_core._result import decode_result
from qaas_core._submit import job_spec
from tests.reliability.conftest import set_faults
from tests.reliability.test_faults import BELL

FLIP = q.Circuit("flip", (q.prx("QB1", math.pi, 0.0), q.measure("QB1", key="m")))
ROOT = Path(__file__).resolve().parents[2]


def as_user(owner: q.QaasClient, username: str, project: str, resource: str, directory: Path) -> q.QaasClient:
    """A client of another user of the same emulator (own data directory, own LEXIS token)."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(owner.settings.data_dir / "emulator.json", directory / "emulator.json")
    token = owner._emulator.lexis.mint_tokens(username)["access_token"]  # type: ignore[union-attr]
    return q.QaasClient(profile="emulator", data_dir=directory, project=project, resource=resource, token=token,
                        timeout=10.0)  # fmt: skip


def run_raw(client: q.QaasClient, files: dict[str, bytes], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Create, upload and submit a HEAppE job by hand (what any user can do with the HEAppE API), wait for it and
    download every file it left: the attacker's complete view."""
    _resource, target = client.target()
    heappe = client.heappe
    variables = [{"Name": k, "Value": v} for k, v in (env or {}).items()]
    spec = job_spec(target, "hand-made", target.run_template_id, target.run_template_parameters, variables,
                    walltime=300)  # fmt: skip
    info = heappe.protocol.parse_job(heappe.send(heappe.protocol.create_job(spec)), "creating")
    task = info.tasks[0].id
    heappe.protocol.parse_upload(heappe.send(heappe.protocol.upload(info.id, task, list(files.items()))))
    heappe.send(heappe.protocol.submit_job(info.id))
    deadline = time.monotonic() + 120
    while not (info := heappe.job_info(info.id)).job_state.terminal:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    listing = heappe.protocol.parse_changed_files(heappe.send(heappe.protocol.changed_files(info.id)))
    out: dict[str, Any] = {"state": info.job_state.name, "error": info.tasks[0].error_message or "", "files": {}}
    for entry in listing:
        call = heappe.protocol.download(info.id, entry.file_name)
        out["files"][entry.file_name.rsplit("/", 1)[-1]] = heappe.protocol.parse_download(heappe.send(call), "x")
    return out


def request_bytes(submission_id: str, circuit: q.Circuit, shots: int) -> bytes:
    return q.encode_run_request(q.RunRequest(schema="qaas.run/1", submission_id=submission_id, shots=shots,
                                             circuits=(circuit,)))  # fmt: skip


@pytest.fixture(scope="module")
def victim(fast_emulator: q.QaasClient) -> tuple[str, str]:
    """Alice's finished job: (submission id, IQM job id); the id is visible to others in the job name."""
    result = fast_emulator.submit(BELL, 48, calibration=fast_emulator.calibration()).result(timeout=120)
    assert result.iqm_job_id
    (entry,) = [e for e in fast_emulator.jobs(limit=5) if e.iqm_job_id == result.iqm_job_id]
    return entry.submission_id, result.iqm_job_id


def test_another_projects_user_replaying_a_submission_id_gets_nothing_of_it(
    fast_emulator: q.QaasClient, victim: tuple[str, str], tmp_path: Path
) -> None:
    sid, iqm_job_id = victim
    with as_user(fast_emulator, "bob", "other-project", "EQE1-CZ-P0002", tmp_path / "bob") as bob:
        seen = run_raw(bob, {"request.json": request_bytes(sid, FLIP, 20)}, {"QAAS_SUBMISSION_ID": sid})
    assert seen["state"] == "FINISHED", seen["error"]
    document = decode_result(seen["files"]["result.json"])
    # bob's own circuit ran, as his own IQM job (paid from his allocation): none of alice's data or ids
    assert document.iqm_job_id != iqm_job_id
    assert document.circuits[0].bitstring_counts() == {"1": 20}
    assert all(iqm_job_id.encode() not in data for data in seen["files"].values())


def test_a_project_colleague_replaying_a_submission_id_with_another_request_is_refused(
    fast_emulator: q.QaasClient, victim: tuple[str, str], tmp_path: Path
) -> None:
    sid, iqm_job_id = victim
    with as_user(fast_emulator, "carol", "qaas-demo", "EQE1-CZ-P0001", tmp_path / "carol") as carol:
        seen = run_raw(carol, {"request.json": request_bytes(sid, FLIP, 20)}, {"QAAS_SUBMISSION_ID": sid})
    assert seen["state"] == "FAILED"
    document = decode_result(seen["files"]["result.json"])
    assert document.status == "failed" and document.iqm_job_id is None and not document.circuits
    assert "different request" in document.errors[0].message
    assert iqm_job_id not in seen["error"]
    assert all(iqm_job_id.encode() not in data for data in seen["files"].values())


def test_job_environment_variables_cannot_run_code_in_the_worker(fast_emulator: q.QaasClient) -> None:
    spy = b"import pathlib, os\npathlib.Path('pwned').write_text(repr(dict(os.environ)))\n"
    files = {"request.json": request_bytes(str(uuid.uuid4()), FLIP, 10), "sitecustomize.py": spy,
             "usercustomize.py": spy}  # fmt: skip
    hostile = {"PYTHONPATH": ".", "PYTHONSTARTUP": "sitecustomize.py", "PYTHONINSPECT": "1",
               "IQM_SERVER_URL": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}  # fmt: skip
    seen = run_raw(fast_emulator, files, hostile)
    assert seen["state"] == "FINISHED", seen["error"]
    assert "pwned" not in seen["files"]
    assert decode_result(seen["files"]["result.json"]).circuits[0].bitstring_counts() == {"1": 10}
    # code preloaded into every process: the worker refuses to go on (and holds no credential to give away)
    seen = run_raw(fast_emulator, {"request.json": request_bytes(str(uuid.uuid4()), FLIP, 10)},
                   {"LD_PRELOAD": "./missing.so"})  # fmt: skip
    assert seen["state"] == "FAILED" and "LD_PRELOAD" in seen["error"]
    assert "result.json" not in seen["files"]


def test_the_token_goes_only_to_trusted_heappe_hosts(fast_emulator: q.QaasClient) -> None:
    fast_emulator.target()
    data = fast_emulator.settings.data_dir
    # LEXIS (or a tampered cache) names a HEAppE instance that is not on the allow-list: refused before any request
    strict = q.QaasClient(profile="emulator", data_dir=data, heappe_hosts="*.it4i.cz")
    with strict, pytest.raises(q.ConfigurationError, match="not on the list of trusted HEAppE hosts"):
        strict.target()
        strict.heappe  # noqa: B018
    cache = data / "cache" / "targets.json"
    original = cache.read_bytes()
    try:
        for planted in ("http://attacker.example:8080", "https://attacker.example"):
            doc = json.loads(original)
            for entry in doc.values():
                entry["resource"]["heappe_url"] = entry["target"]["heappe_url"] = planted
            cache.write_text(json.dumps(doc))
            victim_client = q.QaasClient(profile="emulator", data_dir=data)
            with victim_client, pytest.raises(q.ConfigurationError, match="HEAPPE_URL"):
                victim_client.heappe  # noqa: B018
    finally:
        cache.write_bytes(original)


STORM = """
import sys
import qaas_core as q
from tests.reliability.test_faults import BELL

client = q.QaasClient()
calibration = client.calibration()
for _ in range(3):
    client.submit(BELL, 16, calibration=calibration)
    for job in client.recover():  # meanwhile the other processes' submissions are in flight
        pass
for job in client.recover():
    job.result(timeout=180)
print("ok")
"""


def test_a_submit_and_recover_storm_runs_every_submission_exactly_once(fast_emulator: q.QaasClient) -> None:
    from tests.reliability.test_exactly_once import heappe_runs, iqm_jobs

    fast_emulator.calibration()
    before = {e.submission_id for e in fast_emulator.jobs(limit=None)}
    iqm_before = iqm_jobs(fast_emulator)
    # creating and uploading are slow, so submissions stay in flight while the others recover
    set_faults(fast_emulator, [{"action": "delay", "delay_seconds": 0.4, "path": path, "count": None}
                               for path in ("CreateJob", "UploadFilesToJobExecutionDir")])  # fmt: skip
    env = {**os.environ, "QAAS_DATA_DIR": str(fast_emulator.settings.data_dir), "QAAS_PROFILE": "emulator",
           "PYTHONPATH": str(ROOT), "QAAS_TIMEOUT": "10"}  # fmt: skip
    try:
        procs = [subprocess.Popen([sys.executable, "-c", STORM], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]  # fmt: skip
        outputs = [p.communicate(timeout=600) for p in procs]
    finally:
        set_faults(fast_emulator, [])
    assert all(p.returncode == 0 for p in procs), [err[-6000:] for _out, err in outputs]
    new = [e for e in fast_emulator.jobs(limit=None) if e.submission_id not in before]
    assert len(new) == 12 and all(e.state == "completed" for e in new)
    assert [heappe_runs(fast_emulator, e.submission_id) for e in new] == [1] * 12
    assert iqm_jobs(fast_emulator) == iqm_before + 12
