"""Sessions for the qaas monorepo.

``nox`` (no arguments) runs the default sessions: lint, typecheck, each package's tests in an environment of its
own, the iqm-client conformance tests and the cross-framework tests. ``nox -s demo`` is the main job;
``nox -s bench`` writes ``benchmarks/results.json`` and ``benchmarks/results.md``.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests-core",
    "conformance",
    "heappe-conformance",
    "tests-emulator",
    "reliability",
    "tests-qiskit",
    "tests-cirq",
    "tests-pennylane",
    "cross",
    "ecosystem",
]

PYTHON = "3.11"
CORE = "packages/qaas-core"
ADAPTERS = {"qiskit": "packages/qaas-qiskit", "cirq": "packages/qaas-cirq", "pennylane": "packages/qaas-pennylane"}
TEST_DEPS = ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "numpy>=2.0"]
IQM_CLIENT = "iqm-client==36.*"
# what users combine with our adapters, used unmodified (mitiq's Qiskit conversions need qiskit-aer and ply, which
# only its [qiskit] extra installs, together with qiskit-ibm-runtime we do not need)
ECOSYSTEM = ["qiskit-experiments>=0.14", "mitiq>=1.1", "qiskit-aer>=0.17", "ply>=3.11"]
PY4HEAPPE = "py4heappe==2.6.0"  # IT4I's client generated from HEAppE V6.3's OpenAPI document
FULL_CORE = "emulator,worker"  # the core with its cluster side in the same environment (worker and emulator suites)
USER = "emulator"  # what a user installs: the emulator builds its worker an environment of its own (no iqm-client)


def _install(session: nox.Session, *packages: str, extras: str = "") -> None:
    """Install our packages (editable) plus the test tools into the session."""
    editable: list[str] = []
    for path in packages:
        editable += ["-e", f"{path}[{extras}]" if extras and path == CORE else path]
    session.install(*editable, *TEST_DEPS)


def _install_user(session: nox.Session, *adapters: str, plot: bool = False) -> None:
    """Install as a user does (adapters + the core with its emulator) and check that iqm-client stayed out: the
    emulator runs its cluster side in an environment of its own."""
    _install(session, CORE, *adapters, extras=USER + (",plot" if plot else ""))
    session.run("python", "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('iqm') is not None"
                " and 'iqm-client is installed in the user environment')")  # fmt: skip


def _pytest(session: nox.Session, *paths: str, workers: int = 2) -> None:
    """The one way every test session runs pytest (extra arguments after ``--`` are passed on).

    Tests run in ``workers`` processes, one test file per process at a time (``--dist loadfile``: a file's
    module-scoped emulator is started once); the tests that mostly wait on an emulator use more workers than cores.
    BLAS runs single-threaded: the processes already fill the cores, and OpenBLAS's thread pool can hang ``np.dot``
    for good when several Python threads call it at once (numpy#17752; seen here as a Qiskit ``Operator`` built while
    an in-process emulator simulated).
    """
    parallel = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    env = {"PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    session.run("python", "-m", "pytest", *parallel, *paths, *session.posargs, env=env)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the whole tree."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package (installed together with their frameworks)."""
    _install(session, CORE, *ADAPTERS.values(), extras=FULL_CORE + ",plot")
    session.install("mypy>=1.13")
    session.run("mypy")


@nox.session(name="tests-core", python=PYTHON)
def tests_core(session: nox.Session) -> None:
    """qaas-core alone in its own environment, plus the import contract (no framework in the core)."""
    _install(session, CORE, extras="emulator")
    session.install("import-linter>=2.1")
    session.run("lint-imports")
    _pytest(session, "tests/core", "tests/emulator", "--ignore=tests/emulator/test_iqm_server.py", workers=3)


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """Our IQM transfer format against iqm-client 36's own models and validation."""
    _install(session, CORE)
    session.install(IQM_CLIENT)
    _pytest(session, "tests/conformance", "--ignore=tests/conformance/test_heappe_openapi.py", workers=1)


@nox.session(name="heappe-conformance", python=PYTHON)
def heappe_conformance(session: nox.Session) -> None:
    """The emulated HEAppE driven by IT4I's py4heappe (its models generated from HEAppE's OpenAPI document)."""
    _install(session, CORE, extras="emulator")
    session.install(PY4HEAPPE)
    _pytest(session, "tests/conformance/test_heappe_openapi.py", workers=1)


@nox.session(name="tests-emulator", python=PYTHON)
def tests_worker(session: nox.Session) -> None:
    """The emulated IQM server under unmodified iqm-client, the cluster-side worker that uses it, and the client
    end to end against the whole emulator (mitigation pipelines included)."""
    _install(session, CORE, extras="emulator,worker")
    _pytest(session, "tests/worker", "tests/emulator/test_iqm_server.py", "tests/client", "tests/mitigation", workers=4)


@nox.session(python=PYTHON)
def reliability(session: nox.Session) -> None:
    """Fault matrix, exactly-once submission, kill-and-recover, secrets (real HTTP against the emulator)."""
    _install(session, CORE, extras=FULL_CORE)
    _pytest(session, "tests/reliability", workers=4)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """Hypothesis fuzzing of every input and answer at 10,000 examples per target (not in the default run)."""
    _install(session, CORE, extras=FULL_CORE)
    examples = {"QAAS_FUZZ_EXAMPLES": "10000", "PYTHONHASHSEED": "0"}
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/reliability/test_fuzz.py",
        "tests/core/test_wire.py",
        "tests/core/test_qasm3.py",
        *session.posargs,
        env=examples,
    )


@nox.session(name="tests-qiskit", python=PYTHON)
def tests_qiskit(session: nox.Session) -> None:
    """qaas-qiskit with qaas-core only."""
    _install_user(session, ADAPTERS["qiskit"])
    _pytest(session, "tests/qiskit")


@nox.session(name="tests-cirq", python=PYTHON)
def tests_cirq(session: nox.Session) -> None:
    """qaas-cirq with qaas-core only."""
    _install_user(session, ADAPTERS["cirq"])
    _pytest(session, "tests/cirq")


@nox.session(name="tests-pennylane", python=PYTHON)
def tests_pennylane(session: nox.Session) -> None:
    """qaas-pennylane with qaas-core only."""
    _install_user(session, ADAPTERS["pennylane"])
    _pytest(session, "tests/pennylane")


@nox.session(name="pennylane-conformance", python=PYTHON)
def pennylane_conformance(session: nox.Session) -> None:
    """PennyLane's own device test suite against qaas.iqm on a noiseless embedded emulator (~10 min; not default)."""
    _install_user(session, ADAPTERS["pennylane"])
    session.install("flaky", "pytest-mock")
    session.run("python", "tests/pennylane/conformance.py", *session.posargs, env={"PYTHONHASHSEED": "0"})


@nox.session(python=PYTHON)
def cross(session: nox.Session) -> None:
    """The same programs through every front end (all packages together)."""
    _install_user(session, *ADAPTERS.values())
    session.install("qiskit-aer>=0.17")
    _pytest(session, "tests/cross", workers=3)


@nox.session(python=PYTHON)
def ecosystem(session: nox.Session) -> None:
    """qiskit-experiments and mitiq (Qiskit and Cirq executors) unmodified against the emulator."""
    _install_user(session, ADAPTERS["qiskit"], ADAPTERS["cirq"])
    session.install(*ECOSYSTEM)
    _pytest(session, "tests/ecosystem")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; numbers go to benchmarks/results.json and benchmarks/results.md."""
    _install_user(session, *ADAPTERS.values())
    session.install("qiskit-aer>=0.17")  # the anchor the simulator is measured against
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: a guided tour on the embedded device profiles."""
    _install_user(session, *ADAPTERS.values(), plot=True)
    session.run("python", "examples/demo.py", *session.posargs)
