"""The ``qaas`` command prints what servers, files and arguments say literally: no markup, no links, no escapes."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import qaas_core as q
from qaas_core import cli
from qaas_core._auth import DeviceFlow
from qaas_core._lexis import QuantumResource
from qaas_core._result import circuit_result
from qaas_core._secret import Secret

# what a hostile server (or a file, or an argument) could send
MARKUP = "[/bold] [link=https://evil.example]click[/link] [red]x :smile:"
OSC8 = "\x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\"
ESCAPES = f"{OSC8} \x1b[2J \x07 \u202etxt.exe"
HOSTILE = f"{MARKUP} {ESCAPES}"


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping, so that whole strings can be found


def squeeze(text: str) -> str:
    return "".join(text.split())  # a table wraps its title: compare without white space


def assert_literal(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "\u202e" not in output
    flat = squeeze(output)
    assert squeeze(MARKUP) in flat  # every bracket and colon code kept as typed
    assert squeeze("\\x1b]8;;https://evil.example\\x1b\\here") in flat  # shown escaped, not executed
    assert "\\x07" in flat and "\\u202etxt.exe" in flat


class FakeClient:
    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def use(monkeypatch: pytest.MonkeyPatch, client: FakeClient) -> None:
    monkeypatch.setattr(cli, "_client", lambda args: client)


def fail(exc: Exception) -> Any:
    def raiser(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return raiser


@pytest.mark.parametrize(
    ("exc", "code", "name"),
    [
        (q.RemoteAPIError(f"HEAppE answered 400: {HOSTILE}", status_code=400, detail=HOSTILE), 6, "RemoteAPIError"),
        (q.ResponseError(HOSTILE), 6, "ResponseError"),
        (q.ValidationError(HOSTILE), 2, "ValidationError"),
        (q.QaasError(HOSTILE), 1, "QaasError"),
        (OSError(HOSTILE), 2, "error"),
    ],
)
def test_error_text_is_printed_literally(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], exc: Exception, code: int, name: str
) -> None:
    use(monkeypatch, FakeClient(backends=fail(exc), settings=SimpleNamespace(project="p")))
    assert cli.main(["backends"]) == code
    err = capsys.readouterr().err
    assert err.startswith(f"{name}: ")
    assert_literal(err)


def test_markup_that_used_to_crash_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, FakeClient(backends=fail(q.RemoteAPIError("detail: [/bold]", status_code=500))))
    assert cli.main(["backends"]) == 6
    assert capsys.readouterr().err == "RemoteAPIError: detail: [/bold]\n"


def test_backends_table_is_literal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    resource = QuantumResource(HOSTILE, "proj", MARKUP, "https://heappe.example", aggregation="VLQ")
    use(monkeypatch, FakeClient(backends=lambda project: [resource], settings=SimpleNamespace(project=MARKUP)))
    assert cli.main(["backends", "--project", HOSTILE]) == 0
    out = capsys.readouterr().out
    assert squeeze(f"Quantum resources of {MARKUP}") in squeeze(out)
    assert_literal(out)


def test_whoami_is_literal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = SimpleNamespace(claims=lambda: {"preferred_username": HOSTILE, "exp": time.time() + 60})
    settings = SimpleNamespace(profile="p", project=MARKUP, resource="r", data_dir=Path("/tmp") / "[bold]d")
    use(monkeypatch, FakeClient(tokens=tokens, settings=settings))
    assert cli.main(["whoami"]) == 0
    out = capsys.readouterr().out
    assert_literal(out)
    assert "/tmp/[bold]d" in out


def test_counts_of_a_result_are_literal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from qaas_core._ledger import Ledger, LedgerEntry

    circuit = circuit_result(HOSTILE, {"[/]": [[0], [1]]}, 2, memory=False, keys=[("[/]", 1)])
    doc = q.ResultDocument(schema="qaas.result/1", submission_id="s", status="completed", circuits=(circuit,))
    monkeypatch.setenv("QAAS_DATA_DIR", str(tmp_path))
    ledger = Ledger(tmp_path / "ledger.sqlite3")  # a result downloaded once is shown from the ledger
    entry = LedgerEntry(submission_id="s", request_digest="0" * 64, profile="lexis", project="p", resource="r",
                        heappe_url="https://h.it4i.cz", shots=2, circuits=1)  # fmt: skip
    ledger.record_submission(entry)
    ledger.store_result("s", q.encode_result(doc))
    assert cli.main(["--profile", "lexis", "jobs", "result", "s"]) == 0
    out = capsys.readouterr().out
    assert_literal(out)
    assert squeeze("2 shots, keys ['[/]']") in squeeze(out)


def test_calibration_table_is_literal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calibration = q.load_profile("adonis5")
    calibration.device = HOSTILE
    use(monkeypatch, FakeClient(calibration=lambda **kw: calibration))
    assert cli.main(["calibration", "show"]) == 0
    out = capsys.readouterr().out
    assert_literal(out)
    assert squeeze(f"calibration set {calibration.calibration_set_id}") in squeeze(out)


def test_device_login_prompt_is_literal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    class Tokens:
        def __init__(self, settings: object) -> None:
            pass

        def start_device_flow(self, *, offline: bool) -> DeviceFlow:
            return DeviceFlow(HOSTILE, f"https://login.example/?code={MARKUP}", HOSTILE, time.time() + 60, 1.0,
                              Secret("device"))  # fmt: skip

        def complete_device_flow(self, flow: DeviceFlow, *, timeout: float) -> None:
            pass

        def claims(self) -> dict[str, str]:
            return {"preferred_username": HOSTILE}

        def close(self) -> None:
            pass

    monkeypatch.setattr("qaas_core._auth.TokenManager", Tokens)
    monkeypatch.setattr("qaas_core._config.load_settings", lambda profile: SimpleNamespace(data_dir=Path("/d")))
    assert cli.main(["login"]) == 0
    out = capsys.readouterr().out
    assert f"Open https://login.example/?code={MARKUP}" in out
    assert_literal(out)
