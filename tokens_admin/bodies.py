"""Request bodies declared once, as pydantic models: the same class validates a request's
JSON and writes its schema into ``openapi.json``.

A body's *shape* lives here (which fields, their JSON types, unknown fields refused); its
*domain rules* stay in the services (a token name's characters and length, a value pasted
into a description), which the pages and the commands go through too. Where a service owns a
limit, the model only describes it (``documented=``) so the schema says what the service
will answer, without a second check of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictStr,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import models_json_schema
from pydantic_core import ErrorDetails

from tokens_admin.errors import ValidationFailed

# pydantic's own name for a JSON object in a schema (pydantic.json_schema.JsonDict).
JsonDict = dict[str, JsonValue]
REF_TEMPLATE: Final = "#/components/schemas/{model}"
# No request string may hold U+0000 (PostgreSQL stores it in neither text nor jsonb; the body
# parser refuses it); the schema says so, so generators such as Schemathesis do not send it.
NO_NUL: Final = r"^[^\u0000]*$"
TEXT_SCHEMA: Final[JsonDict] = {"type": "string", "pattern": NO_NUL}
ANY_JSON_REF: Final[JsonDict] = {"$ref": REF_TEMPLATE.format(model="JsonWithoutNul")}
JSON_WITHOUT_NUL: Final[JsonDict] = {
    "description": "Any JSON value whose strings and keys hold no U+0000",
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        TEXT_SCHEMA,
        {"type": "array", "items": ANY_JSON_REF},
        {"type": "object", "propertyNames": TEXT_SCHEMA, "additionalProperties": ANY_JSON_REF},
    ],
}

# Any JSON value (integrations' payloads and documents); described without U+0000. (Wrapped
# in allOf: pydantic resolves a field's top-level $ref against its own definitions.)
AnyJson = Annotated[Any, WithJsonSchema({"allOf": [ANY_JSON_REF]})]
# A key of free-form JSON: any string without U+0000.
JsonKey = Annotated[StrictStr, WithJsonSchema(TEXT_SCHEMA)]


def text(
    *,
    max_length: int | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    documented: JsonDict | None = None,
) -> Any:
    """A string field's rules: ``max_length``/``min_length``/``pattern`` are checked here;
    ``documented`` adds schema keywords that another layer (a service) enforces. Use as
    ``name: Annotated[StrictStr, text(...)]``."""
    extra: JsonDict = {"pattern": pattern or NO_NUL, **(documented or {})}
    return Field(
        max_length=max_length, min_length=min_length, pattern=pattern, json_schema_extra=extra
    )


class Body(BaseModel):
    """A request body: strict JSON types, and every unknown field refused by name."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def sent(self) -> frozenset[str]:
        """The fields the request actually carried (an update changes only those)."""
        return frozenset(self.model_fields_set)


class Reference(BaseModel):
    """``{"id": …}`` pointing at another object; other keys are ignored, so a client may
    send back an object it read."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        frozen=True,
        json_schema_extra={"propertyNames": TEXT_SCHEMA, "additionalProperties": ANY_JSON_REF},
    )


def parse[B: BaseModel](model: type[B], data: Mapping[str, Any]) -> B:
    """``data`` as ``model``, or ``ValidationFailed`` naming every field that is wrong."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


MESSAGES: Final = {
    "extra_forbidden": "Unknown field.",
    "missing": "This field is required.",
    "string_type": "Expected a string.",
    "list_type": "Expected a list.",
    "model_type": "Expected a JSON object.",
    "model_attributes_type": "Expected a JSON object.",
    "dict_type": "Expected a JSON object.",
    "bool_type": "Expected true or false.",
    "int_type": "Expected a whole number.",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "string_too_long":
        text = f"At most {ctx['max_length']} characters."
    elif kind == "string_too_short":
        text = "Must not be empty." if ctx.get("min_length") == 1 else "Too short."
    elif kind == "string_pattern_mismatch":
        text = f"Must match {ctx['pattern']}."
    elif kind == "greater_than_equal":
        text = f"Must be at least {ctx['ge']}."
    elif kind == "less_than_equal":
        text = f"Must be at most {ctx['le']}."
    else:
        text = MESSAGES.get(kind, "Invalid value.")
    inner = ".".join(str(part) for part in error["loc"][1:])
    return f"{inner}: {text}" if inner else text


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors as ours: ``{"field": ["message", …]}``, nested paths in the
    message (``modules``: ``0.id: Expected a string.``). The input is never echoed."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        field = str(error["loc"][0]) if error["loc"] else "body"
        errors.setdefault(field, []).append(_message(error))
    return errors


def component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    """The models' JSON Schemas (2020-12, which OpenAPI 3.1 uses) for
    ``components.schemas``, nested models included under their own names."""
    _, top = models_json_schema(
        [(model, "validation") for model in models], ref_template=REF_TEMPLATE
    )
    return {name: _plain(schema) for name, schema in top.get("$defs", {}).items()}


def _plain(schema: Any) -> Any:
    """Without pydantic's titles, docstrings and null defaults (the path's summary says what
    a body is), and with ``AnyJson``'s one-item ``allOf`` unwrapped back into its ``$ref``."""
    if isinstance(schema, list):
        return [_plain(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kept = {
        key: _plain(value)
        for key, value in schema.items()
        if key not in ("title", "description", "default") or not isinstance(value, str | None)
    }
    if list(kept) == ["allOf"] and len(kept["allOf"]) == 1:
        return kept["allOf"][0]
    return kept


def parse_all[B: BaseModel](
    model: type[B], data: Mapping[str, Any]
) -> tuple[B, dict[str, list[str]]]:
    """``data`` as ``model`` and the field errors, where the model holds every field that
    was right: the wrong ones are validated away, so the caller can go on to judge the rest
    (and answer every field's problem at once). Every field of ``model`` needs a default."""
    try:
        return model.model_validate(dict(data)), {}
    except ValidationError as exc:
        errors = field_errors(exc)
    rest = {key: value for key, value in data.items() if key not in errors}
    return model.model_validate(rest), errors
