"""Issue 6 item 9: deployment hardening, with the production settings an operator runs.

Settings are read once, at import, so production is examined in processes of its own: the
deploy check as ``manage.py check --deploy`` and every URL of the project through
``scripts/deploy_probe.py`` (Django's test client in a process started with
``APP_ENV=production`` and the secrets set, on this test's database). Every response — pages,
htmx fragments, redirects, the 400/403/404/500/503 pages with DEBUG off — carries HSTS, the
strict Content-Security-Policy, ``nosniff``, ``Referrer-Policy`` and frame denial; every cookie
is Secure, HttpOnly and SameSite; plain HTTP is redirected to HTTPS for the UI and refused with
a 403 problem (never a redirect) for the API. tests/test_settings.py holds the settings values
themselves and the deploy check of the minimal production configuration."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from PIL import Image

from accounts.models import Account, User
from apitokens import logos
from apitokens.models import ApiToken
from audit.models import AuditRecord, EventType
from tests.live import database_url
from tests.test_settings import BASE_ENV, production_env

ROOT = Path(__file__).resolve().parents[2]
HOST = "tokens.example.com"
HSTS = "max-age=31536000; includeSubDomains"
CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "form-action 'self'",
)
LOGO_CSP = "default-src 'none'; sandbox"  # a logo is an image, never a document


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**BASE_ENV, "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deploy_check_is_clean_for_a_full_production_setup(tmp_path: Path) -> None:
    # tests/test_settings.py checks the minimal production configuration; this is the one the
    # README describes for many hosts: PostgreSQL, Redis, a TLS proxy, HSTS preload opted in.
    env = production_env(tmp_path) | {
        "DATABASE_URL": "postgres://app:pw@db.internal:5432/tokens",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "TRUSTED_PROXY": "10.0.0.5,fd00::/64",
        "SECURE_HSTS_PRELOAD": "1",
        "CSRF_TRUSTED_ORIGINS": "https://tokens.example.com",
    }
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_deploy_check_fails_when_hardening_is_switched_off(tmp_path: Path) -> None:
    # The check is not vacuous: turning a protection off is reported.
    env = production_env(tmp_path) | {"SESSION_COOKIE_SECURE": "0", "SECURE_HSTS_SECONDS": "0"}
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W012" in result.stderr + result.stdout  # SESSION_COOKIE_SECURE
    assert "security.W004" in result.stderr + result.stdout  # SECURE_HSTS_SECONDS


def encryption_keys() -> str:
    """This process's TOKEN_ENCRYPTION_KEYS as configured, so the probe decrypts the same."""
    configured = os.environ.get("TOKEN_ENCRYPTION_KEYS")
    if configured:
        return configured
    dev: dict[str, str] = json.loads((Path(settings.VAR_DIR) / "dev-secrets.json").read_text())
    return dev["TOKEN_ENCRYPTION_KEYS"]


def chain_keys() -> str:
    """This process's AUDIT_CHAIN_KEY in its environment form, so the probe's records chain on."""
    return ",".join(
        f"{kid}:{base64.urlsafe_b64encode(key).decode()}"
        for kid, key in settings.AUDIT_CHAIN_KEY.items()
    )


@pytest.fixture
def report(
    tmp_path: Path, alice: User, bob: User, acme: Account, robot: ApiToken
) -> dict[str, Any]:
    """The probe's findings, against objects committed by this (transactional) test."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    logo = logos.store(buffer.getvalue(), "png", account_id=acme.public_id)
    record = AuditRecord.objects.filter(object_id=robot.public_id).latest("seq")
    env = {
        **BASE_ENV,
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "tokens_admin.settings",
        "APP_ENV": "production",
        "ALLOWED_HOSTS": HOST,
        "SECRET_KEY": settings.SECRET_KEY,
        "TOKEN_PEPPER": settings.TOKEN_PEPPER.decode(),
        "TOKEN_ENCRYPTION_KEYS": encryption_keys(),
        "AUDIT_CHAIN_KEY": chain_keys(),
        "DATABASE_URL": database_url(),
        "VAR_DIR": str(tmp_path),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PROBE_TOKEN": robot.public_id,
        "PROBE_VALUE": robot.plain_value,  # type: ignore[attr-defined]
        "PROBE_RECORD": record.public_id,
        "PROBE_EVENT_TYPE": EventType.objects.get(key=record.event_key).public_id,
        "PROBE_ACCOUNT": acme.public_id,
        "PROBE_LOGO": logo.rsplit("/", 1)[-1],
        "PROBE_ADMIN": alice.email,
        "PROBE_MEMBER": bob.email,
        "PROBE_PASSWORD": "correct horse battery staple",
    }
    result = subprocess.run(
        [sys.executable, "scripts/deploy_probe.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, Any] = json.loads(result.stdout)
    assert found["errors"] == []
    return found


def label(result: dict[str, Any]) -> str:
    flags = ("" if result["secure"] else " over HTTP") + (" (htmx)" if result["htmx"] else "")
    return f"{result['persona']} {result['method']} {result['path']}{flags} -> {result['status']}"


@pytest.mark.django_db(transaction=True)
def test_every_ui_response_is_hardened_in_production(report: dict[str, Any]) -> None:
    ui = [r for r in report["results"] if r["secure"] and r["persona"] not in ("token", "probe")]
    print(f"deployment: {len(report['ui'])} UI URLs, {len(ui)} HTTPS responses checked")
    assert len(report["ui"]) >= 15
    problems: list[str] = []
    for result in ui:
        headers = result["headers"]
        where = label(result)
        if result["status"] >= 500 and result["path"] not in (
            "/probe/boom/",
            "/probe/database-down/",
        ):
            problems.append(f"{where}: server error")
        if result["leaks"]:
            problems.append(f"{where}: leaks {result['leaks']}")
        expected = {
            "Strict-Transport-Security": HSTS,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
        }
        for name, value in expected.items():
            if headers.get(name) != value:
                problems.append(f"{where}: {name} is {headers.get(name)!r}")
        csp = headers.get("Content-Security-Policy", "")
        if csp != LOGO_CSP:
            missing = [d for d in CSP_DIRECTIVES if d not in csp.split("; ")]
            if missing or "unsafe" in csp:
                problems.append(f"{where}: CSP {csp!r} lacks {missing}")
    assert problems == []
    statuses = {r["path"]: r["status"] for r in ui if r["persona"] == "admin" and not r["htmx"]}
    # The error pages are there, as production serves them (DEBUG off, our templates).
    assert statuses["/no-such-page/"] == 404
    assert statuses["/probe/boom/"] == 500
    assert statuses["/probe/database-down/"] == 503
    assert {r["status"] for r in ui if r["persona"] == "member"} >= {403}
    assert any(r["status"] == 403 and r["method"] == "POST" for r in ui)  # CSRF refused
    assert {400} <= {r["status"] for r in ui if r["persona"] == "anonymous"}  # bad form
    assert any("evil.example" in r["path"] and r["status"] == 400 for r in ui)  # Host header
    assert any(r["headers"].get("Content-Security-Policy") == LOGO_CSP for r in ui)  # a logo


@pytest.mark.django_db(transaction=True)
def test_every_cookie_is_secure_httponly_and_same_site_in_production(
    report: dict[str, Any],
) -> None:
    cookies = [(label(r), c) for r in report["results"] for c in r["cookies"]]
    names = {c["name"] for _, c in cookies}
    assert {"sessionid", "csrftoken", "messages"} <= names  # sign-in, forms, an action's message
    bad = [
        (where, c)
        for where, c in cookies
        if not (c["secure"] and c["httponly"] and c["samesite"] == "Lax") and not c.get("deleted")
    ]
    assert bad == []


@pytest.mark.django_db(transaction=True)
def test_plain_http_redirects_the_ui_and_never_the_api_in_production(
    report: dict[str, Any],
) -> None:
    plain = [r for r in report["results"] if not r["secure"]]
    ui = [r for r in plain if r["persona"] == "anonymous"]
    api = [r for r in plain if r["persona"] == "token"]
    assert len(ui) == len(report["ui"])
    assert len(api) >= 2 * len(report["api"])
    for result in ui:
        assert result["status"] == 301, label(result)
        assert result["headers"]["Location"] == f"https://{HOST}{result['path']}", label(result)
    for result in api:
        assert result["status"] == 403, label(result)
        assert "Location" not in result["headers"], label(result)
        assert result["headers"]["Content-Type"] == "application/problem+json", label(result)
    # Over HTTPS the API answers too, and never with a redirect (no APPEND_SLASH, nothing).
    secure_api = [r for r in report["results"] if r["secure"] and r["persona"] == "token"]
    assert secure_api
    for result in secure_api:
        assert not 300 <= result["status"] < 400, label(result)
        assert result["headers"].get("Strict-Transport-Security") == HSTS, label(result)
        assert result["headers"].get("X-Content-Type-Options") == "nosniff", label(result)
    # Health probes stay plain for the load balancer.
    probes = {r["path"]: r["status"] for r in report["results"] if r["persona"] == "probe"}
    assert probes == {"/healthz": 200, "/readyz": 200}
