"""The core client end to end against the embedded emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import qaas_core as q
from qaas_core.emulator import FakeClock

HALF = math.pi / 2
BELL_QASM = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""


def bell(name: str = "bell", a: str = "QB1", b: str = "QB2") -> q.Circuit:
    return q.Circuit(name, (
        q.prx(a, HALF, HALF), q.prx(b, HALF, HALF), q.cz(a, b), q.prx(b, HALF, 3 * HALF), q.measure(a, b, key="m"),
    ))  # fmt: skip


def test_login_resources_and_calibration(client: q.QaasClient) -> None:
    claims = client.tokens.claims()
    assert claims["preferred_username"] == "alice"
    names = [r.name for r in client.backends()]
    assert names == ["EQE1-CZ-P0001"]
    resource, target = client.target()
    assert resource.location == target.cluster_name == "VLQ-emulator"
    cal = client.calibration()
    assert cal.calibration_set_id == q.load_profile("garnet20").calibration_set_id
    before = client.heappe.requests
    assert client.calibration() is not None  # cached: no new calibration job
    assert client.heappe.requests == before


def test_thousand_circuit_batch_one_job_few_requests(client: q.QaasClient) -> None:
    pairs = [("QB1", "QB2"), ("QB2", "QB5"), ("QB4", "QB5"), ("QB3", "QB4")]
    batch = [bell(f"b{i}", *pairs[i % 4]) for i in range(1000)]
    client.calibration()
    before = client.heappe.requests
    job = client.submit(batch, 50)
    seen: list[str] = []
    job.on_progress(lambda e: seen.append(e.kind))
    result = job.result(timeout=300)
    spent = client.heappe.requests - before
    assert spent - job.poll_requests <= 6, (spent, job.poll_requests)
    assert len(result) == 1000
    for i in (0, 1, 999):
        assert set(result.counts(i)) <= {"00", "11"} and sum(result.counts(i).values()) == 50
    assert seen[:2] == ["created", "uploaded"] and seen[-1] == "completed"
    assert {"qpu_queued", "qpu_processing"} <= set(seen)
    assert result.iqm_job_id == job.iqm_job_id and result.heappe_job_id == job.heappe_job_id
    entry = client.ledger.get(job.submission_id)
    assert (entry.state, entry.circuits, entry.heappe_job_id) == ("completed", 1000, job.heappe_job_id)
    # a result downloaded once is served locally afterwards
    requests = client.heappe.requests
    again = client.retrieve(job.heappe_job_id).result()
    assert again.counts(999) == result.counts(999) and client.heappe.requests == requests


def test_request_is_compressed_and_small(client: q.QaasClient) -> None:
    batch = [bell(f"b{i}") for i in range(200)]
    _, data, report = client.prepare(batch, 10)
    assert data[:2] == b"\x1f\x8b"
    assert report.request_bytes == len(data) < len(q.encode_circuits(batch)) / 5
    assert report.worst_duration_over_t2 > 0.0 and not report.warnings


def test_bad_input_is_rejected_before_anything_is_sent(client: q.QaasClient) -> None:
    client.calibration()
    before = (client.heappe.requests, len(client.jobs(limit=None)))
    with pytest.raises(q.CircuitError, match="not calibrated on locus"):
        client.submit(q.Circuit("far", (q.cz("QB1", "QB20"), q.measure("QB1", key="m"))), 10)
    with pytest.raises(q.ValidationError, match="shots"):
        client.submit(bell(), 0)
    with pytest.raises(q.ValidationError, match="Known options"):
        client.submit(bell(), 10, options={"heralding": "zeros"})
    assert (client.heappe.requests, len(client.jobs(limit=None))) == before


def test_a_circuit_the_server_would_disqualify_is_refused_before_submission(client: q.QaasClient) -> None:
    slow = q.Circuit("slow", (q.prx("QB1", 1.0, 0.0), q.delay(1e-3, "QB1"), q.measure("QB1", key="m")))
    calibration = client.calibration()
    before = client.heappe.requests
    with pytest.raises(q.CircuitError, match="max_circuit_duration_over_t2") as info:
        client.submit(slow, 10, calibration=calibration)
    assert "circuit 'slow'" in str(info.value) and client.heappe.requests == before  # nothing was sent
    # the option relaxes the check on both sides: here and on the server
    _, _, report = client.prepare(slow, 10, options={"max_circuit_duration_over_t2": 0.0})
    assert report.worst_duration_over_t2 > 10
    job = client.submit(slow, 10, options={"max_circuit_duration_over_t2": 0.0})
    assert sum(job.result(timeout=120).counts(0).values()) == 10


def test_failed_job_names_both_ids(client: q.QaasClient) -> None:
    bad = q.Circuit("far", (q.cz("QB1", "QB20"), q.measure("QB1", key="m")))
    job = client.submit(bad, 10, validate=False)
    with pytest.raises(q.JobFailedError) as info:
        job.result(timeout=120)
    err = info.value
    assert err.heappe_job_id == job.heappe_job_id and err.state == "failed"
    assert "QB20" in str(err) or "not calibrated" in str(err) or "locus" in str(err)
    assert client.ledger.get(job.submission_id).state == "failed"


def test_async_api(client: q.QaasClient) -> None:
    async def main() -> list[dict[str, int]]:
        jobs = [await client.submit_async([bell(f"a{i}")], 100) for i in range(3)]
        results = await asyncio.gather(*(j.result(timeout=120) for j in jobs))
        await client.aclose()
        return [r.counts(0) for r in results]

    for counts in asyncio.run(main()):
        assert set(counts) <= {"00", "11"} and sum(counts.values()) == 100


def test_kill_after_submit_then_result_from_a_new_process(client: q.QaasClient, tmp_path: Path) -> None:
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator", "COLUMNS": "200"}
    script = (
        "import os, math, qaas_core as q\n"
        "c = q.QaasClient()\n"
        "h = math.pi / 2\n"
        "circ = q.Circuit('bell', (q.prx('QB1', h, h), q.prx('QB2', h, h), q.cz('QB1', 'QB2'), "
        "q.prx('QB2', h, 3 * h), q.measure('QB1', 'QB2', key='m')))\n"
        "job = c.submit(circ, 200)\n"
        "print(job.submission_id, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    submission = proc.stdout.strip()
    out = subprocess.run([sys.executable, "-m", "qaas_core.cli", "jobs", "result", submission, "--json",
                          "--timeout", "120"], env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["submission_id"] == submission
    assert set(doc["counts"][0]) <= {"00", "11"} and sum(doc["counts"][0].values()) == 200
    listed = subprocess.run([sys.executable, "-m", "qaas_core.cli", "jobs", "list"], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0 and submission[:8] in listed.stdout


def test_cli_run_backends_whoami(client: q.QaasClient, tmp_path: Path) -> None:
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator",
           "COLUMNS": "200"}  # fmt: skip
    (tmp_path / "bell.qasm").write_text(BELL_QASM)
    run = subprocess.run([sys.executable, "-m", "qaas_core.cli", "run", str(tmp_path / "bell.qasm"), "--shots", "300",
                          "--json"], env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert run.returncode == 0, run.stderr
    counts = json.loads(run.stdout)["counts"][0]
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 300
    who = subprocess.run([sys.executable, "-m", "qaas_core.cli", "whoami"], env=env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert who.returncode == 0 and "alice" in who.stdout
    backends = subprocess.run([sys.executable, "-m", "qaas_core.cli", "backends"], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert backends.returncode == 0 and "EQE1-CZ-P0001" in backends.stdout
    missing = subprocess.run([sys.executable, "-m", "qaas_core.cli", "run", str(tmp_path / "nope.qasm")], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_cli_runs_an_unrouted_program_and_reports_its_layout(client: q.QaasClient, tmp_path: Path) -> None:
    """q[0] talks to three qubits and q[1] to q[4]: no declaration-order placement fits garnet20's lattice."""
    env = {**os.environ, "QAAS_DATA_DIR": str(client.settings.data_dir), "QAAS_PROFILE": "emulator",
           "COLUMNS": "200"}  # fmt: skip
    body = "h q[0];\n" + "".join(f"cx q[0], q[{i}];\n" for i in (1, 2, 3)) + "cx q[1], q[4];\ncx q[3], q[4];\n"
    program = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[5] q;\nbit[5] c;\n' + body + "c = measure q;\n"
    (tmp_path / "hub.qasm").write_text(program)
    cli = [sys.executable, "-m", "qaas_core.cli", "run", str(tmp_path / "hub.qasm"), "--shots", "400"]
    run = subprocess.run([*cli, "--json"], env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    counts = doc["counts"][0]
    assert set(counts) == {"00000", "11110"} and sum(counts.values()) == 400  # q[4] flipped twice
    assert set(doc["layout"]["initial"]) == {f"q[{i}]" for i in range(5)} and "placed q[" in run.stderr
    refused = subprocess.run([*cli, "--no-route"], env=env, capture_output=True, text=True, timeout=180)
    assert refused.returncode == 2 and "not calibrated on locus" in refused.stderr and "line 7" in refused.stderr


def test_token_cache_is_private(client: q.QaasClient) -> None:
    path = client.settings.data_dir / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    refresh = json.loads(path.read_text())
    token = next(iter(refresh.values()))["refresh_token"]
    assert token not in repr(client) and token not in repr(client.tokens) and token not in repr(client.settings)


def test_cancel(tmp_path: Path) -> None:
    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path, iqm_queue_seconds=60.0) as c:
        job = c.submit(bell(), 10, calibration=q.load_profile("garnet20"))  # the emulator's own calibration
        deadline = 60
        while job.status() not in ("qpu_queued",) and deadline:
            deadline -= 1
            import time

            time.sleep(0.5)
        job.cancel()
        with pytest.raises(q.JobFailedError) as info:
            job.result(timeout=60)
        assert info.value.state == "cancelled"


def test_token_expiry_during_a_long_poll(client: q.QaasClient, clock: FakeClock) -> None:
    # the emulator and the client's token manager share one clock; every status poll comes one access-token
    # lifetime (300 s) after the one before, so each finds the previous token expired
    first = client.tokens.access_token()
    job = client.submit(bell(), 20, calibration=q.load_profile("garnet20"))
    polls: list[tuple[str, int]] = []

    def an_access_token_lifetime_later(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/CurrentInfoForJob"):
            polls.append((response.request.headers["Authorization"], response.status_code))
            clock.advance(301)

    hooks = client.http.event_hooks["response"]
    hooks.append(an_access_token_lifetime_later)
    try:
        result = job.result(timeout=120)
    finally:
        hooks.remove(an_access_token_lifetime_later)
    assert sum(result.counts(0).values()) == 20
    assert client.tokens.access_token() != first  # refreshed, without the caller noticing
    tokens = [token for token, _status in polls]
    assert len(tokens) >= 2 and len(set(tokens)) == len(tokens)  # a new token for every poll, before it was
    assert {status for _token, status in polls} == {200}  # needed: no poll was refused
    stale = client.http.get(f"{client.emulator_url}/userorg/api/Project", headers={"Authorization": f"Bearer {first}"})
    assert stale.status_code == 401  # the first token has expired for the emulator too


def test_the_ledger_is_read_without_a_running_emulator(tmp_path: Path) -> None:
    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path) as emulated:
        job = emulated.submit(bell(), 64, calibration=emulated.calibration())
        counts = job.result(timeout=120).counts(0)
    assert not (tmp_path / "emulator.json").exists()  # the emulator is gone
    env = {**os.environ, "QAAS_DATA_DIR": str(tmp_path), "QAAS_PROFILE": "emulator", "COLUMNS": "200"}
    listed = subprocess.run([sys.executable, "-m", "qaas_core.cli", "jobs", "list"], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert job.submission_id[:8] in listed.stdout and "completed" in listed.stdout
    shown = subprocess.run([sys.executable, "-m", "qaas_core.cli", "jobs", "result", job.submission_id, "--json"],
                           env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["counts"][0] == counts
    table = subprocess.run([sys.executable, "-m", "qaas_core.cli", "jobs", "result", job.submission_id], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert table.returncode == 0 and "little-endian" in table.stdout  # the bit order is said, not guessed


@pytest.mark.parametrize(("mode", "drawn"), [("always", True), ("never", False)])
def test_the_progress_setting_decides_whether_a_wait_draws_a_line(
    client: q.QaasClient, capsys: pytest.CaptureFixture[str], mode: str, drawn: bool
) -> None:
    job = client.submit(bell(), 16, calibration=client.calibration())
    job.progress = mode  # what QAAS_PROGRESS / the progress setting gives every job of a client
    job.result(timeout=120)
    err = capsys.readouterr().err
    assert (f"job {job.heappe_job_id}: completed" in err) is drawn


def test_the_served_emulator_prints_a_whole_token_and_writes_an_env_file(tmp_path: Path) -> None:
    import signal
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "QAAS_DATA_DIR": str(tmp_path), "COLUMNS": "80"}
    proc = subprocess.Popen([sys.executable, "-m", "qaas_core.cli", "emulator", "serve", "--port", str(port),
                             "--state-dir", str(tmp_path / "state")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        while not any("QAAS_LEXIS_REFRESH_TOKEN=" in line for line in lines):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            lines.append(line)
        (export,) = [line.strip() for line in lines if "QAAS_LEXIS_REFRESH_TOKEN=" in line]
        token = export.split("QAAS_LEXIS_REFRESH_TOKEN=", 1)[1]
        assert len(token) > 80 and " " not in token  # one line, although the terminal is 80 columns wide
        env_file = tmp_path / "emulator.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and token in env_file.read_text()
        # a script sources the file and reaches the emulator with the token
        who = subprocess.run(["bash", "-c", f". {env_file} && {sys.executable} -m qaas_core.cli whoami"],
                             env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert who.returncode == 0 and "alice" in who.stdout, who.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0 and not (tmp_path / "emulator.env").exists()


def test_a_worker_of_another_release_is_reported(client: q.QaasClient) -> None:
    from qaas_core._client import WorkerVersionWarning

    site = Path(str(client._emulator.server.config.state_dir)) / "site" / "qaas.json"  # type: ignore[union-attr]
    original = site.read_text()
    try:
        site.write_text(json.dumps({**json.loads(original), "qaas_version": "9.7.0"}))
        (client.settings.data_dir / "cache" / "targets.json").unlink(missing_ok=True)
        fresh = q.QaasClient(profile="emulator", data_dir=client.settings.data_dir)
        try:
            with pytest.warns(WorkerVersionWarning, match="9.7"):
                fresh.target()
        finally:
            fresh.close()
    finally:
        site.write_text(original)
