from django.apps import AppConfig


class ApiTokensConfig(AppConfig):
    name = "apitokens"
    label = "apitokens"
    default_auto_field = "django.db.models.BigAutoField"
