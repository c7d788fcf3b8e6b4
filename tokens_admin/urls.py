from __future__ import annotations

from django.urls import include, path, re_path

from tokens_admin import health
from tokens_admin.api_urls import unknown_url

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("public/v1/", include("tokens_admin.api_urls")),
    # Everything else under /public/ resolves too, to a 404 problem: otherwise APPEND_SLASH
    # would answer /public/v1 with a redirect, and the API never redirects.
    re_path(r"^public/", unknown_url, name="api-outside"),
    path("", include("tokens_admin.ui_urls")),
]

handler400 = "tokens_admin.errorviews.bad_request"
handler403 = "tokens_admin.errorviews.permission_denied"
handler404 = "tokens_admin.errorviews.page_not_found"
handler500 = "tokens_admin.errorviews.server_error"
