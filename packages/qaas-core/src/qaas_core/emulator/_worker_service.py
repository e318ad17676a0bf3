"""The emulated site's worker: its configuration file and the long-lived ``qaas-worker serve`` beside the emulator.

HEAppE tasks run ``qaas-worker run``; the site's configuration names the service's socket, so a task hands its
request to this service, which keeps iqm-client imported and holds the IQM token: a task starts in a fraction of a
second instead of paying the iqm-client import (seconds) every time. Until the service is up (or when iqm-client is
missing) tasks run in-process, reading the token file the site configuration names.

Like a site, the emulated one also writes ``site/qaas.json``: what its worker says with ``qaas-worker info`` (its
qaas-core version and the schemas it speaks), which the emulated HEAppE host serves at ``/qaas``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from starlette.routing import BaseRoute

from qaas_core._files import private_dir, write_atomic
from qaas_core._version import SITE_SCHEMA
from qaas_core.emulator._cluster import die_with_parent_thread
from qaas_core.emulator._config import EmulatorConfig
from qaas_core.emulator._worker_env import worker_info, worker_python
from qaas_core.worker._deploy import worker_command

__all__ = ["WorkerService", "site_info_file"]

logger = logging.getLogger(__name__)


def site_info_file(state_dir: Path) -> Path:
    """The site document (``/qaas``) of the emulated site whose state lives in ``state_dir``."""
    return state_dir / "site" / "qaas.json"


class WorkerService:
    """The emulated site's worker setup (a Subsystem without routes).

    At startup it writes the site's worker configuration (``site/worker.toml``, with the IQM token in a 0600 file
    beside it) exactly as a site administrator would, and, with ``worker_service`` on, runs
    ``python -I -m qaas_core.worker --config site/worker.toml serve``. HEAppE's command templates start tasks with
    :attr:`task_command`; neither tasks nor the service take any setting from their environment.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        assert config.state_dir is not None  # set by create_app
        self.root = Path(config.state_dir)
        self.socket = self.root / "worker.sock"
        self.site = self.root / "site"
        self.config_path = self.site / "worker.toml"
        self._process: subprocess.Popen[bytes] | None = None
        self._python: str | None = None

    def routes(self) -> Sequence[BaseRoute]:
        return []

    @property
    def task_command(self) -> list[str]:
        """How the site's command templates start the worker (before ``--account`` and the template arguments): its
        own interpreter, isolated, with the site's configuration, as the shipped templates say
        (:func:`~qaas_core.worker._deploy.worker_command`). The first call may build the worker environment.
        """
        if self._python is None:
            self._python = worker_python(self.config.worker_python)
        return worker_command(self._python, str(self.config_path))

    def write_site_config(self) -> None:
        """Write ``site/worker.toml`` and the IQM token file (once the emulator's port is known)."""
        private_dir(self.site)
        token = self.site / "iqm-token"
        write_atomic(token, self.config.iqm_token.encode(), mode=0o600)
        lines = [
            "[iqm]",
            f"url = {json.dumps(f'http://127.0.0.1:{self.config.port}')}",
            f"quantum_computer = {json.dumps(self.config.quantum_computer)}",
            f"token_file = {json.dumps(str(token))}",
            "",
            "[state]",
            f"dir = {json.dumps(str(self.root / 'cluster-state'))}",
        ]
        if self.config.worker_service:
            lines += ["", "[service]", f"socket = {json.dumps(str(self.socket))}"]
        write_atomic(self.config_path, ("\n".join(lines) + "\n").encode(), mode=0o600)

    def write_site_info(self) -> None:
        """Write ``site/qaas.json`` from the site's worker (a test's own program has none: nothing is written)."""
        if self.config.worker_command:
            return
        python = self.task_command[0]
        info = worker_info(python)
        if info is None:
            logger.warning("the site's worker %s does not say which qaas-core it runs (qaas-worker info)", python)
            info = {"schema": SITE_SCHEMA, "qaas_version": None, "schemas": []}
        write_atomic(site_info_file(self.root), json.dumps(info).encode(), mode=0o644)

    async def startup(self) -> None:
        self.write_site_config()
        self.write_site_info()
        if not self.config.worker_service:
            return
        # the service starts from a clean environment, like a systemd unit: nothing of the emulator's host process
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR") or k.startswith("LC_")}
        # tasks that start before the service listens wait for it rather than importing iqm-client themselves
        self.socket.with_name(self.socket.name + ".starting").touch()
        log = self.root / "worker-service.log"
        with open(log, "ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
                [*self.task_command, "serve", "--exit-with-parent"],
                env=env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent_thread(),  # noqa: PLW1509 - dies with the emulator, even on kill -9
            )

    async def shutdown(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        if not await _exited(process, 10):
            process.kill()
            await _exited(process, 10)
        for path in (self.socket, self.socket.with_name(self.socket.name + ".starting")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


async def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait for ``process`` to end without a thread (an emulator stopped at interpreter exit has no executor)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
