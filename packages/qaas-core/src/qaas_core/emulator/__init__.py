"""The embedded emulator: a noisy simulator and (as they land) the emulated IQM server, LEXIS and HEAppE.

Needs the ``emulator`` extra (numpy; starlette and uvicorn for the servers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qaas_core.emulator._clock import FakeClock
from qaas_core.emulator._config import EmulatorConfig

if TYPE_CHECKING:
    from qaas_core.emulator._app import create_app
    from qaas_core.emulator._server import EmulatorServer
    from qaas_core.emulator._simulator import SimulationResult, Simulator

__all__ = ["EmulatorConfig", "EmulatorServer", "FakeClock", "SimulationResult", "Simulator", "create_app"]


def __getattr__(name: str) -> object:
    # import the heavy parts only when asked for: the simulator (numpy) and the servers (starlette, uvicorn); the
    # pytest plugin imports this package in every test run of an environment that has qaas-core
    if name in ("Simulator", "SimulationResult"):
        from qaas_core.emulator import _simulator

        return getattr(_simulator, name)
    if name == "create_app":
        from qaas_core.emulator._app import create_app

        return create_app
    if name == "EmulatorServer":
        from qaas_core.emulator._server import EmulatorServer

        return EmulatorServer
    raise AttributeError(name)
