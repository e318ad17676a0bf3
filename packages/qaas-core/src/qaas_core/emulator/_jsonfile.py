"""Durable JSON state files of the emulator: atomic replace on write, tolerant reads, never pickle."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from qaas_core._files import write_atomic

__all__ = ["read_json", "write_json"]

logger = logging.getLogger(__name__)


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Write ``data`` as JSON so that readers see the old or the new file, never a partial one.

    Args:
        path: target file; its directory is created if missing.
        data: JSON-serialisable value.
        private: create the file with mode 0600 (for keys and token state); else 0644.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    write_atomic(path, text.encode(), mode=0o600 if private else 0o644)


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
