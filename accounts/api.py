"""``/public/v1/accounts/modules``: the module catalogue, for Operations accounts."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from accounts.errors import ModuleNotFound
from accounts.models import Module
from tokens_admin.api import (
    Principal,
    Projection,
    Scope,
    collection,
    drop_nulls,
    endpoint,
    json_response,
    query_of,
)
from tokens_admin.rql_django import Compiler, Field, Resource

SCOPE = Scope(account_types=("Operations",))
MODULES = Resource(
    "modules",
    {
        "id": Field("public_id"),
        "name": Field("name"),
        "code": Field("code"),
        "description": Field("description", sortable=False),
    },
)
PROJECTION = Projection(("id", "href", "name", "description", "code", "accountTypes"))


def module_json(module: Module) -> dict[str, Any]:
    return drop_nulls(
        {
            "id": module.public_id,
            "href": f"/accounts/modules/{module.public_id}",
            "name": module.name,
            "description": module.description or None,
            "code": module.code,
            "accountTypes": list(module.account_types),
        }
    )


def list_modules(request: HttpRequest, principal: Principal) -> HttpResponse:
    query = query_of(request)
    fields = PROJECTION.select(query)
    modules = Compiler(MODULES).apply(Module.objects.all(), query, ("name", "id"))
    total = modules.count()
    page = list(modules[query.offset : query.offset + query.limit]) if query.limit else []
    return collection([fields.apply(module_json(m)) for m in page], query=query, total=total)


def get_module(request: HttpRequest, principal: Principal, module_id: str) -> HttpResponse:
    fields = PROJECTION.select(query_of(request))
    module = Module.objects.filter(public_id=module_id).first()
    if module is None:
        raise ModuleNotFound(f"Module {module_id} was not found.")
    return json_response(fields.apply(module_json(module)))


modules_view = endpoint(SCOPE, GET=list_modules)
module_view = endpoint(SCOPE, GET=get_module)
