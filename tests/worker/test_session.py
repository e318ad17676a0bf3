"""``qaas-worker session`` as HEAppE runs it: a real subprocess in a task directory, batches dropped in as they would
be uploaded, against the emulated IQM server."""

from __future__ import annotations

import gzip
import json
import math
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
from tests.worker.test_worker import clean_env, site_config


def flip(angle: float = math.pi) -> q.Circuit:
    return q.Circuit("flip", (q.prx("QB1", angle, 0.0), q.measure("QB1", key="m")))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(device="garnet20", noise=False, seed=1, state_dir=tmp_path_factory.mktemp("emu"),
                            worker_service=False)  # fmt: skip
    with EmulatorServer(config) as emu:
        yield emu


def batch(directory: Path, number: int, shots: int = 5, *, submission_id: str | None = None) -> str:
    sid = submission_id or str(uuid.uuid4())
    request = q.RunRequest(schema="qaas.run/1", submission_id=sid, shots=shots, circuits=(flip(),))
    part = directory / f".batch-{number:06d}.part"
    part.write_bytes(gzip.compress(q.encode_run_request(request)))
    part.rename(directory / f"batch-{number:06d}.json.gz")  # arrives whole, as HEAppE's upload does
    return sid


def start(config: Path, directory: Path, **limits: str) -> subprocess.Popen[str]:
    env = clean_env(**{f"QAAS_SESSION_{k.upper()}": v for k, v in limits.items()})
    return subprocess.Popen([sys.executable, "-I", "-m", "qaas_core.worker", "--config", str(config), "session"],
                            cwd=directory, env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def document(directory: Path, number: int) -> q.ResultDocument:
    return decode_result(gzip.decompress((directory / f"batch-{number:06d}.result.json.gz").read_bytes()))


def result(directory: Path, number: int) -> q.Result:
    return q.Result(document(directory, number))


def test_batches_run_in_order_as_they_arrive_until_closed(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = site_config(emulator, tmp_path / "state")
    task = tmp_path / "task"
    task.mkdir()
    batch(task, 2)  # already there when the task starts, and out of order with the next
    batch(task, 1)
    proc = start(config, task, max_time="600", idle_timeout="60")
    try:
        wait_for(task / "batch-000002.result.json.gz")
        batch(task, 3, shots=9)
        wait_for(task / "batch-000003.result.json.gz")
        (task / "close").write_bytes(b"")
        assert proc.wait(60) == 0
    finally:
        proc.kill()
        proc.communicate()
    assert [result(task, n).counts(0) for n in (1, 2, 3)] == [{"1": 5}, {"1": 5}, {"1": 9}]
    events = read_progress(task / "progress.json")
    done = [e["batch"] for e in events if e["event"] == "done"]
    assert done == [1, 2, 3]
    assert json.loads((task / "session-end.json").read_text())["reason"] == "closed"
    assert events[-1] == {**events[-1], "event": "session_ended", "reason": "closed"}


def test_idle_timeout_and_walltime_end_the_session_and_say_which(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = site_config(emulator, tmp_path / "state")
    for reason, limits in (("idle", {"idle_timeout": "1.5", "max_time": "600"}),
                           ("walltime", {"idle_timeout": "600", "max_time": "3"})):  # fmt: skip
        task = tmp_path / reason
        task.mkdir()
        proc = start(config, task, **limits)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
        proc.communicate()
        assert json.loads((task / "session-end.json").read_text())["reason"] == reason


def test_a_bad_batch_fails_alone_and_a_replayed_one_attaches(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = site_config(emulator, tmp_path / "state")
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    sid = batch(first, 1)
    (first / "batch-000002.json.gz").write_bytes(gzip.compress(b'{"schema": "qaas.run/1", "shots": 0}'))
    batch(first, 3)
    proc = start(config, first, idle_timeout="60", max_time="600")
    try:
        wait_for(first / "batch-000003.result.json.gz", timeout=90)  # the bad one waits out its grace, then fails
        (first / "close").write_bytes(b"")
        proc.wait(60)
    finally:
        proc.kill()
        proc.communicate()
    assert document(first, 2).status == "failed" and result(first, 3).counts(0) == {"1": 5}
    # the same batch in the next session job (the first one died before the client saw the answer): no second run
    batch(second, 1, submission_id=sid)
    proc = start(config, second, idle_timeout="60", max_time="600")
    try:
        wait_for(second / "batch-000001.result.json.gz")
        (second / "close").write_bytes(b"")
        proc.wait(60)
    finally:
        proc.kill()
        proc.communicate()
    assert result(second, 1).iqm_job_id == result(first, 1).iqm_job_id
    assert "attached" in [e["event"] for e in read_progress(second / "progress.json")]
