"""openapi.json describes exactly the routes and methods the server has."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, get_resolver

from tokens_admin.api import handlers_of
from tokens_admin.api_urls import api_document, urlpatterns

CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def routes() -> dict[str, set[str]]:
    """Every /public/v1 route with the methods its view handles (from the view itself)."""
    found: dict[str, set[str]] = {}
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        if route.startswith("^") or route == "openapi.json":
            continue  # the catch-all 404 and the document itself
        path = "/public/v1/" + CONVERTER.sub("{id}", route)
        view = pattern.callback
        methods = {m.lower() for m in handlers_of(view)}
        found[path] = methods
    return found


def test_every_route_is_documented_with_its_methods_and_nothing_else():
    documented = {
        path: {m for m in item if m in {"get", "post", "put", "delete", "patch"}}
        for path, item in api_document()["paths"].items()
    }
    assert documented == routes()


def test_it_serves_the_document_over_https_without_credentials(client, db):
    response = client.get("/public/v1/openapi.json", secure=True)
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0"
    assert response["Cache-Control"] == "no-store"


def test_it_refuses_the_document_over_plain_http(client, db):
    assert client.get("/public/v1/openapi.json").status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_other_methods_on_the_document_are_405(client, db, method):
    response = getattr(client, method)("/public/v1/openapi.json", secure=True)
    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"


def test_the_document_is_valid_openapi_3_1():
    from openapi_spec_validator import validate

    validate(api_document())
    assert get_resolver() is not None
