"""Fixtures of the qaas-qiskit tests.

* ``garnet`` / ``deneb``: offline backends built from the bundled device profiles (no server).
* ``garnet_emulator`` / ``deneb_emulator``: providers bound to embedded, noiseless, seeded emulators — one per
  device for the whole session, each with its own data directory. They are started (and their calibration fetched)
  in background threads as soon as the session begins, because the first calibration job of an emulator takes
  seconds of cluster-side start-up; the offline tests run meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Final

import pytest

import qaas_core as q
from qaas_qiskit import QaaSBackend, QaaSProvider

EMULATED: Final = {"garnet_emulator": ("garnet20", 20261123), "deneb_emulator": ("deneb6", 6)}


@pytest.fixture(scope="session")
def garnet() -> QaaSBackend:
    """Offline garnet20 backend (20-qubit square lattice)."""
    return QaaSBackend.from_calibration(q.load_profile("garnet20"))


@pytest.fixture(scope="session")
def deneb() -> QaaSBackend:
    """Offline deneb6 backend (6 qubits around the computational resonator CR1)."""
    return QaaSBackend.from_calibration(q.load_profile("deneb6"))


def _start(device: str, seed: int, data_dir: Path) -> QaaSProvider:
    provider = QaaSProvider.emulator(device, noise=False, seed=seed, data_dir=data_dir)
    try:
        provider.get_backend().target  # noqa: B018 - fetch the calibration now
    except BaseException:
        provider.close()
        raise
    return provider


@pytest.fixture(scope="session", autouse=True)
def _emulators(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[QaaSProvider]]]:
    """Start the emulators the selected tests need, in the background, at the start of the session."""
    wanted = {name for item in request.session.items for name in EMULATED if name in getattr(item, "fixturenames", ())}
    root = tmp_path_factory.mktemp("emulators")
    futures: dict[str, Future[QaaSProvider]] = {}
    with pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(max_workers=2) as pool:
        mp.setenv("QAAS_CONFIG", str(root / "no-config.toml"))  # the user's own configuration stays out
        for name in sorted(wanted):
            device, seed = EMULATED[name]
            futures[name] = pool.submit(_start, device, seed, root / device)
        try:
            yield futures
        finally:
            for future in futures.values():
                if future.done() and future.exception() is None:
                    future.result().close()


@pytest.fixture(scope="session")
def garnet_emulator(_emulators: dict[str, Future[QaaSProvider]]) -> QaaSProvider:
    """A provider bound to a noiseless garnet20 emulator (data directory: ``provider.client.settings.data_dir``)."""
    return _emulators["garnet_emulator"].result(timeout=300)


@pytest.fixture(scope="session")
def deneb_emulator(_emulators: dict[str, Future[QaaSProvider]]) -> QaaSProvider:
    """A provider bound to a noiseless deneb6 emulator."""
    return _emulators["deneb_emulator"].result(timeout=300)
