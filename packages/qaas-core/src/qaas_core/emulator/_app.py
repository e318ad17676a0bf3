"""The emulator as one ASGI app: LEXIS (OIDC + UserOrg), HEAppE and the IQM server behind one loopback port.

Each part is a :class:`Subsystem`: it contributes routes and may run background work between startup and shutdown.

Two rules hold for every request, before any handler (or fault rule) sees it (:class:`_Guard`):

* the ``Host`` header names loopback — ``127.0.0.1``, ``localhost`` or ``[::1]``, with the emulator's port or
  none — else 421 (400 when it is missing or repeated). A web page that rebinds its own DNS name to 127.0.0.1
  therefore reaches nothing, and no URL the emulator builds can come from a foreign Host.
* a state-changing request (any method but GET and HEAD) to ``/_emulator/…`` carries this run's key in
  ``X-Qaas-Emulator-Key`` (403 without it) and ``Content-Type: application/json`` (415 without it). Neither can be
  sent cross-site without a CORS preflight, which the emulator never grants; the key is generated per app and
  written only into the 0600 ``emulator.json``.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final, Protocol

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from qaas_core._secret import Secret
from qaas_core.emulator._config import EmulatorConfig

__all__ = ["ADMIN_KEY_HEADER", "ADMIN_PREFIX", "Subsystem", "create_app"]

ADMIN_KEY_HEADER: Final = "X-Qaas-Emulator-Key"
ADMIN_PREFIX: Final = "/_emulator/"
_LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "[::1]"})
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


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
    # the site's worker (built, if need be, before the server starts); a test's own program needs none
    heappe = HEAppE(config, lexis, worker_command=() if config.worker_command else worker.task_command)
    # shutdown runs in reverse: HEAppE stops its tasks before the worker service and the IQM server go away
    return [IQMServer(config), lexis, worker, heappe]


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """Build the emulator app. A missing ``state_dir`` becomes a fresh temporary directory.

    The app's ``state.admin_key`` (a :class:`~qaas_core._secret.Secret`) is the key of its ``/_emulator/`` routes.

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
        # a subsystem that fails to start stops those started before it (reverse order), so a failed start
        # leaves no process or task behind
        async with contextlib.AsyncExitStack() as started:
            for sub in subsystems:
                await sub.startup()
                started.push_async_callback(sub.shutdown)
            yield

    admin_key = Secret(secrets.token_urlsafe(32))
    routes = [route for sub in subsystems for route in sub.routes()]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(_Guard, config=config, key=admin_key)])
    app.state.config = config
    app.state.subsystems = subsystems
    app.state.admin_key = admin_key
    return app


class _Guard:
    """ASGI middleware: loopback ``Host`` only, and the key plus JSON for state-changing ``/_emulator/`` requests."""

    def __init__(self, app: ASGIApp, *, config: EmulatorConfig, key: Secret) -> None:
        self._app = app
        self._config = config
        self._key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] in ("http", "websocket") else None
        if refusal is None:
            await self._app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose(code=1008)(scope, receive, send)  # policy violation
        else:
            status, error, description = refusal
            body = {"error": error, "error_description": description}
            await JSONResponse(body, status_code=status)(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = Headers(scope=scope)
        hosts = headers.getlist("host")
        if len(hosts) != 1:
            return 400, "bad_request", "a request needs exactly one Host header"
        if not _is_loopback_host(hosts[0], self._config.port):
            return 421, "misdirected_request", "the emulator only answers requests addressed to loopback"
        method = str(scope.get("method", "GET")).upper()
        if not str(scope.get("path", "")).startswith(ADMIN_PREFIX) or method in _SAFE_METHODS:
            return None
        given = headers.get(ADMIN_KEY_HEADER, "")
        if not secrets.compare_digest(given.encode(), self._key.get().encode()):
            return 403, "forbidden", f"/_emulator/ changes need this run's key in {ADMIN_KEY_HEADER} (emulator.json)"
        media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return 415, "unsupported_media_type", "/_emulator/ changes need Content-Type: application/json"
        return None


def _is_loopback_host(host: str, port: int) -> bool:
    """Whether a ``Host`` header value names loopback, with the emulator's ``port`` or no port."""
    allowed = _LOOPBACK_NAMES | ({f"{name}:{port}" for name in _LOOPBACK_NAMES} if port else set())
    return host.lower() in allowed
