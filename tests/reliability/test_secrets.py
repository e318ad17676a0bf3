"""Secrets never leak: not in logs (DEBUG), reprs, exception messages, the ledger, progress files, or the worker."""

from __future__ import annotations

import logging
import math
import os
import ssl
import stat
from pathlib import Path

import pytest

import qaas_core as q
from qaas_core._http import new_client

HALF = math.pi / 2
BELL = q.Circuit("bell", (q.prx("QB1", HALF, HALF), q.cz("QB1", "QB2"), q.measure("QB1", "QB2", key="m")))


def _all_files(root: Path) -> bytes:
    out = b""
    for path in root.rglob("*"):
        if path.is_file() and path.name != "tokens.json" and not path.name.endswith((".pem", "sessions.json")):
            out += path.read_bytes()
    return out


@pytest.mark.parametrize("mode", ["bearer", "session"])
def test_tokens_never_leak(tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str) -> None:
    caplog.set_level(logging.DEBUG)
    with q.QaasClient.emulator("garnet20", noise=False, data_dir=tmp_path, heappe_auth=mode) as client:
        access = client.tokens.access_token()
        refresh = client.tokens._refresh.get()  # type: ignore[union-attr]
        job = client.submit(BELL, 20)
        result = job.result(timeout=60)
        session = client.heappe.session_code or ""
        errors = []
        stranger = q.QaasClient(profile="emulator", data_dir=tmp_path, token="x.y.z", refresh_token="bogus")
        for bad in (lambda: client.submit(BELL, 0), lambda: client.retrieve("no-such-job"), stranger.backends):
            try:
                bad()
            except q.QaasError as exc:
                errors.append(f"{exc!r} {exc}")
        stranger.close()
        assert len(errors) == 3
        texts = [
            caplog.text,
            repr(client),
            repr(client.tokens),
            repr(client.settings),
            repr(job),
            repr(result),
            *errors,
        ]
        files = _all_files(tmp_path)
        secrets = [access, refresh, "alice-password"] + ([session] if session else [])
        for secret in secrets:
            for text in texts:
                assert secret not in text
            assert secret.encode() not in files
        # the token cache is the one place tokens are stored: private
        assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600


def test_the_worker_never_sees_the_users_tokens(tmp_path: Path) -> None:
    env_dump = tmp_path / "env-dump.py"
    env_dump.write_text("import json, os\nopen('env.json', 'w').write(json.dumps(dict(os.environ)))\n")
    import sys

    os.environ["QAAS_LEXIS_REFRESH_TOKEN"] = "users-refresh-token-in-the-parent-environment"
    os.environ["QAAS_PASSWORD"] = "service-account-password-in-the-parent-environment"
    try:
        with q.QaasClient.emulator("garnet20", data_dir=tmp_path, worker_command=(sys.executable, str(env_dump)),
                                   worker_service=False) as client:  # fmt: skip
            access = client.tokens.access_token()
            job = client.submit(BELL, 10, validate=False)  # this "worker" only records its environment
            job.wait(timeout=60)
            (dump,) = list((tmp_path / "emulator" / "cluster").rglob("env.json"))
            text = dump.read_text()
            iqm_token = client._emulator.server.config.iqm_token
    finally:
        del os.environ["QAAS_LEXIS_REFRESH_TOKEN"], os.environ["QAAS_PASSWORD"]
    assert access not in text and "users-refresh-token" not in text and "service-account-password" not in text
    # nor the site's IQM credential: the worker reads it from the site's file (or the worker service holds it)
    assert iqm_token not in text and "IQM_" not in text


def test_tls_verification_is_on() -> None:
    client = new_client(10.0)
    try:
        pool = client._transport.inner._pool  # type: ignore[attr-defined]
        assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
        assert pool._ssl_context.check_hostname is True
    finally:
        client.close()
