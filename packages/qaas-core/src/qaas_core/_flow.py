"""Sans-I/O flows: every protocol of qaas is written once, as a generator, and run by a sync or an async driver.

A flow yields *effects* and receives their outcome:

* a HEAppE :class:`~qaas_core._heappe.Call` — the driver sends it (with the client's retries and authentication)
  and sends the checked ``httpx.Response`` back, or throws the :class:`~qaas_core.QaasError` into the flow, which
  may catch it (a missing file is a 404 it expects);
* :class:`Sleep` — a pause between polls;
* :class:`Local` — blocking local work (the ledger on disk): the async driver runs it in a worker thread.

The job lifecycle (poll, wait, download, cancel), the submission protocol, resuming and calibration jobs are flows;
:func:`run` drives one with an :class:`~qaas_core._heappe.HEAppEClient`, :func:`arun` with an
:class:`~qaas_core._heappe.AsyncHEAppEClient`. Two hand-written twins drift; one flow cannot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from qaas_core._errors import QaasError
from qaas_core._http import Call

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncSender", "Flow", "Local", "Sender", "Sleep", "arun", "run"]

T = TypeVar("T")


@dataclass(frozen=True)
class Sleep:
    """Pause the flow for ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Local:
    """Run ``fn()`` (blocking local work) and send its value back."""

    fn: Callable[[], Any]


Effect = Call | Sleep | Local
Flow = Generator[Effect, Any, T]


class Sender(Protocol):
    """A service client that sends calls (HEAppE, the IQM server), synchronously."""

    def send(self, call: Call) -> httpx.Response:
        """Send a call; the answer is checked (errors are raised as :class:`~qaas_core.QaasError`)."""
        ...


class AsyncSender(Protocol):
    """A service client that sends calls, with asyncio."""

    async def send(self, call: Call) -> httpx.Response:
        """Send a call; the answer is checked."""
        ...


def run(flow: Flow[T], heappe: Sender) -> T:
    """Drive ``flow`` to its end with the synchronous client; returns its value."""
    value: Any = None
    error: QaasError | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(effect, Call):
                value = heappe.send(effect)
            elif isinstance(effect, Sleep):
                time.sleep(effect.seconds)
            else:
                value = effect.fn()
        except QaasError as exc:
            error = exc


async def arun(flow: Flow[T], heappe: AsyncSender) -> T:
    """Drive ``flow`` to its end with the asyncio client; returns its value."""
    import asyncio

    value: Any = None
    error: QaasError | None = None
    while True:
        try:
            effect = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(effect, Call):
                value = await heappe.send(effect)
            elif isinstance(effect, Sleep):
                await asyncio.sleep(effect.seconds)
            else:
                value = await asyncio.to_thread(effect.fn)
        except QaasError as exc:
            error = exc
