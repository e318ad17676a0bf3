"""A topology picture of a calibration: qubits coloured by PRX fidelity, couplings by CZ fidelity (needs matplotlib).

Lattice devices are laid out by the graph's spectral embedding (a grid comes out as a grid); star devices put the
computational resonator in the middle.
"""

from __future__ import annotations

import math
from pathlib import Path

from qaas_core._calibration import Calibration
from qaas_core._errors import ConfigurationError

__all__ = ["plot_topology"]


def _positions(calibration: Calibration) -> dict[str, tuple[float, float]]:
    import numpy as np

    qubits = list(calibration.qubits)
    if calibration.computational_resonators:
        pos = {q: (math.cos(2 * math.pi * i / len(qubits)), math.sin(2 * math.pi * i / len(qubits)))
               for i, q in enumerate(qubits)}  # fmt: skip
        for j, r in enumerate(calibration.computational_resonators):
            pos[r] = (0.25 * j, 0.0)
        return pos
    index = {q: i for i, q in enumerate(qubits)}
    adjacency = np.zeros((len(qubits), len(qubits)))
    for a, b in calibration.coupling_graph():
        adjacency[index[a], index[b]] = adjacency[index[b], index[a]] = 1.0
    laplacian = np.diag(adjacency.sum(axis=1)) - adjacency
    _, vectors = np.linalg.eigh(laplacian)
    xy = vectors[:, 1:3] if len(qubits) > 2 else np.column_stack([np.arange(len(qubits)), np.zeros(len(qubits))])
    return {q: (float(xy[i, 0]), float(xy[i, 1])) for q, i in index.items()}


def plot_topology(calibration: Calibration, path: Path) -> Path:
    """Draw the topology to ``path`` (PNG) and return it.

    Raises:
        ConfigurationError: matplotlib is not installed (``pip install 'qaas-core[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import colormaps
    except ImportError as exc:
        raise ConfigurationError("plotting needs matplotlib: pip install 'qaas-core[plot]'") from exc
    pos = _positions(calibration)
    cmap = colormaps["viridis"]
    fig, ax = plt.subplots(figsize=(7, 6))
    cz = list(calibration.loci("cz"))
    twoq = [calibration.fidelity("cz", lc) or 0.0 for lc in cz]
    lo2, hi2 = (min(twoq), max(twoq)) if twoq else (0.0, 1.0)
    for (a, b), f in zip(cz, twoq, strict=True):
        shade = 0.5 if hi2 == lo2 else (f - lo2) / (hi2 - lo2)
        ax.plot([pos[a][0], pos[b][0]], [pos[a][1], pos[b][1]], color=cmap(shade), linewidth=3, zorder=1)
    oneq = [calibration.fidelity("prx", (q,)) or 0.0 for q in calibration.qubits]
    lo1, hi1 = min(oneq), max(oneq)
    for q, f in zip(calibration.qubits, oneq, strict=True):
        shade = 0.5 if hi1 == lo1 else (f - lo1) / (hi1 - lo1)
        ax.scatter(*pos[q], s=500, color=cmap(shade), edgecolors="black", zorder=2)
        ax.annotate(q, pos[q], ha="center", va="center", fontsize=7, color="black", zorder=3)
    for r in calibration.computational_resonators:
        ax.scatter(*pos[r], s=900, marker="s", color="lightgray", edgecolors="black", zorder=2)
        ax.annotate(r, pos[r], ha="center", va="center", fontsize=8, zorder=3)
    ax.set_title(f"{calibration.device or 'device'}: prx fidelity {lo1:.4f}–{hi1:.4f} (nodes), "
                 f"cz {lo2:.4f}–{hi2:.4f} (edges)", fontsize=9)  # fmt: skip
    ax.set_axis_off()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
