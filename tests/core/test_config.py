"""Configuration: explicit argument → QAAS_* environment → TOML file → profile; one clear message when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

import qaas_core as q
from qaas_core._config import check_url


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("QAAS_PROJECT", "QAAS_RESOURCE", "QAAS_PROFILE", "QAAS_TOKEN", "QAAS_LEXIS_REFRESH_TOKEN",
                 "PY4LEXIS_TOKEN", "QAAS_AUTH_URL", "QAAS_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QAAS_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("QAAS_DATA_DIR", str(tmp_path / "data"))


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text(
        'default_profile = "site"\n[profiles.site]\nproject = "from-file"\nresource = "R-file"\n'
        'auth_url = "https://aai.example.org/auth/realms/LEXIS"\ntimeout = 12\n'
    )
    s = q.load_settings()
    assert (s.profile, s.project, s.resource, s.timeout) == ("site", "from-file", "R-file", 12.0)
    monkeypatch.setenv("QAAS_PROJECT", "from-env")
    assert q.load_settings().project == "from-env"
    assert q.load_settings(project="explicit").project == "explicit"
    monkeypatch.setenv("PY4LEXIS_TOKEN", "rt-from-py4lexis")
    assert q.load_settings().refresh_token.get() == "rt-from-py4lexis"
    monkeypatch.setenv("QAAS_LEXIS_REFRESH_TOKEN", "rt-ours")
    assert q.load_settings().refresh_token.get() == "rt-ours"


def test_one_message_lists_everything_missing(tmp_path: Path) -> None:
    s = q.load_settings()
    with pytest.raises(q.ConfigurationError) as info:
        s.require("project", "resource")
    text = str(info.value)
    assert "project: pass project=..., set QAAS_PROJECT" in text
    assert "resource: pass resource=..., set QAAS_RESOURCE" in text
    assert str(tmp_path / "config.toml") in text


def test_bad_settings() -> None:
    with pytest.raises(q.ConfigurationError, match="unknown setting"):
        q.load_settings(colour="red")
    with pytest.raises(q.ConfigurationError, match="must be a number"):
        q.load_settings(timeout="soon")
    with pytest.raises(q.ConfigurationError, match="unknown profile 'nope'"):
        q.load_settings("nope")
    with pytest.raises(q.ConfigurationError, match="no running emulator"):
        q.load_settings("emulator")


def test_plain_http_only_to_loopback() -> None:
    assert check_url("http://127.0.0.1:8000/", "x") == "http://127.0.0.1:8000"
    assert check_url("http://localhost:1", "x") == "http://localhost:1"
    assert check_url("https://api.lexis.tech/userorg/api", "x").startswith("https://")
    with pytest.raises(q.ConfigurationError, match="plain http to a remote host"):
        q.load_settings(userorg_url="http://api.lexis.tech/userorg/api")
    with pytest.raises(q.ConfigurationError, match="not an http"):
        check_url("ftp://example.org", "x")


def test_secrets_never_show() -> None:
    s = q.load_settings(token="eyJhbGciOi.secret-access.sig", password="hunter2", username="svc")
    text = repr(s) + str(s) + repr(s.token) + str(s.password)
    assert "secret-access" not in text and "hunter2" not in text
    assert s.token.get().startswith("eyJ")
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(s.token)


def test_settings_without_secrets_and_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[profiles.site]\npassword = "pw-from-file"\n')
    s = q.load_settings("site", token="tok-explicit", refresh_token="rt-explicit", project="p", iqm_token="iqm-x")
    kept = s.without_secrets()
    assert (kept.token, kept.refresh_token, kept.password, kept.iqm_token) == (None, None, None, None)
    assert (kept.project, kept.profile, kept.data_dir) == (s.project, s.profile, s.data_dir)
    monkeypatch.setenv("QAAS_TOKEN", "tok-from-env")
    back = kept.with_secrets_resolved()
    assert back.token is not None and back.token.get() == "tok-from-env"
    assert back.password is not None and back.password.get() == "pw-from-file"
    assert back.refresh_token is None and back.iqm_token is None  # given only as arguments: gone for good
    assert back.project == "p"
