"""An embedded emulator shared by the client tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import qaas_core as q


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    data_dir: Path = tmp_path_factory.mktemp("qaas-data")
    c = q.QaasClient.emulator("garnet20", noise=False, seed=7, data_dir=data_dir)
    try:
        yield c
    finally:
        c.close()
