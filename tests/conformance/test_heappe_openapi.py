"""The emulated HEAppE as IT4I's generated client sees it: every answer against HEAppE V6.3's OpenAPI document.

IT4I generates py4heappe from the OpenAPI document a live HEAppE serves. py4heappe **2.6.0** is the release whose
``heappe_v6`` package was generated from the **v6.3.0** document (2.5 from v6.2.0, 2.7–2.9 from v6.4.0, 3.x and 4.0
from v6.5.0, which adds members V6.3.2 does not have, e.g. ``AdaptorUserExt.IsBlocked``,
``SubmittedJobInfoExt.StateSource``, ``ClusterExt.MasterNodeName``), so its models are the document we emulate.

The lifecycle is driven through py4heappe's own generated API classes (``HealthApi``,
``UserAndLimitationManagementApi``, ``ClusterInformationApi``, ``JobManagementApi``, ``FileTransferApi``) on a
HEAppE in each authentication mode. Every answer goes through py4heappe's ``ApiClient.deserialize`` and, because
that swagger-codegen deserializer is lenient (``str(dict)`` passes as a string), through a strict reading of the same
generated models (``swagger_types``/``attribute_map``, enums' allowed values): each object carries exactly the
members of its model (HEAppE emits nulls rather than omitting), each member has its declared type, each enum
value is allowed. Nullability is not in these models, so ``null`` is accepted for any member. Error answers are
checked against the document's ``ProblemDetails`` (``type``, ``title``, ``status``, ``detail``, ``instance``;
``status`` equal to the HTTP status; ASP.NET's binding errors add ``errors`` and ``traceId``), and the bearer
middleware's refusal is its plain-text ``Unauthorized``.

Needs the ``emulator`` extra and ``py4heappe==2.6.0`` (the ``heappe-conformance`` nox session); skipped without.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from py4heappe.heappe_v6 import core
from py4heappe.heappe_v6.core import models
from py4heappe.heappe_v6.core.rest import ApiException

from qaas_core.emulator import EmulatorConfig, EmulatorServer

OIDC = "/auth/realms/lexis/protocol/openid-connect/token"
TERMINAL = {16, 32, 64}
PROBLEM_MEMBERS: dict[str, type] = {"type": str, "title": str, "status": int, "detail": str, "instance": str}
BINDING_MEMBERS: dict[str, type] = {"errors": dict, "traceId": str}  # ASP.NET's ValidationProblemDetails
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")

FAKE_WORKER = r"""
import json, pathlib, sys
here = pathlib.Path.cwd()
request = json.loads((here / "request.json").read_text())
(here / "progress.json").write_text(json.dumps({"events": [{"status": "received"}, {"status": "ready"}]}))
(here / "result.json").write_text(json.dumps({"schema": "qaas.result/1", "status": "ready",
                                             "submission_id": request["submission_id"]}))
print("fake worker done", flush=True)
"""


# -- the strict reading of py4heappe's models ----------------------------------------------------------------------


def _enum_values(klass: type) -> set[str] | None:
    """The allowed values of a generated enum class (``_16 = "16"``), or None for a model."""
    if getattr(klass, "swagger_types", None):
        return None
    values = {v for k, v in vars(klass).items() if re.fullmatch(r"_\d+", k) and isinstance(v, str)}
    return values or None


def conform(value: Any, declared: str, where: str = "$") -> None:
    """Assert that a JSON value is what py4heappe's generated type string ``declared`` describes."""
    if value is None:
        return  # the v6.3.0 models carry no nullability
    if declared.startswith("list["):
        assert isinstance(value, list), f"{where}: {type(value).__name__} where {declared} is declared"
        for i, item in enumerate(value):
            conform(item, declared[5:-1], f"{where}[{i}]")
        return
    if declared.startswith("dict("):
        assert isinstance(value, dict), f"{where}: {type(value).__name__} where {declared} is declared"
        return
    primitive = {"str": str, "bool": bool, "object": object}
    if declared in primitive:
        assert isinstance(value, primitive[declared]), f"{where}: {value!r} is not {declared}"
        return
    if declared == "int":
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an integer"
        return
    if declared == "float":
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
        return
    if declared in ("datetime", "date"):
        assert isinstance(value, str) and _DATETIME.match(value), f"{where}: {value!r} is not an ISO-8601 date-time"
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return
    klass = getattr(models, declared)
    allowed = _enum_values(klass)
    if allowed is not None:  # enums travel as integers
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not a {declared} integer"
        assert str(value) in allowed, f"{where}: {value} is not a {declared} ({sorted(allowed, key=int)})"
        return
    assert isinstance(value, dict), f"{where}: {type(value).__name__} where {declared} is declared"
    members = {klass.attribute_map[a]: t for a, t in klass.swagger_types.items()}
    assert set(value) == set(members), (
        f"{where}: {declared} has members {sorted(members)}; the answer has {sorted(value)} "
        f"(missing {sorted(set(members) - set(value))}, unknown {sorted(set(value) - set(members))})"
    )
    for name, member_type in members.items():
        conform(value[name], member_type, f"{where}.{name}")


def conform_problem(error: ApiException, status: int, title: str) -> dict[str, Any]:
    """An error answer: ProblemDetails of that status and title."""
    assert error.status == status, f"{error.status} instead of {status}: {error.body!r}"
    content_type = dict(error.headers).get("content-type", "")
    assert content_type.startswith(("application/json", "application/problem+json")), content_type
    body = json.loads(error.body)
    assert isinstance(body, dict)
    known = {**PROBLEM_MEMBERS, **BINDING_MEMBERS}
    assert set(body) <= set(known), f"unknown ProblemDetails members {sorted(set(body) - set(known))}"
    for name, value in body.items():
        assert isinstance(value, known[name]), f"ProblemDetails.{name}: {value!r}"
    assert body["status"] == status and body["title"] == title, body
    return body


class RecordingApiClient(core.ApiClient):  # type: ignore[misc]
    """py4heappe's ApiClient, which also reads every answer it deserializes strictly (and keeps them)."""

    def __init__(self, host: str, bearer: str | None = None) -> None:
        configuration = core.Configuration()
        configuration.host = host
        header = ("Authorization", f"Bearer {bearer}") if bearer else (None, None)
        super().__init__(configuration, *header)
        self.answers: list[tuple[str, int, Any]] = []

    def deserialize(self, response: Any, response_type: str) -> Any:
        status = response.status
        if status == 204:
            assert not response.data, "a 204 answer with a body"
            self.answers.append((response_type, status, None))
        else:
            value = json.loads(response.data)
            conform(value, response_type, response_type)
            self.answers.append((response_type, status, value))
        return super().deserialize(response, response_type)


# -- the emulator and the generated API classes --------------------------------------------------------------------


@pytest.fixture(scope="module", params=["session", "bearer"])
def emu(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    script = tmp_path_factory.mktemp("worker") / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    config = EmulatorConfig(
        state_dir=tmp_path_factory.mktemp("heappe"),
        worker_command=(sys.executable, str(script)),
        worker_service=False,
        scheduler_tick_seconds=0.05,
        heappe_auth=request.param,
    )
    with EmulatorServer(config) as server:
        yield server


def lexis_token(emu: EmulatorServer, user: str = "alice") -> str:
    import httpx

    form = {"grant_type": "password", "client_id": "qaas", "username": user, "password": f"{user}-password"}
    return str(httpx.post(emu.url + OIDC, data=form, timeout=20).json()["access_token"])


class Heappe:
    """The generated API classes of one user, as IT4I's client uses them (session code or bearer token)."""

    def __init__(self, emu: EmulatorServer, user: str = "alice") -> None:
        self.mode = emu.config.heappe_auth
        self.token = lexis_token(emu, user)
        self.client = RecordingApiClient(emu.url, self.token if self.mode == "bearer" else None)
        self.users = core.UserAndLimitationManagementApi(self.client)
        self.clusters = core.ClusterInformationApi(self.client)
        self.jobs = core.JobManagementApi(self.client)
        self.files = core.FileTransferApi(self.client)
        self.health = core.HealthApi(self.client)
        self.management = core.ManagementApi(self.client)
        answer = self.users.heappe_user_and_limitation_management_authenticate_lexis_token_post(
            body={"Credentials": {"Username": user, "OpenIdAccessToken": self.token}}
        )
        assert isinstance(answer, str)
        if self.mode == "bearer":
            assert answer == "HEADER-AUTH-NEEDED"
            self.session_code: str | None = None
        else:
            assert re.fullmatch(r"[0-9a-f-]{36}", answer)
            self.session_code = answer

    def query(self, **params: Any) -> dict[str, Any]:
        """Query parameters of a GET, with the session code in session mode."""
        return {"SessionCode": self.session_code, **params} if self.session_code else params

    def body(self, **fields: Any) -> dict[str, Any]:
        """A request body, with the session code in session mode."""
        return {"SessionCode": self.session_code, **fields} if self.session_code else fields


@pytest.fixture(scope="module")
def alice(emu: EmulatorServer) -> Heappe:
    return Heappe(emu)


def job_spec(alice: Heappe, name: str = "conformance") -> dict[str, Any]:
    [cluster] = alice.clusters.heappe_cluster_information_list_available_clusters_get(**alice.query())
    node_type = next(n for n in cluster.node_types if n.name == "qexecute")
    project = node_type.projects[0]
    template = next(t for t in project.command_templates if t.name == "qaas-run")
    task = {
        "Name": "quantum_task", "MinCores": 1, "MaxCores": 1, "WalltimeLimit": 600, "Priority": 4,
        "ClusterNodeTypeId": node_type.id, "CommandTemplateId": template.id, "TemplateParameterValues": [],
        "ProgressFile": "progress.json", "LogFile": "log.txt",
        "StandardOutputFile": "stdout.txt", "StandardErrorFile": "stderr.txt",
    }  # fmt: skip
    return {"Name": name, "ProjectId": project.id, "ClusterId": cluster.id,
            "FileTransferMethodId": node_type.file_transfer_method_id, "Tasks": [task]}  # fmt: skip


def wait(alice: Heappe, job_id: int, until: Callable[[Any], bool], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        info = alice.jobs.heappe_job_management_current_info_for_job_get(**alice.query(SubmittedJobInfoId=job_id))
        if until(info):
            return info
        assert time.monotonic() < deadline, f"job {job_id} stuck in state {info.state}"
        time.sleep(0.05)


def raises(call: Callable[[], Any]) -> ApiException:
    with pytest.raises(ApiException) as info:
        call()
    return info.value


# -- the answers ---------------------------------------------------------------------------------------------------


def test_discovery(emu: EmulatorServer, alice: Heappe) -> None:
    health = alice.health.heappe_health_get()
    assert isinstance(health, models.HealthExt) and health.version.startswith("6.3.")
    assert health.component.vault.info.initialized is True
    version = alice.management.heappe_management_version_information_get(**alice.query())
    assert isinstance(version, models.VersionInformationExt)
    user = alice.users.heappe_user_and_limitation_management_current_user_info_get(**alice.query())
    assert user.username == "alice" and user.adaptor_user_groups[0].roles == ["Submitter"]
    [reference] = alice.users.heappe_user_and_limitation_management_projects_for_current_user_get(**alice.query())
    assert reference.role.name == "Submitter"
    [cluster] = alice.clusters.heappe_cluster_information_list_available_clusters_get(**alice.query())
    project = cluster.node_types[0].projects[0]
    template = next(t for t in project.command_templates if t.name == "qaas-run")
    names = alice.clusters.heappe_cluster_information_request_command_template_parameters_name_post(
        body=alice.body(CommandTemplateId=template.id, ProjectId=project.id, UserScriptPath=None)
    )
    assert names == [p.identifier for p in template.template_parameters]
    filtered = alice.clusters.heappe_cluster_information_list_available_clusters_get(
        **alice.query(CommandTemplateName="qaas-calibrate")
    )
    assert [t.name for t in filtered[0].node_types[0].projects[0].command_templates] == ["qaas-calibrate"]
    answered = {response_type for response_type, _, _ in alice.client.answers}
    assert {"HealthExt", "VersionInformationExt", "AdaptorUserExt", "list[ProjectReferenceExt]",
            "list[ClusterExt]", "list[str]"} <= answered  # fmt: skip


def test_job_lifecycle(alice: Heappe, tmp_path: Path) -> None:
    job = alice.jobs.heappe_job_management_create_job_post(body=alice.body(JobSpecification=job_spec(alice)))
    assert isinstance(job, models.SubmittedJobInfoExt) and job.state == 1
    task_id = job.tasks[0].id
    # before submission: no files yet (204, which py4heappe reads as an empty list)
    assert alice.files.heappe_file_transfer_list_changed_files_for_job_get(
        **alice.query(SubmittedJobInfoId=job.id)
    ) in (None, [])
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"schema": "qaas.run/1", "submission_id": "sub-1", "shots": 1, "circuits": []}))
    [stored] = alice.files.heappe_file_transfer_upload_files_to_job_execution_dir_post(
        files=[str(request)], **alice.query(JobId=job.id, TaskId=task_id)
    )
    assert stored.succeeded and stored.file_name == "request.json"
    submitted = alice.jobs.heappe_job_management_submit_job_put(body=alice.body(CreatedJobInfoId=job.id))
    assert submitted.state in (2, 4, 8, 16)
    done = wait(alice, job.id, lambda info: info.state in TERMINAL)
    assert done.state == 16 and done.tasks[0].node_type.project.command_template.name == "qaas-run"
    listed = alice.jobs.heappe_job_management_list_jobs_for_current_user_get(**alice.query(JobStates="16"))
    assert job.id in [j.id for j in listed]
    changed = alice.files.heappe_file_transfer_list_changed_files_for_job_get(**alice.query(SubmittedJobInfoId=job.id))
    names = {f.file_name for f in changed}
    assert f"/{task_id}/result.json" in names
    content = alice.files.heappe_file_transfer_download_file_from_cluster_post(
        body=alice.body(SubmittedJobInfoId=job.id, RelativeFilePath=f"/{task_id}/result.json")
    )
    assert json.loads(base64.b64decode(content))["status"] == "ready"
    missing = raises(lambda: alice.files.heappe_file_transfer_download_file_from_cluster_post(
        body=alice.body(SubmittedJobInfoId=job.id, RelativeFilePath=f"/{task_id}/nothing-here.txt")))  # fmt: skip
    conform_problem(missing, 400, "Invalid Request")
    offsets = [{"SubmittedTaskInfoId": task_id, "FileType": file_type, "Offset": 0} for file_type in range(4)]
    parts = alice.files.heappe_file_transfer_download_parts_of_job_files_from_cluster_post(
        body=alice.body(SubmittedJobInfoId=job.id, TaskFileOffsets=offsets)
    )
    assert [p.file_type for p in parts] == [0, 1, 2, 3] and "fake worker done" in parts[3].content
    deleted = alice.jobs.heappe_job_management_delete_job_delete(
        body=alice.body(SubmittedJobInfoId=job.id, ArchiveLogs=False)
    )
    assert deleted == "Job was deleted"
    assert wait(alice, job.id, lambda info: info.state == 256).tasks[0].state == 256


def test_cancel(alice: Heappe) -> None:
    job = alice.jobs.heappe_job_management_create_job_post(body=alice.body(JobSpecification=job_spec(alice)))
    canceled = alice.jobs.heappe_job_management_cancel_job_put(body=alice.body(SubmittedJobInfoId=job.id))
    assert isinstance(canceled, models.SubmittedJobInfoExt) and canceled.state == 64
    again = raises(lambda: alice.jobs.heappe_job_management_cancel_job_put(body=alice.body(SubmittedJobInfoId=job.id)))
    conform_problem(again, 400, "Invalid Request")


def test_error_bodies_are_problem_details(emu: EmulatorServer, alice: Heappe) -> None:
    users, jobs, files = alice.users, alice.jobs, alice.files
    unknown = raises(
        lambda: jobs.heappe_job_management_current_info_for_job_get(**alice.query(SubmittedJobInfoId=987654))
    )
    conform_problem(unknown, 404, "Validation Problem")
    job = jobs.heappe_job_management_create_job_post(body=alice.body(JobSpecification=job_spec(alice)))
    bob = Heappe(emu, "bob")
    other = raises(
        lambda: bob.jobs.heappe_job_management_current_info_for_job_get(**bob.query(SubmittedJobInfoId=job.id))
    )
    conform_problem(other, 401, "Session Code Authentication Problem")
    bad_spec = {**job_spec(alice), "ProjectId": "one"}
    binding = raises(lambda: jobs.heappe_job_management_create_job_post(body=alice.body(JobSpecification=bad_spec)))
    assert conform_problem(binding, 400, "One or more validation errors occurred.")["errors"]
    too_big = raises(
        lambda: jobs.heappe_job_management_submit_job_put(body=alice.body(CreatedJobInfoId=job.id, Pad="x" * 200))
    )
    conform_problem(too_big, 413, "Request body too large.")
    not_yet = files.heappe_file_transfer_download_file_from_cluster_post(
        body=alice.body(SubmittedJobInfoId=job.id, RelativeFilePath=f"/{job.tasks[0].id}/result.json"))  # fmt: skip
    # not submitted: no files yet, an empty 204 (which py4heappe 2.6.0 hands back as the string "b''")
    assert alice.client.answers[-1][1] == 204 and not_yet in ("", "b''", None)
    wrong_password = raises(lambda: users.heappe_user_and_limitation_management_authenticate_user_password_post(
        body={"Credentials": {"Username": "bob", "Password": "wrong"}}))  # fmt: skip
    conform_problem(wrong_password, 502, "External Service Error")
    if alice.mode == "session":
        bad_token = raises(lambda: users.heappe_user_and_limitation_management_authenticate_lexis_token_post(
            body={"Credentials": {"Username": "alice", "OpenIdAccessToken": "a.b.c"}}))  # fmt: skip
        conform_problem(bad_token, 401, "UserOrg Authentication Problem")
        anonymous = core.JobManagementApi(RecordingApiClient(emu.url))
        nobody = raises(anonymous.heappe_job_management_list_jobs_for_current_user_get)
        conform_problem(nobody, 401, "Unauthorized Access")
    else:
        # the bearer middleware's refusal is plain text, not ProblemDetails
        refused = core.JobManagementApi(RecordingApiClient(emu.url, bearer="not-a-token"))
        plain = raises(refused.heappe_job_management_list_jobs_for_current_user_get)
        assert (plain.status, plain.body) == (401, b"Unauthorized")
        # "HEADER-AUTH-NEEDED" is no session code
        as_code = core.JobManagementApi(RecordingApiClient(emu.url))
        nobody = raises(
            lambda: as_code.heappe_job_management_list_jobs_for_current_user_get(SessionCode="HEADER-AUTH-NEEDED")
        )
        conform_problem(nobody, 401, "Unauthorized Access")


def test_every_answer_was_read(alice: Heappe) -> None:
    """The answers the tests above had py4heappe deserialize (each one read strictly on the way)."""
    answered = {response_type for response_type, _, _ in alice.client.answers}
    expected = {"str", "HealthExt", "VersionInformationExt", "AdaptorUserExt", "list[ProjectReferenceExt]",
                "list[ClusterExt]", "list[str]", "SubmittedJobInfoExt", "list[SubmittedJobInfoExt]",
                "list[FileUploadResultExt]", "list[FileInformationExt]", "list[JobFileContentExt]"}  # fmt: skip
    assert expected <= answered, sorted(expected - answered)
