"""Typed errors. Every failure a user can cause is an ``FStoreError`` subclass.

Each class carries the HTTP status the REST API answers with and the exit code the CLI
returns, so the mapping lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class FStoreError(Exception):
    """Base class of every error FStore raises on purpose."""

    http_status: int = 500
    exit_code: int = 1
    title: str = "FStore error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """The error as the API's problem body: its class, title, message and details."""
        return {"error": type(self).__name__, "title": self.title, "detail": self.message, **self.details}


class NotFoundError(FStoreError):
    http_status = 404
    exit_code = 3
    title = "Not found"


class AlreadyExistsError(FStoreError):
    http_status = 409
    exit_code = 4
    title = "Already exists"


class ValidationError(FStoreError):
    """Input that is malformed: a bad name, a bad option, a bad file."""

    http_status = 422
    exit_code = 2
    title = "Invalid input"


class InvalidValueError(ValidationError):
    """A feature value that does not fit the feature; ``row`` names it within its batch."""

    title = "Invalid value"


class TypeMismatchError(InvalidValueError):
    title = "Type mismatch"


class VersionError(ValidationError):
    title = "Invalid version"


class VersionConflictError(VersionError):
    """A version refused because of the versions already registered (not above the latest)."""

    http_status = 409
    exit_code = 5
    title = "Version conflict"


class DefinitionError(ValidationError):
    """A definition whose fields contradict each other or the stored feature (a dtype that
    is not the type's, a transformer for the other type, a feature depending on itself):
    each field is well formed, the combination is not."""

    title = "Inconsistent definition"


class PipelineError(DefinitionError):
    """A SQL feature pipeline that cannot run as defined: an unknown source, a missing key or
    event-time column, an output column that is no registered feature or of another type, a
    query Spark refuses. ``problem`` says which (``unknown_source``, ``missing_column``,
    ``not_a_feature``, ``type_mismatch``, ``query``, ``duplicate_rows``); nothing is stored."""

    title = "Invalid pipeline"


class DependencyCycleError(FStoreError):
    http_status = 409
    exit_code = 5
    title = "Dependency cycle"


class DependencyError(FStoreError):
    """An operation refused because other objects depend on the target."""

    http_status = 409
    exit_code = 5
    title = "Has dependents"


class TransformerError(FStoreError):
    http_status = 422
    exit_code = 2
    title = "Transformer error"


class NotFittedError(TransformerError):
    title = "Transformer not fitted"


class UnknownCategoryError(TransformerError):
    title = "Unknown category"


class ConfigurationError(FStoreError):
    exit_code = 6
    title = "Configuration error"


class StoreUnavailableError(FStoreError):
    """A backing store cannot be reached; ``store`` names it."""

    http_status = 503
    exit_code = 7
    title = "Store unavailable"


class StorageFullError(StoreUnavailableError):
    """A store refused a write because its disk (or memory, for Redis) is full. Nothing of the
    call was stored offline; free space and retry. An online store that is full is handled like
    an unreachable one: the offline write stands and the online copy is repaired later."""

    http_status = 507
    exit_code = 11
    title = "Storage full"


class ReadOnlyStoreError(StoreUnavailableError):
    """A store refused a write because it is read-only (a read-only mount, a read-only replica);
    reads still work."""

    http_status = 503
    exit_code = 12
    title = "Store is read-only"


class AuthenticationError(FStoreError):
    """No credentials, or credentials that are wrong, expired or forged."""

    http_status = 401
    exit_code = 8
    title = "Not authenticated"


class PermissionDeniedError(FStoreError):
    """Authenticated, but the role does not allow the operation; ``required`` names the role."""

    http_status = 403
    exit_code = 9
    title = "Permission denied"


class RequestTooLargeError(FStoreError):
    """A request body beyond the configured limit (``limit`` in bytes)."""

    http_status = 413
    exit_code = 2
    title = "Request too large"


class ConflictError(FStoreError):
    """A change refused because of the current state (e.g. it would leave no admin)."""

    http_status = 409
    exit_code = 5
    title = "Conflict"


class TooManyRequestsError(FStoreError):
    """Refused for now (too many failed logins); ``retry_after`` says in how many seconds."""

    http_status = 429
    exit_code = 10
    title = "Too many requests"


class InternalError(FStoreError):
    """A bug: an unexpected exception in FStore's own code (or a handler's), not the caller's
    fault. The CLI exits with 70 (``EX_SOFTWARE``) so an orchestrator tells it from a user
    error and restarts the process."""

    http_status = 500
    exit_code = 70
    title = "Internal error"


def invalid_input(errors: Sequence[Mapping[str, Any]]) -> ValidationError:
    """A ValidationError from pydantic's error list (a model given as a dict that does not fit):
    the first problem in the message, all of them in ``errors``."""
    listed = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]
    first = listed[0] if listed else {"loc": [], "msg": "invalid input"}
    msg = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(first["loc"])
    if listed and not any(e["loc"] for e in listed):  # only rules across fields failed
        return DefinitionError(msg, errors=listed)
    return ValidationError(f"{where}: {msg}" if where else msg, errors=listed)


class MissingExtraError(ConfigurationError):
    """An optional package is not installed; ``extra`` names the FStore extra that brings it
    (``pip install 'fstore[extra]'``)."""

    title = "Missing optional package"
