"""The integration in a real HA test instance against a real CSMS on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from ocpp.v16 import call
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_mock_service,
)

from custom_components.ocpp_cp.bridge import queue_path, to_canonical
from custom_components.ocpp_cp.const import DOMAIN, EVENT_CSMS_REQUEST
from tests.csms import TestCsms

PLUG = "binary_sensor.car_plugged"
SWITCH = "switch.charger_enable"
NUMBER = "number.charger_current"
POWER = "sensor.charger_power"
ENERGY = "sensor.charger_energy"
VOLTAGE = "sensor.charger_voltage"
CURRENT = "sensor.charger_current"
SOC = "sensor.car_soc"


def entry_for(
    csms: TestCsms, data: dict[str, Any] | None = None, **mapping: Any
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id=f"{csms.url}|CP1",
        data={
            "csms_url": csms.url,
            "charge_point_id": "CP1",
            "security_profile": 0,
            "vendor": "ocpp_cp",
            "model": "Test",
            "number_of_connectors": 1,
            **(data or {}),
        },
        options={
            "mapping": {
                "1": {
                    "charge_switch": SWITCH,
                    "current_number": NUMBER,
                    "plug_sensor": PLUG,
                    "power": POWER,
                    "energy": ENERGY,
                    "voltage": VOLTAGE,
                    "current": CURRENT,
                    "soc": SOC,
                    "phases": 1,
                    **mapping,
                }
            },
            "default_id_tag": "HOMEUSER",
        },
    )


async def set_up(
    hass: HomeAssistant, csms: TestCsms, data: dict[str, Any] | None = None, **mapping: Any
) -> MockConfigEntry:
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    hass.states.async_set(NUMBER, "16", {"min": 6, "max": 32, "unit_of_measurement": "A"})
    hass.states.async_set(POWER, "0", {"unit_of_measurement": "kW"})
    hass.states.async_set(ENERGY, "12.345", {"unit_of_measurement": "kWh"})
    hass.states.async_set(VOLTAGE, "231", {"unit_of_measurement": "V"})
    hass.states.async_set(CURRENT, "0", {"unit_of_measurement": "A"})
    hass.states.async_set(SOC, "40", {"unit_of_measurement": "%"})
    entry = entry_for(csms, data, **mapping)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    return entry


async def test_session_driven_by_ha_entities_and_the_csms(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    switch_on = async_mock_service(hass, "switch", "turn_on")
    switch_off = async_mock_service(hass, "switch", "turn_off")
    set_value = async_mock_service(hass, "number", "set_value")
    entry = await set_up(hass, csms)
    state = hass.states.get("sensor.cp1_connection_state")
    assert state is not None, sorted(hass.states.async_entity_ids())
    assert state.state == "accepted"
    await csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    await csms.call(
        call.ChangeConfiguration(
            key="MeterValuesSampledData",
            value="Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
        )
    )

    hass.states.async_set(PLUG, "on")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    assert hass.states.get("sensor.cp1_status").state == "preparing"

    events = async_capture_events(hass, EVENT_CSMS_REQUEST)
    result = await csms.call(call.RemoteStartTransaction(id_tag="REMOTE1", connector_id=1))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction")
    assert (start["meter_start"], start["id_tag"]) == (12345, "REMOTE1")
    await hass.async_block_till_done()
    assert [c.data["entity_id"] for c in switch_on] == [SWITCH]
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 32.0}
    assert events[0].data["kind"] == "remote_start"
    assert events[0].data["id_tag"] == "REMOTE1"

    hass.states.async_set(POWER, "7.36", {"unit_of_measurement": "kW"})
    hass.states.async_set(CURRENT, "32", {"unit_of_measurement": "A"})
    hass.states.async_set(ENERGY, "12.9", {"unit_of_measurement": "kWh"})
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Charging")
    sample = await csms.wait_for(
        "MeterValues",
        lambda p: any(
            v["measurand"] == "Power.Active.Import" and v["value"] == "7360"
            for v in p["meter_value"][0]["sampled_value"]
        ),
    )
    rows = {
        (v["measurand"], v.get("phase")): (v["value"], v.get("unit"))
        for v in sample["meter_value"][0]["sampled_value"]
    }
    assert rows == {
        ("Energy.Active.Import.Register", None): ("12900", "Wh"),
        ("Power.Active.Import", None): ("7360", "W"),
        ("Current.Import", "L1"): ("32", "A"),
        ("Current.Import", "L2"): ("0", "A"),
        ("Current.Import", "L3"): ("0", "A"),
        ("Voltage", "L1-N"): ("231", "V"),
        ("SoC", None): ("40", "Percent"),
    }
    assert sample["transaction_id"] == 1
    await hass.async_block_till_done()
    assert hass.states.get("sensor.cp1_session_energy").state == "0.555"  # kWh (suggested unit)
    assert hass.states.get("sensor.cp1_current_offered").state == "32.0"

    hass.states.async_set(SOC, "unavailable")  # an unavailable source drops out
    hass.states.async_set(ENERGY, "13.2", {"unit_of_measurement": "kWh"})
    await hass.async_block_till_done()
    assert hass.states.get("sensor.cp1_session_energy").state == "0.855"  # follows the meter
    mark = len(csms.received)
    later = await csms.wait_for("MeterValues", after=mark)
    assert "SoC" not in {v["measurand"] for v in later["meter_value"][0]["sampled_value"]}

    result = await csms.call(call.RemoteStopTransaction(transaction_id=1))
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction")
    assert (stop["meter_stop"], stop["reason"]) == (13200, "Remote")
    await hass.async_block_till_done()
    # off at start-up (no transaction, so no charging), then off again at the stop
    assert [c.data["entity_id"] for c in switch_off] == [SWITCH, SWITCH]
    assert len(switch_on) == 1
    assert hass.states.get("sensor.cp1_status").state == "finishing"

    engine = entry.runtime_data.engine
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert engine.ctx.tasks == set()
    assert engine._supervisor is None
    async with asyncio.timeout(10):  # the CSMS notices the close
        while csms.sessions:
            await asyncio.sleep(0.02)
    assert csms.sessions == []  # the connection is closed


async def test_status_sensor_mapping_and_units(hass: HomeAssistant, csms: TestCsms) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    hass.states.async_set("sensor.wallbox_state", "ready")
    entry = await set_up(
        hass,
        csms,
        plug_sensor=None,
        status_sensor="sensor.wallbox_state",
        status_mapping={"car connected": "Preparing", "loading": "Charging"},
    )
    bridge = entry.runtime_data
    assert bridge.engine.connectors[1].plugged is False
    hass.states.async_set("sensor.wallbox_state", "car connected")
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "Preparing")
    hass.states.async_set("sensor.wallbox_state", "error")
    faulted = await csms.wait_for("StatusNotification", lambda p: p["status"] == "Faulted")
    assert faulted["error_code"] == "OtherError"
    mark = len(csms.received)  # the recovery's Preparing, not the first one
    hass.states.async_set("sensor.wallbox_state", "car connected")
    await csms.wait_for(
        "StatusNotification",
        lambda p: p["status"] == "Preparing" and p["error_code"] == "NoError",
        after=mark,
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_services_and_their_errors(hass: HomeAssistant, csms: TestCsms) -> None:
    switch_on = async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    set_value = async_mock_service(hass, "number", "set_value")
    entry = await set_up(hass, csms)
    entry_id = entry.entry_id

    async def service(name: str, **data: Any) -> None:
        await hass.services.async_call(
            DOMAIN, name, {"config_entry_id": entry_id, **data}, blocking=True
        )

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_transaction", {"config_entry_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "entry_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await service("start_transaction", connector=2)
    assert err.value.translation_key == "invalid_connector"
    with pytest.raises(ServiceValidationError) as err:
        await service("stop_transaction")
    assert err.value.translation_key == "no_transaction"
    with pytest.raises(ServiceValidationError) as err:
        await service("set_limit")
    assert err.value.translation_key == "limit_required"

    csms.id_tag_status["BLOCKED"] = "Blocked"
    with pytest.raises(HomeAssistantError) as herr:
        await service("start_transaction", id_tag="BLOCKED")
    assert herr.value.translation_key == "authorization_rejected"

    hass.states.async_set(PLUG, "on")
    await service("start_transaction")
    start = await csms.wait_for("StartTransaction")
    assert start["id_tag"] == "HOMEUSER"  # the default idTag from the options
    with pytest.raises(ServiceValidationError) as err:
        await service("start_transaction")
    assert err.value.translation_key == "connector_busy"

    await service("set_limit", current=10)
    await hass.async_block_till_done()
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 10.0}
    await service("set_limit", power=0)
    await csms.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")
    assert entry.runtime_data.engine.connectors[1].transaction is not None
    await service("set_limit", current=8, duration=1)
    await hass.async_block_till_done()
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 8.0}
    async with asyncio.timeout(10):  # the limit expires by itself (after 1 s)
        while set_value[-1].data["value"] != 32.0:
            await asyncio.sleep(0.05)
    await hass.async_block_till_done()
    assert set_value[-1].data == {"entity_id": NUMBER, "value": 32.0}

    await service("stop_transaction", reason="emergency_stop")
    stop = await csms.wait_for("StopTransaction")
    assert stop["reason"] == "EmergencyStop"
    assert len(switch_on) >= 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await service("set_limit", current=6)
    assert err.value.translation_key == "entry_not_loaded"


async def test_missing_entity_raises_a_repair_issue(hass: HomeAssistant, csms: TestCsms) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms, temperature="sensor.gone")
    registry = ir.async_get(hass)
    issue_id = f"missing_entity_{entry.entry_id}_1_temperature"
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "missing_entity"
    assert issue.translation_placeholders["entity_id"] == "sensor.gone"
    hass.states.async_set("sensor.gone", "21", {"unit_of_measurement": "°C"})
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unlock_and_reset_become_events(hass: HomeAssistant, csms: TestCsms) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    unlocked = await csms.call(call.UnlockConnector(connector_id=1))
    assert unlocked.status == "NotSupported"  # nobody listens: say so
    # A callback listener: a plain function would run in the executor, in any order.
    events = async_capture_events(hass, EVENT_CSMS_REQUEST)
    unlocked = await csms.call(call.UnlockConnector(connector_id=1))
    assert unlocked.status == "Unlocked"
    reset = await csms.call(call.Reset(type="Soft"))
    assert reset.status == "Accepted"
    await csms.wait_for("BootNotification", after=3)
    await hass.async_block_till_done()
    kinds = [e.data["kind"] for e in events]
    assert kinds[:2] == ["unlock", "reset"]
    assert events[1].data["reset_type"] == "Soft"
    assert all(e.data["charge_point_id"] == "CP1" for e in events)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unload_is_not_reported_as_an_outage(
    hass: HomeAssistant, csms: TestCsms, caplog: pytest.LogCaptureFixture
) -> None:
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    ours = [r for r in caplog.records if r.name.startswith("custom_components.ocpp_cp")]
    assert [r.message for r in ours if r.levelno >= logging.WARNING] == []


async def test_two_connectors_are_sub_devices(hass: HomeAssistant, csms: TestCsms) -> None:
    async_mock_service(hass, "switch", "turn_off")
    hass.states.async_set("binary_sensor.plug_2", "off")
    hass.states.async_set("switch.enable_2", "off")
    entry = entry_for(csms, data={"number_of_connectors": 2})
    options = dict(entry.options)
    options["mapping"] = {
        **options["mapping"],
        "2": {"charge_switch": "switch.enable_2", "plug_sensor": "binary_sensor.plug_2"},
    }
    entry = MockConfigEntry(
        domain=DOMAIN, title="CP1", unique_id=entry.unique_id, data=entry.data, options=options
    )
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 2)
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    main = next(d for d in devices if d.via_device_id is None)
    connectors = sorted((d for d in devices if d.via_device_id == main.id), key=lambda d: d.name)
    assert [d.name for d in connectors] == ["CP1 connector 1", "CP1 connector 2"]
    assert hass.states.get("sensor.cp1_connector_2_status").state == "available"
    hass.states.async_set("binary_sensor.plug_2", "on")
    await csms.wait_for(
        "StatusNotification", lambda p: p["connector_id"] == 2 and p["status"] == "Preparing"
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_rejected_boot_raises_a_repair_until_accepted(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    async_mock_service(hass, "switch", "turn_off")
    csms.boot_answers = [("Rejected", 1)]
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    entry = entry_for(csms)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    registry = ir.async_get(hass)
    async with asyncio.timeout(15):
        while registry.async_get_issue(DOMAIN, f"boot_rejected_{entry.entry_id}") is None:
            await asyncio.sleep(0.02)
    async with asyncio.timeout(15):  # the next BootNotification is accepted: the issue goes
        while registry.async_get_issue(DOMAIN, f"boot_rejected_{entry.entry_id}") is not None:
            await asyncio.sleep(0.02)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_refused_credentials_at_setup_fail_it_into_reauth_leaving_nothing_running(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """A 401 on the first attempt is ConfigEntryAuthFailed: setup fails, HA starts the reauth
    flow, no engine thread or task survives, and no repair issue is raised for an entry that
    is not loaded."""
    threads_before = {t.ident for t in threading.enumerate()}
    csms.expected_password = "the-right-key-0123"
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    locked = entry_for(csms, data={"security_profile": 1, "authorization_key": "a-wrong-key-01234"})
    locked.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(locked.entry_id)
    await hass.async_block_till_done()
    assert locked.state is ConfigEntryState.SETUP_ERROR
    assert locked.reason is not None and "HTTP 401" in locked.reason
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"auth_failed_{locked.entry_id}") is None
    leftover = [
        t.name
        for t in threading.enumerate()
        if t.ident not in threads_before and t.name.startswith("ocpp_cp")
    ]
    assert leftover == []
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ocpp_cp")]


async def test_credentials_refused_later_raise_a_repair_and_reauth(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """The CSMS changes the key while the entry runs: a repair issue and the reauth flow; the
    entry stays loaded and keeps trying."""
    csms.expected_password = "the-right-key-0123"
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    entry = entry_for(csms, data={"security_profile": 1, "authorization_key": "the-right-key-0123"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await csms.wait_for("BootNotification")
    registry = ir.async_get(hass)
    assert registry.async_get_issue(DOMAIN, f"auth_failed_{entry.entry_id}") is None
    await hass.async_block_till_done()
    healthy = hass.states.get("sensor.cp1_last_connection_error")
    assert healthy is not None and healthy.state == "none"  # not "unknown" on a healthy link
    csms.expected_password = "a-new-key-56789abc"
    entry.runtime_data.engine.reconnect()
    async with asyncio.timeout(15):
        while registry.async_get_issue(DOMAIN, f"auth_failed_{entry.entry_id}") is None:
            await asyncio.sleep(0.02)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    assert entry.state is ConfigEntryState.LOADED
    refused = hass.states.get("sensor.cp1_last_connection_error")
    assert refused is not None and refused.state == "unauthorized"
    assert "401" in refused.attributes["detail"]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reload_mid_transaction_resumes_it(hass: HomeAssistant, csms: TestCsms) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    entry = await set_up(hass, csms)
    hass.states.async_set(PLUG, "on")
    await csms.call(call.RemoteStartTransaction(id_tag="KEEP", connector_id=1))
    await csms.wait_for("StartTransaction")
    await hass.async_block_till_done()
    async with asyncio.timeout(15):
        while entry.runtime_data.engine.connectors[1].transaction.transaction_id is None:
            await asyncio.sleep(0.01)
    mark = len(csms.received)
    assert await hass.config_entries.async_reload(entry.entry_id)  # like an HA restart
    await hass.async_block_till_done()
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1, after=mark)
    engine = entry.runtime_data.engine
    tx = engine.connectors[1].transaction
    assert tx is not None
    assert (tx.transaction_id, tx.id_tag, tx.restored) == (1, "KEEP", False)  # plug still on
    hass.states.async_set(ENERGY, "12.5", {"unit_of_measurement": "kWh"})
    await csms.call(call.RemoteStopTransaction(transaction_id=1))
    stop = await csms.wait_for("StopTransaction")
    assert (stop["transaction_id"], stop["meter_stop"]) == (1, 12500)
    assert len(csms.actions("StartTransaction")) == 1
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_corrupt_queue_file_raises_a_repair_and_keeps_charging(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    entry = entry_for(csms)
    path = queue_path(hass, entry.entry_id)
    await hass.async_add_executor_job(_write_garbage, path)
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"queue_storage_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "queue_storage"
    assert "is unusable" in issue.translation_placeholders["error"]
    await csms.wait_for("StatusNotification", lambda p: p["connector_id"] == 1)
    hass.states.async_set(PLUG, "on")
    await csms.call(call.RemoteStartTransaction(id_tag="STILL", connector_id=1))
    await csms.wait_for("StartTransaction")
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.config_entries.async_remove(entry.entry_id)  # the queue file goes with it
    assert not await hass.async_add_executor_job(os.path.exists, path)


def _write_garbage(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as file:
        file.write(b"not a database" * 100)


async def test_home_assistant_stop_stops_the_charge_point_cleanly(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    engine = entry.runtime_data.engine
    session = csms.session
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert engine.state == "disconnected"
    async with asyncio.timeout(15):
        await session.websocket.wait_closed()  # the CSMS sees the charge point leave
    # the entry is unloaded afterwards as usual (at teardown); stopping twice is harmless


async def test_a_reservation_shows_on_the_connector_and_as_an_event(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    events = async_capture_events(hass, EVENT_CSMS_REQUEST)
    expiry = "2030-01-02T03:04:05+00:00"
    result = await csms.call(
        call.ReserveNow(connector_id=1, expiry_date=expiry, id_tag="GUEST", reservation_id=77)
    )
    assert result.status == "Accepted"
    await hass.async_block_till_done()
    state = hass.states.get("sensor.cp1_reserved_until")
    assert state is not None
    assert state.state == expiry
    assert state.attributes["reservation_id"] == 77
    assert state.attributes["id_tag"] == "GUEST"
    assert hass.states.get("sensor.cp1_status").state == "reserved"
    (event,) = [e.data for e in events if e.data["kind"] == "reservation"]
    assert (event["action"], event["status"], event["reservation_id"]) == (
        "reserve",
        "Accepted",
        77,
    )
    cancelled = await csms.call(call.CancelReservation(reservation_id=77))
    assert cancelled.status == "Accepted"
    await hass.async_block_till_done()
    assert hass.states.get("sensor.cp1_reserved_until").state == "unknown"
    assert hass.states.get("sensor.cp1_status").state == "available"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_entities_of_an_older_release_keep_their_ids_and_history(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """Release 1.1 keyed entities and devices by the unique id; 1.2 by the entry id."""
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = entry_for(csms)
    old = str(entry.unique_id)
    entry.add_to_hass(hass)
    entities = er.async_get(hass)
    devices = dr.async_get(hass)
    device = devices.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, old)}, name="CP1"
    )
    legacy = entities.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{old}_connection_state",
        config_entry=entry,
        device_id=device.id,
        suggested_object_id="cp1_connection_state",
    )
    hass.states.async_set(PLUG, "off")
    hass.states.async_set(SWITCH, "off")
    hass.states.async_set(NUMBER, "16", {"min": 6, "max": 32})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 2
    moved = entities.async_get(legacy.entity_id)
    assert moved is not None
    assert moved.unique_id == f"{entry.entry_id}_connection_state"
    assert hass.states.get("sensor.cp1_connection_state") is not None
    assert hass.states.get("sensor.cp1_connection_state_2") is None
    again = devices.async_get(device.id)
    assert again is not None and again.identifiers == {(DOMAIN, entry.entry_id)}
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_pointing_the_entry_at_another_csms_keeps_every_entity(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """Reconfigure rewrites the unique id (URL + id): entities and the device stay."""
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    entities = er.async_get(hass)
    before = {
        e.entity_id: e.unique_id
        for e in er.async_entries_for_config_entry(entities, entry.entry_id)
    }
    other = await TestCsms.start()
    try:
        hass.config_entries.async_update_entry(
            entry,
            unique_id=f"{other.url}|CP1",
            data={**entry.data, "csms_url": other.url},
        )
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        await other.wait_for("BootNotification")
        after = {
            e.entity_id: e.unique_id
            for e in er.async_entries_for_config_entry(entities, entry.entry_id)
        }
        assert after == before
        assert len(dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)) == 1
    finally:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await other.stop()


async def test_a_missing_ca_file_is_a_clear_setup_error_that_leaves_nothing_running(
    hass: HomeAssistant, csms: TestCsms, tmp_path: Any
) -> None:
    """Not retried (ConfigEntryError, translated), and no journal thread or task survives."""
    threads_before = {t.ident for t in threading.enumerate()}
    entry = entry_for(
        csms,
        {"csms_url": "wss://127.0.0.1:1/ocpp", "ca_file": str(tmp_path / "gone.pem")},
    )
    entry.add_to_hass(hass)
    hass.states.async_set(PLUG, "off")
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None and "TLS files cannot be used" in entry.reason
    assert "No such file" in entry.reason
    leftover = [
        t.name
        for t in threading.enumerate()
        if t.ident not in threads_before and t.name.startswith("ocpp_cp")
    ]
    assert leftover == []
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("ocpp_cp")]


async def test_changing_options_keeps_the_ocpp_session_and_the_transaction(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    """No reconnect and no BootNotification (a reboot, to billing systems); the session's
    sensors stay known; the new mapping and pinned interval apply at once."""
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    async_mock_service(hass, "number", "set_value")
    entry = await set_up(hass, csms)
    hass.states.async_set(PLUG, "on")
    await csms.call(call.RemoteStartTransaction(id_tag="OPT1", connector_id=1))
    await csms.wait_for("StartTransaction")
    await hass.async_block_till_done()
    engine = entry.runtime_data.engine
    connections = csms.connection_count
    boots = len(csms.actions("BootNotification"))
    options = dict(entry.options)
    mapping = {**options["mapping"], "1": {**options["mapping"]["1"], "soc": None}}
    hass.config_entries.async_update_entry(
        entry, options={**options, "mapping": mapping, "meter_interval": 17}
    )
    await hass.async_block_till_done()
    assert entry.runtime_data.engine is engine  # the same charge point, not a reload
    assert csms.connection_count == connections
    assert len(csms.actions("BootNotification")) == boots
    assert engine.connectors[1].transaction is not None
    assert engine.config.get("MeterValueSampleInterval") == "17"
    assert hass.states.get("sensor.cp1_session_duration").state not in ("unknown", "unavailable")
    assert entry.runtime_data.mapping[1].get("soc") is None
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("quantity", "value", "unit", "expected"),
    [
        ("power", 7.36, "kW", 7360.0),
        ("power", 0.5, "MW", 500_000.0),
        ("energy", 12.345, "kWh", 12345.0),
        ("energy", 3.6, "MJ", 1000.0),  # HA's converter knows more than the old table
        ("current", 16000, "mA", 16.0),
        ("voltage", 0.4, "kV", 400.0),
        ("temperature", 98.6, "°F", 37.0),
        ("temperature", 300.15, "K", 27.0),
        ("frequency", 0.05, "kHz", 50.0),
        ("frequency", 5e-5, "MHz", 50.0),
        ("frequency", 50, "mHz", None),  # not a Home Assistant unit
        ("percent", 40, "%", 40.0),
        ("power", 1, "hp", None),
        ("energy", 2.0, None, 2.0),  # no unit: already the engine's
    ],
)
def test_units_are_converted_with_home_assistants_converters(
    quantity: str, value: float, unit: str | None, expected: float | None
) -> None:
    converted = to_canonical(quantity, value, unit)
    if expected is None:
        assert converted is None
    else:
        assert converted == pytest.approx(expected)


async def test_the_reconnect_button_closes_and_dials_again_without_a_reboot(
    hass: HomeAssistant, csms: TestCsms
) -> None:
    async_mock_service(hass, "switch", "turn_on")
    async_mock_service(hass, "switch", "turn_off")
    entry = await set_up(hass, csms)
    # After the first session's messages (their number varies: StartupOfTheDevice may go
    # before or after the statuses), so the wait below sees the second session's.
    await csms.wait_for("SecurityEventNotification")
    mark = len(csms.received)
    await hass.services.async_call(
        "button", "press", {"entity_id": "button.cp1_reconnect"}, blocking=True
    )
    async with asyncio.timeout(10):
        while csms.connection_count < 2 or not csms.sessions:
            await asyncio.sleep(0.01)
    await csms.wait_for("StatusNotification", after=mark)
    assert csms.close_codes[:1] == [1000]  # a close frame, not a dropped TCP connection
    assert len(csms.actions("BootNotification")) == 1  # a reconnect is no reboot
    await hass.async_block_till_done()
    assert hass.states.get("sensor.cp1_connection_state").state == "accepted"
    assert await hass.config_entries.async_unload(entry.entry_id)
