"""The emulator as clients use it: embedded (``QaasClient.emulator()``) or served (``qaas emulator serve``).

Both write ``emulator.json`` into the client's data directory, which is what the ``emulator`` profile reads, so
``qaas --profile emulator …`` and ``QaasClient(profile="emulator")`` find a running emulator. The file is 0600: it
holds ``admin_key``, this run's key of the ``/_emulator/`` routes (send it as ``X-Qaas-Emulator-Key``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from qaas_core._config import Settings, data_dir, load_settings
from qaas_core._errors import ConfigurationError
from qaas_core._files import private_dir, write_atomic
from qaas_core.emulator._config import EmulatorConfig
from qaas_core.emulator._server import EmulatorServer

__all__ = ["EmbeddedEmulator", "serve_forever", "start_embedded"]

DEMO_USER: Final = "alice"
DEMO_PROJECT: Final = "qaas-demo"
DEMO_RESOURCE: Final = "EQE1-CZ-P0001"
CLIENT_ID: Final = "qaas"
_EMULATOR_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(EmulatorConfig))
_SHARED_FIELDS: Final = frozenset({"heappe_auth"})  # settings of the emulated service and the client alike


class EmbeddedEmulator:
    """A running emulator plus the facts a client needs (URLs, demo project, device-login approval)."""

    def __init__(self, server: EmulatorServer, info_path: Path | None) -> None:
        self.server = server
        self.info_path = info_path

    @property
    def url(self) -> str:
        """Base URL of every emulated service."""
        return self.server.url

    @property
    def lexis(self) -> Any:
        """The emulated LEXIS (for tests and demos: approve logins, mint tokens)."""
        for sub in self.server.app.state.subsystems:
            if type(sub).__name__ == "Lexis":
                return sub
        raise ConfigurationError("this emulator has no LEXIS part")

    def approve_device(self, user_code: str, username: str = DEMO_USER) -> None:
        """Approve a pending device login as ``username`` (what the user does in the browser).

        Raises:
            ConfigurationError: the code is unknown or expired.
        """
        if not self.lexis.approve_device_code(user_code, username):
            raise ConfigurationError(f"the emulator knows no pending device login with code {user_code!r}")

    def info(self) -> dict[str, Any]:
        """What ``emulator.json`` holds."""
        realm = self.server.config.realm
        return {
            "url": self.url,
            "auth_url": f"{self.url}/auth/realms/{realm}",
            "userorg_url": f"{self.url}/userorg/api",
            "heappe_url": self.url,
            "iqm_url": f"{self.url}/api/v1",
            "client_id": CLIENT_ID,
            "project": DEMO_PROJECT,
            "resource": DEMO_RESOURCE,
            "device": self.server.config.device,
            "state_dir": str(self.server.config.state_dir),
            "quantum_computer": self.server.config.quantum_computer,
            "iqm_token": self.server.config.iqm_token,
            "admin_key": self.server.admin_key.get(),
        }

    def stop(self) -> None:
        """Stop serving and forget the description file."""
        self.server.stop()
        if self.info_path is not None:
            with contextlib.suppress(OSError, ValueError):
                if json.loads(self.info_path.read_text()).get("url") == self.url:
                    self.info_path.unlink()


def _write_info(directory: Path, info: dict[str, Any]) -> Path:
    private_dir(directory)
    path = directory / "emulator.json"
    write_atomic(path, json.dumps(info, indent=1).encode())  # 0600 from the start: it holds the admin key
    return path


def start_embedded(device: str = "garnet20", **settings: Any) -> tuple[EmbeddedEmulator, Settings]:
    """Start an emulator in this process and return it with client settings bound to it.

    Args:
        device: bundled device profile of the emulated QPU.
        **settings: :class:`EmulatorConfig` fields (``noise``, ``seed``, ``simulation`` …) and client settings
            (``data_dir`` — default: a fresh temporary directory — ``poll_max``, ``timeout`` …). ``heappe_auth`` is
            both: the emulated HEAppE's authentication mode and the client's.

    Raises:
        ConfigurationError: unknown device or settings, or the emulator did not start.
    """
    emulator_kw = {k: v for k, v in settings.items() if k in _EMULATOR_FIELDS}
    client_kw = {k: v for k, v in settings.items() if k not in _EMULATOR_FIELDS or k in _SHARED_FIELDS}
    directory = Path(client_kw.pop("data_dir", None) or tempfile.mkdtemp(prefix="qaas-"))
    emulator_kw.setdefault("state_dir", directory / "emulator")
    from qaas_core._profiles import load_profile

    load_profile(device)  # fail early and clearly on an unknown device
    server = EmulatorServer(EmulatorConfig(device=device, **emulator_kw)).start()
    emulator = EmbeddedEmulator(server, None)
    try:
        emulator.info_path = _write_info(directory, emulator.info())
        client_kw.setdefault("poll_max", 1.0)
        return emulator, load_settings("emulator", data_dir=directory, **client_kw)
    except BaseException:
        emulator.stop()  # nothing this call started outlives its failure
        raise


def serve_forever(device: str, port: int, state_dir: Path | None, *, noise: bool = True) -> int:
    """``qaas emulator serve``: run until interrupted, printing URLs and a ready-to-use demo refresh token."""
    from rich.console import Console

    console = Console()
    directory = data_dir()
    server = EmulatorServer(EmulatorConfig(device=device, port=port, noise=noise,
                                           state_dir=state_dir or directory / "emulator" / device))  # fmt: skip
    server.start()
    emulator = EmbeddedEmulator(server, None)
    try:
        emulator.info_path = _write_info(directory, emulator.info())
        info = emulator.info()
        offline = emulator.lexis.mint_tokens(DEMO_USER, client_id=CLIENT_ID, scope="openid offline_access")
        console.print(f"[bold]qaas emulator[/bold] ({device}) on {info['url']}")
        for key in ("auth_url", "userorg_url", "heappe_url", "iqm_url", "state_dir"):
            console.print(f"  {key:<12} {info[key]}")
        console.print(f"  project      {DEMO_PROJECT}   resource {DEMO_RESOURCE}   user {DEMO_USER}")
        env_file = directory / "emulator.env"
        export = f"export QAAS_PROFILE=emulator QAAS_LEXIS_REFRESH_TOKEN={offline['refresh_token']}"
        write_atomic(env_file, (export + "\n").encode())  # 0600: it holds a token
        console.print("Use it from another shell with the `emulator` profile, e.g.:")
        console.print(f"  . {env_file}    # or:", soft_wrap=True)
        console.print(f"  {export}", soft_wrap=True)  # never wrapped: a pasted token must stay whole
        console.print("  qaas backends && qaas run bell.qasm --shots 1000")
        approve = f"{info['url']}/auth/realms/{server.config.realm}/device"
        console.print(f"(or `qaas --profile emulator login`, approving at {approve}). "
                      f"State is kept in {info['state_dir']}. Ctrl-C stops.")  # fmt: skip
        # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C: state saved, worker and tasks stopped
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping")
    finally:
        emulator.stop()
        with contextlib.suppress(OSError):
            (directory / "emulator.env").unlink()
    return 0
