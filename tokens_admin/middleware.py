"""Per-request context: a W3C trace id, the client address and one structured log line
(and the forwarded scheme believed only from our own proxies)."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from tokens_admin.proxies import client_address, is_trusted, parse_address
from tokens_admin.requests import AppRequest

logger = logging.getLogger("tokens_admin.request")

TRACE_HEADER = "traceparent"
_TRACEPARENT_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def new_trace_id(incoming: str | None = None) -> str:
    """Continue an incoming W3C trace when it is well-formed; otherwise start a new one."""
    trace = None
    if incoming:
        match = _TRACEPARENT_RE.match(incoming.strip().lower())
        if match and match.group(1) != "0" * 32:
            trace = match.group(1)
    return f"00-{trace or secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def client_ip(request: HttpRequest) -> str:
    """The TCP peer; behind a trusted proxy, the client it forwarded for (proxies.py)."""
    peer = str(request.META.get("REMOTE_ADDR", ""))
    if not settings.TRUSTED_PROXY:
        return peer[:64]
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    return client_address(peer, forwarded, settings.TRUSTED_PROXY)


class ForwardedHeadersMiddleware:
    """``SECURE_PROXY_SSL_HEADER`` makes Django believe the header from whoever sends it; this
    drops it unless the TCP peer is one of ``TRUSTED_PROXY``. (gunicorn.conf.py makes gunicorn
    apply the same rule to the scheme it reports; this holds under any server.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = settings.SECURE_PROXY_SSL_HEADER
        meta = request.META
        if header and header[0] in meta:
            peer = parse_address(str(meta.get("REMOTE_ADDR", "")))
            if not is_trusted(peer, settings.TRUSTED_PROXY):
                del meta[header[0]]
        return self.get_response(request)


class RequestContextMiddleware:
    """Gives every request its trace id and client address, and writes its one log line."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        app = cast(AppRequest, request)
        app.trace_id = new_trace_id(request.headers.get(TRACE_HEADER))
        app.client_ip = client_ip(request)
        # Filled by whoever authenticates: the Bearer middleware, or the user loader of
        # accounts.middleware once something asks for ``request.user``. Never the lazy
        # ``request.user`` itself here: that would read the session for the log line (one
        # more query, and a 500 instead of the real answer when the database is down).
        app.api_token_id = ""
        app.user_id = ""
        response = self.get_response(request)
        response[TRACE_HEADER] = app.trace_id
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        logger.info(
            "%s %s %s %.2fms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "trace_id": app.trace_id,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "principal": app.api_token_id or app.user_id or None,
                "ip": app.client_ip,
            },
        )
        return response
