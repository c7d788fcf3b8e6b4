"""Settings for tokens-admin, all deploy-time values read from the environment.

Development (the default) works with no configuration at all: SQLite under ``var/`` and
random secrets generated once into ``var/dev-secrets.json``. ``APP_ENV=production`` turns every
missing secret into a start-up error and switches on the HTTPS hardening ``check --deploy``
expects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from tokens_admin.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_mailer,
    env_proxies,
    env_str,
    parse_encryption_keys,
    parse_hmac_keys,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

APP_ENV = env_choice("APP_ENV", "development", ("development", "production"))
PRODUCTION = APP_ENV == "production"
DEBUG = env_bool("DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG=1 is not allowed with APP_ENV=production")


def _dev_secrets() -> dict[str, str]:
    """Random secrets for development, generated once and kept under var/ (never committed)."""
    path = VAR_DIR / "dev-secrets.json"
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
        return data if "AUDIT_CHAIN_KEY" in data else _add_dev_audit_chain_key(path, data)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    data = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_PEPPER": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEYS": f"dev1:{_b64(secrets.token_bytes(32))}",
        "AUDIT_CHAIN_KEY": f"dev1:{_b64(secrets.token_bytes(32))}",
    }
    # O_EXCL: two processes starting at once must not both write different secrets.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing: dict[str, str] = json.loads(path.read_text())
        return existing
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return data


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _add_dev_audit_chain_key(path: Path, data: dict[str, str]) -> dict[str, str]:
    """A var/ from before AUDIT_CHAIN_KEY: add one, keeping the other secrets.

    Derived from the file's SECRET_KEY instead of random so that processes starting at once
    all write the same value (no lock needed); it is a development secret all the same.
    """
    label = b"tokens-admin development AUDIT_CHAIN_KEY"
    derived = hmac.new(data["SECRET_KEY"].encode(), label, hashlib.sha256).digest()
    data = {**data, "AUDIT_CHAIN_KEY": f"dev1:{_b64(derived)}"}
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(partial, path)
    return data


def _secret(name: str) -> str:
    value = env_str(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} is required when APP_ENV=production (see .env.example)")
    return _dev_secrets()[name]


SECRET_KEY = _secret("SECRET_KEY")
TOKEN_PEPPER = _secret("TOKEN_PEPPER").encode()
if len(TOKEN_PEPPER) < 16:
    raise ImproperlyConfigured("TOKEN_PEPPER must be at least 16 characters")
TOKEN_ENCRYPTION_KEYS = parse_encryption_keys(
    "TOKEN_ENCRYPTION_KEYS", _secret("TOKEN_ENCRYPTION_KEYS")
)
if TOKEN_PEPPER.decode() == SECRET_KEY:
    raise ImproperlyConfigured("TOKEN_PEPPER must differ from SECRET_KEY")
# Keys the audit chain's HMACs and checkpoint signatures (audit/chain.py); never stored in the
# database, so that whoever can rewrite the audit table cannot recompute the chain.
AUDIT_CHAIN_KEY = parse_hmac_keys("AUDIT_CHAIN_KEY", _secret("AUDIT_CHAIN_KEY"))
if set(AUDIT_CHAIN_KEY.values()) & set(TOKEN_ENCRYPTION_KEYS.values()):
    raise ImproperlyConfigured("AUDIT_CHAIN_KEY must not reuse a key of TOKEN_ENCRYPTION_KEYS")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when APP_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "tokens_admin",
    "accounts",
    "apitokens",
    "audit",
]
if not PRODUCTION:
    # Demo and benchmark data (seed_demo, bench_seed): absent from production, so a production
    # operator who runs them gets "Unknown command" instead of users with a published password.
    INSTALLED_APPS.append("devtools")

MIDDLEWARE = [
    # First: before SecurityMiddleware asks is_secure(), a forwarded scheme from a peer that
    # is not one of TRUSTED_PROXY is gone.
    "tokens_admin.middleware.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outermost with SecurityMiddleware, so that every response gets frame denial and the CSP:
    # also those a middleware answers itself (a bad Host header is a 400 from CommonMiddleware,
    # static files come from WhiteNoise, the API's refusals from the Bearer middleware).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tokens_admin.middleware.RequestContextMiddleware",
    "apitokens.url_guard.NoTokenValuesInUrlsMiddleware",
    # Before sessions: API requests never touch the session store.
    "apitokens.middleware.BearerAuthMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, noting the user it loads for the request's log line.
    "accounts.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Innermost: it turns login_required's redirect into HX-Redirect for htmx requests.
    "accounts.middleware.HtmxSignInMiddleware",
]

ROOT_URLCONF = "tokens_admin.urls"
WSGI_APPLICATION = "tokens_admin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.ui",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
# Seconds a connection stays open between requests, whichever database: reopening costs a
# connect (and on SQLite the PRAGMAs below) on every API call.
_CONN_MAX_AGE = 60
if DATABASE_URL:
    try:
        _db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=_CONN_MAX_AGE))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if _db["ENGINE"] not in (
        "django.db.backends.postgresql",
        "django.db.backends.sqlite3",
    ):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:/// URL")
    if not _db.get("NAME") or str(_db["NAME"]) == ":memory:":
        # An in-memory SQLite database is a different empty database in every connection.
        raise ImproperlyConfigured("DATABASE_URL must name a database (or a SQLite file path)")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "tokens-admin.sqlite3",
        "CONN_MAX_AGE": _CONN_MAX_AGE,
    }

if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # IMMEDIATE: a write transaction takes the write lock when it begins, so two writers
        # queue instead of failing with "database is locked" half-way through.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-tokens-admin.sqlite3")}
else:
    _db.setdefault("OPTIONS", {})
    # A lock held longer than this is a bug, not a queue: fail the request cleanly. No JIT:
    # compiling a plan costs tens of milliseconds, more than any of our indexed queries take
    # (it fired on counts over a million audit records, see docs/performance.md).
    _db["OPTIONS"].setdefault(
        "options",
        f"-c lock_timeout={env_int('DB_LOCK_TIMEOUT_MS', 5000, minimum=100)} -c jit=off",
    )
    # Django checks a reused connection (SELECT 1) before each request's first query and
    # replaces one the server has ended, so a database restart costs no client a 503. Django's
    # psycopg pool would be the other way; psycopg_pool is not a dependency (docs/decisions.md).
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis ------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication -------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/signin/"

# --- Product settings -----------------------------------------------------------------------
REVEAL_REAUTH_MINUTES = env_int("REVEAL_REAUTH_MINUTES", 15, minimum=1, maximum=24 * 60)
# The platform returns the full value on every read; we mask by default (SPEC section 3).
TOKEN_VALUE_ON_EVERY_READ = env_bool("TOKEN_VALUE_ON_EVERY_READ", default=False)
# The proxies in front of us (addresses or networks; "1" = on this host, see .env.example).
# Their X-Forwarded-Proto and X-Forwarded-For count; from any other peer the headers are
# dropped (tokens_admin.middleware.ForwardedHeadersMiddleware) or ignored (client_ip), and
# gunicorn.conf.py gives gunicorn the same list for the scheme it reports.
TRUSTED_PROXY = env_proxies("TRUSTED_PROXY")
if TRUSTED_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if PRODUCTION else "text", ("json", "text"))
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))

# --- Internationalisation, static files -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True
# Someone signed out whose CSRF cookie is gone too is sent to sign in, not shown a 403.
CSRF_FAILURE_VIEW = "accounts.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = True
    # The API must never answer plain HTTP with a redirect (SPEC 4.1): it answers 403 instead.
    SECURE_REDIRECT_EXEMPT = [r"^public/", r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading commits the whole registrable domain to HTTPS in every browser and is
        # slow to undo: the domain owner opts in with SECURE_HSTS_PRELOAD=1, not this default.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Logging --------------------------------------------------------------------------------
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "tokens_admin.logging.RedactSecretsFilter"},
        "refusals": {"()": "tokens_admin.logging.RefusalWithoutTracebackFilter"},
    },
    "formatters": {
        "json": {"()": "tokens_admin.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Filters on the loggers themselves (not only the handler) so that any handler —
        # a test's, an APM agent's — receives the redacted record.
        "django.db.backends": {"level": "INFO", "filters": ["redact"]},
        "django.request": {"filters": ["redact", "refusals"]},
        "django.server": {"filters": ["redact"]},
        "tokens_admin": {"filters": ["redact"]},
    },
}

# --- REST API -------------------------------------------------------------------------------
# Failed Bearer authentications allowed per client address and window before 429.
API_AUTH_FAILURE_LIMIT = env_int("API_AUTH_FAILURE_LIMIT", 30, minimum=1)
API_AUTH_FAILURE_WINDOW = env_int("API_AUTH_FAILURE_WINDOW", 60, minimum=1, maximum=3600)

# --- Admin UI ---------------------------------------------------------------------------------
# Strict Content-Security-Policy: every script and style is a file of ours under /static/ (no
# inline <script>, no inline event handlers, no style attributes), so nothing injected into a
# page can run. Logos are same-origin (/media/logos/), served by a view.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
LOGIN_REDIRECT_URL = "/settings/api-tokens/"
# Failed sign-ins allowed per email and per client address within the window, counted in the
# shared cache (Redis when REDIS_URL is set), before "Too many failed sign-in attempts".
SIGNIN_FAILURE_LIMIT_EMAIL = env_int("SIGNIN_FAILURE_LIMIT_EMAIL", 5, minimum=1)
SIGNIN_FAILURE_LIMIT_IP = env_int("SIGNIN_FAILURE_LIMIT_IP", 50, minimum=1)
SIGNIN_FAILURE_WINDOW = env_int("SIGNIN_FAILURE_WINDOW", 900, minimum=1, maximum=86400)

# --- Mail (issue 16): expiry and rotation notices sent by `manage.py tokens notify` -----------
# Django's SMTP backend (MAILERS, Django 6.1's mail settings) from the EMAIL_* variables of
# .env.example; EMAIL_BACKEND=console prints each message instead (`make run` does, so a
# newcomer sees the mail in the terminal).
MAILERS: dict[str, Any] = {"default": env_mailer()}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tokens-admin@localhost")
# Where the links in notices point: the address people open the pages at.
APP_BASE_URL = env_str("APP_BASE_URL", "https://localhost:8443").rstrip("/")
if not APP_BASE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured(
        f"APP_BASE_URL must start with https:// or http://; got {APP_BASE_URL!r}"
    )
