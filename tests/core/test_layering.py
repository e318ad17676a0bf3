"""Layering rules checked on the source: adapters use only qaas_core's public names."""

from __future__ import annotations

import ast
from pathlib import Path

import qaas_core

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = sorted((ROOT / "packages").glob("qaas-*/src/qaas_*"))


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
    return out


PUBLIC_SUBPACKAGES = {"qaas_core.mitigation"}
"""Subpackages with a public surface of their own (their ``__all__``) that adapters may import from."""


def test_adapters_use_only_public_core_names() -> None:
    import importlib

    public = set(qaas_core.__all__)
    subpackages = {name: set(importlib.import_module(name).__all__) for name in PUBLIC_SUBPACKAGES}
    problems = []
    adapter_dirs = [d for d in ADAPTERS if d.name != "qaas_core"]
    assert len(adapter_dirs) == 3
    for pkg in adapter_dirs:
        for path in pkg.rglob("*.py"):
            for module, names, line in _imports(path):
                where = f"{path.relative_to(ROOT)}:{line}"
                if module in subpackages:
                    problems.extend(f"{where} imports non-public {module}.{n}" for n in names
                                    if n not in subpackages[module])  # fmt: skip
                elif module.startswith("qaas_core."):
                    problems.append(f"{where} imports private module {module}")
                elif module == "qaas_core":
                    problems.extend(f"{where} imports non-public qaas_core.{n}" for n in names if n not in public)
    assert problems == []


def test_core_never_imports_a_framework() -> None:
    core = ROOT / "packages" / "qaas-core" / "src" / "qaas_core"
    banned = {"qiskit", "cirq", "pennylane", "iqm", "qiskit_aer", "pickle", "dill", "cloudpickle"}
    found = []
    for path in core.rglob("*.py"):
        banned_here = banned - {"iqm"} if "worker" in path.relative_to(core).parts else banned
        for module, _names, line in _imports(path):
            if module.split(".")[0] in banned_here:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert found == []
