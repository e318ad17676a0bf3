"""pytest fixtures for testing code that uses qaas against the embedded emulator, offline and without waiting.

Installed with qaas-core as the pytest plugin ``qaas_core.emulator.pytest_plugin`` (entry point ``pytest11``), so
the fixtures are there in any test suite of an environment that has qaas-core; ``-p
no:qaas_core.emulator.pytest_plugin`` switches them off. Nothing here is imported until pytest loads the plugin,
and the emulator itself (which needs the ``emulator`` extra) only when a test asks for it.

* ``qaas_clock`` — a :class:`~qaas_core.emulator.FakeClock`: ``qaas_clock.advance(301)`` and every access token the
  emulator has issued is expired, for the emulated LEXIS and HEAppE and for the client's token manager alike.
* ``qaas_emulator`` — a :class:`~qaas_core.QaasClient` logged in to a fresh embedded emulator (LEXIS, HEAppE, IQM
  server on 127.0.0.1, state in the test's ``tmp_path``) whose clock is ``qaas_clock``; closed after the test.
* ``qaas_emulator_settings`` — the settings ``qaas_emulator`` is started with; override it in a ``conftest.py`` to
  choose the device, noise, seed or token lifetimes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from qaas_core import QaasClient
    from qaas_core.emulator import FakeClock

__all__ = ["qaas_clock", "qaas_emulator", "qaas_emulator_settings"]


@pytest.fixture
def qaas_clock() -> FakeClock:
    """A fake wall clock starting at the real time now; ``advance(seconds)`` lets tokens and sessions expire."""
    from qaas_core.emulator import FakeClock

    return FakeClock()


@pytest.fixture
def qaas_emulator_settings() -> dict[str, Any]:
    """Settings of ``qaas_emulator``: a noiseless garnet20 with a fixed seed (override to change them)."""
    return {"device": "garnet20", "noise": False, "seed": 1}


@pytest.fixture
def qaas_emulator(
    qaas_clock: FakeClock, qaas_emulator_settings: dict[str, Any], tmp_path: Path
) -> Iterator[QaasClient]:
    """A client logged in to a fresh embedded emulator that keeps time by ``qaas_clock``."""
    from qaas_core import QaasClient

    settings = {"data_dir": tmp_path / "qaas", **qaas_emulator_settings, "clock": qaas_clock}
    with QaasClient.emulator(**settings) as client:
        yield client
