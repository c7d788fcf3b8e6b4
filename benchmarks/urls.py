"""Routes of the authentication benchmark's server: the seven variants, then the product."""

from __future__ import annotations

from django.urls import include, path

from benchmarks import drf_views
from benchmarks.variants import PATHS
from benchmarks.views import lean, ok


def _route(key: str) -> str:
    return PATHS[key].lstrip("/")


urlpatterns = [
    # Outside /public/: the Bearer middleware lets it straight through (the floor).
    path(_route("floor"), ok),
    # Under /public/: the product's Bearer middleware authenticates it like any API call.
    path(_route("ours"), ok),
    path(_route("ours_fenced"), ok),
    # Outside /public/ too: the lean reference checks the token itself.
    path(_route("lean"), lean),
    path(_route("drf"), drf_views.NoAuth.as_view()),
    path(_route("drf_token"), drf_views.DrfToken.as_view()),
    path(_route("knox"), drf_views.Knox.as_view()),
    path(_route("api_key"), drf_views.ApiKey.as_view()),
    path("", include("tokens_admin.urls")),
]

handler400 = "tokens_admin.errorviews.bad_request"
handler403 = "tokens_admin.errorviews.permission_denied"
handler404 = "tokens_admin.errorviews.page_not_found"
handler500 = "tokens_admin.errorviews.server_error"
