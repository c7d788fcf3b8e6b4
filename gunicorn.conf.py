"""gunicorn's configuration for tokens-admin: `make run`, the tests' live servers and the docs
use it, and gunicorn reads it by itself when started from this directory.

Read from the environment (command-line flags still win, as gunicorn always lets them):
PORT (8443) and WORKERS (2) as `make run` has them; TLS_CERTFILE and TLS_KEYFILE for HTTPS in
gunicorn itself (unset: plain HTTP, for a TLS proxy in front on this host); TRUSTED_PROXY, the
same list settings.py reads.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

# gunicorn runs this file before it imports the application: the checkout must be importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tokens_admin.env import env_int, env_proxies, env_str, exit_on_bad_settings

# The settings are read here, in the master, before it listens: a bad value ends gunicorn with
# one line naming it. (Left to the workers, each would print a traceback before gunicorn gave
# up.) The workers fork with the module already imported, so they do not read it again.
with exit_on_bad_settings():
    importlib.import_module(os.environ.get("DJANGO_SETTINGS_MODULE", "tokens_admin.settings"))
    port = env_int("PORT", 8443, minimum=1, maximum=65535)
    workers = env_int("WORKERS", 2, minimum=1)
    trusted_proxies = env_proxies("TRUSTED_PROXY")

bind = [f"127.0.0.1:{port}"]
timeout = 60
graceful_timeout = 10
# The longest request line gunicorn allows, so every query the API refuses as too long
# reaches it (and gets a problem, not gunicorn's HTML 414).
limit_request_line = 8190
control_socket_disable = True
errorlog = "-"

certfile = env_str("TLS_CERTFILE") or None
keyfile = env_str("TLS_KEYFILE") or None
if bool(certfile) != bool(keyfile):
    sys.exit("gunicorn.conf.py: set both TLS_CERTFILE and TLS_KEYFILE, or neither")

# gunicorn's own default trusts X-Forwarded-* from 127.0.0.1 and ::1, so any local process (or
# anything a local proxy passes through) could make a plain-HTTP request look like HTTPS. Only
# the proxies the operator names count, and only X-Forwarded-Proto, the one header the
# documented proxy setup overwrites (X-Forwarded-Ssl and X-Forwarded-Protocol are left to
# whatever the client sent, so they must never mean HTTPS).
# (Set here, gunicorn's FORWARDED_ALLOW_IPS variable is not read: one list, ours.)
forwarded_allow_ips = ",".join(str(network) for network in trusted_proxies)
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
