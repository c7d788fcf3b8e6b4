"""Settings of the authentication benchmark's server: the product's settings, unchanged, plus
the libraries it is compared with (the ``bench`` extra) and their routes.

Everything the product does on a request — every middleware, the Bearer check under
``/public/`` — is exactly what ``tokens_admin.settings`` configures; this module only adds
apps and URLs next to it, so all seven variants run in one server.
"""

from __future__ import annotations

from typing import Any

from tokens_admin import settings as _product

for _name in dir(_product):
    if _name.isupper():
        globals()[_name] = getattr(_product, _name)

INSTALLED_APPS = [
    *_product.INSTALLED_APPS,
    "rest_framework",
    "rest_framework.authtoken",
    "knox",
    "rest_framework_api_key",
]
ROOT_URLCONF = "benchmarks.urls"
# DRF's defaults, as people use it; each benchmark view names its own authentication.
REST_FRAMEWORK: dict[str, Any] = {}
