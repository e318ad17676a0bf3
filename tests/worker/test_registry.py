"""Exactly-once records of the worker: owners, request digests, leases kept alive by heartbeats, takeovers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qaas_core.worker._registry import ClaimRefused, Registry, SubmissionAmbiguous

SID = "3f9d1c0e-5b7a-4c1e-9a7e-2d6b8f0c4a11"
HOLDER = """
import sys, time
from collections.abc import Iterator
from pathlib import Path
from qaas_core.worker._registry import Registry
state, phase, hold = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
claim = Registry(state, "acct", heartbeat=0.1, stale_after=0.6).claim(sys.argv[4], "d1")
if phase == "submitting":
    claim.submitting()
print("holding", flush=True)
time.sleep(hold)
claim.submitted("iqm-job-of-the-holder")
print("recorded", flush=True)
"""


def registry(state: Path, account: str = "acct", stale_after: float = 0.6) -> Registry:
    return Registry(state, account, heartbeat=0.1, stale_after=stale_after)


@contextlib.contextmanager
def holder(state: Path, phase: str, hold: float, *, kill: bool = False) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the claim (killed -9 at once with ``kill``, as a crashed worker)."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(state), phase, str(hold), SID],
                          stdout=subprocess.PIPE, text=True) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        if kill:
            proc.kill()
            proc.wait(10)
        try:
            yield proc
        finally:
            proc.kill()


def test_records_are_per_account_and_private(tmp_path: Path) -> None:
    a = registry(tmp_path).claim(SID, "d1")
    b = registry(tmp_path, "other").claim(SID, "d1")
    assert a.iqm_job_id is None and b.iqm_job_id is None  # same id, two owners: two independent submissions
    a.submitted("job-a")
    b.close()
    assert registry(tmp_path).claim(SID, "d1").iqm_job_id == "job-a"
    assert (tmp_path / "accounts" / "acct" / "submissions").stat().st_mode & 0o777 == 0o700
    (record,) = (tmp_path / "accounts" / "acct" / "submissions").iterdir()
    assert record.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ClaimRefused, match="different request") as info:
        registry(tmp_path).claim(SID, "another-digest")
    assert "job-a" not in str(info.value)
    with pytest.raises(ClaimRefused):
        Registry(tmp_path, "../acct", heartbeat=0.1, stale_after=1)


def test_a_live_holder_is_waited_for_however_long_it_takes(tmp_path: Path) -> None:
    with holder(tmp_path, "submitting", hold=2.0):  # far longer than stale_after: its heartbeat keeps it alive
        started = time.monotonic()
        claim = registry(tmp_path).claim(SID, "d1")
        assert claim.iqm_job_id == "iqm-job-of-the-holder"
        assert time.monotonic() - started > 1.0


def test_a_holder_that_died_before_submitting_is_taken_over(tmp_path: Path) -> None:
    with holder(tmp_path, "claimed", hold=30.0, kill=True):
        claim = registry(tmp_path, stale_after=3600).claim(SID, "d1")  # same machine, dead pid: no need to wait
        assert claim.iqm_job_id is None
        claim.submitted("mine")
        assert registry(tmp_path).claim(SID, "d1").iqm_job_id == "mine"


def test_a_holder_that_died_while_submitting_is_never_resubmitted(tmp_path: Path) -> None:
    with holder(tmp_path, "submitting", hold=30.0, kill=True):
        for _ in range(2):
            with pytest.raises(SubmissionAmbiguous, match="may or may not exist"):
                registry(tmp_path).claim(SID, "d1")


def test_a_holder_on_another_node_is_gone_only_when_its_heartbeat_is_stale(tmp_path: Path) -> None:
    claim = registry(tmp_path).claim(SID, "d1")
    claim.close()  # it stops renewing, as a node that crashed would
    path = next((tmp_path / "accounts" / "acct" / "submissions").iterdir())
    record = json.loads(path.read_text())
    record["holder"].update(host="other-node", pid=1)
    path.write_text(json.dumps(record))
    started = time.monotonic()
    taken = registry(tmp_path, stale_after=1.0).claim(SID, "d1")
    assert taken.iqm_job_id is None and time.monotonic() - started >= 0.9
    taken.close()


def test_contenders_produce_exactly_one_submitter(tmp_path: Path) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def contend() -> None:
        claim = registry(tmp_path).claim(SID, "d1")
        with lock:
            if claim.iqm_job_id is None:
                claim.submitting()
                time.sleep(0.3)
                claim.submitted(f"job-{threading.get_ident()}")
                outcomes.append("submitted")
            else:
                outcomes.append("attached")

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["attached"] * 7 + ["submitted"]
    assert len(os.listdir(tmp_path / "accounts" / "acct" / "submissions")) == 1
