"""The one error tree of qaas.

Every error qaas raises on purpose derives from :class:`QaasError`::

    QaasError
    ├── ConfigurationError            settings missing or contradictory (say which, and where to set them)
    ├── AuthenticationError           LEXIS / HEAppE / IQM refused the credentials
    ├── TransportError                the network failed before an answer arrived (retryable)
    │   └── DeadlineError             the time the caller gave an operation ran out (not retried)
    ├── RemoteAPIError                a service answered with an error status (status_code, detail)
    ├── ResponseError                 a service answered, but not in the shape its API promises
    ├── JobFailedError                a job reached a terminal state other than success (both ids, state)
    │   └── SubmissionUnconfirmedError  a submit got no clear answer: the job may exist (never resent blindly)
    ├── JobTimeoutError               a wait ran out of time; the job goes on (retryable)
    ├── BudgetExceededError           a batch would spend more QPU time than the allocation or budget has left
    └── ValidationError               bad input, found on the client before anything is sent
        ├── CircuitError              a circuit breaks a rule (circuit name and instruction index)
        ├── CalibrationError          a calibration document is malformed or inconsistent
        ├── PayloadError              a wire document (JSON) cannot be decoded into our models
        ├── JobNotFoundError          the ledger knows no job by that id
        └── QasmError                 an OpenQASM 3 program cannot be translated (line and column)

``retryable`` says whether repeating the same request may succeed. Errors never carry secrets.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "CalibrationError",
    "CircuitError",
    "ConfigurationError",
    "DeadlineError",
    "JobFailedError",
    "JobTimeoutError",
    "PayloadError",
    "QaasError",
    "QasmError",
    "RemoteAPIError",
    "ResponseError",
    "SubmissionUnconfirmedError",
    "TransportError",
    "ValidationError",
]


class QaasError(Exception):
    """Root of every error raised by qaas."""

    retryable: bool = False
    retry_after: float | None = None  # seconds the server asked us to wait, if it said

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BudgetExceededError(QaasError):
    """A batch would spend more QPU time than the resource's allocation or the configured budget has left; nothing
    was sent.

    Attributes:
        needed: QPU seconds the batch is estimated to take.
        left: QPU seconds left under the limit that refused it.
        limit: ``allocation`` or ``budget``.
    """

    def __init__(self, message: str, *, needed: float, left: float, limit: str) -> None:
        super().__init__(message)
        self.needed = needed
        self.left = left
        self.limit = limit


class ConfigurationError(QaasError):
    """Settings are missing or contradictory."""


class AuthenticationError(QaasError):
    """Credentials were refused or could not be obtained."""


class TransportError(QaasError):
    """The request did not get an answer (connection, timeout, protocol)."""

    retryable = True


class DeadlineError(TransportError):
    """The overall time the caller gave an operation (``timeout=``) ran out; repeating it would not help."""

    retryable = False


class RemoteAPIError(QaasError):
    """A remote service answered with an error status.

    Attributes:
        status_code: HTTP status of the answer.
        detail: The service's own explanation, if it gave one.
    """

    def __init__(self, message: str, *, status_code: int, detail: str | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        self.retryable = retryable


class ResponseError(QaasError):
    """A service answered with a body that does not follow its API (garbled, truncated, wrong types)."""

    retryable = True


class JobFailedError(QaasError):
    """A job ended in a state other than success.

    Attributes:
        heappe_job_id: The HEAppE job id, if known.
        iqm_job_id: The IQM job id, if known.
        state: The terminal state reported.
    """

    def __init__(
        self, message: str, *, heappe_job_id: int | None = None, iqm_job_id: str | None = None, state: str = "failed"
    ) -> None:
        super().__init__(message)
        self.heappe_job_id = heappe_job_id
        self.iqm_job_id = iqm_job_id
        self.state = state


class SubmissionUnconfirmedError(JobFailedError):
    """A submission got no clear answer from a service without idempotency keys: the job may or may not exist, and
    it is not sent again automatically (the message says which submission, when, and how to recognise it)."""


class JobTimeoutError(QaasError):
    """The job did not finish within the time given; it keeps running (wait again, or cancel it)."""

    retryable = True


class ValidationError(QaasError):
    """Input was rejected on the client, before anything was sent."""


class CircuitError(ValidationError):
    """A circuit breaks a rule of the transfer format or of the calibration.

    Attributes:
        circuit: Name of the offending circuit (or its index when it has no usable name).
        index: Index of the offending instruction, or ``None`` for circuit-level problems.
        line: Line of the program text the instruction came from (OpenQASM 3 input), if known.
        column: Its column, if known.
    """

    def __init__(
        self, reason: str, *, circuit: str, index: int | None = None, line: int | None = None,
        column: int | None = None,
    ) -> None:  # fmt: skip
        where = f"circuit {circuit!r}" if index is None else f"circuit {circuit!r}, instruction {index}"
        if line is not None:
            where += f" (line {line}, column {column or 1})"
        super().__init__(f"{where}: {reason}")
        self.reason = reason
        self.circuit = circuit
        self.index = index
        self.line = line
        self.column = column


class CalibrationError(ValidationError):
    """A calibration document is malformed or inconsistent."""


class PayloadError(ValidationError):
    """A wire document cannot be decoded into the qaas models."""


class QasmError(ValidationError):
    """An OpenQASM 3 program cannot be translated.

    Attributes:
        line: 1-based source line, if known.
        column: 1-based source column, if known.
    """

    def __init__(self, reason: str, *, line: int | None = None, column: int | None = None) -> None:
        where = "" if line is None else f"line {line}, column {column or 1}: "
        super().__init__(f"{where}{reason}")
        self.reason = reason
        self.line = line
        self.column = column
