"""The calibration model: what a QPU can do now, and how well.

A :class:`Calibration` joins IQM's *dynamic quantum architecture* (DQA: calibration set id, qubits, computational
resonators, gates with implementations and loci) with the *quality metrics* of the same calibration set (T1, T2,
gate fidelities, readout errors, gate durations). All times are seconds.

It loads from IQM's own JSON shapes (:meth:`Calibration.from_iqm`) and from our schema-versioned
``calibration.json`` (:meth:`Calibration.from_json`, schema ``qaas.calibration/1``), and derives the views the
adapters need: the coupling graph (through the resonator on star devices), per-locus error and duration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from qaas_core._errors import CalibrationError

__all__ = ["CALIBRATION_SCHEMA", "Calibration", "GateInfo", "Metrics"]

CALIBRATION_SCHEMA: Final = "qaas.calibration/1"

Locus = tuple[str, ...]


def _locus_key(locus: Locus) -> str:
    return ",".join(locus)


class GateInfo:
    """Calibrated implementations of one operation.

    Attributes:
        implementations: implementation name -> calibrated loci.
        default_implementation: implementation used when an instruction names none.
        override_default_implementation: per-locus exceptions to the default.
        loci: union of the loci of all implementations, in first-seen order.
        locus_set: the same as a set, for membership tests.
    """

    __slots__ = ("default_implementation", "implementations", "loci", "locus_set", "override_default_implementation")

    def __init__(
        self,
        implementations: Mapping[str, Iterable[Locus]],
        default_implementation: str,
        override_default_implementation: Mapping[Locus, str] | None = None,
    ) -> None:
        self.implementations: dict[str, tuple[Locus, ...]] = {
            name: tuple(tuple(locus) for locus in loci) for name, loci in implementations.items()
        }
        if default_implementation not in self.implementations:
            raise CalibrationError(
                f"default implementation {default_implementation!r} is not among the implementations"
            )
        self.default_implementation = default_implementation
        self.override_default_implementation: dict[Locus, str] = dict(override_default_implementation or {})
        seen: dict[Locus, None] = {}
        for loci in self.implementations.values():
            for locus in loci:
                seen.setdefault(locus, None)
        self.loci: tuple[Locus, ...] = tuple(seen)
        self.locus_set: frozenset[Locus] = frozenset(seen)

    def implementation_for(self, locus: Locus) -> str:
        """The implementation the server uses on ``locus`` when none is named."""
        return self.override_default_implementation.get(tuple(locus), self.default_implementation)

    def to_dqa(self) -> dict[str, Any]:
        """IQM DQA ``GateInfo`` JSON shape."""
        return {
            "implementations": {n: {"loci": [list(x) for x in loci]} for n, loci in self.implementations.items()},
            "default_implementation": self.default_implementation,
            "override_default_implementation": {
                _locus_key(k): v for k, v in self.override_default_implementation.items()
            },
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GateInfo) and self.to_dqa() == other.to_dqa()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GateInfo({list(self.implementations)}, {len(self.loci)} loci)"


class Metrics(msgspec.Struct, frozen=True):
    """Quality metrics of one calibration set, in SI units.

    Attributes:
        t1: component -> T1 (s).
        t2: component -> T2 (s).
        fidelity: gate -> locus -> average gate fidelity (measure: assignment fidelity).
        readout_error: qubit -> (P(read 1 | prepared 0), P(read 0 | prepared 1)).
        duration: gate -> locus -> duration (s).
    """

    t1: dict[str, float] = {}
    t2: dict[str, float] = {}
    fidelity: dict[str, dict[Locus, float]] = {}
    readout_error: dict[str, tuple[float, float]] = {}
    duration: dict[str, dict[Locus, float]] = {}


_OBS_PATTERNS: Final = (
    (re.compile(r"^characterization\.model\.([^.]+)\.(t1|t2)_time$"), "coherence"),
    (re.compile(r"^metrics\.(?:rb|irb|ssro)\.([a-z_0-9]+)\.([^.]+)\.([^.]+)\.fidelity$"), "fidelity"),
    (re.compile(r"^metrics\.ssro\.measure\.([^.]+)\.([^.]+)\.error_(0_to_1|1_to_0)$"), "readout"),
    (re.compile(r"^gates\.([a-z_0-9]+)\.([^.]+)\.([^.]+)\.duration$"), "duration"),
)


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalibrationError(f"{what}: expected a number, got {value!r}")
    return float(value)


class Calibration:
    """A calibration set: architecture plus quality metrics.

    Attributes:
        calibration_set_id: IQM calibration set id (a UUID string).
        qubits: qubit names in the server's order (``QB1``, ``QB2`` …).
        computational_resonators: resonator names (empty on lattice devices).
        gates: operation name -> :class:`GateInfo`.
        metrics: :class:`Metrics` of the set.
        device: short device name (``garnet20`` …), if known.
    """

    def __init__(
        self,
        *,
        calibration_set_id: str,
        qubits: Iterable[str],
        computational_resonators: Iterable[str] = (),
        gates: Mapping[str, GateInfo],
        metrics: Metrics | None = None,
        device: str = "",
    ) -> None:
        self.calibration_set_id = str(calibration_set_id)
        self.qubits: tuple[str, ...] = tuple(qubits)
        self.computational_resonators: tuple[str, ...] = tuple(computational_resonators)
        self.gates: dict[str, GateInfo] = dict(gates)
        self.metrics = metrics or Metrics()
        self.device = device
        self.components: tuple[str, ...] = self.qubits + self.computational_resonators
        self.component_set: frozenset[str] = frozenset(self.components)
        if len(self.component_set) != len(self.components):
            raise CalibrationError("component names are not unique")
        for name, gate in self.gates.items():
            for locus in gate.loci:
                unknown = [c for c in locus if c not in self.component_set]
                if unknown:
                    raise CalibrationError(f"gate {name!r}: locus {locus} names unknown component(s) {unknown}")
        self.qubit_index: dict[str, int] = {q: i for i, q in enumerate(self.components)}
        # (operation, locus) pairs that certainly run with the default implementation: a fast path for validation
        self.native_loci: frozenset[tuple[str, Locus]] = frozenset(
            (name, tuple(p))
            for name in ("prx", "cc_prx", "cz", "move")
            for locus in self.loci(name)
            for p in ((locus, locus[::-1]) if name == "cz" else (locus,))
        )

    # -- derived views ----------------------------------------------------------------------------------------

    def loci(self, gate: str) -> tuple[Locus, ...]:
        """Calibrated loci of ``gate`` (empty if the gate is not calibrated)."""
        info = self.gates.get(gate)
        return info.loci if info else ()

    def coupling_graph(self) -> list[tuple[str, str]]:
        """Qubit pairs that can interact, sorted, each pair once.

        On lattice devices these are the CZ loci. On star devices two qubits ``a``, ``b`` interact when ``b`` can
        MOVE into a resonator that ``a`` has a CZ with (``move(b,r) cz(a,r) move(b,r)``).
        """
        pairs: set[tuple[str, str]] = set()
        qubits = set(self.qubits)
        for a, b in self.loci("cz"):
            if a in qubits and b in qubits:
                pairs.add((a, b) if self.qubit_index[a] < self.qubit_index[b] else (b, a))
        for a, b in self.resonator_couplings():
            pairs.add((a, b) if self.qubit_index[a] < self.qubit_index[b] else (b, a))
        return sorted(pairs, key=lambda p: (self.qubit_index[p[0]], self.qubit_index[p[1]]))

    def resonator_couplings(self) -> list[tuple[str, str]]:
        """Ordered qubit pairs ``(a, b)`` with a CZ through a resonator: ``b`` moves, ``a`` takes the CZ."""
        resonators = set(self.computational_resonators)
        cz_to: dict[str, set[str]] = {}
        for locus in self.loci("cz"):
            q = [c for c in locus if c not in resonators]
            r = [c for c in locus if c in resonators]
            if len(q) == 1 and len(r) == 1:
                cz_to.setdefault(r[0], set()).add(q[0])
        out: list[tuple[str, str]] = []
        for qubit, resonator in self.loci("move"):
            for a in sorted(cz_to.get(resonator, ()), key=self.qubit_index.__getitem__):
                if a != qubit:
                    out.append((a, qubit))
        return out

    def resonator_for(self, a: str, b: str) -> str | None:
        """A resonator through which ``b`` can move so that ``a`` can take a CZ with it, or None."""
        moves = {r for q, r in self.loci("move") if q == b}
        for locus in self.loci("cz"):
            if a in locus:
                other = locus[1] if locus[0] == a else locus[0]
                if other in moves:
                    return other
        return None

    def fidelity(self, gate: str, locus: Iterable[str]) -> float | None:
        """Average fidelity of ``gate`` on ``locus`` (either order for symmetric gates), or None if unknown."""
        locus = tuple(locus)
        table = self.metrics.fidelity.get(gate, {})
        value = table.get(locus)
        if value is None and len(locus) == 2:
            value = table.get(locus[::-1])
        if value is None and gate == "cz" and len(locus) == 2:
            value = self._virtual_cz("fidelity", locus)
        return value

    def error(self, gate: str, locus: Iterable[str]) -> float | None:
        """``1 - fidelity`` of ``gate`` on ``locus``, or None if unknown."""
        f = self.fidelity(gate, locus)
        return None if f is None else max(0.0, 1.0 - f)

    def duration(self, gate: str, locus: Iterable[str]) -> float | None:
        """Duration in seconds of ``gate`` on ``locus``, or None if unknown."""
        locus = tuple(locus)
        table = self.metrics.duration.get(gate, {})
        value = table.get(locus)
        if value is None and len(locus) == 2:
            value = table.get(locus[::-1])
        if value is None and gate == "cz" and len(locus) == 2:
            value = self._virtual_cz("duration", locus)
        return value

    def _virtual_cz(self, kind: str, locus: Locus) -> float | None:
        """Fidelity or duration of a CZ between two qubits that meet only in a resonator: those of the MOVE sandwich
        the device view plays for it (:func:`qaas_core._device.cz_routes`), or None."""
        from qaas_core._device import cz_routes

        routes = cz_routes(self, *locus)
        if not routes:
            return None
        return routes[0].fidelity if kind == "fidelity" else routes[0].duration

    # -- IQM shapes ---------------------------------------------------------------------------------------------

    @classmethod
    def from_iqm(
        cls, dqa: Mapping[str, Any], metrics: Mapping[str, Any] | None = None, *, device: str = ""
    ) -> Calibration:
        """Build from IQM's DQA JSON and, optionally, a quality-metric (observation) set JSON.

        Raises:
            CalibrationError: the documents are malformed.
        """
        try:
            gates = {}
            for name, info in dqa["gates"].items():
                overrides = {
                    tuple(k.split(",")): v for k, v in (info.get("override_default_implementation") or {}).items()
                }
                impls = {impl: [tuple(x) for x in body["loci"]] for impl, body in info["implementations"].items()}
                gates[name] = GateInfo(impls, info["default_implementation"], overrides)
            observations = [] if metrics is None else metrics.get("observations", [])
            return cls(
                calibration_set_id=str(dqa["calibration_set_id"]),
                qubits=[str(q) for q in dqa["qubits"]],
                computational_resonators=[str(r) for r in dqa.get("computational_resonators", [])],
                gates=gates,
                metrics=_metrics_from_observations(observations),
                device=device,
            )
        except CalibrationError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise CalibrationError(f"malformed dynamic quantum architecture: {type(exc).__name__}: {exc}") from exc

    def to_dqa(self) -> dict[str, Any]:
        """IQM DQA JSON shape."""
        return {
            "calibration_set_id": self.calibration_set_id,
            "qubits": list(self.qubits),
            "computational_resonators": list(self.computational_resonators),
            "gates": {name: g.to_dqa() for name, g in self.gates.items()},
        }

    def to_observations(self) -> list[dict[str, Any]]:
        """Quality metrics as IQM observation records (``dut_field``, ``value``, ``unit``)."""
        out: list[dict[str, Any]] = []
        m = self.metrics
        for comp, value in m.t1.items():
            out.append({"dut_field": f"characterization.model.{comp}.t1_time", "value": value, "unit": "s"})
        for comp, value in m.t2.items():
            out.append({"dut_field": f"characterization.model.{comp}.t2_time", "value": value, "unit": "s"})
        method = {"prx": "rb", "measure": "ssro"}
        for gate, table in m.fidelity.items():
            for locus, value in table.items():
                impl = self._impl(gate, locus)
                field = f"metrics.{method.get(gate, 'irb')}.{gate}.{impl}.{'__'.join(locus)}.fidelity"
                out.append({"dut_field": field, "value": value, "unit": ""})
        for qubit, (e01, e10) in m.readout_error.items():
            impl = self._impl("measure", (qubit,))
            for suffix, value in (("0_to_1", e01), ("1_to_0", e10)):
                field = f"metrics.ssro.measure.{impl}.{qubit}.error_{suffix}"
                out.append({"dut_field": field, "value": value, "unit": ""})
        for gate, table in m.duration.items():
            for locus, value in table.items():
                field = f"gates.{gate}.{self._impl(gate, locus)}.{'__'.join(locus)}.duration"
                out.append({"dut_field": field, "value": value, "unit": "s"})
        return out

    def _impl(self, gate: str, locus: Locus) -> str:
        info = self.gates.get(gate)
        return info.implementation_for(locus) if info else "default"

    # -- our own JSON -------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The ``qaas.calibration/1`` document."""
        m = self.metrics
        return {
            "schema": CALIBRATION_SCHEMA,
            "device": self.device,
            **self.to_dqa(),
            "metrics": {
                "t1": dict(m.t1),
                "t2": dict(m.t2),
                "fidelity": {g: {_locus_key(k): v for k, v in t.items()} for g, t in m.fidelity.items()},
                "readout_error": {q: {"0_to_1": a, "1_to_0": b} for q, (a, b) in m.readout_error.items()},
                "duration": {g: {_locus_key(k): v for k, v in t.items()} for g, t in m.duration.items()},
            },
        }

    def to_json(self) -> bytes:
        """Encode as ``qaas.calibration/1`` JSON bytes."""
        return msgspec.json.encode(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Calibration:
        """Decode a ``qaas.calibration/1`` document.

        Raises:
            CalibrationError: wrong schema or malformed content.
        """
        if not isinstance(doc, Mapping):
            raise CalibrationError("calibration document must be a JSON object")
        if doc.get("schema") != CALIBRATION_SCHEMA:
            raise CalibrationError(
                f"unsupported calibration schema {doc.get('schema')!r}, expected {CALIBRATION_SCHEMA}"
            )
        cal = cls.from_iqm(doc, device=str(doc.get("device") or ""))
        try:
            raw = doc.get("metrics") or {}

            def table(name: str) -> dict[str, dict[Locus, float]]:
                return {
                    g: {tuple(k.split(",")): _float(v, f"metrics.{name}.{g}.{k}") for k, v in t.items()}
                    for g, t in (raw.get(name) or {}).items()
                }

            metrics = Metrics(
                t1={k: _float(v, f"t1.{k}") for k, v in (raw.get("t1") or {}).items()},
                t2={k: _float(v, f"t2.{k}") for k, v in (raw.get("t2") or {}).items()},
                fidelity=table("fidelity"),
                readout_error={
                    q: (_float(v["0_to_1"], f"readout {q}"), _float(v["1_to_0"], f"readout {q}"))
                    for q, v in (raw.get("readout_error") or {}).items()
                },
                duration=table("duration"),
            )
        except CalibrationError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise CalibrationError(f"malformed calibration metrics: {type(exc).__name__}: {exc}") from exc
        return cls(
            calibration_set_id=cal.calibration_set_id,
            qubits=cal.qubits,
            computational_resonators=cal.computational_resonators,
            gates=cal.gates,
            metrics=metrics,
            device=cal.device,
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Calibration:
        """Decode ``qaas.calibration/1`` JSON.

        Raises:
            CalibrationError: invalid JSON, wrong schema or malformed content.
        """
        try:
            doc = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise CalibrationError(f"calibration is not valid JSON: {exc}") from exc
        return cls.from_dict(doc)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Calibration) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        kind = f", {len(self.computational_resonators)} resonator(s)" if self.computational_resonators else ""
        return (
            f"<Calibration {self.device or 'device'} {self.calibration_set_id}: "
            f"{len(self.qubits)} qubits{kind}, gates {sorted(self.gates)}>"
        )


def _metrics_from_observations(observations: Iterable[Mapping[str, Any]]) -> Metrics:
    t1: dict[str, float] = {}
    t2: dict[str, float] = {}
    fidelity: dict[str, dict[Locus, float]] = {}
    readout: dict[str, list[float]] = {}
    duration: dict[str, dict[Locus, float]] = {}
    for obs in observations:
        if obs.get("invalid"):
            continue
        field = str(obs["dut_field"]).split(":", 1)[0]
        for pattern, kind in _OBS_PATTERNS:
            match = pattern.match(field)
            if match is None:
                continue
            value = _float(obs["value"], field)
            if kind == "coherence":
                (t1 if match[2] == "t1" else t2)[match[1]] = value
            elif kind == "fidelity":
                fidelity.setdefault(match[1], {})[tuple(match[3].split("__"))] = value
            elif kind == "readout":
                pair = readout.setdefault(match[2], [0.0, 0.0])
                pair[0 if match[3] == "0_to_1" else 1] = value
            else:
                duration.setdefault(match[1], {})[tuple(match[3].split("__"))] = value
            break
    return Metrics(
        t1=t1,
        t2=t2,
        fidelity=fidelity,
        readout_error={q: (v[0], v[1]) for q, v in readout.items()},
        duration=duration,
    )
