"""The HEAppE client follows the deployment's authentication mode, whichever mode it was configured with.

HEAppE V6.3.2 runs bearer *or* session authentication per deployment. With bearer on, ``AuthenticateLexisToken``
answers ``"HEADER-AUTH-NEEDED"``; with it off, a ``Bearer`` header is ignored and the call misses its session code
(a ProblemDetails 401, unlike the bearer middleware's plain-text ``Unauthorized``). End to end against the emulator
in each mode, both ways round; the conversation itself (which requests, how often, which errors) against a small
scripted HEAppE, sync and asyncio.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

import qaas_core as q
from qaas_core._heappe import AsyncHEAppEClient, HEAppEClient
from qaas_core._http import RetryPolicy

HALF = math.pi / 2
BELL = q.Circuit("bell", (q.prx("QB1", HALF, HALF), q.cz("QB1", "QB2"), q.measure("QB1", "QB2", key="m")))
LOGIN = "/heappe/UserAndLimitationManagement/AuthenticateLexisToken"
CLUSTERS = "/heappe/ClusterInformation/ListAvailableClusters"
Mode = Literal["bearer", "session"]


def _switches(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "qaas_core._heappe" and "from now on" in r.getMessage()]


# -- end to end: the emulator in one mode, the client configured for the other ------------------------------------


@pytest.mark.parametrize(("deployment", "configured"), [("bearer", "session"), ("session", "bearer")])
def test_the_client_follows_the_deployment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, deployment: Mode, configured: Mode
) -> None:
    caplog.set_level(logging.INFO, logger="qaas_core._heappe")
    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path, heappe_auth=deployment):
        # a second client on the same login, configured the other way (as a user whose site changed its mode)
        client = q.QaasClient(profile="emulator", data_dir=tmp_path, heappe_auth=configured)
        try:
            for _ in range(2):
                counts = client.submit(BELL, 20).result(timeout=60).counts(0)
                assert sum(counts.values()) == 20
            heappe = client.heappe
            assert heappe.auth == deployment
            assert (heappe.session_code is not None) == (deployment == "session")
            [switch] = _switches(caplog)  # once, at INFO, for the rest of the client's life
            assert switch.levelno == logging.INFO and deployment in switch.getMessage()
        finally:
            client.close()


# -- the conversation, against a scripted HEAppE ------------------------------------------------------------------


class Tokens:
    """A token source whose token never needs a refresh (so every request below is HEAppE's)."""

    def access_token(self) -> str:
        return "lexis-access-token"

    def on_unauthorized(self) -> bool:
        return False


class ScriptedHEAppE:
    """HEAppE V6.3.2's authentication as ``LexisAuthMiddleware`` and the service layer do it, for one user.

    ``refuse``: the service layer's ProblemDetails 401 for an authenticated user (a missing role); ``login_fails``:
    ``AuthenticateLexisToken`` itself answers 502.
    """

    def __init__(self, mode: Mode, *, refuse: bool = False, login_fails: bool = False) -> None:
        self.mode = mode
        self.refuse = refuse
        self.login_fails = login_fails
        self.seen: list[tuple[str, bool, str | None]] = []  # (path, Bearer header, session code)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization")
        body = json.loads(request.content) if request.content else {}
        code = request.url.params.get("SessionCode") or body.get("SessionCode")
        self.seen.append((request.url.path, header is not None, code))
        if request.url.path == LOGIN:
            if self.login_fails:
                return httpx.Response(502, json={"title": "External Service Error", "status": 502, "detail": "down"})
            return httpx.Response(200, json="HEADER-AUTH-NEEDED" if self.mode == "bearer" else "3f2c0000-code")
        if self.mode == "bearer" and header is not None:
            if header != "Bearer lexis-access-token":
                return httpx.Response(401, text="Unauthorized", headers={"content-type": "text/plain"})
            user_known = True
        else:
            user_known = code == "3f2c0000-code"
        if not user_known or self.refuse:
            detail = "User does not have the Submitter role." if user_known else "Unauthorized"
            return httpx.Response(401, json={"title": "Unauthorized Access", "status": 401, "detail": detail})
        return httpx.Response(200, json=[])

    @property
    def paths(self) -> list[str]:
        return [path.rsplit("/", 1)[-1] for path, _, _ in self.seen]


def sync_client(server: ScriptedHEAppE, auth: Mode) -> Callable[[], Any]:
    http = httpx.Client(transport=httpx.MockTransport(server))
    client = HEAppEClient("https://heappe.example.org", Tokens(), http=http, auth=auth,  # type: ignore[arg-type]
                          retry=RetryPolicy(attempts=1))  # fmt: skip
    return lambda: (client.list_clusters(), client)[1]


def async_client(server: ScriptedHEAppE, auth: Mode) -> Callable[[], Any]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    client = AsyncHEAppEClient("https://heappe.example.org", Tokens(), http=http, auth=auth,  # type: ignore[arg-type]
                               retry=RetryPolicy(attempts=1))  # fmt: skip

    def call() -> Any:
        asyncio.run(client.send(client.protocol.list_clusters()))
        return client

    return call


DRIVERS = pytest.mark.parametrize("make", [sync_client, async_client], ids=["sync", "async"])


@DRIVERS
def test_session_client_against_a_bearer_deployment(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qaas_core._heappe")
    server = ScriptedHEAppE("bearer")
    call = make(server, "session")
    client = call()
    call()
    # one login, which said HEADER-AUTH-NEEDED; never sent as a session code; the token on every call
    assert server.paths == ["AuthenticateLexisToken", "ListAvailableClusters", "ListAvailableClusters"]
    assert [(bearer, code) for _, bearer, code in server.seen[1:]] == [(True, None), (True, None)]
    assert client.auth == "bearer" and client.session_code is None
    assert len(_switches(caplog)) == 1


@DRIVERS
def test_bearer_client_against_a_session_deployment(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qaas_core._heappe")
    server = ScriptedHEAppE("session")
    call = make(server, "bearer")
    client = call()
    call()
    # the ignored header gave a ProblemDetails 401; the login told the mode; then session codes only
    assert server.paths == ["ListAvailableClusters", "AuthenticateLexisToken", "ListAvailableClusters",
                            "ListAvailableClusters"]  # fmt: skip
    assert [(bearer, code) for _, bearer, code in server.seen[2:]] == [(False, "3f2c0000-code")] * 2
    assert client.auth == "session" and client.session_code == "3f2c0000-code"
    assert len(_switches(caplog)) == 1


@DRIVERS
def test_a_meant_401_on_a_bearer_deployment_is_asked_about_once(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qaas_core._heappe")
    server = ScriptedHEAppE("bearer", refuse=True)
    call = make(server, "bearer")
    for _ in range(2):
        with pytest.raises(q.AuthenticationError, match="Submitter role"):
            call()
    # the login said HEADER-AUTH-NEEDED: the 401 was meant; the mode is known from then on
    assert server.paths == ["ListAvailableClusters", "AuthenticateLexisToken", "ListAvailableClusters"]
    assert not _switches(caplog)


@DRIVERS
def test_a_refused_bearer_token_is_not_a_question_of_mode(make: Any) -> None:
    server = ScriptedHEAppE("bearer")
    call = make(server, "bearer")
    client = call()  # fine
    client.tokens.access_token = lambda: "revoked"
    with pytest.raises(q.AuthenticationError, match="log in again"):
        call()
    assert server.paths == ["ListAvailableClusters", "ListAvailableClusters"]  # plain-text 401: no login asked


@DRIVERS
def test_a_session_deployment_whose_login_fails(make: Any) -> None:
    server = ScriptedHEAppE("session", login_fails=True)
    call = make(server, "bearer")
    with pytest.raises(q.AuthenticationError, match="did not take the LEXIS token as a bearer token") as info:
        call()
    assert "502" in str(info.value)


def test_header_auth_needed_is_never_a_session_code() -> None:
    from qaas_core._heappe import HEAppEProtocol

    answer = httpx.Response(200, json="HEADER-AUTH-NEEDED")
    assert HEAppEProtocol.parse_login(answer) is None
    with pytest.raises(q.ResponseError, match="bearer"):
        HEAppEProtocol.parse_session_code(answer)
    assert HEAppEProtocol.parse_login(httpx.Response(200, json="3f2c0000-code")) == "3f2c0000-code"
