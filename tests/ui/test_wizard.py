"""The Add API token wizard and the Edit dialog, through Django's test client: each step, the
signed state, validation next to fields, logo checks, htmx fragments and full pages."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone
from PIL import Image

from accounts.models import Account, User
from accounts.services import actor_for_user
from apitokens import new_values, services
from apitokens.errors import AlreadyCreated
from apitokens.models import ApiToken
from apitokens.secrets import generate_value, parse_value
from audit.models import AuditRecord
from tests.factories import TokenFactory
from tests.ui.conftest import SecureClient, htmx, sign_in

ADD = "/settings/api-tokens/add/"


def state_of(body: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', body)
    assert found is not None
    return found.group(1)


def shown_value(body: str) -> str | None:
    """The new value on a Summary: the readonly field that holds it, if there is one."""
    field = re.search(r"<input[^>]*\bdata-secret-value\b[^>]*>", body)
    if field is None:
        return None
    value = re.search(r'\bvalue="([^"]+)"', field.group(0))
    assert value is not None
    return value.group(1)


def png(size: tuple[int, int] = (32, 32)) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "logo.png"
    return buffer


def close_file(response: object) -> None:
    """A WSGI server closes a FileResponse's file; the test client leaves that to the test
    (``response.close()`` would also close the test's database connection)."""
    for close in getattr(response, "_resource_closers", []):
        close()


def walk_to_overview(client: Client, **general: object) -> str:
    first = client.get(ADD).content.decode()
    data = {"state": state_of(first), "step": "general", "name": "CRM robot", **general}
    modules = client.post(ADD, data, follow=True).content.decode()
    assert "Search modules" in modules
    overview = client.post(
        ADD,
        {"state": state_of(modules), "step": "modules", "modules": ["MOD-1756", "MOD-4525"]},
        follow=True,
    ).content.decode()
    assert "Overview" in overview
    return overview


def test_it_walks_the_wizard_and_shows_the_value_once(
    client: Client, alice: User, acme: Account
) -> None:
    sign_in(client, alice)
    page = client.get(ADD)
    body = page.content.decode()
    assert page.status_code == 200
    assert 'placeholder="Enter API token name"' in body
    assert 'placeholder="Enter description"' in body
    assert "Max file size is 5MB. Supported file types are .jpg &amp; .png" in body
    overview = walk_to_overview(client, description="")
    assert "Access Management" in overview
    assert "Billing" in overview
    assert "<dt>Description</dt><dd>—</dd>" in overview
    assert not ApiToken.objects.exists()
    posted = client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    token = ApiToken.objects.get()
    assert posted.status_code == 303
    assert posted["Location"] == f"/settings/api-tokens/{token.public_id}/created/"
    done = client.get(posted["Location"])
    summary = done.content.decode()
    assert done.status_code == 200
    assert done["Cache-Control"] == "no-store"
    assert "This API token has been created successfully." in summary
    assert "Click view details below to go to the API token details page." in summary
    value = shown_value(summary)
    assert value is not None
    assert parse_value(value).token_id == token.public_id
    assert sorted(token.modules.values_list("public_id", flat=True)) == ["MOD-1756", "MOD-4525"]
    created = AuditRecord.objects.get(event_key="platform.accounts.api_token.created")
    assert created.actor_id == alice.public_id
    assert value not in str(created.documents)
    # The value is in no later page.
    details = client.get(f"/settings/api-tokens/{token.public_id}/").content.decode()
    assert value not in details


def test_it_goes_back_without_losing_what_was_entered(client: Client, alice: User) -> None:
    sign_in(client, alice)
    overview = walk_to_overview(client, description="Nightly")
    back = client.post(
        ADD, {"state": state_of(overview), "step": "overview", "nav": "back"}, follow=True
    )
    body = back.content.decode()
    assert re.search(r'value="MOD-1756"[^>]*checked', body)
    assert not re.search(r'value="MOD-9042"[^>]*checked', body)
    general = client.post(
        ADD,
        {"state": state_of(body), "step": "modules", "nav": "back", "modules": ["MOD-1756"]},
        follow=True,
    ).content.decode()
    assert 'value="CRM robot"' in general
    assert "Nightly" in general


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "API token name is required."), ("bad<name>", "letters"), ("x" * 201, "200")],
)
def test_it_shows_name_errors_next_to_the_field(
    client: Client, alice: User, name: str, message: str
) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    response = client.post(
        ADD, {"state": state_of(first), "step": "general", "name": name}, follow=True
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert 'class="field has-error"' in body
    assert message in body
    assert not ApiToken.objects.exists()


def test_it_refuses_a_tampered_state(client: Client, alice: User) -> None:
    sign_in(client, alice)
    overview = walk_to_overview(client)
    forged = state_of(overview)[:-4] + "AAAA"
    response = client.post(ADD, {"state": forged, "step": "overview", "nav": "add"}, follow=True)
    assert response.status_code == 200
    assert "The form expired" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_it_refuses_a_module_the_account_does_not_have(client: Client, alice: User) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    modules = client.post(
        ADD, {"state": state_of(first), "step": "general", "name": "X"}, follow=True
    )
    # Catalog Management is for Vendor and Operations accounts: not offered to a Client.
    assert "MOD-8352" not in modules.content.decode()
    response = client.post(
        ADD,
        {"state": state_of(modules.content.decode()), "step": "modules", "modules": "MOD-8352"},
        follow=True,
    )
    assert response.status_code == 400
    assert "MOD-8352" in response.content.decode()


def test_it_stores_a_real_logo_under_a_random_name(client: Client, alice: User) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    modules = client.post(
        ADD,
        {"state": state_of(first), "step": "general", "name": "Logo bot", "logo": png()},
        follow=True,
    ).content.decode()
    overview = client.post(
        ADD, {"state": state_of(modules), "step": "modules"}, follow=True
    ).content.decode()
    icon = re.search(r'<img src="(/media/logos/([^/"]+)/[^"]+)"', overview)
    assert icon is not None
    assert icon.group(2) == alice.memberships.get().account.public_id
    assert "logo" not in icon.group(1).rsplit("/", 1)[1].removesuffix(".png")
    client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    assert ApiToken.objects.get().icon == icon.group(1)
    served = client.get(icon.group(1))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content).startswith(b"\x89PNG")
    close_file(served)


def test_a_logo_is_served_only_within_its_account(
    client: Client, alice: User, bob: User, charlie: User, olivia: User, acme: Account
) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    modules = client.post(
        ADD,
        {"state": state_of(first), "step": "general", "name": "Logo bot", "logo": png()},
        follow=True,
    ).content.decode()
    overview = client.post(
        ADD, {"state": state_of(modules), "step": "modules"}, follow=True
    ).content.decode()
    icon = re.search(r'<img src="(/media/logos/[^"]+)"', overview)
    assert icon is not None
    url = icon.group(1)

    def status(visitor: Client, path: str = url) -> int:
        response = visitor.get(path, secure=True)
        close_file(response)
        return int(response.status_code)

    assert status(client) == 200
    assert status(sign_in(Client(), charlie)) == 404
    assert status(sign_in(Client(), bob)) == 403
    assert status(sign_in(Client(), olivia, account=acme.public_id)) == 200
    assert status(Client()) == 302
    assert client.get(url.replace(acme.public_id, "ACC-0000-0000")).status_code == 404
    assert client.get("/media/logos/../../dev-secrets.json").status_code == 404


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"GIF89a" + b"\x00" * 20, "logo.png", "not a valid .jpg or .png image"),
        (b"%PDF-1.4", "logo.pdf", "Supported file types are .jpg &amp; .png"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "logo.png", "not a valid .jpg or .png image"),
    ],
)
def test_it_refuses_what_is_not_a_jpg_or_png(
    client: Client, alice: User, content: bytes, filename: str, message: str
) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    upload = io.BytesIO(content)
    upload.name = filename
    response = client.post(
        ADD,
        {"state": state_of(first), "step": "general", "name": "Logo bot", "logo": upload},
        follow=True,
    )
    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_refuses_an_image_with_too_many_pixels(client: Client, alice: User) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    response = client.post(
        ADD,
        {"state": state_of(first), "step": "general", "name": "Big", "logo": png((5000, 10))},
        follow=True,
    )
    assert response.status_code == 400
    assert "at most 4096 by 4096 pixels" in response.content.decode()


def test_it_answers_htmx_with_the_wizard_fragment(client: Client, alice: User) -> None:
    sign_in(client, alice)
    response = client.get(ADD, **htmx())
    body = response.content.decode()
    assert "<html" not in body
    assert body.lstrip().startswith('<form class="wizard" id="wizard"')
    assert "HX-Request" in response["Vary"]


def test_edit_has_both_tabs_in_one_form_and_saves_all_of_it(
    client: Client, alice: User, acme: Account
) -> None:
    # Issue 15, item 3: a name changed on General survives a look at Modules, and Save saves
    # both.
    token = TokenFactory(account=acme, name="CRM robot", description="Old", modules=["MOD-1756"])
    sign_in(client, alice)
    url = f"/settings/api-tokens/{token.public_id}/edit/"
    general = client.get(url).content.decode()
    assert 'value="CRM robot"' in general
    assert re.search(r">\s*Old</textarea>", general)
    assert re.search(r'value="MOD-1756"[^>]*checked', general)
    assert re.search(r'id="edit-tab-general"[^>]*checked', general)
    assert general.count("<form") == 2  # the dialog's one form, and Sign out
    modules = client.get(f"{url}?step=modules").content.decode()
    assert re.search(r'id="edit-tab-modules"[^>]*checked', modules)
    assert 'value="CRM robot"' in modules
    response = client.post(
        url,
        {
            "step": "modules",
            "name": "CRM robot 2",
            "description": "New",
            "modules": ["MOD-4525"],
            "origin": "details",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/settings/api-tokens/{token.public_id}/"
    token.refresh_from_db()
    assert (token.name, token.description, token.status) == ("CRM robot 2", "New", "Active")
    assert list(token.modules.values_list("public_id", flat=True)) == ["MOD-4525"]
    update = AuditRecord.objects.filter(event_key="platform.accounts.api_token.updated").get()
    assert update.actor_id == alice.public_id
    assert set(update.documents["changes"]) == {"name", "description", "modules"}


def test_edit_shows_the_tab_with_the_error_and_keeps_the_other(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot", modules=["MOD-1756"])
    sign_in(client, alice)
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/edit/",
        {"step": "modules", "name": "", "modules": ["MOD-4525"]},
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'id="edit-tab-general"[^>]*checked', body)
    assert "API token name is required." in body
    assert re.search(r'value="MOD-4525"[^>]*checked', body)
    assert not re.search(r'value="MOD-1756"[^>]*checked', body)
    token.refresh_from_db()
    assert token.name == "CRM robot"
    assert not AuditRecord.objects.filter(event_key="platform.accounts.api_token.updated").exists()


def test_edit_from_the_list_swaps_the_row_for_htmx(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="CRM robot")
    sign_in(client, alice)
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/edit/",
        {"step": "general", "name": "Renamed", "origin": "list"},
        **htmx(),
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == f"#token-{token.public_id}"
    assert response.content.decode().lstrip().startswith(f'<tr id="token-{token.public_id}"')
    assert "Renamed" in response.content.decode()


def test_edit_refuses_a_deleted_token(client: Client, olivia: User, acme: Account) -> None:
    token = TokenFactory(account=acme, deleted=True)
    sign_in(client, olivia, account=acme.public_id)
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/edit/", {"step": "general", "name": "Back"}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.name != "Back"
    assert not AuditRecord.objects.filter(event_key="platform.accounts.api_token.updated").exists()


def test_edit_of_a_deleted_token_sends_htmx_to_its_details_with_the_message(
    client: Client, olivia: User, acme: Account
) -> None:
    # A plain 302 would be followed inside the XHR and swap the details page into the dialog.
    token = TokenFactory(account=acme, deleted=True)
    sign_in(client, olivia, account=acme.public_id)
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/edit/",
        {"step": "general", "name": "Back", "origin": "list"},
        **htmx(),
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/settings/api-tokens/{token.public_id}/"
    page = client.get(response["HX-Redirect"]).content.decode()
    assert '<p class="message message-error">A deleted API token cannot be edited.</p>' in page


def test_the_summary_shows_the_value_on_its_first_get_only(client: Client, alice: User) -> None:
    sign_in(client, alice)
    overview = walk_to_overview(client)
    posted = client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    first = client.get(posted["Location"]).content.decode()
    value = shown_value(first)
    assert value is not None
    again = client.get(posted["Location"])
    body = again.content.decode()
    assert again.status_code == 200
    assert again["Cache-Control"] == "no-store"
    assert "This API token has been created successfully." in body
    assert value not in body
    assert "data-secret-value" not in body
    assert "The value was shown once" in body
    token = ApiToken.objects.get()
    assert f'href="/settings/api-tokens/{token.public_id}/"' in body


@pytest.mark.parametrize("with_htmx", [False, True], ids=["page", "htmx"])
def test_posting_the_same_wizard_again_creates_no_second_token(
    client: Client, alice: User, with_htmx: bool
) -> None:
    sign_in(client, alice)
    overview = walk_to_overview(client)
    data = {"state": state_of(overview), "step": "overview", "nav": "add"}
    headers = htmx() if with_htmx else {}
    first = client.post(ADD, data, **headers)
    token = ApiToken.objects.get()
    if with_htmx:
        # The dialog keeps showing the Summary in place, with the value.
        assert first.status_code == 201
        assert first["Cache-Control"] == "no-store"
        assert "data-secret-value" in first.content.decode()
    second = client.post(ADD, data, **headers)
    assert ApiToken.objects.count() == 1
    assert AuditRecord.objects.filter(event_key="platform.accounts.api_token.created").count() == 1
    if with_htmx:
        assert second.status_code == 200
        assert token.public_id in second.content.decode()
        assert "data-secret-value" not in second.content.decode()
    else:
        assert second.status_code == 303
        assert second["Location"] == f"/settings/api-tokens/{token.public_id}/created/"


def test_a_new_wizard_creates_a_new_token(client: Client, alice: User) -> None:
    sign_in(client, alice)
    for _ in range(2):
        overview = walk_to_overview(client)
        client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    assert ApiToken.objects.count() == 2


def test_another_accounts_summary_is_not_found(client: Client, alice: User, charlie: User) -> None:
    sign_in(client, alice)
    overview = walk_to_overview(client)
    posted = client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    outsider = sign_in(Client(), charlie)
    assert outsider.get(posted["Location"], secure=True).status_code == 404


# --- Issue 15: no-JS steps are Post/Redirect/Get; creating and showing the value happen once --

WIZARD_URL = re.compile(
    r"^/settings/api-tokens/add/\?wizard=([A-Za-z0-9_-]+)&step=(general|modules|overview)$"
)


def redirected_step(response: object) -> tuple[str, str]:
    """The wizard id and step a no-JS POST redirected to (303, to a GET page)."""
    assert getattr(response, "status_code", None) == 303
    found = WIZARD_URL.match(response["Location"])  # type: ignore[index]
    assert found is not None, response["Location"]  # type: ignore[index]
    return found.group(1), found.group(2)


def test_every_no_js_step_answers_303_to_a_get_page(client: Client, alice: User) -> None:
    # Back in the browser must never meet "Confirm form resubmission": every POST ends in a
    # redirect to a GET page, which finds the wizard's state again in the session.
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    posted = client.post(
        ADD,
        {
            "state": state_of(first),
            "step": "general",
            "name": "PRG robot",
            "description": "Nightly",
        },
    )
    wizard, step = redirected_step(posted)
    assert step == "modules"
    modules = client.get(posted["Location"])
    assert modules.status_code == 200
    assert "Search modules" in modules.content.decode()

    to_overview = client.post(
        ADD,
        {"state": state_of(modules.content.decode()), "step": "modules", "modules": ["MOD-1756"]},
    )
    assert redirected_step(to_overview) == (wizard, "overview")
    for _ in range(2):  # a reload, or Back to it later, shows the same step again
        overview = client.get(to_overview["Location"]).content.decode()
        assert "<dt>API token name</dt><dd>PRG robot</dd>" in overview
        assert "MOD-1756" in overview

    back = client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "back"})
    assert redirected_step(back) == (wizard, "modules")
    assert re.search(r'value="MOD-1756"[^>]*checked', client.get(back["Location"]).content.decode())
    general = client.get(f"{ADD}?wizard={wizard}&step=general").content.decode()
    assert 'value="PRG robot"' in general
    assert "Nightly" in general
    assert not ApiToken.objects.exists()


def test_a_step_with_errors_is_a_get_page_too(client: Client, alice: User) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    posted = client.post(ADD, {"state": state_of(first), "step": "general", "name": "bad<name>"})
    wizard, step = redirected_step(posted)
    assert step == "general"
    for _ in range(2):  # a reload shows the same errors, and posts nothing
        page = client.get(posted["Location"])
        body = page.content.decode()
        assert page.status_code == 400
        assert 'class="field has-error"' in body
        assert 'value="bad&lt;name&gt;"' in body
        assert 'aria-invalid="true"' in body
        assert "may contain letters, digits, spaces" in body
    fixed = client.post(ADD, {"state": state_of(body), "step": "general", "name": "Good name"})
    assert redirected_step(fixed) == (wizard, "modules")
    general = client.get(f"{ADD}?wizard={wizard}&step=general").content.decode()
    assert "has-error" not in general
    assert 'value="Good name"' in general


def test_a_refused_description_keeps_the_value_out_of_the_session_and_the_url(
    client: Client, alice: User
) -> None:
    sign_in(client, alice)
    leaked = generate_value("TKN-1111-2222")
    first = client.get(ADD).content.decode()
    posted = client.post(
        ADD,
        {"state": state_of(first), "step": "general", "name": "Leak", "description": leaked},
    )
    redirected_step(posted)
    assert leaked not in posted["Location"]
    page = client.get(posted["Location"])
    assert page.status_code == 400
    assert "Must not contain an API token value" in page.content.decode()
    assert leaked not in page.content.decode()
    assert leaked not in repr(client.session.load())


def test_an_unknown_wizard_starts_again(client: Client, alice: User, bob: User) -> None:
    sign_in(client, alice)
    response = client.get(f"{ADD}?wizard=nothing-here&step=overview", follow=True)
    assert response.redirect_chain == [(ADD, 303)]
    assert "The form expired. Please start again." in response.content.decode()
    # A wizard lives in its session: another person cannot open it from its URL.
    first = client.get(ADD).content.decode()
    posted = client.post(ADD, {"state": state_of(first), "step": "general", "name": "Mine"})
    stranger = sign_in(Client(), bob).get(posted["Location"], secure=True)
    assert "Mine" not in stranger.content.decode()


def test_htmx_steps_still_swap_in_place(client: Client, alice: User) -> None:
    sign_in(client, alice)
    first = client.get(ADD, **htmx()).content.decode()
    modules = client.post(
        ADD, {"state": state_of(first), "step": "general", "name": "Dialog"}, **htmx()
    )
    assert modules.status_code == 200
    assert modules.content.decode().lstrip().startswith('<form class="wizard" id="wizard"')
    assert "Search modules" in modules.content.decode()
    refused = client.post(ADD, {"state": state_of(first), "step": "general", "name": ""}, **htmx())
    assert refused.status_code == 400
    assert "API token name is required." in refused.content.decode()


def test_a_creation_key_creates_once(alice: User, acme: Account) -> None:
    actor = actor_for_user(alice, acme)
    first = services.create_token(account=acme, name="Once", actor=actor, once="nonce-1")
    with pytest.raises(AlreadyCreated) as again:
        services.create_token(account=acme, name="Once", actor=actor, once="nonce-1")
    assert again.value.token == first.token
    assert ApiToken.objects.count() == 1
    assert AuditRecord.objects.filter(event_key="platform.accounts.api_token.created").count() == 1
    services.create_token(account=acme, name="Once", actor=actor, once="nonce-2")
    assert ApiToken.objects.count() == 2


def test_the_new_value_is_claimed_once(alice: User, bob: User, acme: Account) -> None:
    actor = actor_for_user(alice, acme)
    created = services.create_token(account=acme, name="Shown", actor=actor, once="nonce-3")
    # Only its creator may claim it.
    assert new_values.claim_new_value(token=created.token, actor=actor_for_user(bob, acme)) is None
    assert new_values.claim_new_value(token=created.token, actor=actor) == created.value
    assert new_values.claim_new_value(token=created.token, actor=actor) is None
    # A token made without a wizard (the API, a command) has no Summary to show it on.
    plain = services.create_token(account=acme, name="Plain", actor=actor)
    assert new_values.claim_new_value(token=plain.token, actor=actor) is None


def test_the_new_value_is_not_shown_long_after_the_create(alice: User, acme: Account) -> None:
    actor = actor_for_user(alice, acme)
    created = services.create_token(account=acme, name="Late", actor=actor, once="nonce-4")
    ApiToken.objects.filter(pk=created.token.pk).update(
        created_at=timezone.now() - new_values.NEW_VALUE_WINDOW - timedelta(seconds=1)
    )
    created.token.refresh_from_db()
    assert new_values.claim_new_value(token=created.token, actor=actor) is None


def at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls in threads, released together; each thread closes its connections."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        start.wait()
        try:
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def twin(client: Client) -> Client:
    """Another browser tab: the same session cookie."""
    other = SecureClient()
    other.cookies = SimpleCookie(client.cookies)
    return other


@pytest.mark.django_db(transaction=True)
def test_two_final_posts_at_once_create_one_token(alice: User) -> None:
    client = sign_in(SecureClient(), alice)
    overview = walk_to_overview(client)
    data = {"state": state_of(overview), "step": "overview", "nav": "add"}
    tabs = [client, twin(client), twin(client)]
    answers = at_once([lambda tab=tab: tab.post(ADD, data) for tab in tabs])
    token = ApiToken.objects.get()
    assert AuditRecord.objects.filter(event_key="platform.accounts.api_token.created").count() == 1
    # Every tab goes to that token's Summary.
    assert {a["Location"] for a in answers} == {f"/settings/api-tokens/{token.public_id}/created/"}  # type: ignore[index]


@pytest.mark.django_db(transaction=True)
def test_two_summaries_at_once_show_the_value_once(alice: User) -> None:
    client = sign_in(SecureClient(), alice)
    overview = walk_to_overview(client)
    posted = client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    tabs = [client, twin(client), twin(client)]
    pages = at_once([lambda tab=tab: tab.get(posted["Location"]) for tab in tabs])
    shown = [shown_value(p.content.decode()) for p in pages]  # type: ignore[attr-defined]
    assert len([v for v in shown if v]) == 1, shown


NO_MODULES = "This API token can call nothing"


def test_it_warns_of_a_token_without_modules(client: Client, alice: User, acme: Account) -> None:
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    modules = client.post(
        ADD, {"state": state_of(first), "step": "general", "name": "Idle"}, follow=True
    ).content.decode()
    # Always there on the Modules step; the stylesheet hides it while a box is ticked.
    assert NO_MODULES in modules
    overview = client.post(
        ADD, {"state": state_of(modules), "step": "modules"}, follow=True
    ).content.decode()
    assert NO_MODULES in overview
    chosen = client.post(
        ADD, {"state": state_of(modules), "step": "modules", "modules": ["MOD-1756"]}, follow=True
    ).content.decode()
    assert NO_MODULES not in chosen
    TokenFactory(account=acme, name="Idle", modules=[])
    TokenFactory(account=acme, name="Busy", modules=["MOD-1756", "MOD-4525"])
    listing = client.get("/settings/api-tokens/").content.decode()
    assert re.search(r'<td data-label="Modules">\s*<span class="muted">No modules</span>', listing)
    assert re.search(r'<td data-label="Modules">\s*2 modules', listing)


def test_the_name_rule_is_shown_before_anyone_fails_it(client: Client, alice: User) -> None:
    sign_in(client, alice)
    body = client.get(ADD).content.decode()
    field = re.search(r'<input[^>]*name="name"[^>]*>', body)
    assert field is not None
    described = re.search(r'aria-describedby="([^"]+)"', field.group(0))
    assert described is not None
    hint = re.search(rf'<p class="hint" id="{described.group(1)}">([^<]+)</p>', body)
    assert hint is not None
    assert "Letters, digits, spaces and - . &#x27; &quot; only" in hint.group(1)
    assert "at most 200 characters" in hint.group(1)


def test_full_pages_have_a_main_heading_and_dialogs_keep_theirs(
    client: Client, alice: User, acme: Account
) -> None:
    token = TokenFactory(account=acme, name="Headed")
    sign_in(client, alice)
    for url in (
        ADD,
        f"/settings/api-tokens/{token.public_id}/edit/",
        f"/settings/api-tokens/{token.public_id}/disable/",
    ):
        page = client.get(url).content.decode()
        fragment = client.get(url, **htmx()).content.decode()
        assert page.count("<h1") == 1, url
        assert '<h1 id="dialog-title"' in page, url
        assert "<h1" not in fragment, url
        assert '<h2 id="dialog-title"' in fragment, url
    wizard = client.get(ADD).content.decode()
    assert re.search(r'<h2 class="step-title"[^>]*>General</h2>', wizard)
    dialog = client.get(ADD, **htmx()).content.decode()
    assert re.search(r'<h3 class="step-title"[^>]*>General</h3>', dialog)
    overview = walk_to_overview(client)
    posted = client.post(ADD, {"state": state_of(overview), "step": "overview", "nav": "add"})
    summary = client.get(posted["Location"]).content.decode()
    assert '<h1 id="dialog-title"' in summary


def test_htmx_on_the_wizards_own_page_keeps_its_main_heading(client: Client, alice: User) -> None:
    # The wizard opened as a page of its own with JavaScript on (a new tab, a bookmark): its
    # steps swap in place with htmx, and the page must keep its h1 (axe page-has-heading-one);
    # from the list, the same request lands in the dialog, under the list's h1.
    sign_in(client, alice)
    first = client.get(ADD).content.decode()
    data = {"state": state_of(first), "step": "general", "name": ""}
    own_page = "https://testserver/settings/api-tokens/add/"
    on_page = client.post(ADD, data, **htmx(hx_current_url=own_page)).content.decode()
    assert '<h1 id="dialog-title"' in on_page
    assert re.search(r'<h2 class="step-title"[^>]*>General</h2>', on_page)
    from_list = "https://testserver/settings/api-tokens/?sort=name"
    in_dialog = client.post(ADD, data, **htmx(hx_current_url=from_list)).content.decode()
    assert '<h2 id="dialog-title"' in in_dialog
    assert "<h1" not in in_dialog
