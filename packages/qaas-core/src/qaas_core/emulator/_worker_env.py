"""The emulated site's worker runs in an environment of its own, as on a real site: never in the user's interpreter.

iqm-client (which the cluster-side worker needs) registers Qiskit transpiler plugins and pins its own versions of
libraries users already have; installed next to a user's Qiskit it costs every process seconds at the first
``transpile``. So the emulator starts ``qaas-worker`` with another interpreter:

1. the one named by ``EmulatorConfig.worker_python`` or ``QAAS_WORKER_PYTHON``, if given;
2. otherwise a virtual environment it builds once (with uv if it is on the PATH, else venv + pip) in the user cache
   directory, from the same qaas-core the user has (the same source tree for a development install, the same
   version from the package index otherwise) with its ``worker`` extra; it is reused by every later emulator and
   rebuilt when qaas-core, its dependencies or the Python version change. Concurrent emulators wait for one build.

The build needs the package index once. ``qaas emulator worker-env`` (or :func:`worker_python`) builds it ahead of
time. :func:`worker_info` says which qaas-core that interpreter runs (what a site serves at ``/qaas``): asked once
with ``qaas-worker info`` and kept in the environment's marker file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Final

from qaas_core._errors import ConfigurationError
from qaas_core._files import write_atomic

__all__ = ["worker_env_dir", "worker_info", "worker_python"]

logger = logging.getLogger(__name__)

_MARKER: Final = ".qaas-worker-env.json"


def _source() -> tuple[list[str], str]:
    """(what to install, what identifies it): the development tree of qaas-core (editable, as the user has it, so the
    worker runs the same code), or its released version."""
    dist = metadata.distribution("qaas-core")
    direct = dist.read_text("direct_url.json")
    if direct:
        info = json.loads(direct)
        url = str(info.get("url", ""))
        if url.startswith("file://") and "dir_info" in info:
            path = Path(url.removeprefix("file://"))
            pyproject = path / "pyproject.toml"
            stamp = hashlib.sha256(pyproject.read_bytes()).hexdigest()[:16] if pyproject.is_file() else "?"
            editable = bool(info["dir_info"].get("editable"))
            return (["-e"] if editable else []) + [f"{path}[worker]"], f"{path}|{stamp}|{editable}"
    return [f"qaas-core[worker]=={dist.version}"], dist.version


def worker_env_dir(cache: Path | None = None) -> Path:
    """Where the worker environment for this qaas-core and this Python lives."""
    if cache is None:
        from platformdirs import user_cache_dir

        cache = Path(os.environ.get("QAAS_CACHE_DIR") or user_cache_dir("qaas", appauthor=False))
    _target, identity = _source()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    key = hashlib.sha256(f"{identity}|{version}".encode()).hexdigest()[:12]
    return cache / "worker-envs" / f"py{version}-{key}"


def _python_in(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _build(env: Path) -> None:
    target, identity = _source()
    logger.warning("building the emulated site's worker environment in %s (once; this takes a minute)", env)
    shutil.rmtree(env, ignore_errors=True)
    uv = shutil.which("uv")
    commands: list[list[str]]
    if uv:
        commands = [[uv, "venv", "--quiet", "--python", sys.executable, str(env)],
                    [uv, "pip", "install", "--quiet", "--python", str(_python_in(env)), *target]]  # fmt: skip
    else:
        commands = [[sys.executable, "-m", "venv", str(env)],
                    [str(_python_in(env)), "-m", "pip", "install", "--quiet", *target]]  # fmt: skip
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
        if done.returncode != 0:
            shutil.rmtree(env, ignore_errors=True)
            raise ConfigurationError(
                f"could not build the emulator's worker environment ({' '.join(command[:3])} failed: "
                f"{done.stderr.strip()[-500:]}); name an interpreter that has qaas-core[worker] with "
                "QAAS_WORKER_PYTHON, or check access to the package index"
            )
    (env / _MARKER).write_text(json.dumps({"source": identity, "python": sys.version}))


def worker_python(explicit: str | None = None, *, cache: Path | None = None) -> str:
    """The interpreter that runs the emulated site's ``qaas-worker`` (see the module docstring); builds the
    environment on first use.

    Raises:
        ConfigurationError: the environment cannot be built, or the named interpreter does not exist.
    """
    chosen = explicit or os.environ.get("QAAS_WORKER_PYTHON")
    if chosen:
        if not (Path(chosen).is_file() or shutil.which(chosen)):
            raise ConfigurationError(f"the worker interpreter {chosen!r} does not exist")
        return chosen
    env = worker_env_dir(cache)
    python = _python_in(env)
    if (env / _MARKER).is_file() and python.is_file():
        return str(python)
    env.parent.mkdir(parents=True, exist_ok=True)
    with open(env.parent / f"{env.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another emulator may be building it right now
        try:
            if not ((env / _MARKER).is_file() and python.is_file()):
                _build(env)
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
    return str(python)


def _ask(python: str) -> dict[str, object] | None:
    try:
        done = subprocess.run(  # noqa: S603 - the site's interpreter and our module, no shell
            [python, "-I", "-m", "qaas_core.worker", "info"],
            capture_output=True, text=True, timeout=60, check=False, env={"PATH": os.environ.get("PATH", os.defpath)},
        )  # fmt: skip
        info = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        info = None
    return info if isinstance(info, dict) else None


def worker_info(python: str) -> dict[str, object] | None:
    """The site document of the worker that ``python`` runs (``qaas-worker info``, see ``qaas_core._version``), or
    None when that interpreter cannot say (a qaas-core older than the ``info`` command, or none at all).

    An environment built here keeps the answer in its marker file, so it is asked once per build; an interpreter
    named by the caller is asked every time (one short process).
    """
    marker = Path(python).parent.parent / _MARKER
    try:
        recorded = json.loads(marker.read_text()) if marker.is_file() else None
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict) and isinstance(recorded.get("info"), dict):
        return dict(recorded["info"])
    info = _ask(python)
    if info is not None and isinstance(recorded, dict):
        with contextlib.suppress(OSError):  # a cache: another emulator may write the same answer meanwhile
            write_atomic(marker, json.dumps({**recorded, "info": info}).encode(), mode=0o644)
    return info
