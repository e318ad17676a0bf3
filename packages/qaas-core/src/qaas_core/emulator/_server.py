"""Run the emulator on 127.0.0.1: in-process (a thread, for tests and notebooks) or in the foreground (the CLI)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from qaas_core._errors import ConfigurationError
from qaas_core.emulator._app import create_app
from qaas_core.emulator._config import EmulatorConfig

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """An emulator listening on loopback in a background thread.

    Use as a context manager::

        with EmulatorServer(EmulatorConfig(device="garnet20")) as emu:
            emu.url  # http://127.0.0.1:PORT

    Args:
        config: emulator settings; ``host`` must be a loopback address.
    """

    def __init__(self, config: EmulatorConfig | None = None, **settings: Any) -> None:
        self.config = config or EmulatorConfig(**settings)
        if self.config.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigurationError(f"the emulator only listens on loopback, not {self.config.host!r}")
        self.app = create_app(self.config)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL of every emulated service."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Start serving; returns once the port accepts connections.

        Raises:
            ConfigurationError: the server did not come up within ``timeout`` seconds.
        """
        # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections (no 40 ms Nagle delays)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.config.port))
        self.port = sock.getsockname()[1]
        self.config.port = self.port  # the services build their own URLs from it
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise ConfigurationError("the emulator did not start; see the log above")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for background work to finish."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
