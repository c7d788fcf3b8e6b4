"""The request as our middleware leaves it: typed, so views and handlers read attributes
instead of ``getattr(request, "…", default)``.

``RequestContextMiddleware`` sets ``trace_id`` and ``client_ip`` on every request,
django-htmx's ``HtmxMiddleware`` sets ``htmx``; under ``/public/`` the Bearer middleware sets
``api_principal`` (and ``api_token_id`` for the log line) before any API view runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from tokens_admin.api import Principal


class AppRequest(HttpRequest):
    trace_id: str
    client_ip: str
    htmx: HtmxDetails


class ApiRequest(AppRequest):
    api_principal: Principal
    api_token_id: str
