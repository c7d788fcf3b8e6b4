"""How a record reads on the pages: its event in words, and what it changed as one entry per
field with before and after, read from the record's documents (which ``record()`` masked;
they are masked again here, so a page never shows what a document should not have held)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from audit.models import AuditRecord
from audit.recorder import event_name, mask_secrets

# Words that keys spell in lower case and people read in capitals. Kept short: a word that
# is not here reads as the key spells it.
ACRONYMS = {"api": "API", "ip": "IP", "ui": "UI", "url": "URL", "http": "HTTP", "id": "ID"}


def event_label(key: str, name: str = "") -> str:
    """The event's name as people read it: the type's own name when someone gave it one
    (``PUT /audit/event-types/{id}``), else words made from the key's last two parts, as
    ``event_name`` makes them for a new type but with API, IP… in capitals:
    ``platform.accounts.api_token.updated`` -> ``API token updated``."""
    if name.strip() and name != event_name(key):
        return name
    words = re.split(r"[_\-\s]+", " ".join(key.split(".")[-2:]))
    text = " ".join(ACRONYMS.get(word, word) for word in words if word)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class Change:
    """One changed field: a value before and after (``""`` for empty), or, for a list, what
    was added and what was removed."""

    field: str
    before: str = ""
    after: str = ""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def is_list(self) -> bool:
        return bool(self.added or self.removed)


# Where the words the pages use differ from the field's name.
LABELS: Final = {"expires_at": "Expires", "expiresAt": "Expires", "allowed_ips": "Allowed IPs"}
_MOMENT_RE: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"
)


def field_label(field: str) -> str:
    """``name`` -> ``Name``; ``modulesCount`` and ``modules_count`` -> ``Modules count``."""
    if field in LABELS:
        return LABELS[field]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", field).replace("_", " ").split()
    text = " ".join(words).lower()
    return text[:1].upper() + text[1:]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _moment(value) if _MOMENT_RE.match(value) else value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _moment(text: str) -> str:
    """An ISO-8601 moment as the pages print one: "04 Dec 2026, 18:51 UTC"."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC")


def _named(documents: Any) -> Iterator[tuple[str, str]]:
    """Every ``{"id": …, "name": …}`` the documents hold (a token's modules, its account)."""
    if isinstance(documents, dict):
        if isinstance(documents.get("id"), str) and isinstance(documents.get("name"), str):
            yield documents["id"], documents["name"]
        for value in documents.values():
            yield from _named(value)
    elif isinstance(documents, list):
        for item in documents:
            yield from _named(item)


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def _change(
    field: str, before: Any, after: Any, names: dict[str, str], limit: int | None
) -> Change:
    before, after = mask_secrets(before, field), mask_secrets(after, field)
    label = field_label(field)
    if isinstance(before, list) and isinstance(after, list):

        def item(value: Any) -> str:
            text = _text(value)
            return _cut(f"{names[text]} ({text})" if text in names else text, limit)

        kept, now = [_text(v) for v in before], [_text(v) for v in after]
        added = tuple(item(v) for v, t in zip(after, now, strict=True) if t not in kept)
        removed = tuple(item(v) for v, t in zip(before, kept, strict=True) if t not in now)
        if added or removed:
            return Change(field=label, added=added, removed=removed)
    return Change(field=label, before=_cut(_text(before), limit), after=_cut(_text(after), limit))


def changes_of(documents: Any, *, limit: int | None = None) -> list[Change]:
    """The record's changes: ``documents["changes"]`` (``{field: {"before", "after"}}``, what
    an edit records) and ``documents["status"]`` (``{"from", "to"}``, a status change);
    ``limit`` cuts each value to that many characters."""
    if not isinstance(documents, dict):
        return []
    names = dict(_named(documents))
    found: list[Change] = []
    status = documents.get("status")
    if isinstance(status, dict) and {"from", "to"} <= status.keys():
        found.append(_change("status", status["from"], status["to"], names, limit))
    changes = documents.get("changes")
    if isinstance(changes, dict):
        for field, change in changes.items():
            if isinstance(change, dict) and {"before", "after"} <= change.keys():
                found.append(_change(str(field), change["before"], change["after"], names, limit))
    return found


# A value in the list is cut to this many characters; the record dialog shows it whole.
LIST_LIMIT = 80


@dataclass(frozen=True, slots=True)
class Shown:
    """A record as a row of the trail reads it."""

    record: AuditRecord
    event: str
    changes: list[Change]


def shown(records: Iterable[AuditRecord], names: dict[str, str]) -> list[Shown]:
    """``names``: each event type's name by key (the page reads them once for its filter)."""
    return [
        Shown(
            record=r,
            event=event_label(r.event_key, names.get(r.event_key, "")),
            changes=changes_of(r.documents, limit=LIST_LIMIT),
        )
        for r in records
    ]


def event_choices(names: dict[str, str]) -> list[tuple[str, str]]:
    """The event filter's options, (key, label) by key; a label two keys share (two
    integrations' ``contact.synced``) carries its key, so the two can be told apart."""
    labels = {key: event_label(key, name) for key, name in names.items()}
    counts = Counter(labels.values())
    return [
        (key, label if counts[label] == 1 else f"{label} ({key})")
        for key, label in sorted(labels.items())
    ]
