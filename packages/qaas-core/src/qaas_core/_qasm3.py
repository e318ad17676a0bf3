"""OpenQASM 3 input: translate a program into a native IQM :class:`~qaas_core.Circuit`.

The program is parsed with the reference ``openqasm3`` parser (imported lazily, on the first call) and its
statements are walked once, in order, emitting native instructions:

* **Qubits.** Declared registers (``qubit[n] q;``, ``qubit q;``, ``qreg q[n];``) are laid out in declaration
  order onto ``calibration.qubits`` (a trivial layout: the first declared qubit is ``QB1``). Physical qubits
  ``$n`` name ``calibration.components[n]``: the qubits first, then the computational resonators. A program
  uses one style or the other. Without a calibration, qubit ``i`` is called ``QB{i+1}`` and nothing is checked
  against a device.
* **Gates.** ``prx``/``r``, ``cz`` and ``move`` are native. The standard library (``stdgates.inc``, plus
  ``sxdg``, ``cnot``, ``u2``, ``u3``, ``cu1``, ``cu3``) is decomposed into PRX and CZ; user ``gate`` definitions
  are expanded inline; ``inv @`` and integer ``pow(k) @`` are supported, ``ctrl @`` is not. On a star device a
  CZ between two qubits becomes the MOVE sandwich of the device view (:mod:`qaas_core._device`), the same code every
  front end emits.
* **Virtual Z.** Z rotations are never emitted. Each component carries a frame angle λ (the Z rotation applied
  so far but not yet emitted); a later ``PRX(θ, φ)`` is emitted as ``PRX(θ, φ - λ)`` because
  ``PRX(θ, φ)·RZ(λ) = RZ(λ)·PRX(θ, φ - λ)``. CZ and measurements commute with the frames, ``reset`` clears the
  frame and ``move`` exchanges the frames of qubit and resonator (:class:`~qaas_core.Frames`). The frames left at
  the end are Z rotations at the end of the circuit: they cannot change Z-basis measurement results. Phases are
  wrapped into ``(−π, π]`` (:func:`~qaas_core.wrap_phase`), as by every other front end.
* **Runs.** The single-qubit steps of a qubit wait until something else acts on it (CZ, MOVE, measure, reset,
  barrier, delay, a branch, the end); a run with one pulse is played as written, a longer one as the single
  ``RZ(a)·PRX(θ, φ)`` it equals (:func:`~qaas_core.fuse`). A ``barrier`` keeps gates apart.
* **Measurements.** The first measurement into bit ``c[i]`` has key ``c_i``, later ones ``c_i_1``, ``c_i_2``…;
  measurements without a target get ``m_0``, ``m_1``…. ``metadata["cregs"]`` maps each bit register to its
  size and ``metadata["clbits"]`` maps each key to ``[register, index]``.
* **Feedback.** ``if (c[i]) {A} else {B}`` (also ``!c[i]``, ``c[i] == 0|1|true|false``, ``!=``) on single-qubit
  gates of any kind: ``B`` is played, then ``A·B†`` as ``cc_prx`` pulses fed by the last measurement into ``c[i]``
  (:func:`qaas_core._fuse.conditioned`: a pulse, and a pair of π pulses for a Z component); that measurement gets
  ``feedback_key = "fb_" + key``. Two-qubit gates in a branch and multi-bit conditions are refused by name.

Everything else (loops, subroutines, classical computation, ``input`` parameters, ``dt`` durations…) raises
:class:`~qaas_core.QasmError` naming line and column. :data:`QASM3_FEATURES` lists what is supported.

Size and speed: before parsing, a linear scan of the text refuses programs over ``max_bytes``, ``max_statements``
(``;`` outside comments and strings) or ``max_nesting`` (brackets). The reference parser takes ~0.3 ms a
statement, so the text is parsed piece by piece where that provably gives the tree of one parse of the whole
text, each distinct statement text once (see :func:`_parse`); a piece that does not parse alone sends the rest of
the program to one parse, so results and error messages are always the parser's own.
"""

from __future__ import annotations

import bisect
import copy
import functools
import importlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Final

from qaas_core._circuit import (
    Circuit,
    Instruction,
    barrier,
    check_circuit,
    cz,
    delay,
    measure,
    move,
    prx,
    reset,
    validate_circuits,
)
from qaas_core._device import DeviceView
from qaas_core._errors import CalibrationError, CircuitError, ConfigurationError, QaasError, QasmError
from qaas_core._frames import TAU, Frames

if TYPE_CHECKING:
    from openqasm3 import ast

    from qaas_core._calibration import Calibration

__all__ = ["QASM3_FEATURES", "circuit_from_qasm3"]

_PI: Final = math.pi
_TAU: Final = TAU
_MAX_OPS: Final = 200_000  # primitive operations in one gate expansion and in the whole circuit
_MAX_WORK: Final = 1_000_000  # gate applications plus operations produced: stops pow/gate-definition blow-ups
_MAX_BYTES: Final = 8 * 2**20  # default limits on the program text, checked before parsing (see circuit_from_qasm3)
_MAX_STATEMENTS: Final = 500_000
_MAX_NESTING: Final = 64
_MAX_QUBITS_WITHOUT_DEVICE: Final = 1024

_Op = tuple[str, tuple[float, ...], tuple[Any, ...]]  # (rz|prx|cz|move or a gate name, parameters, operands)

_NATIVE: Final = frozenset({"prx", "r", "cz", "move"})


def _cx(a: int, b: int) -> list[_Op]:
    return [("prx", (-_PI / 2, _PI / 2), (b,)), ("cz", (), (a, b)), ("prx", (_PI / 2, _PI / 2), (b,))]


def _cu(t: float, p: float, lam: float, g: float) -> list[_Op]:
    return [
        ("rz", (g + (lam + p) / 2,), (0,)),
        ("rz", ((lam - p) / 2,), (1,)),
        *_cx(0, 1),
        ("u3", (-t / 2, 0.0, -(p + lam) / 2), (1,)),
        *_cx(0, 1),
        ("u3", (t / 2, p, 0.0), (1,)),
    ]


def _ccx() -> list[_Op]:
    t, tdg = ("rz", (_PI / 4,)), ("rz", (-_PI / 4,))
    return [
        ("h", (), (2,)), *_cx(1, 2), (*tdg, (2,)), *_cx(0, 2), (*t, (2,)), *_cx(1, 2), (*tdg, (2,)), *_cx(0, 2),
        (*t, (1,)), (*t, (2,)), ("h", (), (2,)), *_cx(0, 1), (*t, (0,)), (*tdg, (1,)), *_cx(0, 1),
    ]  # fmt: skip


def _rz(angle: float) -> list[_Op]:
    return [("rz", (angle,), (0,))]


def _prx(angle: float, phase: float) -> list[_Op]:
    return [("prx", (angle, phase), (0,))]


# name -> (parameters, qubits, decomposition into rz/prx/cz or other entries of this table, on local qubit indices)
_STANDARD: Final[dict[str, tuple[int, int, Callable[..., list[_Op]]]]] = {
    "prx": (2, 1, _prx),
    "cz": (0, 2, lambda: [("cz", (), (0, 1))]),
    "id": (0, 1, list),
    "x": (0, 1, lambda: _prx(_PI, 0.0)),
    "y": (0, 1, lambda: _prx(_PI, _PI / 2)),
    "z": (0, 1, lambda: _rz(_PI)),
    "h": (0, 1, lambda: [*_rz(_PI), *_prx(_PI / 2, _PI / 2)]),
    "s": (0, 1, lambda: _rz(_PI / 2)),
    "sdg": (0, 1, lambda: _rz(-_PI / 2)),
    "t": (0, 1, lambda: _rz(_PI / 4)),
    "tdg": (0, 1, lambda: _rz(-_PI / 4)),
    "sx": (0, 1, lambda: _prx(_PI / 2, 0.0)),
    "sxdg": (0, 1, lambda: _prx(-_PI / 2, 0.0)),
    "rx": (1, 1, lambda t: _prx(t, 0.0)),
    "ry": (1, 1, lambda t: _prx(t, _PI / 2)),
    "rz": (1, 1, _rz),
    "p": (1, 1, _rz),
    "u2": (2, 1, lambda p, lam: [*_rz(lam), *_prx(_PI / 2, _PI / 2), *_rz(p)]),
    "u3": (3, 1, lambda t, p, lam: [*_rz(lam), *_prx(t, _PI / 2), *_rz(p)]),
    "cx": (0, 2, lambda: _cx(0, 1)),
    "cy": (0, 2, lambda: [("rz", (-_PI / 2,), (1,)), *_cx(0, 1), ("rz", (_PI / 2,), (1,))]),
    "ch": (0, 2, lambda: [("prx", (-_PI / 4, _PI / 2), (1,)), ("cz", (), (0, 1)), ("prx", (_PI / 4, _PI / 2), (1,))]),
    "swap": (0, 2, lambda: [*_cx(0, 1), *_cx(1, 0), *_cx(0, 1)]),
    "cp": (1, 2, lambda lam: _cu(0.0, 0.0, lam, 0.0)),
    "crz": (1, 2, lambda t: [("rz", (t / 2,), (1,)), *_cx(0, 1), ("rz", (-t / 2,), (1,)), *_cx(0, 1)]),
    "cry": (1, 2, lambda t: [("ry", (t / 2,), (1,)), *_cx(0, 1), ("ry", (-t / 2,), (1,)), *_cx(0, 1)]),
    "crx": (1, 2, lambda t: [("rz", (_PI / 2,), (1,)), ("cry", (t,), (0, 1)), ("rz", (-_PI / 2,), (1,))]),
    "cu": (4, 2, _cu),
    "cu3": (3, 2, lambda t, p, lam: _cu(t, p, lam, 0.0)),
    "ccx": (0, 3, _ccx),
    "cswap": (0, 3, lambda: [*_cx(2, 1), ("ccx", (), (0, 1, 2)), *_cx(2, 1)]),
}
_ALIASES: Final = {
    "r": "prx", "phase": "p", "u1": "p", "u": "u3", "U": "u3", "CX": "cx", "cnot": "cx", "cphase": "cp", "cu1": "cp",
}  # fmt: skip
_STANDARD.update({alias: _STANDARD[target] for alias, target in _ALIASES.items()})

_CONSTANTS: Final = {"pi": _PI, "π": _PI, "tau": _TAU, "τ": _TAU, "euler": math.e, "ℇ": math.e}
_FUNCTIONS: Final[dict[str, Callable[[float], float]]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "arcsin": math.asin, "arccos": math.acos,
    "arctan": math.atan, "exp": math.exp, "log": math.log, "sqrt": math.sqrt,
}  # fmt: skip
_BINARY: Final[dict[str, Callable[[float, float], float]]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "**": lambda a, b: float(a**b),
}  # fmt: skip
_PER_SECOND: Final = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0}
_UNSUPPORTED: Final = {
    "ForInLoop": "for loops", "WhileLoop": "while loops", "SubroutineDefinition": "subroutine definitions (def)",
    "SwitchStatement": "switch statements", "ExternDeclaration": "extern declarations", "Box": "box statements",
    "ClassicalAssignment": "classical assignments", "AliasStatement": "aliases (let)", "EndStatement": "end",
    "CalibrationGrammarDeclaration": "defcalgrammar", "CalibrationStatement": "cal blocks",
    "CalibrationDefinition": "defcal", "ExpressionStatement": "expression statements",
}  # fmt: skip

_DECOMPOSED = sorted(set(_STANDARD) - _NATIVE, key=str.lower)
QASM3_FEATURES: Final[dict[str, str]] = {
    "OPENQASM 3 / 3.x header (optional)": "supported",
    "OPENQASM 2 header": "unsupported: change the header to OPENQASM 3.0 and include stdgates.inc",
    'include "stdgates.inc" / "qelib1.inc"': "supported",
    "other include files": "unsupported: the translator reads no files",
    "qubit[n] q; qubit q; qreg q[n]; (declaration order, or placed and routed)": "supported",
    "physical qubits $n (qubits, then computational resonators)": "supported",
    "bit[n] c; bit c; creg c[n];": "supported",
    "constants: const / float / angle / int / uint with a constant initialiser": "supported",
    "expressions: numbers, pi tau euler, + - * / **, sin cos tan arcsin arccos arctan exp log sqrt": "supported",
    "input parameters": "unsupported: bind every input before translating",
    "output declarations": "unsupported: results are measurement keys",
    "register indexing q[i], q[-1], ranges q[a:b], sets q[{a, b}] and broadcasting": "supported",
    **{f"gate {g}": "native" for g in sorted(_NATIVE)},
    **{f"gate {g}": "decomposed" for g in _DECOMPOSED},
    "gphase": "supported",
    "user gate definitions (expanded inline)": "supported",
    "inv @ and integer pow(k) @ modifiers": "supported",
    "ctrl @ / negctrl @ modifiers": "unsupported: controlled versions are not decomposed",
    "measure: c[i] = measure q[j]; c = measure q; measure q -> c; bit c = measure q;": "supported",
    "reset": "supported",
    "barrier": "supported",
    "delay[t] with ns, us, ms, s": "supported",
    "delay[t] with dt": "unsupported: dt is device-defined",
    "if / else on one measured bit (c[i], !c[i], c[i] == 0|1|true|false, !=), single-qubit gates": "supported",
    "multi-bit conditions, two-qubit gates or measurements in a branch": "unsupported: IQM feedback branches on "
    "one bit and conditions single-qubit pulses",
    "for / while loops": "unsupported: unroll the loop before submitting",
    "subroutines (def), extern, switch, box, alias, classical assignments": "unsupported: no classical runtime",
    "pulse-level calibration (defcal, cal, defcalgrammar)": "unsupported: use IQM pulse tools",
    "pragmas and annotations": "supported",
}
"""Feature -> ``supported`` / ``native`` / ``decomposed`` / ``unsupported: why`` (rendered in docs/qasm3.md)."""


class _SyntaxError(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


class _RaisingListener:
    """ANTLR error listener that raises instead of printing to stderr (duck-typed ``ErrorListener``)."""

    def syntaxError(self, *args: Any) -> None:  # (recognizer, offending symbol, line, column, message, exception)
        raise _SyntaxError(args[2], args[3], args[4])

    def reportAmbiguity(self, *args: object) -> None:
        pass

    def reportAttemptingFullContext(self, *args: object) -> None:
        pass

    def reportContextSensitivity(self, *args: object) -> None:
        pass


# -- limits, checked on the text before anything is parsed ------------------------------------------------------

_COMMENT_OR_STRING: Final = re.compile(r"//[^\r\n]*|/\*.*?\*/|\"[^\"\r\t\n]*\"|'[^'\r\t\n]*'", re.S)
_BRACKETS: Final = b"([{)]}"
_NOT_BRACKETS: Final = bytes(sorted(set(range(256)) - set(_BRACKETS)))
_STEP: Final = [1 if c in b"([{" else -1 if c in b")]}" else 0 for c in range(256)]
_SCAN_BLOCK: Final = 1 << 16


def _blank(match: re.Match[str]) -> str:
    """The matched text as spaces, keeping its newlines (and so every later offset, line and column)."""
    text = match[0]
    return " " * len(text) if "\n" not in text else re.sub(r"[^\n]", " ", text)


@functools.lru_cache(maxsize=2)
def _line_starts(source: str) -> list[int]:
    """Offsets at which the lines of ``source`` start (computed once per program: every statement asks)."""
    return [0, *(match.end() for match in re.finditer("\n", source))]


def _position(source: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset, counted as ANTLR counts them (lines end at ``\\n``)."""
    starts = _line_starts(source)
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _too_much(what: str, measured: str, option: str, limit: int, line: int | None = None, col: int = 1) -> QasmError:
    return QasmError(
        f"{what}: {measured}, more than {option}={limit:,}; pass a larger {option} to circuit_from_qasm3 to accept it",
        line=line,
        column=col if line is not None else None,
    )


def _crossing(block: bytes, start: int, depth: int, limit: int) -> int:
    """Offset of the first bracket in ``block`` (at ``start``, entered at ``depth``) deeper than ``limit``."""
    for offset, byte in enumerate(block, start):
        depth += _STEP[byte]
        if depth > limit:
            return offset
    return start + len(block)  # pragma: no cover - only called on a block that does go deeper


def _check_limits(source: str, max_bytes: int, max_statements: int, max_nesting: int) -> None:
    """Refuse a program over a size limit, in time linear in its length (C-speed scans, no parsing).

    Raises:
        QasmError: more than ``max_bytes`` bytes (UTF-8), more than ``max_statements`` statements (``;`` outside
            comments and strings, an upper bound), or brackets ``()[]{}`` nested deeper than ``max_nesting``.
    """
    size, exact = len(source), source.isascii()  # characters: a lower bound on the UTF-8 size; isascii() is O(1)
    if size <= max_bytes and not exact:
        size, exact = len(source.encode("utf-8", "surrogatepass")), True
    if size > max_bytes:
        measured = f"{'' if exact else 'at least '}{size:,} bytes"
        raise _too_much("the program is too large", measured, "max_bytes", max_bytes)
    view = _COMMENT_OR_STRING.sub(_blank, source)
    statements = view.count(";")
    if statements > max_statements:
        measured = f"{statements:,} statements (';' outside comments and strings)"
        raise _too_much("the program has too many statements", measured, "max_statements", max_statements)
    data = view.encode("utf-8", "surrogatepass")
    depth = 0
    for start in range(0, len(data), _SCAN_BLOCK):  # block by block, so a deep program is refused at once
        block = data[start : start + _SCAN_BLOCK]
        steps = list(accumulate(map(_STEP.__getitem__, block.translate(None, _NOT_BRACKETS)), initial=depth))
        deepest = max(steps)
        if deepest > max_nesting:
            offset = _crossing(block, start, depth, max_nesting)
            line, col = _position(source, len(data[:offset].decode("utf-8", "surrogatepass")))
            bound = "" if start + _SCAN_BLOCK >= len(data) else "at least "
            measured = f"brackets ()[]{{}} nested {bound}{deepest:,} levels deep"
            raise _too_much("the program is nested too deeply", measured, "max_nesting", max_nesting, line, col)
        depth = steps[-1]


# -- parsing: the reference parser, statement by statement where that provably changes nothing -------------------

_LINE_RAW: Final = re.compile(r"#?pragma[^\r\n]*|@[^\r\n]*")  # pragmas and annotations run to the end of the line
_BOUNDARY: Final = re.compile(r"[;{}]")
_BLOCK_KEYWORDS: Final = (
    "OPENQASM|include|defcalgrammar|def|cal|defcal|gate|extern|box|if|else|for|while|switch|case|default|pragma"
)
_SIMPLE: Final = re.compile(  # hidden text, then one statement of plain characters ending at its only ';'
    r"(?:[ \t\r\n]++|//[^\r\n]*+|/\*.*?\*/)*+"
    rf"((?!(?:{_BLOCK_KEYWORDS})(?![A-Za-z0-9_]))[A-Za-z_](?:[A-Za-z0-9_ \t\r\n\[\](),.+\-*:=>$]++|/(?![/*]))*+;)",
    re.S,
)
_HIDDEN: Final = re.compile(r"(?:[ \t\r\n]++|//[^\r\n]*+|/\*.*?\*/)*+", re.S)
_FLOAT: Final = re.compile(  # a whole FloatLiteral token of plain digits (no underscores), nothing glued to it
    r"(?<![\w$.])(?:\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)(?![\w.])"
)
_DIGIT: Final = re.compile(r"\d")


@dataclass
class _Parsed:
    """The statements of a program, each with the offset in ``source`` of the piece it was parsed from."""

    source: str
    version: str | None = None
    version_line: int | None = None
    statements: list[tuple[Any, int]] = field(default_factory=list)
    repeated: set[int] = field(default_factory=set)  # ids of statements standing at more than one place

    def add(self, program: ast.Program, start: int, *, first: bool) -> _Parsed:
        """Append the statements of a piece (and the header, if the piece opens the program)."""
        if first and program.version is not None:
            self.version = program.version
            if program.span is not None:
                self.version_line = _locate(self.source, start, program.span.start_line, 0)[0]
        self.statements.extend((s, start) for s in program.statements)
        return self


def _pieces(source: str) -> list[tuple[int, int, bool]]:
    """Cut a program into pieces that parse alone: ``(start, end, simple)``, in order, covering every statement.

    A cut goes after a ``;`` outside comments, strings, pragma and annotation lines and braces, and only in front
    of a *simple* statement: plain characters only (no braces, quotes, comments, ``#``, ``@``), not starting with
    a block or mode keyword (``if``, ``gate``, ``cal``, ``pragma``…) and ending at its only ``;``. A simple piece is
    that one statement; the text between simple statements is one piece.
    """
    view = _COMMENT_OR_STRING.sub(_blank, source) if "/" in source or "'" in source or '"' in source else source
    view = _LINE_RAW.sub(_blank, view) if "@" in view or "pragma" in view else view
    pieces: list[tuple[int, int, bool]] = []
    depth, start, pending = 0, 0, -1  # pending: start of the piece of non-simple statements being collected
    for match in _BOUNDARY.finditer(view):
        char = match[0]
        if char != ";":
            depth += 1 if char == "{" else -1
            continue
        if depth:
            continue
        end = match.end()
        simple = _SIMPLE.fullmatch(source, start, end)
        if simple is None:
            pending = start if pending < 0 else pending
        else:
            if pending >= 0:
                pieces.append((pending, start, False))
                pending = -1
            pieces.append((simple.start(1), end, True))
        start = end
    if pending < 0 and not _HIDDEN.fullmatch(source, start):
        pending = start
    if pending >= 0:
        pieces.append((pending, len(source), False))
    return pieces


@functools.cache
def _antlr() -> tuple[Any, Any, Any, Any, Any, Any, int] | None:
    """openqasm3's ANTLR classes (input, token stream, lexer, parser, AST builder, bail strategy) and the ``;``
    token type, if found."""
    try:
        parser_module: Any = importlib.import_module("openqasm3.parser")
        antlr4: Any = importlib.import_module("antlr4")
        bail: Any = importlib.import_module("antlr4.error.ErrorStrategy").BailErrorStrategy
        return (
            antlr4.InputStream,
            antlr4.CommonTokenStream,
            parser_module.qasm3Lexer,
            parser_module.qasm3Parser,
            parser_module.QASMNodeVisitor,
            bail,
            int(parser_module.qasm3Lexer.SEMICOLON),
        )
    except (ImportError, AttributeError):  # pragma: no cover - openqasm3 internals moved
        return None


def _start(antlr: tuple[Any, ...], text: str) -> tuple[Any, Callable[[], ast.Program]]:
    """Token stream and a thunk running the parser and AST builder on ``text`` (errors raise, never print)."""
    input_stream, token_stream, lexer_class, parser_class, visitor_class, bail, _ = antlr
    lexer = lexer_class(input_stream(text))
    tokens = token_stream(lexer)
    parser = parser_class(tokens)
    for recognizer in (lexer, parser):
        recognizer.removeErrorListeners()
        recognizer.addErrorListener(_RaisingListener())
    parser._errHandler = bail()
    return tokens, lambda: visitor_class().visitProgram(parser.program())


def _parse_piece(antlr: tuple[Any, ...], text: str, last: bool) -> ast.Program | None:
    """Parse one piece quietly: its program, or None if it fails or (unless last) does not end on its ``;``."""
    tokens, run = _start(antlr, text)
    try:
        program = run()
    except Exception:  # any failure sends the caller to the exact path
        return None
    if not last:
        end = tokens.tokens[-2] if len(tokens.tokens) > 1 else None  # [-1] is EOF
        if end is None or end.type != antlr[-1] or end.stop != len(text) - 1:
            return None  # the piece ends inside a pragma, annotation or comment: the cut was no boundary
    return program


def _parse_exact(source: str, start: int = 0) -> ast.Program:
    """Parse ``source[start:]`` in one go, with the parser's own error messages.

    Raises:
        QasmError: any lexer, parser or AST-builder failure, with line and column when ANTLR knows them.
    """
    antlr = _antlr()
    if antlr is None:  # pragma: no cover - openqasm3 internals moved: fall back to the public API
        import openqasm3

        program: ast.Program = openqasm3.parse(source[start:])
        return program
    tokens, run = _start(antlr, source[start:] if start else source)
    try:
        return run()
    except _SyntaxError as exc:
        line, col = _locate(source, start, exc.line, exc.column)
        raise QasmError(f"syntax error: {exc.message}", line=line, column=col) from None
    except RecursionError:
        raise QasmError("syntax error: the program is nested too deeply") from None
    except Exception as exc:  # ANTLR and the AST visitor raise many kinds of exception
        if not any(t.channel == 0 and t.type != -1 for t in tokens.tokens):  # the parser fails on empty programs
            raise QasmError("the program is empty") from None
        cause = exc.args[0] if exc.args else None
        token = getattr(cause, "offendingToken", None)
        if token is not None and getattr(token, "line", None) is not None:
            where = "end of input" if token.type == -1 else repr(token.text)
            line, col = _locate(source, start, token.line, token.column)
            raise QasmError(f"syntax error at {where}", line=line, column=col) from None
        match = re.match(r"L(\d+):C(\d+): (.*)", str(exc), re.S)
        if match:
            line, col = _locate(source, start, int(match[1]), int(match[2]))
            raise QasmError(match[3], line=line, column=col) from None
        raise QasmError(f"cannot parse the program ({type(exc).__name__}: {exc})") from None


def _locate(source: str, start: int, line: int, column: int) -> tuple[int, int]:
    """Program (line, 1-based column) of the (line, 0-based column) ANTLR gives in a piece parsed from ``start``."""
    first_line, first_column = _position(source, start)
    return first_line + line - 1, (first_column - 1 if line == 1 else 0) + column + 1


def _parse(source: str) -> _Parsed:
    """Parse with the ``openqasm3`` reference parser, piece by piece (see :func:`_pieces`), each distinct simple
    statement once.

    A cut is a statement boundary of the whole program whenever the piece before it parses alone and ends on its
    ``;`` token: the lexer is in its default mode there, and no statement goes on after a ``;`` except
    ``if … ; else`` (whose ``else`` piece cannot parse alone). So when every piece parses, the program is the
    concatenation of their statements. When a piece fails, the program from that piece on is parsed in one go,
    which gives the parser's own result or error (ANTLR stops at the first error, so that costs time up to the
    error only).

    Raises:
        QasmError: any lexer, parser or AST-builder failure, with line and column when ANTLR knows them.
    """
    parsed = _Parsed(source)
    antlr = _antlr()
    if antlr is None:  # pragma: no cover - openqasm3 internals moved
        return parsed.add(_parse_exact(source), 0, first=True)
    known: dict[str, list[Any]] = {}  # simple statement text -> its statements, shared by every occurrence
    shapes: dict[tuple[str, bool], _Shape | None] = {}  # its text with float digits as 1 -> parsed once
    append, repeat = parsed.statements.append, parsed.repeated.add
    for index, (start, end, simple) in enumerate(_pieces(source) or [(0, len(source), False)]):
        text = source[start:end]
        statements = known.get(text) if simple else None
        if statements is None and simple:
            statements = _by_shape(antlr, text, end == len(source), shapes)
            if statements is not None:
                known[text] = statements
                parsed.statements.extend((stmt, start) for stmt in statements)
                continue
        if statements is not None:
            for stmt in statements:
                append((stmt, start))
                repeat(id(stmt))
            continue
        program = _parse_piece(antlr, text, last=end == len(source))
        if program is None or (program.version is not None and index > 0):
            hidden = _HIDDEN.match(source, start)  # always matches, maybe nothing
            if index > 0 and hidden is not None and source.startswith("OPENQASM", hidden.end()):
                return _Parsed(source).add(_parse_exact(source), 0, first=True)  # a header may only open the whole
            return parsed.add(_parse_exact(source, start), start, first=index == 0)
        if simple:
            known[text] = program.statements
        parsed.add(program, start, first=index == 0)
    return parsed


_Path = tuple[str | int, ...]  # attribute names and list indices from a statement down to one of its nodes


@dataclass(frozen=True)
class _Shape:
    """A simple statement parsed once for every text that differs from it only in the digits of float literals:
    its statement and the path to each FloatLiteral, in the order the literals stand in the text."""

    statement: Any
    paths: tuple[_Path, ...]


def _by_shape(antlr: tuple[Any, ...], text: str, last: bool, shapes: dict[tuple[str, bool], _Shape | None]) -> (
    list[Any] | None
):  # fmt: skip
    """The statement of a simple piece whose float literals alone make it new (``rz(0.4812) q[3];`` after
    ``rz(1.9921) q[3];``), or None when there is no such shape and the piece is parsed as it is.

    Replacing each digit of a float literal by ``1`` keeps every token's kind, length and position, so the statement
    of the replaced text is the statement of the original with other literal values and the same spans; the values
    are put back from the original text exactly as the parser reads them (``float`` of the token). A shape whose
    FloatLiteral nodes do not stand exactly where the literals are is not used.
    """
    literals = list(_FLOAT.finditer(text))
    if not literals or "\n" in text:
        return None
    key = (_FLOAT.sub(lambda m: _DIGIT.sub("1", m[0]), text), last)
    if key not in shapes:
        shapes[key] = _shape(antlr, key[0], last, [m.start() for m in literals])
    shape = shapes[key]
    if shape is None:
        return None
    statement = shape.statement
    for path, match in zip(shape.paths, literals, strict=True):
        statement = _with_value(statement, path, float(match[0]))
    return [statement]


def _shape(antlr: tuple[Any, ...], text: str, last: bool, offsets: list[int]) -> _Shape | None:
    """Parse a shape text; its one statement and the paths to the FloatLiterals at ``offsets`` (None if it does not
    parse alone, has other than one statement, or its FloatLiterals are not exactly at ``offsets``)."""
    from openqasm3 import ast

    program = _parse_piece(antlr, text, last)
    if program is None or program.version is not None or len(program.statements) != 1:
        return None
    statement = program.statements[0]
    found: list[tuple[int, _Path]] = []

    def walk(node: Any, path: _Path) -> None:
        if isinstance(node, ast.FloatLiteral):
            span = node.span
            found.append((span.start_column if span is not None and span.start_line == 1 else -1, path))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, (*path, i))
        elif isinstance(node, ast.QASMNode):
            for name, value in vars(node).items():
                if name != "span":
                    walk(value, (*path, name))

    walk(statement, ())
    found.sort(key=lambda item: item[0])
    if [offset for offset, _ in found] != offsets:
        return None
    return _Shape(statement, tuple(path for _, path in found))


def _with_value(node: Any, path: _Path, value: float) -> Any:
    """A copy of ``node`` whose FloatLiteral at ``path`` has ``value`` (only the nodes on the path are copied)."""
    if not path:
        literal = copy.copy(node)
        literal.value = value
        return literal
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        items = list(node)
        items[step] = _with_value(node[step], rest, value)
        return items
    out = copy.copy(node)
    setattr(out, step, _with_value(getattr(node, step), rest, value))
    return out


def _invert(ops: list[_Op]) -> list[_Op] | None:
    """Inverse of a primitive sequence, or None if it contains an operation without an inverse here."""
    out: list[_Op] = []
    for name, args, locus in reversed(ops):
        if name == "move":
            return None
        out.append((name, (-args[0],) if name == "rz" else (-args[0], args[1]) if name == "prx" else args, locus))
    return out


class _Translator:
    """Walks the statements of one program and collects native instructions."""

    def __init__(self, calibration: Calibration | None, decompose: bool, *, virtual: bool = False) -> None:
        self.cal = calibration
        self.decompose = decompose
        self.virtual = virtual  # declared qubits keep their program names (``q[0]``) for the router to place
        self.origins: list[tuple[int, int, str]] = []  # per instruction of ``out``: line, column, statement text
        self.origin: tuple[int, int, str] = (0, 0, "")  # the top-level statement being translated
        # qubit -> the run of single-qubit steps not yet played: pulses (θ, φ) and Z rotations λ, and its origin
        self.pending: dict[str, list[tuple[float, float] | float]] = {}
        self.pending_origin: dict[str, tuple[int, int, str]] = {}
        self.where: Any = None  # the statement being translated, for error locations
        self.source = ""  # the program text
        self.start = 0  # offset in ``source`` of the piece ``where`` was parsed from (its spans are relative)
        self.qregs: dict[str, list[str]] = {}
        self.n_declared = 0
        self.physical: dict[str, None] = {}  # physical components used, in order
        self.cregs: dict[str, int] = {}
        self.consts: dict[str, float] = {}
        self.gate_defs: dict[str, tuple[ast.QuantumGateDefinition, int]] = {}  # name -> (definition, its start)
        self.repeated: set[int] = set()  # ids of the statements that stand at several places in the program
        self.applied: dict[int, list[_Op]] = {}  # id of such a gate statement -> its operations
        self.expanding: set[str] = set()
        self.expanded: dict[tuple[str, tuple[float, ...], tuple[str, ...]], list[_Op]] = {}  # never mutated
        self.work = 0
        self.frames = Frames()
        self._view: DeviceView | None = None  # built on the first CZ that needs a resonator
        self.out: list[Instruction] = []
        self.keys: set[str] = set()
        self.writes: dict[tuple[str, int], int] = {}  # bit -> number of measurements into it
        self.last_write: dict[tuple[str, int], int] = {}  # bit -> index in self.out of its last measurement
        self.clbits: dict[str, list[str | int]] = {}
        self.bare = 0

    # -- errors, names and operands -------------------------------------------------------------------------

    def fail(self, reason: str, node: Any = None) -> QasmError:
        span = getattr(node if node is not None and type(node).__name__ != "Identifier" else self.where, "span", None)
        if span is None:
            return QasmError(reason)
        line, column = _locate(self.source, self.start, span.start_line, span.start_column)
        return QasmError(reason, line=line, column=column)

    def spend(self, work: int, length: int = 0) -> None:
        """Account for translation work and list lengths, so no program can make the translator run away."""
        self.work += work
        if self.work > _MAX_WORK or length > _MAX_OPS:
            raise self.fail(
                f"the program is too large: more than {_MAX_OPS} operations or {_MAX_WORK} gate applications"
            )

    def declare(self, name: str) -> None:
        known = (self.qregs, self.cregs, self.consts, _CONSTANTS)
        if any(name in names for names in known):
            raise self.fail(f"{name!r} is already declared")

    def eval(self, expr: Any, env: dict[str, float] | None = None) -> float:
        """Evaluate a constant expression to a finite float.

        Raises:
            QasmError: the expression is not a constant this translator can evaluate.
        """
        from openqasm3 import ast

        try:
            if isinstance(expr, ast.IntegerLiteral | ast.FloatLiteral):
                value = float(expr.value)
            elif isinstance(expr, ast.Identifier):
                found = (env or {}).get(expr.name, self.consts.get(expr.name, _CONSTANTS.get(expr.name)))
                if found is None:
                    raise self.fail(f"unknown identifier {expr.name!r} in expression")
                value = found
            elif isinstance(expr, ast.UnaryExpression) and expr.op.name == "-":
                value = -self.eval(expr.expression, env)
            elif isinstance(expr, ast.BinaryExpression) and expr.op.name in _BINARY:
                value = _BINARY[expr.op.name](self.eval(expr.lhs, env), self.eval(expr.rhs, env))
            elif isinstance(expr, ast.FunctionCall) and expr.name.name in _FUNCTIONS and len(expr.arguments) == 1:
                value = _FUNCTIONS[expr.name.name](self.eval(expr.arguments[0], env))
            else:
                raise self.fail(f"unsupported expression: {type(expr).__name__}", expr)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise self.fail(f"cannot evaluate expression: {exc}", expr) from None
        if not math.isfinite(value):
            raise self.fail("expression does not evaluate to a finite number", expr)
        return value

    def eval_int(self, expr: Any, what: str) -> int:
        value = self.eval(expr)
        if not value.is_integer():
            raise self.fail(f"{what} must be an integer, got {value!r}", expr)
        return int(value)

    def indices(self, index: Any, size: int, name: str) -> list[int]:
        """Resolve one index element (an expression, a range or a set) of a register of ``size`` elements."""
        from openqasm3 import ast

        if isinstance(index, ast.DiscreteSet):
            raw = [self.eval_int(v, "index") for v in index.values]
        elif len(index) != 1:
            raise self.fail(f"{name}: multi-dimensional indexing is not supported")
        elif isinstance(index[0], ast.RangeDefinition):
            rng = index[0]
            step = 1 if rng.step is None else self.eval_int(rng.step, "range step")
            start = (0 if step > 0 else size - 1) if rng.start is None else self.eval_int(rng.start, "range start")
            end = (size - 1 if step > 0 else 0) if rng.end is None else self.eval_int(rng.end, "range end")
            if step == 0 or abs(end - start) // abs(step) > size:
                raise self.fail(f"{name}: range {start}:{step}:{end} does not fit a register of size {size}")
            raw = list(range(start, end + (1 if step > 0 else -1), step))
        else:
            raw = [self.eval_int(index[0], "index")]
        for i in raw:
            if not -size <= i < size:
                raise self.fail(f"index {i} is out of range for {name!r} of size {size}")
        return [i % size for i in raw]

    def physical_qubit(self, name: str) -> str:
        if self.qregs:
            raise self.fail(f"physical qubit {name} cannot be mixed with declared qubit registers")
        if self.virtual:
            raise self.fail(f"physical qubit {name}: a program on physical qubits is not routed (route=True needs "
                            "declared qubit registers)")  # fmt: skip
        digits = name[1:]
        n = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 10 else -1
        components = self.cal.components if self.cal is not None else None
        if n < 0 or (components is not None and n >= len(components)):
            raise self.fail(f"physical qubit {name} does not exist on {self.cal.device if self.cal else 'the device'}")
        component = components[n] if components is not None else f"QB{n + 1}"
        self.physical.setdefault(component, None)
        return component

    def qubits(self, operand: Any, qmap: dict[str, str] | None = None) -> list[str]:
        """Components named by a qubit operand (``q``, ``q[i]``, ``q[a:b]``, ``$n`` or a gate's qubit argument)."""
        from openqasm3 import ast

        name = operand.name if isinstance(operand, ast.Identifier) else operand.name.name
        if qmap is not None:
            if name not in qmap or not isinstance(operand, ast.Identifier):
                raise self.fail(f"gate body uses {name!r}, which is not a qubit argument of the gate")
            return [qmap[name]]
        if name.startswith("$"):
            if not isinstance(operand, ast.Identifier):
                raise self.fail(f"physical qubit {name} cannot be indexed")
            return [self.physical_qubit(name)]
        register = self.qregs.get(name)
        if register is None:
            raise self.fail(f"unknown qubit register {name!r}")
        if isinstance(operand, ast.Identifier):
            return list(register)
        if len(operand.indices) != 1:
            raise self.fail(f"{name}: multi-dimensional indexing is not supported")
        return [register[i] for i in self.indices(operand.indices[0], len(register), name)]

    def bits(self, operand: Any) -> list[tuple[str, int]]:
        from openqasm3 import ast

        name = operand.name if isinstance(operand, ast.Identifier) else operand.name.name
        size = self.cregs.get(name)
        if size is None:
            raise self.fail(f"unknown bit register {name!r}")
        if isinstance(operand, ast.Identifier):
            return [(name, i) for i in range(size)]
        if len(operand.indices) != 1:
            raise self.fail(f"{name}: multi-dimensional indexing is not supported")
        return [(name, i) for i in self.indices(operand.indices[0], size, name)]

    def all_qubits(self) -> list[str]:
        return [q for register in self.qregs.values() for q in register] or list(self.physical)

    # -- gates ----------------------------------------------------------------------------------------------

    def gate(
        self, node: ast.QuantumGate, env: dict[str, float] | None = None, qmap: dict[str, str] | None = None
    ) -> list[_Op]:
        """Primitive operations (rz, prx, cz, move) of one gate statement, broadcast over registers.

        Raises:
            QasmError: unknown or non-native gate, wrong arity, repeated qubits or an unsupported modifier.
        """
        name = node.name.name
        for modifier in node.modifiers:
            kind = modifier.modifier.name
            if kind not in ("inv", "pow") or (modifier.argument is None) != (kind == "inv"):
                raise self.fail(f"unsupported: gate modifier {kind} @ on {name!r} (supported: inv @, pow(k) @)")
        self.spend(1)
        params = tuple(self.eval(arg, env) for arg in node.arguments)
        operands = [self.qubits(q, qmap) for q in node.qubits]
        width = max((len(o) for o in operands), default=1)
        if any(len(o) not in (1, width) for o in operands):
            raise self.fail(f"{name}: registers of different sizes cannot be broadcast together")
        ops: list[_Op] = []
        for i in range(width):
            locus = tuple(o[0] if len(o) == 1 else o[i] for o in operands)
            if len(set(locus)) != len(locus):
                raise self.fail(f"{name}: qubit repeated in {locus}")
            ops.extend(self.expand(name, params, locus))
            self.spend(0, len(ops))
        for modifier in reversed(node.modifiers):  # the modifier nearest the gate applies first
            k = -1.0 if modifier.argument is None else self.eval(modifier.argument, env)
            if not k.is_integer() or abs(k) * len(ops) > _MAX_OPS:
                raise self.fail(f"unsupported: pow({k}) @ on {name!r}; the exponent must be a small integer")
            inverse = _invert(ops) if k < 0 else ops
            if inverse is None:
                raise self.fail(f"{name}: move has no inverse here")
            ops = inverse * abs(int(k))
        self.spend(len(ops))
        return ops

    def expand(self, name: str, params: tuple[float, ...], locus: tuple[str, ...]) -> list[_Op]:
        """Primitive operations of one gate application on one locus: native, standard or user-defined."""
        if name == "move":
            if params or len(locus) != 2:
                raise self.fail("move takes no parameters and two operands: qubit, resonator")
            return [("move", (), locus)]
        if name in _STANDARD and (name in _NATIVE or self.decompose):
            n_params, n_qubits, rule = _STANDARD[name]
            if len(params) != n_params or len(locus) != n_qubits:
                raise self.fail(f"gate {name} takes {n_params} parameter(s) and {n_qubits} qubit(s)")
            out: list[_Op] = []
            for op, args, local in rule(*params):
                operands = tuple(locus[i] for i in local)
                out.extend([(op, args, operands)] if op in ("rz", "prx", "cz") else self.expand(op, args, operands))
            return out
        definition = self.gate_defs.get(name)
        if definition is None:
            if name in _STANDARD:
                raise self.fail(f"gate {name!r} is not native (prx, r, cz, move) and decompose=False")
            raise self.fail(f"unknown gate {name!r}")
        return self.expand_definition(*definition, params, locus)

    def expand_definition(
        self, gate: ast.QuantumGateDefinition, start: int, params: tuple[float, ...], locus: tuple[str, ...]
    ) -> list[_Op]:
        """Inline a user ``gate`` definition (memoised per parameters and locus; recursion is an error)."""
        from openqasm3 import ast

        name = gate.name.name
        if len(params) != len(gate.arguments) or len(locus) != len(gate.qubits):
            raise self.fail(f"gate {name} takes {len(gate.arguments)} parameter(s) and {len(gate.qubits)} qubit(s)")
        if name in self.expanding:
            raise self.fail(f"gate {name!r} is defined in terms of itself")
        cached = self.expanded.get((name, params, locus))
        if cached is not None:
            return cached
        env = {a.name: v for a, v in zip(gate.arguments, params, strict=True)}
        qmap = {q.name: c for q, c in zip(gate.qubits, locus, strict=True)}
        caller, out = (self.where, self.start), []
        self.expanding.add(name)
        self.start = start
        try:
            for stmt in gate.body:
                self.where = stmt
                if isinstance(stmt, ast.QuantumGate):
                    out.extend(self.gate(stmt, env, qmap))
                elif isinstance(stmt, ast.QuantumPhase) and not stmt.modifiers:
                    self.eval(stmt.argument, env)  # a global phase: checked, then dropped
                else:
                    raise self.fail(f"unsupported in gate {name!r}: {type(stmt).__name__}")
                self.spend(0, len(out))
        finally:
            self.expanding.discard(name)
            self.where, self.start = caller
        self.expanded[name, params, locus] = out
        return out

    def put(self, *instructions: Instruction, origin: tuple[int, int, str] | None = None) -> None:
        """Append instructions to the circuit, each remembered with the statement it came from."""
        self.out.extend(instructions)
        self.origins.extend([origin or self.origin] * len(instructions))

    def emit(self, ops: list[_Op]) -> None:
        """Emit primitive operations: single-qubit steps wait in their qubit's run (played by :meth:`settle`), CZ is
        routed through a resonator on stars."""
        pending = self.pending
        for name, args, locus in ops:
            if name in ("rz", "prx"):
                qubit = locus[0]
                run = pending.get(qubit)
                if run is None:
                    run = pending[qubit] = []
                    self.pending_origin[qubit] = self.origin
                run.append(args[0] if name == "rz" else (args[0], args[1]))
            elif name == "move":
                q, r = locus
                self.settle(locus)
                self.frames.move(q, r)
                self.put(move(q, r))
            else:
                self.settle(locus)
                self.emit_cz(*locus)

    def settle(self, qubits: Sequence[str]) -> None:
        """Play the pending runs of ``qubits``: a run with at most one pulse as written (its Z rotations into the
        frame), a longer one as the single ``RZ(a)·PRX(θ, φ)`` it equals (:func:`qaas_core.fuse`), so a chain of
        single-qubit gates costs one pulse here as in every other front end."""
        for qubit in qubits:
            run = self.pending.pop(qubit, None)
            if run is None:
                continue
            origin = self.pending_origin.pop(qubit)
            if sum(1 for item in run if isinstance(item, tuple)) <= 1:
                for item in run:
                    if isinstance(item, tuple):
                        self.put(prx(qubit, item[0], self.frames.phase(qubit, item[1])), origin=origin)
                    else:
                        self.frames.rotate(qubit, item)
                continue
            from qaas_core._fuse import fuse

            theta, phase, turn = fuse(run)
            if theta is not None:
                self.put(prx(qubit, theta, self.frames.phase(qubit, phase)), origin=origin)
            self.frames.rotate(qubit, turn)

    def emit_cz(self, a: str, b: str) -> None:
        """CZ, or on a star device the device view's MOVE sandwich between two qubits without a direct CZ."""
        cal = self.cal
        if self.virtual or not (self.decompose and cal is not None and cal.computational_resonators):
            self.put(cz(a, b))  # the router plays it on the device (virtual qubits)
            return
        if self._view is None:
            self._view = DeviceView(cal)
        if a not in cal.qubits or b not in cal.qubits or self._view.is_direct(a, b):
            self.put(cz(a, b))
            return
        try:
            self.put(*self._view.cz(a, b))
        except CalibrationError:
            raise self.fail(
                f"cz {a}, {b}: no computational resonator connects these qubits on {cal.device or 'the device'}"
            ) from None

    # -- statements -----------------------------------------------------------------------------------------

    def run_program(self, parsed: _Parsed) -> None:
        """Translate the top-level statements, each located by the start of the piece it was parsed from."""
        self.source, self.repeated = parsed.source, parsed.repeated
        lines = parsed.source.splitlines()
        for stmt, start in parsed.statements:
            self.start = start
            span = getattr(stmt, "span", None)
            if span is not None:
                line, column = _locate(self.source, start, span.start_line, span.start_column)
                self.origin = (line, column, (lines[line - 1].strip() if 0 < line <= len(lines) else "")[:80])
            self.run((stmt,))
        self.settle(list(self.pending))

    def run(self, statements: Sequence[Any]) -> None:
        """Translate statements in order, dispatching on the AST class name to ``on_<ClassName>``."""
        for stmt in statements:
            self.where = stmt
            kind = type(stmt).__name__
            handler: Callable[[Any], None] | None = getattr(self, f"on_{kind}", None)
            if handler is None:
                raise self.fail(f"unsupported: {_UNSUPPORTED.get(kind, kind)}")
            handler(stmt)
            self.spend(0, len(self.out))

    def on_Pragma(self, node: ast.Pragma) -> None:
        """Pragmas are ignored."""

    def on_CompoundStatement(self, node: ast.CompoundStatement) -> None:
        self.run(node.statements)

    def on_Include(self, node: ast.Include) -> None:
        if node.filename not in ("stdgates.inc", "qelib1.inc"):
            raise self.fail(f'unsupported: include "{node.filename}" (only stdgates.inc, which is built in)')

    def on_QubitDeclaration(self, node: ast.QubitDeclaration) -> None:
        name = node.qubit.name
        self.declare(name)
        if self.physical:
            raise self.fail(f"qubit register {name!r} cannot be mixed with physical qubits ($n)")
        size = 1 if node.size is None else self.eval_int(node.size, "register size")
        if size < 1:
            raise self.fail(f"qubit register {name!r} must have at least one qubit, got {size}")
        available = len(self.cal.qubits) if self.cal is not None else _MAX_QUBITS_WITHOUT_DEVICE
        if self.n_declared + size > available:
            where = f"{self.cal.device or 'the device'} has {available}" if self.cal else f"at most {available} allowed"
            raise self.fail(f"qubit register {name}[{size}] needs {self.n_declared + size} qubits; {where}")
        first = self.n_declared
        if self.virtual:
            self.qregs[name] = [f"{name}[{i}]" for i in range(size)]
        else:
            self.qregs[name] = [self.cal.qubits[first + i] if self.cal else f"QB{first + i + 1}" for i in range(size)]
        self.n_declared += size

    def on_ClassicalDeclaration(self, node: ast.ClassicalDeclaration | ast.ConstantDeclaration) -> None:
        from openqasm3 import ast

        name, init = node.identifier.name, node.init_expression
        self.declare(name)
        if isinstance(node.type, ast.BitType):
            size = 1 if node.type.size is None else self.eval_int(node.type.size, "register size")
            if not 1 <= size <= 1 << 20:
                raise self.fail(f"bit register size must be between 1 and {1 << 20}")
            if init is not None and not isinstance(init, ast.QuantumMeasurement):
                raise self.fail("unsupported: bit registers with an initial value")
            self.cregs[name] = size
            if isinstance(init, ast.QuantumMeasurement):
                self.measure(self.qubits(init.qubit), self.bits(node.identifier))
        elif isinstance(node.type, ast.FloatType | ast.AngleType | ast.IntType | ast.UintType) and init is not None:
            if isinstance(init, ast.QuantumMeasurement):
                raise self.fail("unsupported: measurement into a numeric variable")
            self.consts[name] = self.eval(init)
        else:
            raise self.fail(f"unsupported: declaration of {name!r} (only bit registers and numeric constants)")

    on_ConstantDeclaration = on_ClassicalDeclaration

    def on_IODeclaration(self, node: ast.IODeclaration) -> None:
        name = node.identifier.name
        if node.io_identifier.name == "input":
            raise self.fail(f"input parameter {name!r} is unbound; bind every input before translating")
        raise self.fail(f"unsupported: output declaration {name!r}")

    def on_QuantumGateDefinition(self, node: ast.QuantumGateDefinition) -> None:
        if node.name.name in self.gate_defs:
            raise self.fail(f"gate {node.name.name!r} is already defined")
        if node.name.name not in _STANDARD:  # built-in gates win over (equivalent) library definitions
            self.gate_defs[node.name.name] = (node, self.start)

    def on_QuantumGate(self, node: ast.QuantumGate) -> None:
        """Emit a gate statement. A statement whose text recurs is parsed once (see :func:`_parse`) and its
        operations are worked out once: a statement that translated once translates alike later, since names are
        never redeclared or redefined. The work a repeat would cost is still counted."""
        ops = self.applied.get(id(node)) if id(node) in self.repeated else None
        if ops is None:
            ops = self.gate(node)
            if id(node) in self.repeated:
                self.applied[id(node)] = ops
        else:
            self.spend(1 + len(ops))
        self.emit(ops)

    def on_QuantumPhase(self, node: ast.QuantumPhase) -> None:
        if node.modifiers:
            raise self.fail("unsupported: modifiers on gphase")
        self.eval(node.argument)  # a global phase has no observable effect

    def on_QuantumMeasurementStatement(self, node: ast.QuantumMeasurementStatement) -> None:
        qubits = self.qubits(node.measure.qubit)
        self.measure(qubits, None if node.target is None else self.bits(node.target))

    def measure(self, qubits: list[str], bits: list[tuple[str, int]] | None) -> None:
        """One ``measure`` per qubit, keyed ``c_i`` (then ``c_i_1``, …) or ``m_n`` without a target bit."""
        if bits is not None and len(bits) != len(qubits):
            raise self.fail(f"measure: {len(qubits)} qubit(s) into {len(bits)} bit(s)")
        for i, qubit in enumerate(qubits):
            self.settle((qubit,))
            if bits is None:
                key, self.bare = self.unique_key(f"m_{self.bare}"), self.bare + 1
            else:
                bit = bits[i]
                count = self.writes.get(bit, 0)
                self.writes[bit] = count + 1
                key = self.unique_key(f"{bit[0]}_{bit[1]}" + (f"_{count}" if count else ""))
                self.clbits[key] = [bit[0], bit[1]]
                self.last_write[bit] = len(self.out)
            self.put(measure(qubit, key=key))

    def unique_key(self, base: str) -> str:
        key, n = base, 0
        while key in self.keys:
            n += 1
            key = f"{base}_{n}"
        self.keys.add(key)
        return key

    def on_QuantumReset(self, node: ast.QuantumReset) -> None:
        qubits = list(dict.fromkeys(self.qubits(node.qubits)))
        self.settle(qubits)
        self.frames.reset(qubits)
        self.put(reset(*qubits))

    def on_QuantumBarrier(self, node: ast.QuantumBarrier) -> None:
        operands = [q for operand in node.qubits for q in self.qubits(operand)] if node.qubits else self.all_qubits()
        if operands:
            self.settle(operands)
            self.put(barrier(*dict.fromkeys(operands)))

    def on_DelayInstruction(self, node: ast.DelayInstruction) -> None:
        from openqasm3 import ast

        if not isinstance(node.duration, ast.DurationLiteral):
            raise self.fail("unsupported: delay duration must be a literal such as 100ns")
        unit = node.duration.unit.name
        if unit not in _PER_SECOND:
            raise self.fail(f"unsupported: delay in {unit} (device-defined); use ns, us, ms or s")
        seconds = node.duration.value / _PER_SECOND[unit]
        if not (math.isfinite(seconds) and seconds >= 0.0):
            raise self.fail(f"delay duration must be finite and non-negative, got {node.duration.value}{unit}")
        operands = [q for operand in node.qubits for q in self.qubits(operand)] if node.qubits else self.all_qubits()
        if operands:
            self.settle(operands)
            self.put(delay(seconds, *dict.fromkeys(operands)))

    def on_BranchingStatement(self, node: ast.BranchingStatement) -> None:
        """``if (bit) {A} else {B}`` on single-qubit gates -> ``B`` played, then ``A·B†`` as ``cc_prx`` pulses
        (:func:`qaas_core._fuse.conditioned`); a test for 0 swaps the branches. The feeding measurement gets a
        ``feedback_key``."""
        from qaas_core._fuse import conditioned, inverse

        bit, value = self.condition(node.condition)
        index = self.last_write.get(bit)
        if index is None:
            raise self.fail(f"condition reads {bit[0]}[{bit[1]}] before any measurement into it")
        then_runs = self.body(node.if_block, "if")
        else_runs = self.body(node.else_block, "else") if node.else_block else {}
        if value == 0:
            then_runs, else_runs = else_runs, then_runs
        involved = list(dict.fromkeys([*then_runs, *else_runs]))
        self.settle(involved)
        for qubit, run in else_runs.items():  # what happens on 0 happens always ...
            self.emit([("prx", item, (qubit,)) if isinstance(item, tuple) else ("rz", (item,), (qubit,))
                       for item in run])  # fmt: skip
        self.settle(involved)
        source = self.out[index]
        key = source.args["key"]
        feedback = {"feedback_qubit": source.locus[0], "feedback_key": f"fb_{key}"}
        pulses = []
        for qubit in involved:  # ... and on 1 it is undone and the 1-branch played
            run = [*inverse(else_runs.get(qubit, [])), *then_runs.get(qubit, [])]
            pulses.extend(conditioned(qubit, run, self.frames, **feedback))
        if pulses and "feedback_key" not in source.args:
            self.out[index] = measure(*source.locus, key=key, feedback_key=feedback["feedback_key"])
        self.put(*pulses)

    def body(self, statements: Sequence[Any], branch: str) -> dict[str, list[tuple[float, float] | float]]:
        """The single-qubit gates of a branch, per qubit in time order (pulses ``(θ, φ)`` and Z rotations ``λ``)."""
        from openqasm3 import ast

        runs: dict[str, list[tuple[float, float] | float]] = {}
        for stmt in statements:
            self.where = stmt
            if isinstance(stmt, ast.CompoundStatement):
                for qubit, run in self.body(stmt.statements, branch).items():
                    runs.setdefault(qubit, []).extend(run)
                continue
            if not isinstance(stmt, ast.QuantumGate):
                raise self.fail(f"unsupported in an {branch} branch: {type(stmt).__name__} (IQM feedback conditions "
                                "single-qubit gates only)")  # fmt: skip
            for name, args, locus in self.gate(stmt):
                if name not in ("prx", "rz"):
                    raise self.fail(f"unsupported in an {branch} branch: {stmt.name.name!r} acts on two qubits; IQM "
                                    "feedback conditions single-qubit gates only")  # fmt: skip
                runs.setdefault(locus[0], []).append((args[0], args[1]) if name == "prx" else args[0])
        return runs

    def condition(self, cond: Any) -> tuple[tuple[str, int], int]:
        """The bit a condition tests and the value that selects the ``if`` branch: ``c[i]``, ``!c[i]``,
        ``c[i] == 1`` / ``true`` / ``0`` / ``false``, ``!=``, and a one-bit register ``c``."""
        from openqasm3 import ast

        def literal(e: Any) -> int | None:
            ok = isinstance(e, ast.IntegerLiteral | ast.BooleanLiteral) and int(e.value) in (0, 1)
            return int(e.value) if ok else None

        if isinstance(cond, ast.UnaryExpression) and cond.op.name == "!":
            bit, value = self.condition(cond.expression)
            return bit, 1 - value
        if isinstance(cond, ast.BinaryExpression) and cond.op.name in ("==", "!="):
            for bit_expr, other in ((cond.lhs, cond.rhs), (cond.rhs, cond.lhs)):
                wanted = literal(other)
                if wanted is not None and literal(bit_expr) is None:
                    bit, value = self.condition(bit_expr)
                    match = value if wanted == 1 else 1 - value
                    return bit, match if cond.op.name == "==" else 1 - match
        elif isinstance(cond, ast.IndexExpression) and isinstance(cond.collection, ast.Identifier):
            name, size = cond.collection.name, self.cregs.get(cond.collection.name)
            found = [] if size is None else self.indices(cond.index, size, name)
            if len(found) == 1:
                return (name, found[0]), 1
        elif isinstance(cond, ast.Identifier) and self.cregs.get(cond.name) == 1:
            return (cond.name, 0), 1
        raise self.fail("unsupported condition: the QPU branches on one measured bit (c[i], !c[i], c[i] == 0 or 1); "
                        "a register compared with a number needs several bits", cond)  # fmt: skip


def circuit_from_qasm3(
    source: str,
    calibration: Calibration | None = None,
    *,
    name: str | None = None,
    decompose: bool = True,
    metadata: dict[str, Any] | None = None,
    max_bytes: int = _MAX_BYTES,
    max_statements: int = _MAX_STATEMENTS,
    max_nesting: int = _MAX_NESTING,
    route: bool | None = None,
) -> Circuit:
    """Translate an OpenQASM 3 program into a native IQM circuit.

    Args:
        source: The program text.
        calibration: The device to map onto. Declared qubits take ``calibration.qubits`` in order, ``$n`` takes
            ``calibration.components[n]``, and the result is checked with :func:`~qaas_core.validate_circuits`.
            Without it, qubit ``i`` is named ``QB{i+1}`` and only :func:`~qaas_core.check_circuit` runs.
        name: Circuit name (default ``"qasm3"``).
        decompose: Decompose standard gates into PRX and CZ (and route CZ through the resonator on star devices).
            With False, only ``prx``, ``r``, ``cz``, ``move`` and user gate definitions built from them are accepted.
        metadata: Extra circuit metadata; ``cregs`` and ``clbits`` (the classical-register mapping) are added.
        max_bytes: Largest program accepted, in bytes of UTF-8 (default 8 MiB).
        max_statements: Most statements accepted, counted as ``;`` outside comments and strings (default 500,000).
        max_nesting: Deepest nesting of brackets ``()``, ``[]`` and ``{}`` accepted (default 64).
            The three limits are checked on the text before it is parsed, in time linear in its length.
        route: How declared qubits (``qubit[n] q``) reach the device. None (default): in declaration order on
            ``calibration.qubits`` when every two-qubit gate then falls on coupled qubits, else placed by calibrated
            fidelity and routed with SWAPs (:mod:`qaas_core._route`); with ``decompose=False`` nothing is inserted, so
            nothing is routed. True: always placed and routed. False: always in declaration order (an uncoupled
            pair is a :class:`CircuitError`). A routed circuit's
            ``metadata["layout"]`` holds ``initial`` and ``final`` (program qubit such as ``q[0]`` -> physical
            qubit) and ``swaps``. Physical qubits (``$n``) are never moved.

    Returns:
        The circuit, in program order, with virtual Z rotations folded into the PRX phases.

    Raises:
        QasmError: the program is over a limit, cannot be parsed or uses an unsupported feature (with line and
            column).
        ConfigurationError: a limit is not a positive integer.
        CircuitError: the translated circuit breaks a rule of the transfer format or of the calibration, e.g. a
            CZ between physical qubits that are not coupled (with the program line it came from).
    """
    if not isinstance(source, str):
        raise QasmError(f"source must be a string, got {type(source).__name__}")
    limits = {"max_bytes": max_bytes, "max_statements": max_statements, "max_nesting": max_nesting}
    for option, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigurationError(f"{option} must be a positive integer, got {value!r}")
    _check_limits(source, max_bytes, max_statements, max_nesting)
    parsed = _parse(source)
    if parsed.version is not None and not parsed.version.startswith("3"):
        line = parsed.version_line
        raise QasmError(f"unsupported: OpenQASM {parsed.version}; change the header to OPENQASM 3.0", line=line)
    if route is True and calibration is None:
        raise ConfigurationError("route=True needs a calibration: the device to place the program on")
    translator = _translate(parsed, calibration, decompose, virtual=bool(route))
    meta = dict(metadata or {})
    meta["cregs"] = dict(translator.cregs)
    meta["clbits"] = translator.clbits
    name = name if name is not None else "qasm3"
    if translator.virtual:
        assert calibration is not None
        return _routed(translator, calibration, name, meta)
    circuit = Circuit(name=name, instructions=tuple(translator.out), metadata=meta)
    check_circuit(circuit)
    if calibration is not None:
        try:
            validate_circuits([circuit], calibration)
        except CircuitError as exc:
            if route is None and decompose and translator.qregs and not translator.physical:
                virtual = _translate(parsed, calibration, decompose, virtual=True)
                return _routed(virtual, calibration, name, meta)
            raise _at_source(exc, translator) from None
    return circuit


def _translate(parsed: _Parsed, calibration: Calibration | None, decompose: bool, *, virtual: bool) -> _Translator:
    translator = _Translator(calibration, decompose, virtual=virtual)
    try:
        translator.run_program(parsed)
    except QaasError:
        raise
    except RecursionError:
        raise translator.fail("the program is nested too deeply") from None
    except Exception as exc:  # contract: only QaasError escapes, whatever the input
        raise translator.fail(f"internal error translating the program: {type(exc).__name__}: {exc}") from exc
    if not translator.out:
        raise QasmError("the program contains no quantum operations")
    return translator


def _routed(translator: _Translator, calibration: Calibration, name: str, meta: dict[str, Any]) -> Circuit:
    """The program on its declared (virtual) qubits, placed and routed on the device (:mod:`qaas_core._route`)."""
    from qaas_core._route import route

    virtual = Circuit(name=name, instructions=tuple(translator.out), metadata=meta)
    try:
        routed = route(virtual, calibration)
    except CircuitError as exc:
        raise _at_source(exc, translator) from None
    meta = {**meta, "layout": {"initial": routed.initial, "final": routed.final, "swaps": routed.swaps}}
    circuit = Circuit(name=name, instructions=routed.circuit.instructions, metadata=meta)
    check_circuit(circuit)
    validate_circuits([circuit], calibration)
    return circuit


def _at_source(exc: CircuitError, translator: _Translator) -> CircuitError:
    """``exc`` located in the program text: the line and the statement the offending instruction came from."""
    if exc.index is None or not 0 <= exc.index < len(translator.origins):
        return exc
    line, column, text = translator.origins[exc.index]
    hint = ""
    if "not calibrated on locus" in exc.reason and translator.physical:
        hint = "; physical qubits ($n) are used as written: declare a qubit register to have the program routed"
    elif "not calibrated on locus" in exc.reason:
        hint = "; the qubits stay in declaration order (route=False, --no-route): allow routing to place them"
    return CircuitError(f"`{text}`: {exc.reason}{hint}", circuit=exc.circuit, index=exc.index, line=line,
                        column=column)  # fmt: skip
