"""Diagnostics download: settings, engine state, recent frames; secrets and id tags redacted."""

from __future__ import annotations

import json
import re
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .bridge import OcppCpConfigEntry
from .const import CONF_AUTHORIZATION_KEY, CONF_CSMS_URL, OPT_DEFAULT_ID_TAG
from .engine.journal import JournalError

TO_REDACT = {CONF_AUTHORIZATION_KEY, OPT_DEFAULT_ID_TAG, "id_tag", "idTag", "AuthorizationKey"}
_ID_TAG = re.compile(r'("(?:idTag|parentIdTag)"\s*:\s*)"[^"]*"')
SECURITY_LOG_SHOWN = 100
_URL_CREDENTIALS = re.compile(r"(wss?://)[^/@]+@")


def redact_frame(frame: str) -> str:
    """An OCPP frame with id tags and any credentials taken out."""
    frame = _ID_TAG.sub(r'\1"**REDACTED**"', frame)
    return re.sub(r'("(?:key|value)"\s*:\s*)"[0-9A-Fa-f]{16,}"', r'\1"**REDACTED**"', frame)


def redact_url(url: str) -> str:
    return _URL_CREDENTIALS.sub(r"\1**REDACTED**@", url)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: OcppCpConfigEntry
) -> dict[str, Any]:
    bridge = entry.runtime_data
    data = dict(entry.data)
    if CONF_CSMS_URL in data:
        data[CONF_CSMS_URL] = redact_url(str(data[CONF_CSMS_URL]))
    state = bridge.diagnostics()
    try:  # the newest 100 entries of the security log, oldest first
        entries = await bridge.engine.services.security.entries(SECURITY_LOG_SHOWN)
    except JournalError:
        entries = []
    state["security_log"] = [entry.to_dict() for entry in entries]
    state["frames"] = [
        {**frame, "frame": redact_frame(str(frame["frame"]))} for frame in state["frames"]
    ]
    result = {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(data, TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "engine": async_redact_data(state, TO_REDACT),
    }
    json.dumps(result, default=str)  # must serialise
    return result
