"""The energy dashboard with a real recorder: the integration's energy sensors validate clean."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy import validate
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import async_mock_service
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from tests.csms import TestCsms

from .test_bridge import ENERGY, PLUG, set_up


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """The recorder must exist before Home Assistant starts (energy validation reads it)."""


async def test_energy_dashboard_is_valid_while_no_car_charges(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """Session energy keeps the last session's value (not unknown) between sessions, the
    energy register is a lifetime meter, and HA's energy validation finds nothing wrong."""
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    assert await async_setup_component(hass, "energy", {})
    entry = await set_up(hass, csms)
    hass.states.async_set(PLUG, "on")
    await csms.call(call.RemoteStartTransaction(id_tag="E1", connector_id=1))
    await csms.wait_for("StartTransaction")
    engine = entry.runtime_data.engine
    async with asyncio.timeout(15):  # RemoteStop names the id, known once it is durable
        while (tx := engine.connectors[1].transaction) is None or tx.transaction_id is None:
            await asyncio.sleep(0.01)
    hass.states.async_set(ENERGY, "13.0", {"unit_of_measurement": "kWh"})
    await hass.async_block_till_done()
    await csms.call(call.RemoteStopTransaction(transaction_id=1))
    await csms.wait_for("StopTransaction")
    hass.states.async_set(PLUG, "off")
    await hass.async_block_till_done()
    assert hass.states.get("sensor.cp1_session_energy").state == "0.655"  # 13.0 - 12.345 kWh
    meter = hass.states.get("sensor.cp1_energy_meter")
    assert meter is not None and meter.state == "13.0"
    assert meter.attributes["state_class"] == "total_increasing"
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "device_consumption": [
                {"stat_consumption": "sensor.cp1_energy_meter"},
                {"stat_consumption": "sensor.cp1_session_energy"},
            ]
        }
    )
    result = (await validate.async_validate(hass)).as_dict()
    assert result["device_consumption"] == [[], []]
    assert await hass.config_entries.async_unload(entry.entry_id)
