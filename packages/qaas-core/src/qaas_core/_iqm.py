"""IQM Server API v1, spoken directly: the second transport, for people who hold an IQM token.

IQM Resonance (cloud), on-premises IQM servers and LUMI-Q/VLQ users with an IQM token reach the QPU without LEXIS
and HEAppE. The endpoints are those iqm-client 36 uses (``reference/iqm-stack.md`` §2): quantum computers, the
dynamic architecture and the calibration and metric sets of a calibration set, circuit job submission, job data
(status, queue position, timeline, errors), the measurements artifact, cancel. iqm-client itself is never imported
on the client side (it costs seconds and registers Qiskit plugins): the conformance suite checks every body we send
and every answer we parse against iqm-client's own models instead.

Calls are built without I/O (:class:`IQMProtocol`, the same :class:`~qaas_core._http.Call` as HEAppE's), so the job
flows of :mod:`qaas_core._job` run on this transport with the same sync and async drivers. The bearer token comes
from an argument, ``IQM_TOKEN``, or an IQM tokens file (``IQM_TOKENS_FILE``, re-read when the server answers 401).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from qaas_core._errors import AuthenticationError, ConfigurationError, QaasError, ResponseError
from qaas_core._http import Call, RetryPolicy, check, translate
from qaas_core._secret import Secret

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncIQMServerClient", "IQMJobData", "IQMProtocol", "IQMServerClient", "IQMTokens"]

SERVICE: Final = "IQM server"
API: Final = "api/v1"
TERMINAL: Final = frozenset({"completed", "failed", "cancelled"})


class IQMTokens:
    """The IQM bearer token: a long-lived token, or the ``access_token`` of an IQM tokens file (kept fresh by IQM's
    own login tool; re-read when the server refuses the one we have).

    Raises:
        ConfigurationError: neither or both given.
    """

    def __init__(self, token: Secret | None = None, tokens_file: Path | None = None) -> None:
        if (token is None) == (tokens_file is None):
            raise ConfigurationError(
                "the IQM transport needs exactly one credential: iqm_token (IQM_TOKEN) or iqm_tokens_file "
                "(IQM_TOKENS_FILE)"
            )
        self._token = token
        self._file = tokens_file
        self._cached: Secret | None = None
        self._lock = threading.Lock()

    def access_token(self) -> str:
        """The token for the next request.

        Raises:
            AuthenticationError: the tokens file is missing, unreadable or holds no access token.
        """
        if self._token is not None:
            return self._token.get()
        with self._lock:
            if self._cached is None:
                self._cached = self._read()
            return self._cached.get()

    def _read(self) -> Secret:
        assert self._file is not None
        try:
            doc = json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthenticationError(f"cannot read the IQM tokens file {self._file}: {exc}") from None
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationError(f"the IQM tokens file {self._file} holds no access_token; log in to IQM again")
        return Secret(token)

    def on_unauthorized(self) -> bool:
        """The server said 401: a tokens file may have been refreshed meanwhile (True: try again)."""
        if self._file is None:
            return False
        with self._lock:
            before = self._cached
            self._cached = None
            try:
                self._cached = self._read()
            except AuthenticationError:
                return False
            return before is None or before.get() != self._cached.get()

    def __repr__(self) -> str:
        return f"<IQMTokens {'tokens file ' + str(self._file) if self._file else 'token ***'}>"


class _Compilation(msgspec.Struct, frozen=True):
    calibration_set_id: str | None = None


class IQMMessage(msgspec.Struct, frozen=True):
    """An error or message of a job."""

    message: str = ""
    source: str = ""
    error_code: str | None = None


class IQMStep(msgspec.Struct, frozen=True):
    """One step of a job's timeline."""

    status: str
    timestamp: str
    source: str = ""


class IQMJobData(msgspec.Struct, frozen=True):
    """``JobData`` (the fields qaas uses; others are ignored)."""

    id: str
    status: str
    queue_position: int | None = None
    compilation: _Compilation | None = None
    errors: tuple[IQMMessage, ...] = ()
    messages: tuple[IQMMessage, ...] = ()
    timeline: tuple[IQMStep, ...] = ()

    @property
    def terminal(self) -> bool:
        """Completed, failed or cancelled."""
        return self.status in TERMINAL

    @property
    def calibration_set_id(self) -> str | None:
        """The calibration set the job was compiled with."""
        return None if self.compilation is None else self.compilation.calibration_set_id


class _QuantumComputer(msgspec.Struct, frozen=True):
    id: str
    alias: str = ""
    display_name: str = ""


class _QuantumComputers(msgspec.Struct, frozen=True):
    quantum_computers: tuple[_QuantumComputer, ...] = ()


_job_decoder: Final = msgspec.json.Decoder(IQMJobData)
_qcs_decoder: Final = msgspec.json.Decoder(_QuantumComputers)
_measurements_decoder: Final = msgspec.json.Decoder(list[dict[str, list[list[int]]]])


def _decode(decoder: msgspec.json.Decoder[Any], response: httpx.Response, what: str) -> Any:
    try:
        return decoder.decode(response.content)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ResponseError(f"{SERVICE} sent an unexpected answer while {what}: {exc}") from exc


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError as exc:
        raise ResponseError(f"{SERVICE} sent a body that is not JSON while {what}") from exc
    if not isinstance(value, dict):
        raise ResponseError(f"{SERVICE} sent {type(value).__name__} instead of an object while {what}")
    return value


class IQMProtocol:
    """Builds IQM Server API calls and parses their answers (no I/O)."""

    @staticmethod
    def quantum_computers() -> Call:
        return Call("GET", f"{API}/quantum-computers", "listing the quantum computers")

    @staticmethod
    def parse_quantum_computers(response: httpx.Response) -> list[tuple[str, str]]:
        """``(id, alias)`` of every quantum computer the server offers."""
        doc = _decode(_qcs_decoder, response, "listing the quantum computers")
        return [(qc.id, qc.alias) for qc in doc.quantum_computers]

    @staticmethod
    def dynamic_architecture(qc: str, calibration_set_id: str | None) -> Call:
        cal = calibration_set_id or "default"
        return Call("GET", f"{API}/calibration-sets/{qc}/{cal}/dynamic-quantum-architecture",
                    "reading the dynamic quantum architecture")  # fmt: skip

    @staticmethod
    def quality_metrics(qc: str, calibration_set_id: str | None) -> Call:
        cal = calibration_set_id or "default"
        return Call("GET", f"{API}/calibration-sets/{qc}/{cal}/metrics", "reading the quality metrics")

    @staticmethod
    def calibration_set(qc: str, calibration_set_id: str | None) -> Call:
        cal = calibration_set_id or "default"
        return Call("GET", f"{API}/calibration-sets/{qc}/{cal}", "reading the calibration set")

    @staticmethod
    def parse_object(response: httpx.Response, what: str) -> dict[str, Any]:
        return _json(response, what)

    @staticmethod
    def submit(qc: str, body: bytes, *, use_timeslot: bool = False) -> Call:
        """``POST jobs/{qc}/circuit`` with an encoded ``CircuitJobDefinition`` (not safe to repeat)."""
        return Call("POST", f"{API}/jobs/{qc}/circuit", "submitting the circuit job",
                    params={"use_timeslot": "true" if use_timeslot else "false"}, content=body,
                    idempotent=False)  # fmt: skip

    @staticmethod
    def job(job_id: str) -> Call:
        return Call("GET", f"{API}/jobs/{job_id}", "reading the job")

    @staticmethod
    def parse_job(response: httpx.Response, what: str = "reading the job") -> IQMJobData:
        return _decode(_job_decoder, response, what)  # type: ignore[no-any-return]

    @staticmethod
    def measurements(job_id: str, max_bytes: int | None = None) -> Call:
        return Call("GET", f"{API}/jobs/{job_id}/artifacts/measurements", "downloading the measurements",
                    max_bytes=max_bytes)  # fmt: skip

    @staticmethod
    def parse_measurements(response: httpx.Response) -> list[dict[str, list[list[int]]]]:
        return _decode(_measurements_decoder, response, "downloading the measurements")  # type: ignore[no-any-return]

    @staticmethod
    def cancel(job_id: str) -> Call:
        return Call("POST", f"{API}/jobs/{job_id}/cancel", "cancelling the job")


class _Base:
    def __init__(self, base_url: str, tokens: IQMTokens, *, retry: RetryPolicy | None = None) -> None:
        from qaas_core._auth import bearer_auth

        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.retry = retry or RetryPolicy()
        self.protocol = IQMProtocol()
        self.requests = 0
        self._auth = bearer_auth(tokens)

    def _kwargs(self, call: Call) -> dict[str, Any]:
        from qaas_core._http import MAX_BYTES

        headers = {"Accept": "application/json"}
        kwargs: dict[str, Any] = {"params": call.params or None, "headers": headers, "auth": self._auth}
        if call.max_bytes is not None:
            kwargs["extensions"] = {MAX_BYTES: call.max_bytes}
        if call.content is not None:
            kwargs["content"] = call.content
            headers["Content-Type"] = "application/json; charset=UTF-8"
        elif call.body is not None:
            kwargs["content"] = json.dumps(call.body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=UTF-8"
        return kwargs

    @staticmethod
    def _checked(response: httpx.Response, call: Call) -> httpx.Response:
        if response.status_code in (401, 403):
            raise AuthenticationError(f"{SERVICE} refused the token while {call.what} ({response.status_code}); "
                                      "check iqm_token / IQM_TOKEN or log in to IQM again")  # fmt: skip
        return check(response, SERVICE, call.what)


class IQMServerClient(_Base):
    """Synchronous IQM Server API client (the :mod:`qaas_core._flow` drivers send its calls).

    Args:
        base_url: the server's root URL (``https://…``; plain http only to loopback), without ``/api/v1``.
        tokens: the bearer token source.
        http: httpx client to use (not closed here).
        retry: retry policy for calls that are safe to repeat.
    """

    def __init__(self, base_url: str, tokens: IQMTokens, *, http: httpx.Client, retry: RetryPolicy | None = None):
        super().__init__(base_url, tokens, retry=retry)
        self.http = http

    def _once(self, call: Call) -> httpx.Response:
        self.requests += 1
        try:
            response = self.http.request(call.method, f"{self.base_url}/{call.path}", **self._kwargs(call))
        except QaasError:
            raise
        except Exception as exc:
            raise translate(exc, SERVICE, call.what) from exc
        return self._checked(response, call)

    def send(self, call: Call) -> httpx.Response:
        """Send a call (retrying it if it is idempotent and the failure transient)."""
        if call.idempotent:
            return self.retry.call(lambda: self._once(call), call.what)
        return self._once(call)


class AsyncIQMServerClient(_Base):
    """The asyncio driver of the same client."""

    def __init__(
        self, base_url: str, tokens: IQMTokens, *, http: httpx.AsyncClient, retry: RetryPolicy | None = None
    ) -> None:
        super().__init__(base_url, tokens, retry=retry)
        self.http = http

    async def _once(self, call: Call) -> httpx.Response:
        self.requests += 1
        try:
            response = await self.http.request(call.method, f"{self.base_url}/{call.path}", **self._kwargs(call))
        except QaasError:
            raise
        except Exception as exc:
            raise translate(exc, SERVICE, call.what) from exc
        return self._checked(response, call)

    async def send(self, call: Call) -> httpx.Response:
        """Send a call (retrying it if it is idempotent and the failure transient)."""
        if call.idempotent:
            return await self.retry.acall(lambda: self._once(call), call.what)
        return await self._once(call)
