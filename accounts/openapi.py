"""``openapi.json``'s modules part."""

from __future__ import annotations

from typing import Any

from accounts import api
from tokens_admin.openapi import (
    STRING,
    Part,
    get_operation,
    list_operation,
    path_param,
)

SCHEMAS: dict[str, Any] = {
    # As read: select can leave out anything but the id.
    "Module": {
        "type": "object",
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "pattern": r"^MOD-\d{4}$"},
            "href": STRING,
            "name": STRING,
            "description": STRING,
            "code": STRING,
            "accountTypes": {"type": "array", "items": STRING},
        },
    },
}

PATHS: dict[str, Any] = {
    "/public/v1/accounts/modules": {
        "get": list_operation("List modules (Operations)", "Module", api.MODULES, api.PROJECTION),
    },
    "/public/v1/accounts/modules/{id}": {
        "parameters": [path_param("id", {"type": "string"})],
        "get": get_operation("Get a module (Operations)", "Module", api.PROJECTION),
    },
}

PART = Part(paths=PATHS, schemas=SCHEMAS)
