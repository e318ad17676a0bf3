"""The client's check of the site's worker (``{HEAPPE_URL}/qaas``): version skew and schemas (pure function)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest

from qaas_core._version import CLIENT_SCHEMAS, SITE_SCHEMA, WORKER_SCHEMAS, check_worker_version, site_info


def info(version: object = "0.4.2", schemas: object = ("qaas.run/1", "qaas.result/1"), **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": SITE_SCHEMA, "qaas_version": version, "sw_stack": "IQM", **extra}
    if schemas is not None:
        doc["schemas"] = list(schemas) if isinstance(schemas, tuple) else schemas
    return doc


@pytest.mark.parametrize("client", ["0.4.2", "0.4.0", "0.4.17", "0.4.3.dev1", "v0.4.1"])
def test_same_major_and_minor_is_fine(client: str) -> None:
    assert check_worker_version(client, info("0.4.2")) is None


@pytest.mark.parametrize(("client", "worker"), [("0.5.0", "0.4.2"), ("0.4.2", "0.5.0"), ("1.4.2", "0.4.2")])
def test_major_or_minor_skew_warns_with_both_versions_and_a_fix(client: str, worker: str) -> None:
    warning = check_worker_version(client, info(worker))
    assert warning is not None
    assert client in warning and worker in warning
    major, minor = worker.split(".")[:2]
    assert f"qaas-core=={major}.{minor}.*" in warning


def test_a_worker_that_does_not_speak_the_clients_schemas_warns() -> None:
    warning = check_worker_version("0.4.2", info("0.4.2", ("qaas.run/2", "qaas.result/2")))
    assert warning is not None
    assert "qaas.run/1" in warning and "qaas.result/1" in warning and "qaas.run/2" in warning
    # one missing is enough; the schema problem is reported before any version difference
    warning = check_worker_version("0.9.0", info("0.4.2", ("qaas.run/1",)))
    assert warning is not None and "qaas.result/1" in warning and "does not speak" in warning


def test_extra_schemas_of_the_worker_are_fine() -> None:
    assert check_worker_version("0.4.2", info("0.4.2", (*WORKER_SCHEMAS, "qaas.session/1"))) is None


def test_a_site_that_does_not_say_what_it_speaks_warns() -> None:
    # IT4I's own /qaas document: a qaas_version (of another product) and no schemas
    it4i = {"qaas_version": "0.5.4", "sw_stack": "IQM", "quantum_technology": "superconducting"}
    warning = check_worker_version("0.4.2", it4i)
    assert warning is not None and "schemas" in warning
    assert check_worker_version("0.4.2", info("0.4.2", "qaas.run/1")) is not None  # not a list


@pytest.mark.parametrize("worker", [None, "", "latest", 3])
def test_an_unusable_worker_version_warns(worker: object) -> None:
    warning = check_worker_version("0.4.2", info(worker))
    assert warning is not None and "version" in warning


def test_an_unusable_client_version_warns() -> None:
    warning = check_worker_version("unknown", info("0.4.2"))
    assert warning is not None and "unknown" in warning


def test_the_schemas_the_client_needs_can_be_narrowed_or_widened() -> None:
    assert check_worker_version("0.4.2", info("0.4.2", ("qaas.run/1",)), speaks=("qaas.run/1",)) is None
    assert check_worker_version("0.4.2", info("0.4.2"), speaks=WORKER_SCHEMAS) is not None


def test_this_installation_passes_its_own_check() -> None:
    doc = site_info()
    assert doc["schema"] == SITE_SCHEMA
    assert doc["qaas_version"] == metadata.version("qaas-core")
    assert set(CLIENT_SCHEMAS) <= set(doc["schemas"]) == set(WORKER_SCHEMAS)
    assert doc["sw_stack"] == "IQM"  # the keys IT4I's clients read
    assert check_worker_version(metadata.version("qaas-core"), doc) is None
    assert site_info("9.9.9", "36.1.0")["qaas_version"] == "9.9.9"
