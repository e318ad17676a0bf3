"""The emulated HEAppE V6.3 over real HTTP: the whole job lifecycle, its error statuses and the emulated cluster.

Requests follow ``reference/heappe-api.md`` (what Py4HEAppE and IT4I's QaaS client send), not our own client. The
command templates run a small fake worker (below) instead of ``qaas_core.worker``; its behaviour is chosen per job
with the environment variable ``FAKE_MODE``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("cryptography")
pytest.importorskip("starlette")

from qaas_core.emulator import EmulatorConfig, EmulatorServer, FakeClock
from qaas_core.emulator._heappe import HEAppE
from qaas_core.worker._deploy import command_templates

OIDC = "/auth/realms/lexis/protocol/openid-connect"
UAM = "/heappe/UserAndLimitationManagement/"
JM = "/heappe/JobManagement/"
FT = "/heappe/FileTransfer/"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TERMINAL = {16, 32, 64}

FAKE_WORKER = r"""
import json, os, pathlib, sys, time
mode = os.environ.get("FAKE_MODE", "ok")
here = pathlib.Path.cwd()
(here / "pid.txt").write_text(str(os.getpid()))
(here / "argv.json").write_text(json.dumps(sys.argv[1:]))
(here / "env.json").write_text(json.dumps(dict(os.environ)))
print("fake worker", " ".join(sys.argv[1:]), flush=True)
if mode == "ok":
    request = json.loads((here / "request.json").read_text())
    (here / "progress.json").write_text(json.dumps({"events": [{"status": "received"}, {"status": "ready"}]}))
    result = {"schema": "qaas.result/1", "submission_id": request["submission_id"], "status": "ready"}
    (here / "result.json").write_text(json.dumps(result))
elif mode == "sleep":
    time.sleep(60)
elif mode == "fail":
    print("something went wrong: boom", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "symlink":
    os.symlink("/etc/hostname", here / "escape")
elif mode == "chatty":
    for i in range(5):
        print(f"line {i}", flush=True)
"""


# -- fixtures and helpers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    script = tmp_path_factory.mktemp("worker") / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return (sys.executable, str(script))


def make_config(state_dir: Path, worker: tuple[str, ...], **settings: Any) -> EmulatorConfig:
    if "worker_service" in EmulatorConfig.__dataclass_fields__:
        settings.setdefault("worker_service", False)  # the fake worker needs no qaas-worker service
    # these tests speak session codes, as Py4HEAppE does; the bearer deployment has tests of its own
    settings.setdefault("heappe_auth", "session")
    return EmulatorConfig(state_dir=state_dir, worker_command=worker, scheduler_tick_seconds=0.05, **settings)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, worker: tuple[str, ...]) -> Iterator[EmulatorServer]:
    with EmulatorServer(make_config(tmp_path_factory.mktemp("heappe"), worker)) as server:
        yield server


class Api:
    """A thin httpx wrapper speaking LEXIS and HEAppE as their references describe them."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=20)

    def close(self) -> None:
        self.http.close()

    def token(self, user: str = "alice") -> str:
        form = {"grant_type": "password", "client_id": "qaas", "username": user, "password": f"{user}-password"}
        answer = self.http.post(OIDC + "/token", data=form)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def session(self, user: str = "alice") -> str:
        answer = self.http.post(
            UAM + "AuthenticateLexisToken",
            json={"Credentials": {"Username": user, "OpenIdAccessToken": self.token(user)}},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json())

    def target(self, sc: str, template: str = "qaas-run") -> dict[str, int]:
        """Cluster, node type, project and template ids for the user's LEXIS resource, as IT4I's client finds them."""
        bearer = {"Authorization": f"Bearer {self.token(self.user_of(sc))}"}
        [resource] = self.http.get(
            "/userorg/api/ProjectResource", params={"ProjectShortName": self.project_of(sc)}, headers=bearer
        ).json()
        location = resource["Assignments"][0]["LocationName"]
        clusters = self.http.get(
            "/heappe/ClusterInformation/ListAvailableClusters", params={"SessionCode": sc, "ClusterName": location}
        ).json()
        cluster = next(c for c in clusters if c["Name"] == location)
        node_type = next(n for n in cluster["NodeTypes"] if n["Name"] == "qexecute")
        project = next(p for p in node_type["Projects"] if p["AccountingString"] == resource["Name"])
        command = next(t for t in project["CommandTemplates"] if t["Name"] == template)
        return {
            "ClusterId": cluster["Id"],
            "FileTransferMethodId": node_type["FileTransferMethodId"],
            "ClusterNodeTypeId": node_type["Id"],
            "ProjectId": project["Id"],
            "CommandTemplateId": command["Id"],
        }

    def user_of(self, sc: str) -> str:
        return str(self.http.get(UAM + "CurrentUserInfo", params={"SessionCode": sc}).json()["Username"])

    def project_of(self, sc: str) -> str:
        return "qaas-demo" if self.user_of(sc) == "alice" else "other-project"

    def spec(self, ids: dict[str, int], *, name: str = "qaas-test", mode: str = "ok", **task: Any) -> dict[str, Any]:
        task_spec = {
            "Name": "quantum_task",
            "MinCores": 1,
            "MaxCores": 1,
            "WalltimeLimit": 600,
            "ClusterNodeTypeId": ids["ClusterNodeTypeId"],
            "CommandTemplateId": ids["CommandTemplateId"],
            "TemplateParameterValues": [],
            "ProgressFile": "progress.json",
            "LogFile": "log.txt",
            **task,
        }
        return {
            "Name": name,
            "ProjectId": ids["ProjectId"],
            "ClusterId": ids["ClusterId"],
            "FileTransferMethodId": ids["FileTransferMethodId"],
            "EnvironmentVariables": [{"Name": "FAKE_MODE", "Value": mode}],
            "Tasks": [task_spec],
        }

    def create(self, sc: str, spec: dict[str, Any]) -> httpx.Response:
        return self.http.post(JM + "CreateJob", json={"SessionCode": sc, "JobSpecification": spec})

    def created(self, sc: str, spec: dict[str, Any]) -> dict[str, Any]:
        answer = self.create(sc, spec)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def upload(self, sc: str, job: dict[str, Any], files: dict[str, bytes], *, task: bool = True) -> httpx.Response:
        params: dict[str, Any] = {"SessionCode": sc, "JobId": job["Id"]}
        if task:
            params["TaskId"] = job["Tasks"][0]["Id"]
        parts = [("files", (name, data, "application/octet-stream")) for name, data in files.items()]
        return self.http.post(FT + "UploadFilesToJobExecutionDir", params=params, files=parts)

    def submit(self, sc: str, job_id: int) -> httpx.Response:
        return self.http.put(JM + "SubmitJob", json={"SessionCode": sc, "CreatedJobInfoId": job_id})

    def info(self, sc: str, job_id: int) -> httpx.Response:
        return self.http.get(JM + "CurrentInfoForJob", params={"SessionCode": sc, "SubmittedJobInfoId": job_id})

    def wait(
        self, sc: str, job_id: int, until: Callable[[dict[str, Any]], bool], timeout: float = 20
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.info(sc, job_id).json()
            if until(job):
                return dict(job)
            assert time.monotonic() < deadline, f"job {job_id} stuck in state {job['State']}"
            time.sleep(0.05)

    def download(self, sc: str, job_id: int, path: str) -> httpx.Response:
        return self.http.post(
            FT + "DownloadFileFromCluster",
            json={"SessionCode": sc, "SubmittedJobInfoId": job_id, "RelativeFilePath": path},
        )

    def download_bytes(self, sc: str, job_id: int, path: str) -> bytes:
        answer = self.download(sc, job_id, path)
        assert answer.status_code == 200, answer.text
        return base64.b64decode(json.loads(answer.text))

    def wait_file(self, sc: str, job_id: int, path: str, timeout: float = 20) -> bytes:
        """The content of a job file once it exists and is not empty."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.download(sc, job_id, path)
            if answer.status_code == 200 and (data := base64.b64decode(json.loads(answer.text))):
                return data
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.05)

    def cancel(self, sc: str, job_id: int) -> httpx.Response:
        return self.http.put(JM + "CancelJob", json={"SessionCode": sc, "SubmittedJobInfoId": job_id})

    def delete(self, sc: str, job_id: int, **extra: Any) -> httpx.Response:
        return self.http.request(
            "DELETE", JM + "DeleteJob", json={"SessionCode": sc, "SubmittedJobInfoId": job_id, **extra}
        )

    def run_to_end(self, sc: str, spec: dict[str, Any], files: dict[str, bytes] | None = None) -> dict[str, Any]:
        job = self.created(sc, spec)
        if files:
            assert self.upload(sc, job, files).status_code == 200
        assert self.submit(sc, job["Id"]).status_code == 200
        return self.wait(sc, job["Id"], lambda j: j["State"] in TERMINAL)


@pytest.fixture
def api(emu: EmulatorServer) -> Iterator[Api]:
    client = Api(emu.url)
    yield client
    client.http.delete("/_emulator/faults", headers=emu.admin_headers)
    client.close()


def request_json(submission_id: str = "sub-1") -> bytes:
    return json.dumps({"schema": "qaas.run/1", "submission_id": submission_id, "shots": 10, "circuits": []}).encode()


def problem(answer: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == status
    assert body["title"] == title
    assert isinstance(body["detail"], str)
    assert "Traceback" not in answer.text
    return dict(body)


def heappe_of(emu: EmulatorServer) -> HEAppE:
    return next(s for s in emu.app.state.subsystems if isinstance(s, HEAppE))


# -- the happy path ------------------------------------------------------------------------------------------------


def test_health_is_anonymous(api: Api) -> None:
    health = api.http.get("/heappe/Health")
    assert health.status_code == 200
    assert health.json()["Version"].startswith("6.3.")
    assert health.json()["IsHealthy"] is True
    # HealthExt of V6.3.2, every member present
    assert list(health.json()) == ["IsHealthy", "Timestamp", "Version", "InstanceIdentifier", "Component"]
    assert health.json()["InstanceIdentifier"] == "qaas-emulator"
    vault = health.json()["Component"]["Vault"]
    assert vault["Info"] == {"Initialized": True, "Sealed": False, "StandBy": False, "PerformanceStandby": False}


def test_full_lifecycle_with_a_lexis_session_code(emu: EmulatorServer, api: Api) -> None:
    token = api.token()
    auth = api.http.post(
        UAM + "AuthenticateLexisToken", json={"Credentials": {"Username": "alice", "OpenIdAccessToken": token}}
    )
    assert auth.status_code == 200
    assert len(auth.text) == 38  # a GUID in quotes, as braas-hpc checks
    sc = auth.json()
    assert GUID.match(sc)
    again = api.http.post(
        UAM + "AuthenticateUserOpenId", json={"Credentials": {"Username": None, "OpenIdAccessToken": token}}
    )
    assert again.json() == sc  # same code while the session is valid

    ids = api.target(sc)
    job = api.created(sc, {**api.spec(ids), "SubProjectIdentifier": "sub-a"})
    assert job["State"] == 1
    assert [t["State"] for t in job["Tasks"]] == [1]
    assert job["SubmitTime"] is None and job["StartTime"] is None and job["TotalAllocatedTime"] is None
    assert job["SubProject"] == "sub-a"
    assert not job["CreationTime"].endswith("Z")
    task = job["Tasks"][0]
    assert task["NodeType"]["Project"]["AccountingString"] == "EQE1-CZ-P0001"
    assert task["NodeType"]["Project"]["CommandTemplate"]["Name"] == "qaas-run"
    assert task["Priority"] == 4

    listed = api.http.get(FT + "ListChangedFilesForJob", params={"SessionCode": sc, "SubmittedJobInfoId": job["Id"]})
    assert listed.status_code == 204 and listed.content == b""
    assert api.download(sc, job["Id"], f"/{task['Id']}/request.json").status_code == 204

    uploaded = api.upload(sc, job, {"request.json": request_json("sub-42")})
    assert uploaded.status_code == 200
    [entry] = uploaded.json()
    assert entry["FileName"] == "request.json" and entry["Succeeded"] is True
    assert entry["Path"].endswith(f"/{job['Id']}/{task['Id']}/request.json")

    submitted = api.submit(sc, job["Id"])
    assert submitted.status_code == 200
    assert submitted.json()["State"] in (2, 4)
    assert submitted.json()["SubmitTime"] is not None

    seen: set[int] = set()
    done = api.wait(sc, job["Id"], lambda j: seen.add(j["State"]) or j["State"] in TERMINAL)
    assert done["State"] == 16, done["Tasks"][0]["ErrorMessage"]
    assert seen - {16} <= {2, 4, 8}
    assert done["StartTime"] is not None and done["EndTime"] is not None
    assert done["Tasks"][0]["AllocatedTime"] is not None

    files = api.http.get(
        FT + "ListChangedFilesForJob", params={"SessionCode": sc, "SubmittedJobInfoId": job["Id"]}
    ).json()
    names = {f["FileName"] for f in files}
    prefix = f"/{task['Id']}/"
    assert {prefix + n for n in ("request.json", "result.json", "progress.json", "stdout.txt", "stderr.txt")} <= names
    assert all(f["LastModifiedDate"] for f in files)

    result = json.loads(api.download_bytes(sc, job["Id"], prefix + "result.json"))
    assert result == {"schema": "qaas.result/1", "submission_id": "sub-42", "status": "ready"}
    # QaaS's form: /<jobId>/<taskId>/<file>
    assert json.loads(api.download_bytes(sc, job["Id"], f"/{job['Id']}/{task['Id']}/result.json")) == result
    assert b"fake worker run" in api.download_bytes(sc, job["Id"], prefix + "stdout.txt")
    assert json.loads(api.download_bytes(sc, job["Id"], prefix + "argv.json")) == ["run"]
    env = json.loads(api.download_bytes(sc, job["Id"], prefix + "env.json"))
    # a task starts from its cluster account's login environment plus the job's variables: no IQM credential, no
    # setting of the emulator's host process (the site's worker reads its own configuration file)
    assert env["FAKE_MODE"] == "ok" and env["USER"] == env["LOGNAME"] != ""
    assert not any(k.startswith(("IQM_", "QAAS_")) and k != "QAAS_SUBMISSION_ID" for k in env)
    assert emu.config.iqm_token not in json.dumps(env)
    assert token not in json.dumps(env)  # the user's LEXIS token never reaches the cluster

    states = {
        j["Id"]: j["State"]
        for j in api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc, "JobStates": "16"}).json()
    }
    assert states[job["Id"]] == 16
    running = api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc, "JobStates": "1,2,4,8"}).json()
    assert job["Id"] not in {j["Id"] for j in running}

    deleted = api.delete(sc, job["Id"])
    assert deleted.status_code == 200 and deleted.json() == "Job was deleted"
    gone = api.info(sc, job["Id"]).json()
    assert gone["State"] == 256 and gone["Tasks"][0]["State"] == 256
    assert api.download(sc, job["Id"], prefix + "result.json").status_code == 400
    assert not (emu.config.state_dir / "cluster" / "qaas-svc-p1" / str(job["Id"])).exists()


def test_session_deployment_ignores_a_bearer_header(api: Api) -> None:
    token = api.token()
    ignored = api.http.get(UAM + "ProjectsForCurrentUser", headers={"Authorization": f"Bearer {token}"})
    problem(ignored, 401, "Unauthorized Access")  # the header was ignored and the session code is missing
    bad_header = {"Authorization": "Bearer nope"}
    listed = api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": api.session()}, headers=bad_header)
    assert listed.status_code == 200  # a bad token in the ignored header does not matter either


def test_bearer_deployment(tmp_path: Path, worker: tuple[str, ...]) -> None:
    """HEAppE with ``UseBearerAuth``: the token on every call, ``AuthenticateLexisToken`` says so, session codes
    only from the other logins and only on calls without the header."""
    with EmulatorServer(make_config(tmp_path, worker, heappe_auth="bearer")) as emu:
        api = Api(emu.url)
        try:
            token = api.token()
            bearer = {"Authorization": f"Bearer {token}"}
            credentials = {"Credentials": {"Username": "alice", "OpenIdAccessToken": token}}
            login = api.http.post(UAM + "AuthenticateLexisToken", json=credentials)
            assert login.status_code == 200 and login.json() == "HEADER-AUTH-NEEDED"
            # no token check there (the middleware checks each call), but the body is still bound
            assert api.http.post(UAM + "AuthenticateLexisToken", json={"Credentials": {}}).status_code == 400
            # a client that took "HEADER-AUTH-NEEDED" for a session code
            problem(
                api.http.get(UAM + "ProjectsForCurrentUser", params={"SessionCode": login.json()}),
                401,
                "Unauthorized Access",
            )
            problem(api.http.get(JM + "ListJobsForCurrentUser"), 401, "Unauthorized Access")
            # the whole life cycle on the header alone; a session code beside it is ignored
            [entry] = api.http.get(UAM + "ProjectsForCurrentUser", headers=bearer).json()
            [cluster] = api.http.get("/heappe/ClusterInformation/ListAvailableClusters", headers=bearer).json()
            node_type = cluster["NodeTypes"][0]
            ids = {
                "ClusterId": cluster["Id"],
                "FileTransferMethodId": node_type["FileTransferMethodId"],
                "ClusterNodeTypeId": node_type["Id"],
                "ProjectId": entry["Project"]["Id"],
                "CommandTemplateId": next(
                    t["Id"] for t in node_type["Projects"][0]["CommandTemplates"] if t["Name"] == "qaas-run"
                ),
            }
            created = api.http.post(
                JM + "CreateJob",
                json={"SessionCode": "not-a-session", "JobSpecification": api.spec(ids)},
                headers=bearer,
            )
            assert created.status_code == 200, created.text
            job = created.json()
            params = {"JobId": job["Id"], "TaskId": job["Tasks"][0]["Id"]}
            parts = [("files", ("request.json", request_json(), "application/json"))]
            uploaded = api.http.post(FT + "UploadFilesToJobExecutionDir", params=params, files=parts, headers=bearer)
            assert uploaded.status_code == 200
            submitted = api.http.put(JM + "SubmitJob", json={"SessionCode": "", "CreatedJobInfoId": job["Id"]},
                                     headers=bearer)  # fmt: skip
            assert submitted.status_code == 200
            info = api.http.get(JM + "CurrentInfoForJob", params={"SubmittedJobInfoId": job["Id"]}, headers=bearer)
            assert info.status_code == 200
            # a bad token: the middleware's plain-text 401, on every route but the anonymous Health
            nope = {"Authorization": "Bearer nope"}
            rejected = api.http.get(JM + "CurrentInfoForJob", params={"SubmittedJobInfoId": job["Id"]}, headers=nope)
            assert (rejected.status_code, rejected.text) == (401, "Unauthorized")
            assert rejected.headers["content-type"].startswith("text/plain")
            password = {"Credentials": {"Username": "bob", "Password": "bob-heappe-password"}}
            assert api.http.post(UAM + "AuthenticateUserPassword", json=password, headers=nope).status_code == 401
            assert api.http.get("/heappe/Health", headers=nope).status_code == 200
            # without the header, a session code from another login still works
            sc = api.http.post(UAM + "AuthenticateUserPassword", json=password).json()
            assert GUID.match(sc)
            assert api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc}).json() == []
        finally:
            api.close()


def test_discovery_calls(api: Api) -> None:
    sc = api.session()
    [entry] = api.http.get(UAM + "ProjectsForCurrentUser", params={"SessionCode": sc}).json()
    assert entry["Role"]["Name"] == "Submitter"
    project = entry["Project"]
    assert project["AccountingString"] == "EQE1-CZ-P0001"
    shipped = {t.name for t in command_templates()}  # the templates sites register (deploy/*.json)
    assert {"qaas-run", "qaas-calibrate"} <= shipped
    assert {t["Name"] for t in project["CommandTemplates"]} == shipped
    assert all(isinstance(t["TemplateParameters"], list) for t in project["CommandTemplates"])
    assert project["ClusterProjectStoragePaths"][0]["ClusterName"] == "VLQ-emulator"
    assert project["KeyScriptsDirectoryPath"] is None
    user = api.http.get(UAM + "CurrentUserInfo", params={"sessionCode": sc}).json()  # case-insensitive binding
    assert user["Username"] == "alice" and user["PublicKey"] is None
    [group] = user["AdaptorUserGroups"]
    assert group["Roles"] == ["Submitter"]  # AdaptorUserGroupExt.Roles is string[] (the role names)
    [cluster] = api.http.get("/heappe/ClusterInformation/ListAvailableClusters", params={"SessionCode": sc}).json()
    assert cluster["FileTransferMethodIds"] == [1]
    [node_type] = cluster["NodeTypes"]
    assert [p["AccountingString"] for p in node_type["Projects"]] == ["EQE1-CZ-P0001"]  # bob's project not listed
    filtered = api.http.get(
        "/heappe/ClusterInformation/ListAvailableClusters",
        params={"SessionCode": sc, "CommandTemplateName": "qaas-calibrate"},
    ).json()
    templates = filtered[0]["NodeTypes"][0]["Projects"][0]["CommandTemplates"]
    assert [t["Name"] for t in templates] == ["qaas-calibrate"]
    assert (
        api.http.get(
            "/heappe/ClusterInformation/ListAvailableClusters", params={"SessionCode": sc, "ClusterName": "nope"}
        ).json()
        == []
    )


# -- authentication ------------------------------------------------------------------------------------------------


def test_password_authentication(api: Api) -> None:
    ok = api.http.post(
        UAM + "AuthenticateUserPassword", json={"Credentials": {"Username": "bob", "Password": "bob-heappe-password"}}
    )
    assert ok.status_code == 200 and GUID.match(ok.json())
    wrong = api.http.post(
        UAM + "AuthenticateUserPassword", json={"Credentials": {"Username": "bob", "Password": "bob-password"}}
    )
    problem(wrong, 502, "External Service Error")
    missing = api.http.post(UAM + "AuthenticateUserPassword", json={"Credentials": {"Username": "bob"}})
    assert missing.status_code == 400
    assert missing.json()["title"] == "One or more validation errors occurred."
    assert missing.json()["errors"]
    too_big = api.http.post(
        UAM + "AuthenticateUserPassword", json={"Credentials": {"Username": "bob", "Password": "x" * 120}}
    )
    problem(too_big, 413, "Request body too large.")


def test_lexis_token_authentication_errors(api: Api) -> None:
    bad = api.http.post(
        UAM + "AuthenticateLexisToken", json={"Credentials": {"Username": "alice", "OpenIdAccessToken": "a.b.c"}}
    )
    problem(bad, 401, "UserOrg Authentication Problem")
    someone_else = api.http.post(
        UAM + "AuthenticateLexisToken",
        json={"Credentials": {"Username": "bob", "OpenIdAccessToken": api.token("alice")}},
    )
    problem(someone_else, 401, "UserOrg Authentication Problem")
    missing = api.http.post(UAM + "AuthenticateLexisToken", json={"Credentials": {"Username": "alice"}})
    assert missing.status_code == 400
    assert "OpenIdAccessToken" in json.dumps(missing.json()["errors"])
    malformed = api.http.post(
        UAM + "AuthenticateLexisToken", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["status"] == 400
    no_session = api.http.get(JM + "ListJobsForCurrentUser")
    problem(no_session, 401, "Unauthorized Access")
    unknown = api.http.get(
        JM + "ListJobsForCurrentUser", params={"SessionCode": "00000000-0000-0000-0000-000000000000"}
    )
    problem(unknown, 401, "Unauthorized Access")  # UnauthorizedAccessException; an expired one is another title


def test_session_codes_slide_and_expire(tmp_path: Path, worker: tuple[str, ...], qaas_clock: FakeClock) -> None:
    with EmulatorServer(make_config(tmp_path, worker, clock=qaas_clock)) as emu:
        assert emu.config.session_expiry_seconds == 900
        api = Api(emu.url)
        try:
            sc = api.session()
            for _ in range(4):  # used every 600 s: alive for 2400 s although the expiry is 900 s
                qaas_clock.advance(600)
                assert api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc}).status_code == 200
            assert api.session() == sc  # re-authenticating while valid gives the same code
            qaas_clock.advance(901)
            expired = api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc})
            problem(expired, 401, "Session Code Authentication Problem")
            fresh = api.session()
            assert fresh != sc
            assert api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": fresh}).status_code == 200
        finally:
            api.close()


# -- validation and error statuses ---------------------------------------------------------------------------------


def without(spec: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != key}


def task_without(spec: dict[str, Any], key: str) -> dict[str, Any]:
    return {**spec, "Tasks": [{k: v for k, v in spec["Tasks"][0].items() if k != key}]}


def task_with(spec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**spec, "Tasks": [{**spec["Tasks"][0], **fields}]}


def test_create_job_validation(api: Api) -> None:
    sc = api.session()
    ids = api.target(sc)
    base = api.spec(ids)
    bob_template = api.target(api.session("bob"))["CommandTemplateId"]
    invalid = {
        "no name": without(base, "Name"),
        "illegal name": {**base, "Name": "rm -rf /; x"},
        "long name": {**base, "Name": "n" * 51},
        "no tasks": {**base, "Tasks": []},
        "no progress file": task_without(base, "ProgressFile"),
        "no log file": task_without(base, "LogFile"),
        "zero cores": task_with(base, MaxCores=0, MinCores=None),
        "min above max": task_with(base, MinCores=2, MaxCores=1),
        "no walltime": task_without(base, "WalltimeLimit"),
        "walltime above max": task_with(base, WalltimeLimit=7201),
        "priority": task_with(base, Priority=9),
        "stdout path": task_with(base, StandardOutputFile="../out.txt"),
        "subdirectory traversal": task_with(base, ClusterTaskSubdirectory="a/../../b"),
        "unknown template": task_with(base, CommandTemplateId=999),
        "other project's template": task_with(base, CommandTemplateId=bob_template),
        "unknown node type": task_with(base, ClusterNodeTypeId=42),
        "unknown cluster": without(base, "ClusterId"),
        "unknown project": {**base, "ProjectId": 999},
        "zero project": {**base, "ProjectId": 0},
        "unknown parameter": task_with(
            base, TemplateParameterValues=[{"CommandParameterIdentifier": "x", "ParameterValue": "1"}]
        ),
        "env name": {**base, "EnvironmentVariables": [{"Name": "BAD-NAME", "Value": "1"}]},
        "env value": {**base, "EnvironmentVariables": [{"Name": "LONG", "Value": "v" * 101}]},
        "job arrays": task_with(base, JobArrays="all"),
        "dependency": task_with(base, DependsOn=[{"Name": "nowhere"}]),
    }
    for label, spec in invalid.items():
        problem(api.create(sc, spec), 404, "Validation Problem")
        assert label  # (kept for the failure message of the line above)
    # another user's project: the Submitter role is missing
    problem(
        api.create(sc, {**base, "ProjectId": api.target(api.session("bob"))["ProjectId"]}), 401, "Unauthorized Access"
    )
    # the server dereferences these nullable fields: a 500, never a traceback
    problem(api.create(sc, without(base, "FileTransferMethodId")), 500, "Problem")
    problem(api.create(sc, task_without(base, "ClusterNodeTypeId")), 500, "Problem")
    # model binding failures: 400 ValidationProblemDetails
    for body in (
        {"SessionCode": sc},
        {"SessionCode": sc, "JobSpecification": {**base, "ProjectId": "one"}},
        {"SessionCode": sc, "JobSpecification": {**base, "Tasks": {"Name": "x"}}},
    ):
        answer = api.http.post(JM + "CreateJob", json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["title"] == "One or more validation errors occurred."
    form = api.http.post(JM + "CreateJob", data={"SessionCode": sc})
    assert form.status_code == 415
    # case-insensitive input keys work
    lowered = json.loads(json.dumps(base).replace('"Name"', '"name"').replace('"ProjectId"', '"projectId"'))
    assert api.create(sc, lowered).status_code == 200


def test_unknown_ids_are_404(api: Api) -> None:
    sc = api.session()
    problem(api.info(sc, 987654), 404, "Validation Problem")
    problem(api.submit(sc, 987654), 404, "Validation Problem")
    problem(api.cancel(sc, 987654), 404, "Validation Problem")
    problem(api.delete(sc, 987654), 404, "Validation Problem")
    problem(api.download(sc, 987654, "/1/x"), 404, "Validation Problem")
    problem(api.submit(sc, 0), 404, "Validation Problem")
    missing_id = api.http.get(JM + "CurrentInfoForJob", params={"SessionCode": sc})
    problem(missing_id, 404, "Validation Problem")
    not_a_number = api.http.get(JM + "CurrentInfoForJob", params={"SessionCode": sc, "SubmittedJobInfoId": "abc"})
    assert not_a_number.status_code == 400
    problem(
        api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc, "JobStates": "3"}),
        404,
        "Validation Problem",
    )


def test_body_limits_give_413(api: Api) -> None:
    sc = api.session()
    pad = "x" * 200
    cases = [
        ("PUT", JM + "SubmitJob", {"SessionCode": sc, "CreatedJobInfoId": 1, "Pad": pad[:20]}),
        ("PUT", JM + "CancelJob", {"SessionCode": sc, "SubmittedJobInfoId": 1, "Pad": pad[:30]}),
        (
            "DELETE",
            JM + "DeleteJob",
            {"SessionCode": sc, "SubmittedJobInfoId": 1, "ArchiveLogs": False, "Pad": pad[:30]},
        ),
        (
            "POST",
            FT + "DownloadFileFromCluster",
            {"SessionCode": sc, "SubmittedJobInfoId": 1, "RelativeFilePath": "/1/" + "a" * 700},
        ),
        (
            "POST",
            FT + "DownloadPartsOfJobFilesFromCluster",
            {
                "SessionCode": sc,
                "SubmittedJobInfoId": 1,
                "TaskFileOffsets": [{"SubmittedTaskInfoId": 1, "FileType": 0, "Offset": 0}] * 10,
            },
        ),
        ("POST", UAM + "AuthenticateLexisToken", {"Credentials": {"OpenIdAccessToken": "t" * 2100}}),
        ("POST", JM + "CreateJob", {"SessionCode": sc, "JobSpecification": {"Name": "x" * 250_001}}),
    ]
    for method, path, body in cases:
        problem(api.http.request(method, path, json=body), 413, "Request body too large.")
    # compact bodies just under the limits pass the size check
    assert len(json.dumps({"SessionCode": sc, "CreatedJobInfoId": 1234567}, separators=(",", ":"))) <= 94
    assert api.submit(sc, 1234567).status_code == 404


def test_wrong_states_for_submit_cancel_delete(api: Api) -> None:
    sc = api.session()
    ids = api.target(sc)
    configuring = api.created(sc, api.spec(ids))
    canceled = api.cancel(sc, configuring["Id"])
    assert canceled.status_code == 200 and canceled.json()["State"] == 64
    problem(api.cancel(sc, configuring["Id"]), 400, "Invalid Request")
    problem(api.submit(sc, configuring["Id"]), 404, "Validation Problem")

    done = api.run_to_end(sc, api.spec(ids), {"request.json": request_json()})
    assert done["State"] == 16
    problem(api.submit(sc, done["Id"]), 404, "Validation Problem")
    detail = problem(api.cancel(sc, done["Id"]), 400, "Invalid Request")["detail"]
    assert "Finished" in detail

    sleeping = api.created(sc, api.spec(ids, mode="sleep"))
    api.submit(sc, sleeping["Id"])
    api.wait(sc, sleeping["Id"], lambda j: j["State"] == 8)
    api.wait_file(sc, sleeping["Id"], f"/{sleeping['Tasks'][0]['Id']}/stdout.txt")
    problem(api.delete(sc, sleeping["Id"]), 400, "Invalid Request")
    assert api.cancel(sc, sleeping["Id"]).json()["State"] == 64
    assert api.delete(sc, sleeping["Id"], ArchiveLogs=True).status_code == 200
    # the archived logs stay listable and downloadable after deletion
    stdout = f"/{sleeping['Tasks'][0]['Id']}/stdout.txt"
    archived = api.http.get(
        FT + "ListChangedFilesForJob", params={"SessionCode": sc, "SubmittedJobInfoId": sleeping["Id"]}
    )
    assert stdout in {f["FileName"] for f in archived.json()}
    assert b"fake worker run" in api.download_bytes(sc, sleeping["Id"], stdout)
    problem(api.delete(sc, sleeping["Id"]), 400, "Invalid Request")  # already deleted
    deleted_configuring = api.created(sc, api.spec(ids))
    assert api.delete(sc, deleted_configuring["Id"]).json() == "Job was deleted"


def test_other_users_cannot_see_or_touch_a_job(api: Api) -> None:
    alice, bob = api.session("alice"), api.session("bob")
    job = api.run_to_end(alice, api.spec(api.target(alice)), {"request.json": request_json()})
    task = job["Tasks"][0]["Id"]
    title = "Session Code Authentication Problem"
    problem(api.info(bob, job["Id"]), 401, title)
    problem(api.cancel(bob, job["Id"]), 401, title)
    problem(api.delete(bob, job["Id"]), 401, title)
    problem(api.download(bob, job["Id"], f"/{task}/result.json"), 401, title)
    listed = api.http.get(FT + "ListChangedFilesForJob", params={"SessionCode": bob, "SubmittedJobInfoId": job["Id"]})
    problem(listed, 401, title)
    bobs_jobs = api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": bob}).json()
    assert job["Id"] not in {j["Id"] for j in bobs_jobs}
    # HEAppE's upload controller throws a plain exception here: 500 "Problem"
    problem(api.upload(bob, job, {"evil.txt": b"x"}), 500, "Problem")
    assert api.info(alice, job["Id"]).json()["State"] == 16


# -- the emulated cluster ------------------------------------------------------------------------------------------


def test_cancel_kills_a_running_process(api: Api) -> None:
    sc = api.session()
    job = api.created(sc, api.spec(api.target(sc), mode="sleep"))
    api.submit(sc, job["Id"])
    api.wait(sc, job["Id"], lambda j: j["State"] == 8)
    pid = int(api.wait_file(sc, job["Id"], f"/{job['Tasks'][0]['Id']}/pid.txt"))
    canceled = api.cancel(sc, job["Id"])
    assert canceled.status_code == 200
    assert canceled.json()["State"] == 64
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the canceled task's process is still alive"
        time.sleep(0.05)
    final = api.info(sc, job["Id"]).json()
    assert final["State"] == 64 and final["Tasks"][0]["State"] == 64


def test_walltime_limit_kills_the_task(api: Api) -> None:
    sc = api.session()
    done = api.run_to_end(sc, api.spec(api.target(sc), mode="sleep", WalltimeLimit=1))
    assert done["State"] == 32
    assert "walltime" in done["Tasks"][0]["ErrorMessage"]


def test_nonzero_exit_fails_with_the_stderr_tail(api: Api) -> None:
    sc = api.session()
    done = api.run_to_end(sc, api.spec(api.target(sc), mode="fail"))
    assert done["State"] == 32
    message = done["Tasks"][0]["ErrorMessage"]
    assert "code 3" in message and "boom" in message
    stderr = api.download_bytes(sc, done["Id"], f"/{done['Id']}/{done['Tasks'][0]['Id']}/stderr.txt")
    assert b"something went wrong: boom" in stderr


def test_download_paths_are_confined_to_the_job(api: Api) -> None:
    sc = api.session()
    done = api.run_to_end(sc, api.spec(api.target(sc), mode="symlink"))
    assert done["State"] == 16
    task = done["Tasks"][0]["Id"]
    for path in (
        f"/{task}/../../../../../etc/passwd",
        "/../secret",
        f"/{task}/a\\..\\b",
        f"/{task}/escape",
        "/1/2/../../x",
    ):
        problem(api.download(sc, done["Id"], path), 404, "Validation Problem")
    problem(api.download(sc, done["Id"], f"/{task}/missing.json"), 400, "Invalid Request")
    other = api.run_to_end(sc, api.spec(api.target(sc)), {"request.json": request_json()})
    # the /<jobId>/<taskId>/ form cannot reach another job's directory
    problem(
        api.download(sc, done["Id"], f"/{other['Id']}/{other['Tasks'][0]['Id']}/result.json"), 404, "Validation Problem"
    )


def test_upload_sanitizes_names_and_lands_in_the_right_directory(emu: EmulatorServer, api: Api) -> None:
    sc = api.session()
    job = api.created(sc, api.spec(api.target(sc)))
    answer = api.upload(sc, job, {"../../evil name.txt": b"1", "..": b"2", "ok.json": b"{}"}, task=False)
    assert answer.status_code == 200
    results = {r["FileName"]: r for r in answer.json()}
    job_dir = emu.config.state_dir / "cluster" / "qaas-svc-p1" / str(job["Id"])  # alice's project account
    assert results["../../evil name.txt"]["Succeeded"] is True
    assert Path(results["../../evil name.txt"]["Path"]) == job_dir / "evil_name.txt"
    assert results[".."]["Succeeded"] is False and results[".."]["Path"] is None
    assert (job_dir / "ok.json").read_bytes() == b"{}"
    assert not list(job_dir.glob("*.part"))
    problem(api.upload(sc, {**job, "Tasks": [{"Id": 424242}]}, {"x": b"1"}), 500, "Problem")


def test_dependencies_environment_and_log_tails(api: Api) -> None:
    sc = api.session()
    ids = api.target(sc)
    spec = api.spec(ids, mode="chatty")
    first = {**spec["Tasks"][0], "Name": "first", "EnvironmentVariables": [{"Name": "TASKVAR", "Value": "t1"}]}
    second = {**spec["Tasks"][0], "Name": "second", "DependsOn": [first], "ClusterTaskSubdirectory": "sub/dir"}
    spec["Tasks"] = [first, second]
    spec["EnvironmentVariables"] += [
        {"Name": "DUP", "Value": "first"},
        {"Name": "DUP", "Value": "second"},
        {"Name": "TASKVAR", "Value": "job"},
    ]
    done = api.run_to_end(sc, spec)
    assert done["State"] == 16
    one, two = done["Tasks"]
    assert two["StartTime"] >= one["EndTime"]
    env_one = json.loads(api.download_bytes(sc, done["Id"], f"/{one['Id']}/env.json"))
    env_two = json.loads(api.download_bytes(sc, done["Id"], f"/{two['Id']}/sub/dir/env.json"))
    assert env_one["DUP"] == "first" and env_one["TASKVAR"] == "t1"
    assert env_two["TASKVAR"] == "job"
    names = {
        f["FileName"]
        for f in api.http.get(
            FT + "ListChangedFilesForJob", params={"SessionCode": sc, "SubmittedJobInfoId": done["Id"]}
        ).json()
    }
    assert f"/{two['Id']}/sub/dir/stdout.txt" in names
    parts = api.http.post(
        FT + "DownloadPartsOfJobFilesFromCluster",
        json={
            "SessionCode": sc,
            "SubmittedJobInfoId": done["Id"],
            "TaskFileOffsets": [
                {"SubmittedTaskInfoId": one["Id"], "FileType": 3, "Offset": 0},
                {"SubmittedTaskInfoId": two["Id"], "FileType": 3, "Offset": 5},
            ],
        },
    )
    assert parts.status_code == 200
    whole, tail = parts.json()
    assert whole["Content"].startswith("fake worker run\nline 0")
    assert whole["FileType"] == 3 and whole["RelativePath"] == f"/{one['Id']}/stdout.txt"
    assert tail["Content"] == whole["Content"][5:]
    assert tail["RelativePath"] == f"/{two['Id']}/sub/dir/stdout.txt"


def test_template_parameters_are_substituted_and_checked(tmp_path: Path, worker: tuple[str, ...]) -> None:
    from qaas_core.emulator._lexis import load_seed

    seed = load_seed(None)
    # a seed adds templates in the format of the ones sites register (deploy/*.json)
    seed["heappe"]["command_templates"] = [
        {
            "Name": "tagged-run",
            "ClusterNodeTypeName": "qexecute",
            "ExecutableFile": "@PYTHON@",
            "CommandParameters": "-I -m qaas_core.worker --config @CONFIG@ run --tag %%{tag} --mode=%%{mode}",
            "TemplateParameters": [{"Identifier": "tag"}, {"Identifier": "mode", "Default": "fast"}],
        }
    ]
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    with EmulatorServer(make_config(tmp_path, worker)) as emu:
        api = Api(emu.url)
        try:
            sc = api.session()
            ids = api.target(sc, template="tagged-run")
            spec = api.spec(ids, mode="env")
            problem(api.create(sc, spec), 404, "Validation Problem")  # tag has no value
            for value in ("a;rm -rf", "../x", "$(id)", "a/b"):
                bad = task_with(
                    spec, TemplateParameterValues=[{"CommandParameterIdentifier": "tag", "ParameterValue": value}]
                )
                problem(api.create(sc, bad), 404, "Validation Problem")
            names = api.http.post(
                "/heappe/ClusterInformation/RequestCommandTemplateParametersName",
                json={"SessionCode": sc, "CommandTemplateId": ids["CommandTemplateId"], "ProjectId": ids["ProjectId"]},
            )
            assert names.json() == ["tag", "mode"]
            good = task_with(
                spec, TemplateParameterValues=[{"CommandParameterIdentifier": "tag", "ParameterValue": "x1"}]
            )
            done = api.run_to_end(sc, good)
            assert done["State"] == 16
            argv = json.loads(api.download_bytes(sc, done["Id"], f"/{done['Tasks'][0]['Id']}/argv.json"))
            assert argv == ["run", "--tag", "x1", "--mode=fast"]
        finally:
            api.close()


def test_restart_keeps_jobs_files_and_sessions(tmp_path: Path, worker: tuple[str, ...]) -> None:
    with EmulatorServer(make_config(tmp_path, worker)) as emu:
        api = Api(emu.url)
        try:
            sc = api.session()
            ids = api.target(sc)
            done = api.run_to_end(sc, api.spec(ids), {"request.json": request_json("kept")})
            running = api.created(sc, api.spec(ids, mode="sleep"))
            api.submit(sc, running["Id"])
            api.wait(sc, running["Id"], lambda j: j["State"] == 8)
            queued = api.created(sc, api.spec(ids))
            api.upload(sc, queued, {"request.json": request_json("later")})
        finally:
            api.close()
    with EmulatorServer(make_config(tmp_path, worker)) as emu:
        api = Api(emu.url)
        try:
            again = api.info(sc, done["Id"])  # the session code survived too
            assert again.status_code == 200
            assert again.json() == api.info(sc, done["Id"]).json()
            assert again.json()["State"] == 16 and again.json()["CreationTime"] == done["CreationTime"]
            result = json.loads(api.download_bytes(sc, done["Id"], f"/{done['Tasks'][0]['Id']}/result.json"))
            assert result["submission_id"] == "kept"
            # the cluster job "kept running" across the HEAppE restart: it is queued again and runs once more
            interrupted = api.wait(sc, running["Id"], lambda j: j["State"] == 8)
            assert interrupted["Tasks"][0]["ErrorMessage"] in (None, "")
            assert api.cancel(sc, running["Id"]).status_code == 200
            assert api.submit(sc, queued["Id"]).status_code == 200
            assert api.wait(sc, queued["Id"], lambda j: j["State"] in TERMINAL)["State"] == 16
            newer = api.created(sc, api.spec(ids))
            assert newer["Id"] > queued["Id"]
            assert newer["Tasks"][0]["Id"] > queued["Tasks"][0]["Id"]
        finally:
            api.close()


# -- faults --------------------------------------------------------------------------------------------------------


def test_fault_503_with_retry_after_then_recovery(emu: EmulatorServer, api: Api) -> None:
    sc = api.session()
    job = api.created(sc, api.spec(api.target(sc)))
    rule = {"path": "CurrentInfoForJob$", "status": 503, "retry_after": 2, "count": 2}
    assert api.http.post("/_emulator/faults", json=[rule], headers=emu.admin_headers).status_code == 200
    for _ in range(2):
        answer = api.info(sc, job["Id"])
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "2"
    assert api.info(sc, job["Id"]).status_code == 200


def test_fault_delay_and_dropped_connection(emu: EmulatorServer, api: Api) -> None:
    sc = api.session()
    job = api.created(sc, api.spec(api.target(sc)))
    delay = {"path": "CurrentInfoForJob", "action": "delay", "delay_seconds": 0.4}
    api.http.post("/_emulator/faults", json=[delay], headers=emu.admin_headers)
    started = time.monotonic()
    assert api.info(sc, job["Id"]).status_code == 200
    assert time.monotonic() - started >= 0.4
    drop = {"path": "CurrentInfoForJob", "method": "GET", "action": "drop"}
    api.http.post("/_emulator/faults", json=[drop], headers=emu.admin_headers)
    with pytest.raises(httpx.TransportError):
        api.info(sc, job["Id"])
    assert api.info(sc, job["Id"]).status_code == 200


def test_fault_fail_next_job_and_expire_sessions(emu: EmulatorServer, api: Api) -> None:
    sc = api.session()
    ids = api.target(sc)
    api.http.post(
        "/_emulator/faults",
        json=[{"action": "fail_next_job", "job_name": "^doomed$", "message": "injected: QPU offline"}],
        headers=emu.admin_headers,
    )
    done = api.run_to_end(sc, api.spec(ids, name="doomed"), {"request.json": request_json()})
    assert done["State"] == 32
    assert done["Tasks"][0]["ErrorMessage"] == "injected: QPU offline"
    fine = api.run_to_end(sc, api.spec(ids, name="doomed"), {"request.json": request_json()})
    assert fine["State"] == 16  # the rule fired once

    expire = {"action": "expire_sessions", "path": "ListJobsForCurrentUser"}
    api.http.post("/_emulator/faults", json=[expire], headers=emu.admin_headers)
    problem(
        api.http.get(JM + "ListJobsForCurrentUser", params={"SessionCode": sc}),
        401,
        "Session Code Authentication Problem",
    )
    assert api.session() != sc
