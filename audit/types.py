"""Plain value types the audit trail stores. ``audit`` depends on no other app of ours:
targets and actors are kept as ids and names so the log outlives what it describes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

# Where a request came from: defined with the typed request in the toolkit, which turns a
# request into one (``request_context``) for the pages, the API and the Bearer middleware.
from tokens_admin.requests import RequestContext as RequestContext

if TYPE_CHECKING:
    from tokens_admin.api import Principal


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

    @classmethod
    def api_token(cls, principal: Principal) -> Actor:
        """The API token a request authenticated with."""
        return cls(
            id=principal.token_id,
            name=principal.token_name,
            type=ActorType.API_TOKEN,
            account_id=principal.account_id,
            account_name=principal.account_name,
        )


@dataclass(frozen=True, slots=True)
class ObjectRef:
    id: str
    name: str
    object_type: str
