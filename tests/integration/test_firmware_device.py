"""The companion firmware's device: recognition, mapping resolution through the registries,
the base topic, the flow steps that use it, and the bridge's heartbeat to it (MQTT mocked here;
tests/integration/test_firmware_e2e.py runs it all against a real broker)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ocpp_cp import bridge
from custom_components.ocpp_cp.bridge import OcppCpBridge
from custom_components.ocpp_cp.const import DOMAIN
from custom_components.ocpp_cp.firmware_device import (
    STATUS_MAPPING,
    async_device_of_entity,
    async_firmware_devices,
    async_resolve,
    async_topic_for_switch,
    base_topic_of,
    firmware_key,
    node_id_of,
)
from tests.csms import TestCsms

pytestmark = pytest.mark.timeout(30)

# (component, key) of every entity the firmware publishes, by meter type (evse/ha.py)
COMMON = [
    ("switch", "charging"),
    ("number", "current_limit"),
    ("sensor", "offered_current"),
    ("sensor", "state"),
    ("sensor", "pilot"),
    ("sensor", "fault"),
    ("binary_sensor", "plug"),
    ("binary_sensor", "problem"),
    ("binary_sensor", "safety"),
    ("binary_sensor", "contactor"),
    ("button", "reset_fault"),
    ("sensor", "energy"),
    ("sensor", "power"),
    ("sensor", "current_l1"),
    ("sensor", "voltage_l1"),
]
THREE_PHASE = [
    *COMMON,
    ("sensor", "temperature"),
    ("sensor", "current_l2"),
    ("sensor", "voltage_l2"),
    ("sensor", "current_l3"),
    ("sensor", "voltage_l3"),
]
STATUS_TEXT = "\n".join(f"{k}={v}" for k, v in STATUS_MAPPING.items())


@pytest.fixture
def mqtt_entry(hass: HomeAssistant) -> MockConfigEntry:
    """The MQTT config entry the firmware's devices belong to (not set up)."""
    entry = MockConfigEntry(domain="mqtt", title="MQTT", data={"broker": "127.0.0.1"})
    entry.add_to_hass(hass)
    return entry


def add_firmware(
    hass: HomeAssistant,
    mqtt_entry: MockConfigEntry,
    node: str,
    entities: list[tuple[str, str]],
    *,
    object_ids: dict[str, str] | None = None,
    disabled: tuple[str, ...] = (),
) -> dr.DeviceEntry:
    """A firmware device as MQTT discovery registers it: identifiers ocpp_cp_fw_<node>,
    entities with unique ids <node>_<key>."""
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=mqtt_entry.entry_id,
        identifiers={("mqtt", f"ocpp_cp_fw_{node}")},
        manufacturer="ocpp_cp",
        model="MicroPython EVSE",
        name=f"{node.title()} EVSE",
        sw_version="1.0.0",
    )
    registry = er.async_get(hass)
    for component, key in entities:
        registry.async_get_or_create(
            component,
            "mqtt",
            f"{node}_{key}",
            config_entry=mqtt_entry,
            device_id=device.id,
            suggested_object_id=(object_ids or {}).get(key, f"{node}_{key}"),
            disabled_by=er.RegistryEntryDisabler.USER if key in disabled else None,
        )
    return device


def three_phase_mapping(node: str, topic: str | None = None) -> dict[str, Any]:
    return {
        "charge_switch": f"switch.{node}_charging",
        "current_number": f"number.{node}_current_limit",
        "plug_sensor": f"binary_sensor.{node}_plug",
        "status_sensor": f"sensor.{node}_state",
        "status_mapping": dict(STATUS_MAPPING),
        "power": f"sensor.{node}_power",
        "energy": f"sensor.{node}_energy",
        "current_offered": f"sensor.{node}_offered_current",
        "temperature": f"sensor.{node}_temperature",
        "current_l1": f"sensor.{node}_current_l1",
        "current_l2": f"sensor.{node}_current_l2",
        "current_l3": f"sensor.{node}_current_l3",
        "voltage_l1": f"sensor.{node}_voltage_l1",
        "voltage_l2": f"sensor.{node}_voltage_l2",
        "voltage_l3": f"sensor.{node}_voltage_l3",
        "phases": 3,
        "firmware_topic": topic or f"ocpp_cp/{node}",
    }


# -- resolution ---------------------------------------------------------------------------------


async def test_three_phase_device(hass: HomeAssistant, mqtt_entry: MockConfigEntry) -> None:
    device = add_firmware(hass, mqtt_entry, "garage", THREE_PHASE)
    assert [d.id for d in async_firmware_devices(hass)] == [device.id]
    firmware = async_resolve(hass, device.id)
    assert firmware is not None
    assert firmware.node_id == "garage"
    assert firmware.usable
    assert firmware.three_phase
    # MQTT is not loaded: the firmware's default base topic
    assert firmware.mapping() == three_phase_mapping("garage")


async def test_single_phase_device_without_temperature(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry
) -> None:
    device = add_firmware(hass, mqtt_entry, "shed", COMMON)
    firmware = async_resolve(hass, device.id)
    assert firmware is not None
    assert not firmware.three_phase
    assert firmware.mapping() == {
        "charge_switch": "switch.shed_charging",
        "current_number": "number.shed_current_limit",
        "plug_sensor": "binary_sensor.shed_plug",
        "status_sensor": "sensor.shed_state",
        "status_mapping": dict(STATUS_MAPPING),
        "power": "sensor.shed_power",
        "energy": "sensor.shed_energy",
        "current_offered": "sensor.shed_offered_current",
        "current": "sensor.shed_current_l1",
        "voltage": "sensor.shed_voltage_l1",
        "phases": 1,
        "firmware_topic": "ocpp_cp/shed",
    }


async def test_resolution_by_unique_id_not_entity_id(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry
) -> None:
    """Renamed entities are still found; disabled ones and other devices' are left out."""
    device = add_firmware(
        hass,
        mqtt_entry,
        "garage",
        THREE_PHASE,
        object_ids={"charging": "wallbox_enable", "plug": "car_connected"},
        disabled=("temperature",),
    )
    other = add_firmware(hass, mqtt_entry, "carport", [("switch", "charging")])
    # a switch of another integration on the same device with a look-alike unique id
    er.async_get(hass).async_get_or_create(
        "switch", "template", "garage_current_limit", device_id=device.id
    )
    firmware = async_resolve(hass, device.id)
    assert firmware is not None
    mapping = firmware.mapping()
    assert mapping["charge_switch"] == "switch.wallbox_enable"
    assert mapping["plug_sensor"] == "binary_sensor.car_connected"
    assert mapping["current_number"] == "number.garage_current_limit"
    assert "temperature" not in mapping
    assert async_device_of_entity(hass, "switch.wallbox_enable") == device.id
    assert async_topic_for_switch(hass, "switch.wallbox_enable") == "ocpp_cp/garage"
    assert async_topic_for_switch(hass, "binary_sensor.car_connected") is None
    assert async_topic_for_switch(hass, "switch.unknown") is None
    carport = async_resolve(hass, other.id)
    assert carport is not None
    assert not carport.usable  # a switch alone: no plug and no state sensor


async def test_other_devices_are_not_firmware(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry
) -> None:
    plain = dr.async_get(hass).async_get_or_create(
        config_entry_id=mqtt_entry.entry_id,
        identifiers={("mqtt", "ocpp_cp_fw_fake")},
        manufacturer="Acme",
        model="MicroPython EVSE",
    )
    assert async_firmware_devices(hass) == []
    assert async_resolve(hass, plain.id) is None
    assert async_resolve(hass, "no-such-device") is None
    assert node_id_of(plain) == "fake"


def test_firmware_key() -> None:
    assert firmware_key("garage_current_l1", "garage") == "current_l1"
    assert firmware_key("garage_charging", "carport") is None
    assert firmware_key("garage_pilot", "garage") is None  # not a key ocpp_cp maps
    assert firmware_key("my_garage_current_l1", None) == "current_l1"
    assert firmware_key("garage_current_limit", None) == "current_limit"
    assert firmware_key("garage_limit", None) is None


def test_base_topic_from_discovery_payloads() -> None:
    command = {"command_topic": "home/evse/charging/set", "state_topic": "x/state"}
    assert base_topic_of([{"state_topic": "a/b/state"}, command]) == "home/evse"
    assert base_topic_of([{"state_topic": "a/b/state"}]) == "a/b"
    assert base_topic_of([{"availability_topic": "a/status"}, None, "text"]) == "a"
    assert base_topic_of([{"command_topic": "a/unknown/set"}, {"state_topic": "/state"}]) is None
    assert base_topic_of([]) is None


# -- flows --------------------------------------------------------------------------------------


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """The flows only; the integration itself does not run."""
    with (
        patch("custom_components.ocpp_cp.async_setup_entry", return_value=True) as setup,
        patch("custom_components.ocpp_cp.async_unload_entry", return_value=True),
    ):
        yield setup


def suggested_values(result: Any) -> dict[str, Any]:
    """What the frontend submits for a form nobody touched: the suggested values."""
    values: dict[str, Any] = {}
    for marker in result["data_schema"].schema:
        description = marker.description or {}
        if "suggested_value" in description:
            values[str(marker)] = description["suggested_value"]
    return values


async def start_user_flow(hass: HomeAssistant, csms: TestCsms, connectors: int = 1) -> Any:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    return await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "csms_url": csms.url,
            "charge_point_id": "CP1",
            "security_profile": "0",
            "vendor": "ocpp_cp",
            "model": "MicroPython EVSE",
            "number_of_connectors": connectors,
        },
    )


async def test_user_flow_fills_in_each_connector_from_a_device(
    hass: HomeAssistant, csms: TestCsms, mqtt_entry: MockConfigEntry, mock_setup_entry: AsyncMock
) -> None:
    garage = add_firmware(hass, mqtt_entry, "garage", THREE_PHASE)
    shed = add_firmware(hass, mqtt_entry, "shed", COMMON)
    configure = hass.config_entries.flow.async_configure
    result = await start_user_flow(hass, csms, connectors=2)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "firmware"
    assert result["description_placeholders"]["connector"] == "1"

    result = await configure(result["flow_id"], {"firmware_device": garage.id})
    assert result["step_id"] == "mapping"
    values = suggested_values(result)
    expected = three_phase_mapping("garage")
    assert values == {
        **{k: v for k, v in expected.items() if k != "firmware_topic"},
        "status_mapping": STATUS_TEXT,
        "phases": "3",
    }
    result = await configure(result["flow_id"], {**values, "soc": "sensor.car_soc"})

    # connector 2: the firmware step again; the mapping form starts empty after it
    assert result["step_id"] == "firmware"
    assert result["description_placeholders"]["connector"] == "2"
    result = await configure(result["flow_id"], {"firmware_device": shed.id})
    assert suggested_values(result)["current"] == "sensor.shed_current_l1"
    result = await configure(result["flow_id"], suggested_values(result))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    mapping = result["result"].options["mapping"]
    assert mapping["1"] == {**expected, "soc": "sensor.car_soc", "nominal_voltage": 230}
    assert mapping["2"]["firmware_topic"] == "ocpp_cp/shed"
    assert mapping["2"]["phases"] == 1


async def test_user_flow_manual_path_is_unchanged(
    hass: HomeAssistant, csms: TestCsms, mqtt_entry: MockConfigEntry, mock_setup_entry: AsyncMock
) -> None:
    """No device picked: the empty mapping form. Mapping the firmware's switch by hand still
    records its topic (the heartbeat follows the switch)."""
    add_firmware(hass, mqtt_entry, "garage", THREE_PHASE)
    result = await start_user_flow(hass, csms)
    assert result["step_id"] == "firmware"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "mapping"
    assert suggested_values(result) == {}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"charge_switch": "switch.garage_charging", "plug_sensor": "binary_sensor.other_plug"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].options["mapping"]["1"] == {
        "charge_switch": "switch.garage_charging",
        "plug_sensor": "binary_sensor.other_plug",
        "phases": 1,
        "nominal_voltage": 230,
        "firmware_topic": "ocpp_cp/garage",
    }


async def test_user_flow_refuses_a_device_without_entities(
    hass: HomeAssistant, csms: TestCsms, mqtt_entry: MockConfigEntry, mock_setup_entry: AsyncMock
) -> None:
    empty = add_firmware(hass, mqtt_entry, "garage", [])
    result = await start_user_flow(hass, csms)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"firmware_device": empty.id}
    )
    assert result["step_id"] == "firmware"
    assert result["errors"] == {"firmware_device": "firmware_unusable"}


async def test_no_device_no_firmware_step(
    hass: HomeAssistant, csms: TestCsms, mock_setup_entry: AsyncMock
) -> None:
    result = await start_user_flow(hass, csms)
    assert result["step_id"] == "mapping"


async def test_options_flow_offers_the_mapped_device(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, mock_setup_entry: AsyncMock
) -> None:
    garage = add_firmware(hass, mqtt_entry, "garage", THREE_PHASE)
    shed = add_firmware(hass, mqtt_entry, "shed", COMMON)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        unique_id="ws://127.0.0.1:9/ocpp|CP1",
        data={
            "csms_url": "ws://127.0.0.1:9/ocpp",
            "charge_point_id": "CP1",
            "number_of_connectors": 1,
        },
        options={
            "mapping": {
                "1": {
                    **three_phase_mapping("garage"),
                    "soc": "sensor.car_soc",
                    "nominal_voltage": 220,
                }
            }
        },
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "mapping"}
    )
    assert result["step_id"] == "firmware"
    assert suggested_values(result) == {"firmware_device": garage.id}

    # another device: its entities, plus what the firmware has no entity for
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"firmware_device": shed.id}
    )
    assert result["step_id"] == "mapping"
    values = suggested_values(result)
    assert values["charge_switch"] == "switch.shed_charging"
    assert values["soc"] == "sensor.car_soc"
    assert values["nominal_voltage"] == 220
    assert "current_l2" not in values
    result = await hass.config_entries.options.async_configure(result["flow_id"], values)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["mapping"]["1"]["firmware_topic"] == "ocpp_cp/shed"
    assert entry.options["mapping"]["1"]["phases"] == 1


async def test_options_flow_without_a_device_keeps_the_mapping(
    hass: HomeAssistant, mqtt_entry: MockConfigEntry, mock_setup_entry: AsyncMock
) -> None:
    add_firmware(hass, mqtt_entry, "garage", THREE_PHASE)
    mapping = {"charge_switch": "switch.other", "plug_sensor": "binary_sensor.plug", "phases": 1}
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={
            "csms_url": "ws://127.0.0.1:9/ocpp",
            "charge_point_id": "CP1",
            "number_of_connectors": 1,
        },
        options={"mapping": {"1": mapping}},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "mapping"}
    )
    assert result["step_id"] == "firmware"
    assert suggested_values(result) == {}
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert suggested_values(result) == {**mapping, "phases": "1"}


# -- bridge -------------------------------------------------------------------------------------


def test_firmware_topic_is_not_an_entity() -> None:
    mapping = {"charge_switch": "switch.x", "firmware_topic": "home/evse.1"}
    assert OcppCpBridge._entities(mapping) == ["switch.x"]


async def test_bridge_heartbeat(
    hass: HomeAssistant, csms: TestCsms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once at start, then every interval, to <topic>/heartbeat/set, never retained; only
    while MQTT is loaded; not after unload."""
    monkeypatch.setattr(bridge, "FIRMWARE_HEARTBEAT_INTERVAL", timedelta(seconds=15))
    mqtt_entry = MockConfigEntry(domain="mqtt", state=ConfigEntryState.LOADED)
    mqtt_entry.add_to_hass(hass)
    hass.states.async_set("switch.garage_charging", "off")
    hass.states.async_set("binary_sensor.garage_plug", "off")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="CP1",
        data={
            "csms_url": csms.url,
            "charge_point_id": "CP1",
            "security_profile": 0,
            "number_of_connectors": 1,
        },
        options={
            "mapping": {
                "1": {
                    "charge_switch": "switch.garage_charging",
                    "plug_sensor": "binary_sensor.garage_plug",
                    "phases": 1,
                    "firmware_topic": "home/garage.evse",
                }
            }
        },
    )
    entry.add_to_hass(hass)
    with patch("homeassistant.components.mqtt.async_publish", AsyncMock()) as publish:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert [c.args[1:] for c in publish.call_args_list] == [
            ("home/garage.evse/heartbeat/set", "1")
        ]
        assert publish.call_args.kwargs == {"qos": 0, "retain": False}
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=16))
        await hass.async_block_till_done()
        assert publish.call_count == 2

        mqtt_entry.mock_state(hass, ConfigEntryState.NOT_LOADED)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=32))
        await hass.async_block_till_done()
        assert publish.call_count == 2  # no MQTT: nothing sent, nothing raised
        mqtt_entry.mock_state(hass, ConfigEntryState.LOADED)

        assert await hass.config_entries.async_unload(entry.entry_id)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=48))
        await hass.async_block_till_done()
        assert publish.call_count == 2
    # the firmware topic, with its dot, raised no missing-entity repair
    from homeassistant.helpers import issue_registry as ir

    assert not [i for i in ir.async_get(hass).issues if "firmware_topic" in i[1]]
