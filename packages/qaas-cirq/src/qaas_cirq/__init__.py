"""qaas-cirq: Cirq front end of qaas (sampler and device arrive with the core client)."""

from __future__ import annotations

import cirq

import qaas_core

__version__ = "0.1.0"

__all__ = ["__version__", "versions"]


def versions() -> dict[str, str]:
    """Versions of this adapter, the core and Cirq, for bug reports."""
    return {"qaas-cirq": __version__, "qaas-core": qaas_core.__version__, "cirq": str(cirq.__version__)}
