"""Settings as an operator meets them: each case starts a fresh Django process with a controlled
environment, because settings are read once, at start-up."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Only what a process needs to run; nothing of ours leaks in from the caller (CI sets
# DATABASE_URL, REDIS_URL and friends for the suite itself).
BASE_ENV = {
    key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SYSTEMROOT") if key in os.environ
}


def production_env(var_dir: Path) -> dict[str, str]:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    chain_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return {
        "APP_ENV": "production",
        "VAR_DIR": str(var_dir),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_PEPPER": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEYS": f"k1:{key}",
        "AUDIT_CHAIN_KEY": f"c1:{chain_key}",
        "ALLOWED_HOSTS": "tokens.example.com",
    }


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**BASE_ENV, "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_of(env: dict[str, str], *names: str) -> dict[str, object]:
    """The named settings as a fresh process with ``env`` sees them."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**BASE_ENV, "DJANGO_SETTINGS_MODULE": "tokens_admin.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    values: dict[str, object] = json.loads(result.stdout)
    return values


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """A refused setting stops start-up with exactly one line on stderr, never a traceback
    (issue 15, item 5): the line, without its ``error: ``."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0].removeprefix("error: ")


def test_it_passes_the_deploy_check_with_a_full_production_config(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "TOKEN_PEPPER", "TOKEN_ENCRYPTION_KEYS", "AUDIT_CHAIN_KEY", "ALLOWED_HOSTS"],
)
def test_it_refuses_to_start_in_production_without(tmp_path, name):
    env = production_env(tmp_path)
    del env[name]

    result = manage(env, "check")

    assert one_line_error(result).startswith(f"{name} is required when APP_ENV=production")
    # A secret is never replaced by a generated one in production.
    assert not (tmp_path / "dev-secrets.json").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": "mysql://db.example.com/tokens"}, "DATABASE_URL must be a postgres://"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL is not a valid database URL"),
        ({"DATABASE_URL": "postgres://u@h:port/db"}, "DATABASE_URL is not a valid database URL"),
        ({"DATABASE_URL": "postgres://db.example.com"}, "DATABASE_URL must name a database"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL must name a database"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL must start with redis://"),
        ({"TOKEN_ENCRYPTION_KEYS": "k1"}, "TOKEN_ENCRYPTION_KEYS must be a comma-separated list"),
        ({"TOKEN_ENCRYPTION_KEYS": "k1:c2hvcnQ"}, "key 'k1' must decode to 32 bytes, got 5"),
        ({"TOKEN_PEPPER": "short"}, "TOKEN_PEPPER must be at least 16 characters"),
        ({"AUDIT_CHAIN_KEY": "c1:c2hvcnQ"}, "AUDIT_CHAIN_KEY: key 'c1' must decode to 32 bytes"),
        ({"AUDIT_CHAIN_KEY": "c1:not*base64"}, "AUDIT_CHAIN_KEY: key 'c1' is not valid base64"),
        ({"AUDIT_CHAIN_KEY": "abcdef0123"}, "AUDIT_CHAIN_KEY must be a comma-separated list"),
        ({"DEBUG": "1"}, "DEBUG=1 is not allowed with APP_ENV=production"),
        ({"DEBUG": "yes"}, "DEBUG must be one of 1/0, true/false, on/off; got 'yes'"),
        ({"APP_ENV": "prod"}, "APP_ENV must be one of development, production; got 'prod'"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of json, text"),
        ({"REVEAL_REAUTH_MINUTES": "0"}, "REVEAL_REAUTH_MINUTES must be at least 1"),
        ({"ALLOWED_HOSTS": "a.example.com,,b"}, "ALLOWED_HOSTS must be a comma-separated list"),
        ({"TRUSTED_PROXY": "10.0.0.1/8"}, "TRUSTED_PROXY must be 0, 1 or comma-separated IP"),
        ({"TRUSTED_PROXY": "*"}, "TRUSTED_PROXY must be 0, 1 or comma-separated IP"),
    ],
)
def test_it_refuses_to_start_with_a_bad_value(tmp_path, overrides, message):
    result = manage({**production_env(tmp_path), **overrides}, "check")

    assert message in one_line_error(result)


@pytest.mark.parametrize("command", [("check",), ("tokens", "list"), ("migrate", "--check")])
def test_a_bad_setting_ends_any_command_with_one_line(tmp_path, command):
    # A command of ours too: Django would first answer "Unknown command" for it.
    result = manage({"VAR_DIR": str(tmp_path), "REVEAL_REAUTH_MINUTES": "0"}, *command)

    assert one_line_error(result) == "REVEAL_REAUTH_MINUTES must be at least 1; got 0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_bad_setting_stops_gunicorn_with_one_line(tmp_path):
    # In the master, before it listens: each worker that fails to boot prints a traceback.
    bad = {"REVEAL_REAUTH_MINUTES": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "tokens_admin.wsgi"],
        cwd=ROOT,
        env={**BASE_ENV, "VAR_DIR": str(tmp_path), "PORT": str(free_port()), **bad},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert one_line_error(result) == "REVEAL_REAUTH_MINUTES must be at least 1; got 0"


def test_a_bad_gunicorn_setting_stops_it_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "tokens_admin.wsgi"],
        cwd=ROOT,
        env={**BASE_ENV, "VAR_DIR": str(tmp_path), "WORKERS": "none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert one_line_error(result) == "WORKERS must be a whole number; got 'none'"


def test_it_refuses_a_pepper_equal_to_the_secret_key(tmp_path):
    env = production_env(tmp_path)
    env["TOKEN_PEPPER"] = env["SECRET_KEY"]

    result = manage(env, "check")

    assert one_line_error(result) == "TOKEN_PEPPER must differ from SECRET_KEY"


def test_it_refuses_an_audit_chain_key_that_is_also_an_encryption_key(tmp_path):
    env = production_env(tmp_path)
    env["AUDIT_CHAIN_KEY"] = env["TOKEN_ENCRYPTION_KEYS"]

    result = manage(env, "check")

    assert one_line_error(result) == "AUDIT_CHAIN_KEY must not reuse a key of TOKEN_ENCRYPTION_KEYS"


def test_it_never_echoes_a_database_password_in_the_error(tmp_path):
    env = {**production_env(tmp_path), "DATABASE_URL": "mysql://app:hunter2-secret@db/tokens"}

    result = manage(env, "check")

    assert result.returncode != 0
    assert "hunter2-secret" not in result.stderr


def test_it_hardens_https_in_production_but_never_redirects_the_api(tmp_path):
    values = settings_of(
        production_env(tmp_path),
        "SECURE_SSL_REDIRECT",
        "SECURE_REDIRECT_EXEMPT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "LOG_FORMAT",
        "DEBUG",
        "SECURE_PROXY_SSL_HEADER",
    )

    assert values["SECURE_SSL_REDIRECT"] is True
    # SPEC 4.1: plain HTTP to the API answers 403, never a redirect; probes stay plain.
    assert values["SECURE_REDIRECT_EXEMPT"] == [r"^public/", r"^healthz$", r"^readyz$"]
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["LOG_FORMAT"] == "json"
    assert values["DEBUG"] is False
    # X-Forwarded-Proto is believed only when the operator says a proxy overwrites it.
    assert values["SECURE_PROXY_SSL_HEADER"] is None


def test_it_trusts_the_proxy_header_only_when_told(tmp_path):
    values = settings_of(
        {**production_env(tmp_path), "TRUSTED_PROXY": "1"},
        "SECURE_PROXY_SSL_HEADER",
        "TRUSTED_PROXY",
    )

    # (ForwardedHeadersMiddleware drops the header from any peer that is not in the list.)
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["TRUSTED_PROXY"] == ["127.0.0.1/32", "::1/128"]  # "1": a proxy on this host


def test_it_reads_the_proxies_as_addresses_and_networks(tmp_path):
    env = {**production_env(tmp_path), "TRUSTED_PROXY": "10.0.0.0/8, 192.0.2.7,fd00::/64"}

    values = settings_of(env, "TRUSTED_PROXY")

    assert values["TRUSTED_PROXY"] == ["10.0.0.0/8", "192.0.2.7/32", "fd00::/64"]


def test_the_default_sqlite_database_keeps_its_connection_between_requests(tmp_path):
    env = {k: v for k, v in production_env(tmp_path).items() if k != "DATABASE_URL"}

    database = settings_of(env, "DATABASES")["DATABASES"]["default"]  # type: ignore[index]

    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["CONN_MAX_AGE"] == 60


def test_it_selects_postgresql_from_database_url(tmp_path):
    env = {
        **production_env(tmp_path),
        "DATABASE_URL": "postgres://app:pw@db.example.com:6543/tokens",
        "DB_LOCK_TIMEOUT_MS": "2500",
    }

    database = settings_of(env, "DATABASES")["DATABASES"]["default"]  # type: ignore[index]

    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["HOST"], database["PORT"], database["NAME"]) == (
        "db.example.com",
        6543,
        "tokens",
    )
    assert database["OPTIONS"]["options"] == "-c lock_timeout=2500 -c jit=off"


def test_it_uses_redis_for_the_cache_when_configured(tmp_path):
    env = {**production_env(tmp_path), "REDIS_URL": "redis://cache.example.com:6379/2"}

    caches = settings_of(env, "CACHES")["CACHES"]

    assert caches["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"  # type: ignore[index]
    assert caches["default"]["LOCATION"] == "redis://cache.example.com:6379/2"  # type: ignore[index]


def test_it_needs_no_configuration_in_development(tmp_path):
    result = manage({"VAR_DIR": str(tmp_path)}, "check")

    assert result.returncode == 0, result.stderr
    secrets_file = tmp_path / "dev-secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    generated = json.loads(secrets_file.read_text())
    assert set(generated) == {
        "SECRET_KEY",
        "TOKEN_PEPPER",
        "TOKEN_ENCRYPTION_KEYS",
        "AUDIT_CHAIN_KEY",
    }


def test_it_adds_an_audit_chain_key_to_development_secrets_from_before_it(tmp_path):
    # A var/ made before AUDIT_CHAIN_KEY existed: the key is added, the other secrets kept
    # (a new TOKEN_PEPPER would orphan every token digest).
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    old = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_PEPPER": secrets.token_urlsafe(32),
        "TOKEN_ENCRYPTION_KEYS": f"dev1:{key}",
    }
    (tmp_path / "dev-secrets.json").write_text(json.dumps(old))
    env = {"VAR_DIR": str(tmp_path)}

    first = settings_of(env, "SECRET_KEY")
    stored = json.loads((tmp_path / "dev-secrets.json").read_text())
    second = settings_of(env, "AUDIT_CHAIN_KEY")

    assert first["SECRET_KEY"] == old["SECRET_KEY"]
    assert stored == {**old, "AUDIT_CHAIN_KEY": stored["AUDIT_CHAIN_KEY"]}
    assert stored["AUDIT_CHAIN_KEY"].startswith("dev1:")
    assert list(second["AUDIT_CHAIN_KEY"]) == ["dev1"]  # type: ignore[call-overload]
    assert stat.S_IMODE((tmp_path / "dev-secrets.json").stat().st_mode) == 0o600


def test_it_keeps_the_generated_development_secrets_across_restarts(tmp_path):
    env = {"VAR_DIR": str(tmp_path)}

    first = settings_of(env, "SECRET_KEY", "DATABASES")
    second = settings_of(env, "SECRET_KEY")

    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    database = first["DATABASES"]["default"]  # type: ignore[index]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(tmp_path / "tokens-admin.sqlite3")


def test_env_example_and_readme_list_every_variable_settings_reads() -> None:
    """SPEC 7: every variable has a safe default and is listed in .env.example."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    source = (root / "tokens_admin" / "settings.py").read_text()
    read = set(re.findall(r'env_[a-z]+\(\s*"([A-Z_]+)"', source)) | set(
        re.findall(r'_secret\("([A-Z_]+)"\)', source)
    )
    assert {"DATABASE_URL", "SECRET_KEY", "TOKEN_PEPPER", "REDIS_URL"} <= read
    example = set(re.findall(r"^([A-Z_]+)=", (root / ".env.example").read_text(), re.M))
    readme = (root / "README.md").read_text()
    assert read - example == set()
    # The README's table may abbreviate a family: `API_AUTH_FAILURE_LIMIT` / `_WINDOW`.
    missing = [
        n for n in sorted(read) if n not in readme and f"`_{n.rsplit('_', 1)[-1]}`" not in readme
    ]
    assert missing == []
