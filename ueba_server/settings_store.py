"""The anomaly settings and the engine configuration: small JSON values in the `settings` table."""

from __future__ import annotations

from typing import Any

from ueba_server.database import Database

ANOMALY_SETTINGS_KEY = "anomaly_settings"
DEFAULT_ANOMALY_SETTINGS = {"action": "AUDIT", "threshold": 0.5}
CONFIGURATION_KEY = "configuration"
DEFAULT_CONFIGURATION = {"address": "", "trust_anchors": ""}


class SettingsStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def anomaly_settings(self) -> dict[str, Any]:
        return self.database.get_setting(ANOMALY_SETTINGS_KEY, DEFAULT_ANOMALY_SETTINGS)

    def set_anomaly_settings(self, settings: dict[str, Any]) -> None:
        self.database.set_setting(ANOMALY_SETTINGS_KEY, settings)

    def configuration(self) -> dict[str, Any]:
        return self.database.get_setting(CONFIGURATION_KEY, DEFAULT_CONFIGURATION)

    def set_configuration(self, configuration: dict[str, Any]) -> None:
        self.database.set_setting(CONFIGURATION_KEY, configuration)
