"""``qaas-worker doctor`` against the emulated IQM server over real HTTP, on good and broken site configurations.

Most tests call :func:`diagnose` in this process with the interpreter facts given (:class:`Host`) and assert on the
typed results; two run the real command, isolated or not, as a site administrator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from qaas_core.emulator import EmulatorConfig, EmulatorServer
from qaas_core.worker._doctor import Check, Host, Status, _satisfies, diagnose, exit_code, render

GOOD_HOST = Host(isolated=True, environ={"PATH": "/usr/bin:/bin"}, python=sys.executable)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(device="garnet20", noise=False, state_dir=tmp_path_factory.mktemp("emu"),
                            worker_python=sys.executable, worker_service=False)  # fmt: skip
    with EmulatorServer(config) as emu:
        yield emu


def site(emu: EmulatorServer, root: Path, *, url: str | None = None, token: str | None = None,
         token_mode: int = 0o600, state_mode: int | None = 0o700, qc: str | None = None,
         service: str = "") -> Path:  # fmt: skip
    """A site's worker.toml, its token file and its state directory, as deploy/install-worker.sh lays them out."""
    root.mkdir(parents=True, exist_ok=True)
    token_file = root / "iqm-token"
    token_file.write_text(token or emu.config.iqm_token)
    token_file.chmod(token_mode)
    state = root / "state"
    if state_mode is not None:
        state.mkdir(exist_ok=True)
        state.chmod(state_mode)
    lines = ["[iqm]", f'url = "{url or emu.url}"', f'quantum_computer = "{qc or emu.config.quantum_computer}"',
             f'token_file = "{token_file}"', "", "[state]", f'dir = "{state}"', "", service]  # fmt: skip
    path = root / "worker.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    return path


def results(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def statuses(checks: list[Check]) -> dict[str, Status]:
    return {c.name: c.status for c in checks}


def test_a_good_site_passes_and_only_warns_about_its_single_account(emulator: EmulatorServer, tmp_path: Path) -> None:
    checks = diagnose(site(emulator, tmp_path), host=GOOD_HOST)
    got = statuses(checks)
    warned = {"worker service", "project isolation"}  # no service socket: every task holds the token
    warned |= {"account"} if os.geteuid() == 0 else set()  # a site runs it under a dedicated account
    assert {name for name, status in got.items() if status is not Status.OK} == warned, checks
    assert all(got[name] is Status.WARN for name in warned)
    assert list(got) == [
        "python", "isolated interpreter", "environment", "account", "qaas-core", "iqm-client", "configuration",
        "IQM token file", "IQM server", "IQM credential", "state directory", "worker service", "project isolation",
        "template qaas-run", "template qaas-calibrate", "template qaas-session",
    ]  # fmt: skip
    by_name = results(checks)
    assert emulator.config.quantum_computer in by_name["IQM credential"].message
    assert "not isolated" in by_name["project isolation"].message
    assert exit_code(checks) == 0
    assert not any(emulator.config.iqm_token in c.message for c in checks)  # the credential is never shown


def test_a_wrong_url_fails_the_server_and_skips_the_credential(emulator: EmulatorServer, tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    checks = results(diagnose(site(emulator, tmp_path / "a", url=closed), host=GOOD_HOST, timeout=3))
    assert checks["IQM server"].status is Status.FAIL and "cannot be reached" in checks["IQM server"].message
    assert checks["IQM credential"].status is Status.SKIP
    # a URL that answers, but is not the IQM server's root
    checks = results(diagnose(site(emulator, tmp_path / "b", url=emulator.url + "/heappe"), host=GOOD_HOST))
    assert checks["IQM server"].status is Status.FAIL and "answered 404" in checks["IQM server"].message
    assert exit_code(list(checks.values())) == 1


def test_a_wrong_token_or_quantum_computer_fails_the_credential(emulator: EmulatorServer, tmp_path: Path) -> None:
    checks = results(diagnose(site(emulator, tmp_path / "a", token="not-the-token"), host=GOOD_HOST))
    assert checks["IQM server"].status is Status.OK
    credential = checks["IQM credential"]
    assert credential.status is Status.FAIL and "refused the token (401)" in credential.message
    assert not any("not-the-token" in c.message for c in checks.values())
    checks = results(diagnose(site(emulator, tmp_path / "b", qc="deneb"), host=GOOD_HOST))
    assert checks["IQM credential"].status is Status.FAIL and "'deneb'" in checks["IQM credential"].message


def test_a_token_file_others_may_read_fails(emulator: EmulatorServer, tmp_path: Path) -> None:
    token_file = site(emulator, tmp_path, token_mode=0o644).parent / "iqm-token"
    checks = results(diagnose(tmp_path / "worker.toml", host=GOOD_HOST))
    assert checks["IQM token file"].status is Status.FAIL
    assert f"chmod 600 {token_file}" in checks["IQM token file"].message and "0644" in checks["IQM token file"].message
    assert checks["IQM credential"].status is Status.OK  # the token itself is right: one thing to fix
    token_file.write_text("")
    token_file.chmod(0o600)
    checks = results(diagnose(tmp_path / "worker.toml", host=GOOD_HOST))
    assert checks["IQM token file"].status is Status.FAIL and "holds no token" in checks["IQM token file"].message


def test_a_missing_or_open_state_directory_fails(emulator: EmulatorServer, tmp_path: Path) -> None:
    checks = results(diagnose(site(emulator, tmp_path / "a", state_mode=None), host=GOOD_HOST))
    state = checks["state directory"]
    assert state.status is Status.FAIL and "does not exist" in state.message and "install -d" in state.message
    checks = results(diagnose(site(emulator, tmp_path / "b", state_mode=0o755), host=GOOD_HOST))
    assert checks["state directory"].status is Status.FAIL and "0755" in checks["state directory"].message
    # judged for the account that runs the worker: another uid does not own it
    other = Host(isolated=True, environ={}, python=sys.executable, uid=os.geteuid() + 1)
    checks = results(diagnose(site(emulator, tmp_path / "c"), host=other))
    assert checks["state directory"].status is Status.FAIL and "owned by" in checks["state directory"].message
    assert checks["IQM token file"].status is Status.WARN  # readable, but not the worker account's


def test_a_broken_configuration_fails_once_and_skips_what_needs_it(tmp_path: Path) -> None:
    bad = tmp_path / "worker.toml"
    bad.write_text('[iqm]\nurl = "https://iqm.example.org"\ncolour = "blue"\n')
    checks = diagnose(bad, host=GOOD_HOST)
    got = statuses(checks)
    assert got["configuration"] is Status.FAIL and "colour" in results(checks)["configuration"].message
    for name in ("IQM token file", "IQM server", "IQM credential", "state directory", "worker service"):
        assert got[name] is Status.SKIP
    assert got["template qaas-run"] is Status.OK  # the interpreter and module are still checked
    assert [c.status for c in checks].count(Status.FAIL) == 1 and exit_code(checks) == 1
    missing = results(diagnose(tmp_path / "nowhere.toml", host=GOOD_HOST))["configuration"]
    assert missing.status is Status.FAIL and "no worker configuration" in missing.message


def test_a_configuration_others_may_change_fails(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = site(emulator, tmp_path)
    config.chmod(0o666)
    checks = results(diagnose(config, host=GOOD_HOST))
    assert checks["configuration"].status is Status.FAIL and "chmod go-w" in checks["configuration"].message


def test_a_non_isolated_host_with_code_injecting_variables_fails(emulator: EmulatorServer, tmp_path: Path) -> None:
    host = Host(isolated=False, environ={"LD_PRELOAD": "/tmp/x.so", "PATH": "/bin"}, python=sys.executable)
    checks = results(diagnose(site(emulator, tmp_path), host=host))
    assert checks["isolated interpreter"].status is Status.FAIL and "-I" in checks["isolated interpreter"].message
    assert checks["environment"].status is Status.FAIL and "LD_PRELOAD" in checks["environment"].message
    old = Host(isolated=True, environ={}, python=sys.executable, version=(3, 10, 12), uid=0)
    checks = results(diagnose(site(emulator, tmp_path), host=old))
    assert checks["python"].status is Status.FAIL
    assert checks["account"].status is Status.WARN and "dedicated account" in checks["account"].message


def test_templates_naming_an_interpreter_without_the_worker_fail(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = site(emulator, tmp_path)
    for python, expected in ((str(tmp_path / "no-python"), "not an executable"), ("/bin/true", "no output")):
        host = Host(isolated=True, environ={}, python=python)
        checks = results(diagnose(config, host=host))
        template = checks["template qaas-run"] if "template qaas-run" in checks else checks["command templates"]
        assert template.status is Status.FAIL and expected in template.message
    # a Python without qaas-core (the system's, say)
    plain = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(plain)], check=True, timeout=120)
    checks = results(diagnose(config, host=Host(isolated=True, environ={}, python=str(plain / "bin" / "python"))))
    assert checks["template qaas-run"].status is Status.FAIL
    assert "No module named 'qaas_core'" in checks["template qaas-run"].message


def serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-I", "-m", "qaas_core.worker", "--config", str(config), "serve"],
                                env={"PATH": "/usr/bin:/bin"}, stdout=out, stderr=out)  # fmt: skip


def test_the_service_row_and_a_single_account_deployment(emulator: EmulatorServer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o750)
    sock = run / "worker.sock"
    config = site(emulator, tmp_path, service=f'[service]\nsocket = "{sock}"\nrequired = true')
    checks = results(diagnose(config, host=GOOD_HOST))
    assert checks["worker service"].status is Status.FAIL and "nothing answers" in checks["worker service"].message
    service = serve(config, tmp_path / "service.log")
    try:
        deadline = time.monotonic() + 90
        while not sock.exists():
            assert service.poll() is None, (tmp_path / "service.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        checks = results(diagnose(config, host=GOOD_HOST))
    finally:
        service.terminate()
        service.wait(30)
    assert checks["worker service"].status is Status.OK and "answers (qaas-core" in checks["worker service"].message
    # the socket's group lists nobody but the service's own account: everything runs as one user
    isolation = checks["project isolation"]
    assert isolation.status is Status.WARN and "not isolated" in isolation.message
    assert exit_code(list(checks.values())) == 0
    # a socket directory others may write to: anyone could put a socket of their own in its place
    run.chmod(0o777)
    assert results(diagnose(config, host=GOOD_HOST))["worker service"].status is Status.FAIL


def doctor(config: Path, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-m", "qaas_core.worker", "--config", str(config), "doctor"],
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "300", **(env or {})}, capture_output=True,
                          text=True, timeout=120, cwd=config.parent)  # fmt: skip


def test_the_doctor_as_a_site_runs_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    config = site(emulator, tmp_path)
    done = doctor(config, "-I")
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = 3 if os.geteuid() == 0 else 2  # no service; hence projects not isolated; root, when tests run as root
    assert f"0 failed, {warnings} warning(s), 0 skipped, {16 - warnings} ok" in done.stdout
    assert emulator.config.iqm_token not in done.stdout
    # not isolated: the same site fails, and says how to start the worker
    done = doctor(config)
    assert done.returncode == 1
    row = next(line for line in done.stdout.splitlines() if "isolated interpreter" in line)
    assert "fail" in row and "python -I -m qaas_core.worker" in row


def test_the_table_is_drawn_from_the_results_as_plain_text() -> None:
    checks = [
        Check("python", Status.OK, "3.11"),
        Check("IQM server", Status.FAIL, "[bold]not markup[/bold]"),
        Check("worker service", Status.WARN, "no socket"),
        Check("IQM credential", Status.SKIP, "needs it"),
    ]
    console = Console(record=True, width=200, color_system=None)
    console.print(render(checks))
    text = console.export_text()
    for check in checks:
        row = next(line for line in text.splitlines() if check.name in line)
        assert check.status.value in row and check.message in row
    assert exit_code(checks) == 1 and exit_code([c for c in checks if c.status is not Status.FAIL]) == 0


@pytest.mark.parametrize(
    ("version", "spec", "fits"),
    [
        ("36.0.0", ">=36,<37", True),
        ("36.9", "<37,>=36", True),
        ("37.0.0", ">=36,<37", False),
        ("35.2.1", ">=36,<37", False),
        ("36.1.0", "==36.*", True),
        ("36.1.0", "~=36.0", True),
        ("36.1.0", "!=36.1", False),
    ],
)
def test_the_supported_iqm_client_range(version: str, spec: str, fits: bool) -> None:
    assert _satisfies(version, spec) is fits
