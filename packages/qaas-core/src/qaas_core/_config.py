"""Configuration: explicit argument → ``QAAS_*`` environment → TOML file → the profile's defaults.

The TOML file lives at ``$QAAS_CONFIG`` or in the user config directory (``qaas/config.toml``)::

    default_profile = "lexis"

    [profiles.lexis]
    auth_url = "https://<keycloak>/auth/realms/<realm>"
    project = "my-project"
    resource = "EQE1-CZ-P0001"

Two profiles are built in: ``lexis`` (the real platform; UserOrg at ``https://api.lexis.tech/userorg/api``) and
``emulator`` (the local emulator started by ``qaas emulator serve``, whose URLs it reads from the data directory).
Secrets (tokens, passwords) are held in :class:`~qaas_core._secret.Secret` and never printed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from qaas_core._errors import ConfigurationError
from qaas_core._secret import Secret

__all__ = ["Settings", "check_heappe_url", "config_path", "data_dir", "load_settings"]

LEXIS_USERORG_URL: Final = "https://api.lexis.tech/userorg/api"
LEXIS_HEAPPE_HOSTS: Final = ("*.it4i.cz", "*.lexis.tech")  # where LEXIS resources' HEAppE instances live

# field name -> environment variables, first match wins
_ENV: Final[dict[str, tuple[str, ...]]] = {
    "auth_url": ("QAAS_AUTH_URL",),
    "client_id": ("QAAS_CLIENT_ID",),
    "userorg_url": ("QAAS_USERORG_URL",),
    "project": ("QAAS_PROJECT",),
    "resource": ("QAAS_RESOURCE",),
    "token": ("QAAS_TOKEN",),
    "refresh_token": ("QAAS_LEXIS_REFRESH_TOKEN", "PY4LEXIS_TOKEN"),
    "username": ("QAAS_USERNAME",),
    "password": ("QAAS_PASSWORD",),
    "heappe_url": ("QAAS_HEAPPE_URL",),
    "heappe_hosts": ("QAAS_HEAPPE_HOSTS",),
    "heappe_auth": ("QAAS_HEAPPE_AUTH",),
    "run_template": ("QAAS_RUN_TEMPLATE",),
    "calibrate_template": ("QAAS_CALIBRATE_TEMPLATE",),
    "session_template": ("QAAS_SESSION_TEMPLATE",),
    "node_type": ("QAAS_NODE_TYPE",),
    "timeout": ("QAAS_TIMEOUT",),
    "poll_max": ("QAAS_POLL_MAX",),
    "ca_bundle": ("QAAS_CA_BUNDLE",),
    "progress": ("QAAS_PROGRESS",),
    "calibration_ttl": ("QAAS_CALIBRATION_TTL",),
    "transport": ("QAAS_TRANSPORT",),
    "iqm_url": ("QAAS_IQM_URL", "IQM_SERVER_URL"),
    "quantum_computer": ("QAAS_QUANTUM_COMPUTER", "IQM_QUANTUM_COMPUTER"),
    "iqm_token": ("QAAS_IQM_TOKEN", "IQM_TOKEN"),
    "iqm_tokens_file": ("QAAS_IQM_TOKENS_FILE", "IQM_TOKENS_FILE"),
    "use_timeslot": ("QAAS_USE_TIMESLOT",),
    "budget_qpu_seconds": ("QAAS_BUDGET_QPU_SECONDS",),
}
_SECRETS: Final = frozenset({"token", "refresh_token", "password", "iqm_token"})
_FLOATS: Final = frozenset({"timeout", "poll_max", "calibration_ttl", "budget_qpu_seconds"})


def data_dir() -> Path:
    """Where qaas keeps tokens, the ledger and caches (``$QAAS_DATA_DIR`` or the user data directory)."""
    if os.environ.get("QAAS_DATA_DIR"):
        return Path(os.environ["QAAS_DATA_DIR"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("qaas", appauthor=False))


def config_path() -> Path:
    """The TOML configuration file (``$QAAS_CONFIG`` or the user config directory)."""
    if os.environ.get("QAAS_CONFIG"):
        return Path(os.environ["QAAS_CONFIG"])
    from platformdirs import user_config_dir

    return Path(user_config_dir("qaas", appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one client.

    Attributes:
        profile: profile name the settings came from.
        auth_url: OIDC realm URL (``…/auth/realms/<realm>``) of LEXIS's Keycloak.
        client_id: OIDC client id used for device flow and refresh.
        userorg_url: base URL of the LEXIS UserOrg API.
        project: LEXIS project short name.
        resource: LEXIS quantum resource name (e.g. ``EQE1-CZ-P0001``).
        token: explicit access token.
        refresh_token: refresh or offline token (``QAAS_LEXIS_REFRESH_TOKEN`` or py4lexis's ``PY4LEXIS_TOKEN``).
        username: service-account user (password grant).
        password: service-account password.
        heappe_url: override of the resource's ``HEAPPE_URL``.
        heappe_hosts: host names (shell patterns) a ``HEAPPE_URL`` from LEXIS may point to; the user's bearer token
            goes only there (``QAAS_HEAPPE_HOSTS``: comma-separated). An explicit ``heappe_url`` is always trusted.
        heappe_auth: ``bearer`` (LEXIS token on every call) or ``session`` (HEAppE session codes).
        run_template: HEAppE command template that runs ``qaas-worker run``.
        calibrate_template: HEAppE command template that runs ``qaas-worker calibrate``.
        session_template: HEAppE command template that runs ``qaas-worker session`` (sessions).
        node_type: HEAppE node type to use (None: the one that offers the templates).
        timeout: HTTP timeout in seconds.
        poll_max: longest pause between two status polls (HEAppE refreshes job states every 30 s).
        ca_bundle: CA bundle for TLS verification (TLS verification is always on).
        progress: ``auto`` (a bar on a terminal or notebook), ``always`` or ``never``.
        calibration_ttl: seconds a fetched calibration is trusted before it is fetched again.
        transport: ``heappe`` (LEXIS + HEAppE, the default) or ``iqm`` (the IQM server directly, with an IQM token).
        iqm_url: the IQM server's root URL (``iqm`` transport; ``IQM_SERVER_URL`` works too).
        quantum_computer: the quantum computer's alias on that server (default: the only one it has).
        iqm_token: an IQM token (``IQM_TOKEN``).
        iqm_tokens_file: an IQM tokens file (``IQM_TOKENS_FILE``), instead of a token.
        use_timeslot: submit into the user's reserved timeslot (``iqm`` transport).
        budget_qpu_seconds: refuse a batch (before upload) that would take this profile's ledger past this many
            QPU seconds on its resource (``BudgetExceededError``); the LEXIS allocation is always checked.
        data_dir: tokens, ledger and caches.
        config_file: the TOML file that was read (if any).
    """

    profile: str = "lexis"
    auth_url: str | None = None
    client_id: str = "qaas"
    userorg_url: str = LEXIS_USERORG_URL
    project: str | None = None
    resource: str | None = None
    token: Secret | None = None
    refresh_token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    heappe_url: str | None = None
    heappe_hosts: tuple[str, ...] = LEXIS_HEAPPE_HOSTS
    heappe_auth: Literal["bearer", "session"] = "bearer"
    run_template: str = "qaas-run"
    calibrate_template: str = "qaas-calibrate"
    session_template: str = "qaas-session"
    node_type: str | None = None
    timeout: float = 60.0
    poll_max: float = 30.0
    ca_bundle: str | None = None
    progress: Literal["auto", "always", "never"] = "auto"
    calibration_ttl: float = 600.0
    transport: Literal["heappe", "iqm"] = "heappe"
    iqm_url: str | None = None
    quantum_computer: str | None = None
    iqm_token: Secret | None = None
    iqm_tokens_file: Path | None = None
    use_timeslot: bool = False
    budget_qpu_seconds: float | None = None
    data_dir: Path = field(default_factory=data_dir)
    config_file: Path | None = None

    def require(self, *names: str) -> None:
        """Fail with one message that lists every missing setting and where to set it.

        Raises:
            ConfigurationError: one or more of ``names`` is not set.
        """
        missing = [n for n in names if not getattr(self, n)]
        if not missing:
            return
        where = self.config_file or config_path()
        lines = []
        for name in missing:
            env = " or ".join(_ENV.get(name, ()))
            lines.append(f"  - {name}: pass {name}=..., set {env}, or put `{name} = ...` under "
                         f"[profiles.{self.profile}] in {where}")  # fmt: skip
        raise ConfigurationError(f"missing setting(s) for profile {self.profile!r}:\n" + "\n".join(lines))

    def without_secrets(self) -> Settings:
        """These settings with every secret (tokens, password) removed: what an object may keep when it is pickled
        or copied to another process. :meth:`with_secrets_resolved` fills the secrets in again where they live."""
        cleared: dict[str, Any] = dict.fromkeys(_SECRETS)
        return replace(self, **cleared)

    def with_secrets_resolved(self) -> Settings:
        """Settings kept by :meth:`without_secrets`, with the secrets read again the way :func:`load_settings` finds
        them: ``QAAS_*`` environment, the configuration file, the profile (the emulator's ``emulator.json``). A
        LEXIS login is not a setting: it stays in the token cache of ``data_dir``. Secrets given only as arguments
        are not recovered (pass them again, or put them in the environment or the configuration file).

        Raises:
            ConfigurationError: the profile cannot be read any more (e.g. the emulator it named has stopped).
        """
        found = load_settings(self.profile, data_dir=self.data_dir)
        secrets: dict[str, Any] = {name: getattr(self, name) or getattr(found, name) for name in _SECRETS}
        return replace(self, **secrets)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name))
        return f"Settings({shown})"


def check_url(url: str, what: str) -> str:
    """Accept https anywhere and plain http only to loopback.

    Raises:
        ConfigurationError: another scheme, or plain http to a non-loopback host.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url.rstrip("/")
    if parts.scheme == "http" and host:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if loopback:
            return url.rstrip("/")
        raise ConfigurationError(f"{what} {url!r} uses plain http to a remote host; only https is allowed there")
    raise ConfigurationError(f"{what} {url!r} is not an http(s) URL")


def check_heappe_url(url: str, settings: Settings) -> str:
    """Accept a HEAppE URL only when it may receive the user's LEXIS token: the user's own ``heappe_url``, or an
    https URL (plain http only to loopback) whose host is on ``heappe_hosts``. Checked every time a URL is used,
    whether it came from LEXIS, the target cache or the ledger.

    Raises:
        ConfigurationError: the URL is insecure or its host is not on the allow-list (the message says how to add it).
    """
    import fnmatch

    checked = check_url(url, "HEAPPE_URL")
    if settings.heappe_url and checked == check_url(settings.heappe_url, "heappe_url"):
        return checked
    host = (urlsplit(checked).hostname or "").lower()
    if any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in settings.heappe_hosts):
        return checked
    raise ConfigurationError(
        f"HEAPPE_URL {checked!r} is not on the list of trusted HEAppE hosts {list(settings.heappe_hosts)}, so qaas "
        f"will not send your LEXIS token there. If you trust it, add {host!r} to heappe_hosts (config file or "
        "QAAS_HEAPPE_HOSTS), or set heappe_url explicitly."
    )


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigurationError(f"cannot read the configuration file {path}: {exc}") from exc


def emulator_profile(directory: Path) -> dict[str, Any]:
    """Settings of the local emulator, from the ``emulator.json`` that ``qaas emulator serve`` writes."""
    info_path = directory / "emulator.json"
    if not info_path.is_file():
        raise ConfigurationError(
            f"profile 'emulator': no running emulator found ({info_path} is missing). Start one with "
            "`qaas emulator serve`, or use QaasClient.emulator() for an embedded one."
        )
    try:
        info = json.loads(info_path.read_text())
        return {
            "auth_url": info["auth_url"], "userorg_url": info["userorg_url"], "client_id": info["client_id"],
            "project": info["project"], "resource": info["resource"], "poll_max": 1.0,
            "heappe_hosts": ("127.0.0.1", "localhost"),
            # the emulated IQM server, for the direct transport (transport = "iqm"): its token acts as yours
            "iqm_url": info.get("url"), "iqm_token": info.get("iqm_token"),
            "quantum_computer": info.get("quantum_computer"),
        }  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{info_path} is not a valid emulator description: {exc}") from exc


def load_settings(profile: str | None = None, **explicit: Any) -> Settings:
    """Resolve settings: explicit arguments, then ``QAAS_*`` variables, then the TOML file, then the profile.

    Args:
        profile: profile name (default: ``$QAAS_PROFILE``, the file's ``default_profile``, or ``lexis``).
        **explicit: any :class:`Settings` field; None values are ignored.

    Raises:
        ConfigurationError: unreadable file, unknown setting, bad value or insecure URL.
    """
    unknown = set(explicit) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    path = config_path()
    doc = _read_toml(path)
    name = profile or os.environ.get("QAAS_PROFILE") or doc.get("default_profile") or "lexis"
    profiles = doc.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigurationError(f"{path}: [profiles] must be a table")
    from_file = profiles.get(name, {})
    if not isinstance(from_file, dict):
        raise ConfigurationError(f"{path}: [profiles.{name}] must be a table")
    base: dict[str, Any] = {}
    directory = Path(explicit.get("data_dir") or os.environ.get("QAAS_DATA_DIR") or data_dir())
    if name == "emulator":
        base = emulator_profile(directory)
    elif name != "lexis" and name not in profiles:
        raise ConfigurationError(f"unknown profile {name!r}: add [profiles.{name}] to {path}")
    values: dict[str, Any] = dict(base)
    for key, value in from_file.items():
        if key not in {f.name for f in fields(Settings)} or key in ("profile", "config_file"):
            raise ConfigurationError(f"{path}: unknown setting {key!r} in [profiles.{name}]")
        values[key] = value
    for key, names in _ENV.items():
        for env in names:
            if os.environ.get(env):
                values[key] = os.environ[env]
                break
    values.update({k: v for k, v in explicit.items() if v is not None})
    if values.get("iqm_tokens_file") and "iqm_token" in base and values.get("iqm_token") == base["iqm_token"]:
        del values["iqm_token"]  # a tokens file chosen anywhere above the profile replaces the profile's token
    if values.get("transport") == "iqm":
        for key in ("project", "resource"):  # the LEXIS names of a profile mean nothing on the IQM server
            if key in base and values.get(key) == base[key]:
                del values[key]
    values["profile"] = name
    values["data_dir"] = Path(values.get("data_dir") or directory)
    values["config_file"] = path if path.is_file() else None
    return _coerce(values)


def _coerce(values: dict[str, Any]) -> Settings:
    out: dict[str, Any] = {}
    for key, raw in values.items():
        value = raw
        if key in _SECRETS and value is not None and not isinstance(value, Secret):
            value = Secret(str(value))
        elif key in _FLOATS:
            try:
                value = float(value)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"setting {key} must be a number, got {raw!r}") from exc
            if value <= 0:
                raise ConfigurationError(f"setting {key} must be positive, got {raw!r}")
        out[key] = value
    hosts = out.get("heappe_hosts")
    if isinstance(hosts, str):
        out["heappe_hosts"] = tuple(h.strip() for h in hosts.split(",") if h.strip())
    elif hosts is not None:
        if not isinstance(hosts, list | tuple) or not all(isinstance(h, str) and h for h in hosts):
            raise ConfigurationError(f"heappe_hosts must be a list of host names, got {hosts!r}")
        out["heappe_hosts"] = tuple(hosts)
    if out.get("heappe_auth", "bearer") not in ("bearer", "session"):
        raise ConfigurationError(f"heappe_auth must be 'bearer' or 'session', got {out['heappe_auth']!r}")
    if out.get("transport", "heappe") not in ("heappe", "iqm"):
        raise ConfigurationError(f"transport must be 'heappe' or 'iqm', got {out['transport']!r}")
    if "use_timeslot" in out and not isinstance(out["use_timeslot"], bool):
        text = str(out["use_timeslot"]).strip().lower()
        if text not in ("1", "0", "true", "false", "yes", "no"):
            raise ConfigurationError(f"use_timeslot must be true or false, got {out['use_timeslot']!r}")
        out["use_timeslot"] = text in ("1", "true", "yes")
    if out.get("iqm_tokens_file") is not None:
        out["iqm_tokens_file"] = Path(str(out["iqm_tokens_file"])).expanduser()
    if out.get("progress", "auto") not in ("auto", "always", "never"):
        raise ConfigurationError(f"progress must be 'auto', 'always' or 'never', got {out['progress']!r}")
    for key in ("auth_url", "userorg_url", "heappe_url", "iqm_url"):
        if out.get(key):
            out[key] = check_url(str(out[key]), key)
    return replace(Settings(), **out)
