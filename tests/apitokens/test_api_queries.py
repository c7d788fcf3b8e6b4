"""The api-tokens endpoints cost a fixed number of queries, however many rows they touch
(issue 5: constant queries per request at 10,000 tokens; the benchmark measures the time)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apitokens import services
from audit.types import Actor
from tests.apitokens.test_api import URL, Api
from tests.factories import TokenFactory

LIST = "eq(status,Active)&order=-audit.created.at,name&limit=100"


@pytest.fixture
def api(client, acme):
    # It holds every module the tests grant (a token grants only what it holds, issue 13).
    robot = TokenFactory(
        account=acme, name="Admin robot", modules=["MOD-1756", "MOD-4525", "MOD-1425"]
    )
    return Api(client, robot.plain_value)


def queries(call) -> int:
    call()  # lastAccessAt is written at most once a minute: the first call takes that write
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code in (200, 201), response.content
    return len(captured)


@pytest.mark.parametrize("query", [LIST, f"{LIST}&select=+modules,+audit", "ilike(name,*bot*)"])
def test_the_list_costs_the_same_for_one_token_and_for_many(api, acme, query):
    few = queries(lambda: api.get(URL, query))
    for n in range(25):
        TokenFactory(account=acme, name=f"Robot {n}", modules=["MOD-1756", "MOD-4525"][: n % 3])
    many = queries(lambda: api.get(URL, query))
    assert len(api.get(URL, query).json()["data"]) > 1
    assert many == few


def test_a_get_costs_the_same_whatever_the_token_holds(api, acme):
    plain = TokenFactory(account=acme, name="Plain")
    loaded = TokenFactory(account=acme, name="Loaded", modules=["MOD-1756", "MOD-4525", "MOD-1425"])
    for _ in range(5):
        services.disable_token(token=loaded, actor=Actor.system())
        services.enable_token(token=loaded, actor=Actor.system())
    select = "select=+modules,+audit"
    assert queries(lambda: api.get(f"{URL}/{plain.public_id}", select)) == queries(
        lambda: api.get(f"{URL}/{loaded.public_id}", select)
    )


def test_a_create_costs_the_same_with_one_module_or_several(api):
    def create(modules: list[str], name: str):
        return lambda: api.send(
            "post", URL, {"name": name, "modules": [{"id": m} for m in modules]}
        )

    one = queries(create(["MOD-1756"], "One"))
    several = queries(create(["MOD-1756", "MOD-4525", "MOD-1425"], "Several"))
    assert one == several
