"""The emulated LEXIS platform: a Keycloak-compatible OpenID Connect subset and the UserOrg API.

Identity provider, under ``/auth/realms/{realm}`` (form-encoded requests and ``{"error", "error_description"}``
answers, as Keycloak):

* ``GET  .well-known/openid-configuration`` and ``GET protocol/openid-connect/certs`` (JWKS; one RSA key, made at
  first start and kept in ``state_dir/lexis`` so tokens survive restarts);
* ``POST protocol/openid-connect/token``: grants ``password``, ``refresh_token`` and
  ``urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628: ``authorization_pending``, ``slow_down``,
  ``expired_token``, ``access_denied``);
* ``POST protocol/openid-connect/auth/device`` (device authorization) and the verification page
  ``GET|POST /auth/realms/{realm}/device`` (``user_code``, ``username``, ``password``, optional ``action=deny``;
  answers JSON when the client accepts it, so scripts can approve a login);
* ``POST protocol/openid-connect/logout`` (revokes the refresh token's session) and ``GET|POST .../userinfo``.

Access tokens are RS256 JWTs (``exp``, ``iat``, ``iss``, ``aud``, ``sub``, ``typ``, ``azp``, ``sid``, ``scope``,
``preferred_username``, ``email`` …). Refresh tokens are JWTs too (``typ`` ``Refresh``; ``Offline`` without expiry
for scope ``offline_access``) tied to a session kept in ``state_dir/lexis/sessions.json``; refreshing does not
revoke the old refresh token (Keycloak's default).

UserOrg, under ``/userorg/api`` (bearer token required; 401 ``{"errorString": "Inactive token"}`` otherwise):
``GET Project?ProjectShortName=``, ``GET ProjectResource?ProjectShortName=&LocationTypeId=``,
``GET ProjectResource/{id}``. Lists contain only projects the caller is a member of (another project's name gives
an empty list); a single resource that is not visible is 404. ``HEAPPE_URL`` in a resource's specifications is the
base URL the request came to, so it is right whatever the port.

Users, projects and resources come from the bundled ``seed.json`` or from ``state_dir/seed.json`` if present.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import logging
import math
import os
import secrets
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute

from qaas_core.emulator._config import EmulatorConfig
from qaas_core.emulator._faults import FaultInjector
from qaas_core.emulator._jsonfile import read_json, write_json

__all__ = ["DEVICE_GRANT", "Claims", "Lexis", "LexisProject", "LexisResource", "LexisUser", "load_seed"]

logger = logging.getLogger(__name__)

DEVICE_GRANT: Final = "urn:ietf:params:oauth:grant-type:device_code"
_SUPPORTED_SCOPES: Final = frozenset({"openid", "profile", "email", "offline_access", "roles"})
_DEFAULT_SCOPES: Final = ("profile", "email")
_AUDIENCE: Final = ("portal", "account")
_USER_CODE_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
_MAX_FORM_BYTES: Final = 64 * 1024
_POLL_TOLERANCE: Final = 0.05


def load_seed(state_dir: Path | None) -> dict[str, Any]:
    """The seed of users, projects and HEAppE clusters: ``state_dir/seed.json`` if present, else the bundled one."""
    if state_dir is not None:
        override = read_json(state_dir / "seed.json")
        if isinstance(override, dict):
            return override
    text = resources.files("qaas_core.emulator").joinpath("seed.json").read_text(encoding="utf-8")
    seed = json.loads(text)
    assert isinstance(seed, dict)
    return seed


# -- seed model ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LexisUser:
    """A LEXIS account.

    Attributes:
        id: Keycloak user id (the ``sub`` claim).
        username: login name (``preferred_username``).
        password: LEXIS password (password grant, device approval).
        heappe_password: password of the HEAppE-local account (``AuthenticateUserPassword``).
        email: e-mail address.
        first_name: given name.
        last_name: family name.
    """

    id: str
    username: str
    password: str
    heappe_password: str
    email: str
    first_name: str
    last_name: str

    def __repr__(self) -> str:  # never show the passwords
        return f"LexisUser(username={self.username!r})"


@dataclass(frozen=True)
class LexisResource:
    """A project resource (a quantum allocation) with its single assignment.

    Attributes:
        id: ProjectResource id (also the assignment's ``ProjectResourceId``).
        assignment_id: id of the assignment.
        name: resource name, the HEAppE accounting string (e.g. ``EQE1-CZ-P0001``).
        location_name: assignment location, the HEAppE cluster name.
        aggregation_name: e.g. ``VLQ``.
        location_type_id: 7 for quantum.
        allocation_amount: allocated amount.
        sw_stack: software stack (``IQM``).
        quantum_technology: e.g. ``superconducting``.
    """

    id: str
    assignment_id: str
    name: str
    location_name: str
    aggregation_name: str
    location_type_id: int
    allocation_amount: float
    sw_stack: str
    quantum_technology: str


@dataclass(frozen=True)
class LexisProject:
    """A LEXIS project.

    Attributes:
        id: project id.
        short_name: the ``ProjectShortName``.
        name: long name.
        description: description.
        start_date: ISO date-time (no zone).
        end_date: ISO date-time (no zone).
        members: usernames of the members.
        resources: the project's resources.
    """

    id: str
    short_name: str
    name: str
    description: str
    start_date: str
    end_date: str
    members: tuple[str, ...]
    resources: tuple[LexisResource, ...] = field(default=())


@dataclass(frozen=True)
class _Client:
    client_id: str
    public: bool
    secret: str | None


@dataclass(frozen=True)
class Claims:
    """The verified claims of an access token.

    Attributes:
        subject: ``sub`` (the user id).
        username: ``preferred_username``.
        client_id: ``azp``.
        scope: space-separated scopes.
        issued_at: ``iat``.
        expires_at: ``exp``.
        session_id: ``sid``.
        email: ``email`` claim, if any.
        raw: every claim.
    """

    subject: str
    username: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    session_id: str
    email: str | None
    raw: Mapping[str, Any]


# -- JWT signing ---------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_b64(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class _Signer:
    """One RS256 key pair, kept as a 0600 PEM file."""

    def __init__(self, path: Path) -> None:
        key: rsa.RSAPrivateKey | None = None
        if path.exists():
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if isinstance(loaded, rsa.RSAPrivateKey):
                    key = loaded
            except (ValueError, TypeError):
                logger.warning("signing key %s is unreadable; making a new one", path)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _write_private(path, pem)
        self._key = key
        self._public = key.public_key()
        der = self._public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha256(der).digest())[:32]

    def sign(self, claims: Mapping[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
        )
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def decode(self, token: str) -> dict[str, Any] | None:
        """The claims of a token signed by this key, or None (bad shape, algorithm, key id or signature)."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            header = json.loads(_b64url_decode(parts[0]))
            if not isinstance(header, dict) or header.get("alg") != "RS256" or header.get("kid") != self.kid:
                return None
            self._public.verify(
                _b64url_decode(parts[2]),
                f"{parts[0]}.{parts[1]}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, UnicodeError, binascii.Error, InvalidSignature):
            return None
        return claims if isinstance(claims, dict) else None

    def jwk(self) -> dict[str, Any]:
        numbers = self._public.public_numbers()
        return {
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
        }


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- errors --------------------------------------------------------------------------------------------------------


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        return JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status, headers=headers
        )


@dataclass
class _DeviceAuthorization:
    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    interval: float
    last_poll: float = 0.0
    status: str = "pending"  # pending | approved | denied
    username: str | None = None


# -- the service ---------------------------------------------------------------------------------------------------


class Lexis:
    """The emulated LEXIS identity provider and UserOrg API (a :class:`~qaas_core.emulator._app.Subsystem`).

    Args:
        config: emulator settings (``realm``, token lifetimes, ``state_dir``; ``clock`` decides every expiry).
        faults: fault injector; default: the one shared by every subsystem of ``config``.

    Attributes:
        device_poll_interval: minimum seconds between device-code polls (``interval``; Keycloak uses 5).
        device_code_seconds: lifetime of a device code.
        faults: the shared fault injector.
        seed: the seed document (users, projects, HEAppE clusters).
        state_root: the emulator's state directory.
    """

    def __init__(self, config: EmulatorConfig, faults: FaultInjector | None = None) -> None:
        self.config = config
        self.faults = faults or FaultInjector.for_config(config)
        self.device_poll_interval: float = float(getattr(config, "device_poll_interval_seconds", 5.0))
        self.device_code_seconds: float = float(getattr(config, "device_code_seconds", 600.0))
        self.state_root = config.state_dir or Path(tempfile.mkdtemp(prefix="qaas-lexis-"))
        self._dir = self.state_root / "lexis"
        self.seed = load_seed(config.state_dir)
        lexis_seed = self.seed.get("lexis", {})
        self._users = {u.username: u for u in (_user(d) for d in lexis_seed.get("users", []))}
        self._clients = {c.client_id: c for c in (_client(d) for d in lexis_seed.get("clients", []))}
        self.projects: tuple[LexisProject, ...] = tuple(_project(d) for d in lexis_seed.get("projects", []))
        self._signer: _Signer | None = None
        self._sessions: dict[str, dict[str, Any]] = {}
        self._serial = 0
        self._min_access_serial = 0
        self._devices: dict[str, _DeviceAuthorization] = {}
        self._load_state()
        self.faults.register_hook("expire_tokens", self.expire_access_tokens)
        self.faults.register_hook("revoke_tokens", self.revoke_all_sessions)

    # -- Subsystem -------------------------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The OIDC, device-verification and UserOrg routes, plus the fault admin endpoint."""
        realm = "/auth/realms/{realm}"
        oidc = realm + "/protocol/openid-connect"
        gate = self.faults.route
        return [
            *self.faults.admin_routes(),
            gate(realm + "/.well-known/openid-configuration", self._discovery, methods=["GET"]),
            gate(oidc + "/certs", self._certs, methods=["GET"]),
            gate(oidc + "/token", self._token, methods=["POST"]),
            gate(oidc + "/auth/device", self._device_authorization, methods=["POST"]),
            gate(oidc + "/logout", self._logout, methods=["POST"]),
            gate(oidc + "/userinfo", self._userinfo, methods=["GET", "POST"]),
            gate(realm + "/device", self._device_verification, methods=["GET", "POST"]),
            gate(realm, self._realm_info, methods=["GET"]),
            gate("/userorg/api/Project", self._userorg_projects, methods=["GET"]),
            gate("/userorg/api/ProjectResource", self._userorg_resources, methods=["GET"]),
            gate("/userorg/api/ProjectResource/{resource_id}", self._userorg_resource, methods=["GET"]),
        ]

    async def startup(self) -> None:
        """Load (or make) the signing key."""
        self._key()

    async def shutdown(self) -> None:
        """Persist the session state."""
        self._save_state()

    # -- public helpers (HEAppE and tests) -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The emulator's base URL, from its configured loopback address (never from a request's ``Host``)."""
        return f"http://127.0.0.1:{self.config.port}"

    @property
    def issuer(self) -> str:
        """The issuer URL of tokens minted outside a request."""
        return f"{self.base_url}/auth/realms/{self.config.realm}"

    def note_base_url(self, request: Request) -> str:
        """The base URL to build a response's URLs from: always :attr:`base_url`.

        A request's ``Host`` header is the client's to choose (DNS rebinding, a foreign name), so discovery
        documents, token issuers and ``HEAPPE_URL`` never echo it; the app answers foreign hosts 421 anyway.
        """
        del request
        return self.base_url

    def user(self, username: str) -> LexisUser | None:
        """The seed user of that name."""
        return self._users.get(username)

    @property
    def users(self) -> tuple[LexisUser, ...]:
        """Every seed user, in seed order."""
        return tuple(self._users.values())

    def projects_of(self, username: str) -> list[LexisProject]:
        """The projects ``username`` is a member of."""
        return [p for p in self.projects if username in p.members]

    def verify_access_token(self, token: str) -> Claims | None:
        """The claims of a valid access token: signed by us, of type Bearer, not expired, session not revoked."""
        claims = self._key().decode(token)
        if claims is None or claims.get("typ") != "Bearer":
            return None
        try:
            expires_at = float(claims["exp"])
            issued_at = float(claims["iat"])
            serial = int(str(claims.get("jti", "0-")).split("-", 1)[0])
            username = str(claims["preferred_username"])
        except (KeyError, TypeError, ValueError):
            return None
        if self._now() >= expires_at or serial < self._min_access_serial:
            return None
        if not str(claims.get("iss", "")).endswith(f"/auth/realms/{self.config.realm}"):
            return None
        sid = str(claims.get("sid", ""))
        session = self._sessions.get(sid)
        if session is None or session.get("revoked") or username not in self._users:
            return None
        return Claims(
            subject=str(claims.get("sub", "")),
            username=username,
            client_id=str(claims.get("azp", "")),
            scope=str(claims.get("scope", "")),
            issued_at=issued_at,
            expires_at=expires_at,
            session_id=sid,
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            raw=claims,
        )

    def mint_tokens(
        self, username: str, *, client_id: str = "qaas", scope: str = "openid", issuer: str | None = None
    ) -> dict[str, Any]:
        """A token response for ``username`` as the password grant would give (scope ``offline_access``: offline).

        Raises:
            KeyError: no such user.
        """
        user = self._users[username]
        scopes = tuple(dict.fromkeys([*scope.split(), *_DEFAULT_SCOPES]))
        return self._issue(user, client_id, scopes, issuer=issuer or self.issuer)

    def approve_device_code(self, user_code: str, username: str, *, deny: bool = False) -> bool:
        """Approve (or deny) a pending device login for ``username``; False if the code is unknown or expired."""
        device = self._device_by_user_code(user_code)
        if device is None or device.status != "pending" or username not in self._users:
            return False
        device.status = "denied" if deny else "approved"
        device.username = username
        return True

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far invalid, as if expired (refresh tokens keep working)."""
        self._min_access_serial = self._serial + 1
        self._save_state()
        logger.info("all access tokens issued so far are now expired")

    def revoke_all_sessions(self) -> None:
        """Revoke every session: all access, refresh and offline tokens stop working."""
        for session in self._sessions.values():
            session["revoked"] = True
        self._save_state()
        logger.info("all LEXIS sessions revoked")

    # -- state -----------------------------------------------------------------------------------------------------

    def _now(self) -> float:
        """The emulator's clock (``config.clock``): what every expiry here is measured against."""
        return self.config.clock()

    def _key(self) -> _Signer:
        if self._signer is None:
            self._signer = _Signer(self._dir / "signing-key.pem")
        return self._signer

    def _load_state(self) -> None:
        state = read_json(self._dir / "sessions.json")
        if isinstance(state, dict):
            sessions = state.get("sessions")
            self._sessions = sessions if isinstance(sessions, dict) else {}
            self._serial = int(state.get("serial", 0))
            self._min_access_serial = int(state.get("min_access_serial", 0))

    def _save_state(self) -> None:
        now = self._now()
        self._sessions = {
            sid: s
            for sid, s in self._sessions.items()
            if s.get("expires_at") is None or s["expires_at"] > now or s.get("offline")
        }
        state = {"sessions": self._sessions, "serial": self._serial, "min_access_serial": self._min_access_serial}
        write_json(self._dir / "sessions.json", state, private=True)

    # -- token issuance --------------------------------------------------------------------------------------------

    def _issue(
        self,
        user: LexisUser,
        client_id: str,
        scopes: Sequence[str],
        *,
        issuer: str,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        now = self._now()
        offline = "offline_access" in scopes
        scope = " ".join(scopes)
        if session_id is None:
            session_id = str(uuid.uuid4())
            self._sessions[session_id] = {
                "username": user.username,
                "client_id": client_id,
                "scope": scope,
                "offline": offline,
                "created": now,
                "revoked": False,
                "expires_at": None,
            }
        session = self._sessions[session_id]
        self._serial += 1
        access_exp = math.ceil(now + self.config.access_token_seconds)  # never shorter than configured
        common = {
            "iat": int(now),
            "iss": issuer,
            "sub": user.id,
            "azp": client_id,
            "sid": session_id,
            "session_state": session_id,
            "scope": scope,
        }
        access = {
            **common,
            "exp": access_exp,
            "auth_time": int(session["created"]),
            "jti": f"{self._serial}-{uuid.uuid4()}",
            "aud": list(_AUDIENCE),
            "typ": "Bearer",
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": True,
            "name": f"{user.first_name} {user.last_name}",
            "given_name": user.first_name,
            "family_name": user.last_name,
            "realm_access": {"roles": ["offline_access", "default-roles-" + self.config.realm]},
        }
        refresh: dict[str, Any] = {**common, "jti": str(uuid.uuid4()), "aud": issuer}
        if offline:
            refresh["typ"] = "Offline"
            refresh_expires_in = 0
        else:
            refresh_exp = math.ceil(now + self.config.refresh_token_seconds)
            refresh.update(typ="Refresh", exp=refresh_exp)
            refresh_expires_in = max(0, math.ceil(self.config.refresh_token_seconds))
            session["expires_at"] = max(float(session.get("expires_at") or 0), float(refresh_exp))
        signer = self._key()
        answer: dict[str, Any] = {
            "access_token": signer.sign(access),
            "expires_in": max(0, math.ceil(self.config.access_token_seconds)),
            "refresh_expires_in": refresh_expires_in,
            "refresh_token": signer.sign(refresh),
            "token_type": "Bearer",
            "not-before-policy": 0,
            "session_state": session_id,
            "scope": scope,
        }
        if "openid" in scopes:
            id_token = {
                **common,
                "exp": access_exp,
                "jti": str(uuid.uuid4()),
                "aud": client_id,
                "typ": "ID",
                "preferred_username": user.username,
                "email": user.email,
            }
            answer["id_token"] = signer.sign(id_token)
        self._save_state()
        return answer

    def _check_refresh_token(self, token: str, client_id: str) -> tuple[dict[str, Any], LexisUser]:
        claims = self._key().decode(token)
        if claims is None or claims.get("typ") not in ("Refresh", "Offline"):
            raise _OAuthError(400, "invalid_grant", "Invalid refresh token")
        exp = claims.get("exp")
        if exp is not None and self._now() >= float(exp):
            raise _OAuthError(400, "invalid_grant", "Token is not active")
        session = self._sessions.get(str(claims.get("sid", "")))
        if session is None or session.get("revoked"):
            raise _OAuthError(400, "invalid_grant", "Session not active")
        if claims.get("azp") != client_id:
            raise _OAuthError(
                400, "invalid_grant", "Invalid refresh token. Token client and authorized client don't match"
            )
        user = self._users.get(str(session.get("username")))
        if user is None:
            raise _OAuthError(400, "invalid_grant", "User not found")
        return claims, user

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _realm_ok(self, request: Request) -> None:
        if request.path_params.get("realm") != self.config.realm:
            raise _OAuthError(404, "not_found", "Realm does not exist")

    def _issuer_for(self, request: Request) -> str:
        return f"{self.note_base_url(request)}/auth/realms/{self.config.realm}"

    def _authenticate_client(self, request: Request, form: Mapping[str, str]) -> _Client:
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
                basic_id, _, basic_secret = decoded.partition(":")
            except (ValueError, UnicodeError):
                raise _OAuthError(401, "invalid_client", "Invalid client or Invalid client credentials") from None
            client_id, secret = basic_id, basic_secret
        if not client_id:
            raise _OAuthError(400, "invalid_client", "Missing parameter: client_id")
        client = self._clients.get(client_id)
        if client is None:
            raise _OAuthError(401, "invalid_client", "Invalid client or Invalid client credentials")
        if not client.public and (secret is None or not secrets.compare_digest(secret, client.secret or "")):
            raise _OAuthError(401, "unauthorized_client", "Invalid client or Invalid client credentials")
        return client

    def _scopes(self, requested: str | None) -> tuple[str, ...]:
        asked = (requested or "").split()
        unknown = [s for s in asked if s not in _SUPPORTED_SCOPES]
        if unknown:
            raise _OAuthError(400, "invalid_scope", f"Invalid scopes: {' '.join(unknown)}")
        return tuple(dict.fromkeys([*asked, *_DEFAULT_SCOPES]))

    def _device_by_user_code(self, user_code: str) -> _DeviceAuthorization | None:
        wanted = user_code.strip().upper().replace("-", "")
        for device in self._devices.values():
            if device.user_code.replace("-", "") == wanted and self._now() < device.expires_at:
                return device
        return None

    def _drop_expired_devices(self) -> None:
        horizon = self._now() - 600  # keep expired codes a while so that polls get expired_token
        self._devices = {k: d for k, d in self._devices.items() if d.expires_at > horizon}

    def _bearer_user(self, request: Request) -> LexisUser | Response:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return JSONResponse({"errorString": "Missing bearer token"}, status_code=401)
        claims = self.verify_access_token(header[7:].strip())
        user = self._users.get(claims.username) if claims else None
        if user is None:
            return JSONResponse({"errorString": "Inactive token"}, status_code=401)
        return user

    # -- OIDC endpoints --------------------------------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
        except _OAuthError as exc:
            return exc.response()
        issuer = self._issuer_for(request)
        oidc = issuer + "/protocol/openid-connect"
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": oidc + "/auth",
                "token_endpoint": oidc + "/token",
                "introspection_endpoint": oidc + "/token/introspect",
                "userinfo_endpoint": oidc + "/userinfo",
                "end_session_endpoint": oidc + "/logout",
                "jwks_uri": oidc + "/certs",
                "device_authorization_endpoint": oidc + "/auth/device",
                "grant_types_supported": ["password", "refresh_token", DEVICE_GRANT],
                "response_types_supported": ["code", "none", "id_token", "token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": sorted(_SUPPORTED_SCOPES),
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "preferred_username", "email", "name"],
            }
        )

    async def _realm_info(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
        except _OAuthError as exc:
            return exc.response()
        issuer = self._issuer_for(request)
        return JSONResponse(
            {
                "realm": self.config.realm,
                "token-service": issuer + "/protocol/openid-connect",
                "account-service": issuer + "/account",
                "tokens-not-before": 0,
            }
        )

    async def _certs(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
        except _OAuthError as exc:
            return exc.response()
        return JSONResponse({"keys": [self._key().jwk()]})

    async def _token(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
            form = await _read_form(request)
            grant = form.get("grant_type")
            if not grant:
                raise _OAuthError(400, "invalid_request", "Missing form parameter: grant_type")
            client = self._authenticate_client(request, form)
            issuer = self._issuer_for(request)
            if grant == "password":
                return self._password_grant(form, client, issuer)
            if grant == "refresh_token":
                return self._refresh_grant(form, client, issuer)
            if grant == DEVICE_GRANT:
                return self._device_grant(form, client, issuer)
            raise _OAuthError(400, "unsupported_grant_type", "Unsupported grant_type")
        except _OAuthError as exc:
            return exc.response()

    def _password_grant(self, form: Mapping[str, str], client: _Client, issuer: str) -> Response:
        username, password = form.get("username"), form.get("password")
        if not username or password is None:
            raise _OAuthError(401, "invalid_request", "Missing parameter: username")
        user = self._users.get(username)
        if user is None or not secrets.compare_digest(password.encode(), user.password.encode()):
            logger.info("password grant refused for user %r", username)
            raise _OAuthError(401, "invalid_grant", "Invalid user credentials")
        scopes = self._scopes(form.get("scope"))
        return _token_response(self._issue(user, client.client_id, scopes, issuer=issuer))

    def _refresh_grant(self, form: Mapping[str, str], client: _Client, issuer: str) -> Response:
        token = form.get("refresh_token")
        if not token:
            raise _OAuthError(400, "invalid_request", "Missing form parameter: refresh_token")
        claims, user = self._check_refresh_token(token, client.client_id)
        scopes = tuple(str(claims.get("scope", "")).split())
        return _token_response(self._issue(user, client.client_id, scopes, issuer=issuer, session_id=claims["sid"]))

    def _device_grant(self, form: Mapping[str, str], client: _Client, issuer: str) -> Response:
        code = form.get("device_code")
        if not code:
            raise _OAuthError(400, "invalid_request", "Missing parameter: device_code")
        device = self._devices.get(code)
        if device is None or device.client_id != client.client_id:
            raise _OAuthError(400, "invalid_grant", "Device code not valid")
        now = self._now()
        if now >= device.expires_at:
            raise _OAuthError(400, "expired_token", "Device code is expired")
        too_fast = now - device.last_poll < device.interval - _POLL_TOLERANCE
        device.last_poll = now
        if too_fast:
            raise _OAuthError(400, "slow_down", "Slow down")
        if device.status == "pending":
            raise _OAuthError(400, "authorization_pending", "The authorization request is still pending")
        del self._devices[code]
        if device.status == "denied" or device.username is None:
            raise _OAuthError(400, "access_denied", "The end user denied the authorization request")
        user = self._users[device.username]
        return _token_response(self._issue(user, client.client_id, device.scopes, issuer=issuer))

    async def _device_authorization(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
            form = await _read_form(request)
            client = self._authenticate_client(request, form)
            scopes = self._scopes(form.get("scope"))
        except _OAuthError as exc:
            return exc.response()
        self._drop_expired_devices()
        raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{raw[:4]}-{raw[4:]}"
        device = _DeviceAuthorization(
            device_code=secrets.token_urlsafe(32),
            user_code=user_code,
            client_id=client.client_id,
            scopes=scopes,
            expires_at=self._now() + self.device_code_seconds,
            interval=self.device_poll_interval,
        )
        self._devices[device.device_code] = device
        verification = f"{self._issuer_for(request)}/device"
        return JSONResponse(
            {
                "device_code": device.device_code,
                "user_code": user_code,
                "verification_uri": verification,
                "verification_uri_complete": f"{verification}?user_code={quote(user_code)}",
                "expires_in": math.ceil(self.device_code_seconds),
                "interval": _number(self.device_poll_interval),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _device_verification(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
            fields_ = dict(request.query_params)
            if request.method == "POST":
                fields_.update(await _read_form(request))
        except _OAuthError as exc:
            return exc.response()
        wants_json = "application/json" in request.headers.get("accept", "")
        user_code = fields_.get("user_code", "")
        if request.method == "GET" and "password" not in fields_:
            return HTMLResponse(_device_page(user_code, fields_.get("username", ""), message=""))
        device = self._device_by_user_code(user_code) if user_code else None
        username, password = fields_.get("username", ""), fields_.get("password", "")
        user = self._users.get(username)
        if device is None or device.status != "pending":
            status, error, text = 400, "invalid_code", "The code is unknown, expired or already used."
        elif user is None or not secrets.compare_digest(password.encode(), user.password.encode()):
            status, error, text = 401, "invalid_grant", "Invalid username or password."
        else:
            deny = fields_.get("action", "approve").lower() == "deny"
            self.approve_device_code(device.user_code, user.username, deny=deny)
            status, error, text = 200, "", "Device login denied." if deny else "Device login approved."
        if wants_json:
            body: dict[str, Any] = {"status": "denied" if "denied" in text else "approved"} if status == 200 else {}
            if status != 200:
                body = {"error": error, "error_description": text}
            return JSONResponse(body, status_code=status)
        return HTMLResponse(_device_page(user_code, username, message=text), status_code=status)

    async def _logout(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
            form = await _read_form(request)
            client = self._authenticate_client(request, form)
            token = form.get("refresh_token")
            if not token:
                raise _OAuthError(400, "invalid_request", "Missing parameter: refresh_token")
            claims, _user = self._check_refresh_token(token, client.client_id)
        except _OAuthError as exc:
            return exc.response()
        self._sessions[str(claims["sid"])]["revoked"] = True
        self._save_state()
        return Response(status_code=204)

    async def _userinfo(self, request: Request) -> Response:
        try:
            self._realm_ok(request)
        except _OAuthError as exc:
            return exc.response()
        header = request.headers.get("authorization", "")
        claims = self.verify_access_token(header[7:].strip()) if header.lower().startswith("bearer ") else None
        user = self._users.get(claims.username) if claims else None
        if claims is None or user is None:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Token verification failed"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="' + self.config.realm + '", error="invalid_token"'},
            )
        return JSONResponse(
            {
                "sub": user.id,
                "preferred_username": user.username,
                "email": user.email,
                "email_verified": True,
                "name": f"{user.first_name} {user.last_name}",
                "given_name": user.first_name,
                "family_name": user.last_name,
            }
        )

    # -- UserOrg ---------------------------------------------------------------------------------------------------

    async def _userorg_projects(self, request: Request) -> Response:
        user = self._bearer_user(request)
        if isinstance(user, Response):
            return user
        query = _ci_query(request)
        wanted = query.get("projectshortname")
        projects = [p for p in self.projects_of(user.username) if wanted is None or p.short_name == wanted]
        return JSONResponse([_project_json(p) for p in projects])

    async def _userorg_resources(self, request: Request) -> Response:
        user = self._bearer_user(request)
        if isinstance(user, Response):
            return user
        base = self.note_base_url(request)
        query = _ci_query(request)
        wanted = query.get("projectshortname")
        location_type = query.get("locationtypeid")
        if location_type is not None and not location_type.lstrip("-").isdigit():
            return JSONResponse({"errorString": "LocationTypeId must be an integer"}, status_code=400)
        answer = [
            _resource_json(p, r, base)
            for p in self.projects_of(user.username)
            if wanted is None or p.short_name == wanted
            for r in p.resources
            if location_type is None or r.location_type_id == int(location_type)
        ]
        return JSONResponse(answer)

    async def _userorg_resource(self, request: Request) -> Response:
        user = self._bearer_user(request)
        if isinstance(user, Response):
            return user
        wanted = str(request.path_params["resource_id"]).lower()
        for project in self.projects_of(user.username):
            for resource in project.resources:
                if resource.id.lower() == wanted:
                    return JSONResponse(_resource_json(project, resource, self.note_base_url(request)))
        return JSONResponse({"errorString": "Project resource not found"}, status_code=404)


# -- JSON shapes ---------------------------------------------------------------------------------------------------


def _project_json(project: LexisProject) -> dict[str, Any]:
    return {
        "Id": project.id,
        "ShortName": project.short_name,
        "Name": project.name,
        "Description": project.description,
        "StartDate": project.start_date,
        "EndDate": project.end_date,
        "Status": "ACTIVE",
        "Domain": "Quantum computing",
    }


def _resource_json(project: LexisProject, resource: LexisResource, base_url: str) -> dict[str, Any]:
    specifications = [
        {"Key": "HEAPPE_URL", "Value": base_url},
        {"Key": "SW_STACK", "Value": resource.sw_stack},
        {"Key": "QUANTUM_TECHNOLOGY", "Value": resource.quantum_technology},
    ]
    assignment = {
        "Id": resource.assignment_id,
        "ProjectResourceId": resource.id,
        "LocationName": resource.location_name,
        "AggregationName": resource.aggregation_name,
        "LocationTypeId": resource.location_type_id,
        "AllocationAmount": resource.allocation_amount,
        "StartDate": project.start_date,
        "EndDate": project.end_date,
        "Specifications": specifications,
    }
    return {
        "Id": resource.id,
        "Name": resource.name,
        "ProjectId": project.id,
        "ProjectShortName": project.short_name,
        # repeated from the assignment: IT4I's client reads these two on the resource when auto-selecting
        "LocationTypeId": resource.location_type_id,
        "AggregationName": resource.aggregation_name,
        "StartDate": project.start_date,
        "EndDate": project.end_date,
        "Status": "ACTIVE",
        "Assignments": [assignment],
    }


def _token_response(body: Mapping[str, Any]) -> JSONResponse:
    return JSONResponse(dict(body), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _device_page(user_code: str, username: str, *, message: str) -> str:
    esc = html.escape
    note = f"<p>{esc(message)}</p>" if message else ""
    return (
        "<!doctype html><html><head><title>Emulated LEXIS device login</title></head><body>"
        "<h1>Emulated LEXIS: device login</h1>"
        f"{note}"
        '<form method="post">'
        f'<label>Code <input name="user_code" value="{esc(user_code)}"></label><br>'
        f'<label>Username <input name="username" value="{esc(username)}"></label><br>'
        '<label>Password <input name="password" type="password"></label><br>'
        '<button name="action" value="approve">Approve</button> '
        '<button name="action" value="deny">Deny</button>'
        "</form></body></html>"
    )


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


async def _read_form(request: Request) -> dict[str, str]:
    """The url-encoded form of a request (the first value of each field)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise _OAuthError(413, "invalid_request", "Request body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise _OAuthError(400, "invalid_request", "Malformed form body") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _ci_query(request: Request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.query_params.items()}


# -- seed parsing --------------------------------------------------------------------------------------------------


def _user(data: Mapping[str, Any]) -> LexisUser:
    return LexisUser(
        id=str(data.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, "lexis-user:" + str(data["username"]))),
        username=str(data["username"]),
        password=str(data["password"]),
        heappe_password=str(data.get("heappe_password", data["password"])),
        email=str(data.get("email", f"{data['username']}@example.org")),
        first_name=str(data.get("first_name", data["username"])),
        last_name=str(data.get("last_name", "")),
    )


def _client(data: Mapping[str, Any]) -> _Client:
    return _Client(
        client_id=str(data["client_id"]),
        public=bool(data.get("public", True)),
        secret=str(data["secret"]) if data.get("secret") is not None else None,
    )


def _project(data: Mapping[str, Any]) -> LexisProject:
    resources_ = tuple(
        LexisResource(
            id=str(r["id"]),
            assignment_id=str(r.get("assignment_id", r["id"])),
            name=str(r["name"]),
            location_name=str(r["location_name"]),
            aggregation_name=str(r.get("aggregation_name", "VLQ")),
            location_type_id=int(r.get("location_type_id", 7)),
            allocation_amount=r.get("allocation_amount", 0),
            sw_stack=str(r.get("sw_stack", "IQM")),
            quantum_technology=str(r.get("quantum_technology", "superconducting")),
        )
        for r in data.get("resources", [])
    )
    return LexisProject(
        id=str(data["id"]),
        short_name=str(data["short_name"]),
        name=str(data.get("name", data["short_name"])),
        description=str(data.get("description", "")),
        start_date=str(data.get("start_date", "2024-01-01T00:00:00")),
        end_date=str(data.get("end_date", "2099-12-31T23:59:59")),
        members=tuple(str(m) for m in data.get("members", [])),
        resources=resources_,
    )
