"""The embedded emulator: a noisy simulator and (as they land) the emulated IQM server, LEXIS and HEAppE.

Needs the ``emulator`` extra (numpy; starlette and uvicorn for the servers).
"""

from __future__ import annotations

from qaas_core.emulator._clock import FakeClock
from qaas_core.emulator._config import EmulatorConfig
from qaas_core.emulator._simulator import SimulationResult, Simulator

__all__ = ["EmulatorConfig", "EmulatorServer", "FakeClock", "SimulationResult", "Simulator", "create_app"]


def __getattr__(name: str) -> object:
    # the server parts need starlette/uvicorn; import them only when asked for
    if name == "create_app":
        from qaas_core.emulator._app import create_app

        return create_app
    if name == "EmulatorServer":
        from qaas_core.emulator._server import EmulatorServer

        return EmulatorServer
    raise AttributeError(name)
