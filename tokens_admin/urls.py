from __future__ import annotations

from django.urls import include, path

from tokens_admin import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("public/v1/", include("tokens_admin.api_urls")),
    path("", include("tokens_admin.ui_urls")),
]

handler400 = "tokens_admin.errorviews.bad_request"
handler403 = "tokens_admin.errorviews.permission_denied"
handler404 = "tokens_admin.errorviews.page_not_found"
handler500 = "tokens_admin.errorviews.server_error"
