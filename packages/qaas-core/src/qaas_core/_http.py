"""HTTP plumbing shared by the LEXIS and HEAppE clients: clients, error translation and retries.

Retries are declarative (:class:`RetryPolicy`): bounded attempts and total time, jittered exponential backoff,
``Retry-After`` honoured, and only for requests that are safe to repeat. Tests set ``QAAS_RETRY_WAIT_SCALE=0`` (or
pass ``wait_scale=0``) to switch the waits off.
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from qaas_core._errors import AuthenticationError, QaasError, RemoteAPIError, ResponseError, TransportError

if TYPE_CHECKING:
    import httpx

__all__ = ["RetryPolicy", "check", "new_async_client", "new_client", "translate"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _user_agent() -> str:
    from qaas_core import __version__

    return f"qaas-core/{__version__}"


def new_client(timeout: float, ca_bundle: str | None = None) -> httpx.Client:
    """An httpx client with qaas defaults (TLS verification on, no redirects on writes, pooled connections)."""
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        verify=ca_bundle or True,
        headers={"User-Agent": _user_agent()},
        follow_redirects=False,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def new_async_client(timeout: float, ca_bundle: str | None = None) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_client`."""
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        verify=ca_bundle or True,
        headers={"User-Agent": _user_agent()},
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


def translate(exc: Exception, service: str, what: str) -> QaasError:
    """An httpx exception as a :class:`TransportError` that says what failed (never the request's secrets)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"{service}: no answer in time while {what} ({type(exc).__name__})")
    if isinstance(exc, httpx.HTTPError):
        return TransportError(f"{service}: connection failed while {what} ({type(exc).__name__}: {exc})")
    return TransportError(f"{service}: {what} failed ({type(exc).__name__})")


def _detail(response: httpx.Response) -> str | None:
    """The server's own explanation: ProblemDetails, Keycloak, IQM or plain text."""
    text = response.text[:2000]
    try:
        body = json.loads(text) if text else None
    except ValueError:
        return text.strip() or None
    if isinstance(body, dict):
        for keys in (("detail", "title"), ("error_description", "error"), ("message",), ("errors",)):
            parts = [str(body[k]) for k in keys if body.get(k)]
            if parts:
                return ": ".join(parts)
    if isinstance(body, str):
        return body
    return text.strip() or None


def check(response: httpx.Response, service: str, what: str) -> httpx.Response:
    """Raise the right :class:`QaasError` for an error status; return the response otherwise."""
    status = response.status_code
    if status < 400:
        return response
    detail = _detail(response)
    message = f"{service} answered {status} while {what}" + (f": {detail}" if detail else "")
    if status == 401:
        raise AuthenticationError(message)
    error = RemoteAPIError(message, status_code=status, detail=detail, retryable=status in RETRY_STATUSES)
    error.retry_after = _retry_after(dict(response.headers))
    raise error


def json_body(response: httpx.Response, service: str, what: str) -> Any:
    """The JSON body of a successful response.

    Raises:
        ResponseError: the body is not JSON.
    """
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResponseError(f"{service} sent a body that is not JSON while {what}") from exc


def _retry_after(response_headers: dict[str, str] | None) -> float | None:
    if not response_headers:
        return None
    value = response_headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry a request that is safe to repeat.

    Attributes:
        attempts: total tries, the first included.
        total: give up once this many seconds have passed.
        base: first backoff (seconds), doubled each time, with full jitter.
        cap: longest single wait.
        wait_scale: multiply every wait (0 in tests; ``QAAS_RETRY_WAIT_SCALE`` overrides the default 1).
    """

    attempts: int = 6
    total: float = 120.0
    base: float = 0.5
    cap: float = 30.0
    wait_scale: float | None = None

    def _scale(self) -> float:
        if self.wait_scale is not None:
            return self.wait_scale
        return float(os.environ.get("QAAS_RETRY_WAIT_SCALE", "1"))

    def _wait(self, attempt: int, exc: QaasError) -> float:
        hint = exc.retry_after
        wait = hint if hint is not None else random.uniform(0, min(self.cap, self.base * 2**attempt))  # noqa: S311
        return min(wait, self.cap) * self._scale()

    def _should_retry(self, exc: QaasError, attempt: int, started: float) -> bool:
        return exc.retryable and attempt + 1 < self.attempts and time.monotonic() - started < self.total

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn``, retrying retryable :class:`QaasError` s."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return fn()
            except QaasError as exc:
                if not self._should_retry(exc, attempt, started):
                    raise
                wait = self._wait(attempt, exc)
                logger.info("retrying %s in %.2f s after: %s", what, wait, exc)
                time.sleep(wait)
                attempt += 1

    async def acall(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """The asyncio twin of :meth:`call`."""
        import asyncio

        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return await fn()
            except QaasError as exc:
                if not self._should_retry(exc, attempt, started):
                    raise
                wait = self._wait(attempt, exc)
                logger.info("retrying %s in %.2f s after: %s", what, wait, exc)
                await asyncio.sleep(wait)
                attempt += 1
