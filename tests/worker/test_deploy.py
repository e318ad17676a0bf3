"""What a site installs (``deploy/``) is what the package ships and what the emulator runs.

The command templates live in the package (``qaas_core/worker/deploy/*.json``, so a wheel-only install has them);
``deploy/`` at the repository root holds identical copies next to the install script, the Apptainer definition and
the systemd unit, which must start the worker exactly as the templates do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata, resources
from pathlib import Path

import httpx
import pytest

from qaas_core._errors import ConfigurationError
from qaas_core._version import check_worker_version
from qaas_core.emulator import EmulatorConfig, EmulatorServer
from qaas_core.emulator._lexis import load_seed
from qaas_core.worker._deploy import (
    CONFIG,
    DEFAULT_PYTHON,
    PYTHON,
    TEMPLATE_FILES,
    WORKER_PREFIX,
    command_templates,
    parse_template,
    worker_command,
)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE_CONFIG = "/etc/qaas/worker.toml"
PACKAGED = resources.files("qaas_core.worker").joinpath("deploy")


def test_deploy_templates_are_the_packaged_ones_byte_for_byte() -> None:
    packaged = {p.name for p in PACKAGED.iterdir() if p.name.endswith(".json")}
    assert packaged == set(TEMPLATE_FILES) == {p.name for p in DEPLOY.glob("*.json")}
    for name in TEMPLATE_FILES:
        assert (DEPLOY / name).read_bytes() == PACKAGED.joinpath(name).read_bytes(), f"deploy/{name} differs"


def test_the_templates_start_the_isolated_worker_with_the_sites_configuration() -> None:
    run, calibrate, session = command_templates()
    assert (run.name, calibrate.name, session.name) == ("qaas-run", "qaas-calibrate", "qaas-session")
    for template in (run, calibrate, session):
        assert template.argv[: len(WORKER_PREFIX)] == WORKER_PREFIX
        assert template.node_type == "qexecute" and template.parameters == () and template.enabled
    assert (run.arguments, calibrate.arguments, session.arguments) == (("run",), ("calibrate",), ("session",))
    assert run.command("/opt/qaas/bin/python", SITE_CONFIG) == [
        "/opt/qaas/bin/python", "-I", "-m", "qaas_core.worker", "--config", SITE_CONFIG, "run"
    ]  # fmt: skip
    filled = run.filled("/opt/qaas/bin/python", SITE_CONFIG)
    assert filled["ExecutableFile"] == "/opt/qaas/bin/python"
    assert filled["CommandParameters"] == f"-I -m qaas_core.worker --config {SITE_CONFIG} run"
    assert PYTHON not in json.dumps(filled) and CONFIG not in json.dumps(filled)


@pytest.mark.parametrize("path", ["python3", "bin/python", "/opt/my qaas/bin/python", "/opt/qaas/bin/python;id"])
def test_a_filled_template_names_absolute_paths_a_shell_leaves_alone(path: str) -> None:
    run = command_templates()[0]
    with pytest.raises(ConfigurationError, match="absolute path"):
        run.filled(path, SITE_CONFIG)
    with pytest.raises(ConfigurationError, match="absolute path"):
        run.filled(DEFAULT_PYTHON, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CommandParameters": "-m qaas_core.worker --config @CONFIG@ run"}, "must start with"),  # not isolated
        ({"CommandParameters": "-I -m qaas_core.worker run"}, "must start with"),  # no site configuration
        ({"CommandParameters": "-I -m qaas_core.worker --config @CONFIG@"}, "must start with"),  # no subcommand
        ({"ExecutableFile": "/usr/bin/python3"}, "must start with"),
        ({"CommandParameters": "-I -m qaas_core.worker --config @CONFIG@ run '"}, "cannot be split"),
        ({"Arguments": ["run"]}, "unknown field"),
        ({"Name": ""}, "Name"),
        ({"TemplateParameters": [{"Description": "no identifier"}]}, "Identifier"),
    ],
)
def test_a_malformed_template_is_refused(change: dict[str, object], message: str) -> None:
    doc = json.loads(PACKAGED.joinpath("qaas-run.json").read_text())
    doc.update(change)
    with pytest.raises(ConfigurationError, match=message):
        parse_template(doc)


def test_the_systemd_unit_serves_with_the_templates_command_and_is_hardened() -> None:
    unit = (DEPLOY / "qaas-worker.service").read_text()
    settings: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    assert settings["ExecStart"] == [" ".join([*worker_command(DEFAULT_PYTHON, SITE_CONFIG), "serve"])]
    assert settings["User"] != ["root"] and settings["NoNewPrivileges"] == ["yes"]
    assert settings["ProtectSystem"] == ["strict"] and settings["PrivateTmp"] == ["yes"]
    assert settings["RuntimeDirectory"] == ["qaas"] and settings["RuntimeDirectoryMode"] == ["0750"]
    assert settings["ReadWritePaths"] == ["/var/lib/qaas-worker /run/qaas"]
    assert settings["UMask"] == ["0077"] and settings["CapabilityBoundingSet"] == [""]
    # the socket the skeleton configuration names is in the unit's runtime directory
    script = (DEPLOY / "install-worker.sh").read_text()
    assert 'socket = "/run/qaas/worker.sock"' in script and "state=${QAAS_STATE:-/var/lib/qaas-worker}" in script


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_parses(tmp_path: Path) -> None:
    # verify needs ExecStart to exist: the same unit, started by this interpreter instead of /opt/qaas/bin/python
    unit = (DEPLOY / "qaas-worker.service").read_text().replace(DEFAULT_PYTHON, sys.executable)
    (tmp_path / "qaas-worker.service").write_text(unit)
    done = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "qaas-worker.service")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    problems = [line for line in done.stderr.splitlines() if "qaas-worker.service" in line]
    assert not [p for p in problems if "Unknown key" in p or "Invalid" in p or "Failed to parse" in p], problems


def test_the_install_script_installs_wheels_only_into_the_templates_interpreter() -> None:
    script = DEPLOY / "install-worker.sh"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "--only-binary=:all:" in text and '-m venv "$prefix"' in text
    assert "prefix=${QAAS_PREFIX:-/opt/qaas}" in text and DEFAULT_PYTHON == "/opt/qaas/bin/python"
    assert f"config=${{QAAS_CONFIG:-{SITE_CONFIG}}}" in text
    assert "-m 0700" in text and "-m 0600" in text  # state directory and token file
    # the Apptainer image puts the same environment at the same path and runs the worker isolated
    definition = (DEPLOY / "qaas-worker.def").read_text()
    assert "python -m venv /opt/qaas" in definition and "--only-binary=:all:" in definition
    assert 'exec /opt/qaas/bin/python -I -m qaas_core.worker "$@"' in definition


def test_qaas_worker_templates_and_info_print_what_the_site_registers_and_serves(tmp_path: Path) -> None:
    def worker(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-I", "-m", "qaas_core.worker", "--config", SITE_CONFIG, *args],
                              capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"},
                              cwd=tmp_path)  # fmt: skip

    templates = json.loads(worker("templates", "--python", DEFAULT_PYTHON).stdout)
    assert templates == [t.filled(DEFAULT_PYTHON, SITE_CONFIG) for t in command_templates()]
    refused = worker("templates", "--python", "python3")
    assert refused.returncode == 5 and "absolute path" in refused.stderr
    info = json.loads(worker("info").stdout)
    assert info["qaas_version"] == metadata.version("qaas-core")
    assert check_worker_version(metadata.version("qaas-core"), info) is None


def test_the_emulator_offers_exactly_the_deploy_templates(tmp_path: Path) -> None:
    config = EmulatorConfig(state_dir=tmp_path, worker_command=(sys.executable, "-c", "pass"), worker_service=False)
    with EmulatorServer(config) as emu, httpx.Client(base_url=emu.url, timeout=20) as http:
        form = {"grant_type": "password", "client_id": "qaas", "username": "alice", "password": "alice-password"}
        token = http.post("/auth/realms/lexis/protocol/openid-connect/token", data=form).json()["access_token"]
        clusters = http.get("/heappe/ClusterInformation/ListAvailableClusters",
                            headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
    offered = [t for c in clusters for n in c["NodeTypes"] for p in n["Projects"] for t in p["CommandTemplates"]]
    shipped = {t.name: t for t in command_templates()}
    assert offered and {t["Name"] for t in offered} == set(shipped)
    for t in offered:
        assert t["Description"] == shipped[t["Name"]].description
        assert [p["Identifier"] for p in t["TemplateParameters"]] == []


def test_a_seed_template_that_does_not_start_the_isolated_worker_stops_the_emulator(tmp_path: Path) -> None:
    seed = load_seed(None)
    seed["heappe"]["command_templates"] = [{"Name": "evil", "ClusterNodeTypeName": "qexecute",
                                            "ExecutableFile": "/bin/sh", "CommandParameters": "-c id"}]  # fmt: skip
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    with pytest.raises(ConfigurationError, match="must start with"):
        EmulatorServer(EmulatorConfig(state_dir=tmp_path, worker_command=(sys.executable,), worker_service=False))
    seed["heappe"]["command_templates"] = [json.loads(PACKAGED.joinpath("qaas-run.json").read_text())]
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    with pytest.raises(ConfigurationError, match="defined twice"):
        EmulatorServer(EmulatorConfig(state_dir=tmp_path, worker_command=(sys.executable,), worker_service=False))


def fake_python(path: Path, version: str, schemas: list[str]) -> str:
    """An "interpreter" that answers ``qaas-worker info`` as a worker of another release would."""
    doc = {"schema": "qaas.site/1", "qaas_version": version, "schemas": schemas, "sw_stack": "IQM"}
    path.write_text(f"#!/bin/sh\necho '{json.dumps(doc)}'\n")
    path.chmod(0o755)
    return str(path)


def test_the_emulated_site_reports_its_workers_version_and_schemas(tmp_path: Path) -> None:
    ours = metadata.version("qaas-core")
    config = EmulatorConfig(state_dir=tmp_path / "a", worker_python=sys.executable, worker_service=False)
    with EmulatorServer(config) as emu:
        info = httpx.get(emu.url + "/qaas", timeout=20).json()
    assert info["qaas_version"] == ours and {"qaas.run/1", "qaas.result/1"} <= set(info["schemas"])
    assert info["sw_stack"] == "IQM" and info["quantum_technology"] == "superconducting"  # IT4I's keys
    assert json.loads((tmp_path / "a" / "site" / "qaas.json").read_text()) == info  # the static file a site serves
    assert check_worker_version(ours, info) is None
    # a site whose worker runs another release: the client's check warns
    old = fake_python(tmp_path / "old-python", "0.0.1", ["qaas.run/0"])
    config = EmulatorConfig(state_dir=tmp_path / "b", worker_python=old, worker_service=False)
    with EmulatorServer(config) as emu:
        info = httpx.get(emu.url + "/qaas", timeout=20).json()
    assert info["qaas_version"] == "0.0.1"
    warning = check_worker_version(ours, info)
    assert warning is not None and "qaas.run/1" in warning
