"""``/healthz`` (the process is up) and ``/readyz`` (it can serve: database and migrations)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError


def test_it_answers_healthz_without_touching_the_database(client):
    # No django_db mark: any query on the way (middleware included) would raise here.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    # Probes must see the live answer, never a cached one.
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_is_ready_with_the_database_migrated(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "pendingMigrations": 0}
    assert "no-cache" in response["Cache-Control"]


def test_it_is_not_ready_when_the_database_is_unreachable(client, caplog):
    broken = mock.MagicMock()
    broken.cursor.side_effect = OperationalError("could not connect to server: secret-host")

    with mock.patch("tokens_admin.health.connection", broken):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    # The log says what failed without echoing driver messages (hosts, users) to the world.
    assert "database unreachable (OperationalError)" in caplog.text
    assert "secret-host" not in response.content.decode()


@pytest.mark.django_db
def test_it_is_not_ready_while_migrations_are_pending(client):
    pending = [(mock.sentinel.migration, False)]
    with mock.patch("tokens_admin.health.MigrationExecutor.migration_plan", return_value=pending):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "pendingMigrations": 1}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_it_answers_only_get(client, path):
    response = client.post(path)

    assert response.status_code == 405
