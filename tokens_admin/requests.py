"""The request as our middleware leaves it: typed, so views and handlers read attributes
instead of looking them up with a default; and what of it a record keeps.

``RequestContextMiddleware`` sets ``trace_id``, ``client_ip`` and empty ``api_token_id`` and
``user_id`` on every request, django-htmx's ``HtmxMiddleware`` sets ``htmx``; under
``/public/`` the Bearer middleware sets ``api_principal`` and ``api_token_id`` before any API
view runs; ``accounts.middleware`` fills ``user_id`` when the request loads its user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from tokens_admin.api import Principal


class AppRequest(HttpRequest):
    trace_id: str
    client_ip: str
    htmx: HtmxDetails
    # Who the request's log line names: the API token that authenticated it, or the user it
    # loaded (empty when neither).
    api_token_id: str
    user_id: str


class ApiRequest(AppRequest):
    api_principal: Principal


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a request came from, as plain data: what the audit trail keeps of it (exported
    by ``audit.types``). Commands and background jobs pass ``RequestContext.empty()``."""

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


def request_context(request: HttpRequest) -> RequestContext:
    """The one way a page, an API handler or a middleware turns its request into the context
    a record keeps. Any ``HttpRequest`` will do: ``RequestContextMiddleware`` runs before
    anything that records, so every request that gets here is an ``AppRequest``."""
    app = cast(AppRequest, request)
    return RequestContext(
        ip=app.client_ip,
        # Stored in the audit trail: PostgreSQL text holds no U+0000.
        user_agent=app.headers.get("User-Agent", "").replace("\x00", "")[:500],
        trace_id=app.trace_id,
    )
