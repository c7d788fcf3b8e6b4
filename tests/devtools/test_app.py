"""The ``devtools`` app (demo and benchmark data) exists outside production only: an operator
who runs its commands with ``APP_ENV=production`` is told the command does not exist, and
nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps

from tests.test_settings import manage, production_env


def test_it_is_installed_outside_production() -> None:
    assert apps.is_installed("devtools")


@pytest.mark.parametrize("command", ["seed_demo", "bench_seed"])
def test_its_commands_do_not_exist_in_production(tmp_path: Path, command: str) -> None:
    result = manage(production_env(tmp_path), command, "--tokens", "1")

    assert result.returncode == 1
    assert f"Unknown command: '{command}'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "tokens-admin.sqlite3").exists()  # not even a database was opened


def test_production_help_does_not_list_them(tmp_path: Path) -> None:
    result = manage(production_env(tmp_path), "help", "--commands")

    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    assert {"tokens", "audit", "keys"} <= listed
    assert not {"seed_demo", "bench_seed"} & listed
