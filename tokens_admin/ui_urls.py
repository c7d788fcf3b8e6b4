"""Admin UI routes (SPEC section 5)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, register_converter

from accounts import views as accounts_views
from accounts.access import require_admin
from apitokens import views, views_details, views_edit, views_policy, views_rotate, views_wizard
from audit import views as audit_views


class TokenIdConverter:
    regex = r"TKN-\d{4}-\d{4}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class AuditIdConverter:
    regex = r"AUD-\d{4}-\d{4}-\d{4}-\d{4}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenIdConverter, "tkn")
register_converter(AuditIdConverter, "aud")

app_name = "ui"
T = "settings/api-tokens/"
# audit knows no accounts: its pages get the access check here, as an argument.
AUDIT: dict[str, audit_views.AccessCheck] = {"require_admin": require_admin}
A = "settings/audit-trail/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", accounts_views.home, name="home"),
    path("signin/", accounts_views.sign_in, name="sign_in"),
    path("signout/", accounts_views.sign_out, name="sign_out"),
    path("account/", accounts_views.account_home, name="account"),
    path("account/switch/", accounts_views.switch_account, name="switch_account"),
    path("account/pick/", accounts_views.pick_account, name="pick_account"),
    path(T, views.token_list, name="tokens"),
    path(f"{T}add/", views_wizard.token_add, name="token_add"),
    path(f"{T}policy/", views_policy.token_policy, name="token_policy"),
    path(f"{T}<tkn:public_id>/", views_details.token_details, name="token_details"),
    path(f"{T}<tkn:public_id>/modules/", views_details.token_modules, name="token_modules"),
    path(f"{T}<tkn:public_id>/details/", views_details.token_details_tab, name="token_details_tab"),
    path(f"{T}<tkn:public_id>/usage/", views_details.token_usage, name="token_usage"),
    path(f"{T}<tkn:public_id>/audit/", views_details.token_audit, name="token_audit"),
    path(f"{T}<tkn:public_id>/created/", views_wizard.token_created, name="token_created"),
    path(f"{T}<tkn:public_id>/edit/", views_edit.token_edit, name="token_edit"),
    path(f"{T}<tkn:public_id>/reveal/", views_details.token_reveal, name="token_reveal"),
    path(f"{T}<tkn:public_id>/hide/", views_details.token_value_hidden, name="token_hide"),
    path(f"{T}<tkn:public_id>/rotate/", views_rotate.token_rotate, name="token_rotate"),
    path(f"{T}<tkn:public_id>/rotated/", views_rotate.token_rotated, name="token_rotated"),
    path(
        f"{T}<tkn:public_id>/<slug:action>/",
        views.token_action,
        name="token_action",
    ),
    path(A, audit_views.audit_list, AUDIT, name="audit"),
    path(f"{A}download/", audit_views.audit_download, AUDIT, name="audit_download"),
    path(f"{A}<aud:public_id>/", audit_views.audit_record, AUDIT, name="audit_record"),
    path("media/logos/<str:account_id>/<str:name>", views.logo, name="logo"),
]
