"""RFC 9457 problem details, the only shape an API error ever takes (SPEC section 4.2)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, cast

from django.http import HttpRequest, HttpResponse

from tokens_admin.logging import redact_values
from tokens_admin.requests import AppRequest

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://tokens-admin.dev/problems/"


def problem(
    request: HttpRequest,
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    """A problem response. ``kind`` names the type (``https-required``); it defaults to the
    status's reason phrase in kebab case (``not-found``)."""
    phrase = HTTPStatus(status).phrase
    # A detail may quote what the caller sent (a path, a field name); a token value in it is
    # blanked, so an error never hands a credential back or into a proxy's response log.
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or phrase.lower().replace(" ", "-").replace("'", "")),
        "title": phrase,
        "status": status,
        "detail": redact_values(detail),
        "instance": redact_values(request.path),
        # Any request: the Bearer middleware answers before the API's views see an ApiRequest.
        "traceId": cast(AppRequest, request).trace_id,
    }
    if errors:
        body["errors"] = {
            redact_values(field): [redact_values(m) for m in messages]
            for field, messages in errors.items()
        }
    response = HttpResponse(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    api_headers(response)
    return response


RETRY_AFTER_SECONDS = "5"


def unavailable(request: HttpRequest) -> HttpResponse:
    """503 with ``Retry-After``: the database (or another store the request needs) is down."""
    return problem(
        request,
        503,
        "The service is temporarily unavailable. Try again shortly.",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def api_headers(response: HttpResponse) -> HttpResponse:
    """Every API response depends on who asks and must never be stored by a cache."""
    response["Cache-Control"] = "no-store"
    vary = response.get("Vary")
    if not vary:
        response["Vary"] = "Authorization"
    elif "authorization" not in vary.lower():
        response["Vary"] = f"{vary}, Authorization"
    return response
