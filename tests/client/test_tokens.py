"""The token manager keeps time by the clock it shares with the emulator: refresh margins and device-code expiry
checked by advancing a fake clock (the ``qaas_clock`` and ``qaas_emulator`` fixtures qaas-core ships)."""

from __future__ import annotations

from typing import Any

import pytest

import qaas_core as q
from qaas_core.emulator import FakeClock


@pytest.fixture
def qaas_emulator_settings() -> dict[str, Any]:
    return {"device": "garnet20", "noise": False, "device_code_seconds": 62}


def works(client: q.QaasClient, token: str) -> bool:
    """Whether the emulated LEXIS takes ``token`` now."""
    answer = client.http.get(f"{client.emulator_url}/userorg/api/Project", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


def test_an_access_token_is_renewed_30_s_before_it_expires(qaas_emulator: q.QaasClient, qaas_clock: FakeClock) -> None:
    tokens = qaas_emulator.tokens
    token = tokens.access_token()
    expires = float(tokens.claims()["exp"])
    qaas_clock.advance(expires - 31 - qaas_clock())
    assert tokens.access_token() == token  # 31 s left: kept
    qaas_clock.advance(2)
    renewed = tokens.access_token()
    assert renewed != token  # 29 s left: renewed, although LEXIS would still take it
    assert works(qaas_emulator, token) and works(qaas_emulator, renewed)
    qaas_clock.advance(30)
    assert not works(qaas_emulator, token) and works(qaas_emulator, renewed)
    assert tokens.access_token() == renewed


def test_a_device_login_nobody_approves_runs_out_with_its_code(
    qaas_emulator: q.QaasClient, qaas_clock: FakeClock
) -> None:
    tokens = qaas_emulator.tokens
    flow = tokens.start_device_flow()
    assert flow.expires_at == pytest.approx(qaas_clock() + 62) and flow.interval == 5
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        qaas_clock.advance(seconds)

    with pytest.raises(q.AuthenticationError, match="not approved in time"):
        tokens.complete_device_flow(flow, sleep=wait)
    assert waits == [5] * 12  # polled at LEXIS's interval (never told to slow down) until the code had 2 s left
    qaas_clock.advance(5)
    with pytest.raises(q.AuthenticationError, match="expired before it was approved"):
        tokens.complete_device_flow(flow, sleep=wait)  # LEXIS, by the same clock, calls the code expired
