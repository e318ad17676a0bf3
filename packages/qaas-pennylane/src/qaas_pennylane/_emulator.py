"""Embedded emulators shared by every ``qaas.iqm`` device of a process.

``qml.device("qaas.iqm", emulator="garnet20")`` needs a running emulator (LEXIS + HEAppE + IQM server on
127.0.0.1, see :meth:`qaas_core.QaasClient.emulator`). Starting one costs about a second and its first job a few
more (the cluster-side worker warms up), and PennyLane code creates devices freely — the device test suite makes
one per test — so devices with the same emulator settings share one client, started on first use and stopped when
the interpreter exits (or by :func:`shutdown_emulators`).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping
from typing import Any

import qaas_core as q

__all__ = ["embedded_client", "shutdown_emulators"]


def _at_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the interpreter exits, *before* its thread pools shut down.

    Stopping an emulator waits for its worker subprocess through ``asyncio.to_thread``, which fails once
    ``concurrent.futures`` has run its own exit hook; plain ``atexit`` handlers run after that hook, the hooks of
    ``threading._register_atexit`` (what ``concurrent.futures`` itself uses) run before it, in reverse order.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - CPython has had it since 3.9
        atexit.register(callback)
        return
    import concurrent.futures.thread  # noqa: F401 - its hook must be registered first, so that ours runs earlier

    register(callback)


class _Pool:
    """Running embedded emulators, keyed by their settings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: dict[tuple[Any, ...], q.QaasClient] = {}
        self.hooked = False

    def get(self, device: str, settings: Mapping[str, Any]) -> q.QaasClient:
        key = (device, *sorted((k, repr(v)) for k, v in settings.items()))
        with self.lock:
            client = self.clients.get(key)
            if client is None:
                client = q.QaasClient.emulator(device, **settings)
                self.clients[key] = client
                if not self.hooked:
                    _at_exit(self.close)
                    self.hooked = True
            return client

    def close(self) -> None:
        with self.lock:
            clients = list(self.clients.values())
            self.clients.clear()
        for client in clients:
            client.close()


_POOL = _Pool()


def embedded_client(device: str, settings: Mapping[str, Any]) -> q.QaasClient:
    """The shared client of an embedded emulator of ``device`` with these settings (started if needed).

    Args:
        device: bundled device profile (one of :data:`qaas_core.PROFILES`).
        settings: emulator and client settings for :meth:`qaas_core.QaasClient.emulator` (``noise``, ``seed``…).

    Raises:
        qaas_core.ConfigurationError: unknown device or settings, or the emulator did not start.
    """
    return _POOL.get(device, settings)


def shutdown_emulators() -> None:
    """Stop every embedded emulator the ``qaas.iqm`` devices of this process started."""
    _POOL.close()
