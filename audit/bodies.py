"""The bodies of ``POST /public/v1/audit/records`` and ``PUT …/event-types/{id}``, declared
once for the parser and for ``openapi.json``. Their limits are the API's own (``record()``
stores what it is given), so the models check them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import Field, StrictStr, field_validator

from tokens_admin.bodies import AnyJson, Body, JsonKey, Reference, text

EXTENSION_EVENT_RE: Final = re.compile(r"^extensions(\.[a-z0-9_-]+){2,}$")


class RecordObject(Reference):
    """What the record is about, in the integration's own terms."""

    id: Annotated[StrictStr, text(min_length=1, max_length=32)]
    name: Annotated[StrictStr, text(max_length=200)] = ""
    objectType: Annotated[StrictStr, text(max_length=64)] = "External"


class AuditRecordCreate(Body):
    """An integration's event; the calling token is always the recorded actor (a posted
    ``actor`` is kept as ``reportedActor``, ``payload`` with the documents)."""

    event: Annotated[StrictStr, text(max_length=200, pattern=EXTENSION_EVENT_RE.pattern)]
    object: RecordObject
    summary: Annotated[StrictStr, text(min_length=1, max_length=500)]
    details: Annotated[StrictStr, text(max_length=10_000)] = ""
    documents: dict[JsonKey, AnyJson] = Field(default_factory=dict)
    actor: AnyJson = None
    payload: AnyJson = None

    def kept_documents(self) -> dict[str, Any]:
        kept = dict(self.documents)
        if "payload" in self.sent():
            kept["payload"] = self.payload
        if "actor" in self.sent():
            kept["reportedActor"] = self.actor
        return kept


class EventTypeUpdate(Body):
    name: Annotated[
        StrictStr,
        text(
            min_length=1,
            max_length=200,
            documented={"pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"},
        ),
    ] = ""
    description: Annotated[StrictStr, text(max_length=2000)] = ""

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("Must not be empty.")
        return value

    def changes(self) -> dict[str, str]:
        return {
            field: getattr(self, field) for field in ("name", "description") if field in self.sent()
        }
