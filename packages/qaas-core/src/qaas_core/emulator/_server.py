"""Run the emulator on 127.0.0.1: in-process (a thread, for tests and notebooks) or in the foreground (the CLI)."""

from __future__ import annotations

import atexit
import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from qaas_core._errors import ConfigurationError
from qaas_core._secret import Secret
from qaas_core.emulator._app import ADMIN_KEY_HEADER, create_app
from qaas_core.emulator._config import EmulatorConfig

__all__ = ["EmulatorServer"]


class EmulatorServer:
    """An emulator listening on loopback in a background thread.

    Use as a context manager::

        with EmulatorServer(EmulatorConfig(device="garnet20")) as emu:
            emu.url  # http://127.0.0.1:PORT

    :meth:`start` on a running server does nothing, so ``with EmulatorServer(config).start() as emu:`` works too.
    The processes the emulator starts (worker service, HEAppE tasks) end with it: on :meth:`stop`, at interpreter
    exit if nobody stopped it, and — on Linux — when the process is killed outright (``PR_SET_PDEATHSIG``, see
    :func:`qaas_core.emulator._cluster.die_with_parent_thread`).

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
        self._lock = threading.Lock()
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL of every emulated service."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key(self) -> Secret:
        """This run's key of the state-changing ``/_emulator/`` routes (fault rules)."""
        key: Secret = self.app.state.admin_key
        return key

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers a state-changing ``/_emulator/`` request needs: the key and a JSON content type."""
        return {ADMIN_KEY_HEADER: self.admin_key.get(), "Content-Type": "application/json"}

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Start serving; returns once the port accepts connections. Does nothing when already running.

        A start that fails stops whatever it had started (the server thread, the worker service, tasks).

        Raises:
            ConfigurationError: the port cannot be bound, or the server did not come up within ``timeout`` seconds.
        """
        with self._lock:
            if self.running:
                return self
            # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections (no 40 ms Nagle delays)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", self.config.port))
            except OSError as exc:
                sock.close()
                raise ConfigurationError(f"the emulator cannot listen on 127.0.0.1:{self.config.port}: {exc}") from exc
            self.port = sock.getsockname()[1]
            self.config.port = self.port  # the services build their own URLs from it
            config = uvicorn.Config(self.app, log_level="warning", lifespan="on", access_log=False)
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(
                target=self._serve, args=(self._server, sock), name=f"qaas-emulator-{self.port}", daemon=True
            )
            self._thread.start()
            atexit.register(self.stop)  # an emulator nobody stopped still stops its processes at exit
            deadline = time.monotonic() + timeout
            while not self._server.started:
                if time.monotonic() > deadline or not self._thread.is_alive():
                    self._stop()
                    raise ConfigurationError("the emulator did not start; see the log above")
                time.sleep(0.01)
            return self

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        # the thread that starts the worker service and the tasks: on Linux they die when it ends. A failed startup
        # ends uvicorn with SystemExit, which must end this thread only (start() reports it)
        with sock, contextlib.suppress(SystemExit):
            server.run(sockets=[sock])

    def stop(self) -> None:
        """Stop serving and wait for background work to finish."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        atexit.unregister(self.stop)
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
