"""The worker's configuration comes from the site, never from the job.

HEAppE exports every ``EnvironmentVariables`` entry of a job into its task, so the environment a task starts with
is the user's to choose. The worker therefore reads its settings from a TOML file named on the command line of the
command template (``--config``, default ``/etc/qaas/worker.toml``), which only the site can write, and throws the
job environment away before it imports anything that reads environment variables (iqm-client, requests, httpx).

::

    [iqm]
    url = "https://iqm.example.org"       # the IQM server (https; plain http only to loopback)
    quantum_computer = "garnet"           # optional alias
    token_file = "/etc/qaas/iqm-token"    # the site's IQM credential (0600, readable by the worker only)
    # tokens_file = "/etc/qaas/tokens.json"  (an IQM tokens file instead)
    submit_timeout = 60                   # seconds one IQM request may take

    [state]
    dir = "/var/lib/qaas-worker"          # exactly-once records, one 0700 folder per cluster account

    [service]
    socket = "/run/qaas/worker.sock"      # where `qaas-worker serve` listens
    required = true                       # tasks never run in-process (they hold no IQM credential)

    [limits]
    max_request_bytes = 67108864          # a request, decompressed
    max_upload_bytes = 67108864           # the request file as uploaded

Relative paths are resolved against the file's directory.
"""

from __future__ import annotations

import math
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from qaas_core._config import check_url
from qaas_core._errors import ConfigurationError

__all__ = ["DEFAULT_CONFIG", "WorkerConfig", "clean_environment", "load_config"]

DEFAULT_CONFIG: Final = Path("/etc/qaas/worker.toml")

# what a task may keep of the environment HEAppE hands it; everything else is dropped before anything is imported
_KEEP: Final = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "SLURM_JOB_ID"})
# inputs the client puts in the job's environment on purpose (read, validated, then dropped)
INPUTS: Final = ("QAAS_SUBMISSION_ID", "QAAS_CALIBRATION_SET", "QAAS_SESSION_MAX_TIME", "QAAS_SESSION_IDLE_TIMEOUT")
# variables that load code into a process before it runs a line: a task that starts with them set is refused
_INJECTING: Final = ("LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES")
_MIB: Final = 1 << 20


@dataclass(frozen=True)
class WorkerConfig:
    """Settings of the cluster side, from the site's file.

    Attributes:
        iqm_url: the IQM server base URL.
        quantum_computer: QC alias on that server, if it hosts several.
        token_file: file holding the IQM bearer token.
        tokens_file: an IQM tokens file (alternative to ``token_file``).
        submit_timeout: seconds a single IQM request may take.
        state_dir: where exactly-once records live (a 0700 folder per cluster account inside).
        socket: the worker service's socket.
        service_required: tasks must hand their work to the service (they cannot run in-process).
        max_request_bytes: largest request document, decompressed.
        max_upload_bytes: largest request file as uploaded.
        heartbeat_seconds: how often a claim in flight is renewed.
        source: the file the settings came from.
    """

    iqm_url: str | None = None
    quantum_computer: str | None = None
    token_file: Path | None = None
    tokens_file: Path | None = None
    submit_timeout: float = 60.0
    state_dir: Path = Path("/var/lib/qaas-worker")
    socket: Path | None = None
    service_required: bool = False
    max_request_bytes: int = 64 * _MIB
    max_upload_bytes: int = 64 * _MIB
    heartbeat_seconds: float = 2.0
    source: Path | None = None

    @property
    def stale_after(self) -> float:
        """When a claim whose holder stopped renewing it may be taken over: after the longest IQM request a live
        holder could still be waiting for, plus three missed heartbeats."""
        return self.submit_timeout + 3 * self.heartbeat_seconds

    def require_iqm(self) -> None:
        """Fail unless this configuration can reach the IQM server.

        Raises:
            ConfigurationError: no IQM URL or no credential in the site's file.
        """
        where = self.source or DEFAULT_CONFIG
        if not self.iqm_url:
            raise ConfigurationError(f"no IQM server: set url under [iqm] in {where}")

    def read_token(self) -> str | None:
        """The IQM token from ``token_file`` (None when the site uses a tokens file or no credential).

        Raises:
            ConfigurationError: the file cannot be read, is empty, or others may read it.
        """
        if self.token_file is None:
            return None
        try:
            stat = self.token_file.stat()
            token = self.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the IQM token file {self.token_file}: {exc.strerror}") from exc
        if stat.st_mode & 0o077:
            raise ConfigurationError(f"the IQM token file {self.token_file} may be read by others; chmod 600 it")
        if not token:
            raise ConfigurationError(f"the IQM token file {self.token_file} is empty")
        return token


def _number(table: dict[str, Any], key: str, default: float, where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{where}: {key} must be a positive number, got {value!r}")
    return float(value)


def _path(table: dict[str, Any], key: str, base: Path, where: str) -> Path | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: {key} must be a path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def load_config(path: Path | None = None) -> WorkerConfig:
    """Read the site's worker configuration.

    Args:
        path: the file (``--config``); default ``/etc/qaas/worker.toml``.

    Raises:
        ConfigurationError: the file is missing, unreadable, not TOML, or holds unknown or invalid settings.
    """
    path = path or DEFAULT_CONFIG
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"no worker configuration at {path}: the site writes it and names it with --config in the command "
            "template (see docs/deploy.md)"
        ) from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the worker configuration {path}: {exc}") from exc
    known = {
        "iqm": {"url", "quantum_computer", "token_file", "tokens_file", "submit_timeout"},
        "state": {"dir", "heartbeat_seconds"},
        "service": {"socket", "required"},
        "limits": {"max_request_bytes", "max_upload_bytes"},
    }
    for section, table in doc.items():
        if section not in known or not isinstance(table, dict):
            raise ConfigurationError(f"{path}: unknown section [{section}]")
        unknown = set(table) - known[section]
        if unknown:
            raise ConfigurationError(f"{path}: unknown setting(s) {sorted(unknown)} in [{section}]")
    base = path.parent
    iqm, state, service, limits = (doc.get(s, {}) for s in ("iqm", "state", "service", "limits"))
    url = iqm.get("url")
    defaults = WorkerConfig()
    config = WorkerConfig(
        iqm_url=check_url(str(url), "the IQM server URL") if url else None,
        quantum_computer=str(iqm["quantum_computer"]) if iqm.get("quantum_computer") else None,
        token_file=_path(iqm, "token_file", base, str(path)),
        tokens_file=_path(iqm, "tokens_file", base, str(path)),
        submit_timeout=_number(iqm, "submit_timeout", defaults.submit_timeout, str(path)),
        state_dir=_path(state, "dir", base, str(path)) or defaults.state_dir,
        heartbeat_seconds=_number(state, "heartbeat_seconds", defaults.heartbeat_seconds, str(path)),
        socket=_path(service, "socket", base, str(path)),
        service_required=bool(service.get("required", False)),
        max_request_bytes=int(_number(limits, "max_request_bytes", defaults.max_request_bytes, str(path))),
        max_upload_bytes=int(_number(limits, "max_upload_bytes", defaults.max_upload_bytes, str(path))),
        source=path,
    )
    if config.token_file and config.tokens_file:
        raise ConfigurationError(f"{path}: give token_file or tokens_file under [iqm], not both")
    if config.service_required and config.socket is None:
        raise ConfigurationError(f"{path}: [service] required = true needs a socket")
    return config


def clean_environment() -> dict[str, str]:
    """Make this process's environment the site's, not the job's; returns the client's inputs that were in it.

    Drops everything but a short allow-list (locale, ``PATH``, ``HOME``…), so nothing a user put in the job —
    ``PYTHON*``, ``LD_*``, ``IQM_*``, proxies, CA bundles, ``QAAS_WORKER_*`` — reaches iqm-client, requests or a
    child process.

    Raises:
        ConfigurationError: the interpreter was not started isolated (``python -I``), or a variable that loads code
            into every process (``LD_PRELOAD``…) is set: the task may already run someone else's code.
    """
    injecting = [name for name in _INJECTING if os.environ.get(name)]
    if injecting:
        raise ConfigurationError(
            f"the task environment sets {', '.join(injecting)}, which loads code into every process; the worker "
            "refuses to run (the site's command template must not pass it on)"
        )
    if not sys.flags.isolated:
        raise ConfigurationError(
            "qaas-worker must run in an isolated interpreter (`python -I -m qaas_core.worker …`) so that the job "
            "environment cannot load code into it (see docs/deploy.md)"
        )
    inputs = {name: os.environ[name] for name in INPUTS if os.environ.get(name)}
    for name in list(os.environ):
        if name not in _KEEP and not name.startswith("LC_"):
            del os.environ[name]
    return inputs
