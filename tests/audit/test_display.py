"""How a record reads on the pages: its event in words, and its changes as a diff."""

from __future__ import annotations

from audit.display import Change, changes_of, event_label
from audit.recorder import event_name


def test_an_event_reads_as_words_made_from_its_key() -> None:
    key = "platform.accounts.api_token.status_changed"
    assert event_label(key) == "API token status changed"
    assert event_label(key, event_name(key)) == "API token status changed"
    assert event_label("platform.accounts.user.signed_in", "User signed in") == "User signed in"
    assert event_label("extensions.crm.ip-range.synced") == "IP range synced"


def test_an_event_type_someone_named_keeps_its_name() -> None:
    assert event_label("extensions.crm.contact.synced", "Contact pushed to CRM") == (
        "Contact pushed to CRM"
    )
    assert event_label("extensions.crm.contact.synced", "  ") == "Contact synced"


def test_a_token_edit_becomes_one_change_per_field() -> None:
    documents = {
        "changes": {
            "name": {"before": "CRM robot", "after": "CRM robot 2"},
            "description": {"before": "", "after": "Nightly sync"},
            "modules": {"before": ["MOD-1756", "MOD-9042"], "after": ["MOD-9042", "MOD-4525"]},
        },
        "token": {
            "id": "TKN-1234-5678",
            "modules": [
                {"id": "MOD-9042", "name": "Account Management"},
                {"id": "MOD-4525", "name": "Billing"},
            ],
        },
    }
    assert changes_of(documents) == [
        Change(field="Name", before="CRM robot", after="CRM robot 2"),
        Change(field="Description", before="", after="Nightly sync"),
        Change(field="Modules", added=("Billing (MOD-4525)",), removed=("MOD-1756",)),
    ]


def test_a_status_change_and_an_event_type_edit_read_the_same_way() -> None:
    assert changes_of({"status": {"from": "Active", "to": "Disabled"}, "token": {}}) == [
        Change(field="Status", before="Active", after="Disabled")
    ]
    assert changes_of({"changes": {"allowedIps": {"before": [], "after": ["10.0.0.0/8"]}}}) == [
        Change(field="Allowed ips", added=("10.0.0.0/8",))
    ]


def test_secrets_never_show_even_when_a_document_names_them() -> None:
    documents = {
        "changes": {
            "password": {"before": "hunter2", "after": "correct horse"},
            "note": {"before": "x", "after": "idt:TKN-1234-5678:" + "a" * 64},
        }
    }
    shown = changes_of(documents)
    assert shown[0] == Change(field="Password", before="[MASKED]", after="[MASKED]")
    assert "a" * 64 not in shown[1].after


def test_records_without_changes_have_no_diff() -> None:
    assert changes_of({}) == []
    assert changes_of({"changes": "odd", "status": ["x"]}) == []
    assert changes_of({"changes": {"name": "not a before and after"}}) == []


def test_the_list_cuts_long_values_and_the_dialog_does_not() -> None:
    documents = {"changes": {"description": {"before": "x" * 300, "after": "short"}}}
    assert changes_of(documents, limit=80)[0].before == "x" * 79 + "…"
    assert changes_of(documents)[0].before == "x" * 300


def test_expiries_and_allowlists_read_as_the_pages_write_them() -> None:
    documents = {
        "changes": {
            "expires_at": {"before": "never", "after": "2027-03-04T18:51:35.087Z"},
            "allowed_ips": {"before": [], "after": ["198.51.100.0/24"]},
        }
    }
    expiry, ranges = changes_of(documents)
    assert expiry == Change(field="Expires", before="never", after="04 Mar 2027, 18:51 UTC")
    assert ranges == Change(field="Allowed IPs", added=("198.51.100.0/24",))
