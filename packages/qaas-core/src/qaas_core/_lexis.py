"""Resource resolution: LEXIS project + quantum resource name → where and how to run on HEAppE.

The contract the real deployment uses: UserOrg ``ProjectResource?ProjectShortName=`` lists the project's resources;
the one whose ``Name`` is the resource (e.g. ``EQE1-CZ-P0001``) has an assignment with ``LocationName`` (the HEAppE
cluster name) and ``Specifications`` with ``HEAPPE_URL``. HEAppE's ``ListAvailableClusters`` then gives the cluster
id, the node type, the HEAppE project whose ``AccountingString`` is the resource name, the command templates and the
file transfer method. Results are cached for ``ttl`` seconds (in memory and on disk).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from qaas_core._auth import bearer_auth
from qaas_core._config import Settings, check_url
from qaas_core._errors import AuthenticationError, ConfigurationError, QaasError, ResponseError
from qaas_core._files import private_dir, write_atomic
from qaas_core._http import RetryPolicy, check, json_body, translate

if TYPE_CHECKING:
    import httpx

    from qaas_core._auth import TokenManager
    from qaas_core._heappe import HEAppEClient

__all__ = ["HeappeTarget", "QuantumResource", "UserOrg", "resolve_target"]

QUANTUM_LOCATION_TYPE: Final = 7
SERVICE: Final = "LEXIS UserOrg"


@dataclass(frozen=True)
class QuantumResource:
    """A quantum resource of a LEXIS project.

    Attributes:
        name: resource name (the HEAppE accounting string), e.g. ``EQE1-CZ-P0001``.
        project: LEXIS project short name.
        location: HEAppE cluster name (``LocationName``).
        heappe_url: the HEAppE instance (``HEAPPE_URL``).
        aggregation: ``AggregationName`` (e.g. ``VLQ``).
        technology: ``QUANTUM_TECHNOLOGY``, if given.
        allocation: ``AllocationAmount``, if given.
    """

    name: str
    project: str
    location: str
    heappe_url: str
    aggregation: str = ""
    technology: str = ""
    allocation: float | None = None


@dataclass(frozen=True)
class HeappeTarget:
    """Everything needed to create a HEAppE job for a resource."""

    heappe_url: str
    cluster_id: int
    cluster_name: str
    node_type_id: int
    project_id: int
    file_transfer_method_id: int
    run_template_id: int
    run_template_parameters: tuple[str, ...]
    calibrate_template_id: int | None
    calibrate_template_parameters: tuple[str, ...]
    max_walltime: int
    resource: str
    session_template_id: int | None = None
    session_template_parameters: tuple[str, ...] = ()


class UserOrg:
    """LEXIS UserOrg client (bearer-protected).

    Args:
        settings: client settings (``userorg_url``).
        tokens: LEXIS token source.
        http: httpx client to use.
    """

    def __init__(self, settings: Settings, tokens: TokenManager, http: httpx.Client) -> None:
        self.base = settings.userorg_url.rstrip("/")
        self.tokens = tokens
        self.http = http
        self.retry = RetryPolicy()
        self.requests = 0
        self._auth = bearer_auth(tokens)

    def _get(self, path: str, params: dict[str, Any], what: str) -> Any:
        url = f"{self.base}/{path}"

        def once() -> Any:
            self.requests += 1
            try:
                response = self.http.get(url, params=params, auth=self._auth)
            except QaasError:
                raise
            except Exception as exc:
                raise translate(exc, SERVICE, what) from exc
            return json_body(check(response, SERVICE, what), SERVICE, what)

        return self.retry.call(once, what)

    def resources(self, project: str) -> list[QuantumResource]:
        """The quantum resources of ``project``.

        Raises:
            ConfigurationError: the project is unknown or not yours.
            ResponseError: UserOrg answered in an unexpected shape.
        """
        what = f"listing the resources of project {project!r}"
        try:
            raw = self._get("ProjectResource", {"ProjectShortName": project}, what)
        except AuthenticationError:
            raise
        except QaasError as exc:
            if getattr(exc, "status_code", None) in (403, 404):
                raise ConfigurationError(f"LEXIS project {project!r} is unknown or you are not a member") from exc
            raise
        if not isinstance(raw, list):
            raise ResponseError(f"{SERVICE} sent {type(raw).__name__} instead of a list while {what}")
        out = []
        for entry in raw:
            if not isinstance(entry, dict):
                raise ResponseError(f"{SERVICE} sent a malformed resource while {what}")
            out.extend(_quantum_assignments(entry, project))
        return out


def _quantum_assignments(entry: dict[str, Any], project: str) -> list[QuantumResource]:
    name = entry.get("Name")
    assignments = entry.get("Assignments") or []
    if not isinstance(name, str) or not isinstance(assignments, list):
        return []
    out = []
    for a in assignments:
        if not isinstance(a, dict):
            continue
        specs = {str(s.get("Key")): str(s.get("Value")) for s in a.get("Specifications") or [] if isinstance(s, dict)}
        location_type = a.get("LocationTypeId", entry.get("LocationTypeId"))
        if "HEAPPE_URL" not in specs or (
            location_type not in (None, QUANTUM_LOCATION_TYPE) and "SW_STACK" not in specs
        ):
            continue
        try:
            url = check_url(specs["HEAPPE_URL"], f"HEAPPE_URL of resource {name!r}")
        except ConfigurationError:
            continue
        amount = a.get("AllocationAmount")
        out.append(QuantumResource(
            name=name, project=project, location=str(a.get("LocationName") or ""), heappe_url=url,
            aggregation=str(a.get("AggregationName") or ""), technology=specs.get("QUANTUM_TECHNOLOGY", ""),
            allocation=float(amount) if isinstance(amount, int | float) else None,
        ))  # fmt: skip
    return out


def resolve_target(heappe: HEAppEClient, resource: QuantumResource, settings: Settings) -> HeappeTarget:
    """Find cluster, node type, project and command templates for ``resource`` on its HEAppE instance.

    Raises:
        ConfigurationError: the cluster, a project for the resource, or the command templates are missing.
    """
    clusters = heappe.list_clusters(resource.location or None)
    cluster = next((c for c in clusters if c.get("Name") == resource.location), None)
    if cluster is None and len(clusters) == 1 and not resource.location:
        cluster = clusters[0]
    if cluster is None:
        names = [c.get("Name") for c in clusters]
        raise ConfigurationError(f"HEAppE at {resource.heappe_url} has no cluster {resource.location!r} ({names})")
    best: HeappeTarget | None = None
    for node in cluster.get("NodeTypes") or []:
        if settings.node_type and node.get("Name") != settings.node_type:
            continue
        for project in _as_list(node.get("Projects") or node.get("Project")):
            if project.get("AccountingString") != resource.name:
                continue
            templates = {
                t.get("Name"): t for t in _as_list(project.get("CommandTemplates")) if t.get("IsEnabled", True)
            }
            run = templates.get(settings.run_template)
            if run is None:
                continue
            cal = templates.get(settings.calibrate_template)
            ses = templates.get(settings.session_template)
            method = node.get("FileTransferMethodId") or (cluster.get("FileTransferMethodIds") or [None])[0]
            if method is None:
                raise ConfigurationError(f"HEAppE cluster {resource.location!r} names no file transfer method")
            best = HeappeTarget(
                heappe_url=resource.heappe_url, cluster_id=int(cluster["Id"]), cluster_name=str(cluster.get("Name")),
                node_type_id=int(node["Id"]), project_id=int(project["Id"]), file_transfer_method_id=int(method),
                run_template_id=int(run["Id"]), run_template_parameters=_parameters(run),
                calibrate_template_id=int(cal["Id"]) if cal else None,
                calibrate_template_parameters=_parameters(cal) if cal else (),
                max_walltime=int(node.get("MaxWalltime") or 86400), resource=resource.name,
                session_template_id=int(ses["Id"]) if ses else None,
                session_template_parameters=_parameters(ses) if ses else (),
            )  # fmt: skip
            break
        if best:
            break
    if best is None:
        raise ConfigurationError(
            f"no HEAppE project with AccountingString {resource.name!r} offers the command template "
            f"{settings.run_template!r} on cluster {resource.location!r}"
            + (f" (node type {settings.node_type!r})" if settings.node_type else "")
            + "; ask the site to deploy the qaas templates, or set run_template / node_type"
        )
    return best


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _parameters(template: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(p.get("Identifier")) for p in _as_list(template.get("TemplateParameters")) if p.get("Identifier"))


class TargetCache:
    """Resolved targets per (profile, project, resource), kept ``ttl`` seconds in a JSON file."""

    def __init__(self, path: Path, ttl: float) -> None:
        self.path = path
        self.ttl = ttl

    def get(self, key: str) -> tuple[QuantumResource, HeappeTarget] | None:
        try:
            doc = json.loads(self.path.read_text())
            entry = doc[key]
            if time.time() - float(entry["saved"]) > self.ttl:
                return None
            target = entry["target"]
            target["run_template_parameters"] = tuple(target["run_template_parameters"])
            target["calibrate_template_parameters"] = tuple(target["calibrate_template_parameters"])
            target["session_template_parameters"] = tuple(target.get("session_template_parameters") or ())
            return QuantumResource(**entry["resource"]), HeappeTarget(**target)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, resource: QuantumResource, target: HeappeTarget) -> None:
        try:
            doc = json.loads(self.path.read_text())
            if not isinstance(doc, dict):
                doc = {}
        except (OSError, ValueError):
            doc = {}
        doc[key] = {"saved": time.time(), "resource": asdict(resource), "target": asdict(target)}
        private_dir(self.path.parent)
        write_atomic(self.path, json.dumps(doc).encode())
