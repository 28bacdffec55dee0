"""One entry, no questions: created from configuration.yaml or from the UI."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult

from . import DOMAIN


class DemoChargerConfigFlow(ConfigFlow, domain=DOMAIN):
    VERSION = 1

    async def async_step_import(self, import_data: dict[str, Any] | None) -> ConfigFlowResult:
        return self.async_create_entry(title="Demo charger", data={})

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        if user_input is not None:
            return self.async_create_entry(title="Demo charger", data={})
        return self.async_show_form(step_id="user", data_schema=vol.Schema({}))
