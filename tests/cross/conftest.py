"""Fixtures of the cross-framework tests: one embedded emulator per device, shared by every front end.

The emulators (noiseless, seeded) start in background threads as soon as the session begins — an emulator and its
first job take about 20 s of cluster-side start-up — while the offline tests run. ``runs`` then sends every
library program through every front end, one job per front end and device (:mod:`tests.cross.runs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

import pytest

import qaas_core as q
from tests.cross.runs import Outcome, run_everything

DEVICES: Final = {"garnet20": 20260101, "deneb6": 6, "vlq24": 24}
"""Emulated devices and their seeds."""


def _start(device: str, seed: int, data_dir: object) -> q.QaasClient:
    client = q.QaasClient.emulator(device, noise=False, seed=seed, data_dir=data_dir)
    try:
        client.calibration()  # the first job of an emulator warms up its cluster side
    except BaseException:
        client.close()
        raise
    return client


@pytest.fixture(scope="session")
def _emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[q.QaasClient]]]:
    root = tmp_path_factory.mktemp("cross-emulators")
    futures: dict[str, Future[q.QaasClient]] = {}
    with pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(max_workers=len(DEVICES)) as pool:
        mp.setenv("QAAS_CONFIG", str(root / "no-config.toml"))  # the user's own configuration stays out
        for device, seed in DEVICES.items():
            futures[device] = pool.submit(_start, device, seed, root / device)
        try:
            yield futures
        finally:
            for future in futures.values():
                if future.done() and future.exception() is None:
                    future.result().close()


@pytest.fixture(scope="session", autouse=True)
def _start_emulators_early(request: pytest.FixtureRequest) -> None:
    """Start the emulators at the beginning of the session if any selected test needs them."""
    if any("runs" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("_emulators")


@pytest.fixture(scope="session")
def clients(_emulators: dict[str, Future[q.QaasClient]]) -> dict[str, q.QaasClient]:
    """Device -> a client bound to its noiseless embedded emulator."""
    return {device: future.result(timeout=300) for device, future in _emulators.items()}


@pytest.fixture(scope="session")
def runs(clients: dict[str, q.QaasClient]) -> dict[tuple[str, str], Outcome]:
    """``(front end, program) -> canonical counts`` (or the compile error) of every program and front end."""
    return run_everything(clients)
