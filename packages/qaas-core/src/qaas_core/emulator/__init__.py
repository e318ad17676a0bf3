"""The embedded emulator: a noisy simulator and (as they land) the emulated IQM server, LEXIS and HEAppE.

Needs the ``emulator`` extra (numpy; starlette and uvicorn for the servers).
"""

from __future__ import annotations

from qaas_core.emulator._simulator import SimulationResult, Simulator

__all__ = ["SimulationResult", "Simulator"]
