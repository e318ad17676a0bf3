"""Which qaas-core a site's worker runs and which wire schemas it speaks, and the client's check against it.

A site says so in a small JSON document, served anonymously at ``{HEAPPE_URL}/qaas`` (a static file the site writes
with ``qaas-worker info``; the emulated HEAppE serves the same)::

    {"schema": "qaas.site/1", "qaas_version": "0.1.0", "iqm_client": "36.0.0",
     "schemas": ["qaas.run/1", "qaas.result/1", "qaas.calibration/1"],
     "sw_stack": "IQM", "quantum_technology": "superconducting"}

``qaas_version``, ``sw_stack`` and ``quantum_technology`` are the keys IT4I's own clients read there.
:func:`check_worker_version` is pure: it takes the client's version and that document, and says what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, Final

from qaas_core._calibration import CALIBRATION_SCHEMA
from qaas_core._result import RESULT_SCHEMA
from qaas_core._wire import RUN_SCHEMA

__all__ = ["CLIENT_SCHEMAS", "SITE_SCHEMA", "WORKER_SCHEMAS", "check_worker_version", "site_info"]

SITE_SCHEMA: Final = "qaas.site/1"
#: the documents a worker of this qaas-core reads or writes
WORKER_SCHEMAS: Final = (RUN_SCHEMA, RESULT_SCHEMA, CALIBRATION_SCHEMA)
#: what a client of this qaas-core needs the worker to speak: it sends ``qaas.run/1`` and reads ``qaas.result/1``
CLIENT_SCHEMAS: Final = (RUN_SCHEMA, RESULT_SCHEMA)
_RELEASE: Final = re.compile(r"\s*v?(\d+)\.(\d+)")


def site_info(qaas_version: str | None = None, iqm_client: str | None = None) -> dict[str, Any]:
    """The site document of this installation (what ``qaas-worker info`` prints).

    Args:
        qaas_version: the worker's qaas-core version; default: the installed one.
        iqm_client: the worker's iqm-client version; default: the installed one (None when it is missing).
    """
    from importlib import metadata

    def installed(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "schema": SITE_SCHEMA,
        "qaas_version": qaas_version or installed("qaas-core"),
        "iqm_client": iqm_client or installed("iqm-client"),
        "schemas": list(WORKER_SCHEMAS),
        "sw_stack": "IQM",
        "quantum_technology": "superconducting",
    }


def _release(version: object) -> tuple[int, int] | None:
    match = _RELEASE.match(version) if isinstance(version, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def check_worker_version(
    client_version: str, info: Mapping[str, Any], *, speaks: Collection[str] = CLIENT_SCHEMAS
) -> str | None:
    """Whether this client and the site's worker understand each other; a warning text when they may not.

    Args:
        client_version: the client's qaas-core version (``qaas_core.__version__`` or the installed metadata).
        info: the site document (``GET {HEAPPE_URL}/qaas``, see the module docstring).
        speaks: the schemas the client needs the worker to speak.

    Returns:
        None when the worker speaks every schema in ``speaks`` and runs the same major.minor release as the
        client; otherwise one sentence saying what differs and what to do (for a warning, not an error: a patch
        release or a compatible worker may still serve the job).
    """
    schemas = info.get("schemas")
    worker_version = info.get("qaas_version")
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        return (
            "the site does not say which qaas schemas its worker speaks (no 'schemas' in its /qaas document): it may "
            "not run qaas-core's worker; ask the site to deploy it (docs/deploy.md)"
        )
    missing = [schema for schema in speaks if schema not in schemas]
    if missing:
        offered = ", ".join(schemas) or "none"
        return (
            f"the site's worker (qaas-core {worker_version}) does not speak {', '.join(missing)} (it speaks "
            f"{offered}): jobs from this client (qaas-core {client_version}) would fail; install the qaas-core "
            "release the site runs, or ask the site to update its worker"
        )
    ours, theirs = _release(client_version), _release(worker_version)
    if ours is None:
        return f"cannot compare versions: this client's qaas-core version {client_version!r} is not a release number"
    if theirs is None:
        return f"the site does not report a usable qaas-core version for its worker ({worker_version!r})"
    if ours != theirs:
        return (
            f"this client runs qaas-core {client_version}, the site's worker qaas-core {worker_version}: releases "
            f"that differ in major or minor version may disagree on the wire; install qaas-core=={theirs[0]}."
            f"{theirs[1]}.* or ask the site to update its worker"
        )
    return None
