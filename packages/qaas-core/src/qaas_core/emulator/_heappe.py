"""The emulated HEAppE Middleware V6.3: the job-lifecycle subset of its REST API, over an emulated cluster.

Conventions (``reference/heappe-api.md``): routes ``/heappe/{Controller}/{Action}``; PascalCase output keys and
case-insensitive input; integer enums; nullable fields as ``null``; plain-string answers as JSON strings;
ProblemDetails ``{title, status, detail}`` errors (404 "Validation Problem" for invalid input, unknown ids and
SubmitJob in a wrong state; 401 for sessions, roles and other users' jobs; 400 "Invalid Request" for cancel/delete in
a wrong state and missing files; 413 for bodies over the per-action limits; 500 "Problem" for anything else, never a
traceback); 400 ValidationProblemDetails when the body cannot be bound (malformed JSON, wrong JSON types).

Authentication is one mode per deployment (``EmulatorConfig.heappe_auth``), as HEAppE V6.3.2's
``LexisAuthMiddleware`` and ``UserAndLimitationManagementLogic.GetUserForSessionCode`` do it:

* ``bearer`` (``UseBearerAuth``): a request with ``Authorization: Bearer <LEXIS access token>`` is the token's user
  and any session code on it is ignored (a bad token: 401, text ``Unauthorized``, on every route but the anonymous
  ``/heappe/Health``); ``AuthenticateLexisToken`` answers the JSON string ``"HEADER-AUTH-NEEDED"`` instead of a
  session code. A request without the header still needs a session code (``AuthenticateUserPassword`` and
  ``AuthenticateUserOpenId`` still issue them).
* ``session``: the ``Authorization`` header is ignored; every call needs a session code.

Session codes are GUIDs from ``AuthenticateUserPassword`` (the user's HEAppE-local password),
``AuthenticateLexisToken`` or ``AuthenticateUserOpenId`` (a LEXIS access token), with a sliding expiry of
``session_expiry_seconds``; re-authenticating while a session is valid returns the same code. No session code is 401
"Unauthorized Access", an unknown one too (``UnauthorizedAccessException``), an expired one 401 "Session Code
Authentication Problem" (``SessionCodeNotValidException``).

Endpoints::

    GET    /heappe/Health                                               anonymous
    GET    /heappe/Management/VersionInformation
    POST   /heappe/UserAndLimitationManagement/AuthenticateUserPassword    (148 bytes)
    POST   /heappe/UserAndLimitationManagement/AuthenticateLexisToken      (2048 bytes)
    POST   /heappe/UserAndLimitationManagement/AuthenticateUserOpenId      (4096 bytes)
    GET    /heappe/UserAndLimitationManagement/ProjectsForCurrentUser
    GET    /heappe/UserAndLimitationManagement/CurrentUserInfo
    GET    /heappe/ClusterInformation/ListAvailableClusters
    POST   /heappe/ClusterInformation/RequestCommandTemplateParametersName
    POST   /heappe/JobManagement/CreateJob                                 (250000 bytes)
    PUT    /heappe/JobManagement/SubmitJob                                 (94 bytes)
    GET    /heappe/JobManagement/CurrentInfoForJob
    GET    /heappe/JobManagement/ListJobsForCurrentUser
    PUT    /heappe/JobManagement/CancelJob                                 (98 bytes)
    DELETE /heappe/JobManagement/DeleteJob                                 (120 bytes)
    POST   /heappe/FileTransfer/UploadFilesToJobExecutionDir               (multipart, ~2.2 GB)
    GET    /heappe/FileTransfer/ListChangedFilesForJob
    POST   /heappe/FileTransfer/DownloadFileFromCluster                    (700 bytes)
    POST   /heappe/FileTransfer/DownloadPartsOfJobFilesFromCluster         (480 bytes)
    GET    /qaas                                                           IT4I QaaS server info (anonymous)

The cluster, the scheduler and the processes are in :mod:`qaas_core.emulator._cluster`. Clusters and node types
come from the ``heappe`` part of the seed; every LEXIS project resource located on a cluster is a HEAppE project
whose ``AccountingString`` is the resource name. Command templates are the files sites register
(:mod:`qaas_core.worker._deploy`, ``deploy/`` in the repository) plus any the seed's ``command_templates`` add in
the same format; each exists once per project (``%%{Identifier}`` placeholders; a parameter with a ``Default`` is
optional).

Choices where the reference is silent: a wrong HEAppE password is 502 "External Service Error"; an invalid
LEXIS token at the authenticate calls is 401 "UserOrg Authentication Problem"; a project the user is not a member of
is 401 "Unauthorized Access"; a download path that leaves the job directory (``..``, backslashes, symlinks out, or
another job's ``/<jobId>/<taskId>/`` prefix) is 404 "Validation Problem"; a non-JSON body is 415. Task
``DependsOn`` entries are matched by ``Name`` against earlier tasks (JSON has no object identity). Not emulated:
state 128 (there is always a free cluster account), ``WaitingLimit``, ``X-API-Key``, the SSH file-transfer and
DataTransfer endpoints, rate limiting (inject 429 with a fault rule instead).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import re
import secrets
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NoReturn

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from qaas_core.emulator._cluster import Cluster, JobRecord, PathOutsideJob, State, TaskRecord
from qaas_core.emulator._config import EmulatorConfig
from qaas_core.emulator._faults import FaultInjector
from qaas_core.emulator._jsonfile import read_json, write_json
from qaas_core.emulator._lexis import Lexis, LexisUser

__all__ = ["BODY_LIMITS", "HEADER_AUTH_NEEDED", "HEAppE"]

logger = logging.getLogger(__name__)

BODY_LIMITS: Final[Mapping[str, int]] = {
    "AuthenticateUserPassword": 148,
    "AuthenticateLexisToken": 2048,
    "AuthenticateUserOpenId": 4096,
    "CreateJob": 250_000,
    "SubmitJob": 94,
    "CancelJob": 98,
    "DeleteJob": 120,
    "DownloadFileFromCluster": 700,
    "DownloadPartsOfJobFilesFromCluster": 480,
    "UploadFilesToJobExecutionDir": 2_200_000_000,
}
HEADER_AUTH_NEEDED: Final = "HEADER-AUTH-NEEDED"
"""What ``AuthenticateLexisToken`` answers instead of a session code when HEAppE runs bearer authentication."""
_JSON_TYPES: Final = ("application/json", "text/json")
_NAME_ILLEGAL: Final = re.compile(r"[\x00-\x1f\x7f<>\"/\\|?*$`;&'{}]")
_FILE_NAME: Final = re.compile(r"^[A-Za-z0-9._-]+$")
_REL_PATH: Final = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
_DOWNLOAD_PATH: Final = re.compile(r"^/?[A-Za-z0-9._ -]+(/[A-Za-z0-9._ -]+)*$")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PARAM_VALUE: Final = re.compile(r"^[A-Za-z0-9 ._,:=+@%-]*$")
_JOB_ARRAYS: Final = re.compile(r"^[0-9]+-[0-9]+(:[0-9]+)?(%[0-9]+)?$")
_PLACEHOLDER: Final = re.compile(r"%%\{([A-Za-z0-9_.-]+)\}")
_UPLOAD_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")
_FILE_TYPES: Final = {0: "log_file", 1: "progress_file", 2: "standard_error_file", 3: "standard_output_file"}
_SUBMITTER_ROLE: Final = {"Name": "Submitter", "Description": "Users with this role can submit and manage their jobs."}


# -- errors --------------------------------------------------------------------------------------------------------


class _Problem(Exception):
    """An error answered as ProblemDetails (or, for a rejected bearer token, as plain text)."""

    def __init__(self, status: int, title: str, detail: str, *, plain: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.plain = plain

    def response(self) -> Response:
        if self.plain:
            return Response(self.title, status_code=self.status, media_type="text/plain")
        return JSONResponse({"title": self.title, "status": self.status, "detail": self.detail}, self.status)


class _Binding(Exception):
    """The body cannot be bound to the action's model: ASP.NET's 400 ValidationProblemDetails."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.errors = {path: [message]}

    def response(self) -> Response:
        body = {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": self.errors,
            "traceId": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00",
        }
        return JSONResponse(body, status_code=400)


def _invalid(detail: str) -> NoReturn:
    raise _Problem(404, "Validation Problem", detail)


def _spec_invalid(detail: str) -> NoReturn:
    raise _Problem(404, "Validation Problem", f"Submitted job specification is not valid: {detail}")


# -- case-insensitive typed access to JSON bodies ------------------------------------------------------------------


class _Obj:
    """A JSON object with case-insensitive keys and typed getters that fail like ASP.NET model binding."""

    def __init__(self, data: Mapping[str, Any], path: str = "$") -> None:
        self._data = {str(k).lower(): v for k, v in data.items()}
        self._path = path

    def raw(self, name: str) -> Any:
        """The value of a key, unchecked."""
        return self._data.get(name.lower())

    def has(self, name: str) -> bool:
        return name.lower() in self._data and self._data[name.lower()] is not None

    def str_(self, name: str) -> str | None:
        value = self.raw(name)
        if value is not None and not isinstance(value, str):
            raise _Binding(
                f"{self._path}.{name}", f"The JSON value could not be converted to System.String. Path: {name}"
            )
        return value

    def int_(self, name: str) -> int | None:
        value = self.raw(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _Binding(
                f"{self._path}.{name}", f"The JSON value could not be converted to System.Int64. Path: {name}"
            )
        return value

    def required_int(self, name: str) -> int:
        """A non-nullable number: null or a wrong type cannot be bound; absent is 0 (the C# default)."""
        if name.lower() in self._data and self._data[name.lower()] is None:
            raise _Binding(
                f"{self._path}.{name}", f"The JSON value could not be converted to System.Int64. Path: {name}"
            )
        return self.int_(name) or 0

    def bool_(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is not None and not isinstance(value, bool):
            raise _Binding(
                f"{self._path}.{name}", f"The JSON value could not be converted to System.Boolean. Path: {name}"
            )
        return value

    def obj(self, name: str) -> _Obj | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _Binding(f"{self._path}.{name}", f"The JSON value could not be converted to an object. Path: {name}")
        return _Obj(value, f"{self._path}.{name}")

    def objs(self, name: str) -> list[_Obj]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _Binding(f"{self._path}.{name}", f"The JSON value could not be converted to a list. Path: {name}")
        return [_Obj(v, f"{self._path}.{name}[{i}]") for i, v in enumerate(value)]


@dataclass
class _Call:
    request: Request
    query: dict[str, str]
    body: _Obj

    def query_int(self, name: str, *, required: bool = True) -> int | None:
        raw = self.query.get(name.lower())
        if raw is None or raw == "":
            if required:
                _invalid(f"{name} must be greater than 0.")
            return None
        try:
            return int(raw)
        except ValueError:
            raise _Binding(name, f"The value '{raw}' is not valid for {name}.") from None

    def session_code(self) -> str | None:
        return self.body.str_("SessionCode") or self.query.get("sessioncode")


# -- catalogue: clusters, node types, projects, command templates --------------------------------------------------


@dataclass(frozen=True)
class _NodeType:
    id: int
    name: str
    description: str
    cluster_id: int
    queue: str
    quality_of_service: str | None
    number_of_nodes: int
    cores_per_node: int
    max_walltime: int
    aggregation: str
    file_transfer_method_id: int


@dataclass(frozen=True)
class _FileTransferMethod:
    id: int
    protocol: int
    server_hostname: str
    port: int | None


@dataclass(frozen=True)
class _ClusterInfo:
    id: int
    name: str
    description: str
    node_types: tuple[_NodeType, ...]
    file_transfer_methods: tuple[_FileTransferMethod, ...]


@dataclass(frozen=True)
class _Parameter:
    identifier: str
    description: str
    default: str | None


@dataclass(frozen=True)
class _Template:
    id: int
    name: str
    description: str
    project_id: int
    node_type_id: int
    arguments: tuple[str, ...]
    parameters: tuple[_Parameter, ...]
    enabled: bool


@dataclass(frozen=True)
class _Project:
    id: int
    name: str
    description: str
    accounting_string: str
    start_date: str
    end_date: str
    members: tuple[str, ...]
    cluster_id: int
    cluster_account: str
    templates: tuple[_Template, ...] = field(default=())


class _Catalogue:
    """The HEAppE configuration: clusters from the seed, projects from the LEXIS resources located on them, and in
    every project the command templates qaas ships for sites (``qaas_core/worker/deploy/*.json``, the files
    ``deploy/`` tells sites to register), followed by any the seed's ``command_templates`` add in the same format.
    A template's arguments are what follows the worker invocation in its command.

    As on a real HEAppE, every project has a cluster account of its own (``<cluster_user>-p<project id>``, or the
    seed's ``cluster_accounts`` by accounting string): its jobs run under it, in its own directory tree.
    """

    def __init__(self, seed: Mapping[str, Any], lexis: Lexis) -> None:
        self.cluster_user = str(seed.get("cluster_user", "heappe"))
        accounts = dict(seed.get("cluster_accounts", {}))
        self.clusters: dict[int, _ClusterInfo] = {}
        self.node_types: dict[int, _NodeType] = {}
        for c in seed.get("clusters", []):
            ftms = tuple(
                _FileTransferMethod(
                    int(f["id"]), int(f.get("protocol", 2)), str(f.get("server_hostname", "localhost")), f.get("port")
                )
                for f in c.get("file_transfer_methods", [{"id": 1}])
            )
            node_types = tuple(
                _NodeType(
                    id=int(n["id"]),
                    name=str(n["name"]),
                    description=str(n.get("description", "")),
                    cluster_id=int(c["id"]),
                    queue=str(n.get("queue", n["name"])),
                    quality_of_service=n.get("quality_of_service"),
                    number_of_nodes=int(n.get("number_of_nodes", 1)),
                    cores_per_node=int(n.get("cores_per_node", 1)),
                    max_walltime=int(n.get("max_walltime", 3600)),
                    aggregation=str(n.get("aggregation", "")),
                    file_transfer_method_id=ftms[0].id if ftms else 1,
                )
                for n in c.get("node_types", [])
            )
            cluster = _ClusterInfo(int(c["id"]), str(c["name"]), str(c.get("description", "")), node_types, ftms)
            self.clusters[cluster.id] = cluster
            self.node_types.update((n.id, n) for n in node_types)
        by_name = {c.name: c for c in self.clusters.values()}
        # the templates a site is told to register (qaas_core/worker/deploy/*.json), plus any a seed adds
        from qaas_core.worker._deploy import command_templates

        template_seeds = command_templates(seed.get("command_templates", []))
        self.projects: dict[int, _Project] = {}
        self.templates: dict[int, _Template] = {}
        for lexis_project in lexis.projects:
            for resource in lexis_project.resources:
                cluster_info = by_name.get(resource.location_name)
                if cluster_info is None:
                    continue
                project_id = len(self.projects) + 1
                templates = []
                for index, t in enumerate(template_seeds):
                    node_type = next((n for n in cluster_info.node_types if n.name == t.node_type), None)
                    if node_type is None:
                        continue
                    template = _Template(
                        id=(project_id - 1) * max(1, len(template_seeds)) + index + 1,
                        name=t.name,
                        description=t.description,
                        project_id=project_id,
                        node_type_id=node_type.id,
                        arguments=t.arguments,
                        parameters=tuple(_Parameter(p.identifier, p.description, p.default) for p in t.parameters),
                        enabled=t.enabled,
                    )
                    templates.append(template)
                    self.templates[template.id] = template
                self.projects[project_id] = _Project(
                    id=project_id,
                    name=lexis_project.short_name,
                    description=lexis_project.description,
                    accounting_string=resource.name,
                    start_date=lexis_project.start_date,
                    end_date=lexis_project.end_date,
                    members=lexis_project.members,
                    cluster_id=cluster_info.id,
                    cluster_account=str(accounts.get(resource.name, f"{self.cluster_user}-p{project_id}")),
                    templates=tuple(templates),
                )

    def projects_of(self, username: str) -> list[_Project]:
        return [p for p in self.projects.values() if username in p.members]

    def capacity(self, node_type_id: int) -> int:
        node_type = self.node_types.get(node_type_id)
        return node_type.number_of_nodes if node_type else 1


# -- sessions ------------------------------------------------------------------------------------------------------


class _Sessions:
    """Session codes with a sliding expiry (measured by ``clock``), kept in ``heappe/sessions.json``."""

    def __init__(self, path: Path, expiry_seconds: float, clock: Callable[[], float]) -> None:
        self._path = path
        self._expiry = expiry_seconds
        self._clock = clock
        self._codes: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._saved_at = 0.0  # time.monotonic() of the last save: how often to write is not an expiry

    def load(self) -> None:
        data = read_json(self._path)
        if isinstance(data, dict):
            self._codes = {k: v for k, v in data.items() if isinstance(v, dict)}

    def save(self) -> None:
        # expired codes are kept a day (HEAppE keeps them for good) so that using one says "expired", not "unknown"
        now, keep = self._clock(), self._expiry + 86_400
        self._codes = {k: v for k, v in self._codes.items() if now - float(v.get("last_used", 0)) <= keep}
        write_json(self._path, self._codes, private=True)
        self._dirty = False
        self._saved_at = time.monotonic()

    def flush(self) -> None:
        """Persist sliding refreshes now and then."""
        if self._dirty and time.monotonic() - self._saved_at > 1.0:
            self.save()

    def open(self, username: str) -> str:
        """The user's valid session code (refreshed), or a new one."""
        now = self._clock()
        for code, session in self._codes.items():
            if session.get("username") == username and now - float(session.get("last_used", 0)) <= self._expiry:
                session["last_used"] = now
                self._dirty = True
                return code
        code = str(uuid.uuid4())
        self._codes[code] = {"username": username, "created": now, "last_used": now}
        self.save()
        return code

    def resolve(self, code: str) -> str:
        """The username of a valid session (its expiry slides).

        Raises:
            _Problem: unknown code (401 "Unauthorized Access") or expired code (401 "Session Code Authentication
                Problem").
        """
        session = self._codes.get(code.strip().lower())
        now = self._clock()
        if session is None:
            raise _Problem(401, "Unauthorized Access", "Unauthorized")
        if now - float(session.get("last_used", 0)) > self._expiry:
            raise _Problem(401, "Session Code Authentication Problem", f"Session code {code!r} has expired.")
        session["last_used"] = now
        self._dirty = True
        return str(session["username"])

    def expire_all(self) -> None:
        """Let every session expire now (fault ``expire_sessions``)."""
        expired = self._clock() - self._expiry - 1
        for session in self._codes.values():
            session["last_used"] = min(float(session.get("last_used", 0)), expired)
        self.save()
        logger.info("all HEAppE sessions expired")


# -- parsed job specification --------------------------------------------------------------------------------------


@dataclass
class _TaskSpec:
    name: str
    min_cores: int | None
    max_cores: int
    walltime: int | None
    node_type_id: int | None
    template_id: int | None
    parameters: list[tuple[str, str]]
    progress_file: str
    log_file: str
    stdout: str
    stderr: str
    stdin: str | None
    priority: int
    subdirectory: str | None
    environment: list[tuple[str, str]]
    depends_on: list[str]
    cpu_hyper_threading: bool | None


@dataclass
class _JobSpec:
    name: str
    project_id: int
    sub_project: str | None
    cluster_id: int | None
    file_transfer_method_id: int | None
    waiting_limit: int | None
    is_extra_long: bool
    environment: list[tuple[str, str]]
    tasks: list[_TaskSpec]


def _check_len(errors: list[str], value: str | None, limit: int, what: str) -> None:
    if value is not None and len(value) > limit:
        errors.append(f"{what} cannot be longer than {limit} characters.")


def _check_path(errors: list[str], value: str | None, what: str, *, limit: int, nested: bool) -> None:
    if value is None:
        return
    _check_len(errors, value, limit, what)
    pattern = _REL_PATH if nested else _FILE_NAME
    if not pattern.match(value) or any(part in (".", "..") for part in value.split("/")):
        errors.append(f"{what} contains illegal characters or is not a relative path.")


def _parse_environment(items: list[_Obj], errors: list[str], where: str) -> list[tuple[str, str]]:
    variables = []
    for item in items:
        name, value = item.str_("Name"), item.str_("Value")
        if not name or not _ENV_NAME.match(name):
            errors.append(f"{where}: environment variable name {name!r} is not valid.")
            continue
        _check_len(errors, name, 50, f"{where}: environment variable name")
        _check_len(errors, value, 100, f"{where}: value of environment variable {name}")
        variables.append((name, value or ""))
    return variables


def _parse_task(task: _Obj, index: int, errors: list[str]) -> _TaskSpec:
    where = f"Task {index}"
    name = task.str_("Name")
    if not name:
        errors.append(f"{where}: Name must be set.")
    else:
        _check_len(errors, name, 50, f"{where}: Name")
        if _NAME_ILLEGAL.search(name):
            errors.append(f"{where}: Name contains illegal characters.")
    min_cores, max_cores = task.int_("MinCores"), task.required_int("MaxCores")
    if max_cores <= 0:
        errors.append(f"{where}: MaxCores must be greater than 0.")
    if min_cores is not None and (min_cores <= 0 or min_cores > max_cores):
        errors.append(f"{where}: MinCores must be greater than 0 and not greater than MaxCores.")
    walltime = task.int_("WalltimeLimit")
    if walltime is None or walltime <= 0:
        errors.append(f"{where}: WalltimeLimit must be greater than 0.")
    template_id = task.int_("CommandTemplateId")
    if template_id is None or template_id <= 0:
        errors.append(f"{where}: CommandTemplateId must be greater than 0.")
    progress, log = task.str_("ProgressFile"), task.str_("LogFile")
    for value, what in ((progress, "ProgressFile"), (log, "LogFile")):
        if not value:
            errors.append(f"{where}: {what} must be set.")
        _check_path(errors, value, f"{where}: {what}", limit=50, nested=True)
    stdout = task.str_("StandardOutputFile") or "stdout.txt"
    stderr = task.str_("StandardErrorFile") or "stderr.txt"
    stdin = task.str_("StandardInputFile") or None
    for value, what in ((stdout, "StandardOutputFile"), (stderr, "StandardErrorFile"), (stdin, "StandardInputFile")):
        _check_path(errors, value, f"{where}: {what}", limit=30, nested=False)
    priority = task.int_("Priority")
    if priority is not None and not 0 <= priority <= 8:
        errors.append(f"{where}: Priority must be between 0 and 8.")
    subdirectory = task.str_("ClusterTaskSubdirectory") or None
    _check_path(errors, subdirectory, f"{where}: ClusterTaskSubdirectory", limit=50, nested=True)
    _check_len(errors, task.str_("PlacementPolicy"), 40, f"{where}: PlacementPolicy")
    job_arrays = task.str_("JobArrays")
    if job_arrays:
        _check_len(errors, job_arrays, 40, f"{where}: JobArrays")
        if not _JOB_ARRAYS.match(job_arrays):
            errors.append(f"{where}: JobArrays has a wrong format (expected e.g. 1-10:2).")
    for flag in ("IsExclusive", "IsRerunnable"):
        task.bool_(flag)
    for parallel in task.objs("TaskParallelizationParameters"):
        parallel.int_("MPIProcesses")
        parallel.int_("OpenMPThreads")
        if parallel.required_int("MaxCores") <= 0:
            errors.append(f"{where}: TaskParallelizationParameters MaxCores must be greater than 0.")
    parameters = []
    for item in task.objs("TemplateParameterValues"):
        identifier, value = item.str_("CommandParameterIdentifier"), item.str_("ParameterValue")
        if not identifier:
            errors.append(f"{where}: CommandParameterIdentifier must be set.")
            continue
        _check_len(errors, identifier, 20, f"{where}: CommandParameterIdentifier")
        parameters.append((identifier, value or ""))
    depends_on = []
    for dependency in task.objs("DependsOn"):
        depends_on.append(dependency.str_("Name") or "")
    required_nodes = task.raw("RequiredNodes")
    if required_nodes is not None and not (
        isinstance(required_nodes, list) and all(isinstance(n, str) for n in required_nodes)
    ):
        raise _Binding("$.JobSpecification.Tasks.RequiredNodes", "The JSON value could not be converted to a list.")
    return _TaskSpec(
        name=name or "",
        min_cores=min_cores,
        max_cores=max_cores,
        walltime=walltime,
        node_type_id=task.int_("ClusterNodeTypeId"),
        template_id=template_id,
        parameters=parameters,
        progress_file=progress or "",
        log_file=log or "",
        stdout=stdout,
        stderr=stderr,
        stdin=stdin,
        priority=4 if priority is None else priority,
        subdirectory=subdirectory,
        environment=_parse_environment(task.objs("EnvironmentVariables"), errors, where),
        depends_on=depends_on,
        cpu_hyper_threading=task.bool_("CpuHyperThreading"),
    )


def _parse_job(spec: _Obj) -> tuple[_JobSpec, list[str]]:
    """Bind a JobSpecificationExt and run the REST-level checks; the spec and the validator's messages."""
    errors: list[str] = []
    name = spec.str_("Name")
    if not name:
        errors.append("Name must be set.")
    else:
        _check_len(errors, name, 50, "Name")
        if _NAME_ILLEGAL.search(name):
            errors.append("Name contains illegal characters.")
    project_id = spec.required_int("ProjectId")
    if project_id <= 0:
        errors.append("ProjectId must be greater than 0.")
    sub_project = spec.str_("SubProjectIdentifier") or None
    _check_len(errors, sub_project, 50, "SubProjectIdentifier")
    waiting_limit = spec.int_("WaitingLimit")
    if waiting_limit is not None and waiting_limit < 0:
        errors.append("WaitingLimit must be greater than or equal to 0.")
    spec.int_("WalltimeLimit")  # read-only: bound, then ignored
    _check_len(errors, spec.str_("NotificationEmail"), 50, "NotificationEmail")
    _check_len(errors, spec.str_("PhoneNumber"), 20, "PhoneNumber")
    for flag in ("NotifyOnAbort", "NotifyOnFinish", "NotifyOnStart"):
        spec.bool_(flag)
    task_objs = spec.objs("Tasks")
    if not task_objs:
        errors.append("Tasks must contain at least one task.")
    tasks = [_parse_task(t, i, errors) for i, t in enumerate(task_objs)]
    job = _JobSpec(
        name=name or "",
        project_id=project_id,
        sub_project=sub_project,
        cluster_id=spec.int_("ClusterId"),
        file_transfer_method_id=spec.int_("FileTransferMethodId"),
        waiting_limit=waiting_limit,
        is_extra_long=bool(spec.bool_("IsExtraLong")),
        environment=_parse_environment(spec.objs("EnvironmentVariables"), errors, "Job"),
        tasks=tasks,
    )
    return job, errors


# -- the service ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _User:
    id: int
    username: str
    email: str


class HEAppE:
    """The emulated HEAppE middleware (a :class:`~qaas_core.emulator._app.Subsystem`).

    Args:
        config: emulator settings (``state_dir``, ``scheduler_tick_seconds``, ``session_expiry_seconds`` measured
            by ``clock``, and ``worker_command`` to run a test's own program instead of the site's worker).
        lexis: the emulated LEXIS, which verifies access tokens and knows users and projects.
        faults: fault injector; default: the one LEXIS uses.
        worker_command: how the site's command templates start ``qaas-worker`` (its isolated interpreter and the
            site's ``--config``); each task adds ``--account <cluster account>`` and the template's arguments.

    Attributes:
        cluster: the emulated cluster (jobs, directories, processes).
        version: the HEAppE version reported by ``/heappe/Health``.
        instance_identifier: the instance's ``InstanceIdentifier`` there (the seed's ``heappe.instance_identifier``).
    """

    def __init__(
        self,
        config: EmulatorConfig,
        lexis: Lexis,
        faults: FaultInjector | None = None,
        *,
        worker_command: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.lexis = lexis
        self.faults = faults or lexis.faults
        seed = lexis.seed.get("heappe", {})
        self.version = str(seed.get("version", "6.3.2"))
        self.instance_identifier = str(seed.get("instance_identifier", "qaas-emulator"))
        self._catalogue = _Catalogue(seed, lexis)
        state_dir = config.state_dir or lexis.state_root
        sessions_file = state_dir / "heappe" / "sessions.json"
        self._sessions = _Sessions(sessions_file, config.session_expiry_seconds, config.clock)
        self._users = {u.username: _User(i + 1, u.username, u.email) for i, u in enumerate(lexis.users)}
        # a test's fake worker (config.worker_command) runs as given; the site's worker learns its account
        site_worker = list(worker_command) or [sys.executable, "-I", "-m", "qaas_core.worker"]
        self.cluster = Cluster(
            state_dir,
            worker_command=list(config.worker_command) or site_worker,
            pass_account=not config.worker_command,
            faults=self.faults,
            node_capacity=self._catalogue.capacity,
            scheduling_delay=self._scheduling_delay,
        )
        self._delay_rng = random.Random(config.seed)  # noqa: S311 - a queue model, not cryptography
        self._ticker: asyncio.Task[None] | None = None
        self.faults.register_hook("expire_sessions", self._sessions.expire_all)

    def _scheduling_delay(self) -> float:
        spread = self.config.scheduling_delay_spread_seconds
        return self.config.scheduling_delay_seconds + (self._delay_rng.uniform(0.0, spread) if spread > 0 else 0.0)

    # -- Subsystem -------------------------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """The HEAppE routes (and ``/qaas``)."""
        gate = self.faults.route
        user = "/heappe/UserAndLimitationManagement/"
        jobs = "/heappe/JobManagement/"
        files = "/heappe/FileTransfer/"
        api = self._api
        return [
            gate("/heappe/Health", api(self._health, auth=False, anonymous=True), methods=["GET"]),
            gate("/qaas", api(self._qaas_info, auth=False, anonymous=True), methods=["GET"]),
            gate("/heappe/Management/VersionInformation", api(self._version_information), methods=["GET"]),
            gate(user + "AuthenticateUserPassword", api(self._auth_password, body=True, auth=False), methods=["POST"]),
            gate(user + "AuthenticateLexisToken", api(self._auth_lexis, body=True, auth=False), methods=["POST"]),
            gate(user + "AuthenticateUserOpenId", api(self._auth_openid, body=True, auth=False), methods=["POST"]),
            gate(user + "ProjectsForCurrentUser", api(self._projects_for_user), methods=["GET"]),
            gate(user + "CurrentUserInfo", api(self._current_user_info), methods=["GET"]),
            gate("/heappe/ClusterInformation/ListAvailableClusters", api(self._list_clusters), methods=["GET"]),
            gate(
                "/heappe/ClusterInformation/RequestCommandTemplateParametersName",
                api(self._template_parameter_names, body=True),
                methods=["POST"],
            ),
            gate(jobs + "CreateJob", api(self._create_job, body=True), methods=["POST"]),
            gate(jobs + "SubmitJob", api(self._submit_job, body=True), methods=["PUT"]),
            gate(jobs + "CurrentInfoForJob", api(self._current_info), methods=["GET"]),
            gate(jobs + "ListJobsForCurrentUser", api(self._list_jobs), methods=["GET"]),
            gate(jobs + "CancelJob", api(self._cancel_job, body=True), methods=["PUT"]),
            gate(jobs + "DeleteJob", api(self._delete_job, body=True), methods=["DELETE"]),
            gate(files + "UploadFilesToJobExecutionDir", api(self._upload), methods=["POST"]),
            gate(files + "ListChangedFilesForJob", api(self._list_changed_files), methods=["GET"]),
            gate(files + "DownloadFileFromCluster", api(self._download, body=True), methods=["POST"]),
            gate(files + "DownloadPartsOfJobFilesFromCluster", api(self._download_parts, body=True), methods=["POST"]),
        ]

    async def startup(self) -> None:
        """Load jobs and sessions, then start the scheduler tick."""
        self.cluster.load()
        self._sessions.load()
        self._ticker = asyncio.create_task(self._tick_forever(), name="heappe-scheduler")

    async def shutdown(self) -> None:
        """Stop the tick, kill running tasks (they end Failed), persist."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self.cluster.stop()
        self._sessions.save()

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.cluster.tick()
                self._sessions.flush()
            except Exception:
                logger.exception("HEAppE scheduler tick failed")
            await asyncio.sleep(self.config.scheduler_tick_seconds)

    def expire_sessions(self) -> None:
        """Forget every session code (what the ``expire_sessions`` fault does)."""
        self._sessions.expire_all()

    # -- request plumbing ------------------------------------------------------------------------------------------

    def _api(
        self,
        handler: Callable[[_Call, _User | None], Awaitable[Response]],
        *,
        body: bool = False,
        auth: bool = True,
        anonymous: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        """An endpoint: ``auth`` actions need a user (bearer token or session code); every route but the
        ``anonymous`` ones passes HEAppE's bearer middleware first (in bearer mode a bad token is 401 even there)."""

        async def endpoint(request: Request) -> Response:
            self.lexis.note_base_url(request)
            action_name = request.url.path.rsplit("/", 1)[-1]
            try:
                bearer = None if anonymous else self._bearer_user(request)
                obj = _Obj({})
                if body:
                    obj = _Obj(await _read_json_body(request, BODY_LIMITS.get(action_name)))
                call = _Call(request, {k.lower(): v for k, v in request.query_params.items()}, obj)
                user = (bearer or self._session_user(call)) if auth else None
                return await handler(call, user)
            except (_Problem, _Binding) as exc:
                return exc.response()
            except Exception:
                logger.exception("unexpected error in HEAppE action %s", action_name)
                return _Problem(500, "Problem", "An unexpected error occurred on the server.").response()

        endpoint.__name__ = handler.__name__
        return endpoint

    def _bearer_user(self, request: Request) -> _User | None:
        """``LexisAuthMiddleware``: in bearer mode a ``Bearer`` header is the token's user (a bad token: plain-text
        401), and then any session code is ignored; without the header, or in session mode, None."""
        header = request.headers.get("authorization")
        if self.config.heappe_auth != "bearer" or header is None or not header.startswith("Bearer "):
            return None
        token = header[len("Bearer ") :].strip()
        claims = self.lexis.verify_access_token(token) if token else None
        user = self._users.get(claims.username) if claims else None
        if user is None:
            raise _Problem(401, "Unauthorized", "Unauthorized", plain=True)
        return user

    def _session_user(self, call: _Call) -> _User:
        code = call.session_code()
        if not code:
            raise _Problem(401, "Unauthorized Access", "Unauthorized")
        username = self._sessions.resolve(code)
        user = self._users.get(username)
        if user is None:
            raise _Problem(401, "Session Code Authentication Problem", "The session's user no longer exists.")
        return user

    def _job_of(self, user: _User | None, job_id: int) -> JobRecord:
        assert user is not None
        job = self.cluster.job(job_id)
        if job is None:
            _invalid(f"Requested SubmittedJobInfo with Id={job_id} does not exist in the system.")
        if job.owner != user.username:
            raise _Problem(
                401,
                "Session Code Authentication Problem",
                f"User is not authorized to work with the job info with Id={job_id}.",
            )
        return job

    # -- health and info -------------------------------------------------------------------------------------------

    async def _health(self, call: _Call, user: _User | None) -> Response:
        vault_info = {"Initialized": True, "Sealed": False, "StandBy": False, "PerformanceStandby": False}
        return JSONResponse(
            {
                "IsHealthy": True,
                "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "Version": self.version,
                "InstanceIdentifier": self.instance_identifier,
                "Component": {"Database": {"IsHealthy": True}, "Vault": {"IsHealthy": True, "Info": vault_info}},
            }
        )

    async def _qaas_info(self, call: _Call, user: _User | None) -> Response:
        """The site document (:mod:`qaas_core._version`): what the site's worker says of itself (its qaas-core
        version and the schemas it speaks), from the file the emulated site wrote as a real site writes the static
        file it serves here; this qaas-core's own when the tasks run a test's program instead of the worker."""
        from qaas_core._version import site_info
        from qaas_core.emulator._worker_service import site_info_file

        doc = read_json(site_info_file(self.config.state_dir or self.lexis.state_root))
        return JSONResponse(doc if isinstance(doc, dict) else site_info())

    async def _version_information(self, call: _Call, user: _User | None) -> Response:
        return JSONResponse(
            {
                "Name": "HEAppE Middleware (qaas emulator)",
                "Description": "Emulated HEAppE V6.3 subset",
                "Version": self.version,
            }
        )

    # -- UserAndLimitationManagement -------------------------------------------------------------------------------

    async def _auth_password(self, call: _Call, user: _User | None) -> Response:
        credentials = _credentials(call.body)
        username, password = credentials.str_("Username"), credentials.str_("Password")
        if username is None or password is None:
            raise _Binding("$.Credentials", "The Username and Password fields are required.")
        if len(username) > 100 or len(password) > 100:
            _invalid("Username and Password cannot be longer than 100 characters.")
        lexis_user = self.lexis.user(username)
        if lexis_user is None or not secrets.compare_digest(password.encode(), lexis_user.heappe_password.encode()):
            logger.info("HEAppE password authentication refused for %r", username)
            raise _Problem(502, "External Service Error", "Invalid credentials were provided.")
        return JSONResponse(self._sessions.open(lexis_user.username))

    async def _auth_lexis(self, call: _Call, user: _User | None) -> Response:
        if self.config.heappe_auth == "bearer":
            # the controller's first statement: no token check, no session (the middleware authenticates each call)
            credentials = call.body.obj("Credentials")
            if credentials is not None and not credentials.str_("OpenIdAccessToken"):
                raise _Binding("$.Credentials.OpenIdAccessToken", "The OpenIdAccessToken field is required.")
            return JSONResponse(HEADER_AUTH_NEEDED)
        return JSONResponse(self._sessions.open(self._token_user(call).username))

    async def _auth_openid(self, call: _Call, user: _User | None) -> Response:
        return JSONResponse(self._sessions.open(self._token_user(call).username))

    def _token_user(self, call: _Call) -> LexisUser:
        credentials = _credentials(call.body)
        token, username = credentials.str_("OpenIdAccessToken"), credentials.str_("Username")
        if not token:
            raise _Binding("$.Credentials.OpenIdAccessToken", "The OpenIdAccessToken field is required.")
        claims = self.lexis.verify_access_token(token)
        lexis_user = self.lexis.user(claims.username) if claims else None
        if lexis_user is None or (username and username != lexis_user.username):
            raise _Problem(401, "UserOrg Authentication Problem", "The LEXIS token is not valid.")
        return lexis_user

    async def _projects_for_user(self, call: _Call, user: _User | None) -> Response:
        assert user is not None
        return JSONResponse(
            [
                {"Project": self._project_json(p), "Role": _SUBMITTER_ROLE}
                for p in self._catalogue.projects_of(user.username)
            ]
        )

    async def _current_user_info(self, call: _Call, user: _User | None) -> Response:
        assert user is not None
        groups = [
            {
                "Id": p.id,
                "Name": f"{p.name}-{p.accounting_string}",
                "Description": p.description,
                "Project": self._project_json(p, templates=False),
                "Roles": [_SUBMITTER_ROLE["Name"]],  # AdaptorUserGroupExt.Roles is string[]: the role names
            }
            for p in self._catalogue.projects_of(user.username)
        ]
        return JSONResponse(
            {
                "Id": user.id,
                "Username": user.username,
                "PublicKey": None,
                "Email": user.email,
                "UserType": 1,
                "AdaptorUserGroups": groups,
            }
        )

    async def _list_clusters(self, call: _Call, user: _User | None) -> Response:
        assert user is not None
        query = call.query
        accounting = [v for k, v in call.request.query_params.multi_items() if k.lower() == "accountingstring"]
        project_filter = bool(accounting or query.get("projectname") or query.get("commandtemplatename"))
        mine = self._catalogue.projects_of(user.username)
        answer = []
        for cluster in self._catalogue.clusters.values():
            if query.get("clustername") and cluster.name != query["clustername"]:
                continue
            node_types = []
            for node_type in cluster.node_types:
                if query.get("nodetypename") and node_type.name != query["nodetypename"]:
                    continue
                projects = []
                for project in mine:
                    if project.cluster_id != cluster.id:
                        continue
                    if query.get("projectname") and project.name != query["projectname"]:
                        continue
                    if accounting and project.accounting_string not in accounting:
                        continue
                    templates = [
                        t
                        for t in project.templates
                        if t.node_type_id == node_type.id
                        and (not query.get("commandtemplatename") or t.name == query["commandtemplatename"])
                    ]
                    if query.get("commandtemplatename") and not templates:
                        continue
                    projects.append(self._project_json(project, template_list=templates))
                if project_filter and not projects:
                    continue
                node_types.append(self._node_type_json(node_type, projects))
            if (project_filter or query.get("nodetypename")) and not node_types:
                continue
            answer.append(
                {
                    "Id": cluster.id,
                    "Name": cluster.name,
                    "Description": cluster.description,
                    "FileTransferMethodIds": [f.id for f in cluster.file_transfer_methods],
                    "NodeTypes": node_types,
                }
            )
        return JSONResponse(answer)

    async def _template_parameter_names(self, call: _Call, user: _User | None) -> Response:
        assert user is not None
        template_id = _positive(call.body, "CommandTemplateId")
        project_id = _positive(call.body, "ProjectId")
        call.body.str_("UserScriptPath")
        project = self._catalogue.projects.get(project_id)
        template = self._catalogue.templates.get(template_id)
        if project is None or template is None or template.project_id != project.id:
            _invalid(f"Requested CommandTemplate with Id {template_id} does not exist in project {project_id}.")
        if user.username not in project.members:
            raise _Problem(
                401, "Unauthorized Access", f"User does not have the Submitter role in project {project.id}."
            )
        return JSONResponse([p.identifier for p in template.parameters])

    # -- JobManagement ---------------------------------------------------------------------------------------------

    async def _create_job(self, call: _Call, user: _User | None) -> Response:
        spec_obj = call.body.obj("JobSpecification")
        if spec_obj is None:
            raise _Binding("$.JobSpecification", "The JobSpecification field is required.")
        spec, errors = _parse_job(spec_obj)
        if errors:
            _invalid("\n".join(errors))
        assert user is not None
        job = self._build_job(spec, user)
        self.cluster.add(job)
        logger.info("user %s created job %d (%s)", user.username, job.id, job.name)
        return JSONResponse(self._job_json(job))

    def _build_job(self, spec: _JobSpec, user: _User) -> JobRecord:
        catalogue = self._catalogue
        cluster = catalogue.clusters.get(spec.cluster_id or 0)
        if cluster is None:
            _invalid(f"Requested Cluster with Id {spec.cluster_id or 0} does not exist in the system.")
        if spec.file_transfer_method_id is None:
            raise _Problem(500, "Problem", "Nullable object must have a value.")
        if spec.file_transfer_method_id not in {f.id for f in cluster.file_transfer_methods}:
            _spec_invalid(
                f"File transfer method {spec.file_transfer_method_id} does not belong to cluster {cluster.id}."
            )
        project = catalogue.projects.get(spec.project_id)
        if project is None:
            _invalid(f"Requested Project with Id {spec.project_id} does not exist in the system.")
        if user.username not in project.members:
            raise _Problem(
                401, "Unauthorized Access", f"User does not have the Submitter role in project {project.id}."
            )
        if project.cluster_id != cluster.id:
            _spec_invalid(f"Project {project.id} is not assigned to cluster {cluster.id}.")
        job_env = _first_wins(spec.environment)
        plans: list[tuple[_TaskSpec, _Template, _NodeType, list[str]]] = []
        names: dict[str, int] = {}
        for index, task in enumerate(spec.tasks):
            if task.node_type_id is None:
                raise _Problem(500, "Problem", "Nullable object must have a value.")
            node_type = catalogue.node_types.get(task.node_type_id)
            if node_type is None or node_type.cluster_id != cluster.id:
                _invalid(f"Requested ClusterNodeType with Id {task.node_type_id} does not exist in the system.")
            template = catalogue.templates.get(task.template_id or 0)
            if template is None or template.project_id != project.id:
                _invalid(f"Requested CommandTemplate with Id {task.template_id} does not exist in the project.")
            if not template.enabled:
                _spec_invalid(f"Command template {template.id} is disabled.")
            if template.node_type_id != node_type.id:
                _spec_invalid(f"Task {task.name}: command template {template.id} belongs to another node type.")
            assert task.walltime is not None
            if task.walltime > node_type.max_walltime and not spec.is_extra_long:
                _spec_invalid(
                    f"Task {task.name}: WalltimeLimit {task.walltime} s exceeds the node type's maximum of "
                    f"{node_type.max_walltime} s."
                )
            if task.max_cores > node_type.cores_per_node * node_type.number_of_nodes:
                _spec_invalid(f"Task {task.name}: MaxCores exceeds the cores of node type {node_type.name}.")
            arguments = _substitute(template, task)
            for dependency in task.depends_on:
                if dependency not in names:
                    _spec_invalid(f"Task {task.name} depends on {dependency!r}, which is not an earlier task.")
            names.setdefault(task.name, index)
            plans.append((task, template, node_type, arguments))
        # the tasks, with extra-long ones split into chains of parts
        pieces: list[tuple[int, int, str]] = []  # (index in plans, walltime, task name)
        for index, (task, _template, node_type, _arguments) in enumerate(plans):
            assert task.walltime is not None
            split = task.walltime > node_type.max_walltime
            remaining, part = task.walltime, 0
            while remaining > 0:
                chunk = min(remaining, node_type.max_walltime)
                remaining -= chunk
                part += 1
                pieces.append((index, chunk, f"{task.name}_part_{part}" if split else task.name))
        job_id, task_ids = self.cluster.allocate_ids(len(pieces))
        records: list[TaskRecord] = []
        last_by_name: dict[str, int] = {}  # task name -> id of its (last) piece so far
        last_by_plan: dict[int, int] = {}
        for (index, walltime, name), task_id in zip(pieces, task_ids, strict=True):
            task, template, _node_type, arguments = plans[index]
            if index in last_by_plan:  # a later part of an extra-long task waits for the previous part
                depends = [last_by_plan[index]]
            else:
                depends = list(dict.fromkeys(last_by_name[d] for d in task.depends_on))
            env = dict(job_env)
            env.update(_first_wins(task.environment))
            records.append(
                TaskRecord(
                    id=task_id,
                    spec_id=task_id,
                    name=name,
                    priority=task.priority,
                    node_type_id=template.node_type_id,
                    template_id=template.id,
                    project_id=project.id,
                    min_cores=task.min_cores,
                    max_cores=task.max_cores,
                    walltime_limit=walltime,
                    arguments=arguments,
                    environment=env,
                    parameter_values=dict(task.parameters),
                    standard_output_file=task.stdout,
                    standard_error_file=task.stderr,
                    standard_input_file=task.stdin,
                    progress_file=task.progress_file,
                    log_file=task.log_file,
                    cluster_task_subdirectory=task.subdirectory,
                    depends_on=depends,
                    cpu_hyper_threading=task.cpu_hyper_threading,
                )
            )
            last_by_plan[index] = task_id
            last_by_name[task.name] = task_id
        return JobRecord(
            id=job_id,
            spec_id=job_id,
            name=spec.name,
            owner=user.username,
            project_id=project.id,
            cluster_id=cluster.id,
            file_transfer_method_id=spec.file_transfer_method_id,
            cluster_user=project.cluster_account,
            sub_project=spec.sub_project,
            creation_time=time.time(),
            walltime_limit=sum(t.walltime_limit for t in records),
            waiting_limit=spec.waiting_limit,
            tasks=records,
        )

    async def _submit_job(self, call: _Call, user: _User | None) -> Response:
        job = self._job_of(user, _positive(call.body, "CreatedJobInfoId"))
        if any(not self._template_enabled(t.template_id) for t in job.tasks):
            raise _Problem(400, "Invalid Request", "A job with a disabled command template cannot be submitted.")
        if job.state not in (State.CONFIGURING, State.WAITING_FOR_SERVICE_ACCOUNT):
            _invalid("Unable to submit the job (incorrect job state).")
        self.cluster.submit(job)
        logger.info("job %d submitted", job.id)
        return JSONResponse(self._job_json(job))

    def _template_enabled(self, template_id: int) -> bool:
        template = self._catalogue.templates.get(template_id)
        return template is not None and template.enabled

    async def _current_info(self, call: _Call, user: _User | None) -> Response:
        job = self._job_of(user, call.query_int("SubmittedJobInfoId") or 0)
        return JSONResponse(self._job_json(job))

    async def _list_jobs(self, call: _Call, user: _User | None) -> Response:
        assert user is not None
        raw = call.query.get("jobstates", "")
        states: set[int] | None = None
        if raw.strip():
            try:
                states = {int(part) for part in raw.split(",") if part.strip()}
            except ValueError:
                _invalid(f"JobStates {raw!r} is not a comma-separated list of job states.")
            if not states <= {int(s) for s in State}:
                _invalid(f"JobStates {raw!r} contains an unknown job state.")
        jobs = [j for j in self.cluster.jobs() if j.owner == user.username and (states is None or j.state in states)]
        return JSONResponse([self._job_json(j) for j in jobs])

    async def _cancel_job(self, call: _Call, user: _User | None) -> Response:
        job = self._job_of(user, _positive(call.body, "SubmittedJobInfoId"))
        if job.state not in (
            State.CONFIGURING,
            State.SUBMITTED,
            State.QUEUED,
            State.RUNNING,
            State.WAITING_FOR_SERVICE_ACCOUNT,
        ):
            raise _Problem(
                400,
                "Invalid Request",
                f"Cannot cancel job '{job.id}', this job is in state '{State(job.state).label}'.",
            )
        self.cluster.cancel(job)
        logger.info("job %d canceled", job.id)
        return JSONResponse(self._job_json(job))

    async def _delete_job(self, call: _Call, user: _User | None) -> Response:
        job = self._job_of(user, _positive(call.body, "SubmittedJobInfoId"))
        archive = bool(call.body.bool_("ArchiveLogs"))
        if job.state not in (State.CONFIGURING, State.FINISHED, State.FAILED, State.CANCELED):
            raise _Problem(
                400,
                "Invalid Request",
                f"Cannot delete job '{job.id}', this job is in state '{State(job.state).label}'.",
            )
        self.cluster.delete(job, archive_logs=archive)
        logger.info("job %d deleted", job.id)
        return JSONResponse("Job was deleted")

    # -- FileTransfer ----------------------------------------------------------------------------------------------

    async def _upload(self, call: _Call, user: _User | None) -> Response:
        limit = BODY_LIMITS["UploadFilesToJobExecutionDir"]
        length = call.request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise _Problem(413, "Request body too large.", f"The request body is larger than {limit} bytes.")
        job_id = call.query_int("JobId") or 0
        task_id = call.query_int("TaskId", required=False)
        assert user is not None
        job = self.cluster.job(job_id)
        # HEAppE raises plain exceptions here, which its middleware answers as 500 "Problem"
        if job is None or job.owner != user.username:
            raise _Problem(500, "Problem", f"Job {job_id} does not exist or belongs to another user.")
        if task_id is None:
            target = self.cluster.job_dir(job)
        else:
            task = job.task(task_id)
            if task is None:
                raise _Problem(500, "Problem", f"Task {task_id} does not belong to job {job_id}.")
            target = self.cluster.task_root(job, task)
        if "multipart/form-data" not in call.request.headers.get("content-type", ""):
            raise _Binding("files", "The request is not multipart/form-data.")
        try:
            form = await call.request.form(max_files=10_000, max_fields=10_000)
        except Exception as exc:  # python-multipart / starlette parse errors
            raise _Binding("files", f"The multipart body could not be read: {exc}") from None
        results = []
        try:
            target.mkdir(parents=True, exist_ok=True)
            for item in form.getlist("files"):
                if not isinstance(item, UploadFile):
                    continue
                results.append(await _store_upload(item, target))
        finally:
            await form.close()
        return JSONResponse(results)

    async def _list_changed_files(self, call: _Call, user: _User | None) -> Response:
        job = self._job_of(user, call.query_int("SubmittedJobInfoId") or 0)
        if job.state in (State.CONFIGURING, State.WAITING_FOR_SERVICE_ACCOUNT):
            return Response(status_code=204)
        return JSONResponse(
            [{"FileName": name, "LastModifiedDate": _iso(mtime)} for name, mtime in self.cluster.changed_files(job)]
        )

    async def _download(self, call: _Call, user: _User | None) -> Response:
        relative = call.body.str_("RelativeFilePath")
        job_id = _positive(call.body, "SubmittedJobInfoId")
        if not relative:
            _invalid("RelativeFilePath must be set.")
        _check_download_path(relative)
        job = self._job_of(user, job_id)
        if job.state in (State.CONFIGURING, State.WAITING_FOR_SERVICE_ACCOUNT):
            return Response(status_code=204)
        try:
            path = self.cluster.resolve_download(job, relative)
        except PathOutsideJob:
            _invalid(f"RelativeFilePath '{relative}' points outside the job directory.")
        if path is None:
            raise _Problem(400, "Invalid Request", f"Requested path '{relative}' was not found on the cluster.")
        return JSONResponse(base64.b64encode(path.read_bytes()).decode("ascii"))

    async def _download_parts(self, call: _Call, user: _User | None) -> Response:
        job_id = _positive(call.body, "SubmittedJobInfoId")
        offsets = call.body.objs("TaskFileOffsets")
        requests = []
        for item in offsets:
            task_id, file_type, offset = item.int_("SubmittedTaskInfoId"), item.int_("FileType"), item.int_("Offset")
            if file_type not in _FILE_TYPES:
                _invalid(f"FileType {file_type} is not valid (0-3).")
            if offset is None or offset < 0:
                _invalid("Offset must be greater than or equal to 0.")
            requests.append((task_id or 0, file_type, offset))
        job = self._job_of(user, job_id)
        if job.state in (State.CONFIGURING, State.WAITING_FOR_SERVICE_ACCOUNT):
            return Response(status_code=204)
        answer = []
        for task_id, file_type, offset in requests:
            task = job.task(task_id)
            if task is None:
                _invalid(f"Requested SubmittedTaskInfo with Id={task_id} does not belong to job {job.id}.")
            path, relative = self.cluster.task_file(job, task, str(getattr(task, _FILE_TYPES[file_type])))
            content = ""
            if path is not None and path.is_file():
                with path.open("rb") as fh:
                    fh.seek(offset)
                    content = fh.read().decode("utf-8", errors="replace")
            answer.append(
                {
                    "Content": content,
                    "RelativePath": relative,
                    "Offset": offset,
                    "FileType": file_type,
                    "SubmittedTaskInfoId": task.id,
                }
            )
        return JSONResponse(answer)

    # -- JSON shapes -----------------------------------------------------------------------------------------------

    def _template_json(self, template: _Template) -> dict[str, Any]:
        return {
            "Id": template.id,
            "Name": template.name,
            "Description": template.description,
            "ExtendedAllocationCommand": None,
            "IsGeneric": False,
            "IsEnabled": template.enabled,
            "CreatedFromGenericTemplateId": None,
            "TemplateParameters": [
                {"Identifier": p.identifier, "Description": p.description} for p in template.parameters
            ],
        }

    def _project_json(
        self, project: _Project, *, templates: bool = True, template_list: Sequence[_Template] | None = None
    ) -> dict[str, Any]:
        cluster = self._catalogue.clusters[project.cluster_id]
        scratch = str(self.cluster.root / "cluster")
        chosen = project.templates if template_list is None else template_list
        return {
            "Id": project.id,
            "Name": project.name,
            "Description": project.description,
            "AccountingString": project.accounting_string,
            "StartDate": project.start_date,
            "EndDate": project.end_date,
            "UsageType": 1,
            "UseAccountingStringForScheduler": True,
            "IsOneToOneMapping": False,
            "KeyScriptsDirectoryPath": None,
            "CommandTemplates": [self._template_json(t) for t in chosen] if templates else [],
            "ClusterProjectStoragePaths": [
                {
                    "ClusterId": cluster.id,
                    "ClusterName": cluster.name,
                    "ScratchStoragePath": scratch,
                    "ProjectStoragePath": scratch,
                }
            ],
        }

    def _node_type_json(self, node_type: _NodeType, projects: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Id": node_type.id,
            "Name": node_type.name,
            "Description": node_type.description,
            "ClusterId": node_type.cluster_id,
            "NumberOfNodes": node_type.number_of_nodes,
            "CoresPerNode": node_type.cores_per_node,
            "MaxWalltime": node_type.max_walltime,
            "FileTransferMethodId": node_type.file_transfer_method_id,
            "Queue": node_type.queue,
            "QualityOfService": node_type.quality_of_service,
            "ClusterAllocationName": None,
            "ClusterNodeTypeAggregation": {
                "Id": node_type.id,
                "Name": node_type.aggregation,
                "Description": None,
                "AllocationType": None,
                "ValidityFrom": None,
                "ValidityTo": None,
            },
            "Accounting": [],
            "Projects": projects,
        }

    def _job_json(self, job: JobRecord) -> dict[str, Any]:
        return {
            "Id": job.id,
            "Name": job.name,
            "State": int(job.state),
            "CreationTime": _iso(job.creation_time),
            "SubmitTime": _iso(job.submit_time),
            "StartTime": _iso(job.start_time),
            "EndTime": _iso(job.end_time),
            "TotalAllocatedTime": job.total_allocated_time,
            "SubProject": job.sub_project,
            "Tasks": [self._task_json(t) for t in job.tasks],
        }

    def _task_json(self, task: TaskRecord) -> dict[str, Any]:
        node_type = self._catalogue.node_types.get(task.node_type_id)
        project = self._catalogue.projects.get(task.project_id)
        template = self._catalogue.templates.get(task.template_id)
        return {
            "Id": task.id,
            "Name": task.name,
            "State": int(task.state),
            "Priority": task.priority,
            "AllocatedTime": task.allocated_time,
            "AllocatedCoreIds": task.allocated_core_ids,
            "StartTime": _iso(task.start_time),
            "EndTime": _iso(task.end_time),
            "NodeType": {
                "Id": task.node_type_id,
                "Name": node_type.name if node_type else None,
                "Description": node_type.description if node_type else None,
                "Project": {
                    "Id": task.project_id,
                    "Name": project.name if project else None,
                    "Description": project.description if project else None,
                    "AccountingString": project.accounting_string if project else None,
                    "CommandTemplate": self._template_json(template) if template else None,
                },
            },
            "ErrorMessage": task.error_message,
            "CpuHyperThreading": task.cpu_hyper_threading,
            "Reason": task.reason,
        }


# -- helpers -------------------------------------------------------------------------------------------------------


def _iso(timestamp: float | None) -> str | None:
    """UTC date-time without a zone designator, as HEAppE emits DateTime values."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _credentials(body: _Obj) -> _Obj:
    credentials = body.obj("Credentials")
    if credentials is None:
        raise _Binding("$.Credentials", "The Credentials field is required.")
    return credentials


def _positive(body: _Obj, name: str) -> int:
    value = body.required_int(name)
    if value <= 0:
        _invalid(f"{name} must be greater than 0.")
    return value


def _first_wins(variables: Sequence[tuple[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in variables:
        merged.setdefault(name, value)  # C# Dictionary.TryAdd: the first occurrence wins
    return merged


def _substitute(template: _Template, task: _TaskSpec) -> list[str]:
    """The template's arguments with ``%%{Identifier}`` replaced by the task's parameter values."""
    known = {p.identifier: p for p in template.parameters}
    values: dict[str, str] = {}
    for identifier, value in task.parameters:
        if identifier not in known:
            _spec_invalid(f"Task {task.name}: command template {template.id} has no parameter {identifier!r}.")
        if not _PARAM_VALUE.match(value) or len(value) > 1000:
            _spec_invalid(
                f"Task {task.name}: the value of parameter {identifier!r} contains path separators or shell "
                "metacharacters."
            )
        values.setdefault(identifier, value)
    for parameter in template.parameters:
        if parameter.identifier not in values:
            if parameter.default is None:
                _spec_invalid(f"Task {task.name}: parameter {parameter.identifier!r} of the template has no value.")
            values[parameter.identifier] = parameter.default
    arguments = []
    for argument in template.arguments:
        substituted = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), argument)
        if _PLACEHOLDER.search(substituted):
            _spec_invalid(f"Task {task.name}: argument {argument!r} of the template has an unknown placeholder.")
        arguments.append(substituted)
    return arguments


def _check_download_path(relative: str) -> None:
    if len(relative) > 255:
        _invalid("RelativeFilePath cannot be longer than 255 characters.")
    parts = relative.strip("/").split("/")
    if not _DOWNLOAD_PATH.match(relative) or any(p in (".", "..") for p in parts):
        _invalid(f"RelativeFilePath '{relative}' contains illegal characters or path traversal.")


async def _read_json_body(request: Request, limit: int | None) -> dict[str, Any]:
    """Read a JSON object body, enforcing the action's size limit (413) and media type (415)."""
    length = request.headers.get("content-length")
    if limit is not None and length is not None and length.isdigit() and int(length) > limit:
        raise _Problem(413, "Request body too large.", f"The request body is larger than {limit} bytes.")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if limit is not None and len(raw) > limit:
            raise _Problem(413, "Request body too large.", f"The request body is larger than {limit} bytes.")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _JSON_TYPES and not (media.startswith("application/") and media.endswith("+json")):
        raise _Problem(415, "Unsupported Media Type", "The request body must be JSON (application/json).")
    try:
        data = json.loads(bytes(raw))
    except ValueError as exc:
        raise _Binding("$", f"The JSON value is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise _Binding("$", "The JSON value could not be converted to the request model.")
    return data


async def _store_upload(item: UploadFile, target: Path) -> dict[str, Any]:
    original = item.filename or ""
    name = _UPLOAD_UNSAFE.sub("_", original.replace("\\", "/").rsplit("/", 1)[-1])[:255]
    if name in ("", ".", "..") or name.endswith(".part"):
        return {"FileName": original, "Succeeded": False, "Path": None}
    final = target / name
    partial = target / (name + ".part")
    try:
        with partial.open("wb") as fh:
            while chunk := await item.read(1 << 20):
                fh.write(chunk)
        os.replace(partial, final)
    except OSError as exc:
        logger.warning("upload of %r failed: %s", name, exc)
        partial.unlink(missing_ok=True)
        return {"FileName": original, "Succeeded": False, "Path": None}
    return {"FileName": original, "Succeeded": True, "Path": str(final)}
