"""The platform's own Python client, unmodified, against the real server over HTTPS."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpt_api_client import MPTClient, RQLQuery
from mpt_api_client.auth import BearerTokenAuthentication
from mpt_api_client.exceptions import MPTAPIError

from apitokens import services
from apitokens.models import ApiToken, TokenStatus
from audit.models import AuditRecord
from audit.types import Actor
from tests.factories import AccountFactory, TokenFactory
from tests.live import LiveServer, https_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory) -> LiveServer:
    with django_db_blocker.unblock(), https_server(Path(tmp_path_factory.mktemp("live"))) as live:
        yield live


@pytest.fixture
def connect(server, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cafile))

    def make(value: str) -> MPTClient:
        return MPTClient.from_config(BearerTokenAuthentication(value), base_url=server.url)

    return make


@pytest.fixture
def acme_world():
    account = AccountFactory(name="Acme")
    admin = TokenFactory(account=account, name="Admin robot", modules=["MOD-1756"])
    for index in range(23):
        TokenFactory(
            account=account,
            name=f"Bot {index:02d}",
            modules=["MOD-1756", "MOD-4525"] if index % 2 else ["MOD-0478"],
            disabled=index % 5 == 0,
        )
    return account, admin


def test_it_lists_pages_iterates_filters_selects_and_orders(connect, acme_world):
    _account, admin = acme_world
    tokens = connect(admin.plain_value).accounts.api_tokens
    page = tokens.fetch_page(limit=10)
    assert len(page) == 10
    assert page.meta.pagination.total == 24
    assert [t.id for t in tokens.iterate(batch_size=7)] == list(
        ApiToken.objects.order_by("-created_at", "-id").values_list("public_id", flat=True)
    )
    query = (
        tokens.filter(RQLQuery(status="Active"))
        .filter(RQLQuery(name__ilike="Bot*"))
        .select("+modules", "-description")
        .order_by("-name")
    )
    found = list(query.iterate())
    expected = sorted(
        ApiToken.objects.filter(status="Active", name__startswith="Bot").values_list(
            "name", flat=True
        ),
        reverse=True,
    )
    assert [t.name for t in found] == expected
    assert all(t.modules for t in found)
    assert {m.id for m in found[0].modules} <= {"MOD-1756", "MOD-4525", "MOD-0478"}


def test_it_creates_gets_updates_enables_disables_and_deletes(connect, acme_world):
    account, admin = acme_world
    tokens = connect(admin.plain_value).accounts.api_tokens
    created = tokens.create(
        {
            "account": {"id": account.public_id},
            "name": "Client-made",
            "modules": [{"id": "MOD-1756"}],
        }
    )
    assert created.token.startswith(f"idt:{created.id}:")
    assert created.status == "Active"
    fetched = tokens.get(created.id, select=["+modules"])
    assert fetched.name == "Client-made"
    assert [m.id for m in fetched.modules] == ["MOD-1756"]
    updated = tokens.update(created.id, {"name": "Renamed", "description": "via the client"})
    assert (updated.name, updated.description) == ("Renamed", "via the client")
    assert tokens.disable(created.id).status == "Disabled"
    assert tokens.enable(created.id).status == "Active"
    tokens.delete(created.id)
    assert ApiToken.objects.get(public_id=created.id).status == TokenStatus.DELETED
    events = list(
        AuditRecord.objects.filter(object_id=created.id)
        .order_by("seq")
        .values_list("event_key", flat=True)
    )
    assert [e.rsplit(".", 1)[1] for e in events] == [
        "created",
        "updated",
        "status_changed",
        "status_changed",
        "status_changed",
    ]


def test_expiry_through_the_client_create_filter_and_refusal(connect, acme_world):
    # issue 16's fields are additive: the client sends and reads them as plain JSON.
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    _account, admin = acme_world
    tokens = connect(admin.plain_value).accounts.api_tokens
    when = (timezone.now() + timedelta(days=7)).astimezone(UTC).replace(microsecond=0)
    wanted = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    created = tokens.create({"name": "Weekly", "expiresAt": wanted})
    assert created.expires_at == wanted  # (the client reads camelCase as snake_case)
    cutoff = (when + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    found = list(tokens.filter(RQLQuery(expiresAt__lt=cutoff)).iterate())
    assert [t.id for t in found] == [created.id]
    ApiToken.objects.filter(public_id=created.id).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert tokens.get(created.id).status == "Expired"
    with pytest.raises(MPTAPIError) as caught:
        connect(created.token).accounts.api_tokens.get(created.id)
    assert caught.value.status_code == 401
    assert "expired" in str(caught.value)
    refused = tokens.filter(RQLQuery(status="Expired"))
    assert [t.id for t in refused.iterate()] == [created.id]


def test_a_rotated_token_reads_and_works_through_the_client(connect, server, acme_world):
    # The client has no rotate action of its own: the call is plain HTTPS; what it reads back
    # (the rotation field) and the new value go through the client.
    import ssl

    import httpx

    _account, admin = acme_world
    robot = TokenFactory(account=admin.account, name="Rotating robot")
    rotated = httpx.post(
        f"{server.url}/public/v1/accounts/api-tokens/{robot.public_id}/rotate",
        json={"gracePeriod": 600},
        headers={"Authorization": f"Bearer {robot.plain_value}"},
        verify=ssl.create_default_context(cafile=str(server.cafile)),
    )
    assert rotated.status_code == 200, rotated.text
    new_value = rotated.json()["token"]
    fetched = connect(new_value).accounts.api_tokens.get(robot.public_id)
    assert fetched.rotation.previous_valid_until == rotated.json()["rotation"]["previousValidUntil"]
    # The old value still works through the client during the grace period.
    assert connect(robot.plain_value).accounts.api_tokens.get(robot.public_id).id == robot.public_id


@pytest.mark.parametrize("operation", ["get", "update", "delete", "enable", "disable"])
def test_unknown_ids_raise_404_not_found(connect, acme_world, operation):
    _, admin = acme_world
    tokens = connect(admin.plain_value).accounts.api_tokens
    call = {
        "get": lambda: tokens.get("TKN-0000-0000"),
        "update": lambda: tokens.update("TKN-0000-0000", {"name": "x"}),
        "delete": lambda: tokens.delete("TKN-0000-0000"),
        "enable": lambda: tokens.enable("TKN-0000-0000"),
        "disable": lambda: tokens.disable("TKN-0000-0000"),
    }[operation]
    with pytest.raises(MPTAPIError) as caught:
        call()
    assert caught.value.status_code == 404
    assert str(caught.value).startswith("404 Not Found - ")
    assert caught.value.trace_id


def test_modules_with_an_operations_token(connect):
    ops = AccountFactory(name="Ops", operations=True)
    token = TokenFactory(account=ops, modules=["MOD-6271"])
    modules = connect(token.plain_value).accounts.modules
    assert modules.fetch_page().meta.pagination.total == 9
    assert modules.get("MOD-1756").name == "Access Management"
    assert [m.id for m in modules.filter(RQLQuery(name="Billing")).iterate()] == ["MOD-4525"]


def test_audit_records_and_event_types(connect):
    vendor = AccountFactory(name="Vendor", vendor=True)
    token = TokenFactory(account=vendor, name="Vendor robot", modules=["MOD-1756"])
    client = connect(token.plain_value)
    records = client.audit.records
    mine = list(records.filter(RQLQuery(**{"object.id": token.public_id})).iterate())
    assert [r.event for r in mine] == ["platform.accounts.api_token.created"]
    assert records.get(mine[0].id).object.id == token.public_id
    created = records.create(
        {
            "event": "extensions.sync.done",
            "object": {"id": "JOB-1", "name": "Nightly"},
            "summary": "{{ object.name }} finished",
        }
    )
    assert created.actor.id == token.public_id
    rendered = records.options(render=True).get(created.id)
    assert rendered.summary == "Nightly finished"
    rendered_list = list(
        records.options(render=True).filter(RQLQuery(**{"object.id": "JOB-1"})).iterate()
    )
    assert [r.summary for r in rendered_list] == ["Nightly finished"]
    types = client.audit.event_types
    [created_type] = list(types.filter(RQLQuery(key="extensions.sync.done")).iterate())
    assert types.get(created_type.id).key == "extensions.sync.done"
    assert types.fetch_page().meta.pagination.total >= 2
    assert types.update(created_type.id, {"name": "Sync done"}).name == "Sync done"


def test_a_token_is_refused_on_the_request_right_after_its_disable_commits(connect, acme_world):
    account, admin = acme_world
    victim = TokenFactory(account=account, name="Victim", modules=["MOD-1756"])
    victim_client = connect(victim.plain_value).accounts.api_tokens
    assert victim_client.get(victim.public_id).id == victim.public_id
    # Disabled through the API (the server's own transaction)...
    connect(admin.plain_value).accounts.api_tokens.disable(victim.public_id)
    with pytest.raises(MPTAPIError) as caught:
        victim_client.get(victim.public_id)
    assert caught.value.status_code == 401
    assert "disabled" in str(caught.value)
    # ...and directly in the database, from this process's own connection.
    services.enable_token(token=victim.public_id, actor=Actor.system())
    assert victim_client.get(victim.public_id).status == "Active"
    services.delete_token(token=victim.public_id, actor=Actor.system())
    with pytest.raises(MPTAPIError) as caught:
        victim_client.fetch_page()
    assert caught.value.status_code == 401


def test_the_clients_own_projection_and_render_on_modules_and_audit_records(connect):
    """Issue 13: what the platform's client sends for modules and records, over HTTPS."""
    ops = AccountFactory(name="Ops", operations=True)
    token = TokenFactory(account=ops, name="Ops robot", modules=["MOD-6271", "MOD-1756"])
    client = connect(token.plain_value)
    modules = (
        client.accounts.modules.filter(RQLQuery(id="MOD-1756"))
        .filter(RQLQuery(name="Access Management"))
        .select("-description")
    )
    [module] = list(modules.iterate())
    assert module.id == "MOD-1756"
    assert module.name == "Access Management"
    assert "description" not in module.to_dict()
    records = client.audit.records
    records.create(
        {
            "event": "extensions.sync.done",
            "object": {"id": "JOB-1", "name": "Nightly"},
            "summary": "{{ object.name }} finished",
            "details": "{{ actor.name }} ran {{ object.name }}",
        }
    )
    listed = list(records.options(render=True).iterate())
    assert len(listed) >= 2
    ids = [r.id for r in listed]
    fetched = [
        *(records.options(render=True).get(i) for i in ids),
        *(records.get(i, select=["object", "actor"]) for i in ids),
        *(records.options(render=True).get(i, select=["object", "actor"]) for i in ids),
        *records.options(render=True).select("object", "actor").iterate(),
    ]
    for record in [*listed, *fetched]:
        assert record.details
        assert record.object.id
        assert record.actor.id
    for record in [*listed, *fetched[: len(ids)], *fetched[2 * len(ids) :]]:
        assert "{{" not in record.details + record.summary
        assert "}}" not in record.details + record.summary
    [job] = [r for r in listed if r.object.id == "JOB-1"]
    assert (job.summary, job.details) == ("Nightly finished", "Ops robot ran Nightly")


def test_allowed_ips_through_the_client(connect, acme_world):
    # issue 17's field is additive too: sent and read as plain JSON, and a token used from
    # outside its ranges is an API error the client raises with the status and the detail.
    _account, admin = acme_world
    tokens = connect(admin.plain_value).accounts.api_tokens
    created = tokens.create({"name": "Fenced", "allowedIps": ["198.51.100.0/24"]})
    assert created.allowed_ips == ["198.51.100.0/24"]
    opened = tokens.update(created.id, {"allowedIps": ["127.0.0.0/8", "::1"]})
    assert opened.allowed_ips == ["127.0.0.0/8", "::1/128"]
    assert connect(created.token).accounts.api_tokens.get(created.id).id == created.id
    tokens.update(created.id, {"allowedIps": ["198.51.100.0/24"]})
    with pytest.raises(MPTAPIError) as caught:
        connect(created.token).accounts.api_tokens.get(created.id)
    assert caught.value.status_code == 403
    assert "cannot be used from" in str(caught.value)
