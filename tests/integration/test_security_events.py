"""Security events reach Home Assistant as ``ocpp_cp_security_event`` and the diagnostics."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ocpp_cp.const import EVENT_SECURITY_EVENT
from custom_components.ocpp_cp.diagnostics import SECURITY_LOG_SHOWN
from tests.csms import TestCsms

from .test_bridge import set_up


async def test_security_events_fire_and_show_in_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, csms: TestCsms
) -> None:
    fired = async_capture_events(hass, EVENT_SECURITY_EVENT)
    entry = await set_up(hass, csms)
    await hass.async_block_till_done()
    assert [(e.data["type"], e.data["critical"]) for e in fired] == [("StartupOfTheDevice", True)]
    assert fired[0].data["entry_id"] == entry.entry_id
    assert fired[0].data["charge_point_id"] == "CP1"
    assert fired[0].data["tech_info"] == "The charge point has started"

    security = entry.runtime_data.engine.services.security
    await security.record("InvalidFirmwareSignature", "signature does not verify")
    for n in range(SECURITY_LOG_SHOWN):
        await security.record("TamperDetectionActivated", f"lid opened {n}")
    await hass.async_block_till_done()
    assert fired[1].data == {
        "entry_id": entry.entry_id,
        "charge_point_id": "CP1",
        "timestamp": fired[1].data["timestamp"],
        "type": "InvalidFirmwareSignature",
        "tech_info": "signature does not verify",
        "critical": False,
    }
    assert len(fired) == SECURITY_LOG_SHOWN + 2
    await csms.wait_for("SecurityEventNotification", lambda p: p["tech_info"] == "lid opened 99")

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    log = diagnostics["engine"]["security_log"]
    assert len(log) == SECURITY_LOG_SHOWN
    assert log[0]["tech_info"] == "lid opened 0"  # the newest 100: startup and the first aged out
    assert log[-1] == {
        "timestamp": fired[-1].data["timestamp"],
        "type": "TamperDetectionActivated",
        "tech_info": "lid opened 99",
        "critical": True,
    }
    assert await hass.config_entries.async_unload(entry.entry_id)
