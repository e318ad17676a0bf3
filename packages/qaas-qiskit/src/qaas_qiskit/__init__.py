"""qaas-qiskit: Qiskit 2.x front end of qaas (backend, provider and job arrive with the core client)."""

from __future__ import annotations

import qiskit

import qaas_core

__version__ = "0.1.0"

__all__ = ["__version__", "versions"]


def versions() -> dict[str, str]:
    """Versions of this adapter, the core and Qiskit, for bug reports."""
    return {"qaas-qiskit": __version__, "qaas-core": qaas_core.__version__, "qiskit": qiskit.__version__}
