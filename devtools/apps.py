from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development data: the demo set of ``make run`` and the bulk data of ``make bench``.

    Installed only outside production (``settings.INSTALLED_APPS``), so its commands do not
    exist there. It may import every app; no app imports it.
    """

    name = "devtools"
    label = "devtools"
    verbose_name = "Development tools"
