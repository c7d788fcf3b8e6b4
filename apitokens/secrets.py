"""The token value: format, checksum, digest and encryption. Pure functions, no ORM.

A value looks like ``idt:TKN-1234-5678:<64 characters of [A-Za-z0-9]>``. The first 58 of those
64 characters are drawn from ``secrets`` (58 * log2(62) = 345 bits); the last 6 are the CRC32 of
everything before them, in base62 (GitHub's idea), so a leaked string can be recognised offline
and a mistyped one is refused before any database query.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import re
import secrets
import zlib
from collections.abc import Mapping
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "idt"
SECRET_LENGTH = 64
CHECKSUM_LENGTH = 6
RANDOM_LENGTH = SECRET_LENGTH - CHECKSUM_LENGTH
TOKEN_ID_RE = re.compile(r"TKN-[0-9]{4}-[0-9]{4}")
VALUE_LENGTH = len(f"{PREFIX}:TKN-0000-0000:") + SECRET_LENGTH
VALUE_RE = re.compile(r"idt:(TKN-[0-9]{4}-[0-9]{4}):([A-Za-z0-9]{64})")
# For scanning text: a value not glued to other word characters.
VALUE_SCAN_RE = re.compile(
    r"(?<![A-Za-z0-9])idt:TKN-[0-9]{4}-[0-9]{4}:[A-Za-z0-9]{64}(?![A-Za-z0-9])"
)
# The masked value shows the public part and then this, whatever the secret is.
MASK_STARS = "*" * 16
NONCE_LENGTH = 12


class SecretError(Exception):
    """Raised when a stored ciphertext cannot be decrypted with any configured key."""


class ParsedValue(NamedTuple):
    token_id: str
    value: str


def base62(number: int, width: int) -> str:
    chars = []
    while number:
        number, rest = divmod(number, 62)
        chars.append(BASE62[rest])
    return "".join(reversed(chars)).rjust(width, BASE62[0])


def checksum(text: str) -> str:
    return base62(zlib.crc32(text.encode("ascii")), CHECKSUM_LENGTH)


def generate_value(token_id: str) -> str:
    if not TOKEN_ID_RE.fullmatch(token_id):
        raise ValueError("token_id must look like TKN-NNNN-NNNN")
    body = "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    head = f"{PREFIX}:{token_id}:{body}"
    return head + checksum(head)


def parse_value(raw: object) -> ParsedValue | None:
    """Return the token id and value when ``raw`` is a well-formed value, else ``None``.

    Never raises, whatever it is given; touches nothing but the string.
    """
    if not isinstance(raw, str) or len(raw) != VALUE_LENGTH:
        return None
    match = VALUE_RE.fullmatch(raw)
    if match is None:
        return None
    # (A plain compare: the checksum is a CRC of text the caller already holds, no secret.)
    if checksum(raw[:-CHECKSUM_LENGTH]) != raw[-CHECKSUM_LENGTH:]:
        return None
    return ParsedValue(match.group(1), raw)


def find_values(text: str) -> list[str]:
    """Every checksum-valid value in ``text`` (for ``tokens scan``)."""
    return [m.group(0) for m in VALUE_SCAN_RE.finditer(text) if parse_value(m.group(0))]


def contains_value(text: str) -> bool:
    """Does ``text`` hold a checksum-valid value anywhere, even glued to other characters?
    (Stored text and URLs must never carry one.)"""
    return any(parse_value(m.group(0)) for m in VALUE_RE.finditer(text))


def replace_values(text: str) -> str:
    """``text`` with every checksum-valid value replaced by its token id."""
    return VALUE_RE.sub(lambda m: m.group(1) if parse_value(m.group(0)) else m.group(0), text)


@functools.lru_cache(maxsize=4)
def _keyed(pepper: bytes) -> hmac.HMAC:
    return hmac.new(pepper, digestmod=hashlib.sha256)


def digest(value: str, pepper: bytes) -> str:
    """HMAC-SHA256 of the value keyed with the server-side pepper, as 64 hex characters."""
    # The keyed state is set up once per pepper and copied per call: OpenSSL's lookup of the
    # digest by name and the key schedule were most of a one-shot ``hmac.digest``.
    keyed = _keyed(pepper).copy()
    keyed.update(value.encode("ascii"))
    return keyed.hexdigest()


def verify(value: str, stored_digest: str, pepper: bytes) -> bool:
    return hmac.compare_digest(digest(value, pepper), stored_digest)


def mask(token_id: str) -> str:
    """``idt:TKN-1234-5678:****************``: what everyone sees who may not see the value.

    Built from the token id alone, never from the secret: drawing it decrypts nothing, so a
    list page costs no decryption, and it tells nothing about the secret, not even its length.
    Not a value either (too short, and ``*`` is not base62), so no scanner mistakes it for one.
    """
    if not TOKEN_ID_RE.fullmatch(token_id):
        raise ValueError("token_id must look like TKN-NNNN-NNNN")
    return f"{PREFIX}:{token_id}:{MASK_STARS}"


def encrypt(value: str, keys: Mapping[str, bytes], *, aad: str) -> str:
    """Encrypt with the newest key (the first); the result names the key it used.

    ``aad`` binds the ciphertext to its token id, so a ciphertext copied onto another row will
    not decrypt there.
    """
    kid, key = next(iter(keys.items()))
    nonce = os.urandom(NONCE_LENGTH)
    sealed = AESGCM(key).encrypt(nonce, value.encode("ascii"), aad.encode("ascii"))
    return f"{kid}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def key_id_of(ciphertext: str) -> str:
    return ciphertext.partition(":")[0]


def decrypt(ciphertext: str, keys: Mapping[str, bytes], *, aad: str) -> str:
    kid, sep, encoded = ciphertext.partition(":")
    key = keys.get(kid)
    if not sep or key is None:
        raise SecretError(f"no configured key named {kid!r}")
    try:
        raw = base64.b64decode(encoded, validate=True)
        plain = AESGCM(key).decrypt(raw[:NONCE_LENGTH], raw[NONCE_LENGTH:], aad.encode("ascii"))
    except (InvalidTag, binascii.Error, ValueError):
        raise SecretError("the stored value could not be decrypted") from None
    return plain.decode("ascii")
