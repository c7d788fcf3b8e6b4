"""REST API routes under /public/v1/ (SPEC section 4)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
