"""Task-directory files of the worker: request in, progress and result out (atomic JSON writes)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from qaas_core._errors import PayloadError
from qaas_core._result import ResultDocument, encode_result
from qaas_core._wire import RunRequest, decode_run_request

__all__ = ["Progress", "TaskFiles", "now", "read_progress"]

REQUEST_NAMES: Final = ("request.json.gz", "request.json")
MAX_REQUEST_BYTES: Final = 2 * 2**30


def now() -> str:
    """UTC timestamp in ISO 8601 with a ``Z``."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a partial one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TaskFiles:
    """The files of one task directory.

    Args:
        root: the task directory HEAppE runs the command template in.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.compressed = False

    def read_request(self) -> RunRequest:
        """Read ``request.json`` or ``request.json.gz`` (gzip is also recognised by content).

        Raises:
            PayloadError: no request file, too large, not gzip/JSON, or not a valid ``qaas.run/1`` envelope.
        """
        for name in REQUEST_NAMES:
            path = self.root / name
            if path.is_file():
                break
        else:
            raise PayloadError(f"no request file ({' or '.join(REQUEST_NAMES)}) in the task directory")
        if path.stat().st_size > MAX_REQUEST_BYTES:
            raise PayloadError(f"{path.name} is larger than {MAX_REQUEST_BYTES} bytes")
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            self.compressed = True
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                raise PayloadError(f"{path.name} is not a valid gzip file: {exc}") from exc
        return decode_run_request(raw)

    @property
    def result_path(self) -> Path:
        """Where the result goes (compressed when the request was)."""
        return self.root / ("result.json.gz" if self.compressed else "result.json")

    def write_result(self, document: ResultDocument) -> Path:
        """Write the result document atomically."""
        data = encode_result(document)
        if self.compressed:
            data = gzip.compress(data, compresslevel=6, mtime=0)
        write_atomic(self.result_path, data)
        return self.result_path

    def write_json(self, name: str, document: Any) -> Path:
        """Write any JSON document atomically under ``name``."""
        path = self.root / name
        write_atomic(path, json.dumps(document, separators=(",", ":")).encode())
        return path


class Progress:
    """``progress.json``: one JSON object per line, appended per event (so HEAppE can tail it by offset)."""

    def __init__(self, root: Path) -> None:
        self.path = root / "progress.json"

    def emit(self, event: str, **fields: Any) -> None:
        """Append one event (``event``, ``timestamp`` and any extra fields) and flush it to disk."""
        line = json.dumps({"event": event, "timestamp": now(), **fields}, separators=(",", ":")) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


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
