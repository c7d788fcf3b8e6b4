#!/usr/bin/env python
"""Django's command-line utility for tokens-admin."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tokens_admin.settings")
    from django.core.management import execute_from_command_line

    from tokens_admin.env import exit_on_bad_settings

    # A bad setting (REVEAL_REAUTH_MINUTES=0) ends any command with one line naming it.
    with exit_on_bad_settings():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
