"""The rules of a token's name, description and icon: one home, shared by the API (which
describes them in ``openapi.json``), the pages' forms and the commands; services enforce them."""

from __future__ import annotations

import re
from typing import Final

from apitokens import secrets as token_secrets

NAME_MAX = 200
DESCRIPTION_MAX = 2000
ICON_MAX = 255
NAME_RE = re.compile(r"^(?:[^\W_]|[ \-.'\"])+$")
# NAME_RE and NAME_MAX in words, shown with the field before anyone breaks them.
NAME_HINT: Final = f"Letters, digits, spaces and - . ' \" only, at most {NAME_MAX} characters."


class Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()
"""A field not given (``None`` could be a value)."""


VALUE_REFUSED: Final = "Must not contain an API token value; keep values out of stored text."
# PostgreSQL cannot store NUL in text (SQLite can): refused alike on both, as Django's forms do.
NUL_REFUSED: Final = "Null characters are not allowed."


def validate_fields(
    *,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    icon: str | Unset = UNSET,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, Unset):
        if not name.strip():
            errors["name"] = ["API token name is required."]
        elif len(name) > NAME_MAX:
            errors["name"] = [f"API token name must be at most {NAME_MAX} characters."]
        elif not NAME_RE.fullmatch(name):
            errors["name"] = [
                "API token name may contain letters, digits, spaces and - . ' \" only."
            ]
    if not isinstance(description, Unset):
        if len(description) > DESCRIPTION_MAX:
            errors["description"] = [f"Description must be at most {DESCRIPTION_MAX} characters."]
        elif token_secrets.contains_value(description):
            errors["description"] = [VALUE_REFUSED]
        elif "\x00" in description:
            errors["description"] = [NUL_REFUSED]
    if not isinstance(icon, Unset):
        if len(icon) > ICON_MAX:
            errors["icon"] = [f"Icon must be at most {ICON_MAX} characters."]
        elif token_secrets.contains_value(icon):
            errors["icon"] = [VALUE_REFUSED]
        elif "\x00" in icon:
            errors["icon"] = [NUL_REFUSED]
    return errors
