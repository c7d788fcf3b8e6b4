from django.apps import AppConfig


class TokensAdminConfig(AppConfig):
    name = "tokens_admin"
    default_auto_field = "django.db.models.BigAutoField"
