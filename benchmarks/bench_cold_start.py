"""Cold start: a fresh ``python`` process, from its start to the first Qiskit Bell counts.

``run()`` returns rows ``{"name", "value", "unit", "repeats", "spread": [min, max], "target"}``. Two paths, each
timed the same way (wall clock from spawning the process to the counts, and to the process's end):

* **qaas**: ``QaaSProvider.emulator()`` in this interpreter's environment — the embedded emulator starts, logs in
  through the device flow, runs a calibration job and the Bell job through LEXIS, HEAppE and the emulated site's
  worker, exactly as on the platform. The child reports where its time went (imports, emulator start and login,
  calibration, transpile and run), so the figure says what dominates.
* **IQM offline**: ``IQMFakeGarnet`` + qiskit-aer (``iqm-client[qiskit]``), which is *not* in the benchmark's user
  environment by design: the benchmark makes a throwaway virtual environment with uv under the user cache
  (``~/.cache/qaas/bench/iqm-offline``, reused between runs) and runs the child there. When uv or the packages are
  not available, the row says "not installed" instead of a number.

Each path first runs one unmeasured process (it writes the bytecode caches, and builds the emulator's worker
environment the very first time), then five measured ones; every figure is their median. Children run with bytecode
caching on even where the host sets ``PYTHONDONTWRITEBYTECODE`` (a user's installed packages have their caches).

Run alone with ``python benchmarks/bench_cold_start.py`` or ``python benchmarks/run.py cold_start``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median_figure as _figure

REPEATS = 5
IQM_PACKAGES = ("iqm-client[qiskit]==36.*", "qiskit-aer>=0.17")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qaas" / "bench"

QAAS_CHILD = """
import json, time
marks = {}
from qiskit import QuantumCircuit, transpile
marks["import qiskit"] = time.time()
from qaas_qiskit import QaaSProvider
marks["import qaas_qiskit"] = time.time()
with QaaSProvider.emulator(noise=False, seed=1) as provider:
    marks["emulator started, logged in"] = time.time()
    backend = provider.get_backend()
    backend.target
    marks["calibration job, target"] = time.time()
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    counts = backend.run(transpile(qc, backend), shots=100).result().get_counts()
    marks["transpile, Bell job, counts"] = time.time()
    print(json.dumps({"counts": counts, "marks": marks}), flush=True)
"""

IQM_CHILD = """
import json, time
marks = {}
from qiskit import QuantumCircuit, transpile
marks["import qiskit"] = time.time()
from iqm.qiskit_iqm.fake_backends.fake_garnet import IQMFakeGarnet
marks["import iqm.qiskit_iqm"] = time.time()
backend = IQMFakeGarnet()
marks["IQMFakeGarnet()"] = time.time()
qc = QuantumCircuit(2, 2)
qc.h(0)
qc.cx(0, 1)
qc.measure([0, 1], [0, 1])
counts = backend.run(transpile(qc, backend), shots=100).result().get_counts()
marks["transpile, aer run, counts"] = time.time()
print(json.dumps({"counts": counts, "marks": marks}), flush=True)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QAAS_PROGRESS"] = "never"
    return env


def _once(python: str, code: str, cwd: str) -> tuple[float, float, dict[str, float]]:
    """Seconds to the counts and to the end of a fresh process, and the child's marks (seconds since its spawn)."""
    start = time.time()
    proc = subprocess.run(
        [python, "-c", code], check=False, capture_output=True, text=True, env=_env(), cwd=cwd, timeout=600
    )
    end = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    counts = report["counts"]
    if set(counts) - {"00", "01", "10", "11"} or sum(counts.values()) != 100:
        raise RuntimeError(f"cold-start child returned {counts!r}")
    marks = {name: at - start for name, at in report["marks"].items()}
    return max(marks.values()), end - start, marks


def _measure(label: str, python: str, code: str, target: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as cwd:
        first = _once(python, code, cwd)
        runs = [_once(python, code, cwd) for _ in range(REPEATS)]
    to_counts = [r[0] for r in runs]
    median_run = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    steps, previous = {}, 0.0
    for name, at in median_run[2].items():
        steps[name] = round(at - previous, 3)
        previous = at
    return [
        _figure(f"{label}: fresh python to first Bell counts", to_counts, "s", target, steps_of_median_run=steps),
        _figure(f"{label}: whole process (incl. shutdown)", [r[1] for r in runs], "s"),
        _figure(f"{label}: first run after install (bytecode written)", [first[0]], "s"),
    ]


def _succeeds(*argv: str) -> bool:
    return subprocess.run(argv, check=False, capture_output=True).returncode == 0


def _iqm_python() -> str | None:
    """The interpreter of the throwaway IQM environment (made on first use), or None if it cannot be made."""
    venv = CACHE / "iqm-offline"
    python = str(venv / "bin" / "python")
    probe = "import iqm.qiskit_iqm.fake_backends.fake_garnet, qiskit_aer"
    if Path(python).exists() and _succeeds(python, "-c", probe):
        return python
    uv = shutil.which("uv")
    interpreter = f"{sys.version_info.major}.{sys.version_info.minor}"
    made = (
        uv is not None
        and _succeeds(uv, "venv", "-q", "--clear", str(venv), "--python", interpreter)
        and _succeeds(uv, "pip", "install", "-q", "--python", python, *IQM_PACKAGES)
        and _succeeds(python, "-c", probe)
    )
    return python if made else None


def run() -> list[dict[str, Any]]:
    """Cold start of qaas on the embedded emulator, and of IQM's offline path in its own environment."""
    rows = _measure("qaas-qiskit on the embedded emulator", sys.executable, QAAS_CHILD, "<= 3")
    python = _iqm_python()
    if python is None:
        rows.append({"name": "IQMFakeGarnet + qiskit-aer: fresh python to first Bell counts", "value": None,
                     "unit": "not installed", "target": "", "note": f"could not build {CACHE / 'iqm-offline'}"})  # fmt: skip
    else:
        rows += _measure("IQMFakeGarnet + qiskit-aer (own environment)", python, IQM_CHILD, "")
    return rows


if __name__ == "__main__":
    for row in run():
        extra = {k: v for k, v in row.items() if k not in {"name", "value", "unit", "repeats", "spread", "target"}}
        print(f"{row['name']}: {row['value']} {row['unit']} (spread {row.get('spread')}) {extra}")
