"""Plain value types the audit trail stores. ``audit`` depends on no other app of ours:
targets and actors are kept as ids and names so the log outlives what it describes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ActorType(StrEnum):
    USER = "User"
    API_TOKEN = "ApiToken"  # noqa: S105 - a type name, not a secret
    SYSTEM = "System"


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    name: str
    type: ActorType
    account_id: str | None = None
    account_name: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(id="SYSTEM", name="System", type=ActorType.SYSTEM)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    id: str
    name: str
    object_type: str


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str = ""
    user_agent: str = ""
    trace_id: str = ""

    @classmethod
    def empty(cls) -> RequestContext:
        return cls()

    def where(self) -> str:
        """Where a request came from, for a record's details: "from 203.0.113.5 (curl/8.5)"."""
        if not self.ip and not self.user_agent:
            return "from the command line or a background job"
        place = f"from {self.ip or 'an unknown address'}"
        return f"{place} ({self.user_agent[:200]})" if self.user_agent else place
