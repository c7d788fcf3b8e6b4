"""Lifecycle services (SPEC section 2): state, audit record and error for every transition."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from accounts.models import AccountStatus, Module
from accounts.services import actor_for_user
from apitokens import exposure, module_removal, services
from apitokens import secrets as token_secrets
from apitokens.errors import AccountNotActive, InvalidTransition, TokenDeleted, TokenNotFound
from apitokens.models import ApiToken, TokenStatus
from audit.models import AuditRecord
from audit.types import Actor, RequestContext
from tests.factories import AccountFactory, TokenFactory
from tokens_admin.errors import ValidationFailed

ACTIVE, DISABLED, DELETED = TokenStatus.ACTIVE, TokenStatus.DISABLED, TokenStatus.DELETED


def records_for(token: ApiToken) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(object_id=token.public_id).order_by("seq"))


@pytest.fixture
def alice_actor(alice, acme) -> Actor:
    return actor_for_user(alice, acme)


def test_it_creates_an_active_token_with_its_audit_record(acme, alice_actor):
    modules = list(Module.objects.filter(public_id__in=["MOD-1756", "MOD-1425"]))
    request = RequestContext(
        ip="203.0.113.7", user_agent="pytest", trace_id="00-" + "a" * 32 + "-" + "b" * 16 + "-00"
    )
    created = services.create_token(
        account=acme,
        name="CRM robot",
        description="Syncs the CRM",
        modules=modules,
        actor=alice_actor,
        request=request,
    )
    token = ApiToken.objects.get(pk=created.token.pk)
    assert token.status == ACTIVE
    assert token.account == acme
    assert {m.public_id for m in token.modules.all()} == {"MOD-1756", "MOD-1425"}
    assert token.created_by_id == alice_actor.id
    # Stored only as digest and ciphertext.
    assert created.value not in (token.digest, token.ciphertext)
    assert token.digest == token_secrets.digest(created.value, settings.TOKEN_PEPPER)
    assert services.decrypt_value(token) == created.value
    [entry] = records_for(token)
    assert entry.event_key == services.EVENT_CREATED
    assert entry.actor_id == alice_actor.id
    assert entry.actor_type == "User"
    assert entry.account_id == acme.public_id
    assert entry.request_ip == "203.0.113.7"
    assert entry.documents["token"]["name"] == "CRM robot"
    assert sorted(m["id"] for m in entry.documents["token"]["modules"]) == ["MOD-1425", "MOD-1756"]


@pytest.mark.parametrize(
    ("name", "description", "field"),
    [
        ("", "", "name"),
        ("   ", "", "name"),
        ("x" * 201, "", "name"),
        ("<script>", "", "name"),
        ("line\nbreak", "", "name"),
        ("ok name", "d" * 2001, "description"),
    ],
)
def test_it_refuses_invalid_fields_and_writes_nothing(acme, alice_actor, name, description, field):
    with pytest.raises(ValidationFailed) as caught:
        services.create_token(account=acme, name=name, description=description, actor=alice_actor)
    assert field in caught.value.errors
    assert not ApiToken.objects.exists()
    assert not AuditRecord.objects.filter(event_key=services.EVENT_CREATED).exists()


def test_it_accepts_names_with_allowed_punctuation_and_letters(acme, alice_actor):
    created = services.create_token(
        account=acme, name='Zoë\'s "CRM" robot - v2.0', actor=alice_actor
    )
    assert created.token.name == 'Zoë\'s "CRM" robot - v2.0'


def test_it_refuses_modules_not_enabled_for_the_account(acme, alice_actor):
    catalog = Module.objects.get(public_id="MOD-8352")  # Vendor/Operations only
    with pytest.raises(ValidationFailed) as caught:
        services.create_token(account=acme, name="Robot", modules=[catalog], actor=alice_actor)
    assert "MOD-8352" in caught.value.errors["modules"][0]
    assert not ApiToken.objects.exists()


def test_it_refuses_tokens_for_a_disabled_account(alice_actor):
    account = AccountFactory(status=AccountStatus.DISABLED)
    with pytest.raises(AccountNotActive):
        services.create_token(account=account, name="Robot", actor=alice_actor)


# --- Transitions: every (from, to) pair ------------------------------------------------------

ALLOWED = [(ACTIVE, DISABLED), (DISABLED, ACTIVE), (ACTIVE, DELETED), (DISABLED, DELETED)]
REFUSED = [
    (ACTIVE, ACTIVE),
    (DISABLED, DISABLED),
    (DELETED, ACTIVE),
    (DELETED, DISABLED),
    (DELETED, DELETED),
]


def make_token(account, status):
    return TokenFactory(account=account, status=status)


@pytest.mark.parametrize(("start", "target"), ALLOWED)
def test_allowed_transitions_change_state_and_write_one_record(acme, alice_actor, start, target):
    token = make_token(acme, start)
    before = len(records_for(token))
    changed = services.change_status(token=token, to=target, actor=alice_actor)
    assert changed.status == target
    assert ApiToken.objects.get(pk=token.pk).status == target
    assert changed.updated_by_id == alice_actor.id
    entries = records_for(token)
    assert len(entries) == before + 1
    last = entries[-1]
    assert last.event_key == services.EVENT_STATUS_CHANGED
    assert last.documents["status"] == {"from": start, "to": target}
    assert last.actor_id == alice_actor.id


@pytest.mark.parametrize(("start", "target"), REFUSED)
def test_refused_transitions_change_nothing_and_name_the_status(acme, alice_actor, start, target):
    token = make_token(acme, start)
    before = len(records_for(token))
    expected = TokenDeleted if start == DELETED else InvalidTransition
    with pytest.raises(expected) as caught:
        services.change_status(token=token, to=target, actor=alice_actor)
    assert start in caught.value.message
    assert caught.value.current == start
    assert ApiToken.objects.get(pk=token.pk).status == start
    assert len(records_for(token)) == before


def test_repeated_enable_and_disable_alternate_and_refuse_repeats(acme, alice_actor):
    token = make_token(acme, ACTIVE)
    for _ in range(3):
        services.disable_token(token=token, actor=alice_actor)
        with pytest.raises(InvalidTransition):
            services.disable_token(token=token, actor=alice_actor)
        services.enable_token(token=token, actor=alice_actor)
        with pytest.raises(InvalidTransition):
            services.enable_token(token=token, actor=alice_actor)
    statuses = [
        (r.documents["status"]["from"], r.documents["status"]["to"])
        for r in records_for(token)
        if r.event_key == services.EVENT_STATUS_CHANGED
    ]
    assert statuses == [(ACTIVE, DISABLED), (DISABLED, ACTIVE)] * 3


def test_it_answers_not_found_for_unknown_ids(alice_actor, db):
    with pytest.raises(TokenNotFound):
        services.disable_token(token="TKN-0000-0000", actor=alice_actor)


# --- Update ----------------------------------------------------------------------------------


def test_update_changes_only_given_fields_and_records_before_and_after(acme, alice_actor):
    token = TokenFactory(account=acme, name="Old", description="keep", modules=["MOD-1756"])
    services.update_token(
        token=token,
        name="New",
        modules=list(Module.objects.filter(public_id__in=["MOD-4525"])),
        actor=alice_actor,
    )
    token.refresh_from_db()
    assert token.name == "New"
    assert token.description == "keep"
    assert token.status == ACTIVE
    assert [m.public_id for m in token.modules.all()] == ["MOD-4525"]
    last = records_for(token)[-1]
    assert last.event_key == services.EVENT_UPDATED
    assert last.documents["changes"] == {
        "name": {"before": "Old", "after": "New"},
        "modules": {"before": ["MOD-1756"], "after": ["MOD-4525"]},
    }


def test_update_of_a_disabled_token_keeps_it_disabled(acme, alice_actor):
    token = make_token(acme, DISABLED)
    services.update_token(token=token, description="still off", actor=alice_actor)
    token.refresh_from_db()
    assert token.status == DISABLED
    assert token.description == "still off"


def test_update_without_changes_writes_no_record(acme, alice_actor):
    token = TokenFactory(account=acme, name="Same")
    before = len(records_for(token))
    services.update_token(token=token, name="Same", actor=alice_actor)
    assert len(records_for(token)) == before


def test_update_of_a_deleted_token_is_refused(acme, alice_actor):
    token = make_token(acme, DELETED)
    with pytest.raises(TokenDeleted):
        services.update_token(token=token, name="Back", actor=alice_actor)
    token.refresh_from_db()
    assert token.name != "Back"


def test_update_validation_failure_writes_nothing(acme, alice_actor):
    token = TokenFactory(account=acme, name="Keep")
    before = len(records_for(token))
    with pytest.raises(ValidationFailed):
        services.update_token(token=token, name="", actor=alice_actor)
    token.refresh_from_db()
    assert token.name == "Keep"
    assert len(records_for(token)) == before


# --- Reveal, exposure ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("copied", "event"),
    [(False, services.EVENT_VALUE_REVEALED), (True, services.EVENT_VALUE_COPIED)],
)
def test_reveal_returns_the_value_and_records_who_saw_it(acme, alice_actor, copied, event):
    token = TokenFactory(account=acme)
    value = services.reveal_value(token=token, actor=alice_actor, copied=copied)
    assert value == token.plain_value
    last = records_for(token)[-1]
    assert last.event_key == event
    assert last.actor_id == alice_actor.id
    assert token.plain_value not in str(last.documents) + last.summary + last.details


def test_reveal_of_a_deleted_token_is_refused(acme, alice_actor):
    token = make_token(acme, DELETED)
    with pytest.raises(TokenDeleted):
        services.reveal_value(token=token, actor=alice_actor)


def test_a_wrong_password_at_the_reveal_prompt_is_recorded_without_a_secret(acme, alice_actor):
    token = TokenFactory(account=acme)
    request = RequestContext(ip="203.0.113.5", user_agent="pytest", trace_id="00-" + "c" * 32)
    services.record_reveal_failure(token=token, actor=alice_actor, request=request)
    last = records_for(token)[-1]
    assert last.event_key == services.EVENT_VALUE_REVEAL_FAILED
    assert (last.actor_id, last.account_id) == (alice_actor.id, acme.public_id)
    assert (last.request_ip, last.request_user_agent) == ("203.0.113.5", "pytest")
    assert last.summary
    assert last.details == (
        "Wrong password at the reveal prompt from 203.0.113.5; the value was not shown."
    )
    assert token.plain_value not in str(last.documents) + last.summary + last.details


def test_exposure_is_recorded_with_the_token_as_actor(acme):
    token = TokenFactory(account=acme)
    exposure.record_exposure(token=token, request=RequestContext(ip="198.51.100.1"))
    last = records_for(token)[-1]
    assert last.event_key == exposure.EVENT_EXPOSED
    assert last.actor_type == "ApiToken"
    assert last.actor_id == token.public_id


# --- A failure inside the transaction leaves nothing behind -----------------------------------


def test_a_failing_audit_write_rolls_back_the_change(acme, alice_actor, monkeypatch):
    token = make_token(acme, ACTIVE)
    before = len(records_for(token))

    def boom(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "record", boom)
    with pytest.raises(RuntimeError):
        services.disable_token(token=token, actor=alice_actor)
    assert ApiToken.objects.get(pk=token.pk).status == ACTIVE
    assert len(records_for(token)) == before


def test_a_rolled_back_outer_transaction_takes_the_record_with_it(acme, alice_actor):
    token = make_token(acme, ACTIVE)
    before = len(records_for(token))
    with pytest.raises(ZeroDivisionError), transaction.atomic():  # noqa: PT012
        services.disable_token(token=token, actor=alice_actor)
        1 / 0  # noqa: B018
    assert ApiToken.objects.get(pk=token.pk).status == ACTIVE
    assert len(records_for(token)) == before


# --- Module removal cascades -------------------------------------------------------------------


def test_removing_a_module_from_an_account_strips_it_from_every_token(acme, alice_actor):
    billing = Module.objects.get(public_id="MOD-4525")
    with_billing = [
        TokenFactory(account=acme, modules=["MOD-4525", "MOD-1756"]),
        TokenFactory(account=acme, modules=["MOD-4525"], disabled=True),
    ]
    without = TokenFactory(account=acme, modules=["MOD-1756"])
    other_account_token = TokenFactory(modules=["MOD-4525"])
    removed = module_removal.remove_account_modules(
        account=acme, modules=[billing], actor=alice_actor
    )
    assert removed == [billing]
    assert not acme.modules.filter(pk=billing.pk).exists()
    for token in with_billing:
        assert not token.modules.filter(pk=billing.pk).exists()
        last = records_for(token)[-1]
        assert last.event_key == services.EVENT_UPDATED
        assert "MOD-4525" in last.documents["changes"]["modules"]["before"]
        assert "MOD-4525" not in last.documents["changes"]["modules"]["after"]
    assert len(records_for(without)) == 1
    assert other_account_token.modules.filter(pk=billing.pk).exists()
    account_records = AuditRecord.objects.filter(
        object_id=acme.public_id, event_key=module_removal.EVENT_MODULE_REMOVED
    )
    assert account_records.count() == 1
    # The module can no longer be given to a token of that account.
    with pytest.raises(ValidationFailed):
        services.create_token(account=acme, name="Later", modules=[billing], actor=alice_actor)
