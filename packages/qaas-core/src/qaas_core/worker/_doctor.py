"""``qaas-worker doctor``: is this installation of the cluster side ready, and is the site configured safely?

Run it as the account that runs the worker (the service account, e.g. ``sudo -u qaas``), with the interpreter and
configuration the command templates name::

    /opt/qaas/bin/python -I -m qaas_core.worker --config /etc/qaas/worker.toml doctor

Every check gives a :class:`Check` (name, :class:`Status`, message); the table is drawn from those, and the exit
code is 1 when any check failed (warnings alone give 0). Checks that need what an earlier one found missing — the
IQM server without a valid configuration, say — are skipped, not failed twice. The doctor changes nothing, reads the
IQM token only to present it to the IQM server, and never prints it.
"""

from __future__ import annotations

import contextlib
import grp
import importlib
import json
import os
import pwd
import stat
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import httpx

from qaas_core._errors import ConfigurationError
from qaas_core._version import WORKER_SCHEMAS
from qaas_core.worker._config import _INJECTING, DEFAULT_CONFIG, WorkerConfig, load_config
from qaas_core.worker._deploy import check_site_path, command_templates

__all__ = ["Check", "Host", "Status", "diagnose", "exit_code", "render", "run_doctor"]

MIN_PYTHON: Final = (3, 11)
#: iqm-client releases the worker is written against, when the installed metadata does not say (pyproject's extra)
IQM_CLIENT_RANGE: Final = ">=36,<37"
_MAX_BODY: Final = 1 << 20  # an IQM answer the doctor reads at most


class Status(StrEnum):
    """How a check came out."""

    OK = "ok"
    WARN = "warn"  # works, but weaker than it should be
    FAIL = "fail"  # the worker cannot run (or runs unsafely) until this is fixed
    SKIP = "skip"  # not checked: an earlier check failed that this one needs


@dataclass(frozen=True)
class Check:
    """One line of the doctor's table."""

    name: str
    status: Status
    message: str


@dataclass(frozen=True)
class Host:
    """What the doctor inspects besides files and the network: the running interpreter (injectable for tests).

    Attributes:
        isolated: whether the interpreter was started ``-I``.
        environ: the environment the worker was started with (before it drops it).
        python: the interpreter the command templates name.
        uid: the account the worker runs as.
        version: the running Python's version.
    """

    isolated: bool = field(default_factory=lambda: bool(sys.flags.isolated))
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    python: str = sys.executable
    uid: int = field(default_factory=os.geteuid)
    version: tuple[int, int, int] = (sys.version_info.major, sys.version_info.minor, sys.version_info.micro)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# -- versions ------------------------------------------------------------------------------------------------------


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _satisfies(version: str, spec: str) -> bool:
    """Whether ``version`` meets every ``>=``, ``>``, ``<=``, ``<``, ``==`` clause of ``spec`` (release numbers)."""
    have = _release(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op = next((o for o in (">=", "<=", "==", "!=", "~=", ">", "<") if clause.startswith(o)), None)
        if op is None:
            raise ValueError(f"cannot read the version clause {clause!r}")
        want = _release(clause[len(op) :].strip().rstrip(".*"))
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        ok = {
            ">=": a >= b,
            "<=": a <= b,
            ">": a > b,
            "<": a < b,
            "==": a[: len(want)] == want,
            "!=": a[: len(want)] != want,
            "~=": a >= b and a[: len(want) - 1] == want[:-1],
        }[op]
        if not ok:
            return False
    return True


def _iqm_client_range() -> str:
    """The iqm-client requirement of qaas-core's ``worker`` extra, as installed (else :data:`IQM_CLIENT_RANGE`)."""
    try:
        requirements = metadata.requires("qaas-core") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        head, _, marker = requirement.partition(";")
        head = head.strip()
        if not head.startswith("iqm-client") or "worker" not in marker:
            continue
        spec = head[len("iqm-client") :].strip()
        if spec.startswith("["):
            spec = spec.partition("]")[2].strip()
        if not spec or spec[0] in "<>=!~":
            # lower bounds first, as people write them
            return ",".join(sorted(spec.split(","), key=lambda c: not c.startswith(">"))) or IQM_CLIENT_RANGE
    return IQM_CLIENT_RANGE


# -- the checks ----------------------------------------------------------------------------------------------------


@dataclass
class _Doctor:
    config_path: Path
    host: Host
    http: httpx.Client
    config: WorkerConfig | None = None
    token: str | None = None
    server_ok: bool = False
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: Status, message: str) -> None:
        self.checks.append(Check(name, status, message))

    @property
    def user(self) -> str:
        return _user(self.host.uid)

    def python(self) -> None:
        version = ".".join(map(str, self.host.version))
        if self.host.version[:2] < MIN_PYTHON:
            self.add("python", Status.FAIL, f"Python {version}; qaas-core needs {'.'.join(map(str, MIN_PYTHON))}+")
        else:
            self.add("python", Status.OK, f"Python {version} ({sys.executable})")

    def isolation(self) -> None:
        if self.host.isolated:
            self.add("isolated interpreter", Status.OK, "started with -I: the job environment cannot load code")
        else:
            self.add(
                "isolated interpreter",
                Status.FAIL,
                "not started with -I: a job's PYTHONPATH or an uploaded "
                "sitecustomize.py would run inside the worker; start it as `python -I -m qaas_core.worker …` "
                "(the worker refuses to run otherwise)",
            )

    def environment(self) -> None:
        injecting = [name for name in _INJECTING if self.host.environ.get(name)]
        if injecting:
            self.add(
                "environment",
                Status.FAIL,
                f"{', '.join(injecting)} set: code is loaded into every process "
                "before it runs (the worker refuses to run); remove it from the environment",
            )
        else:
            self.add("environment", Status.OK, "no variable that loads code into the process (LD_PRELOAD, LD_AUDIT)")

    def account(self) -> None:
        if self.host.uid == 0:
            self.add(
                "account",
                Status.WARN,
                "running as root: run the worker under a dedicated account that alone "
                "reads the IQM token (User= in deploy/qaas-worker.service), and run the doctor as that account",
            )
        else:
            self.add("account", Status.OK, f"runs as {self.user} (uid {self.host.uid})")

    def packages(self) -> None:
        version = _installed("qaas-core") or "unknown"
        self.add("qaas-core", Status.OK, f"{version}; speaks {', '.join(WORKER_SCHEMAS)}")
        installed = _installed("iqm-client")
        wanted = _iqm_client_range()
        if installed is None:
            self.add("iqm-client", Status.FAIL, "not installed in this environment: pip install 'qaas-core[worker]'")
            return
        try:
            fits = _satisfies(installed, wanted)
        except ValueError:
            fits = True  # a requirement we cannot read: the installer checked it
        if not fits:
            self.add("iqm-client", Status.FAIL, f"{installed} installed; qaas-core {version} needs iqm-client{wanted}")
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module("iqm.iqm_client")
        except Exception as exc:  # any import failure is the finding
            self.add(
                "iqm-client", Status.FAIL, f"{installed} installed but cannot be imported: {type(exc).__name__}: {exc}"
            )
            return
        self.add("iqm-client", Status.OK, f"{installed} (qaas-core supports {wanted})")

    def configuration(self) -> None:
        path = self.config_path
        try:
            self.config = load_config(path)
            mode = path.stat().st_mode
        except (ConfigurationError, OSError) as exc:
            self.add("configuration", Status.FAIL, str(exc))
            self.config = None
            return
        if mode & 0o022:
            self.add(
                "configuration",
                Status.FAIL,
                f"{path} may be changed by others (mode {stat.S_IMODE(mode):04o}):"
                " whoever can write it decides where the worker sends circuits and credentials; chmod go-w",
            )
        elif not self.config.iqm_url:
            self.add("configuration", Status.FAIL, f"{path}: no IQM server; set url under [iqm]")
        else:
            qc = self.config.quantum_computer or "its only quantum computer"
            socket = self.config.socket or "none (tasks run in-process)"
            self.add("configuration", Status.OK, f"{path}: IQM server {self.config.iqm_url} ({qc}), service {socket}")

    def credential_file(self) -> None:
        config = self.config
        if config is None:
            self.add("IQM token file", Status.SKIP, "needs a valid configuration")
            return
        path = config.token_file or config.tokens_file
        if path is None:
            self.add(
                "IQM token file",
                Status.WARN,
                "no token_file or tokens_file under [iqm]: requests go to the IQM server without a credential",
            )
            return
        try:
            info = path.stat()
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.add("IQM token file", Status.FAIL, f"cannot read {path} as {self.user}: {exc.strerror}")
            return
        mode = stat.S_IMODE(info.st_mode)
        if config.tokens_file is not None:
            with contextlib.suppress(ValueError, AttributeError):
                text = str(json.loads(text).get("access_token") or "")
        self.token = text or None
        if mode & 0o077:
            self.add(
                "IQM token file",
                Status.FAIL,
                f"{path} has mode {mode:04o}: others may read the site's IQM credential; chmod 600 {path}",
            )
        elif not text:
            self.add("IQM token file", Status.FAIL, f"{path} holds no token")
        elif info.st_uid != self.host.uid:
            self.add(
                "IQM token file",
                Status.WARN,
                f"{path} is owned by {_user(info.st_uid)}, not by {self.user} who runs the worker",
            )
        else:
            self.add("IQM token file", Status.OK, f"{path}: mode {mode:04o}, owned by {self.user}")

    def _get(self, path: str, token: str | None) -> tuple[int, Any]:
        assert self.config is not None
        url = str(self.config.iqm_url).rstrip("/") + path
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.http.stream("GET", url, headers=headers) as answer:
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > _MAX_BODY:
                    raise httpx.DecodingError(f"answer longer than {_MAX_BODY} bytes")
        try:
            return answer.status_code, json.loads(body)
        except ValueError:
            return answer.status_code, None

    def server(self) -> None:
        if self.config is None or not self.config.iqm_url:
            self.add("IQM server", Status.SKIP, "needs a valid configuration")
            return
        try:
            status, about = self._get("/api/v1/about", None)
        except httpx.HTTPError as exc:
            self.add("IQM server", Status.FAIL, f"{self.config.iqm_url} cannot be reached: {type(exc).__name__}: {exc}")
            return
        if status != 200 or not isinstance(about, dict):
            self.add(
                "IQM server",
                Status.FAIL,
                f"GET {self.config.iqm_url}/api/v1/about answered {status}, not an "
                "IQM server's about document (is the URL the server's root?)",
            )
            return
        self.server_ok = True
        version = about.get("version") or about.get("iqm_server_version") or "version not given"
        self.add("IQM server", Status.OK, f"{self.config.iqm_url} answers ({version})")

    def credential(self) -> None:
        if self.config is None or not self.server_ok:
            self.add("IQM credential", Status.SKIP, "needs a reachable IQM server")
            return
        try:
            status, doc = self._get("/api/v1/quantum-computers", self.token)
        except httpx.HTTPError as exc:
            self.add("IQM credential", Status.FAIL, f"GET /api/v1/quantum-computers failed: {type(exc).__name__}")
            return
        if status in (401, 403):
            what = "the token" if self.token else "a request without a credential"
            self.add("IQM credential", Status.FAIL, f"the IQM server refused {what} ({status}); check the token file")
            return
        computers = doc.get("quantum_computers") if isinstance(doc, dict) else None
        if status != 200 or not isinstance(computers, list):
            self.add("IQM credential", Status.FAIL, f"GET /api/v1/quantum-computers answered {status}")
            return
        aliases = [str(c.get("alias")) for c in computers if isinstance(c, dict)]
        wanted = self.config.quantum_computer
        if wanted and wanted not in aliases:
            self.add(
                "IQM credential",
                Status.FAIL,
                f"token accepted, but the server has no quantum computer "
                f"{wanted!r} (it has {', '.join(aliases) or 'none'}); fix quantum_computer under [iqm]",
            )
        elif not wanted and len(aliases) > 1:
            self.add(
                "IQM credential",
                Status.FAIL,
                f"token accepted; the server hosts {', '.join(aliases)}: name one with quantum_computer under [iqm]",
            )
        else:
            self.add("IQM credential", Status.OK, f"token accepted; quantum computers: {', '.join(aliases)}")

    def state(self) -> None:
        if self.config is None:
            self.add("state directory", Status.SKIP, "needs a valid configuration")
            return
        folder = self.config.state_dir
        fix = f"install -d -o {self.user} -m 0700 {folder}"
        try:
            info = folder.stat()
        except FileNotFoundError:
            self.add("state directory", Status.FAIL, f"{folder} does not exist; create it: {fix}")
            return
        except OSError as exc:
            self.add("state directory", Status.FAIL, f"{folder}: {exc.strerror}")
            return
        mode = stat.S_IMODE(info.st_mode)
        if not stat.S_ISDIR(info.st_mode):
            self.add("state directory", Status.FAIL, f"{folder} is not a directory")
        elif info.st_uid != self.host.uid:
            self.add(
                "state directory",
                Status.FAIL,
                f"{folder} is owned by {_user(info.st_uid)}, not by {self.user} who runs the worker: {fix}",
            )
        elif mode & 0o077:
            self.add(
                "state directory",
                Status.FAIL,
                f"{folder} has mode {mode:04o}: others may read or change the exactly-once records; chmod 700 {folder}",
            )
        elif not os.access(folder, os.W_OK | os.X_OK):
            self.add("state directory", Status.FAIL, f"{folder} is not writable by {self.user}")
        else:
            self.add("state directory", Status.OK, f"{folder}: owned by {self.user}, mode {mode:04o}")

    def service(self) -> int | None:
        """The service row; returns the group id of the socket's directory (None without a usable one)."""
        from qaas_core.worker._service import ping

        if self.config is None:
            self.add("worker service", Status.SKIP, "needs a valid configuration")
            return None
        socket = self.config.socket
        if socket is None:
            self.add(
                "worker service",
                Status.WARN,
                "no [service] socket: every task imports iqm-client (seconds) and reads the IQM token itself",
            )
            return None
        folder = socket.parent
        try:
            info = folder.stat()
        except OSError as exc:
            self.add(
                "worker service",
                Status.FAIL,
                f"the socket's directory {folder}: {exc.strerror} (systemd's "
                "RuntimeDirectory= creates it, see deploy/qaas-worker.service)",
            )
            return None
        mode = stat.S_IMODE(info.st_mode)
        where = f"{folder} (group {_group(info.st_gid)}, mode {mode:04o})"
        if mode & 0o022:
            self.add(
                "worker service",
                Status.FAIL,
                f"{where}: others may replace the socket with their own; make the "
                f"directory writable by {_user(info.st_uid)} only (0750)",
            )
            return info.st_gid
        answer = ping(socket)
        ours = _installed("qaas-core")
        if answer is None:
            required = self.config.service_required
            tail = "tasks fail until it does" if required else "tasks run in-process meanwhile"
            self.add(
                "worker service",
                Status.FAIL if required else Status.WARN,
                f"nothing answers on {socket}: start `qaas-worker serve` (systemctl start qaas-worker); {tail}",
            )
        elif ours and answer != f"qaas-core {ours}":
            self.add(
                "worker service",
                Status.WARN,
                f"{socket} answers, but runs {answer or 'an older qaas-core'} and"
                f" this installation is qaas-core {ours}: restart the service after an upgrade",
            )
        elif mode & 0o007:
            self.add(
                "worker service",
                Status.WARN,
                f"{socket} answers ({answer}); others may enter {where}: make it "
                "0750, group-owned by the cluster accounts' group",
            )
        else:
            self.add("worker service", Status.OK, f"{socket} answers ({answer}); {where}")
        return info.st_gid

    def accounts(self, socket_group: int | None) -> None:
        name = "project isolation"
        if self.config is None:
            self.add(name, Status.SKIP, "needs a valid configuration")
            return
        shared = "projects are not isolated from each other (docs/deploy.md, 'The shared site')"
        if self.config.socket is None:
            self.add(
                name,
                Status.WARN,
                "without the worker service every task holds the IQM token, so every "
                f"project's account can read it (or all run as {self.user}): {shared}",
            )
        elif not self.config.service_required:
            self.add(
                name,
                Status.WARN,
                "[service] required = false: a task whose service does not answer runs "
                f"in-process and then needs the IQM token; set required = true, else {shared}",
            )
        elif socket_group is None:
            self.add(name, Status.SKIP, "needs the service's socket directory")
        else:
            try:
                members = set(grp.getgrgid(socket_group).gr_mem) - {self.user}
            except KeyError:
                members = set()
            group = _group(socket_group)
            if members:
                listed = ", ".join(sorted(members)[:5]) + (", …" if len(members) > 5 else "")
                self.add(
                    name,
                    Status.OK,
                    f"{len(members)} cluster account(s) in group {group} reach the service "
                    f"({listed}); only {self.user} holds the IQM token",
                )
            else:
                self.add(
                    name,
                    Status.WARN,
                    f"no account but {self.user} is listed in group {group}, which may reach "
                    f"the service: tasks then run as {self.user}, one account for every project: {shared}",
                )

    def templates(self) -> None:
        python = self.host.python
        config = os.path.abspath(self.config_path)
        try:
            templates = command_templates()
            check_site_path(python, "the worker's interpreter")
            check_site_path(config, "the worker configuration")
        except ConfigurationError as exc:
            self.add("command templates", Status.FAIL, str(exc))
            return
        if not os.access(python, os.X_OK) or not Path(python).is_file():
            self.add("command templates", Status.FAIL, f"{python} is not an executable file")
            return
        for template in templates:
            argv = template.command(python, config)
            shown = " ".join(argv)
            try:
                done = subprocess.run(  # noqa: S603 - the site's own interpreter and module, no shell
                    [*argv, "--help"],
                    cwd="/",
                    env={"PATH": os.defpath},
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.add(f"template {template.name}", Status.FAIL, f"{shown}: {exc}")
                continue
            if done.returncode != 0 or "qaas-worker" not in done.stdout:
                tail = (done.stderr.strip().splitlines() or ["no output from qaas-worker"])[-1]
                self.add(f"template {template.name}", Status.FAIL, f"{shown}: exits {done.returncode}: {tail}")
            else:
                self.add(f"template {template.name}", Status.OK, shown)


def diagnose(
    config_path: Path | None = None,
    *,
    host: Host | None = None,
    http: httpx.Client | None = None,
    timeout: float = 10.0,
) -> list[Check]:
    """Run every check, in the table's order.

    Args:
        config_path: the site's worker configuration (default ``/etc/qaas/worker.toml``).
        host: the interpreter and account to judge (default: the running ones).
        http: the client for the IQM server (default: a new one with ``timeout`` that ignores proxy variables, as
            the worker does, since it drops the environment).
        timeout: seconds for each IQM request.
    """
    with contextlib.ExitStack() as stack:
        if http is None:
            http = stack.enter_context(httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False))
        doctor = _Doctor(Path(config_path or DEFAULT_CONFIG), host or Host(), http)
        doctor.python()
        doctor.isolation()
        doctor.environment()
        doctor.account()
        doctor.packages()
        doctor.configuration()
        doctor.credential_file()
        doctor.server()
        doctor.credential()
        doctor.state()
        doctor.accounts(doctor.service())
        doctor.templates()
        return doctor.checks


def exit_code(checks: Sequence[Check]) -> int:
    """1 when a check failed, else 0 (warnings and skipped checks alone do not fail the doctor)."""
    return 1 if any(c.status is Status.FAIL for c in checks) else 0


def render(checks: Sequence[Check]) -> Any:
    """The doctor's table (a rich renderable); every cell is plain text, never markup."""
    from rich.table import Table
    from rich.text import Text

    styles = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}
    table = Table(title="qaas-worker doctor", title_justify="left", show_lines=False)
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("result", overflow="fold")
    for check in checks:
        table.add_row(Text(check.name), Text(check.status.value, style=styles[check.status]), Text(check.message))
    return table


def run_doctor(config_path: Path | None, *, python: str | None = None) -> int:
    """``qaas-worker doctor``: check, print the table and a summary; returns the exit code."""
    from rich.console import Console

    checks = diagnose(config_path, host=Host(python=python or sys.executable))
    console = Console(highlight=False, emoji=False, markup=False)
    console.print(render(checks))
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    console.print(
        f"{counts[Status.FAIL]} failed, {counts[Status.WARN]} warning(s), {counts[Status.SKIP]} skipped, "
        f"{counts[Status.OK]} ok"
    )
    return exit_code(checks)
