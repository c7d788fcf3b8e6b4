"""Token logos: checked as real JPEG or PNG images, stored under random names.

An upload is decoded with Pillow, never trusted by its name or its Content-Type: the bytes must
parse as PNG or JPEG, ``verify()`` must pass, and the pixel count must stay under a bound so a
tiny file that decompresses into gigabytes (a "decompression bomb") is refused before it is
decoded. The stored name is random, so it says nothing about the uploader and cannot collide.
Logos live in a folder per account (``logos/ACC-…/``) and are served only to that account's
administrators (and operators acting on it), like every other object of an account.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import secrets
import warnings
from pathlib import Path
from typing import Final

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

MAX_BYTES: Final = 5 * 1024 * 1024
MAX_SIDE: Final = 4096
MAX_PIXELS: Final = MAX_SIDE * MAX_SIDE
FORMATS: Final = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg")}
EXTENSIONS: Final = (".png", ".jpg", ".jpeg")
NAME_RE: Final = re.compile(r"^[A-Za-z0-9_-]{20,64}\.(png|jpg)$")
ACCOUNT_RE: Final = re.compile(r"^ACC-\d{4}-\d{4}$")
CONTENT_TYPES: Final = {"png": "image/png", "jpg": "image/jpeg"}
HINT: Final = "Max file size is 5MB. Supported file types are .jpg & .png"
TOO_BIG: Final = "The file is larger than 5MB."
URL_PREFIX: Final = "/media/logos/"

logger = logging.getLogger(__name__)

# Pillow's own guard, for any code path that opens an image; ours below is stricter still.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class LogoRefused(ValueError):
    pass


class LogoNotStored(Exception):
    """A valid logo that could not be written (disk full, read-only volume, …)."""


def logo_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "logos"


def check(upload: UploadedFile[bytes]) -> tuple[bytes, str]:
    """The bytes and extension of a valid logo, or ``LogoRefused`` saying why not."""
    name = (upload.name or "").lower()
    if not name.endswith(EXTENSIONS):
        raise LogoRefused("Supported file types are .jpg & .png.")
    if upload.size is None or upload.size > MAX_BYTES:
        raise LogoRefused(TOO_BIG)
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LogoRefused(TOO_BIG)
    return data, _verify(data)


def _verify(data: bytes) -> str:
    import io

    try:
        with warnings.catch_warnings():
            # Between MAX_IMAGE_PIXELS and twice that Pillow only warns; make it refuse.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                width, height = image.size
                if fmt not in FORMATS:
                    raise LogoRefused("Supported file types are .jpg & .png.")
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise LogoRefused(f"The image must be at most {MAX_SIDE} by {MAX_SIDE} pixels.")
                end = _end_of_image(data, fmt)
                if end is None:
                    raise LogoRefused("The file is not a valid .jpg or .png image.")
                if end != len(data):
                    raise LogoRefused("The file has data after the end of the image.")
                image.verify()
            # verify() leaves the image unusable; decode it fully once, from a fresh parse,
            # to catch truncated data that only shows while decoding.
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoRefused("The image has too many pixels.") from None
    except LogoRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise LogoRefused("The file is not a valid .jpg or .png image.") from None
    return FORMATS[fmt][0]


def _end_of_image(data: bytes, fmt: str) -> int | None:
    """Where the image ends: past PNG's IEND chunk, or past the JPEG marker EOI (segments are
    skipped by their length, entropy-coded data up to the next real marker). None if it never
    ends. Anything after that end is how polyglots are made (an image that is also a ZIP or a
    JAR, read from its end, or HTML), and Pillow ignores it, so it is refused here."""
    size = len(data)
    if fmt == "PNG":
        pos = 8  # the signature
        while pos + 12 <= size:
            length = int.from_bytes(data[pos : pos + 4], "big")
            kind = data[pos + 4 : pos + 8]
            pos += 12 + length  # length, type, data, CRC
            if kind == b"IEND":
                return pos if pos <= size else None
        return None
    pos = 2  # SOI
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if pos + 4 > size:
            return None
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= size:
                    return None
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:  # stuffing, restart
                    pos += 2
                    continue
                break
    return None


def store(data: bytes, extension: str, *, account_id: str) -> str:
    """Write a checked logo of an account under a random name; returns the URL path kept on
    the token (``/media/logos/ACC-…/<name>``)."""
    if not ACCOUNT_RE.match(account_id):
        raise ValueError(f"not an account id: {account_id!r}")
    folder = logo_dir() / account_id
    name = f"{secrets.token_urlsafe(24)}.{extension}"
    path = folder / name
    created = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as handle:
            created = True
            handle.write(data)
    except OSError as exc:
        # Never leave a partial file behind (a later reader would serve half an image), and
        # only ever remove the file this call created ("xb" refuses an existing one).
        if created:
            with contextlib.suppress(OSError):
                path.unlink()
        code = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        logger.error("logo not stored for %s: %s", account_id, code)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise LogoNotStored(
                "The logo could not be saved: the server is out of storage space. "
                "Try again later, or continue without a logo."
            ) from None
        raise LogoNotStored(
            "The logo could not be saved. Try again later, or continue without a logo."
        ) from None
    return f"{URL_PREFIX}{account_id}/{name}"


def path_for(account_id: str, name: str) -> Path | None:
    """The file of a stored logo, or None for a path we could not have generated."""
    if not ACCOUNT_RE.match(account_id) or not NAME_RE.match(name):
        return None
    path = logo_dir() / account_id / name
    return path if path.is_file() else None
