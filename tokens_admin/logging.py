"""Log formatting and a last-line-of-defence filter that blanks anything shaped like a token."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.core.exceptions import PermissionDenied

# The whole value, or the secret part on its own, wherever it appears in a message.
_TOKEN_RE = re.compile(r"(idt:TKN-\d{4}-\d{4}:)[A-Za-z0-9]{64}")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)\S+")
# Stored forms: the HMAC digest (64 hex) and the AES-GCM ciphertext ("kid:base64"). They reach
# log lines only through SQL debug logging, which interpolates query parameters.
_DIGEST_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_CIPHERTEXT_RE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{1,16}:[A-Za-z0-9+/]{80,}={0,2}")
REDACTED = "[REDACTED]"


def redact_values(text: str) -> str:
    """Blank the secret part of anything shaped like a token value (for text we send back,
    such as a problem detail quoting a path: our own words stay as they are)."""
    return _TOKEN_RE.sub(r"\1" + REDACTED, text)


def redact_credentials(text: str) -> str:
    """Blank token values and Bearer credentials (for stored text such as audit summaries)."""
    return _BEARER_RE.sub(r"\1" + REDACTED, _TOKEN_RE.sub(r"\1" + REDACTED, text))


def redact(text: str) -> str:
    """For log lines: also blank anything shaped like a stored digest or ciphertext."""
    text = _CIPHERTEXT_RE.sub(REDACTED, redact_credentials(text))
    return _DIGEST_RE.sub(REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites the formatted message so no token value can reach a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format must not hide the record
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


class RefusalWithoutTracebackFilter(logging.Filter):
    """``django.request`` logs a raised ``PermissionDenied`` with its traceback. A refusal is
    the access check doing its job (a Member opening an Administrator page), not a fault: it
    keeps its one WARNING line, as a 404 does, and loses the traceback. Every other exception
    keeps its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with ``extra={...}`` are kept."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
