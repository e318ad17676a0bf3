"""``qaas-worker session``: one long HEAppE task that runs many batches, so an optimisation loop pays the HPC queue
once instead of once per iteration.

The client uploads numbered requests into the running task's directory (HEAppE accepts uploads while a job runs):
``batch-000001.json.gz``, ``batch-000002.json.gz`` … The task runs them in number order as they arrive, each exactly
once (the same ``qaas.run/1`` → ``qaas.result/1`` documents and the same exactly-once records as ``run``), writes
``batch-NNNNNN.result.json(.gz)`` and appends progress events tagged with the batch number to ``progress.json``, with a
``heartbeat`` event while idle. It ends — and says why in ``session-end.json`` and a ``session_ended`` event — when:

``closed``    the client uploaded ``close``;
``idle``      no batch arrived for ``idle_timeout`` seconds;
``walltime``  ``max_time`` is nearly over (no new batch is started within ``margin`` of it);
``stopped``   HEAppE stopped the task (cancel, walltime kill).

A batch it could not finish before ending stays unanswered; the client sends it to the next session job, where the
exactly-once records attach it to the IQM job it may already have started. ``max_time`` and ``idle_timeout`` come
from the job (``QAAS_SESSION_MAX_TIME``, ``QAAS_SESSION_IDLE_TIMEOUT``: plain numbers, bounded by the site's
limits); everything else from the site's configuration, as for ``run``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from qaas_core._errors import ValidationError
from qaas_core._files import write_atomic
from qaas_core.worker._config import WorkerConfig
from qaas_core.worker._files import FileSink, now

__all__ = ["BATCH", "batch_result_names", "parse_session_limit", "run_session"]

logger = logging.getLogger(__name__)

BATCH: Final = re.compile(r"^batch-(\d{6})\.json(\.gz)?$")
HEARTBEAT_SECONDS: Final = 10.0
MAX_SESSION_SECONDS: Final = 7 * 24 * 3600.0
_SETTLE: Final = 2.0  # a batch that does not decode and has not changed for this long is bad, not still arriving


def batch_result_names(number: int) -> tuple[str, str]:
    """The result file names of batch ``number`` (plain, gzip)."""
    return f"batch-{number:06d}.result.json", f"batch-{number:06d}.result.json.gz"


def parse_session_limit(value: str | None, default: float, what: str) -> float:
    """A session limit from the job's environment: a positive number of seconds, at most a week.

    Raises:
        ValidationError: not such a number.
    """
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValidationError(f"{what} must be a number of seconds, got {value[:40]!r}") from None
    if not 0 < seconds <= MAX_SESSION_SECONDS:
        raise ValidationError(f"{what} must be between 0 and {MAX_SESSION_SECONDS:.0f} s, got {seconds}")
    return seconds


class _BatchSink(FileSink):
    """Writes one batch's result under its numbered name and tags its progress events with the number."""

    def __init__(self, root: Path, number: int) -> None:
        super().__init__(root)
        self.number = number

    def progress(self, event: str, **fields: Any) -> None:
        super().progress(event, batch=self.number, **fields)

    def append(self, record: dict[str, Any]) -> None:
        super().append({**record, "batch": self.number})

    def write(self, name: str, data: bytes) -> None:
        plain, packed = batch_result_names(self.number)
        write_atomic(self.root / (packed if name.endswith(".gz") else plain), data)


def _pending(root: Path) -> list[tuple[int, Path]]:
    found = []
    for path in root.iterdir():
        match = BATCH.match(path.name)
        if match and path.is_file() and not path.is_symlink():
            number = int(match.group(1))
            if not any((root / name).exists() for name in batch_result_names(number)):
                found.append((number, path))
    return sorted(found)


def run_session(
    task_dir: Path,
    *,
    config: WorkerConfig,
    account: str,
    run_batch: Callable[[bytes, FileSink], int],
    max_time: float,
    idle_timeout: float,
    should_stop: Callable[[], bool],
    margin: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Serve batches in ``task_dir`` until the session ends; returns why (see the module docstring).

    Args:
        task_dir: the session task's directory.
        config: the site's worker configuration (limits).
        account: the cluster account (for the records).
        run_batch: runs one request's bytes with a sink (in-process, or through the worker service).
        max_time: the session's walltime in seconds.
        idle_timeout: end after this long without a batch.
        should_stop: True once HEAppE stops the task.
        margin: no new batch is started this close to ``max_time``.
        clock: monotonic time (tests pass their own).
    """
    from qaas_core.worker._files import TaskFiles

    sink = FileSink(task_dir)
    started = last_activity = last_beat = clock()
    sink.progress("session_started", max_time=max_time, idle_timeout=idle_timeout, account_bound=bool(account))
    seen: dict[int, tuple[tuple[int, float], float]] = {}  # batch -> (size and mtime, when first seen so)
    reason = "stopped"
    while not should_stop():
        if (task_dir / "close").exists():
            reason = "closed"
            break
        elapsed = clock() - started
        if elapsed > max_time - min(margin, max_time / 10):
            reason = "walltime"
            break
        pending = _pending(task_dir)
        if not pending:
            if clock() - last_activity > idle_timeout:
                reason = "idle"
                break
            if clock() - last_beat > HEARTBEAT_SECONDS:
                sink.progress("heartbeat", elapsed=round(elapsed, 1))
                last_beat = clock()
            time.sleep(0.05)
            continue
        number, path = pending[0]
        batch_sink = _BatchSink(task_dir, number)
        try:
            raw = TaskFiles(task_dir, config.max_upload_bytes).read_request_file(path)
            _check_complete(raw, config.max_request_bytes)
        except ValidationError as exc:
            stat = path.stat()
            shape = (stat.st_size, stat.st_mtime)
            if number not in seen or seen[number][0] != shape:
                seen[number] = (shape, clock())
            if clock() - seen[number][1] < _SETTLE:
                time.sleep(0.1)  # the upload may still be arriving
                continue
            from qaas_core.worker._execute import _Output

            batch_sink.progress("failed", reason="bad input")
            _Output(batch_sink, path.name.endswith(".gz")).failure("unknown", str(exc))
            last_activity = clock()
            continue
        batch_sink.progress("started")
        try:
            run_batch(raw, batch_sink)
        except Exception as exc:  # one batch's failure (already written as its result) never ends the session
            logger.warning("session batch %d: %s", number, exc)
        last_activity = clock()
    write_atomic(task_dir / "session-end.json", json.dumps({"reason": reason, "at": now()}).encode())
    sink.progress("session_ended", reason=reason)
    return reason


def _check_complete(raw: bytes, limit: int) -> None:
    """A request that does not decode may still be uploading: the caller waits a little before it gives up."""
    from qaas_core.worker._files import decode_request

    decode_request(raw, limit)
