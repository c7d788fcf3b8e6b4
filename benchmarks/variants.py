"""The eight variants of the authentication benchmark: one trivial view, seven ways to reach it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    path: str
    # Key of the variant's Authorization header in the fixtures, None for no credentials.
    credential: str | None


VARIANTS = (
    Variant("floor", "plain Django view, no auth (the floor)", "/bench/plain", None),
    Variant("ours", "tokens-admin Bearer middleware", "/public/bench/ok", "ours"),
    # Issue 17: the same with a token fenced to an allowlist of 20 ranges (the caller's last),
    # usage counted as for every token: the allowlist's cost is this row minus the one above.
    Variant(
        "ours_fenced",
        "tokens-admin Bearer middleware, token with a 20-range allowlist",
        "/public/bench/fenced",
        "ours_fenced",
    ),
    # Outside /public/, with the same token: one SELECT and one HMAC compare, no more.
    Variant(
        "lean", "lean reference: one indexed SELECT and an HMAC compare", "/bench/lean", "ours"
    ),
    Variant("drf", "DRF APIView, no auth", "/bench/drf/plain", None),
    Variant("drf_token", "DRF TokenAuthentication", "/bench/drf/token", "drf_token"),
    Variant("knox", "django-rest-knox", "/bench/drf/knox", "knox"),
    Variant("api_key", "djangorestframework-api-key", "/bench/drf/api-key", "api_key"),
)
PATHS = {variant.key: variant.path for variant in VARIANTS}
LIBRARIES = ("drf_token", "knox", "api_key")
