"""The emulator as one ASGI app: LEXIS (OIDC + UserOrg), HEAppE and the IQM server behind one loopback port.

Each part is a :class:`Subsystem`: it contributes routes and may run background work between startup and shutdown.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from qaas_core.emulator._config import EmulatorConfig

__all__ = ["Subsystem", "create_app"]


class Subsystem(Protocol):
    """One emulated service."""

    def routes(self) -> Sequence[BaseRoute]:
        """Routes this service answers."""
        ...

    async def startup(self) -> None:
        """Start background work (called once the app starts)."""
        ...

    async def shutdown(self) -> None:
        """Stop background work and persist state."""
        ...


def build_subsystems(config: EmulatorConfig) -> list[Subsystem]:
    """The services of one emulator, sharing ``config``."""
    from qaas_core.emulator._heappe import HEAppE
    from qaas_core.emulator._iqm_server import IQMServer
    from qaas_core.emulator._lexis import Lexis
    from qaas_core.emulator._worker_service import WorkerService

    lexis = Lexis(config)
    worker = WorkerService(config)
    heappe = HEAppE(config, lexis)
    heappe.extend_task_environment(worker.environment)
    # shutdown runs in reverse: HEAppE stops its tasks before the worker service and the IQM server go away
    return [IQMServer(config), lexis, worker, heappe]


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """Build the emulator app. A missing ``state_dir`` becomes a fresh temporary directory.

    Raises:
        ConfigurationError: unknown device profile or bad settings.
    """
    config = config or EmulatorConfig()
    if config.state_dir is None:
        config.state_dir = Path(tempfile.mkdtemp(prefix="qaas-emulator-"))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    subsystems = build_subsystems(config)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        for sub in subsystems:
            await sub.startup()
        try:
            yield
        finally:
            for sub in reversed(subsystems):
                await sub.shutdown()

    routes = [route for sub in subsystems for route in sub.routes()]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.config = config
    app.state.subsystems = subsystems
    return app
