"""HTTP plumbing shared by the LEXIS and HEAppE clients: clients, error translation, retries, bounds.

Retries are declarative (:class:`RetryPolicy`): bounded attempts and total time, jittered exponential backoff,
``Retry-After`` honoured, and only for requests that are safe to repeat. Tests set ``QAAS_RETRY_WAIT_SCALE=0`` (or
pass ``wait_scale=0``) to switch the waits off.

Every answer is bounded: the clients made here read no more than :data:`MAX_RESPONSE_BYTES` of a body (a request
may allow more with ``extensions={MAX_BYTES: n}``), ask for and accept only unencoded bodies (a compressed answer
could expand without limit), and respect the overall deadline of the operation that sends them
(:func:`deadline`): connect, every read, and every retry wait end when it ends, however slowly a server trickles.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import functools
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from qaas_core._errors import (
    AuthenticationError,
    DeadlineError,
    QaasError,
    RemoteAPIError,
    ResponseError,
    TransportError,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_BYTES",
    "MAX_RESPONSE_BYTES",
    "Call",
    "RetryPolicy",
    "check",
    "deadline",
    "new_async_client",
    "new_client",
    "remaining",
    "translate",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RESPONSE_BYTES: Final = 32 << 20
MAX_BYTES: Final = "qaas.max_bytes"  # request extension: the largest body this request may receive


@dataclass(frozen=True)
class Call:
    """One request to a service (HEAppE, the IQM server), built without I/O.

    Attributes:
        method: HTTP method.
        path: path below the service's base URL.
        what: what the call does, for error messages.
        params: query parameters.
        body: JSON body (HEAppE adds its session code in session mode).
        content: a body already encoded as JSON bytes (sent as it is).
        files: multipart files ``(name, bytes)``.
        idempotent: safe to repeat after a transient failure.
        max_bytes: the largest answer accepted (None: :data:`MAX_RESPONSE_BYTES`).
    """

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    what: str
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    content: bytes | None = None
    files: tuple[tuple[str, bytes], ...] = ()
    idempotent: bool = True
    max_bytes: int | None = None


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("qaas_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None, what: str = "the operation") -> Iterator[None]:
    """Bound every request and retry wait inside the block to ``seconds`` from now, in total.

    Nested deadlines keep the earlier one. ``None`` adds no bound. Requests that would start, or bodies that would
    still be arriving, after the deadline raise :class:`~qaas_core.DeadlineError` naming ``what``.
    """
    if seconds is None:
        yield
        return
    end = time.monotonic() + max(0.0, seconds)
    current = _deadline.get()
    token = _deadline.set(end if current is None else min(current, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (None: no deadline)."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


def _check_deadline(what: str) -> float | None:
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlineError(f"the time given ran out while {what}")
    return left


def _bounded(request: httpx.Request) -> int:
    """Apply the deadline to the request's timeouts; return the body limit of its answer."""
    left = _check_deadline(f"sending {request.method} {request.url.path}")
    if left is not None:
        timeouts = dict(request.extensions.get("timeout") or {})
        request.extensions["timeout"] = {k: left if v is None else min(float(v), left) for k, v in timeouts.items()}
    return int(request.extensions.get(MAX_BYTES) or MAX_RESPONSE_BYTES)


def _refused(message: str) -> ResponseError:
    error = ResponseError(message)
    error.retryable = False  # the same server would send the same answer again
    return error


def _admit(response: httpx.Response, limit: int) -> None:
    """Refuse an answer whose headers already break the bounds (encoded, or announced larger than the limit)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _refused(f"the server sent a {encoding}-encoded body, which qaas did not ask for")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _refused(f"the server announced a body of {length} bytes; the limit is {limit}")


def _too_large(limit: int) -> ResponseError:
    return _refused(f"the server's answer exceeds the limit of {limit} bytes")


@functools.cache
def _transports() -> tuple[type, type]:
    """The bounded transports, built on first use (httpx loads lazily)."""
    import httpx

    class LimitedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
        """A response body that stops at ``limit`` bytes and at the deadline (sync and async)."""

        def __init__(self, inner: Any, limit: int, what: str) -> None:
            self._inner = inner
            self._limit = limit
            self._what = what

        def __iter__(self) -> Iterator[bytes]:
            seen = 0
            for chunk in self._inner:
                seen += len(chunk)
                if seen > self._limit:
                    raise _too_large(self._limit)
                _check_deadline(self._what)
                yield chunk

        async def __aiter__(self) -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in self._inner:
                seen += len(chunk)
                if seen > self._limit:
                    raise _too_large(self._limit)
                _check_deadline(self._what)
                yield chunk

        def close(self) -> None:
            self._inner.close()

        async def aclose(self) -> None:
            await self._inner.aclose()

    class BoundedTransport(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner = inner

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            limit = _bounded(request)
            response = self.inner.handle_request(request)
            try:
                _admit(response, limit)
            except QaasError:
                response.close()
                raise
            response.stream = LimitedStream(response.stream, limit, f"reading {request.url.path}")
            return response

        def close(self) -> None:
            self.inner.close()

    class AsyncBoundedTransport(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            limit = _bounded(request)
            response = await self.inner.handle_async_request(request)
            try:
                _admit(response, limit)
            except QaasError:
                await response.aclose()
                raise
            response.stream = LimitedStream(response.stream, limit, f"reading {request.url.path}")
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

    return BoundedTransport, AsyncBoundedTransport


def _user_agent() -> str:
    from qaas_core import __version__

    return f"qaas-core/{__version__}"


def new_client(
    timeout: float, ca_bundle: str | None = None, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An httpx client with qaas defaults: TLS verification on, no redirects, pooled connections, bounded answers.

    Args:
        timeout: seconds for connecting and for each read.
        ca_bundle: CA bundle to verify servers with (default: the system's).
        transport: what to send requests through (default: the network; tests pass an ASGI transport).
    """
    import httpx

    inner = transport or httpx.HTTPTransport(
        verify=ca_bundle or True, limits=httpx.Limits(max_connections=20, max_keepalive_connections=10)
    )
    bounded, _ = _transports()
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        headers={"User-Agent": _user_agent(), "Accept-Encoding": "identity"},
        follow_redirects=False,
        transport=bounded(inner),
    )


def new_async_client(
    timeout: float, ca_bundle: str | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The asyncio twin of :func:`new_client`."""
    import httpx

    inner = transport or httpx.AsyncHTTPTransport(
        verify=ca_bundle or True, limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)
    )
    _, bounded = _transports()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
        headers={"User-Agent": _user_agent(), "Accept-Encoding": "identity"},
        follow_redirects=False,
        transport=bounded(inner),
    )


def translate(exc: Exception, service: str, what: str) -> QaasError:
    """An httpx exception as a :class:`TransportError` that says what failed (never the request's secrets)."""
    import httpx

    left = remaining()
    if left is not None and left <= 0.01:
        return DeadlineError(f"{service}: the time given ran out while {what}")
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

    def _should_retry(self, exc: QaasError, attempt: int, started: float, wait: float) -> bool:
        left = remaining()
        if left is not None and left <= wait:
            return False  # the caller's deadline ends before the next try could start
        return exc.retryable and attempt + 1 < self.attempts and time.monotonic() - started < self.total

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn``, retrying retryable :class:`QaasError` s."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return fn()
            except QaasError as exc:
                wait = self._wait(attempt, exc)
                if not self._should_retry(exc, attempt, started, wait):
                    raise
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
                wait = self._wait(attempt, exc)
                if not self._should_retry(exc, attempt, started, wait):
                    raise
                logger.info("retrying %s in %.2f s after: %s", what, wait, exc)
                await asyncio.sleep(wait)
                attempt += 1
