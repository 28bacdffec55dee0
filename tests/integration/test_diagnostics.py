"""Diagnostics: everything useful, nothing secret (authorization key, id tags, URL credentials)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from homeassistant.core import HomeAssistant
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import async_mock_service
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.ocpp_cp.diagnostics import redact_frame, redact_url
from tests.csms import TestCsms

from .test_bridge import PLUG, set_up

SECRET_KEY = "s3cr3t-authorization-key"
SECRET_TAG = "SECRETTAG1"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def stable(value: Any, port: int) -> Any:
    """Replace what changes from run to run (ids, times, the port) so a snapshot can compare."""
    if isinstance(value, dict):
        return {
            k: (
                "<number>"
                if k in ("at", "last_heartbeat", "csms_time_offset") and v
                else stable(v, port)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [stable(v, port) for v in value]
    if isinstance(value, str):
        value = _UUID.sub("<uuid>", value)
        value = _TIME.sub("<time>", value)
        return value.replace(str(port), "<port>")
    return value


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    csms: TestCsms,
    snapshot: SnapshotAssertion,
) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    csms.expected_password = SECRET_KEY
    entry = await set_up(hass, csms, data={"security_profile": 1, "authorization_key": SECRET_KEY})
    hass.states.async_set(PLUG, "on")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    await csms.call(call.RemoteStartTransaction(id_tag=SECRET_TAG, connector_id=1))
    await csms.wait_for("StartTransaction")
    engine = entry.runtime_data.engine
    async with asyncio.timeout(15):  # the answer's id is kept once it is durable
        while engine.connectors[1].transaction.transaction_id is None:
            await asyncio.sleep(0.01)
    await csms.wait_for("SecurityEventNotification")
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert SECRET_KEY not in text
    assert SECRET_TAG not in text
    assert "HOMEUSER" not in text  # the default idTag from the options
    assert diagnostics["engine"]["connection"]["state"] == "accepted"
    actions = [
        json.loads(f["frame"])[2]
        for f in diagnostics["engine"]["frames"]
        if json.loads(f["frame"])[0] == 2
    ]
    assert "StartTransaction" in actions
    normalised = stable(diagnostics, csms.port)
    # the order of answers and our own calls can interleave differently from run to run
    normalised["engine"]["frames"] = sorted(
        normalised["engine"]["frames"], key=lambda f: (f["direction"], f["frame"])
    )
    assert normalised == snapshot
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_redaction_helpers() -> None:
    frame = '[2,"1","Authorize",{"idTag":"ABC"}]'
    assert redact_frame(frame) == '[2,"1","Authorize",{"idTag":"**REDACTED**"}]'
    assert redact_frame('{"parentIdTag": "P1"}') == '{"parentIdTag": "**REDACTED**"}'
    assert redact_url("wss://cp:pw@csms.example/ocpp") == "wss://**REDACTED**@csms.example/ocpp"
    assert redact_url("ws://csms.example/ocpp") == "ws://csms.example/ocpp"
