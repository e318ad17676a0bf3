"""The cluster node's long-lived worker service (``qaas-worker serve``), started beside the emulator.

HEAppE tasks run ``qaas-worker run``; with ``QAAS_WORKER_SOCKET`` in their environment it hands the task directory
to this service, which keeps iqm-client imported, so a task starts in a fraction of a second instead of paying the
iqm-client import (seconds) every time. Until the service is up (or when iqm-client is missing) tasks simply run
in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from starlette.routing import BaseRoute

from qaas_core.emulator._config import EmulatorConfig

__all__ = ["WorkerService"]

logger = logging.getLogger(__name__)


class WorkerService:
    """Runs ``python -m qaas_core.worker serve`` for the emulated cluster (a Subsystem without routes)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        assert config.state_dir is not None  # set by create_app
        self.socket = Path(config.state_dir) / "worker.sock"
        self._process: subprocess.Popen[bytes] | None = None

    def routes(self) -> Sequence[BaseRoute]:
        return []

    def environment(self) -> dict[str, str]:
        """What a task needs to reach the service."""
        return {"QAAS_WORKER_SOCKET": str(self.socket)} if self.config.worker_service else {}

    async def startup(self) -> None:
        if not self.config.worker_service:
            return
        env = {k: v for k, v in os.environ.items() if "LEXIS" not in k.upper()}
        env.update(
            IQM_SERVER_URL=f"http://127.0.0.1:{self.config.port}",
            IQM_TOKEN=self.config.iqm_token,
            IQM_QUANTUM_COMPUTER=self.config.quantum_computer,
            QAAS_WORKER_STATE=str(Path(self.config.state_dir or ".") / "cluster" / "worker"),
        )
        env.pop("QAAS_WORKER_SOCKET", None)
        # tasks that start before the service listens wait for it rather than importing iqm-client themselves
        self.socket.with_name(self.socket.name + ".starting").touch()
        log = Path(self.config.state_dir or ".") / "worker-service.log"
        with open(log, "ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
                [sys.executable, "-m", "qaas_core.worker", "serve", "--socket", str(self.socket), "--exit-with-parent"],
                env=env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
            )

    async def shutdown(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        for path in (self.socket, self.socket.with_name(self.socket.name + ".starting")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
