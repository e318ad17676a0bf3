"""OpenQASM 3 input (placeholder: being written)."""

from __future__ import annotations

from typing import Any

from qaas_core._errors import QasmError

__all__ = ["QASM3_FEATURES", "circuit_from_qasm3"]

QASM3_FEATURES: dict[str, str] = {}


def circuit_from_qasm3(source: str, calibration: Any = None, **kwargs: Any) -> Any:
    raise QasmError("not implemented yet")
