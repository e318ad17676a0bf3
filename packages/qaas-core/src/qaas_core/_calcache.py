"""Calibrations cached per resource and calibration set, with a time to live for "the current one".

Layout: ``<dir>/<resource>/<calibration_set_id>.json`` (``qaas.calibration/1``) and ``<dir>/<resource>/current.json``
(``{"calibration_set_id": …, "fetched": epoch seconds}``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from qaas_core._calibration import Calibration
from qaas_core._errors import QaasError
from qaas_core._files import private_dir, write_atomic

__all__ = ["CalibrationCache"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class CalibrationCache:
    """Calibrations of one resource on disk.

    Args:
        root: the cache directory.
        resource: LEXIS resource name.
        ttl: seconds the current calibration is trusted.
    """

    def __init__(self, root: Path, resource: str, ttl: float) -> None:
        self.dir = root / _SAFE.sub("_", resource)
        self.ttl = ttl

    def _path(self, calibration_set_id: str) -> Path:
        return self.dir / f"{_SAFE.sub('_', calibration_set_id)}.json"

    def load(self, calibration_set_id: str) -> Calibration | None:
        """A cached calibration set, or None."""
        try:
            return Calibration.from_json(self._path(calibration_set_id).read_bytes())
        except (OSError, QaasError):
            return None

    def current(self) -> Calibration | None:
        """The current calibration if it was fetched less than ``ttl`` seconds ago."""
        try:
            pointer = json.loads((self.dir / "current.json").read_text())
            if time.time() - float(pointer["fetched"]) > self.ttl:
                return None
            return self.load(str(pointer["calibration_set_id"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, calibration: Calibration, *, current: bool) -> None:
        """Keep ``calibration``; mark it current when it is the server's default."""
        private_dir(self.dir)
        write_atomic(self._path(calibration.calibration_set_id), calibration.to_json())
        if current:
            pointer = {"calibration_set_id": calibration.calibration_set_id, "fetched": time.time()}
            write_atomic(self.dir / "current.json", json.dumps(pointer).encode())
