"""The token details page: header, card, four tabs with their own URLs, revealing and copying
the value behind a recent sign-in, and the audit records each of those writes."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, User
from apitokens import services
from apitokens.models import ApiToken
from audit.models import AuditRecord
from audit.types import Actor
from tests.factories import TokenFactory
from tests.ui.conftest import htmx, sign_in

TABS = {"general": "", "modules": "modules/", "details": "details/", "audit": "audit/"}


@pytest.fixture
def robot(acme: Account) -> ApiToken:
    return TokenFactory(
        account=acme, name="CRM robot", description="Syncs", modules=["MOD-1756", "MOD-4525"]
    )


def test_it_shows_the_header_card_and_tabs(
    client: Client, alice: User, acme: Account, robot
) -> None:
    sign_in(client, alice)
    body = client.get(f"/settings/api-tokens/{robot.public_id}/").content.decode()
    assert f"API token {robot.public_id}" in body
    assert "CRM robot" in body
    assert "badge-active" in body
    assert acme.public_id in body
    assert "Last access" in body
    base = f"/settings/api-tokens/{robot.public_id}/"
    for suffix in TABS.values():
        assert f'href="{base}{suffix}" hx-get="{base}{suffix}"' in body
    assert f"idt:{robot.public_id}:" in body
    assert robot.plain_value not in body


@pytest.mark.parametrize(
    ("tab", "text"),
    [
        ("general", "API endpoint"),
        ("modules", "MOD-4525"),
        ("details", "Status history"),
        ("audit", "platform.accounts.api_token.created"),
    ],
)
def test_each_tab_has_its_own_url_and_fragment(
    client: Client, alice: User, robot, tab: str, text: str
) -> None:
    sign_in(client, alice)
    url = f"/settings/api-tokens/{robot.public_id}/{TABS[tab]}"
    page = client.get(url).content.decode()
    assert "<html" in page
    assert text in page
    assert 'aria-current="page"' in page
    fragment = client.get(url, **htmx(HX_Target="tab-panel"))
    assert "<html" not in fragment.content.decode()
    assert text in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]


def test_the_details_tab_lists_the_status_history(client: Client, alice: User, robot) -> None:
    sign_in(client, alice)
    client.post(f"/settings/api-tokens/{robot.public_id}/disable/")
    client.post(f"/settings/api-tokens/{robot.public_id}/enable/")
    body = client.get(f"/settings/api-tokens/{robot.public_id}/details/").content.decode()
    history = body[body.index("Status history") :]
    assert history.count("<li>") == 3
    assert history.index("badge-disabled") < history.rindex("badge-active")


def test_reveal_shows_the_value_audited_and_never_cached(
    client: Client, alice: User, robot
) -> None:
    sign_in(client, alice)
    response = client.post(f"/settings/api-tokens/{robot.public_id}/reveal/", **htmx())
    assert response.status_code == 200
    assert robot.plain_value in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    entry = AuditRecord.objects.get(event_key=services.EVENT_VALUE_REVEALED)
    assert (entry.actor_id, entry.object_id) == (alice.public_id, robot.public_id)
    assert robot.plain_value not in json.dumps(entry.documents)
    hidden = client.get(f"/settings/api-tokens/{robot.public_id}/hide/", **htmx())
    assert robot.plain_value not in hidden.content.decode()


def test_copy_answers_json_and_records_a_copy(client: Client, alice: User, robot) -> None:
    sign_in(client, alice)
    response = client.post(
        f"/settings/api-tokens/{robot.public_id}/reveal/",
        {"copy": "1"},
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"value": robot.plain_value}
    assert response["Cache-Control"] == "no-store"
    assert AuditRecord.objects.filter(event_key=services.EVENT_VALUE_COPIED).count() == 1


def test_reveal_asks_for_the_password_after_the_window(client: Client, alice: User, robot) -> None:
    sign_in(client, alice, fresh=False)
    url = f"/settings/api-tokens/{robot.public_id}/reveal/"
    prompt = client.post(url, **htmx())
    assert "Enter your password" in prompt.content.decode()
    assert robot.plain_value not in prompt.content.decode()
    as_json = client.post(url, {"copy": "1"}, HTTP_ACCEPT="application/json")
    assert (as_json.status_code, as_json.json()) == (401, {"reauth": True})
    wrong = client.post(url, {"password": "not it"}, **htmx())
    assert wrong.status_code == 400
    assert "The password is not correct." in wrong.content.decode()
    assert not AuditRecord.objects.filter(event_key=services.EVENT_VALUE_REVEALED).exists()
    refused = AuditRecord.objects.get(event_key=services.EVENT_VALUE_REVEAL_FAILED)
    assert (refused.object_id, refused.actor_id) == (robot.public_id, alice.public_id)
    assert refused.account_id == robot.account.public_id
    assert refused.request_ip == "127.0.0.1"
    assert refused.trace_id
    stored = json.dumps(refused.documents) + refused.summary + refused.details
    assert "not it" not in stored
    assert robot.plain_value not in stored
    right = client.post(url, {"password": "correct horse battery staple"}, **htmx())
    assert right.status_code == 200
    assert robot.plain_value in right.content.decode()
    assert AuditRecord.objects.filter(event_key=services.EVENT_VALUE_REVEALED).count() == 1


def test_a_deleted_token_has_no_value_to_reveal(
    client: Client, olivia: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, deleted=True)
    sign_in(client, olivia, account=acme.public_id)
    page = client.get(f"/settings/api-tokens/{token.public_id}/").content.decode()
    assert "Deleted: read-only." in page
    assert "can no longer be shown" in page
    response = client.post(f"/settings/api-tokens/{token.public_id}/reveal/", **htmx())
    assert response.status_code == 409
    assert token.plain_value not in response.content.decode()


@pytest.mark.parametrize("tab", list(TABS))
def test_tabs_do_not_grow_queries_with_records(
    client: Client, alice: User, robot, tab: str
) -> None:
    sign_in(client, alice)
    url = f"/settings/api-tokens/{robot.public_id}/{TABS[tab]}"

    def count() -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = count()
    for _ in range(10):
        services.disable_token(token=robot, actor=Actor.system())
        services.enable_token(token=robot, actor=Actor.system())
    assert count() == few
