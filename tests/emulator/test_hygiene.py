"""Emulator hygiene, attacked over real HTTP and with real processes.

* A web page in the user's browser can send "simple" cross-site requests to 127.0.0.1 (text/plain, form bodies,
  no custom headers): the ``/_emulator/`` changes need the run's key and a JSON content type, so they do nothing.
* DNS rebinding (a page whose own name now resolves to 127.0.0.1) arrives with a foreign ``Host``: refused before
  any handler runs, and no URL the emulator hands out is built from ``Host``.
* However the emulator or its host process ends — a second ``start()``, a failed start, an exit without
  ``stop()``, ``kill -9`` — no process it started survives it. Processes are found by scanning ``/proc`` for the
  emulator's state directory in their command line, working directory or environment.

Where iqm-client is installed the worker service really runs (and must die too); without it the service exits on
its own at start, and the HEAppE task processes (a sleeping fake worker) carry the process checks.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qaas_core._errors import ConfigurationError
from qaas_core.emulator import EmulatorConfig, EmulatorServer
from qaas_core.emulator._lexis import Lexis

REALM = "/auth/realms/lexis"
DISCOVERY = REALM + "/.well-known/openid-configuration"
OIDC = REALM + "/protocol/openid-connect"
FAULTS = "/_emulator/faults"
KEY_HEADER = "X-Qaas-Emulator-Key"
HAS_IQM_CLIENT = importlib.util.find_spec("iqm") is not None and importlib.util.find_spec("iqm.iqm_client") is not None

SLEEPER = """
import os, pathlib, time
pathlib.Path("sleeper.pid").write_text(str(os.getpid()))
time.sleep(600)
"""


# -- helpers -------------------------------------------------------------------------------------------------------


def config(state_dir: Path, **settings: Any) -> EmulatorConfig:
    settings.setdefault("worker_service", False)
    return EmulatorConfig(state_dir=state_dir, scheduler_tick_seconds=0.05, **settings)


def processes_mentioning(marker: str) -> dict[int, str]:
    """Live processes (not this one) whose command line, working directory or environment mentions ``marker``."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue  # gone, a zombie, or not ours
        if marker in cmdline or marker in environ or cwd.startswith(marker):
            found[int(entry.name)] = cmdline.strip()
    return found


def survivors(marker: str, within: float = 20.0) -> dict[int, str]:
    """The processes still mentioning ``marker`` after waiting up to ``within`` seconds for them all to go."""
    deadline = time.monotonic() + within
    while (left := processes_mentioning(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def worker_service_pids(state_dir: Path) -> set[int]:
    return {pid for pid, cmd in processes_mentioning(str(state_dir)).items() if " serve" in cmd}


def start_sleeping_task(url: str, sleeper_dir: str) -> None:
    """Create and submit a HEAppE job (as IT4I's client does) whose task is the sleeping fake worker."""
    with httpx.Client(base_url=url, timeout=20) as http:
        login = {"grant_type": "password", "client_id": "qaas", "username": "alice", "password": "alice-password"}
        token = http.post(OIDC + "/token", data=login).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}  # the emulated HEAppE runs bearer authentication, as IT4I does
        [resource] = http.get(
            "/userorg/api/ProjectResource", params={"ProjectShortName": "qaas-demo"}, headers=bearer
        ).json()
        location = resource["Assignments"][0]["LocationName"]
        clusters = http.get(
            "/heappe/ClusterInformation/ListAvailableClusters", params={"ClusterName": location}, headers=bearer
        ).json()
        cluster = next(c for c in clusters if c["Name"] == location)
        node_type = next(n for n in cluster["NodeTypes"] if n["Name"] == "qexecute")
        project = next(p for p in node_type["Projects"] if p["AccountingString"] == resource["Name"])
        template = next(t for t in project["CommandTemplates"] if t["Name"] == "qaas-run")
        task = {
            "Name": "sleeper", "MinCores": 1, "MaxCores": 1, "WalltimeLimit": 600,
            "ClusterNodeTypeId": node_type["Id"], "CommandTemplateId": template["Id"], "TemplateParameterValues": [],
            "ProgressFile": "progress.json", "LogFile": "log.txt",
        }  # fmt: skip
        spec = {
            "Name": "sleeper", "ProjectId": project["Id"], "ClusterId": cluster["Id"],
            "FileTransferMethodId": node_type["FileTransferMethodId"], "Tasks": [task],
        }  # fmt: skip
        created = http.post("/heappe/JobManagement/CreateJob", json={"JobSpecification": spec}, headers=bearer)
        if created.status_code != 200:
            raise RuntimeError(f"CreateJob: {created.status_code} {created.text}")
        job = created.json()
        submitted = http.put("/heappe/JobManagement/SubmitJob", json={"CreatedJobInfoId": job["Id"]}, headers=bearer)
        submitted.raise_for_status()
    deadline = time.monotonic() + 30
    while not list(Path(sleeper_dir).rglob("sleeper.pid")):
        if time.monotonic() > deadline:
            raise RuntimeError("the sleeping task never started")
        time.sleep(0.05)


HOST = rf"""
import sys, time
from pathlib import Path
from qaas_core.emulator import EmulatorConfig, EmulatorServer
sys.path.insert(0, sys.argv[3])
from tests.emulator.test_hygiene import start_sleeping_task

state, ending = Path(sys.argv[1]), sys.argv[2]
sleeper = state / "sleeper.py"
state.mkdir(parents=True, exist_ok=True)
sleeper.write_text({SLEEPER!r})
cfg = EmulatorConfig(state_dir=state, scheduler_tick_seconds=0.05, worker_command=(sys.executable, str(sleeper)))
if ending == "start-twice":
    # what once left the worker service orphaned: start(), then __enter__ starts again
    with EmulatorServer(cfg).start() as emu:
        print("READY", flush=True)
    sys.exit(0)
emu = EmulatorServer(cfg).start()
start_sleeping_task(emu.url, str(state))
if {HAS_IQM_CLIENT!r}:  # the worker service must be up (it listens once iqm-client is imported)
    deadline = time.monotonic() + 60
    while not (state / "worker.sock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
print("READY", flush=True)
if ending == "exit-without-stop":
    sys.exit(0)
time.sleep(600)  # until killed
"""


def run_host(tmp_path: Path, ending: str) -> tuple[subprocess.Popen[str], Path]:
    """Start a host process running an emulator with the worker service and a sleeping task; wait for READY."""
    state = tmp_path / "state"
    script = tmp_path / "host.py"
    script.write_text(HOST)
    repo = Path(__file__).resolve().parents[2]
    host = subprocess.Popen(
        [sys.executable, str(script), str(state), ending, str(repo)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert host.stdout is not None
    line = host.stdout.readline()
    if line.strip() != "READY":
        host.kill()
        _, err = host.communicate(timeout=30)
        raise AssertionError(f"the host never got ready: {line!r}\n{err}")
    return host, state


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(config(tmp_path_factory.mktemp("hygiene"))) as server:
        yield server


@pytest.fixture
def http(emu: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=10) as client:
        yield client
        client.delete(FAULTS, headers=emu.admin_headers).raise_for_status()


def raw_status(port: int, request: bytes) -> int:
    """Send ``request`` as is over a socket; the status code of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


# -- 1. cross-site changes to the fault rules ----------------------------------------------------------------------

RULE = [{"path": "openid-configuration", "status": 503, "count": None}]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_simple_cross_site_post_adds_no_fault(emu: EmulatorServer, http: httpx.Client, content_type: str) -> None:
    # exactly what a page can send without a preflight: a simple content type, an Origin, no custom header
    answer = http.post(
        FAULTS, content=json.dumps(RULE), headers={"Content-Type": content_type, "Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
    assert http.get(FAULTS).json() == []
    assert http.get(DISCOVERY).status_code == 200


def test_fault_changes_need_the_key_and_json(emu: EmulatorServer, http: httpx.Client) -> None:
    key = emu.admin_key.get()
    json_only = {"Content-Type": "application/json"}
    assert http.post(FAULTS, json=RULE).status_code == 403
    assert http.post(FAULTS, json=RULE, headers={KEY_HEADER: "guess-" + key[6:]}).status_code == 403
    assert http.post(FAULTS, content=json.dumps(RULE), headers={**json_only, KEY_HEADER.lower(): ""}).status_code == 403
    with_key_as_text = {KEY_HEADER: key, "Content-Type": "text/plain"}
    assert http.post(FAULTS, content=json.dumps(RULE), headers=with_key_as_text).status_code == 415
    assert http.get(FAULTS).json() == []

    assert http.post(FAULTS, json=RULE, headers=emu.admin_headers).status_code == 200
    assert http.get(DISCOVERY).status_code == 503
    assert http.delete(FAULTS).status_code == 403  # nor may a page clear them
    assert http.delete(FAULTS, headers={KEY_HEADER: key}).status_code == 415
    assert len(http.get(FAULTS).json()) == 1
    assert http.delete(FAULTS, headers=emu.admin_headers).status_code == 204
    assert http.get(DISCOVERY).status_code == 200


def test_the_key_is_per_run_in_a_private_emulator_json_and_never_in_a_repr(tmp_path: Path) -> None:
    from qaas_core.emulator._embedded import start_embedded

    keys = []
    for run in range(2):
        emulator, _settings = start_embedded("garnet20", data_dir=tmp_path, worker_service=False)
        try:
            info_path = tmp_path / "emulator.json"
            assert stat.S_IMODE(info_path.stat().st_mode) == 0o600
            key = json.loads(info_path.read_text())["admin_key"]
            keys.append(key)
            assert key == emulator.server.admin_key.get()
            assert key not in repr(emulator.server.app.user_middleware) + repr(emulator.server.admin_key)
            headers = {KEY_HEADER: key, "Content-Type": "application/json"}
            assert httpx.post(f"{emulator.url}{FAULTS}", json=RULE, headers=headers).status_code == 200, run
        finally:
            emulator.stop()
    assert keys[0] != keys[1]


# -- 2. foreign Host (DNS rebinding) -------------------------------------------------------------------------------


EVERY_SERVICE = [
    ("GET", DISCOVERY),
    ("POST", OIDC + "/token"),
    ("GET", "/userorg/api/Project"),
    ("GET", "/heappe/ClusterInformation/ListAvailableClusters"),
    ("GET", "/api/v1/quantum-computers"),
]


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1.nip.io:{port}", "localhost.evil.example:{port}",
     "127.0.0.2:{port}", "0.0.0.0:{port}", "[::ffff:127.0.0.1]:{port}", "localhost:1", "127.0.0.1:{port}0"],
)  # fmt: skip
def test_a_foreign_host_reaches_no_handler(emu: EmulatorServer, http: httpx.Client, host: str) -> None:
    http.post(FAULTS, json=[{"action": "delay", "path": ".", "count": None}], headers=emu.admin_headers)
    foreign = {"Host": host.format(port=emu.port)}
    for method, path in EVERY_SERVICE:
        answer = http.request(method, path, headers=foreign)
        assert answer.status_code == 421, (method, path, answer.text)
        assert "evil" not in answer.text
    # not even the fault endpoint, with the right key: the fault gate never saw any of these requests
    assert http.post(FAULTS, json=RULE, headers={**emu.admin_headers, **foreign}).status_code == 421
    [rule] = http.get(FAULTS).json()
    assert rule["seen"] == 0
    # the URL tasks are given for the IQM server (with its token) was once learnt from the first request's Host
    lexis = next(s for s in emu.app.state.subsystems if isinstance(s, Lexis))
    assert lexis.base_url == emu.url


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}",
                                  "127.0.0.1", "localhost"])  # fmt: skip
def test_loopback_hosts_are_served_and_urls_come_from_the_configured_address(
    emu: EmulatorServer, http: httpx.Client, host: str
) -> None:
    doc = http.get(DISCOVERY, headers={"Host": host.format(port=emu.port)}).json()
    issuer = f"http://127.0.0.1:{emu.port}{REALM}"
    assert doc["issuer"] == issuer
    urls = [value for value in doc.values() if isinstance(value, str) and "://" in value]
    assert urls
    assert all(url.startswith(issuer + "/") or url == issuer for url in urls), urls
    login = {"grant_type": "password", "client_id": "qaas", "username": "alice", "password": "alice-password"}
    token = http.post(OIDC + "/token", data=login, headers={"Host": host.format(port=emu.port)}).json()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == issuer
    bearer = {"Authorization": f"Bearer {token}", "Host": host.format(port=emu.port)}
    [resource] = http.get(
        "/userorg/api/ProjectResource", params={"ProjectShortName": "qaas-demo"}, headers=bearer
    ).json()
    specifications = resource["Assignments"][0]["Specifications"]
    heappe_url = next(s["Value"] for s in specifications if s["Key"] == "HEAPPE_URL")
    assert heappe_url == f"http://127.0.0.1:{emu.port}"


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /heappe/Health HTTP/1.0\r\n\r\n",
        b"GET /heappe/Health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    ],
    ids=["no-host", "two-hosts"],
)
def test_a_missing_or_repeated_host_is_a_bad_request(emu: EmulatorServer, request_head: bytes) -> None:
    assert raw_status(emu.port, request_head) == 400


# -- 3. no process outlives its emulator ---------------------------------------------------------------------------


def test_start_twice_returns_the_running_server_and_stop_ends_its_processes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    server = EmulatorServer(config(state, worker_service=True))
    with server.start() as emu:
        assert emu is server
        assert emu.start() is emu
        assert httpx.get(emu.url + DISCOVERY).status_code == 200
        if HAS_IQM_CLIENT:
            assert worker_service_pids(state)
    assert not server.running
    assert survivors(str(state)) == {}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server.port}{DISCOVERY}")


def test_a_start_on_a_busy_port_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = EmulatorServer(config(tmp_path / "state", worker_service=True, port=busy.getsockname()[1]))
        with pytest.raises(ConfigurationError, match="cannot listen"):
            server.start()
    assert not server.running
    assert survivors(str(tmp_path / "state")) == {}


def test_a_failed_start_stops_what_it_had_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qaas_core.emulator._heappe import HEAppE

    async def broken(self: HEAppE) -> None:  # the last subsystem: the worker service is already running
        raise RuntimeError("injected startup failure")

    monkeypatch.setattr(HEAppE, "startup", broken)
    state = tmp_path / "state"
    server = EmulatorServer(config(state, worker_service=True))
    with pytest.raises(ConfigurationError, match="did not start"):
        server.start()
    assert not server.running
    assert survivors(str(state)) == {}


@pytest.mark.parametrize("ending", ["start-twice", "exit-without-stop", "kill-9"])
def test_no_process_outlives_its_host(tmp_path: Path, ending: str) -> None:
    host, state = run_host(tmp_path, ending)
    try:
        if ending != "start-twice":
            running = processes_mentioning(str(state))
            assert any("sleeper.py" in cmd for cmd in running.values()), running
            if HAS_IQM_CLIENT:
                assert any(" serve" in cmd for cmd in running.values()), running
        if ending == "kill-9":
            os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=60)
    finally:
        if host.poll() is None:
            host.kill()
        host.communicate(timeout=30)
    assert survivors(str(state)) == {}
