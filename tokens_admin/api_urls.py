"""REST API routes under /public/v1/ (SPEC section 4)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt

from apitokens import api as tokens_api
from tokens_admin.problems import problem

TOKEN_ID = "<str:token_id>"  # noqa: S105 - a URL converter


@csrf_exempt
def unknown_url(request: HttpRequest, rest: str = "") -> HttpResponse:
    return problem(request, 404, f"No API resource at {request.path}.")


urlpatterns: list[URLPattern | URLResolver] = [
    path("accounts/api-tokens", tokens_api.tokens_view, name="api-tokens"),
    path(f"accounts/api-tokens/{TOKEN_ID}", tokens_api.token_view, name="api-token"),
    path(f"accounts/api-tokens/{TOKEN_ID}/enable", tokens_api.enable_view, name="api-token-enable"),
    path(
        f"accounts/api-tokens/{TOKEN_ID}/disable", tokens_api.disable_view, name="api-token-disable"
    ),
    re_path(r"^(?P<rest>.*)$", unknown_url, name="api-unknown"),
]
