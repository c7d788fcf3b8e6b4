from __future__ import annotations

from django.urls import include, path

from tokens_admin import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("public/v1/", include("tokens_admin.api_urls")),
    path("", include("tokens_admin.ui_urls")),
]
