"""One typed settings object, read once at start (see ``settings.py``)."""

from livemarket.config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
