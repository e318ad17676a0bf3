"""Build the bundled device profiles (``qaas.calibration/1`` JSON) from public figures.

Input: the error profiles and DQA-shaped architectures of IQM's public fake backends (Adonis, Apollo, Garnet,
Deneb, Aphrodite), as collected in ``shared/reference/iqm-fake-device-figures.json`` beside the repository.
Output: ``packages/qaas-core/src/qaas_core/profiles/<name>.json``.

Conversions: times ns -> s; depolarising parameter p of a d-level channel -> average gate fidelity
``1 - p (d - 1) / d``; readout ``{"0": e01, "1": e10}`` -> ``(P(1|0), P(0|1))``; measure fidelity
``1 - (e01 + e10) / 2``. Figures the fake backends do not carry are marked ``assumed`` in the profile.

Run: ``python tools/make_profiles.py [path/to/iqm-fake-device-figures.json]``
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "packages" / "qaas-core" / "src" / "qaas_core" / "profiles"
DEFAULT_FIGURES = ROOT.parent / "shared" / "reference" / "iqm-fake-device-figures.json"

IMPL = {
    "prx": "drag_gaussian",
    "cz": "tgss",
    "move": "tgss_crf",
    "measure": "constant",
    "cc_prx": "prx_composite",
    "reset": "reset_conditional",
}
ASSUMED = {"measure_duration_s": 1.5e-6, "reset_duration_s": 1.5e-6, "cc_prx_feedback_latency_s": 1.0e-6}

SOURCES = {
    "adonis5": ("IQMFakeAdonis", "5-qubit star without resonator (Adonis-like): direct CZ to the hub QB3"),
    "apollo20": ("IQMFakeApollo", "20-qubit square lattice (Apollo-like)"),
    "garnet20": ("IQMFakeGarnet", "20-qubit square lattice (Garnet-like)"),
    "deneb6": ("IQMFakeDeneb", "6 qubits around a computational resonator with MOVE (Deneb-like)"),
    "aphrodite54": ("IQMFakeAphrodite", "54-qubit square lattice (Aphrodite-like)"),
}


def _key(locus: list[str]) -> str:
    return ",".join(locus)


def _lookup(table: dict[str, float], locus: list[str]) -> float:
    if _key(locus) in table:
        return table[_key(locus)]
    return table[_key(locus[::-1])]


def build(name: str, description: str, arch: dict[str, Any], ep: dict[str, Any]) -> dict[str, Any]:
    qubits = list(arch["qubits"])
    resonators = list(arch.get("computational_resonators", []))
    cz_loci = arch["gates"]["cz"]["implementations"]["__fake"]["loci"]
    move_loci = arch["gates"].get("move", {}).get("implementations", {}).get("__fake", {}).get("loci", [])
    single = [[q] for q in qubits]
    gates_loci = {"prx": single, "cz": cz_loci, "measure": single, "cc_prx": single, "reset": single}
    if move_loci:
        gates_loci["move"] = move_loci
    gates = {
        g: {
            "implementations": {IMPL[g]: {"loci": loci}},
            "default_implementation": IMPL[g],
            "override_default_implementation": {},
        }
        for g, loci in gates_loci.items()
    }
    ns = 1e-9
    p1 = ep["single_qubit_gate_depolarizing_error_parameters"]["prx"]
    p2 = ep["two_qubit_gate_depolarizing_error_parameters"]
    d1 = ep["single_qubit_gate_durations"]
    d2 = ep["two_qubit_gate_durations"]
    ro = ep["readout_errors"]
    fidelity: dict[str, dict[str, float]] = {
        "prx": {q: 1 - p1[q] / 2 for q in qubits},
        "cz": {_key(lc): 1 - 3 * _lookup(p2["cz"], lc) / 4 for lc in cz_loci},
        "measure": {q: 1 - (ro[q]["0"] + ro[q]["1"]) / 2 for q in qubits},
    }
    duration: dict[str, dict[str, float]] = {
        "prx": dict.fromkeys(qubits, d1["prx"] * ns),
        "cc_prx": dict.fromkeys(qubits, d1["prx"] * ns + ASSUMED["cc_prx_feedback_latency_s"]),
        "cz": {_key(lc): d2["cz"] * ns for lc in cz_loci},
        "measure": dict.fromkeys(qubits, ASSUMED["measure_duration_s"]),
        "reset": dict.fromkeys(qubits, ASSUMED["reset_duration_s"]),
    }
    fidelity["cc_prx"] = dict(fidelity["prx"])
    if move_loci:
        fidelity["move"] = {_key(lc): 1 - 3 * _lookup(p2["move"], lc) / 4 for lc in move_loci}
        duration["move"] = {_key(lc): d2["move"] * ns for lc in move_loci}
    return {
        "schema": "qaas.calibration/1",
        "device": name,
        "description": description,
        "calibration_set_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"qaas:profile:{name}:1")),
        "qubits": qubits,
        "computational_resonators": resonators,
        "gates": gates,
        "metrics": {
            "t1": {c: v * ns for c, v in ep["t1s"].items()},
            "t2": {c: v * ns for c, v in ep["t2s"].items()},
            "fidelity": fidelity,
            "readout_error": {q: {"0_to_1": ro[q]["0"], "1_to_0": ro[q]["1"]} for q in qubits},
            "duration": duration,
        },
        "assumed": ASSUMED,
    }


def vlq24(garnet: dict[str, Any], deneb: dict[str, Any]) -> dict[str, Any]:
    """24 qubits around one computational resonator: per-qubit figures from Garnet, resonator figures from Deneb."""
    g, d = garnet["error_profile"], deneb["error_profile"]
    qubits = [f"QB{i}" for i in range(1, 25)]
    src = {q: f"QB{(i % 20) + 1}" for i, q in enumerate(qubits)}
    loci = [[q, "CR1"] for q in qubits]
    arch = {
        "qubits": qubits,
        "computational_resonators": ["CR1"],
        "gates": {
            "cz": {"implementations": {"__fake": {"loci": loci}}},
            "move": {"implementations": {"__fake": {"loci": loci}}},
        },
    }
    ep = {
        "t1s": {**{q: g["t1s"][src[q]] for q in qubits}, "CR1": d["t1s"]["CR1"]},
        "t2s": {**{q: g["t2s"][src[q]] for q in qubits}, "CR1": d["t2s"]["CR1"]},
        "single_qubit_gate_depolarizing_error_parameters": {
            "prx": {q: g["single_qubit_gate_depolarizing_error_parameters"]["prx"][src[q]] for q in qubits}
        },
        "two_qubit_gate_depolarizing_error_parameters": {
            "cz": {_key(lc): d["two_qubit_gate_depolarizing_error_parameters"]["cz"]["QB1,CR1"] for lc in loci},
            "move": {_key(lc): d["two_qubit_gate_depolarizing_error_parameters"]["move"]["QB1,CR1"] for lc in loci},
        },
        "single_qubit_gate_durations": d["single_qubit_gate_durations"],
        "two_qubit_gate_durations": d["two_qubit_gate_durations"],
        "readout_errors": {q: g["readout_errors"][src[q]] for q in qubits},
    }
    desc = "24 qubits around one computational resonator with MOVE (VLQ-like); Garnet qubit figures, Deneb couplers"
    return build("vlq24", desc, arch, ep)


def main() -> None:
    figures_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FIGURES
    figures = json.loads(figures_path.read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    docs = {
        name: build(name, desc, figures[src]["architecture"], figures[src]["error_profile"])
        for name, (src, desc) in SOURCES.items()
    }
    docs["vlq24"] = vlq24(figures["IQMFakeGarnet"], figures["IQMFakeDeneb"])
    for name, doc in docs.items():
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {name}: {len(doc['qubits'])} qubits, {len(doc['computational_resonators'])} resonators")


if __name__ == "__main__":
    main()
