"""Exactly once, per owner: which IQM job runs each submission, and who holds a submission still in flight.

A submission is owned by the cluster account that runs it (HEAppE runs all jobs of a project under the project's
cluster account) and is bound to the digest of its request. Records live in
``<state>/accounts/<account>/submissions/<sha256(id)>.json`` (folders 0700, files 0600), one file per submission:

``claimed``     a worker holds it and has not contacted the IQM server yet
``submitting``  the holder is sending it to the IQM server (if it dies now, nobody can tell whether the job exists)
``submitted``   the IQM job id is known: any later run of the same submission attaches to it
``ambiguous``   the holder died while submitting: never submitted again automatically

A holder renews its claim (a heartbeat) while it works. Another worker takes a claim over only when the holder is
provably gone: its process is dead on this very machine (same boot), or its heartbeat is older than
:attr:`WorkerConfig.stale_after` — longer than any IQM request the holder could still be waiting on — which holds
across the nodes of a shared state directory. Takeovers are serialised by an exclusive lock file.

A run with another owner never sees this record (other folder); a run with the same id and owner but another request
is refused without learning anything about the first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from qaas_core._errors import QaasError
from qaas_core._files import private_dir, write_atomic
from qaas_core._process import machine_identity, pid_alive

__all__ = ["Claim", "ClaimRefused", "Registry", "SubmissionAmbiguous"]

logger = logging.getLogger(__name__)

SCHEMA: Final = "qaas.claim/1"
_ACCOUNT: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


class ClaimRefused(QaasError):
    """The submission id is in use by the same owner for another request (nothing about it is revealed)."""


class SubmissionAmbiguous(QaasError):
    """An earlier attempt may have reached the IQM server; the submission is not sent again automatically."""


class Registry:
    """The exactly-once records of one cluster account.

    Args:
        state_dir: the worker's state directory (from the site's configuration).
        account: the cluster account the task runs under.
        heartbeat: seconds between renewals of a claim in flight.
        stale_after: seconds without renewal after which a holder counts as gone.

    Raises:
        ClaimRefused: ``account`` is not a plain account name.
    """

    def __init__(self, state_dir: Path, account: str, *, heartbeat: float, stale_after: float) -> None:
        if not _ACCOUNT.fullmatch(account):
            raise ClaimRefused(f"invalid cluster account name {account!r}")
        self.account = account
        self.folder = private_dir(state_dir / "accounts" / account / "submissions")
        self.heartbeat = heartbeat
        self.stale_after = stale_after

    def claim(self, submission_id: str, digest: str, *, should_stop: Callable[[], bool] = lambda: False) -> Claim:
        """Claim ``submission_id`` for the request with SHA-256 ``digest``; waits while a live holder works on it.

        Returns a :class:`Claim`: ``claim.iqm_job_id`` is set when the submission already runs on the IQM server
        (attach to it); otherwise this worker must submit it.

        Raises:
            ClaimRefused: the id is taken by another request of this account.
            SubmissionAmbiguous: an earlier holder died while submitting it.
            InterruptedError: ``should_stop()`` became true while waiting.
        """
        path = self.folder / (hashlib.sha256(submission_id.encode()).hexdigest()[:40] + ".json")
        claim = Claim(self, path, submission_id, digest)
        while True:
            if claim.try_create():
                return claim
            record = claim.read()
            if record is None:  # the creator has not written it yet (or it vanished): look again shortly
                time.sleep(0.02)
                continue
            if record.get("account") != self.account or record.get("request_digest") != digest:
                raise ClaimRefused(
                    f"submission {submission_id} was already used for a different request; submit again (a new "
                    "submission gets a new id)"
                )
            phase = record.get("phase")
            if phase == "submitted" and record.get("iqm_job_id"):
                claim.iqm_job_id = str(record["iqm_job_id"])
                return claim
            if phase == "ambiguous":
                raise _ambiguous(submission_id, record)
            if self._gone(record, path):
                if phase == "submitting":
                    claim.mark_ambiguous(record)
                    raise _ambiguous(submission_id, record)
                if claim.take_over(record):
                    return claim
                continue
            if should_stop():
                raise InterruptedError(f"stopped while waiting for the holder of submission {submission_id}")
            time.sleep(min(0.25, self.heartbeat / 4))

    def _gone(self, record: dict[str, Any], path: Path) -> bool:
        holder = record.get("holder") or {}
        host, boot = machine_identity()
        if (
            holder.get("host") == host
            and holder.get("boot") == boot
            and boot
            and not pid_alive(int(holder.get("pid", 0)))
        ):
            return True
        try:
            beat = float(record.get("heartbeat", 0.0))
        except (TypeError, ValueError):
            beat = 0.0
        with contextlib.suppress(OSError):
            beat = max(beat, path.stat().st_mtime)
        return time.time() - beat > self.stale_after


def _ambiguous(submission_id: str, record: dict[str, Any]) -> SubmissionAmbiguous:
    started = record.get("submitting_since") or "an unknown time"
    return SubmissionAmbiguous(
        f"submission {submission_id} was being sent to the IQM server at {started} when its worker died; the IQM "
        "job may or may not exist, so it is not sent again automatically. Check the IQM server's jobs of that time "
        "before you submit the circuits again (as a new submission)."
    )


class Claim:
    """A held (or attached) submission; renews itself in the background until closed."""

    def __init__(self, registry: Registry, path: Path, submission_id: str, digest: str) -> None:
        self.registry = registry
        self.path = path
        self.submission_id = submission_id
        self.digest = digest
        self.iqm_job_id: str | None = None
        self.token = secrets.token_hex(8)
        self._phase = "claimed"
        self._since: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.lost = False

    # -- the record ------------------------------------------------------------------------------------------------

    def _record(self) -> dict[str, Any]:
        host, boot = machine_identity()
        return {
            "schema": SCHEMA, "submission_id": self.submission_id, "account": self.registry.account,
            "request_digest": self.digest, "phase": self._phase, "iqm_job_id": self.iqm_job_id,
            "submitting_since": self._since,
            "holder": {"host": host, "boot": boot, "pid": os.getpid(), "token": self.token},
            "heartbeat": time.time(),
        }  # fmt: skip

    def read(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def _write(self) -> None:
        write_atomic(self.path, json.dumps(self._record()).encode())

    def try_create(self) -> bool:
        """Create the record exclusively; True when this worker now holds the submission."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(self._record()).encode())
            fh.flush()
            os.fsync(fh.fileno())
        self._start()
        return True

    def take_over(self, seen: dict[str, Any]) -> bool:
        """Replace a gone holder's record with ours (serialised by a lock file); True on success."""
        lock = self.path.with_suffix(".takeover")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            with contextlib.suppress(OSError):  # a taker that died mid-takeover leaves its lock behind
                if time.time() - lock.stat().st_mtime > self.registry.stale_after:
                    lock.unlink()
            time.sleep(0.05)
            return False
        os.close(fd)
        try:
            current = self.read()
            if current is None or (current.get("holder") or {}).get("token") != (seen.get("holder") or {}).get("token"):
                return False  # someone else moved first; look again
            if current.get("phase") not in ("claimed", None):
                return False
            logger.info("taking over submission %s from a gone holder", self.submission_id)
            self._write()
        finally:
            lock.unlink(missing_ok=True)
        self._start()
        return True

    def mark_ambiguous(self, seen: dict[str, Any]) -> None:
        """Record that the gone holder died while submitting."""
        record = dict(seen)
        record["phase"] = "ambiguous"
        write_atomic(self.path, json.dumps(record).encode())

    # -- the holder's steps ----------------------------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"claim-{self.submission_id}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.registry.heartbeat):
            with self._lock:
                if self._stop.is_set():
                    return
                current = self.read()
                if current is not None and (current.get("holder") or {}).get("token") != self.token:
                    self.lost = True  # taken over while we were frozen: stop pretending to hold it
                    logger.warning("the claim on submission %s was taken over", self.submission_id)
                    return
                with contextlib.suppress(OSError):
                    self._write()

    def submitting(self) -> None:
        """Say, before the request leaves, that the IQM server may learn of the job from now on.

        Raises:
            ClaimRefused: the claim was lost to another worker (this one must not submit).
        """
        with self._lock:
            current = self.read()
            if self.lost or current is None or (current.get("holder") or {}).get("token") != self.token:
                raise ClaimRefused(f"the claim on submission {self.submission_id} was taken over; not submitting")
            self._phase = "submitting"
            self._since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self._write()

    def submitted(self, iqm_job_id: str) -> None:
        """Record the IQM job id: from now on every run of this submission attaches to it."""
        with self._lock:
            self.iqm_job_id = iqm_job_id
            self._phase = "submitted"
            self._write()
        self.close()

    def ambiguous(self) -> None:
        """Record that the submit got no clear answer: the job may exist, so nobody submits it again."""
        with self._lock:
            self._phase = "ambiguous"
            self._write()
        self.close()

    def release(self) -> None:
        """Forget a claim whose request never reached the IQM server (a retry may submit)."""
        self.close()
        with self._lock:
            current = self.read()
            ours = current is not None and (current.get("holder") or {}).get("token") == self.token
            if ours and not self.iqm_job_id and self._phase in ("claimed", "submitting"):
                self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop renewing (the record stays as it is)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
