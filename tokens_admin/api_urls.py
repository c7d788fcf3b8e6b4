"""REST API routes under /public/v1/ (SPEC section 4)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt

from accounts import api as modules_api
from accounts import openapi as modules_openapi
from apitokens import api as tokens_api
from apitokens import api_policy
from apitokens import openapi as tokens_openapi
from audit import api as audit_api
from audit import openapi as audit_openapi
from tokens_admin.openapi import document, openapi_view
from tokens_admin.problems import problem

TOKEN_ID = "<str:token_id>"  # noqa: S105 - a URL converter


def api_document() -> dict[str, Any]:
    """``openapi.json``: every app's part of it."""
    return document(modules_openapi.PART, tokens_openapi.PART, audit_openapi.PART)


openapi_json = openapi_view(api_document)


@csrf_exempt
def unknown_url(request: HttpRequest, rest: str = "") -> HttpResponse:
    return problem(request, 404, f"No API resource at {request.path}.")


urlpatterns: list[URLPattern | URLResolver] = [
    path("openapi.json", openapi_json, name="api-openapi"),
    path("accounts/api-tokens", tokens_api.tokens_view, name="api-tokens"),
    path(f"accounts/api-tokens/{TOKEN_ID}", tokens_api.token_view, name="api-token"),
    path(f"accounts/api-tokens/{TOKEN_ID}/enable", tokens_api.enable_view, name="api-token-enable"),
    path(
        f"accounts/api-tokens/{TOKEN_ID}/disable", tokens_api.disable_view, name="api-token-disable"
    ),
    path(f"accounts/api-tokens/{TOKEN_ID}/rotate", tokens_api.rotate_view, name="api-token-rotate"),
    path("accounts/api-token-policy", api_policy.policy_view, name="api-token-policy"),
    path("accounts/modules", modules_api.modules_view, name="api-modules"),
    path("accounts/modules/<str:module_id>", modules_api.module_view, name="api-module"),
    path("audit/records", audit_api.records_view, name="api-audit-records"),
    path("audit/records/<str:record_id>", audit_api.record_view, name="api-audit-record"),
    path("audit/event-types", audit_api.event_types_view, name="api-event-types"),
    path(
        "audit/event-types/<str:event_type_id>",
        audit_api.event_type_view,
        name="api-event-type",
    ),
    re_path(r"^(?P<rest>.*)$", unknown_url, name="api-unknown"),
]
