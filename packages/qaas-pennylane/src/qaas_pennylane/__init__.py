"""qaas-pennylane: PennyLane front end of qaas (the ``qaas.iqm`` device arrives with the core client)."""

from __future__ import annotations

import pennylane

import qaas_core

__version__ = "0.1.0"

__all__ = ["__version__", "versions"]


def versions() -> dict[str, str]:
    """Versions of this adapter, the core and PennyLane, for bug reports."""
    return {"qaas-pennylane": __version__, "qaas-core": qaas_core.__version__, "pennylane": str(pennylane.__version__)}
