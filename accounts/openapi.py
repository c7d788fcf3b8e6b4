"""``openapi.json``'s modules part."""

from __future__ import annotations

from typing import Any

from accounts import api
from tokens_admin.openapi import (
    NOT_FOUND,
    STRING,
    Part,
    collection_of,
    json_content,
    list_parameters,
    operation,
    path_param,
    ref,
    select_parameter,
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
        "get": operation(
            "List modules (Operations)",
            {"200": collection_of("Module")},
            parameters=list_parameters(api.MODULES, api.PROJECTION),
        ),
    },
    "/public/v1/accounts/modules/{id}": {
        "parameters": [path_param("id", {"type": "string"})],
        "get": operation(
            "Get a module (Operations)",
            {"200": json_content(ref("Module"))},
            NOT_FOUND,
            parameters=[select_parameter(api.PROJECTION)],
        ),
    },
}

PART = Part(paths=PATHS, schemas=SCHEMAS)
