"""Every URL of the project through Django's test client, in a process of its own that runs
with production settings (``APP_ENV=production``: they are read once, at import, so they cannot
be faithfully switched on inside the test process).

``python scripts/deploy_probe.py`` (run by tests/security/test_deployment.py) reads what to
probe from ``PROBE_*`` variables (the ids of objects the calling test committed), walks the URL
resolver, and prints one JSON document: for every request its persona, method, path, status,
security headers and cookies. The test makes the assertions. A URL pattern with a converter this file
cannot fill is reported as an error, so a new URL cannot slip past unprobed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import django

HOST = "tokens.example.com"
HEADERS = (
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "X-Frame-Options",
    "Cross-Origin-Opener-Policy",
    "Location",
    "Content-Type",
    "WWW-Authenticate",
)
LEAKS = ("Traceback", "Django Version", "DEBUG = True", "Request Method:", "OperationalError")


ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    # Run as a program from scripts/: the project's packages are one directory up.
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.test import Client
    from django.urls import get_resolver

    _install_failing_views()
    fill = {
        "tkn": os.environ["PROBE_TOKEN"],
        "aud": os.environ["PROBE_RECORD"],
        "slug:action": "disable",
        "str:account_id": os.environ["PROBE_ACCOUNT"],
        "str:name": os.environ["PROBE_LOGO"],
        "str:token_id": os.environ["PROBE_TOKEN"],
        "str:module_id": "MOD-1756",
        "str:record_id": os.environ["PROBE_RECORD"],
        "str:event_type_id": os.environ["PROBE_EVENT_TYPE"],
    }
    errors: list[str] = []
    every = _walk(get_resolver().url_patterns, fill, errors)
    api = [p for p in every if p.startswith("/public/")]
    ui = [p for p in every if not p.startswith(("/public/", "/healthz", "/readyz", "/probe/"))]
    prober = Prober()
    anonymous = Client(raise_request_exception=False)
    _probe_pages(prober, anonymous, ui, fill["tkn"])
    _probe_api(prober, anonymous, api)
    json.dump({"errors": errors, "ui": ui, "api": api, "results": prober.results}, sys.stdout)


def _install_failing_views() -> None:
    """Before the first request builds the resolver: two views that fail, for the 500 and
    503 pages as production serves them."""
    from django.db import OperationalError
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    from tokens_admin import urls

    def boom(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("a bug, on purpose")

    def database_down(request: HttpRequest) -> HttpResponse:
        raise OperationalError("could not connect to server")

    urls.urlpatterns[:0] = [path("probe/boom/", boom), path("probe/database-down/", database_down)]


def _concrete(route: str, fill: dict[str, str], errors: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        converter, _, name = match.group(1).rpartition(":")
        for key in (f"{converter}:{name}", converter):
            if key in fill:
                return fill[key]
        errors.append(f"no value for <{match.group(1)}> in {route!r}")
        return "?"

    return re.sub(r"<([^>]+)>", replace, route)


def _walk(
    patterns: list[Any], fill: dict[str, str], errors: list[str], prefix: str = ""
) -> list[str]:
    from django.urls import URLPattern, URLResolver

    found: list[str] = []
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns, fill, errors, prefix + route)
        elif isinstance(entry, URLPattern):
            if route.startswith("^"):  # the API's catch-all
                found.append("/" + prefix + "no-such-resource")
                continue
            found.append("/" + _concrete(prefix + route, fill, errors))
    return found


def _cookies(response: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": morsel.key,
            "secure": bool(morsel["secure"]),
            "httponly": bool(morsel["httponly"]),
            "samesite": morsel["samesite"],
            # Django deletes a cookie with an empty value that expires at once.
            "deleted": morsel.value == "" and str(morsel["max-age"]) == "0",
        }
        for morsel in response.cookies.values()
    ]


class Prober:
    """Sends requests as production would receive them and keeps what each answer shows."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def probe(
        self, persona: str, client: Any, method: str, url: str, secure: bool = True, **extra: Any
    ) -> None:
        response = getattr(client, method.lower())(url, secure=secure, HTTP_HOST=HOST, **extra)
        body = b"" if response.streaming else response.content
        self.keep(persona, method, url, response, body, secure=secure)
        self.results[-1]["htmx"] = "HTTP_HX_REQUEST" in extra
        self.results[-1]["cookies"] = _cookies(response)
        if response.streaming:
            response.close()

    def keep(
        self, persona: str, method: str, path: str, response: Any, body: bytes, *, secure: bool
    ) -> None:
        self.results.append(
            {
                "persona": persona,
                "method": method,
                "path": path,
                "secure": secure,
                "htmx": False,
                "status": response.status_code,
                "headers": {h: response.headers.get(h) for h in HEADERS if h in response},
                "cookies": [],
                "leaks": [leak for leak in LEAKS if leak.encode() in body],
            }
        )


def _user(email: str) -> Any:
    from accounts.models import User

    return User.objects.get(email=email)


def _signed_in(email: str) -> Any:
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(_user(email))
    return client


def _probe_pages(prober: Prober, anonymous: Any, ui: list[str], token_id: str) -> None:
    from django.test import Client

    probe = prober.probe
    admin = _signed_in(os.environ["PROBE_ADMIN"])
    member = _signed_in(os.environ["PROBE_MEMBER"])
    for url in ui:
        probe("anonymous", anonymous, "GET", url)
        probe("admin", admin, "GET", url)
        probe("admin", admin, "GET", url, HTTP_HX_REQUEST="true")
        probe("member", member, "GET", url)
        probe("anonymous", anonymous, "GET", url, secure=False)  # must redirect to HTTPS
    # Error pages, with DEBUG off as in production.
    for persona, client in (("anonymous", anonymous), ("admin", admin)):
        probe(persona, client, "GET", "/no-such-page/")
        probe(persona, client, "GET", "/probe/boom/")
        probe(persona, client, "GET", "/probe/database-down/")
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    strict.force_login(_user(os.environ["PROBE_ADMIN"]))
    probe("admin", strict, "POST", f"/settings/api-tokens/{token_id}/disable/")  # CSRF 403
    probe("anonymous", anonymous, "POST", "/signin/", data={"email": "x"})  # 400 form
    disallowed = anonymous.get("/signin/", secure=True, HTTP_HOST="evil.example")
    prober.keep(
        "anonymous",
        "GET",
        "/signin/ (Host: evil.example)",
        disallowed,
        disallowed.content,
        secure=True,
    )
    # Responses that set cookies: the session (sign-in), CSRF, and messages (after an action).
    fresh = Client(raise_request_exception=False)
    password = os.environ["PROBE_PASSWORD"]
    credentials = {"email": os.environ["PROBE_ADMIN"], "password": password}
    probe("anonymous", fresh, "POST", "/signin/", data=credentials)
    probe("admin", fresh, "POST", f"/settings/api-tokens/{token_id}/disable/")
    probe("admin", fresh, "POST", f"/settings/api-tokens/{token_id}/enable/")
    probe("admin", fresh, "POST", "/signout/")


def _probe_api(prober: Prober, anonymous: Any, api: list[str]) -> None:
    """Plain HTTP is refused, never redirected; HTTPS never redirects either."""
    token: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {os.environ['PROBE_VALUE']}"}
    for url in [*api, "/public/v1", "/public/", "/public/v2/anything"]:
        for method in ("GET", "POST"):
            prober.probe("token", anonymous, method, url, secure=False, **token)
        prober.probe("token", anonymous, "GET", url, **token)
    for url in ("/healthz", "/readyz"):
        prober.probe("probe", anonymous, "GET", url, secure=False)


if __name__ == "__main__":
    main()
