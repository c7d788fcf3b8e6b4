"""Tiny strict parsers for configuration taken from the environment.

Every parser raises ``ImproperlyConfigured`` with a message naming the variable and what was
expected, so a typo stops start-up instead of silently picking a default; and
``exit_on_bad_settings`` makes that message the one line start-up ends with.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@contextmanager
def exit_on_bad_settings() -> Iterator[None]:
    """Around start-up (``manage.py``, ``gunicorn.conf.py``): a value refused while the settings
    load ends the process with ``error: <the message>`` on stderr and exit status 1, not a
    traceback through Django's import machinery. Once the settings are loaded, an
    ``ImproperlyConfigured`` is a bug, and keeps its traceback."""
    try:
        yield
    except ImproperlyConfigured as exc:
        from django.conf import settings

        if settings.configured:
            raise
        raise SystemExit(f"error: {exc}") from None


_TRUE = {"1", "true", "on"}
_FALSE = {"0", "false", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, on/off; got {value!r}")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value, 10)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {number}")
    return number


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    value = _raw(name, environ)
    if value is None:
        return default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise ImproperlyConfigured(f"{name} must be a comma-separated list without empty items")
    return items


# What TRUSTED_PROXY=1 meant before it took addresses: a proxy on this host.
LOOPBACK_PROXIES = ("127.0.0.1", "::1")


def env_proxies(
    name: str, environ: Mapping[str, str] | None = None
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated proxy addresses or CIDR networks (IPv4 or IPv6). Unset, blank or ``0``:
    none; ``1``: a proxy on this host (127.0.0.1 and ::1). Parsed strictly: a network with
    host bits set (``10.0.0.1/8``) is a typo, and "everyone" (``*``, ``0.0.0.0/0``) is refused,
    because a proxy list that admits any peer lets every client forge its headers."""
    value = _raw(name, environ)
    if value is None or value == "0":
        return ()
    items = LOOPBACK_PROXIES if value == "1" else tuple(i.strip() for i in value.split(","))
    networks = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name} must be 0, 1 or comma-separated IP addresses or CIDR networks"
                f" (e.g. 10.0.0.5,fd00::/64): {exc}"
            ) from None
        if network.prefixlen == 0:
            raise ImproperlyConfigured(f"{name}: {item!r} would trust every peer; name the proxies")
        networks.append(network)
    return tuple(networks)


def parse_encryption_keys(name: str, value: str) -> dict[str, bytes]:
    """Parse ``kid:base64key,kid:base64key`` (newest first) into an ordered mapping.

    Each key must decode to exactly 32 bytes (AES-256-GCM); key ids are short and unique.
    """
    keys: dict[str, bytes] = {}
    for entry in value.split(","):
        kid, sep, encoded = entry.strip().partition(":")
        if not sep or not kid or not encoded:
            raise ImproperlyConfigured(
                f"{name} must be a comma-separated list of KEY_ID:BASE64_KEY entries"
            )
        if not kid.isalnum() or len(kid) > 16:
            raise ImproperlyConfigured(f"{name}: key id {kid!r} must be 1-16 letters or digits")
        if kid in keys:
            raise ImproperlyConfigured(f"{name}: key id {kid!r} appears twice")
        try:
            # validate=True: the default decoder silently drops stray characters.
            raw = base64.b64decode(
                encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True
            )
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"{name}: key {kid!r} is not valid base64") from None
        if len(raw) != 32:
            raise ImproperlyConfigured(
                f"{name}: key {kid!r} must decode to 32 bytes, got {len(raw)}"
            )
        keys[kid] = raw
    return keys


def parse_hmac_keys(name: str, value: str) -> dict[str, bytes]:
    """HMAC-SHA256 keys in the same ``kid:base64key,…`` form (newest first, 32 bytes each:
    the hash's own size, the strength HMAC-SHA256 offers)."""
    return parse_encryption_keys(name, value)


def env_mailer() -> dict[str, Any]:
    """Django's SMTP backend from the EMAIL_* variables (or the console backend with
    EMAIL_BACKEND=console), as one entry of Django 6.1's MAILERS."""
    if env_choice("EMAIL_BACKEND", "smtp", ("smtp", "console")) == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    use_tls = env_bool("EMAIL_USE_TLS", False)
    use_ssl = env_bool("EMAIL_USE_SSL", False)
    if use_tls and use_ssl:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive; set one")
    return {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": env_str("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 25, minimum=1, maximum=65535),
            "username": env_str("EMAIL_HOST_USER"),
            "password": env_str("EMAIL_HOST_PASSWORD"),
            "use_tls": use_tls,
            "use_ssl": use_ssl,
            "timeout": env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=300),
        },
    }
