"""The HEAppE command templates a site registers, as data: ``qaas_core/worker/deploy/*.json``.

The same files sit at ``deploy/`` in the repository (a test keeps the copies identical); the emulated HEAppE loads
these, so what a site is told to register is what the tests run. Each file is shaped like a HEAppE
``CommandTemplate`` (PascalCase, as in HEAppE's seed and its Management API) with two site placeholders, which the
site replaces when it registers the template (``qaas-worker templates`` prints them filled in)::

    {"Name": "qaas-run", "Description": "…",
     "ExecutableFile": "@PYTHON@",                                   → /opt/qaas/bin/python (the worker's own venv)
     "CommandParameters": "-I -m qaas_core.worker --config @CONFIG@ run",   → /etc/qaas/worker.toml
     "ClusterNodeTypeName": "qexecute",                              → the site's ClusterNodeTypeId
     "TemplateParameters": [], "IsEnabled": true, "ExtendedAllocationCommand": null, "PreparationScript": null}

``@…@`` placeholders are inert in a shell (HEAppE composes a job script from ``ExecutableFile CommandParameters``):
one that was not replaced fails the task instead of expanding anything from the job's environment. HEAppE's own
``%%{Identifier}`` parameters may follow the worker's command (``TemplateParameters``; ``Default`` is an emulator
extension that makes a parameter optional). Every template starts with the same isolated worker invocation
(:data:`WORKER_PREFIX`); the rest are the worker's arguments.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from qaas_core._errors import ConfigurationError

__all__ = [
    "CONFIG",
    "DEFAULT_PYTHON",
    "PYTHON",
    "TEMPLATE_FILES",
    "WORKER_PREFIX",
    "CommandTemplate",
    "TemplateParameter",
    "check_site_path",
    "command_templates",
    "parse_template",
    "worker_command",
]

PYTHON: Final = "@PYTHON@"
CONFIG: Final = "@CONFIG@"
DEFAULT_PYTHON: Final = "/opt/qaas/bin/python"  # where deploy/install-worker.sh puts the worker's environment
#: how every template starts the worker: its own interpreter, isolated, with the site's configuration
WORKER_PREFIX: Final = (PYTHON, "-I", "-m", "qaas_core.worker", "--config", CONFIG)
TEMPLATE_FILES: Final = ("qaas-run.json", "qaas-calibrate.json", "qaas-session.json")
_KNOWN: Final = frozenset(
    {
        "Name",
        "Description",
        "ExtendedAllocationCommand",
        "ExecutableFile",
        "CommandParameters",
        "PreparationScript",
        "ClusterNodeTypeName",
        "IsEnabled",
        "TemplateParameters",
    }
)


@dataclass(frozen=True)
class TemplateParameter:
    """A HEAppE template parameter (``%%{identifier}`` in the command); ``default`` is an emulator extension."""

    identifier: str
    description: str = ""
    default: str | None = None


@dataclass(frozen=True)
class CommandTemplate:
    """One command template (see the module docstring).

    Attributes:
        name: the name clients look the template up by (``qaas-run``, ``qaas-calibrate``).
        description: HEAppE's ``Description``.
        node_type: name of the cluster node type (queue) the template belongs to.
        executable: ``ExecutableFile`` (the ``@PYTHON@`` placeholder).
        command_parameters: ``CommandParameters`` (with ``@CONFIG@`` and possibly ``%%{…}`` placeholders).
        parameters: the template's HEAppE parameters.
        enabled: HEAppE's ``IsEnabled``.
        document: the file as loaded.
    """

    name: str
    description: str
    node_type: str
    executable: str
    command_parameters: str
    parameters: tuple[TemplateParameter, ...]
    enabled: bool
    document: Mapping[str, Any]

    @property
    def argv(self) -> tuple[str, ...]:
        """The command as an argument list, placeholders unreplaced."""
        return (self.executable, *shlex.split(self.command_parameters))

    @property
    def arguments(self) -> tuple[str, ...]:
        """What follows the worker invocation (:data:`WORKER_PREFIX`): the subcommand and its options."""
        return self.argv[len(WORKER_PREFIX) :]

    def command(self, python: str, config: str) -> list[str]:
        """The command with the site's interpreter and configuration file filled in."""
        return [*worker_command(python, config), *self.arguments]

    def filled(self, python: str, config: str) -> dict[str, Any]:
        """The template document as the site registers it: placeholders replaced.

        Raises:
            ConfigurationError: a path is relative or holds characters a shell would interpret.
        """
        check_site_path(python, "the worker's interpreter")
        check_site_path(config, "the worker configuration")
        doc = dict(self.document)
        doc["ExecutableFile"] = self.executable.replace(PYTHON, python)
        doc["CommandParameters"] = self.command_parameters.replace(CONFIG, config)
        return doc


def check_site_path(path: str, what: str) -> None:
    """Fail unless ``path`` may stand in a HEAppE job script as it is.

    Raises:
        ConfigurationError: the path is relative or holds characters a shell would interpret.
    """
    # HEAppE puts the command into a job script: a path must be absolute (a relative one would be looked up in the
    # task directory or on the job's PATH, both the user's) and free of anything a shell would interpret
    if not path.startswith("/") or shlex.quote(path) != path:
        raise ConfigurationError(f"{what} must be an absolute path without spaces or shell characters, got {path!r}")


def worker_command(python: str, config: str) -> list[str]:
    """How every template starts the worker, filled in: ``python -I -m qaas_core.worker --config config`` (an
    argument list, run without a shell; :meth:`CommandTemplate.filled` checks the paths for a job script)."""
    return [python if part == PYTHON else config if part == CONFIG else part for part in WORKER_PREFIX]


def parse_template(doc: Mapping[str, Any], where: str = "command template") -> CommandTemplate:
    """Read one template document.

    Raises:
        ConfigurationError: a field is missing, unknown or of the wrong type, or the command does not start with
            the isolated worker invocation.
    """
    if not isinstance(doc, Mapping):
        raise ConfigurationError(f"{where}: a command template is a JSON object")
    unknown = set(doc) - _KNOWN
    if unknown:
        raise ConfigurationError(f"{where}: unknown field(s) {sorted(unknown)}")
    for key in ("Name", "ExecutableFile", "CommandParameters", "ClusterNodeTypeName"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ConfigurationError(f"{where}: {key} must be a non-empty string")
    name = str(doc["Name"])
    try:
        argv = (str(doc["ExecutableFile"]), *shlex.split(str(doc["CommandParameters"])))
    except ValueError as exc:
        raise ConfigurationError(f"{where} {name}: CommandParameters cannot be split: {exc}") from exc
    if argv[: len(WORKER_PREFIX)] != WORKER_PREFIX or len(argv) == len(WORKER_PREFIX):
        raise ConfigurationError(
            f"{where} {name}: the command must start with {' '.join(WORKER_PREFIX)} followed by the worker's "
            "subcommand (the worker runs isolated, configured by the site only)"
        )
    raw_parameters = doc.get("TemplateParameters") or []
    if not isinstance(raw_parameters, list):
        raise ConfigurationError(f"{where} {name}: TemplateParameters must be a list")
    parameters = []
    for raw in raw_parameters:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("Identifier"), str):
            raise ConfigurationError(f"{where} {name}: every template parameter needs an Identifier")
        default = raw.get("Default")
        parameters.append(
            TemplateParameter(
                str(raw["Identifier"]), str(raw.get("Description") or ""), None if default is None else str(default)
            )
        )
    return CommandTemplate(
        name=name,
        description=str(doc.get("Description") or ""),
        node_type=str(doc["ClusterNodeTypeName"]),
        executable=str(doc["ExecutableFile"]),
        command_parameters=str(doc["CommandParameters"]),
        parameters=tuple(parameters),
        enabled=bool(doc.get("IsEnabled", True)),
        document=dict(doc),
    )


def command_templates(extra: Sequence[Mapping[str, Any]] = ()) -> tuple[CommandTemplate, ...]:
    """The templates qaas-core ships (``qaas-run``, ``qaas-calibrate``), then ``extra`` ones (same format).

    Raises:
        ConfigurationError: a template is malformed, or two share a name.
    """
    folder = resources.files("qaas_core.worker").joinpath("deploy")
    templates = [
        parse_template(json.loads(folder.joinpath(name).read_text(encoding="utf-8")), f"deploy/{name}")
        for name in TEMPLATE_FILES
    ]
    templates += [parse_template(doc, "seed command template") for doc in extra]
    names = [t.name for t in templates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"command templates {duplicates} are defined twice")
    return tuple(templates)
