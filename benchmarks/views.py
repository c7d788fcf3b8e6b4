"""The one trivial view every variant of the authentication benchmark ends in."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse


def ok(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})
