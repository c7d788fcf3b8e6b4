"""Secret hygiene, swept: one canary token's value (and its secret part, digest and
ciphertext) is searched for in every log record of a scripted session (root logger at DEBUG,
``django.request``, ``django.db.backends`` with every SQL parameter interpolated), in every
response body and header, in outgoing mail and in a dump of every table.

SPEC section 3 allows the value in exactly these responses: the create response (API 201 and
the wizard's Summary), the token reading itself, and an administrator's reveal or copy. Every
other response, including errors that echo what the caller sent, must not carry it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.models import Account, User
from apitokens import rules, services
from apitokens.models import ApiToken
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import sign_in

API = "/public/v1/accounts/api-tokens"


@dataclass
class Session:
    """Every response of the scripted session, split into those SPEC allows to carry the
    value and all the others."""

    allowed: list[str] = field(default_factory=list)
    others: list[tuple[str, str]] = field(default_factory=list)

    def take(self, label: str, response: Any, *, may_carry_value: bool = False) -> Any:
        assert response.status_code < 500 or label.startswith("500"), (label, response.status_code)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content).decode(errors="replace")
        else:
            body = response.content.decode(errors="replace")
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        if may_carry_value:
            self.allowed.append(label)
            self.others.append((f"{label} (headers)", headers))
        else:
            self.others.append((label, f"{headers}\n\n{body}"))
        return response


@pytest.fixture
def sql_logging() -> Iterator[None]:
    connection.force_debug_cursor = True
    try:
        yield
    finally:
        connection.force_debug_cursor = False


def bearer(value: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {value}"}


def json_call(client: Client, method: str, path: str, body: Any, **extra: Any) -> Any:
    return client.generic(
        method, path, json.dumps(body), content_type="application/json", secure=True, **extra
    )


def test_the_canary_appears_only_where_spec_allows(
    acme: Account,
    alice: User,
    bob: User,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    sql_logging: None,
) -> None:
    settings.DEBUG = False
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    caplog.set_level(logging.DEBUG, logger="django.request")
    session = Session()
    api = Client()
    admin = TokenFactory(account=acme, name="Admin robot", modules=["MOD-1756"])

    # Created over the API: the one response that carries the value on purpose.
    created = session.take(
        "API create",
        json_call(
            api,
            "POST",
            API,
            {"name": "Canary", "modules": [{"id": "MOD-1756"}]},
            **bearer(admin.plain_value),
        ),
        may_carry_value=True,
    )
    assert created.status_code == 201
    value = created.json()["token"]
    token_id = created.json()["id"]
    secret = value.rsplit(":", 1)[1]
    token = ApiToken.objects.get(public_id=token_id)
    canaries = {
        "value": value,
        "secret part": secret,
        "digest": token.digest,
        "ciphertext": token.ciphertext.split(":", 1)[1],
    }
    near_miss = value[:-1] + ("A" if value[-1] != "A" else "B")

    # The API, as the canary itself and as an administrator token.
    session.take(
        "API get self",
        api.get(f"{API}/{token_id}", secure=True, **bearer(value)),
        may_carry_value=True,
    )
    for label, path in (
        ("API list", API),
        ("API list with select", f"{API}?select=+modules,+audit&limit=100"),
        ("API get", f"{API}/{token_id}"),
        ("API filter by value", f"{API}?eq(token,'{value}')"),
        ("API filter by name", f"{API}?eq(name,'{value}')"),
        ("API bad RQL echoing the value", f"{API}?frobnicate({value})"),
        ("API value in a path", f"{API}/{value}"),
        ("API unknown URL with the value", f"/public/v1/{value}/x"),
        ("API audit records", "/public/v1/audit/records?limit=100"),
        (
            "API audit records of the canary",
            f"/public/v1/audit/records?object.id={token_id}&render()",
        ),
    ):
        session.take(label, api.get(path, secure=True, **bearer(admin.plain_value)))
    session.take(
        "API update",
        json_call(
            api, "PUT", f"{API}/{token_id}", {"description": "x"}, **bearer(admin.plain_value)
        ),
    )
    session.take(
        "API update with the value as name",
        json_call(api, "PUT", f"{API}/{token_id}", {"name": value}, **bearer(admin.plain_value)),
    )
    session.take(
        "API unknown field named like the value",
        json_call(api, "PUT", f"{API}/{token_id}", {value: 1}, **bearer(admin.plain_value)),
    )
    session.take(
        "API create with the value as description",
        json_call(
            api,
            "POST",
            API,
            {"name": "Copy", "description": value, "icon": value},
            **bearer(admin.plain_value),
        ),
    )
    session.take(
        "API disable",
        json_call(api, "POST", f"{API}/{token_id}/disable", {}, **bearer(admin.plain_value)),
    )
    session.take("API disabled token used", api.get(API, secure=True, **bearer(value)))
    session.take(
        "API enable",
        json_call(api, "POST", f"{API}/{token_id}/enable", {}, **bearer(admin.plain_value)),
    )

    # Failing authentication with the value or a near miss, in every place a client puts it.
    session.take("API near miss", api.get(API, secure=True, **bearer(near_miss)))
    session.take(
        "API value in the query string", api.get(f"{API}?access_token={value}", secure=True)
    )
    session.take(
        "API two tokens", api.get(API, secure=True, HTTP_AUTHORIZATION=f"Bearer {value} {value}")
    )
    session.take("API basic scheme", api.get(API, secure=True, HTTP_AUTHORIZATION=f"Basic {value}"))
    session.take(
        "API value as user agent",
        api.get(API, secure=True, HTTP_USER_AGENT=value, **bearer(near_miss)),
    )
    session.take("API plain HTTP", api.get(API, **bearer(value)))

    # The admin pages.
    web = sign_in(Client(), alice)
    pages = [
        "/settings/api-tokens/",
        f"/settings/api-tokens/?q={value}",
        f"/settings/api-tokens/{token_id}/",
        f"/settings/api-tokens/{token_id}/modules/",
        f"/settings/api-tokens/{token_id}/details/",
        f"/settings/api-tokens/{token_id}/audit/",
        f"/settings/api-tokens/{token_id}/edit/",
        f"/settings/api-tokens/{token_id}/edit/?step=modules",
        f"/settings/api-tokens/{token_id}/disable/",
        "/settings/audit-trail/",
        f"/settings/audit-trail/?object={token_id}",
        f"/settings/audit-trail/?object={value}",
        "/settings/audit-trail/download/?format=csv",
        "/settings/audit-trail/download/?format=jsonl",
        "/settings/api-tokens/add/",
    ]
    for path in pages:
        session.take(f"page {path}", web.get(path, secure=True, follow=True))
        session.take(f"fragment {path}", web.get(path, secure=True, HTTP_HX_REQUEST="true"))
    for entry in token_records(token_id):
        session.take(f"record {entry}", web.get(f"/settings/audit-trail/{entry}/", secure=True))
    session.take(
        "page edit POST",
        web.post(
            f"/settings/api-tokens/{token_id}/edit/",
            {"step": "general", "name": "Canary 2", "description": value},
            secure=True,
            follow=True,
        ),
    )
    session.take(
        "page disable POST",
        web.post(f"/settings/api-tokens/{token_id}/disable/", secure=True, follow=True),
    )
    session.take(
        "page enable POST",
        web.post(f"/settings/api-tokens/{token_id}/enable/", secure=True, HTTP_HX_REQUEST="true"),
    )
    session.take(
        "page reveal",
        web.post(f"/settings/api-tokens/{token_id}/reveal/", secure=True, HTTP_HX_REQUEST="true"),
        may_carry_value=True,
    )
    session.take(
        "page copy",
        web.post(
            f"/settings/api-tokens/{token_id}/reveal/",
            {"copy": "1"},
            secure=True,
            HTTP_ACCEPT="application/json",
        ),
        may_carry_value=True,
    )
    session.take(
        "page reveal with the value as a wrong password",
        web.post(
            f"/settings/api-tokens/{token_id}/reveal/",
            {"password": value},
            secure=True,
            HTTP_HX_REQUEST="true",
        ),
    )
    session.take(
        "page hide",
        web.get(f"/settings/api-tokens/{token_id}/hide/", secure=True, HTTP_HX_REQUEST="true"),
    )
    session.take("page list after", web.get("/settings/api-tokens/", secure=True))

    # Error pages with DEBUG=False.
    session.take("404 page", web.get(f"/{value}/", secure=True))
    session.take(
        "403 page",
        sign_in(Client(), bob).get(f"/settings/api-tokens/{token_id}/?v={value}", secure=True),
    )
    session.take(
        "400 page", Client().get(f"/signin/?next={value}", secure=True, HTTP_HOST="evil.example")
    )
    session.take(
        "sign-in failure",
        Client().post("/signin/", {"email": "alice@acme.test", "password": value}, secure=True),
    )
    broken = Client(raise_request_exception=False)
    sign_in(broken, alice)
    from apitokens import views

    original = views._list_context
    try:
        views._list_context = lambda *a, **k: (_ for _ in ()).throw(RuntimeError(value))  # type: ignore[assignment]
        session.take("500 page", broken.get(f"/settings/api-tokens/?q={value}", secure=True))
    finally:
        views._list_context = original
    session.take("sign out", web.post("/signout/", secure=True, follow=True))

    # Where the value was allowed, it really was there (the sweep would be blind otherwise).
    assert len(session.allowed) == 4
    # The refusals typed the value as a password, and were recorded: the dump below sees them.
    refusals = AuditRecord.objects.filter(event_key__endswith="_failed")
    assert sorted(refusals.values_list("event_key", flat=True)) == [
        services.EVENT_VALUE_REVEAL_FAILED,
        "platform.accounts.user.sign_in_failed",
    ]
    leaks = [
        f"{name} in {label}"
        for label, text in session.others
        for name, canary in canaries.items()
        if canary in text
    ]
    assert leaks == [], "\n".join(leaks)

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert any(r.name == "django.db.backends" for r in caplog.records)
    assert any(r.name == "django.request" for r in caplog.records)
    for name, canary in canaries.items():
        assert canary not in logged, f"the {name} reached a log line"

    assert all(value not in m.body and secret not in m.body for m in mail.outbox)

    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    tables = dump.getvalue()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            tables += repr(cursor.fetchall())
    assert value not in tables
    assert secret not in tables


def token_records(token_id: str) -> list[str]:
    return list(AuditRecord.objects.filter(object_id=token_id).values_list("public_id", flat=True))


def test_a_value_pasted_into_a_page_url_is_replaced_by_its_token_id(
    acme: Account, alice: User
) -> None:
    token = TokenFactory(account=acme, name="Pasted")
    web = sign_in(Client(), alice)
    response = web.get(f"/settings/api-tokens/?q={token.plain_value}&status=Active", secure=True)
    assert response.status_code == 302
    assert response["Location"] == f"/settings/api-tokens/?q={token.public_id}&status=Active"
    found = web.get(response["Location"], secure=True).content.decode()
    assert f'id="token-{token.public_id}"' in found
    htmx = web.get(
        f"/settings/audit-trail/?object={token.plain_value}", secure=True, HTTP_HX_REQUEST="true"
    )
    assert htmx["HX-Redirect"] == f"/settings/audit-trail/?object={token.public_id}"
    # A near miss (bad checksum) is not a value: nothing to hide, no redirect.
    near = token.plain_value[:-1] + ("A" if token.plain_value[-1] != "A" else "B")
    assert web.get(f"/settings/api-tokens/?q={near}", secure=True).status_code == 200


def test_stored_text_refuses_a_value_everywhere_it_can_be_written(
    acme: Account, alice: User
) -> None:
    from tokens_admin.errors import ValidationFailed

    token = TokenFactory(account=acme, name="Robot", modules=["MOD-1756"])
    with pytest.raises(ValidationFailed) as caught:
        services.update_token(
            token=token, description=f"see{token.plain_value}", actor=services.Actor.system()
        )
    assert caught.value.errors == {"description": [rules.VALUE_REFUSED]}
    with pytest.raises(ValidationFailed):
        services.create_token(
            account=acme, name="Copy", icon=token.plain_value, actor=services.Actor.system()
        )
    response = json_call(
        Client(),
        "POST",
        API,
        {"name": "Copy", "description": token.plain_value},
        **bearer(token.plain_value),
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"description": [rules.VALUE_REFUSED]}
    page = sign_in(Client(), alice).post(
        f"/settings/api-tokens/{token.public_id}/edit/",
        {"step": "general", "name": "Robot", "description": token.plain_value},
        secure=True,
    )
    assert page.status_code == 400
    assert rules.VALUE_REFUSED in page.content.decode()
    assert token.plain_value not in page.content.decode()
    token.refresh_from_db()
    assert token.description == ""
