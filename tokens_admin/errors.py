"""Domain errors shared by the apps. Services raise them; views and the API translate them
into a message or a problem response."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal a service can answer with. ``status`` is the HTTP status the
    API answers it with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class ValidationFailed(DomainError):
    """Bad input, with messages per field: ``{"name": ["Name is required."]}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        fields = ", ".join(sorted(errors))
        super().__init__(f"Validation failed for: {fields}")


class Conflict(DomainError):
    """The request is well-formed but the object's current state refuses it."""

    status = 409
