"""HEAppE V6.x client: the job life cycle over HTTP, sync and asyncio.

Request building (:class:`Call`) and response parsing live in :class:`HEAppEProtocol`, apart from I/O, so
:class:`HEAppEClient` (httpx.Client) and :class:`AsyncHEAppEClient` (httpx.AsyncClient) share them. Authentication is
``bearer`` (the LEXIS access token on every call, as IT4I's deployment does) or ``session`` (a HEAppE session code
from ``AuthenticateLexisToken``, renewed when it expires). A 401 triggers one token refresh and one retry; the
conversation of a call is written once (:meth:`_Base._exchange`) and driven by both clients. Only idempotent calls
are retried on transient errors; ``CreateJob`` and ``SubmitJob`` are made safe by the submission flow.

A HEAppE deployment runs one of the two modes, and the client follows the deployment whatever it was configured
with, switching once for the rest of its life: in ``session`` mode, ``AuthenticateLexisToken`` answering
``"HEADER-AUTH-NEEDED"`` (bearer enabled) switches it to ``bearer``; in ``bearer`` mode, a 401 that is HEAppE's
ProblemDetails rather than its bearer middleware's plain-text ``Unauthorized`` (a deployment without bearer ignores
the header and misses the session code) makes it ask ``AuthenticateLexisToken``: a session code switches it to
``session``, ``"HEADER-AUTH-NEEDED"`` shows the 401 was meant (a role or another user's job).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, Literal

import msgspec

from qaas_core._errors import AuthenticationError, QaasError, RemoteAPIError, ResponseError
from qaas_core._http import MAX_BYTES, Call, RetryPolicy, _detail, check, translate

if TYPE_CHECKING:
    import httpx

    from qaas_core._auth import TokenManager

__all__ = [
    "AsyncHEAppEClient",
    "Call",
    "HEAppEClient",
    "HEAppEProtocol",
    "JobInfo",
    "JobState",
    "TaskInfo",
]

SERVICE: Final = "HEAppE"
HEADER_AUTH_NEEDED: Final = "HEADER-AUTH-NEEDED"
"""``AuthenticateLexisToken``'s answer when the deployment authenticates each call by its bearer token instead."""

logger = logging.getLogger(__name__)


class JobState(IntEnum):
    """HEAppE job and task states (bit-flag style integers)."""

    CONFIGURING = 1
    SUBMITTED = 2
    QUEUED = 4
    RUNNING = 8
    FINISHED = 16
    FAILED = 32
    CANCELED = 64
    WAITING_FOR_SERVICE_ACCOUNT = 128
    DELETED = 256

    @property
    def terminal(self) -> bool:
        """Finished, failed, cancelled or deleted."""
        return self in (JobState.FINISHED, JobState.FAILED, JobState.CANCELED, JobState.DELETED)


class TaskInfo(msgspec.Struct, rename="pascal", frozen=True):
    """``SubmittedTaskInfoExt`` (the fields qaas uses)."""

    id: int
    name: str | None = None
    state: int = 1
    error_message: str | None = None
    start_time: str | None = None
    end_time: str | None = None


class JobInfo(msgspec.Struct, rename="pascal", frozen=True):
    """``SubmittedJobInfoExt`` (the fields qaas uses)."""

    id: int
    name: str | None = None
    state: int = 1
    creation_time: str | None = None
    submit_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    tasks: tuple[TaskInfo, ...] = ()

    @property
    def job_state(self) -> JobState:
        """The state as :class:`JobState` (unknown values read as Failed)."""
        try:
            return JobState(self.state)
        except ValueError:
            return JobState.FAILED


class ChangedFile(msgspec.Struct, rename="pascal", frozen=True):
    """An entry of ``ListChangedFilesForJob``."""

    file_name: str
    last_modified_date: str | None = None


class FilePart(msgspec.Struct, rename="pascal", frozen=True):
    """An entry of ``DownloadPartsOfJobFilesFromCluster``."""

    content: str | None = None
    offset: int = 0
    file_type: int = 0
    submitted_task_info_id: int = 0


_job_decoder: Final = msgspec.json.Decoder(JobInfo)
_jobs_decoder: Final = msgspec.json.Decoder(list[JobInfo])
_files_decoder: Final = msgspec.json.Decoder(list[ChangedFile] | None)
_parts_decoder: Final = msgspec.json.Decoder(list[FilePart])


def _decode(decoder: msgspec.json.Decoder[Any], response: httpx.Response, what: str) -> Any:
    try:
        return decoder.decode(response.content)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ResponseError(f"{SERVICE} sent an unexpected answer while {what}: {exc}") from exc


class HEAppEProtocol:
    """Builds HEAppE calls and parses their answers (no I/O)."""

    # -- authentication ---------------------------------------------------------------------------------------

    @staticmethod
    def authenticate_lexis(access_token: str) -> Call:
        return Call("POST", "heappe/UserAndLimitationManagement/AuthenticateLexisToken", "logging in to HEAppE",
                    body={"Credentials": {"Username": None, "OpenIdAccessToken": access_token}})  # fmt: skip

    @staticmethod
    def parse_login(response: httpx.Response) -> str | None:
        """The session code of an ``AuthenticateLexisToken`` answer; None when the deployment runs bearer
        authentication (it answers ``"HEADER-AUTH-NEEDED"``).

        Raises:
            ResponseError: the answer is neither.
        """
        try:
            code = json.loads(response.text)
        except ValueError:
            code = None
        if not isinstance(code, str) or not code:
            raise ResponseError(f"{SERVICE} sent no session code")
        return None if code == HEADER_AUTH_NEEDED else code

    @staticmethod
    def parse_session_code(response: httpx.Response) -> str:
        """The session code of an ``AuthenticateLexisToken`` answer.

        Raises:
            ResponseError: no session code (also when the deployment answers ``"HEADER-AUTH-NEEDED"``).
        """
        code = HEAppEProtocol.parse_login(response)
        if code is None:
            raise ResponseError(f"{SERVICE} runs bearer authentication: it sends no session code")
        return code

    # -- discovery ---------------------------------------------------------------------------------------------

    @staticmethod
    def list_clusters(cluster_name: str | None = None) -> Call:
        params = {"ClusterName": cluster_name} if cluster_name else {}
        return Call("GET", "heappe/ClusterInformation/ListAvailableClusters", "listing clusters", params=params)

    @staticmethod
    def parse_list(response: httpx.Response, what: str) -> list[dict[str, Any]]:
        try:
            value = response.json()
        except ValueError as exc:
            raise ResponseError(f"{SERVICE} sent a body that is not JSON while {what}") from exc
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ResponseError(f"{SERVICE} sent {type(value).__name__} instead of a list while {what}")
        return value

    @staticmethod
    def health() -> Call:
        return Call("GET", "heappe/Health", "checking health")

    # -- jobs --------------------------------------------------------------------------------------------------

    @staticmethod
    def create_job(specification: dict[str, Any]) -> Call:
        return Call("POST", "heappe/JobManagement/CreateJob", "creating the job",
                    body={"JobSpecification": specification}, idempotent=False)  # fmt: skip

    @staticmethod
    def submit_job(job_id: int) -> Call:
        return Call("PUT", "heappe/JobManagement/SubmitJob", "submitting the job",
                    body={"CreatedJobInfoId": job_id}, idempotent=False)  # fmt: skip

    @staticmethod
    def job_info(job_id: int) -> Call:
        return Call("GET", "heappe/JobManagement/CurrentInfoForJob", "reading the job state",
                    params={"SubmittedJobInfoId": job_id})  # fmt: skip

    @staticmethod
    def list_jobs(states: Sequence[int] = ()) -> Call:
        params = {"JobStates": ",".join(str(s) for s in states)} if states else {}
        return Call("GET", "heappe/JobManagement/ListJobsForCurrentUser", "listing jobs", params=params)

    @staticmethod
    def cancel_job(job_id: int) -> Call:
        return Call("PUT", "heappe/JobManagement/CancelJob", "cancelling the job", body={"SubmittedJobInfoId": job_id})

    @staticmethod
    def delete_job(job_id: int) -> Call:
        return Call("DELETE", "heappe/JobManagement/DeleteJob", "deleting the job",
                    body={"SubmittedJobInfoId": job_id, "ArchiveLogs": False})  # fmt: skip

    @staticmethod
    def parse_job(response: httpx.Response, what: str) -> JobInfo:
        return _decode(_job_decoder, response, what)  # type: ignore[no-any-return]

    @staticmethod
    def parse_jobs(response: httpx.Response) -> list[JobInfo]:
        return _decode(_jobs_decoder, response, "listing jobs")  # type: ignore[no-any-return]

    # -- files -------------------------------------------------------------------------------------------------

    @staticmethod
    def upload(job_id: int, task_id: int, files: Sequence[tuple[str, bytes]]) -> Call:
        return Call("POST", "heappe/FileTransfer/UploadFilesToJobExecutionDir", "uploading the request",
                    params={"JobId": job_id, "TaskId": task_id}, files=tuple(files))  # fmt: skip

    @staticmethod
    def parse_upload(response: httpx.Response) -> None:
        entries = HEAppEProtocol.parse_list(response, "uploading the request")
        failed = [str(e.get("FileName")) for e in entries if not e.get("Succeeded")]
        if failed or not entries:
            raise RemoteAPIError(f"{SERVICE} did not store {failed or 'the files'}", status_code=response.status_code,
                                 retryable=True)  # fmt: skip

    @staticmethod
    def changed_files(job_id: int) -> Call:
        return Call("GET", "heappe/FileTransfer/ListChangedFilesForJob", "listing the job's files",
                    params={"SubmittedJobInfoId": job_id})  # fmt: skip

    @staticmethod
    def parse_changed_files(response: httpx.Response) -> list[ChangedFile]:
        if response.status_code == 204 or not response.content:
            return []
        return _decode(_files_decoder, response, "listing the job's files") or []

    @staticmethod
    def download(job_id: int, relative_path: str, max_file_bytes: int | None = None) -> Call:
        """``DownloadFileFromCluster`` (the answer, base64 in JSON, may be 4/3 of ``max_file_bytes``)."""
        limit = None if max_file_bytes is None else 4 * (max_file_bytes + 2) // 3 + 16
        return Call("POST", "heappe/FileTransfer/DownloadFileFromCluster", f"downloading {relative_path}",
                    body={"SubmittedJobInfoId": job_id, "RelativeFilePath": relative_path},
                    max_bytes=limit)  # fmt: skip

    @staticmethod
    def parse_download(response: httpx.Response, what: str) -> bytes | None:
        """File bytes, or None when the job has no files yet (204)."""
        if response.status_code == 204 or not response.content:
            return None
        try:
            text = json.loads(response.content)
            if not isinstance(text, str):
                raise TypeError(type(text).__name__)
            return base64.b64decode(text, validate=True)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise ResponseError(f"{SERVICE} sent a file that is not base64 JSON while {what}") from exc

    @staticmethod
    def file_parts(job_id: int, offsets: Sequence[tuple[int, int, int]]) -> Call:
        """Tail task files: ``offsets`` is ``(task id, file type, offset)``; type 1 is the progress file."""
        body = {"SubmittedJobInfoId": job_id, "TaskFileOffsets": [
            {"SubmittedTaskInfoId": t, "FileType": ft, "Offset": off} for t, ft, off in offsets]}  # fmt: skip
        return Call("POST", "heappe/FileTransfer/DownloadPartsOfJobFilesFromCluster", "reading job progress", body=body)

    @staticmethod
    def parse_file_parts(response: httpx.Response) -> list[FilePart]:
        return _decode(_parts_decoder, response, "reading job progress")  # type: ignore[no-any-return]


_GUID: Final = re.compile(r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}")


def _is_problem_details(response: httpx.Response) -> bool:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict)


class _RedactSessionCodes(logging.Filter):
    """HEAppE wants session codes in query strings; keep them out of httpx's request log lines."""

    pattern = re.compile(r"(SessionCode=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "SessionCode=" in message:
            record.msg = self.pattern.sub(r"\1***", message)
            record.args = ()
        return True


_redaction_installed = False


def _redact_session_codes() -> None:
    global _redaction_installed  # noqa: PLW0603 - installed once per process, on first use of session mode
    if not _redaction_installed:
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).addFilter(_RedactSessionCodes())
        _redaction_installed = True


@dataclass(frozen=True)
class _Request:
    """One HTTP request of a call's conversation (what the sync and async drivers send)."""

    method: str
    url: str
    what: str
    kwargs: dict[str, Any]


class _Base:
    """Everything of a HEAppE client but the I/O: requests, authentication and the conversation of one call.

    :meth:`_exchange` is a generator that yields the HTTP requests of one call and receives their responses: a
    session login first when session mode has no code yet, the call, and in session mode one renewal of the session
    after a 401. (In bearer mode the refresh-on-401 is the shared ``httpx.Auth`` of ``_auth.bearer_auth``.) The logins
    also tell the deployment's mode, which the client then follows (see the module docstring).
    :class:`HEAppEClient` drives it with an ``httpx.Client``, :class:`AsyncHEAppEClient` with an ``httpx.AsyncClient``.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenManager,
        *,
        auth: Literal["bearer", "session"] = "bearer",
        retry: RetryPolicy | None = None,
    ) -> None:
        from qaas_core._auth import bearer_auth

        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.protocol = HEAppEProtocol()
        self.session_code: str | None = None
        self.requests = 0  # HTTP requests sent (for tests and benchmarks)
        self._bearer = bearer_auth(tokens) if auth == "bearer" else None
        self._mode_known = False  # whether the deployment has shown that it runs ``auth``
        if auth == "session":
            _redact_session_codes()

    def _switch(self, auth: Literal["bearer", "session"], why: str) -> None:
        """Follow the deployment's authentication mode for the rest of this client's life."""
        from qaas_core._auth import bearer_auth

        logger.info("HEAppE at %s runs %s authentication (%s); using it from now on", self.base_url, auth, why)
        self.auth = auth
        self._mode_known = True
        self.session_code = None
        self._bearer = bearer_auth(self.tokens) if auth == "bearer" else None
        if auth == "session":
            _redact_session_codes()

    def _request(self, call: Call) -> _Request:
        params = dict(call.params)
        headers: dict[str, str] = {}
        body = None if call.body is None else dict(call.body)
        if self.auth == "session" and not call.path.endswith("AuthenticateLexisToken"):
            if call.method == "GET" or call.files:
                params["SessionCode"] = self.session_code
            elif body is not None:
                body["SessionCode"] = self.session_code
        kwargs: dict[str, Any] = {"params": params or None, "headers": headers}
        if self._bearer is not None:
            kwargs["auth"] = self._bearer
        if call.max_bytes is not None:
            kwargs["extensions"] = {MAX_BYTES: call.max_bytes}
        if call.files:
            kwargs["files"] = [("files", (name, data, "application/octet-stream")) for name, data in call.files]
        elif call.content is not None:
            kwargs["content"] = call.content
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["content"] = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        return _Request(call.method, f"{self.base_url}/{call.path}", call.what, kwargs)

    def _login(self, token: str) -> _Request:
        call = self.protocol.authenticate_lexis(token)
        request = self._request(call)
        request.kwargs.pop("auth", None)
        return request

    def _session_login(self) -> Generator[_Request, httpx.Response, None]:
        """``AuthenticateLexisToken``: a session code, or the switch to bearer when the deployment runs it."""
        response = yield self._login(self.tokens.access_token())
        code = self.protocol.parse_login(check(response, SERVICE, "logging in to HEAppE"))
        if code is None:
            self._switch("bearer", f"AuthenticateLexisToken answered {HEADER_AUTH_NEEDED}")
        else:
            self.session_code, self._mode_known = code, True

    def _header_ignored(self, response: httpx.Response) -> Generator[_Request, httpx.Response, bool]:
        """After a 401 to a bearer call: whether the deployment runs session authentication (then the client has
        switched to it, with a session code). HEAppE's bearer middleware refuses a token with a plain-text
        ``Unauthorized``; a ProblemDetails 401 comes from the service layer, which either found no session code
        (bearer disabled: the header was ignored) or refused a role or another user's job. Its
        ``AuthenticateLexisToken`` tells the two apart."""
        if self._mode_known or not _is_problem_details(response):
            return False
        try:
            answer = yield self._login(self.tokens.access_token())
            code = self.protocol.parse_login(check(answer, SERVICE, "logging in to HEAppE"))
        except QaasError as exc:
            raise AuthenticationError(
                f"{SERVICE} did not take the LEXIS token as a bearer token ({_detail(response)}), and a session "
                f"login failed too: {exc}"
            ) from exc
        if code is None:
            self._mode_known = True  # bearer deployment: the 401 was meant
            return False
        self._switch("session", "it ignored the bearer token and AuthenticateLexisToken gave a session code")
        self.session_code = code
        return True

    def _exchange(self, call: Call) -> Generator[_Request, httpx.Response, httpx.Response]:
        if self.auth == "session" and not self.session_code:
            yield from self._session_login()
        response = yield self._request(call)
        if response.status_code == 401:
            if self.auth == "session" and self.tokens.on_unauthorized():
                yield from self._session_login()
                response = yield self._request(call)
            elif self.auth == "bearer" and (yield from self._header_ignored(response)):
                response = yield self._request(call)
        if response.status_code == 401:
            detail = _GUID.sub("***", _detail(response) or "")  # a session code may be quoted in it
            raise AuthenticationError(
                f"{SERVICE} refused the credentials while {call.what}" + (f" ({detail})" if detail else "")
                + "; log in again (qaas login)"
            )  # fmt: skip
        if self.auth == "bearer" and response.is_success and call.path != HEAppEProtocol.health().path:
            self._mode_known = True  # the deployment took the bearer token (Health is anonymous: it proves nothing)
        return check(response, SERVICE, call.what)


class HEAppEClient(_Base):
    """Synchronous HEAppE client.

    Args:
        base_url: the HEAppE instance URL (``HEAPPE_URL`` of the LEXIS resource).
        tokens: source of LEXIS access tokens.
        http: httpx client to reuse (not closed here).
        auth: ``bearer`` or ``session``.
        retry: retry policy for idempotent calls.
    """

    def __init__(
        self,
        base_url: str,
        tokens: TokenManager,
        *,
        http: httpx.Client,
        auth: Literal["bearer", "session"] = "bearer",
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(base_url, tokens, auth=auth, retry=retry)
        self.http = http

    def _once(self, call: Call) -> httpx.Response:
        flow = self._exchange(call)
        request = next(flow)
        while True:
            self.requests += 1
            try:
                response = self.http.request(request.method, request.url, **request.kwargs)
            except QaasError:
                raise
            except Exception as exc:
                raise translate(exc, SERVICE, request.what) from exc
            try:
                request = flow.send(response)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def send(self, call: Call) -> httpx.Response:
        """Send a call (retrying it if it is idempotent and the failure transient)."""
        if call.idempotent:
            return self.retry.call(lambda: self._once(call), call.what)
        return self._once(call)

    def job_info(self, job_id: int) -> JobInfo:
        """``CurrentInfoForJob``."""
        call = self.protocol.job_info(job_id)
        return self.protocol.parse_job(self.send(call), call.what)

    def list_clusters(self, cluster_name: str | None = None) -> list[dict[str, Any]]:
        """``ListAvailableClusters``."""
        call = self.protocol.list_clusters(cluster_name)
        return self.protocol.parse_list(self.send(call), call.what)


class AsyncHEAppEClient(_Base):
    """The asyncio driver of the same client (same requests, same conversation)."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenManager,
        *,
        http: httpx.AsyncClient,
        auth: Literal["bearer", "session"] = "bearer",
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(base_url, tokens, auth=auth, retry=retry)
        self.http = http

    async def _once(self, call: Call) -> httpx.Response:
        import asyncio

        flow = self._exchange(call)
        # the conversation may need a LEXIS token first (a blocking refresh): step it in a thread
        request = await asyncio.to_thread(next, flow)
        while True:
            self.requests += 1
            try:
                response = await self.http.request(request.method, request.url, **request.kwargs)
            except QaasError:
                raise
            except Exception as exc:
                raise translate(exc, SERVICE, request.what) from exc
            try:
                request = (
                    flow.send(response) if response.status_code != 401 else await asyncio.to_thread(flow.send, response)
                )
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def send(self, call: Call) -> httpx.Response:
        """Send a call (retrying it if it is idempotent and the failure transient)."""
        if call.idempotent:
            return await self.retry.acall(lambda: self._once(call), call.what)
        return await self._once(call)

    async def job_info(self, job_id: int) -> JobInfo:
        """``CurrentInfoForJob``."""
        call = self.protocol.job_info(job_id)
        return self.protocol.parse_job(await self.send(call), call.what)
