"""Task-directory files of the worker: request in, progress and result out (atomic writes, bounded reads).

Only the task process touches its directory. The worker service receives the request bytes over its socket and
sends progress events and result files back, so it never needs access to any user's files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Final, Protocol

from qaas_core._errors import PayloadError, QaasError
from qaas_core._files import write_atomic
from qaas_core._gzip import is_gzip, maybe_decompress
from qaas_core._wire import RunRequest, decode_run_request

__all__ = ["OUTPUT_NAMES", "FileSink", "Sink", "TaskFiles", "decode_request", "now", "read_progress"]

REQUEST_NAMES: Final = ("request.json.gz", "request.json")
OUTPUT_NAMES: Final = frozenset({"result.json", "result.json.gz", "calibration.json"})


def now() -> str:
    """UTC timestamp in ISO 8601 with a ``Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode_request(raw: bytes, limit: int) -> tuple[RunRequest, str]:
    """Decode a request file's bytes (plain or gzip) within ``limit`` bytes; returns it with its SHA-256 digest.

    Raises:
        PayloadError: too large (also once decompressed), not gzip/JSON, or not a ``qaas.run/1`` envelope.
        CircuitError: a circuit breaks a transfer-format rule.
    """
    plain = maybe_decompress(raw, limit, "the request")
    return decode_run_request(plain), hashlib.sha256(plain).hexdigest()


class Sink(Protocol):
    """Where a task's progress events and output files go (its directory, or the socket of the service)."""

    def progress(self, event: str, **fields: Any) -> None:
        """Report one progress event."""
        ...

    def write(self, name: str, data: bytes) -> None:
        """Store one output file (a name from :data:`OUTPUT_NAMES`)."""
        ...


class TaskFiles:
    """The files of one task directory.

    Args:
        root: the task directory HEAppE runs the command template in.
        max_upload_bytes: largest request file accepted.
    """

    def __init__(self, root: Path, max_upload_bytes: int) -> None:
        self.root = root
        self.max_upload_bytes = max_upload_bytes

    def read_request(self) -> bytes:
        """The raw bytes of ``request.json.gz`` or ``request.json``, read no further than the limit.

        Raises:
            PayloadError: no request file, a symlink, or larger than the limit.
        """
        for name in REQUEST_NAMES:
            path = self.root / name
            if path.is_file():
                break
        else:
            raise PayloadError(f"no request file ({' or '.join(REQUEST_NAMES)}) in the task directory")
        return self.read_request_file(path)

    def read_request_file(self, path: Path) -> bytes:
        """The raw bytes of one request file of the task directory, read no further than the limit.

        Raises:
            PayloadError: a symlink, unreadable, or larger than the limit.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise PayloadError(f"cannot open {path.name}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(self.max_upload_bytes + 1)
        if len(data) > self.max_upload_bytes:
            raise PayloadError(f"{path.name} is larger than the site's limit of {self.max_upload_bytes} bytes")
        return data

    def existing_result(self, submission_id: str, limit: int) -> bool:
        """True when this directory already holds a completed result of the submission (a re-run of the task)."""
        from qaas_core._result import decode_result

        for name in ("result.json", "result.json.gz"):
            path = self.root / name
            if not path.is_file() or path.is_symlink():
                continue
            try:
                doc = decode_result(maybe_decompress(path.read_bytes(), limit, name))
            except (QaasError, OSError):
                continue
            if doc.submission_id == submission_id and doc.status == "completed":
                return True
        return False


class FileSink:
    """A :class:`Sink` writing into the task directory: ``progress.json`` lines and atomic output files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.progress_path = root / "progress.json"

    def progress(self, event: str, **fields: Any) -> None:
        """Append one event (``event``, ``timestamp`` and any extra fields) and flush it to disk."""
        self.append({"event": event, "timestamp": now(), **fields})

    def append(self, record: dict[str, Any]) -> None:
        """Append one event record as it is (events relayed from the worker service)."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with open(self.progress_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def write(self, name: str, data: bytes) -> None:
        """Write an output file atomically."""
        if name not in OUTPUT_NAMES:
            raise PayloadError(f"refusing to write {name!r} into the task directory")
        write_atomic(self.root / name, data)


def is_compressed(raw: bytes) -> bool:
    """Whether a request came gzip-compressed (its result is then compressed too)."""
    return is_gzip(raw)


def read_progress(path: Path) -> list[dict[str, Any]]:
    """The events of a progress file (lines that are not complete JSON objects are skipped)."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            events.append(value)
    return events
