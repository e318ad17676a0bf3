"""An embedded emulator shared by the client tests of a module, keeping time by a fake clock the tests advance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import qaas_core as q
from qaas_core.emulator import FakeClock


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    """The clock of the module's emulator and of its client's token manager."""
    return FakeClock()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[q.QaasClient]:
    data_dir: Path = tmp_path_factory.mktemp("qaas-data")
    c = q.QaasClient.emulator("garnet20", noise=False, seed=7, data_dir=data_dir, clock=clock)
    try:
        yield c
    finally:
        c.close()
