"""Issue 6 item 7: hostile input. Uploads that are not what they claim (not images, polyglots,
decompression bombs, 6 MB files) are refused with a clear error and leave nothing behind; names
and descriptions full of control characters, CR/LF, HTML, template syntax and right-to-left
marks are stored verbatim where the rules allow them and rendered escaped everywhere; RQL of
extreme depth or length and oversized JSON bodies are refused quickly, before any real work."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from accounts.models import Account, User
from apitokens import services
from apitokens.models import ApiToken, TokenPolicy
from audit.models import AuditRecord, EventType
from audit.types import Actor
from tests.factories import TokenFactory
from tests.security.conftest import TOKENS_URL, bearer
from tests.ui.conftest import SecureClient, htmx, sign_in
from tokens_admin.errors import ValidationFailed

WIZARD = "/settings/api-tokens/add/"
RECORDS_URL = "/public/v1/audit/records"


@pytest.fixture
def client() -> Client:
    """Django's test client over HTTPS, as every real request is (cookies are Secure)."""
    return SecureClient()


# --- Files ------------------------------------------------------------------------------------


def image_bytes(fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    buffer = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.new(mode, size, 3 if mode == "P" else (10, 120, 200)).save(buffer, format=fmt)
    return buffer.getvalue()


def zip_archive() -> bytes:
    """A JAR-like archive: what a GIFAR hides behind the image."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nMain-Class: Evil\n")
        archive.writestr("index.html", "<script>alert(document.cookie)</script>")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (CRC fixed up), the shape
    of a decompression bomb: a few hundred bytes that would decode into gigabytes."""
    data = bytearray(image_bytes("PNG", (1, 1)))
    ihdr = 8  # after the signature: length(4) type(4) data(13) crc(4)
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 21]))
    data[ihdr + 21 : ihdr + 25] = struct.pack(">I", crc)
    return bytes(data)


SIX_MB = 6 * 1024 * 1024
NOT_AN_IMAGE = "The file is not a valid .jpg or .png image."
WRONG_TYPE = "Supported file types are .jpg &amp; .png."
TRAILING = "The file has data after the end of the image."
TOO_BIG = "The file is larger than 5MB."
TOO_MANY = ("The image has too many pixels.", "The image must be at most 4096 by 4096 pixels.")

UPLOADS = {
    "text named .png": (b"just some text, not an image\n", "logo.png", (NOT_AN_IMAGE,)),
    "html named .png": (
        b"<!doctype html><script>alert(document.cookie)</script>",
        "logo.png",
        (NOT_AN_IMAGE,),
    ),
    "svg with script": (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "logo.svg",
        (WRONG_TYPE,),
    ),
    "double extension": (image_bytes("PNG"), "logo.png.html", (WRONG_TYPE,)),
    "a real gif named .png": (image_bytes("GIF"), "logo.png", (WRONG_TYPE,)),
    "gifar (gif + jar)": (image_bytes("GIF") + zip_archive(), "logo.png", (WRONG_TYPE,)),
    "png + zip": (image_bytes("PNG") + zip_archive(), "logo.png", (TRAILING,)),
    "png + html": (
        image_bytes("PNG") + b"<html><script>alert(document.cookie)</script></html>",
        "logo.png",
        (TRAILING,),
    ),
    "jpeg + zip": (image_bytes("JPEG") + zip_archive(), "logo.jpg", (TRAILING,)),
    "truncated png": (image_bytes("PNG", (64, 64))[:-30], "logo.png", (NOT_AN_IMAGE,)),
    "bomb 100000x100000": (png_declaring(100_000, 100_000), "logo.png", TOO_MANY),
    "bomb 65535x65535": (png_declaring(65_535, 65_535), "logo.png", TOO_MANY),
    "bomb 5000x5000": (png_declaring(5_000, 5_000), "logo.png", TOO_MANY),
    "6 MB png": (
        image_bytes("PNG") + b"\0" * (SIX_MB - len(image_bytes("PNG"))),
        "logo.png",
        (TOO_BIG,),
    ),
}


def state_of(body: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', body)
    assert found is not None
    return found.group(1)


def stored_logos() -> set[Path]:
    folder = Path(settings.MEDIA_ROOT) / "logos"
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def post_logo(client: Client, content: bytes, filename: str) -> Any:
    upload = io.BytesIO(content)
    upload.name = filename
    state = state_of(client.get(WIZARD).content.decode())
    # Without JavaScript a step answers 303 to its GET page (issue 15): follow it.
    return client.post(
        WIZARD,
        {"state": state, "step": "general", "name": "Logo bot", "logo": upload},
        follow=True,
    )


@pytest.mark.parametrize("case", list(UPLOADS))
def test_it_refuses_hostile_uploads_with_a_clear_error_and_keeps_nothing(
    client: Client, alice: User, case: str
) -> None:
    content, filename, messages = UPLOADS[case]
    sign_in(client, alice)
    before = stored_logos()
    started = time.perf_counter()
    response = post_logo(client, content, filename)
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"upload {case!r}: {len(content)} bytes refused in {elapsed_ms:.0f} ms")
    assert response.status_code == 400
    body = response.content.decode()
    assert any(message in body for message in messages), body[-2000:]
    assert 'name="name"' in body  # still the General step, the error next to the field
    assert stored_logos() == before
    assert not ApiToken.objects.exists()
    assert elapsed_ms < 2000  # a bomb is refused from its header, never decoded


def test_a_real_logo_still_goes_through(client: Client, alice: User) -> None:
    sign_in(client, alice)
    for content, filename in ((image_bytes("PNG"), "logo.png"), (image_bytes("JPEG"), "a.jpg")):
        before = stored_logos()
        response = post_logo(client, content, filename)
        assert response.status_code == 200
        added = stored_logos() - before
        assert len(added) == 1
        assert added.pop().read_bytes() == content


# --- Names and descriptions -------------------------------------------------------------------

HOSTILE_DESCRIPTIONS = {
    "control characters": "bell\x07 escape\x1b[31mred\x1b[0m backspace\x08 del\x7f",
    "CR/LF": "line one\r\nline two\rthree\nfour\r\n\r\nsix",
    "html": "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;",
    "template syntax": "{{ request.user }} {% debug %} {{ 7|add:7 }} ${7*7} #{7*7}",
    "right-to-left": "invoice\u202egnp.exe\u202c and \u200fmark\u200e \u2067isolate\u2069",
    "zero-width and astral": "zero\u200bwidth\ufeff \U0001f511 \U0001d54f",
}
EVERYTHING = "\n".join(HOSTILE_DESCRIPTIONS.values())
REFUSED_NAMES = {
    "html": "<b>bold</b>",
    "template": "{{ name }}",
    "CR/LF": "two\r\nlines",
    "tab": "tab\there",
    "control": "bell\x07",
    "escape sequence": "red\x1b[31m",
    "right-to-left override": "robot\u202egnp",
    "zero width": "zero\u200bwidth",
    "NUL": "nul\x00byte",
    "only spaces": "   ",
}
ACCEPTED_NAMES = ('O\'Brien "bot"', "Zoë-2.0", "روبوت", "ロボット 7")


@pytest.fixture
def api_token(acme: Account) -> ApiToken:
    return TokenFactory(account=acme, name="Admin robot", modules=["MOD-1756"])


def api_post(client: Client, token: ApiToken, body: dict[str, Any]) -> Any:
    return client.post(
        TOKENS_URL,
        data=json.dumps(body),
        content_type="application/json",
        secure=True,
        **bearer(token),
    )


@pytest.mark.parametrize("case", list(HOSTILE_DESCRIPTIONS))
def test_it_stores_hostile_descriptions_verbatim_and_returns_them_escaped_as_json(
    client: Client, api_token: ApiToken, case: str
) -> None:
    description = HOSTILE_DESCRIPTIONS[case]
    created = api_post(client, api_token, {"name": "Hostile", "description": description})
    assert created.status_code == 201, created.content
    token = ApiToken.objects.get(public_id=created.json()["id"])
    assert token.description == description  # byte for byte
    read = client.get(f"{TOKENS_URL}/{token.public_id}", secure=True, **bearer(api_token))
    assert read.json()["description"] == description
    assert read["Content-Type"] == "application/json"
    assert read["X-Content-Type-Options"] == "nosniff"
    # JSON escapes what it must: no raw control character ever leaves in the body.
    assert not re.search(rb"[\x00-\x1f]", read.content)
    entry = AuditRecord.objects.get(object_id=token.public_id)
    assert entry.documents["token"]["description"] == description


def test_it_refuses_a_nul_character_everywhere_alike(
    client: Client, acme: Account, api_token: ApiToken
) -> None:
    # PostgreSQL cannot store NUL in text; SQLite could. Both refuse it: the API before its
    # fields are read, the service whoever calls it (the UI form refuses it too, in Django).
    for body in ({"name": "Nul", "description": "a\x00b"}, {"name": "Nul", "icon": "/x\x00.png"}):
        response = api_post(client, api_token, body)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
    for field in ("description", "icon"):
        with pytest.raises(ValidationFailed) as refused:
            services.create_token(
                account=acme, name="Nul", actor=Actor.system(), **{field: "a\x00b"}
            )
        assert refused.value.errors == {field: ["Null characters are not allowed."]}
    assert not ApiToken.objects.filter(name="Nul").exists()
    assert AuditRecord.objects.filter(object_name="Nul").count() == 0


@pytest.mark.parametrize("case", list(REFUSED_NAMES))
def test_it_refuses_names_outside_the_allowed_characters(
    client: Client, alice: User, api_token: ApiToken, case: str
) -> None:
    name = REFUSED_NAMES[case]
    response = api_post(client, api_token, {"name": name})
    assert response.status_code == 400
    # NUL is refused with the whole body, before fields are read; the rest name the field.
    assert list(response.json().get("errors", {"name": []})) == ["name"]
    sign_in(client, alice)
    state = state_of(client.get(WIZARD).content.decode())
    page = client.post(WIZARD, {"state": state, "step": "general", "name": name}, follow=True)
    assert page.status_code == 400
    assert re.search(
        r"API token name (may contain|is required)|Null characters", page.content.decode()
    )
    assert ApiToken.objects.count() == 1  # the caller's own token only
    assert AuditRecord.objects.count() == 1  # its creation only


@pytest.mark.parametrize("name", ACCEPTED_NAMES)
def test_it_keeps_quotes_and_non_latin_letters_in_names(
    client: Client, api_token: ApiToken, name: str
) -> None:
    response = api_post(client, api_token, {"name": name})
    assert response.status_code == 201
    assert response.json()["name"] == name
    assert ApiToken.objects.get(public_id=response.json()["id"]).name == name


def test_the_ui_form_keeps_a_hostile_description_verbatim(client: Client, alice: User) -> None:
    sign_in(client, alice)
    description = "a\r\nb <script>x</script> {{ 7 }} \u202eevil\u202c \x07"
    state = state_of(client.get(WIZARD).content.decode())
    modules = client.post(
        WIZARD,
        {"state": state, "step": "general", "name": "Form bot", "description": description},
        follow=True,
    )
    overview = client.post(
        WIZARD, {"state": state_of(modules.content.decode()), "step": "modules"}, follow=True
    )
    assert "&lt;script&gt;x&lt;/script&gt;" in overview.content.decode()
    done = client.post(
        WIZARD, {"state": state_of(overview.content.decode()), "step": "overview", "nav": "add"}
    )
    assert done.status_code == 303  # to the token's Summary (issue 15)
    assert ApiToken.objects.get(name="Form bot").description == description


@pytest.mark.parametrize(
    "fields",
    [
        {"allowed_ips": "9" * 100_000},
        {"allowed_ips": "10.0.0.0/8\x00"},
        {"allowed_ips": "<script>alert(1)</script>"},
        {"allowed_ips": "\n".join(["10.0.0.0/8"] * 51)},
        {"allowed_ips": "fe80::1%eth0"},
        {"expiration": "custom", "expires_on": "9" * 10_000},
        {"expiration": "custom", "expires_on": "2027-02-30"},
        {"expiration": "<script>"},
        {"expiration": "-1"},
        {"expiration": "99999999999999999999"},
    ],
    ids=lambda f: repr(f)[:32],
)
def test_hostile_edit_fields_get_a_400_next_to_the_field_and_change_nothing(
    client: Client, alice: User, acme: Account, fields: dict[str, str]
) -> None:
    token = services.create_token(account=acme, name="Edited", actor=Actor.system()).token
    before = AuditRecord.objects.count()
    sign_in(client, alice)
    response = client.post(
        f"/settings/api-tokens/{token.public_id}/edit/", {"name": "Edited", **fields}
    )
    body = response.content.decode()
    assert response.status_code == 400, body[:300]
    assert 'class="field-error"' in body
    assert "<script>" not in body  # echoed escaped (the page's own scripts have a src)
    token.refresh_from_db()
    assert (token.allowed_ips, token.expires_at) == ("", None)
    assert AuditRecord.objects.count() == before


HTML_NAME = 'O\'Brien "bot" -1'
RAW_MARKERS = ("<script>alert", "<img src=x", '"><script', 'O\'Brien "bot"')


@pytest.fixture
def hostile(acme: Account) -> ApiToken:
    created = services.create_token(
        account=acme,
        name=HTML_NAME,
        description=EVERYTHING,
        icon='"><script>alert(3)</script>',
        actor=Actor.system(),
    )
    return created.token


def test_every_page_and_fragment_renders_hostile_text_escaped(
    client: Client, alice: User, acme: Account, hostile: ApiToken
) -> None:
    sign_in(client, alice)
    base = f"/settings/api-tokens/{hostile.public_id}"
    record = AuditRecord.objects.get(object_id=hostile.public_id)
    pages = {
        "list": (client.get("/settings/api-tokens/"), False),
        "list table fragment": (
            client.get("/settings/api-tokens/?q=O", **htmx(hx_target="token-table")),
            False,
        ),
        "search reflecting the query": (
            client.get("/settings/api-tokens/?q=<script>alert(9)</script>"),
            False,
        ),
        "details": (client.get(f"{base}/"), True),
        "general tab fragment": (client.get(f"{base}/", **htmx(hx_target="tab-panel")), True),
        "details tab": (client.get(f"{base}/details/"), False),
        "usage tab": (client.get(f"{base}/usage/"), False),
        "audit tab": (client.get(f"{base}/audit/"), False),
        "edit dialog": (client.get(f"{base}/edit/", **htmx()), True),
        "disable dialog": (client.get(f"{base}/disable/", **htmx()), False),
        "audit trail": (client.get("/settings/audit-trail/"), False),
        "audit record dialog": (
            client.get(f"/settings/audit-trail/{record.public_id}/", **htmx()),
            True,
        ),
    }
    for label, (response, shows_description) in pages.items():
        assert response.status_code == 200, label
        body = response.content.decode()
        for marker in RAW_MARKERS:
            assert marker not in body, f"{label}: raw {marker!r}"
        assert "alert(9)</script>" not in body, label
        if shows_description:
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, label
            # Template syntax in data is shown, never evaluated.
            assert "{{ request.user }}" in body, label
            assert "{% debug %}" in body, label
            assert "\u202egnp.exe" in body, label
    list_body = pages["list"][0].content.decode()
    assert "O&#x27;Brien &quot;bot&quot; -1" in list_body
    assert "&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in list_body  # the icon attribute


def test_the_csv_and_jsonl_downloads_keep_text_intact_and_neutralise_formulas(
    client: Client, alice: User, acme: Account, hostile: ApiToken
) -> None:
    # A name may start with "-", which a spreadsheet would read as a formula.
    services.update_token(token=hostile, name="-1-1 robot", actor=Actor.system())
    sign_in(client, alice)
    response = client.get("/settings/audit-trail/download/?format=csv")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == AuditRecord.objects.filter(account_id=acme.public_id).count() == 2
    created, updated = rows
    # CR/LF and quotes inside a cell do not break the rows; the JSON cell decodes to the text.
    assert json.loads(created["documents"])["token"]["description"] == EVERYTHING
    assert updated["object.name"] == "'-1-1 robot"  # formula neutralised
    jsonl = client.get("/settings/audit-trail/download/?format=jsonl")
    lines = b"".join(jsonl.streaming_content).decode("utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["documents"]["token"]["description"] == EVERYTHING
    assert json.loads(lines[1])["object"]["name"] == "-1-1 robot"  # data, not a sheet: verbatim


# --- RQL and JSON bodies ------------------------------------------------------------------------

HOSTILE_QUERIES = {
    "depth 10,000": "not(" * 10_000 + "eq(name,x)" + ")" * 10_000,
    "depth 800 within the length limit": "not(" * 800 + "eq(name,x)" + ")" * 800,
    "length 1 MB": "eq(name," + "a" * (1024 * 1024) + ")",
    "1 MB of shortcuts": "&".join(["name=a"] * (1024 * 1024 // 7)),
    "100,000 terms": "and(" + ",".join(["eq(name,a)"] * 100_000) + ")",
}


@pytest.mark.parametrize("url", [TOKENS_URL, RECORDS_URL])
@pytest.mark.parametrize("case", list(HOSTILE_QUERIES))
def test_it_refuses_extreme_rql_quickly_with_a_400_problem(
    client: Client, api_token: ApiToken, url: str, case: str
) -> None:
    query = HOSTILE_QUERIES[case]
    started = time.perf_counter()
    response = client.get(f"{url}?{query}", secure=True, **bearer(api_token))
    elapsed_ms = (time.perf_counter() - started) * 1000
    print(f"RQL {case} on {url}: {response.status_code} in {elapsed_ms:.1f} ms")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Bad Request"
    # Too many parameters stop in Django's own parser (DATA_UPLOAD_MAX_NUMBER_FIELDS), the
    # rest in ours (length, depth, term count).
    assert body["type"].endswith("/invalid-query" if "shortcuts" not in case else "/bad-request")
    assert len(response.content) < 2000  # the detail names the problem, it does not echo it
    assert elapsed_ms < 1000


@pytest.mark.parametrize(
    "query", ["eq(name,a%00b)", "name=a%00", "ilike(name,*%00*)", "eq(id,TKN%00)", "eq(token,%00)"]
)
@pytest.mark.parametrize("url", [TOKENS_URL, RECORDS_URL, "/public/v1/audit/event-types"])
def test_it_refuses_a_nul_character_in_a_query_with_a_400_problem(
    client: Client, api_token: ApiToken, url: str, query: str
) -> None:
    # PostgreSQL refuses NUL in a query parameter: without this check the driver's error
    # became a 503 "try again" there, and an empty result on SQLite.
    response = client.get(f"{url}?{query}", secure=True, **bearer(api_token))
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-query")


def test_it_refuses_an_announced_10_mb_body_without_reading_it(
    client: Client, api_token: ApiToken
) -> None:
    # tests/apitokens/test_api.py::test_a_10_mb_body_is_refused_before_parsing sends the 10 MB;
    # here the Content-Length alone decides: the test client's payload raises if read past 2 bytes.
    response = client.generic(
        "POST",
        TOKENS_URL,
        data=b"{}",
        content_type="application/json",
        secure=True,
        CONTENT_LENGTH=str(10 * 1024 * 1024),
        **bearer(api_token),
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize(
    "raw",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000],
    ids=["arrays", "objects"],
)
def test_it_refuses_deeply_nested_json_with_a_400_problem(
    client: Client, api_token: ApiToken, raw: str
) -> None:
    response = client.post(
        TOKENS_URL, data=raw, content_type="application/json", secure=True, **bearer(api_token)
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert ApiToken.objects.count() == 1


HOSTILE_PARAMS = [
    "q=" + "x" * (1024 * 1024),
    "q=%00%0d%0a<script>",
    "page=" + "9" * 500,
    "page=-1&per_page=1000000",
    "sort=--name",
    "sort=__class__",
    "status=Deleted",
    "from=9999-99-99&to=not-a-date",
    "from=0001-01-01&to=9999-12-31",
    "after=garbage_x&before=2026-01-01T00:00:00_-1",
    "object=" + "'" * 100,
    "event=" + "%" * 100,
    "q=a%00b&object=%00&actor=%00&event=%00",
]


@pytest.mark.parametrize("params", HOSTILE_PARAMS, ids=lambda p: p[:30])
def test_hostile_query_parameters_never_break_a_page(
    client: Client, olivia: User, acme: Account, hostile: ApiToken, params: str
) -> None:
    sign_in(client, olivia, account=acme.public_id)  # an operator: the account picker too
    for path in (
        "/settings/api-tokens/",
        "/settings/api-tokens/policy/",
        "/settings/audit-trail/",
        "/account/pick/",
        "/account/",
    ):
        response = client.get(f"{path}?{params}")
        assert response.status_code in (200, 400), (path, response.status_code)
        assert "<script>" not in response.content.decode().split("</header>", 1)[-1]


# --- Modules, select and event keys (issue 13) ------------------------------------------------

HOSTILE_MODULES: dict[str, Any] = {
    "10,000 references": [{"id": "MOD-1756"}] * 10_000,
    "10,000 unknown ids": [{"id": f"MOD-{n:04d}"} for n in range(10_000)],
    "a 100 kB id": [{"id": "MOD-" + "9" * 100_000}],
    "ids of every type": [{"id": 1756}, {"id": None}, {"id": ["MOD-1756"]}, {"id": {}}],
    "nested objects": [{"id": {"id": {"id": "MOD-1756"}}}],
    "a string": "MOD-1756",
    "SQL and wildcards": [{"id": "MOD-1756' OR '1'='1"}, {"id": "%"}, {"id": "*"}],
    "a module it does not hold, many times": [{"id": "MOD-0478"}] * 1_000,
}


@pytest.mark.parametrize("case", list(HOSTILE_MODULES))
def test_hostile_module_lists_get_a_clear_4xx_and_change_nothing(
    client: Client, api_token: ApiToken, case: str
) -> None:
    before = (ApiToken.objects.count(), AuditRecord.objects.count())
    started = time.perf_counter()
    response = api_post(client, api_token, {"name": "Hostile", "modules": HOSTILE_MODULES[case]})
    elapsed = time.perf_counter() - started
    if case == "10,000 references":
        # The same module ten thousand times is one module, granted once.
        assert response.status_code == 201, response.content
        assert [m["id"] for m in response.json()["modules"]] == ["MOD-1756"]
        return
    assert response.status_code in (400, 403), response.content
    assert response["Content-Type"] == "application/problem+json"
    assert len(response.content) < 4096  # a 100 kB id is not echoed back whole
    assert (ApiToken.objects.count(), AuditRecord.objects.count()) == before
    assert elapsed < 10


@pytest.mark.parametrize(
    "select",
    ["-" * 5000, "+,", "actor." * 200, "%00", "object.id.name.x.y", "+modules,-modules,+modules"],
)
def test_hostile_select_never_breaks_a_resource(
    client: Client, api_token: ApiToken, select: str
) -> None:
    for path in (TOKENS_URL, RECORDS_URL, "/public/v1/audit/event-types"):
        response = client.get(f"{path}?select={select}", secure=True, **bearer(api_token))
        assert response.status_code in (200, 400), (path, select, response.content)


@pytest.mark.parametrize(
    "event",
    ["extensions.a.b" + ".c" * 100, "extensions..x", "extensions.A.B", "platform.accounts.x.y"],
)
def test_hostile_event_keys_are_refused_or_owned(
    client: Client, globex: Account, event: str
) -> None:
    vendor = TokenFactory(account=globex, name="Globex robot")
    response = client.post(
        RECORDS_URL,
        data=json.dumps({"event": event, "object": {"id": "X-1"}, "summary": "s"}),
        content_type="application/json",
        secure=True,
        **bearer(vendor),
    )
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        assert EventType.objects.get(key=event).owner_account_id == globex.public_id


HOSTILE_EXPIRIES = [
    "9" * 100_000,
    "2027-01-01T00:00:00Z\x00",
    "2027-01-01T00:00:00+99:99",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "2027-13-45",
    {"$gt": ""},
    ["2027-01-01"],
    True,
    -1,
]


@pytest.mark.parametrize("value", HOSTILE_EXPIRIES, ids=lambda v: repr(v)[:24])
def test_hostile_expiries_get_a_clear_400_and_change_nothing(
    client: Client, api_token: ApiToken, value: object
) -> None:
    before = AuditRecord.objects.count()
    created = client.post(
        TOKENS_URL,
        data=json.dumps({"name": "Hostile", "expiresAt": value}),
        content_type="application/json",
        secure=True,
        **bearer(api_token),
    )
    updated = client.put(
        f"{TOKENS_URL}/{api_token.public_id}",
        data=json.dumps({"expiresAt": value}),
        content_type="application/json",
        secure=True,
        **bearer(api_token),
    )
    for response in (created, updated):
        assert response.status_code == 400, response.content[:300]
        body = response.json()
        # (A NUL anywhere in a body is refused by the body parser, before any field.)
        assert "expiresAt" in body.get("errors", {}) or "U+0000" in body["detail"], body
        assert len(response.content) < 2000  # named, not echoed
    assert ApiToken.objects.count() == 1
    api_token.refresh_from_db()
    assert api_token.expires_at is None
    assert AuditRecord.objects.count() == before


HOSTILE_ALLOWLISTS = [
    ["9" * 100_000],
    ["10.0.0.0/8\x00"],
    ["10.0.0.0/33"],
    ["::/129"],
    ["10.0.0.0/8 192.0.2.0/24"],
    ["1.2.3.4%eth0"],
    ["fe80::1%25eth0"],
    ["*"],
    ["10.0.0.0/8"] * 51,
    [f"10.{n // 256}.{n % 256}.0/24" for n in range(10_000)],
    "10.0.0.0/8",
    [{"$gt": ""}],
    [["10.0.0.0/8"]],
    [True],
    [-1],
]


@pytest.mark.parametrize("value", HOSTILE_ALLOWLISTS, ids=lambda v: repr(v)[:24])
def test_hostile_allowlists_get_a_clear_400_and_change_nothing(
    client: Client, api_token: ApiToken, value: object
) -> None:
    before = AuditRecord.objects.count()
    created = client.post(
        TOKENS_URL,
        data=json.dumps({"name": "Hostile", "allowedIps": value}),
        content_type="application/json",
        secure=True,
        **bearer(api_token),
    )
    updated = client.put(
        f"{TOKENS_URL}/{api_token.public_id}",
        data=json.dumps({"allowedIps": value}),
        content_type="application/json",
        secure=True,
        **bearer(api_token),
    )
    for response in (created, updated):
        assert response.status_code == 400, response.content[:300]
        body = response.json()
        assert "allowedIps" in str(body.get("errors", {})) or "U+0000" in body["detail"], body
        assert len(response.content) < 5000  # named, not echoed
    assert ApiToken.objects.count() == 1
    api_token.refresh_from_db()
    assert api_token.allowed_ips == ""
    assert AuditRecord.objects.count() == before


@pytest.mark.parametrize(
    "query",
    [
        "account.id=" + "A" * 100_000,
        "account.id=ACC-0000%000000",
        "account.id=%27--",
        "account.id=",
    ],
    ids=["huge", "nul", "quote", "empty"],
)
@pytest.mark.parametrize("method", ["get", "put"])
def test_hostile_policy_accounts_get_a_clear_4xx(
    client: Client, api_token: ApiToken, query: str, method: str
) -> None:
    response = getattr(client, method)(
        f"/public/v1/accounts/api-token-policy?{query}",
        data=json.dumps({"maxLifetimeDays": 1}) if method == "put" else None,
        content_type="application/json",
        secure=True,
        **bearer(api_token),
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert len(response.content) < 2000
    assert not TokenPolicy.objects.exists()
