"""Cirq's JSON protocol for qaas-cirq's types: ``cirq.to_json`` / ``cirq.read_json`` work on them out of the box.

:class:`~qaas_cirq.QaaSResult` (measurements, parameters and job metadata), :class:`~qaas_cirq.ResultMetadata` and
:class:`~qaas_cirq.MoveGate` (so compiled star-device circuits serialise) carry ``_json_dict_`` and the namespace
``qaas_cirq`` (their ``cirq_type`` is ``qaas_cirq.QaaSResult`` …). Reading them back needs a *resolver* that turns
those names into classes. Cirq looks in ``cirq.DEFAULT_RESOLVERS``, a public list its own packages extend when they
are imported (cirq-google does it at the end of its ``__init__``); importing :mod:`qaas_cirq` appends
:func:`json_resolver` to it once, so ``cirq.read_json(json_text=cirq.to_json(result))`` just works. Code that passes
its own ``resolvers=`` to ``cirq.read_json`` adds :func:`json_resolver` to that list.
"""

from __future__ import annotations

import functools
from typing import Final

import cirq

__all__ = ["JSON_NAMESPACE", "json_resolver", "register_json_resolver"]

JSON_NAMESPACE: Final = "qaas_cirq"


@functools.cache
def _classes() -> dict[str, type]:
    from qaas_cirq._gates import MoveGate
    from qaas_cirq._results import QaaSResult, ResultMetadata

    return {f"{JSON_NAMESPACE}.{cls.__name__}": cls for cls in (MoveGate, QaaSResult, ResultMetadata)}


def json_resolver(cirq_type: str) -> type | None:
    """The qaas-cirq class a serialised ``cirq_type`` names (``qaas_cirq.QaaSResult`` …), or None for others.

    A Cirq JSON resolver: ``cirq.read_json(path, resolvers=[qaas_cirq.json_resolver, *cirq.DEFAULT_RESOLVERS])``.
    """
    return _classes().get(cirq_type)


def register_json_resolver() -> None:
    """Append :func:`json_resolver` to ``cirq.DEFAULT_RESOLVERS`` (once; importing :mod:`qaas_cirq` does it)."""
    if json_resolver not in cirq.DEFAULT_RESOLVERS:
        cirq.DEFAULT_RESOLVERS.append(json_resolver)
