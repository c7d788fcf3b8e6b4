"""Clients of a live server (tests/live.py) over real HTTPS: an administrator's browser session
(sign-in, CSRF token, htmx posts) and an API client, for the concurrency and load tests."""

from __future__ import annotations

import json
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.live import LiveServer

_CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')
_FORM_CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def http_client(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        verify=ssl.create_default_context(cafile=str(server.cafile)),
        timeout=30.0,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
    )


@dataclass
class Administrator:
    """A signed-in administrator, as a browser with htmx would act."""

    server: LiveServer
    email: str
    password: str
    client: httpx.Client = field(init=False)
    csrf: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.client = http_client(self.server)
        page = self.client.get("/signin/")
        found = _FORM_CSRF_RE.search(page.text)
        assert found is not None, page.text[:500]
        signed_in = self.client.post(
            "/signin/",
            data={
                "email": self.email,
                "password": self.password,
                "csrfmiddlewaretoken": found.group(1),
            },
            headers={"Referer": f"{self.server.url}/signin/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        self.refresh_csrf()

    def refresh_csrf(self) -> None:
        page = self.client.get("/settings/api-tokens/")
        found = _CSRF_RE.search(page.text)
        assert found is not None, page.text[:500]
        self.csrf = found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
        return self.client.post(
            path,
            data=data or {},
            headers={
                "HX-Request": "true",
                "X-CSRFToken": self.csrf,
                "Referer": f"{self.server.url}/settings/api-tokens/",
            },
        )

    def close(self) -> None:
        self.client.close()


_MESSAGE_RE = re.compile(r'<p class="message message-(\w+)">')


def ui_outcome(response: httpx.Response, administrator: Administrator) -> str:
    """ "won" or "lost" from an htmx action's answer (the message it asks the page to show,
    or, after an ``HX-Redirect``, the message the page it sends the browser to shows), or the
    unexpected status."""
    if response.status_code == 404:
        return "lost"  # deleted meanwhile: a Client administrator no longer sees it
    if response.status_code != 200:
        return f"status {response.status_code}"
    if "HX-Redirect" in response.headers:
        page = administrator.client.get(response.headers["HX-Redirect"])
        shown = _MESSAGE_RE.findall(page.text)
        return {"success": "won", "error": "lost"}.get(
            shown[0] if len(shown) == 1 else "", f"redirect shows {shown}"
        )
    trigger = json.loads(response.headers.get("HX-Trigger", "{}"))
    level = trigger.get("ui:message", {}).get("level")
    return {"success": "won", "error": "lost"}.get(level, f"no message ({trigger})")


def api_outcome(response: httpx.Response) -> str:
    if response.status_code in (200, 204):
        return "won"
    if response.status_code in (400, 404, 409):
        return "lost"
    return f"status {response.status_code}"


@dataclass
class Timed:
    sent: float
    received: float
    status: int


def timed_get(client: httpx.Client, path: str, token: str) -> Timed:
    sent = time.monotonic()
    try:
        status = client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code
    except httpx.HTTPError:
        status = -1
    return Timed(sent=sent, received=time.monotonic(), status=status)
