"""The one trivial view every variant of the authentication benchmark ends in, and the lean
reference: the least a token check can do in Django."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from apitokens import secrets as token_secrets
from apitokens.models import ApiToken

_LEAN_SQL = f'SELECT "digest" FROM "{ApiToken._meta.db_table}" WHERE "public_id" = %s'  # noqa: S608 - our own table name


def ok(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def lean(request: HttpRequest) -> JsonResponse:
    """The issue's yardstick, "one indexed SELECT and an HMAC compare", and nothing else: no
    format or checksum check, no status or account, no rate limit, no principal, no
    lastAccessAt, no API headers. It shows what the product's own checks cost on top."""
    value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[2]
    with connection.cursor() as cursor:
        cursor.execute(_LEAN_SQL, [value[4:17]])  # the token id inside idt:TKN-…:…
        row = cursor.fetchone()
    if row is None or not token_secrets.verify(value, row[0], settings.TOKEN_PEPPER):
        return JsonResponse({"ok": False}, status=401)
    return JsonResponse({"ok": True})
