"""``QaaSProvider``: the quantum resources of a LEXIS project as Qiskit backends.

One :class:`qaas_core.QaasClient` per provider (configuration: explicit arguments → ``QAAS_*`` environment → TOML
file); backends of other resources of the same project share its HTTP connections. ``QaaSProvider.emulator()``
starts the embedded emulator and goes through the very same HTTP path as production.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import qaas_core as q
from qaas_qiskit._backend import QaaSBackend
from qaas_qiskit._job import QaaSJob

__all__ = ["QaaSProvider"]


class QaaSProvider:
    """Qiskit backends for the quantum resources of a LEXIS project.

    Args:
        project: LEXIS project short name.
        resource: Default quantum resource (e.g. ``EQE1-CZ-P0001``).
        profile: Configuration profile (``lexis``, ``emulator`` or one from the config file).
        token: Explicit LEXIS access token.
        client: An existing qaas client to use (not closed by the provider); excludes the other arguments.
        **settings: Any other qaas setting (``data_dir``, ``timeout``, ``refresh_token`` …).

    Raises:
        ConfigurationError: settings are missing or invalid, or ``client`` is combined with settings.
    """

    def __init__(
        self,
        project: str | None = None,
        resource: str | None = None,
        profile: str | None = None,
        token: str | None = None,
        client: q.QaasClient | None = None,
        **settings: Any,
    ) -> None:
        self._client, self._owns_client = q.QaasClient.resolve(
            client, project=project, resource=resource, profile=profile, token=token, **settings
        )
        self._siblings: dict[str, q.QaasClient] = {}
        self._backends: dict[str, QaaSBackend] = {}

    @classmethod
    def emulator(cls, device: str = "garnet20", **emulator_settings: Any) -> QaaSProvider:
        """A provider bound to an embedded emulator (LEXIS + HEAppE + IQM server on 127.0.0.1).

        Args:
            device: Device profile of the emulated QPU (one of ``qaas_core.PROFILES``).
            **emulator_settings: Emulator and client settings (``noise``, ``seed``, ``data_dir`` …). The emulator
                writes ``emulator.json`` into ``data_dir``, so ``QaaSProvider(profile="emulator", data_dir=...)``
                reaches it from another process.

        Raises:
            ConfigurationError: unknown device or settings, or the emulator did not start.
        """
        provider = cls(client=q.QaasClient.emulator(device, **emulator_settings))
        provider._owns_client = True
        return provider

    @property
    def client(self) -> q.QaasClient:
        """The qaas client of the default resource."""
        return self._client

    def _client_for(self, resource: str) -> q.QaasClient:
        if resource == self._client.settings.resource:
            return self._client
        sibling = self._siblings.get(resource)
        if sibling is None:
            settings = dataclasses.replace(self._client.settings, resource=resource)
            sibling = self._siblings[resource] = q.QaasClient(settings=settings, http=self._client.http)
        return sibling

    def _backend(self, resource: str) -> QaaSBackend:
        backend = self._backends.get(resource)
        if backend is None:
            backend = self._backends[resource] = QaaSBackend(self._client_for(resource), name=resource, provider=self)
        return backend

    def backends(self, name: str | None = None) -> list[QaaSBackend]:
        """Backends of the project's quantum resources (optionally only the one called ``name``).

        Raises:
            ConfigurationError: no project configured, or not a member.
        """
        return [self._backend(r.name) for r in self._client.backends() if name is None or r.name == name]

    def get_backend(self, name: str | None = None) -> QaaSBackend:
        """The backend of resource ``name`` (default: the configured resource, or the project's only one).

        Raises:
            ConfigurationError: no such resource in the project, or no default and several to choose from.
        """
        if name is None:
            name = self._client.settings.resource
        if name is not None and (name == self._client.settings.resource or name in self._backends):
            return self._backend(name)
        resources = sorted({r.name for r in self._client.backends()})
        if name is None:
            if len(resources) != 1:
                raise q.ConfigurationError(f"name a backend: the project has {resources or 'no quantum resources'}")
            name = resources[0]
        if name not in resources:
            raise q.ConfigurationError(f"the project has no quantum resource {name!r}; it has {resources}")
        return self._backend(name)

    def retrieve_job(self, job_id: str | int) -> QaaSJob:
        """A job submitted earlier, from any process sharing the data directory.

        Args:
            job_id: The qaas submission id (``QaaSJob.job_id()``), the HEAppE job id or the IQM job id.

        Raises:
            JobNotFoundError: the ledger knows no such job.
        """
        job = self._client.retrieve(job_id)
        return QaaSJob(self._backend(job.resource), job)

    def close(self) -> None:
        """Close the connections (and stop the embedded emulator) this provider opened."""
        for sibling in self._siblings.values():
            sibling.close()
        self._siblings.clear()
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> QaaSProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self._client.settings
        return f"<QaaSProvider profile={s.profile} project={s.project} resource={s.resource}>"
