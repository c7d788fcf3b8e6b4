"""One mask everywhere (issue 14): built from the token id, so drawing it decrypts nothing. Only
the token reading itself, a reveal, or ``TOKEN_VALUE_ON_EVERY_READ`` decrypts."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest

from apitokens import secrets as token_secrets
from apitokens.secrets import mask
from tests.factories import TokenFactory
from tests.ui.conftest import SecureClient, sign_in

URL = "/public/v1/accounts/api-tokens"
PAGE = 25


@pytest.fixture
def decrypt() -> Iterator[mock.MagicMock]:
    """Every decryption of a stored value, counted (and still done)."""
    with mock.patch.object(token_secrets, "decrypt", wraps=token_secrets.decrypt) as spy:
        yield spy


@pytest.fixture
def robots(acme):
    return [TokenFactory(account=acme, name=f"Robot {n}") for n in range(PAGE)]


@pytest.fixture
def admin_robot(acme):
    return TokenFactory(account=acme, name="Admin robot", modules=["MOD-1756"])


def bearer(value: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {value}"}


def test_a_list_page_of_tokens_decrypts_nothing(client, admin_robot, robots, decrypt):
    response = client.get(URL, {"limit": 100}, secure=True, **bearer(admin_robot.plain_value))

    assert response.status_code == 200
    data = response.json()["data"]
    assert len(data) == PAGE + 1
    assert all(row["token"] == mask(row["id"]) for row in data)
    assert decrypt.call_count == 0


def test_a_token_reading_itself_gets_its_full_value(client, admin_robot, robots, decrypt):
    response = client.get(
        f"{URL}/{admin_robot.public_id}", secure=True, **bearer(admin_robot.plain_value)
    )

    assert response.json()["token"] == admin_robot.plain_value
    assert decrypt.call_count == 1


def test_another_token_reading_it_gets_the_mask(client, admin_robot, robots, decrypt):
    other = robots[0]
    response = client.get(
        f"{URL}/{other.public_id}", secure=True, **bearer(admin_robot.plain_value)
    )

    assert response.json()["token"] == f"idt:{other.public_id}:" + "*" * 16
    assert decrypt.call_count == 0


def test_the_platform_setting_returns_every_value_in_full(
    client, settings, admin_robot, robots, decrypt
):
    settings.TOKEN_VALUE_ON_EVERY_READ = True
    response = client.get(URL, {"limit": 100}, secure=True, **bearer(admin_robot.plain_value))

    values = {t.public_id: t.plain_value for t in [admin_robot, *robots]}
    assert {row["id"]: row["token"] for row in response.json()["data"]} == values
    assert decrypt.call_count == PAGE + 1


def test_the_pages_show_the_same_mask_without_decrypting(alice, robots, decrypt):
    client = sign_in(SecureClient(), alice)
    robot = robots[0]

    listing = client.get("/settings/api-tokens/").content.decode()
    details = client.get(f"/settings/api-tokens/{robot.public_id}/").content.decode()

    assert sum(t.public_id in listing for t in robots) >= 10  # a full page of rows
    assert mask(robot.public_id) in details
    assert robot.plain_value not in details
    assert decrypt.call_count == 0
