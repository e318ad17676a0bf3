"""The emulated LEXIS over real HTTP: OIDC discovery, JWKS, grants, device flow, logout, expiry, UserOrg, faults.

Requests are written from the Keycloak / RFC 8628 conventions and the LEXIS UserOrg shapes IT4I's client reads, not
from our client.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("cryptography")
pytest.importorskip("starlette")

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from qaas_core.emulator import EmulatorConfig, EmulatorServer, FakeClock
from qaas_core.emulator._lexis import Lexis

REALM = "/auth/realms/lexis"
OIDC = REALM + "/protocol/openid-connect"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any]:
    return json.loads(b64url_decode(token.split(".")[1]))


def lexis_of(emu: EmulatorServer) -> Lexis:
    return next(s for s in emu.app.state.subsystems if isinstance(s, Lexis))


def password_login(client: httpx.Client, user: str = "alice", **extra: str) -> httpx.Response:
    form = {"grant_type": "password", "client_id": "qaas", "username": user, "password": f"{user}-password", **extra}
    return client.post(OIDC + "/token", data=form)


def verify_rs256(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify a JWT's RS256 signature against a JWKS with cryptography alone; return its claims."""
    head, body, sig = token.split(".")
    header = json.loads(b64url_decode(head))
    assert header["alg"] == "RS256"
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    n = int.from_bytes(b64url_decode(jwk["n"]), "big")
    e = int.from_bytes(b64url_decode(jwk["e"]), "big")
    key = rsa.RSAPublicNumbers(e, n).public_key()
    key.verify(b64url_decode(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return json.loads(b64url_decode(body))


def make_config(state_dir: Path, **settings: Any) -> EmulatorConfig:
    if "worker_service" in EmulatorConfig.__dataclass_fields__:
        settings.setdefault("worker_service", False)  # LEXIS tests run no HEAppE tasks
    return EmulatorConfig(state_dir=state_dir, scheduler_tick_seconds=0.05, **settings)


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    """The module emulator's clock: tests advance it past lifetimes instead of sleeping through them."""
    return FakeClock()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[EmulatorServer]:
    with EmulatorServer(make_config(tmp_path_factory.mktemp("lexis"), clock=clock)) as server:
        yield server


@pytest.fixture
def client(emu: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=10) as c:
        yield c
        c.delete("/_emulator/faults", headers=emu.admin_headers)


# -- OIDC ----------------------------------------------------------------------------------------------------------


def test_discovery_names_every_endpoint_under_the_issuer(emu: EmulatorServer, client: httpx.Client) -> None:
    doc = client.get(REALM + "/.well-known/openid-configuration").json()
    issuer = f"{emu.url}{REALM}"
    assert doc["issuer"] == issuer
    assert doc["token_endpoint"] == issuer + "/protocol/openid-connect/token"
    assert doc["device_authorization_endpoint"] == issuer + "/protocol/openid-connect/auth/device"
    assert doc["jwks_uri"] == issuer + "/protocol/openid-connect/certs"
    assert {"password", "refresh_token", DEVICE_GRANT} <= set(doc["grant_types_supported"])
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    unknown = client.get("/auth/realms/nope/.well-known/openid-configuration")
    assert unknown.status_code == 404
    assert unknown.json()["error"]


def test_password_grant_gives_rs256_tokens_the_jwks_verifies(
    emu: EmulatorServer, client: httpx.Client, clock: FakeClock
) -> None:
    answer = password_login(client, scope="openid")
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert body["refresh_expires_in"] == 1800
    jwks = client.get(OIDC + "/certs").json()
    claims = verify_rs256(body["access_token"], jwks)
    assert claims["iss"] == f"{emu.url}{REALM}"
    assert claims["preferred_username"] == "alice"
    assert claims["typ"] == "Bearer"
    assert claims["azp"] == "qaas"
    assert claims["sub"] == "97be1c10-b857-49cd-91b8-adedd03e80bb"
    assert "portal" in claims["aud"]
    assert set(claims["scope"].split()) >= {"openid", "profile", "email"}
    assert 300 <= claims["exp"] - claims["iat"] <= 301
    assert abs(claims["iat"] - clock()) < 5  # issued now, by the emulator's clock
    assert verify_rs256(body["refresh_token"], jwks)["typ"] == "Refresh"
    assert verify_rs256(body["id_token"], jwks)["aud"] == "qaas"
    # a tampered token does not verify
    head, _payload, sig = body["access_token"].split(".")
    forged = dict(claims, preferred_username="bob")
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidSignature):
        verify_rs256(f"{head}.{forged_payload}.{sig}", jwks)
    assert lexis_of(emu).verify_access_token(f"{head}.{forged_payload}.{sig}") is None
    verified = lexis_of(emu).verify_access_token(body["access_token"])
    assert verified is not None
    assert verified.username == "alice"
    assert verified.client_id == "qaas"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "password", "client_id": "qaas", "username": "alice", "password": "wrong"},
            401,
            "invalid_grant",
        ),
        ({"grant_type": "password", "client_id": "qaas", "username": "mallory", "password": "x"}, 401, "invalid_grant"),
        (
            {"grant_type": "password", "client_id": "nope", "username": "alice", "password": "alice-password"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "password", "client_id": "qaas-service", "username": "alice", "password": "alice-password"},
            401,
            "unauthorized_client",
        ),
        ({"grant_type": "client_credentials", "client_id": "qaas"}, 400, "unsupported_grant_type"),
        ({"client_id": "qaas"}, 400, "invalid_request"),
        (
            {
                "grant_type": "password",
                "client_id": "qaas",
                "username": "alice",
                "password": "alice-password",
                "scope": "openid admin",
            },
            400,
            "invalid_scope",
        ),
        ({"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": "not-a-token"}, 400, "invalid_grant"),
    ],
)
def test_token_endpoint_errors_look_like_keycloak(
    client: httpx.Client, form: dict[str, str], status: int, error: str
) -> None:
    answer = client.post(OIDC + "/token", data=form)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error
    assert isinstance(body["error_description"], str)


def test_confidential_client_authenticates_with_basic_auth(client: httpx.Client) -> None:
    form = {"grant_type": "password", "username": "bob", "password": "bob-password"}
    ok = client.post(OIDC + "/token", data=form, auth=("qaas-service", "qaas-service-secret"))
    assert ok.status_code == 200
    assert claims_of(ok.json()["access_token"])["azp"] == "qaas-service"
    bad = client.post(OIDC + "/token", data=form, auth=("qaas-service", "wrong"))
    assert bad.status_code == 401


def test_refresh_grant_issues_new_tokens_for_the_same_session(emu: EmulatorServer, client: httpx.Client) -> None:
    first = password_login(client).json()
    refreshed = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": first["refresh_token"]},
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["access_token"] != first["access_token"]
    assert claims_of(second["access_token"])["sid"] == claims_of(first["access_token"])["sid"]
    assert lexis_of(emu).verify_access_token(second["access_token"]) is not None
    # no rotation: the old refresh token still works (Keycloak's default)
    again = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": first["refresh_token"]},
    )
    assert again.status_code == 200
    # a refresh token belongs to its client
    other = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "portal", "refresh_token": first["refresh_token"]},
    )
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"


def test_offline_token_has_no_expiry_and_refreshes(client: httpx.Client) -> None:
    body = password_login(client, scope="offline_access").json()
    assert body["refresh_expires_in"] == 0
    offline = claims_of(body["refresh_token"])
    assert offline["typ"] == "Offline"
    assert "exp" not in offline
    assert "offline_access" in body["scope"].split()
    refreshed = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": body["refresh_token"]},
    )
    assert refreshed.status_code == 200
    assert claims_of(refreshed.json()["refresh_token"])["typ"] == "Offline"


def test_logout_revokes_the_session(client: httpx.Client) -> None:
    body = password_login(client).json()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get(OIDC + "/userinfo", headers=bearer).json()["preferred_username"] == "alice"
    out = client.post(OIDC + "/logout", data={"client_id": "qaas", "refresh_token": body["refresh_token"]})
    assert out.status_code == 204
    refresh = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": body["refresh_token"]},
    )
    assert refresh.status_code == 400
    assert refresh.json() == {"error": "invalid_grant", "error_description": "Session not active"}
    assert client.get(OIDC + "/userinfo", headers=bearer).status_code == 401
    assert client.get("/userorg/api/Project", headers=bearer).status_code == 401
    again = client.post(OIDC + "/logout", data={"client_id": "qaas", "refresh_token": body["refresh_token"]})
    assert again.status_code == 400


def test_device_flow_pending_slow_down_approve(emu: EmulatorServer, client: httpx.Client, clock: FakeClock) -> None:
    lexis = lexis_of(emu)
    lexis.device_poll_interval = 5.0  # Keycloak's: the fake clock makes waiting it out free
    start = client.post(OIDC + "/auth/device", data={"client_id": "qaas", "scope": "openid offline_access"})
    assert start.status_code == 200
    device = start.json()
    assert device["verification_uri"] == f"{emu.url}{REALM}/device"
    assert device["verification_uri_complete"].endswith("user_code=" + device["user_code"])
    assert device["expires_in"] == 600
    assert device["interval"] == 5
    poll = {"grant_type": DEVICE_GRANT, "client_id": "qaas", "device_code": device["device_code"]}

    pending = client.post(OIDC + "/token", data=poll)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    too_fast = client.post(OIDC + "/token", data=poll)
    assert too_fast.json()["error"] == "slow_down"
    clock.advance(4.5)
    still_too_fast = client.post(OIDC + "/token", data=poll)  # 4.5 s after the last poll, which counts too
    assert still_too_fast.json()["error"] == "slow_down"

    page = client.get(device["verification_uri_complete"])
    assert page.status_code == 200
    assert device["user_code"] in page.text
    approve = {"user_code": device["user_code"], "username": "alice", "password": "wrong"}
    refused = client.post(REALM + "/device", data=approve, headers={"Accept": "application/json"})
    assert refused.status_code == 401
    approve["password"] = "alice-password"
    approved = client.post(REALM + "/device", data=approve, headers={"Accept": "application/json"})
    assert approved.status_code == 200
    assert approved.json() == {"status": "approved"}

    clock.advance(5)
    tokens = client.post(OIDC + "/token", data=poll)
    assert tokens.status_code == 200
    body = tokens.json()
    assert claims_of(body["access_token"])["preferred_username"] == "alice"
    assert claims_of(body["refresh_token"])["typ"] == "Offline"
    clock.advance(5)
    used = client.post(OIDC + "/token", data=poll)
    assert used.json()["error"] == "invalid_grant"
    # the same user code cannot be approved twice
    twice = client.post(REALM + "/device", data=approve, headers={"Accept": "application/json"})
    assert twice.status_code == 400


def test_device_flow_denied_and_expired(emu: EmulatorServer, client: httpx.Client, clock: FakeClock) -> None:
    lexis = lexis_of(emu)
    lexis.device_poll_interval = 5.0
    denied = client.post(OIDC + "/auth/device", data={"client_id": "qaas"}).json()
    assert lexis.approve_device_code(denied["user_code"], "bob", deny=True)
    answer = client.post(
        OIDC + "/token", data={"grant_type": DEVICE_GRANT, "client_id": "qaas", "device_code": denied["device_code"]}
    )
    assert answer.json()["error"] == "access_denied"

    expiring = client.post(OIDC + "/auth/device", data={"client_id": "qaas"}).json()
    assert expiring["expires_in"] == 600
    poll = {"grant_type": DEVICE_GRANT, "client_id": "qaas", "device_code": expiring["device_code"]}
    clock.advance(599)
    assert client.post(OIDC + "/token", data=poll).json()["error"] == "authorization_pending"
    clock.advance(2)
    expired = client.post(OIDC + "/token", data=poll)
    assert expired.status_code == 400
    assert expired.json()["error"] == "expired_token"
    assert not lexis.approve_device_code(expiring["user_code"], "alice")


def test_short_lived_tokens_expire(emu: EmulatorServer, client: httpx.Client, clock: FakeClock) -> None:
    lexis = lexis_of(emu)
    body = password_login(client).json()
    offline = password_login(client, scope="offline_access").json()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    access_ends, refresh_ends = claims_of(body["access_token"])["exp"], claims_of(body["refresh_token"])["exp"]
    assert 300 <= access_ends - clock() <= 301 and 1800 <= refresh_ends - clock() <= 1801  # the configured lifetimes
    clock.advance(access_ends - clock() - 0.01)
    assert client.get("/userorg/api/Project", headers=bearer).status_code == 200  # valid up to its last moment
    clock.advance(0.02)
    expired = client.get("/userorg/api/Project", headers=bearer)
    assert expired.status_code == 401
    assert expired.json() == {"errorString": "Inactive token"}
    assert lexis.verify_access_token(body["access_token"]) is None
    refresh = {"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": body["refresh_token"]}
    assert client.post(OIDC + "/token", data=refresh).status_code == 200  # the refresh token outlives it
    clock.advance(refresh_ends - clock() + 0.01)
    stale = client.post(OIDC + "/token", data=refresh)
    assert stale.status_code == 400
    assert stale.json()["error_description"] == "Token is not active"
    renewed = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": offline["refresh_token"]},
    )
    assert renewed.status_code == 200  # an offline token does not expire
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert client.get("/userorg/api/Project", headers=fresh).status_code == 200


def test_key_and_sessions_survive_a_restart(tmp_path: Path) -> None:
    with EmulatorServer(make_config(tmp_path)) as emu, httpx.Client(base_url=emu.url) as client:
        body = password_login(client, scope="offline_access").json()
        kid = client.get(OIDC + "/certs").json()["keys"][0]["kid"]
    assert (tmp_path / "lexis" / "signing-key.pem").stat().st_mode & 0o077 == 0
    with EmulatorServer(make_config(tmp_path)) as emu, httpx.Client(base_url=emu.url) as client:
        assert client.get(OIDC + "/certs").json()["keys"][0]["kid"] == kid
        assert lexis_of(emu).verify_access_token(body["access_token"]) is not None
        renewed = client.post(
            OIDC + "/token",
            data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": body["refresh_token"]},
        )
        assert renewed.status_code == 200


# -- UserOrg -------------------------------------------------------------------------------------------------------


def bearer_for(client: httpx.Client, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {password_login(client, user).json()['access_token']}"}


def test_userorg_project_and_resource_lookup(emu: EmulatorServer, client: httpx.Client) -> None:
    alice = bearer_for(client, "alice")
    projects = client.get("/userorg/api/Project", params={"ProjectShortName": "qaas-demo"}, headers=alice).json()
    assert [p["ShortName"] for p in projects] == ["qaas-demo"]
    assert projects[0]["StartDate"] < "2026" < projects[0]["EndDate"]
    resources = client.get("/userorg/api/ProjectResource", params={"ProjectShortName": "qaas-demo"}, headers=alice)
    assert resources.status_code == 200
    [resource] = resources.json()
    assert resource["Name"] == "EQE1-CZ-P0001"
    [assignment] = resource["Assignments"]
    assert assignment["LocationName"] == "VLQ-emulator"
    assert assignment["AggregationName"] == "VLQ"
    assert assignment["LocationTypeId"] == 7
    assert assignment["AllocationAmount"] > 0
    assert assignment["ProjectResourceId"] == resource["Id"]
    specs = {s["Key"]: s["Value"] for s in assignment["Specifications"]}
    assert specs["HEAPPE_URL"] == emu.url
    assert specs["SW_STACK"] == "IQM"
    assert specs["QUANTUM_TECHNOLOGY"]
    # HEAPPE_URL really is a HEAppE
    assert client.get(specs["HEAPPE_URL"] + "/heappe/Health").json()["Version"].startswith("6.3")
    # filters, case-insensitive parameter names, lookup by id
    quantum = client.get(
        "/userorg/api/ProjectResource", params={"projectshortname": "qaas-demo", "LocationTypeId": 7}, headers=alice
    )
    assert [r["Name"] for r in quantum.json()] == ["EQE1-CZ-P0001"]
    other_type = client.get(
        "/userorg/api/ProjectResource", params={"ProjectShortName": "qaas-demo", "LocationTypeId": 3}, headers=alice
    )
    assert other_type.json() == []
    single = client.get(f"/userorg/api/ProjectResource/{resource['Id']}", headers=alice)
    assert single.json()["Assignments"][0]["Specifications"] == assignment["Specifications"]


def test_userorg_needs_a_valid_token(client: httpx.Client) -> None:
    missing = client.get("/userorg/api/Project", params={"ProjectShortName": "qaas-demo"})
    assert missing.status_code == 401
    garbage = client.get("/userorg/api/ProjectResource", headers={"Authorization": "Bearer abc.def.ghi"})
    assert garbage.status_code == 401
    assert garbage.json() == {"errorString": "Inactive token"}


def test_userorg_hides_other_users_projects(client: httpx.Client) -> None:
    alice, bob = bearer_for(client, "alice"), bearer_for(client, "bob")
    assert client.get("/userorg/api/Project", params={"ProjectShortName": "other-project"}, headers=alice).json() == []
    assert (
        client.get("/userorg/api/ProjectResource", params={"ProjectShortName": "other-project"}, headers=alice).json()
        == []
    )
    [bobs] = client.get(
        "/userorg/api/ProjectResource", params={"ProjectShortName": "other-project"}, headers=bob
    ).json()
    assert bobs["Name"] == "EQE1-CZ-P0002"
    assert client.get(f"/userorg/api/ProjectResource/{bobs['Id']}", headers=alice).status_code == 404
    assert [p["ShortName"] for p in client.get("/userorg/api/Project", headers=alice).json()] == ["qaas-demo"]


# -- faults --------------------------------------------------------------------------------------------------------


def test_fault_expire_tokens_and_revoke_tokens(emu: EmulatorServer, client: httpx.Client) -> None:
    body = password_login(client).json()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    expire = [{"action": "expire_tokens", "path": "/userorg/"}]
    added = client.post("/_emulator/faults", json=expire, headers=emu.admin_headers)
    assert added.status_code == 200
    assert client.get("/userorg/api/Project", headers=bearer).status_code == 401
    refreshed = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": body["refresh_token"]},
    )
    assert refreshed.status_code == 200
    fresh = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert client.get("/userorg/api/Project", headers=fresh).status_code == 200

    client.post("/_emulator/faults", json={"action": "revoke_tokens"}, headers=emu.admin_headers)
    again = client.post(
        OIDC + "/token",
        data={"grant_type": "refresh_token", "client_id": "qaas", "refresh_token": body["refresh_token"]},
    )
    assert again.status_code == 400
    assert password_login(client).status_code == 200


def test_fault_status_delay_and_admin_endpoint(emu: EmulatorServer, client: httpx.Client) -> None:
    admin = emu.admin_headers
    bad = client.post("/_emulator/faults", json=[{"action": "explode"}], headers=admin)
    assert bad.status_code == 400
    assert client.post("/_emulator/faults", json=[{"path": "x", "color": "red"}], headers=admin).status_code == 400
    rules = [
        {"path": "/certs$", "status": 503, "retry_after": 3, "count": 2},
        {"path": "openid-configuration", "action": "delay", "delay_seconds": 0.3},
    ]
    assert client.post("/_emulator/faults", json=rules, headers=admin).status_code == 200
    for _ in range(2):
        unavailable = client.get(OIDC + "/certs")
        assert unavailable.status_code == 503
        assert unavailable.headers["Retry-After"] == "3"
    assert client.get(OIDC + "/certs").status_code == 200
    started = time.monotonic()
    assert client.get(REALM + "/.well-known/openid-configuration").status_code == 200
    assert time.monotonic() - started >= 0.3
    listed = client.get("/_emulator/faults").json()
    assert [r["fired"] for r in listed] == [2, 1]
    assert client.delete("/_emulator/faults", headers=admin).status_code == 204
    assert client.get("/_emulator/faults").json() == []
