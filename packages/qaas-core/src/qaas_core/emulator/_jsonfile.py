"""Durable JSON state files of the emulator: atomic replace on write, tolerant reads, never pickle."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["read_json", "write_json"]

logger = logging.getLogger(__name__)


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Write ``data`` as JSON so that readers see the old or the new file, never a partial one.

    Args:
        path: target file; its directory is created if missing.
        data: JSON-serialisable value.
        private: create the file with mode 0600 (for keys and token state).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        if not private:
            os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"), sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    """The JSON value stored at ``path``; None if the file is missing or unreadable (logged)."""
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable state file %s: %s", path, exc)
        return None
