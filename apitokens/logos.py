"""Token logos: checked as real JPEG or PNG images, stored under random names.

An upload is decoded with Pillow, never trusted by its name or its Content-Type: the bytes must
parse as PNG or JPEG, ``verify()`` must pass, and the pixel count must stay under a bound so a
tiny file that decompresses into gigabytes (a "decompression bomb") is refused before it is
decoded. The stored name is random, so it says nothing about the uploader and cannot collide.
Logos live in a folder per account (``logos/ACC-…/``) and are served only to that account's
administrators (and operators acting on it), like every other object of an account.
"""

from __future__ import annotations

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
URL_PREFIX: Final = "/media/logos/"

# Pillow's own guard, for any code path that opens an image; ours below is stricter still.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class LogoRefused(ValueError):
    pass


def logo_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "logos"


def check(upload: UploadedFile[bytes]) -> tuple[bytes, str]:
    """The bytes and extension of a valid logo, or ``LogoRefused`` saying why not."""
    name = (upload.name or "").lower()
    if not name.endswith(EXTENSIONS):
        raise LogoRefused("Supported file types are .jpg & .png.")
    if upload.size is None or upload.size > MAX_BYTES:
        raise LogoRefused("The file is larger than 5MB.")
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LogoRefused("The file is larger than 5MB.")
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


def store(data: bytes, extension: str, *, account_id: str) -> str:
    """Write a checked logo of an account under a random name; returns the URL path kept on
    the token (``/media/logos/ACC-…/<name>``)."""
    if not ACCOUNT_RE.match(account_id):
        raise ValueError(f"not an account id: {account_id!r}")
    folder = logo_dir() / account_id
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(24)}.{extension}"
    with (folder / name).open("xb") as handle:
        handle.write(data)
    return f"{URL_PREFIX}{account_id}/{name}"


def path_for(account_id: str, name: str) -> Path | None:
    """The file of a stored logo, or None for a path we could not have generated."""
    if not ACCOUNT_RE.match(account_id) or not NAME_RE.match(name):
        return None
    path = logo_dir() / account_id / name
    return path if path.is_file() else None
