"""qaas benchmarks: one script, numbers to ``benchmarks/results.json`` and a table in ``benchmarks/results.md``.

Every figure is the median of several repeats, reported with its spread (min..max) so the machine noise is visible.
Run through ``nox -s bench`` (or ``python benchmarks/run.py [section ...]``).
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"

Section = Callable[[], list[dict[str, Any]]]
SECTIONS: dict[str, Section] = {}


def section(fn: Section) -> Section:
    SECTIONS[fn.__name__] = fn
    return fn


def _repeat(fn: Callable[[], Any], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def figure(name: str, value: float, unit: str, samples: list[float] | None = None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name, "value": round(value, 4), "unit": unit, **extra}
    if samples:
        row["repeats"] = len(samples)
        row["spread"] = [round(min(samples), 4), round(max(samples), 4)]
    return row


def random_native_circuits(count: int, n_qubits: int, ops: int, seed: int = 7) -> list[Any]:
    """Random native circuits (70 % prx, 30 % cz on couplings) on the first ``n_qubits`` of garnet20."""
    import qaas_core as q

    cal = q.load_profile("garnet20")
    rng = random.Random(seed)
    qubits = cal.qubits[:n_qubits]
    pairs = [lc for lc in cal.loci("cz") if lc[0] in qubits and lc[1] in qubits]
    out = []
    for i in range(count):
        body: list[q.Instruction] = []
        while len(body) < ops:
            if rng.random() < 0.7:
                body.append(q.prx(rng.choice(qubits), rng.uniform(0, 6.3), rng.uniform(0, 6.3)))
            else:
                body.append(q.cz(*rng.choice(pairs)))
        body.append(q.measure(*qubits, key="m"))
        out.append(q.Circuit(f"random-{i}", tuple(body)))
    return out


@section
def serialisation() -> list[dict[str, Any]]:
    """Encode/decode 2,000 circuits of ~600 native ops (12 qubits, garnet20)."""
    import qaas_core as q

    circuits = random_native_circuits(2000, 12, 600)
    q.encode_circuits(circuits)  # warm up allocator
    enc = _repeat(lambda: q.encode_circuits(circuits), 7)
    data = q.encode_circuits(circuits)
    job = _repeat(lambda: q.encode_iqm_job(circuits, shots=1000), 5)
    dec = _repeat(lambda: q.decode_circuits(data), 3)
    cal = q.load_profile("garnet20")
    val = _repeat(lambda: q.validate_circuits(circuits, cal), 5)
    n = len(circuits)
    return [
        figure(
            "core encoder, 2,000 x 600-op circuits",
            n / statistics.median(enc),
            "circuits/s",
            [n / t for t in enc],
            target=">= 3000",
            bytes_per_circuit=len(data) // n,
        ),
        figure(
            "IQM job request incl. structural checks", n / statistics.median(job), "circuits/s", [n / t for t in job]
        ),
        figure("validate against calibration", n / statistics.median(val), "circuits/s", [n / t for t in val]),
        figure("decode + check", n / statistics.median(dec), "circuits/s", [n / t for t in dec]),
    ]


@section
def import_time() -> list[dict[str, Any]]:
    """Wall time of ``python -c 'import qaas_core'`` in a fresh process, and python's own -X importtime figure."""
    code = "import qaas_core"
    walls, cumulative = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
        )
        walls.append(time.perf_counter() - t0)
        line = [ln for ln in proc.stderr.splitlines() if ln.rstrip().endswith("| qaas_core")][-1]
        cumulative.append(int(line.split("|")[1]) / 1e6)
    base = _repeat(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
    return [
        figure(
            "import qaas_core (-X importtime, cumulative)",
            statistics.median(cumulative),
            "s",
            cumulative,
            target="<= 0.3",
        ),
        figure("python -c 'import qaas_core' wall time", statistics.median(walls), "s", walls),
        figure("python -c 'pass' wall time (baseline)", statistics.median(base), "s", base),
    ]


def write(results: dict[str, Any]) -> None:
    old: dict[str, Any] = {}
    if RESULTS_JSON.exists():
        old = json.loads(RESULTS_JSON.read_text())
    old.setdefault("sections", {}).update(results["sections"])
    old["machine"] = results["machine"]
    RESULTS_JSON.write_text(json.dumps(old, indent=1) + "\n")
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {old['machine']['summary']}",
        "",
        "Median of repeats; spread is min..max over the repeats.",
        "",
        "| section | figure | median | unit | spread | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, sec in old["sections"].items():
        for row in sec["figures"]:
            spread = "..".join(str(x) for x in row.get("spread", [])) or "-"
            lines.append(
                f"| {name} | {row['name']} | {row['value']} | {row['unit']} | {spread} | {row.get('target', '')} |"
            )
    RESULTS_MD.write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    chosen = argv or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; available: {list(SECTIONS)}")
    machine = {
        "summary": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    results: dict[str, Any] = {"machine": machine, "sections": {}}
    for name in chosen:
        t0 = time.perf_counter()
        figures = SECTIONS[name]()
        results["sections"][name] = {"figures": figures, "seconds": round(time.perf_counter() - t0, 1)}
        for row in figures:
            print(f"{name:>14} | {row['name']}: {row['value']} {row['unit']}  spread {row.get('spread', '-')}")
    write(results)
    print(f"wrote {RESULTS_JSON.relative_to(HERE.parent)} and {RESULTS_MD.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
