"""The audit-records list costs a fixed number of queries, however many records match."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apitokens import services
from audit.types import Actor
from tests.apitokens.test_api import Api
from tests.factories import TokenFactory

RECORDS = "/public/v1/audit/records"


def queries(api: Api, query: str) -> tuple[int, int]:
    api.get(RECORDS, query)  # the first call of the minute also writes lastAccessAt
    with CaptureQueriesContext(connection) as captured:
        response = api.get(RECORDS, query)
    assert response.status_code == 200
    return len(captured), len(response.json()["data"])


def test_filtering_on_object_id_costs_the_same_for_one_record_and_for_many(client, acme):
    api = Api(client, TokenFactory(account=acme, name="Reader").plain_value)
    quiet = TokenFactory(account=acme, name="Quiet")
    busy = TokenFactory(account=acme, name="Busy")
    for _ in range(15):
        services.disable_token(token=busy, actor=Actor.system())
        services.enable_token(token=busy, actor=Actor.system())
    few, few_rows = queries(api, f"eq(object.id,{quiet.public_id})&limit=100")
    many, many_rows = queries(api, f"eq(object.id,{busy.public_id})&limit=100&render()")
    assert (few_rows, many_rows) == (1, 31)
    assert many == few
