"""A fast emulator for the reliability tests: short client timeout, quick scheduler, retry waits scaled down."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

import qaas_core as q


@pytest.fixture(scope="module")
def fast_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[q.QaasClient]:
    data = tmp_path_factory.mktemp("reliability")
    os.environ["QAAS_RETRY_WAIT_SCALE"] = "0.1"
    client = q.QaasClient.emulator("garnet20", noise=False, simulation="fast", data_dir=data, timeout=1.5,
                                   scheduler_tick_seconds=0.05)  # fmt: skip
    try:
        yield client
    finally:
        client.close()
        os.environ.pop("QAAS_RETRY_WAIT_SCALE", None)


def set_faults(client: q.QaasClient, rules: list[dict[str, object]]) -> None:
    """Replace the emulator's fault rules (over its loopback admin endpoint, with the key from emulator.json)."""
    url = f"{client.emulator_url}/_emulator/faults"
    info = json.loads((client.settings.data_dir / "emulator.json").read_text())
    admin = {"X-Qaas-Emulator-Key": info["admin_key"], "Content-Type": "application/json"}
    httpx.delete(url, headers=admin).raise_for_status()
    if rules:
        httpx.post(url, json=rules, headers=admin).raise_for_status()
