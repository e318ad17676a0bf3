"""Fault injection for the emulated services: error statuses, delays, dropped connections, failed jobs, expiry.

A :class:`FaultInjector` holds an ordered list of :class:`FaultRule`. Every route a subsystem builds with
:meth:`FaultInjector.route` passes through the injector first; a rule whose ``method`` and ``path`` regex match the
request fires (subject to ``after``, ``probability`` and ``count``) and then, by ``action``:

``status``
    answer at once with ``status`` (default 503), an optional ``Retry-After`` header and ``body`` (a JSON value,
    or a string sent as text/plain; default a ProblemDetails-like JSON object).
``delay``
    wait ``delay_seconds`` and go on (to later rules and then the real handler).
``drop``
    start a response and close the connection without completing it: the client sees a broken connection.
``late``
    let the real handler do its work, then hold its answer back for ``delay_seconds``: a client that gives up
    first cannot know the request took effect (the ambiguous failure exactly-once submission must survive).
``fail_next_job``
    not matched against requests: the HEAppE scheduler consumes it when it starts a task whose job name matches
    the ``job_name`` regex, and fails that task with ``message`` instead of running it.
any registered hook (``expire_sessions``, ``expire_tokens``, ``revoke_tokens``)
    run the hook (e.g. HEAppE forgets every session code) and go on to the real handler, so the request that
    triggered it already sees the effect. With the default ``path`` (``.*``) the next request anywhere triggers it.

``delay_seconds`` also applies before ``status`` and ``drop`` (a slow error). A rule fires at most ``count`` times
(``null``: without limit), after letting the first ``after`` matching requests through.

Configure rules when the emulator is built (``EmulatorConfig.faults``, if that field exists, or
``FaultInjector.for_config(config).add([...])``) or at run time over HTTP, from loopback only::

    POST   /_emulator/faults   [{"path": "CurrentInfoForJob", "status": 503, "retry_after": 2, "count": 2}]
    GET    /_emulator/faults   the rules with their counters
    DELETE /_emulator/faults   remove every rule

POST and DELETE need the emulator's per-run key in ``X-Qaas-Emulator-Key`` and ``Content-Type: application/json``
(the app enforces both for every ``/_emulator/`` change, see :mod:`qaas_core.emulator._app`); GET is open.

All subsystems of one emulator share one injector (:meth:`FaultInjector.for_config`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import re
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from http import HTTPStatus
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ADMIN_PATH", "FaultInjector", "FaultRule"]

logger = logging.getLogger(__name__)

ADMIN_PATH: Final = "/_emulator/faults"
_REQUEST_ACTIONS: Final = frozenset({"status", "delay", "drop", "late"})
_JOB_ACTIONS: Final = frozenset({"fail_next_job"})
_INTERNAL_FIELDS: Final = frozenset({"seen", "fired"})


@dataclass
class FaultRule:
    """One fault: where it applies, how often, and what it does (see the module docstring).

    Attributes:
        action: ``status``, ``delay``, ``drop``, ``fail_next_job`` or the name of a registered hook.
        path: regular expression searched in the request path.
        method: HTTP method, or ``*`` for any.
        status: status code of a ``status`` action.
        retry_after: seconds for a ``Retry-After`` header (``status`` action), or None for none.
        body: response body of a ``status`` action: a string (text/plain) or any JSON value; None: a default.
        delay_seconds: wait this long before acting.
        count: how many times the rule fires; None for no limit.
        probability: chance that a matching request fires the rule.
        after: let this many matching requests through before firing.
        job_name: regular expression matched against the job name (``fail_next_job`` only).
        message: error message of a failed job (``fail_next_job`` only).
        seen: matching requests (or job starts) so far.
        fired: times the rule fired so far.
    """

    action: str = "status"
    path: str = ".*"
    method: str = "*"
    status: int = 503
    retry_after: float | None = None
    body: Any = None
    delay_seconds: float = 0.0
    count: int | None = 1
    probability: float = 1.0
    after: int = 0
    job_name: str = ".*"
    message: str | None = None
    seen: int = 0
    fired: int = 0
    _path_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _job_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        try:
            self._path_re = re.compile(self.path)
            self._job_re = re.compile(self.job_name)
        except re.error as exc:
            raise ValueError(f"bad regular expression: {exc}") from exc
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, not {self.status}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or null for no limit)")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.delay_seconds < 0 or self.after < 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("delay_seconds, after and retry_after must not be negative")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultRule:
        """Build a rule from its JSON form (the field names above).

        Raises:
            ValueError: unknown field, wrong type or bad value.
        """
        known = {f.name for f in fields(cls) if not f.name.startswith("_")} - _INTERNAL_FIELDS
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
        numeric = {"status": int, "count": int, "after": int, "retry_after": float, "delay_seconds": float}
        for name, kind in numeric.items():
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ValueError(f"{name} must be a number")
            if value is not None and kind is int and not float(value).is_integer():
                raise ValueError(f"{name} must be an integer")
        for name in ("action", "path", "method", "job_name"):
            if name in data and not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string")
        if data.get("message") is not None and not isinstance(data["message"], str):
            raise ValueError("message must be a string")
        probability = data.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            raise ValueError("probability must be a number")
        values = dict(data)
        for name in ("status", "after"):
            if name in values:
                values[name] = int(values[name])
        if values.get("count") is not None:
            values["count"] = int(values["count"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, counters included."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    @property
    def exhausted(self) -> bool:
        """Whether the rule has fired ``count`` times."""
        return self.count is not None and self.fired >= self.count

    def matches_request(self, method: str, path: str) -> bool:
        """Whether a request is subject to this rule (ignores the counters)."""
        if self.action in _JOB_ACTIONS:
            return False
        return (self.method in ("*", method)) and self._path_re.search(path) is not None

    def matches_job(self, job_name: str) -> bool:
        """Whether a job start is subject to this rule (``fail_next_job`` only)."""
        return self.action in _JOB_ACTIONS and self._job_re.search(job_name) is not None


class _Drop:
    """Marker: abort the response."""


@dataclass(frozen=True)
class _Late:
    """Marker: run the handler, then delay its answer."""

    seconds: float


_DROP: Final = _Drop()
_REGISTRY: dict[int, FaultInjector] = {}


class FaultInjector:
    """The fault rules of one emulator and the gate every route passes through.

    Args:
        rules: initial rules (objects or their JSON form).
        seed: seed of the random draws of rules with ``probability`` < 1.
    """

    def __init__(self, rules: Iterable[FaultRule | Mapping[str, Any]] = (), *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._hooks: dict[str, Callable[[], None]] = {}
        self._rng = random.Random(seed)  # noqa: S311 - fault draws, not cryptography
        self.add(rules, check_actions=False)

    @classmethod
    def for_config(cls, config: object) -> FaultInjector:
        """The injector shared by every subsystem built from ``config`` (created on first use).

        Initial rules come from ``config.faults`` when the config has such a field.
        """
        key = id(config)
        injector = _REGISTRY.get(key)
        if injector is None:
            injector = cls(getattr(config, "faults", None) or (), seed=getattr(config, "seed", None))
            _REGISTRY[key] = injector
            weakref.finalize(config, _REGISTRY.pop, key, None)
        return injector

    # -- configuration -------------------------------------------------------------------------------------------

    def register_hook(self, action: str, callback: Callable[[], None]) -> None:
        """Make ``action`` a rule action that runs ``callback`` when it fires (e.g. ``expire_sessions``)."""
        if action in _REQUEST_ACTIONS or action in _JOB_ACTIONS:
            raise ValueError(f"{action!r} is a built-in action")
        with self._lock:
            self._hooks[action] = callback

    def add(self, rules: Iterable[FaultRule | Mapping[str, Any]], *, check_actions: bool = True) -> None:
        """Append rules (all or none).

        Raises:
            ValueError: a rule is malformed or names an unknown action.
        """
        parsed = [rule if isinstance(rule, FaultRule) else FaultRule.from_json(rule) for rule in rules]
        with self._lock:
            if check_actions:
                for rule in parsed:
                    if not self._known_action(rule.action):
                        raise ValueError(f"unknown fault action {rule.action!r}")
            self._rules.extend(parsed)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        """The rules in JSON form, with their counters."""
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def _known_action(self, action: str) -> bool:
        return action in _REQUEST_ACTIONS or action in _JOB_ACTIONS or action in self._hooks

    # -- use by the subsystems -----------------------------------------------------------------------------------

    def take_job_failure(self, job_name: str) -> str | None:
        """Consume a ``fail_next_job`` rule matching ``job_name``; its message, or None when none fires."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches_job(job_name):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule.message or "Injected failure (fault rule fail_next_job)"
        return None

    def route(self, path: str, endpoint: Callable[[Request], Awaitable[Response]], *, methods: Sequence[str]) -> Route:
        """A route whose requests pass the fault rules before reaching ``endpoint``."""
        return Route(path, _Gate(self, request_response(endpoint)), methods=list(methods), name=endpoint.__name__)

    def admin_routes(self) -> list[BaseRoute]:
        """The ``/_emulator/faults`` routes (the LEXIS subsystem serves them; a duplicate would be harmless)."""
        return [Route(ADMIN_PATH, self._admin, methods=["GET", "POST", "DELETE"], name="emulator_faults")]

    async def intercept(self, scope: Scope) -> Response | _Drop | _Late | None:
        """Apply the rules to one request: a response to send instead, a drop, or None to go on."""
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", "/"))
        position = 0
        while True:
            fired, position = self._next_firing(method, path, position)
            if fired is None:
                return None
            if fired.action == "late":
                logger.info("fault: %s %s -> answered %.1f s late", method, path, fired.delay_seconds)
                return _Late(fired.delay_seconds)
            if fired.delay_seconds:
                await asyncio.sleep(fired.delay_seconds)
            if fired.action == "status":
                logger.info("fault: %s %s -> %d", method, path, fired.status)
                return _status_response(fired)
            if fired.action == "drop":
                logger.info("fault: %s %s -> dropped connection", method, path)
                return _DROP
            if fired.action != "delay":
                hook = self._hooks.get(fired.action)
                if hook is not None:
                    logger.info("fault: %s %s -> %s", method, path, fired.action)
                    hook()

    def _next_firing(self, method: str, path: str, start: int) -> tuple[FaultRule | None, int]:
        with self._lock:
            for index in range(start, len(self._rules)):
                rule = self._rules[index]
                if rule.exhausted or not rule.matches_request(method, path):
                    continue
                rule.seen += 1
                if rule.seen <= rule.after or self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule, index + 1
        return None, len(self._rules)

    async def _admin(self, request: Request) -> Response:
        host = request.client.host if request.client else ""
        if not _is_loopback(host):
            return JSONResponse({"error": "the fault admin endpoint only answers loopback clients"}, status_code=403)
        if request.method == "DELETE":
            self.clear()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                data = json.loads(await request.body())
                rules = data if isinstance(data, list) else [data]
                if not all(isinstance(rule, dict) for rule in rules):
                    raise ValueError("a rule must be a JSON object")
                self.add(rules)
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": "invalid_rule", "error_description": str(exc)}, status_code=400)
        return JSONResponse(self.rules())


class _Gate:
    """ASGI app: the injector's verdict first, then the real endpoint."""

    def __init__(self, injector: FaultInjector, app: ASGIApp) -> None:
        self._injector = injector
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        verdict = await self._injector.intercept(scope)
        if verdict is None:
            await self._app(scope, receive, send)
        elif isinstance(verdict, _Drop):
            # headers out, body promised but never completed: the server has to close the connection
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
        elif isinstance(verdict, _Late):
            seconds = verdict.seconds

            async def late(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await asyncio.sleep(seconds)
                await send(message)

            await self._app(scope, receive, late)
        else:
            await verdict(scope, receive, send)


def _status_response(rule: FaultRule) -> Response:
    headers = {}
    if rule.retry_after is not None:
        seconds = rule.retry_after
        headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
    if isinstance(rule.body, str):
        return Response(rule.body, status_code=rule.status, headers=headers, media_type="text/plain")
    body = rule.body
    if body is None:
        try:
            title = HTTPStatus(rule.status).phrase
        except ValueError:
            title = "Injected fault"
        body = {"title": title, "status": rule.status, "detail": "Injected fault"}
    return JSONResponse(body, status_code=rule.status, headers=headers)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
