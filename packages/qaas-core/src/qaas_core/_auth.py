"""LEXIS authentication: access tokens that stay valid for as long as a job takes.

Sources, in order: an explicit access token; a refresh or offline token (``QAAS_LEXIS_REFRESH_TOKEN`` or
py4lexis's ``PY4LEXIS_TOKEN``); the token cache that ``qaas login`` (OAuth device flow) fills; a service account's
password grant. Tokens are refreshed 30 s before they expire and once more when a service answers 401. The cache is a
JSON file with mode 0600 in the user data directory; ``qaas logout`` revokes and removes it. Tokens never appear in
logs, reprs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from qaas_core._config import Settings, check_url
from qaas_core._errors import AuthenticationError, ConfigurationError, QaasError, TransportError
from qaas_core._files import private_dir, write_atomic
from qaas_core._http import check, json_body, new_client, translate
from qaas_core._secret import Secret

if TYPE_CHECKING:
    import httpx

__all__ = ["DeviceFlow", "TokenManager", "TokenSource", "bearer_auth", "jwt_claims"]

SKEW: Final = 30.0
DEVICE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT, or ``{}`` when the token is not a JWT. The services verify it."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class DeviceFlow:
    """A started device login: show ``verification_uri_complete`` (or the URI and ``user_code``) to the user."""

    verification_uri: str
    verification_uri_complete: str
    user_code: str
    expires_at: float
    interval: float
    device_code: Secret


class _Store:
    """The token cache file (0600), one entry per (auth URL, client id)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, key: str) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        entry = doc.get(key) if isinstance(doc, dict) else None
        return entry if isinstance(entry, dict) else {}

    def save(self, key: str, entry: dict[str, Any] | None) -> None:
        try:
            doc = json.loads(self.path.read_text())
            if not isinstance(doc, dict):
                doc = {}
        except (OSError, ValueError):
            doc = {}
        if entry is None:
            doc.pop(key, None)
        else:
            doc[key] = entry
        private_dir(self.path.parent)
        if not doc:
            self.path.unlink(missing_ok=True)
            return
        write_atomic(self.path, json.dumps(doc).encode())


class TokenManager:
    """Gives out valid LEXIS access tokens, refreshing them as needed (thread-safe).

    Args:
        settings: client settings (auth URL, client id, token sources, data dir).
        http: an httpx client to use (not closed here); one is made if omitted.
        clock: the wall clock (epoch seconds) that decides when an access token has expired or needs refreshing
            and when a device code runs out; tests pass the emulator's :class:`~qaas_core.emulator.FakeClock`.

    Attributes:
        clock: the clock given (may be replaced, e.g. by ``QaasClient.emulator`` with the emulator's).
    """

    def __init__(
        self, settings: Settings, http: httpx.Client | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._http = http
        self._own_http = http is None
        self._lock = threading.RLock()
        self._store = _Store(settings.data_dir / "tokens.json")
        self._access: Secret | None = settings.token
        self._access_exp = self._expiry(settings.token.get()) if settings.token else 0.0
        self._refresh: Secret | None = settings.refresh_token
        self._refresh_cached = False  # True when the refresh token came from (or went to) the cache file
        self._oidc: dict[str, Any] | None = None
        auth_url = settings.auth_url
        if auth_url is None and settings.token is not None:
            iss = jwt_claims(settings.token.get()).get("iss")
            if isinstance(iss, str) and iss:
                with contextlib.suppress(ConfigurationError):
                    auth_url = check_url(iss, "token issuer")
        self.auth_url = auth_url
        self._key = f"{auth_url}|{settings.client_id}"
        if self._refresh is None and auth_url is not None:
            cached = self._store.load(self._key)
            if cached.get("refresh_token"):
                self._refresh = Secret(str(cached["refresh_token"]))
                self._refresh_cached = True
            if cached.get("access_token") and self._access is None:
                self._access = Secret(str(cached["access_token"]))
                self._access_exp = float(cached.get("access_expires", 0))

    def __repr__(self) -> str:
        return f"<TokenManager {self.auth_url} client={self.settings.client_id}>"

    # -- plumbing ------------------------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = new_client(self.settings.timeout, self.settings.ca_bundle)
        return self._http

    def close(self) -> None:
        """Close the HTTP client if this manager made it."""
        if self._own_http and self._http is not None:
            self._http.close()
            self._http = None

    def _expiry(self, token: str, expires_in: float | None = None) -> float:
        exp = jwt_claims(token).get("exp")
        if isinstance(exp, int | float):
            return float(exp)
        if expires_in:
            return self.clock() + float(expires_in)
        return self.clock() + 300.0

    def _require_auth_url(self, why: str) -> str:
        if not self.auth_url:
            raise ConfigurationError(
                f"cannot {why}: the LEXIS auth URL is not set (auth_url / QAAS_AUTH_URL, e.g. "
                "https://<keycloak>/auth/realms/<realm>)"
            )
        return self.auth_url

    def _endpoint(self, name: str) -> str:
        if self._oidc is None:
            base = self._require_auth_url("reach the LEXIS login service")
            url = f"{base}/.well-known/openid-configuration"
            try:
                response = check(self.http.get(url), "LEXIS", "reading the OpenID configuration")
            except QaasError:
                raise
            except Exception as exc:
                raise translate(exc, "LEXIS", "reading the OpenID configuration") from exc
            doc = json_body(response, "LEXIS", "reading the OpenID configuration")
            if not isinstance(doc, dict):
                raise AuthenticationError("LEXIS OpenID configuration is not a JSON object")
            self._oidc = doc
        value = self._oidc.get(name)
        if not isinstance(value, str) or not value:
            raise AuthenticationError(f"LEXIS does not offer {name.replace('_', ' ')}")
        return check_url(value, name)

    def _token_request(self, form: dict[str, str], what: str) -> dict[str, Any]:
        url = self._endpoint("token_endpoint")
        try:
            response = self.http.post(url, data={"client_id": self.settings.client_id, **form})
        except Exception as exc:
            raise translate(exc, "LEXIS", what) from exc
        if response.status_code in (400, 401):
            try:
                body = response.json()
            except ValueError:
                body = {}
            error = body.get("error") if isinstance(body, dict) else None
            description = body.get("error_description") if isinstance(body, dict) else None
            raise _OAuthError(str(error or response.status_code), str(description or ""), what)
        check(response, "LEXIS", what)
        doc = json_body(response, "LEXIS", what)
        if not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
            raise AuthenticationError(f"LEXIS sent no access token while {what}")
        return doc

    def _accept(self, doc: dict[str, Any]) -> str:
        access = str(doc["access_token"])
        self._access = Secret(access)
        self._access_exp = self._expiry(access, doc.get("expires_in"))
        if doc.get("refresh_token"):
            self._refresh = Secret(str(doc["refresh_token"]))
        self._persist()
        return access

    def _persist(self) -> None:
        if self.auth_url is None or self._refresh is None:
            return
        self._refresh_cached = True
        entry = {"refresh_token": self._refresh.get(), "saved": self.clock()}
        if self._access is not None:
            entry.update(access_token=self._access.get(), access_expires=self._access_exp)
        self._store.save(self._key, entry)

    # -- public --------------------------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A LEXIS access token valid for at least 30 more seconds.

        Raises:
            AuthenticationError: no usable credentials, or LEXIS refused them (says what to do).
            TransportError: LEXIS could not be reached.
        """
        with self._lock:
            if self._access is not None and self._access_exp - SKEW > self.clock():
                return self._access.get()
            if self._refresh is not None:
                try:
                    return self._accept(self._token_request(
                        {"grant_type": "refresh_token", "refresh_token": self._refresh.get()}, "refreshing the token"
                    ))  # fmt: skip
                except _OAuthError as exc:
                    self._refresh = None
                    if self.auth_url and self._refresh_cached:  # forget only a cached login, never someone else's
                        self._store.save(self._key, None)
                    if not self.settings.username:
                        why = exc.error + (f": {exc.description}" if exc.description else "")
                        raise AuthenticationError(
                            f"the LEXIS refresh token was refused ({why}); log in again with `qaas login`"
                        ) from None
            if self.settings.username and self.settings.password:
                return self._password_grant(self.settings.username, self.settings.password)
            if self._access is not None:
                raise AuthenticationError(
                    "the LEXIS access token has expired and there is no refresh token; log in with `qaas login` or "
                    "set QAAS_LEXIS_REFRESH_TOKEN"
                )
            raise AuthenticationError(
                "not logged in to LEXIS: run `qaas login`, pass token=..., set QAAS_LEXIS_REFRESH_TOKEN "
                "(or PY4LEXIS_TOKEN), or configure a service account (QAAS_USERNAME/QAAS_PASSWORD)"
            )

    def on_unauthorized(self) -> bool:
        """A service said 401: drop the access token. Returns True when a fresh one can be tried."""
        with self._lock:
            self._access_exp = 0.0
            return self._refresh is not None or bool(self.settings.username and self.settings.password)

    def _password_grant(self, username: str, password: Secret) -> str:
        try:
            doc = self._token_request(
                {"grant_type": "password", "username": username, "password": password.get(), "scope": "openid"},
                "logging in with the service account",
            )
        except _OAuthError as exc:
            why = exc.description or exc.error
            raise AuthenticationError(f"LEXIS refused the service account {username!r}: {why}") from None
        return self._accept(doc)

    def start_device_flow(self, *, offline: bool = False) -> DeviceFlow:
        """Begin an OAuth device login (RFC 8628).

        Raises:
            AuthenticationError: LEXIS refused to start one.
        """
        url = self._endpoint("device_authorization_endpoint")
        scope = "openid offline_access" if offline else "openid"
        try:
            response = check(self.http.post(url, data={"client_id": self.settings.client_id, "scope": scope}),
                             "LEXIS", "starting the device login")  # fmt: skip
        except QaasError:
            raise
        except Exception as exc:
            raise translate(exc, "LEXIS", "starting the device login") from exc
        doc = json_body(response, "LEXIS", "starting the device login")
        try:
            return DeviceFlow(
                verification_uri=str(doc["verification_uri"]),
                verification_uri_complete=str(doc.get("verification_uri_complete") or doc["verification_uri"]),
                user_code=str(doc["user_code"]),
                expires_at=self.clock() + float(doc.get("expires_in", 600)),
                interval=float(doc.get("interval", 5)),
                device_code=Secret(str(doc["device_code"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthenticationError(f"LEXIS sent an incomplete device authorization ({exc})") from None

    def complete_device_flow(
        self, flow: DeviceFlow, *, timeout: float | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        """Poll until the user approved the device login, then keep the tokens.

        Args:
            flow: the started login.
            timeout: longest real wait in seconds (None: until the device code expires, by :attr:`clock`).
            sleep: waits between polls.

        Raises:
            AuthenticationError: denied, expired, or not approved within ``timeout``.
        """
        give_up = time.monotonic() + timeout if timeout else None  # a duration, not an expiry: real time
        interval = flow.interval
        while True:
            try:
                doc = self._token_request(
                    {"grant_type": DEVICE_GRANT, "device_code": flow.device_code.get()}, "waiting for the device login"
                )
            except _OAuthError as exc:
                if exc.error == "authorization_pending":
                    pass
                elif exc.error == "slow_down":
                    interval += 5
                elif exc.error == "expired_token":
                    raise AuthenticationError("the device login expired before it was approved; start again") from None
                elif exc.error == "access_denied":
                    raise AuthenticationError("the device login was denied") from None
                else:
                    raise AuthenticationError(f"device login failed: {exc.error} {exc.description}") from None
            else:
                with self._lock:
                    self._accept(doc)
                return
            expires = self.clock() + interval > flow.expires_at
            if expires or (give_up is not None and time.monotonic() + interval > give_up):
                raise AuthenticationError("the device login was not approved in time; start again")
            sleep(interval)

    def login_with_password(self, username: str, password: str) -> None:
        """Log in with a service account's password grant and keep the tokens."""
        with self._lock:
            self._password_grant(username, Secret(password))

    def claims(self) -> dict[str, Any]:
        """The claims of the current access token (who is logged in, until when)."""
        return jwt_claims(self.access_token())

    def logout(self) -> bool:
        """Revoke the refresh token at LEXIS (best effort) and delete the cached tokens. True if any were cached."""
        with self._lock:
            had = bool(self._store.load(self._key)) if self.auth_url else False
            if self._refresh is not None and self.auth_url:
                with contextlib.suppress(QaasError, TransportError, Exception):
                    url = self._endpoint("end_session_endpoint")
                    self.http.post(url, data={"client_id": self.settings.client_id,
                                              "refresh_token": self._refresh.get()})  # fmt: skip
            if self.auth_url:
                self._store.save(self._key, None)
            self._access = self._refresh = None
            self._access_exp = 0.0
            return had


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, what: str) -> None:
        super().__init__(f"{what}: {error}")
        self.error = error
        self.description = description


class TokenSource(Protocol):
    """Where bearer tokens come from: LEXIS (:class:`TokenManager`) or an IQM token (``_iqm.IQMTokens``)."""

    def access_token(self) -> str:
        """A token valid for the next request."""
        ...

    def on_unauthorized(self) -> bool:
        """A service said 401: forget the token; True when a fresh one can be tried."""
        ...


def bearer_auth(tokens: TokenSource) -> httpx.Auth:
    """An ``httpx.Auth`` that puts the current access token on each request and, when a service answers 401, gets a
    fresh one once and sends the request again. The one refresh-on-401 policy of every bearer call (HEAppE,
    UserOrg, the IQM server): httpx drives the same flow in sync and async clients; in an async client the token is
    fetched in a worker thread, so a refresh never blocks the event loop.
    """
    import httpx

    class _Bearer(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            request.headers["Authorization"] = f"Bearer {tokens.access_token()}"
            response = yield request
            if response.status_code == 401 and tokens.on_unauthorized():
                request.headers["Authorization"] = f"Bearer {tokens.access_token()}"
                yield request

        async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
            import asyncio

            request.headers["Authorization"] = f"Bearer {await asyncio.to_thread(tokens.access_token)}"
            response = yield request
            if response.status_code == 401 and tokens.on_unauthorized():
                request.headers["Authorization"] = f"Bearer {await asyncio.to_thread(tokens.access_token)}"
                yield request

        def __repr__(self) -> str:
            return "<bearer auth (LEXIS access token)>"

    return _Bearer()
