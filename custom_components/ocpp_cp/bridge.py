"""The one object between Home Assistant and the OCPP engine.

HA state changes of the mapped entities become engine inputs as they happen (no polling); the
engine's outputs become service calls on the mapped switch and number; CSMS requests that
concern the hardware become HA events. Entities read their values from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    STATE_ON,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfTemperature,
)
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event, async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    ElectricCurrentConverter,
    ElectricPotentialConverter,
    EnergyConverter,
    PowerConverter,
    TemperatureConverter,
)

from .certificate_repairs import CHECK_INTERVAL, async_check_certificates
from .companion_update import CompanionFirmwareUpdate
from .const import (
    CONF_AUTHORIZATION_KEY,
    CONF_CA_FILE,
    CONF_CHARGE_POINT_ID,
    CONF_CLIENT_CERT,
    CONF_CLIENT_KEY,
    CONF_CONNECTORS,
    CONF_CSMS_URL,
    CONF_FIRMWARE,
    CONF_MAPPING,
    CONF_MODEL,
    CONF_SECURITY_PROFILE,
    CONF_SERIAL,
    CONF_TLS_ALLOW_V1_CA,
    CONF_TLS_SERVER_NAME,
    CONF_VENDOR,
    DEFAULT_ID_TAG,
    DEFAULT_MAX_CURRENT,
    DEFAULT_MODEL,
    DEFAULT_NOMINAL_VOLTAGE,
    DEFAULT_PHASES,
    DEFAULT_VENDOR,
    DOMAIN,
    EVENT_CSMS_REQUEST,
    EVENT_SECURITY_EVENT,
    MAP_CHARGE_SWITCH,
    MAP_CHARGE_SWITCH_INVERTED,
    MAP_CURRENT,
    MAP_CURRENT_L1,
    MAP_CURRENT_L2,
    MAP_CURRENT_L3,
    MAP_CURRENT_NUMBER,
    MAP_CURRENT_OFFERED,
    MAP_ENERGY,
    MAP_FIRMWARE_TOPIC,
    MAP_FREQUENCY,
    MAP_MAX_CURRENT,
    MAP_NOMINAL_VOLTAGE,
    MAP_PHASES,
    MAP_PLUG,
    MAP_POWER,
    MAP_POWER_FACTOR,
    MAP_SOC,
    MAP_SOC_GATE,
    MAP_STATUS,
    MAP_STATUS_MAPPING,
    MAP_TEMPERATURE,
    MAP_VOLTAGE,
    MAP_VOLTAGE_L1,
    MAP_VOLTAGE_L2,
    MAP_VOLTAGE_L3,
    OPT_DEFAULT_ID_TAG,
    OPT_FREEZE_CURRENT_OFFERED,
    OPT_HEARTBEAT_INTERVAL,
    OPT_METER_INTERVAL,
)
from .engine import (
    ChargePointEngine,
    ChargingLimit,
    ConnectErrorKind,
    ConnectionState,
    DataTransferReply,
    EngineSettings,
    EvState,
    LocalPeriod,
    ResetKind,
    SecurityProfile,
    SettingsError,
    UnlockOutcome,
)
from .engine.transfer import safe_location
from .firmware_device import HEARTBEAT_SUFFIX
from .firmware_install import FirmwareInstallWait
from .site_guard import SiteGuard, guard_options

_LOGGER = logging.getLogger(__name__)

FRAME_HISTORY = 50
# A limit number within this of what we wrote has not drifted (devices round).
LIMIT_TOLERANCE_A = 0.5
# At most one write-back per connector in this many seconds.
DRIFT_GUARD_S = 5.0
# Above this power (W) a plugged car counts as drawing when no status sensor says otherwise.
DRAWING_THRESHOLD_W = 50.0
# Heartbeat to the companion firmware (its link timeout defaults to 60 s).
FIRMWARE_HEARTBEAT_INTERVAL = timedelta(seconds=15)
# Mapping keys whose values are not entity ids.
NOT_ENTITIES = frozenset({MAP_STATUS_MAPPING, MAP_FIRMWARE_TOPIC})

# Home Assistant's converters, and the engine's unit for each kind of quantity.
CONVERTERS: dict[str, tuple[type[BaseUnitConverter], str]] = {
    "power": (PowerConverter, UnitOfPower.WATT),
    "energy": (EnergyConverter, UnitOfEnergy.WATT_HOUR),
    "current": (ElectricCurrentConverter, UnitOfElectricCurrent.AMPERE),
    "voltage": (ElectricPotentialConverter, UnitOfElectricPotential.VOLT),
    "temperature": (TemperatureConverter, UnitOfTemperature.CELSIUS),
}
# Home Assistant has no frequency converter: its units, in Hz.
FREQUENCY_HZ: dict[str, float] = {
    UnitOfFrequency.HERTZ: 1.0,
    UnitOfFrequency.KILOHERTZ: 1e3,
    UnitOfFrequency.MEGAHERTZ: 1e6,
    UnitOfFrequency.GIGAHERTZ: 1e9,
}


@dataclass(frozen=True, slots=True)
class MeasurandSource:
    """Where a measurand comes from: a mapping key, the OCPP measurand, phase and quantity."""

    key: str
    measurand: str
    phase: str | None
    quantity: str


SOURCES: tuple[MeasurandSource, ...] = (
    MeasurandSource(MAP_POWER, "Power.Active.Import", None, "power"),
    MeasurandSource(MAP_ENERGY, "Energy.Active.Import.Register", None, "energy"),
    MeasurandSource(MAP_VOLTAGE_L1, "Voltage", "L1-N", "voltage"),
    MeasurandSource(MAP_VOLTAGE_L2, "Voltage", "L2-N", "voltage"),
    MeasurandSource(MAP_VOLTAGE_L3, "Voltage", "L3-N", "voltage"),
    MeasurandSource(MAP_CURRENT_L1, "Current.Import", "L1", "current"),
    MeasurandSource(MAP_CURRENT_L2, "Current.Import", "L2", "current"),
    MeasurandSource(MAP_CURRENT_L3, "Current.Import", "L3", "current"),
    MeasurandSource(MAP_CURRENT_OFFERED, "Current.Offered", None, "current"),
    MeasurandSource(MAP_TEMPERATURE, "Temperature", None, "temperature"),
    MeasurandSource(MAP_SOC, "SoC", None, "percent"),
    MeasurandSource(MAP_FREQUENCY, "Frequency", None, "frequency"),
    MeasurandSource(MAP_POWER_FACTOR, "Power.Factor", None, "power_factor"),
)

# Common charger status texts -> OCPP status, used when the user's mapping has no entry.
DEFAULT_STATUS_WORDS: dict[str, str] = {
    "available": "Available",
    "ready": "Available",
    "disconnected": "Available",
    "idle": "Available",
    "unplugged": "Available",
    "preparing": "Preparing",
    "connected": "Preparing",
    "plugged": "Preparing",
    "waiting": "Preparing",
    "charging": "Charging",
    "suspendedev": "SuspendedEV",
    "suspended_ev": "SuspendedEV",
    "paused": "SuspendedEV",
    "suspendedevse": "SuspendedEVSE",
    "suspended_evse": "SuspendedEVSE",
    "finishing": "Finishing",
    "complete": "Finishing",
    "completed": "Finishing",
    "finished": "Finishing",
    "reserved": "Reserved",
    "unavailable": "Unavailable",
    "faulted": "Faulted",
    "fault": "Faulted",
    "error": "Faulted",
}


def to_canonical(quantity: str, value: float, unit: str | None) -> float | None:
    """Convert a reading to the engine's unit; None if the unit cannot be converted.

    A reading without a unit is taken to be in the engine's unit already.
    """
    if quantity == "power_factor":
        return value / 100.0 if unit == PERCENTAGE else value
    if not unit:
        return value
    if quantity == "percent":
        return value if unit == PERCENTAGE else None
    if quantity == "frequency":
        factor = FREQUENCY_HZ.get(unit)
        return None if factor is None else value * factor
    converter, target = CONVERTERS[quantity]
    if unit not in converter.VALID_UNITS:
        return None
    return float(converter.convert(value, unit, target))


def state_number(state: State | None) -> float | None:
    if state is None:
        return None
    try:
        return float(state.state)
    except ValueError:
        return None  # unavailable, unknown or not a number


class HaEngineStorage:
    """EngineStorage on HA's Store, one document per key, per config entry."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self._hass = hass
        self._entry_id = entry_id
        self._stores: dict[str, Store[Any]] = {}

    def _store(self, key: str) -> Store[Any]:
        if key not in self._stores:
            self._stores[key] = Store(self._hass, 1, f"{DOMAIN}.{self._entry_id}.{key}")
        return self._stores[key]

    async def async_load(self, key: str) -> Any | None:
        return await self._store(key).async_load()

    async def async_save(self, key: str, data: Any) -> None:
        await self._store(key).async_save(data)

    async def async_remove(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            await self._store(key).async_remove()


STORAGE_KEYS = ("configuration", "availability")


def queue_path(hass: HomeAssistant, entry_id: str) -> str:
    """The durable transaction queue of one entry, in the HA config folder."""
    return hass.config.path(".storage", f"{DOMAIN}.{entry_id}.queue.sqlite3")


# A config entry of this integration, running: its runtime data is the bridge.
type OcppCpConfigEntry = ConfigEntry[OcppCpBridge]


def settings_from_entry(entry: OcppCpConfigEntry, measurands: frozenset[str]) -> EngineSettings:
    data = entry.data
    options = entry.options
    mapping = options.get(CONF_MAPPING, {})
    first = mapping.get("1", {})
    heartbeat = options.get(OPT_HEARTBEAT_INTERVAL)
    return EngineSettings(
        csms_url=data[CONF_CSMS_URL],
        charge_point_id=data[CONF_CHARGE_POINT_ID],
        security_profile=SecurityProfile(int(data.get(CONF_SECURITY_PROFILE, 0))),
        authorization_key=data.get(CONF_AUTHORIZATION_KEY) or None,
        ca_file=data.get(CONF_CA_FILE) or None,
        client_cert_file=data.get(CONF_CLIENT_CERT) or None,
        client_key_file=data.get(CONF_CLIENT_KEY) or None,
        tls_allow_v1_ca=bool(data.get(CONF_TLS_ALLOW_V1_CA, False)),
        tls_server_name=data.get(CONF_TLS_SERVER_NAME) or None,
        vendor=data.get(CONF_VENDOR) or DEFAULT_VENDOR,
        model=data.get(CONF_MODEL) or DEFAULT_MODEL,
        serial_number=data.get(CONF_SERIAL) or None,
        firmware_version=data.get(CONF_FIRMWARE) or None,
        number_of_connectors=int(data.get(CONF_CONNECTORS, 1)),
        measurands=measurands,
        pinned_heartbeat_interval=int(heartbeat) if heartbeat else None,
        pinned_meter_interval=int(meter) if (meter := options.get(OPT_METER_INTERVAL)) else None,
        freeze_current_offered=bool(options.get(OPT_FREEZE_CURRENT_OFFERED, False)),
        hardware_max_current=float(DEFAULT_MAX_CURRENT),
        nominal_voltage=float(first.get(MAP_NOMINAL_VOLTAGE, DEFAULT_NOMINAL_VOLTAGE)),
        phases=int(first.get(MAP_PHASES, DEFAULT_PHASES)),
        time_zone=dt_util.get_default_time_zone(),
    )


class OcppCpBridge:
    """Owns the engine of one config entry and translates between it and HA."""

    def __init__(self, hass: HomeAssistant, entry: OcppCpConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.mapping: dict[int, dict[str, Any]] = {
            int(k): dict(v) for k, v in entry.options.get(CONF_MAPPING, {}).items()
        }
        self.storage = HaEngineStorage(hass, entry.entry_id)
        # Measurands are offered only while their source is available: set_available_measurands.
        self.engine = ChargePointEngine(
            settings_from_entry(entry, frozenset()),
            self,
            self.storage,
            listener=self._on_engine_event,
            queue_path=queue_path(hass, entry.entry_id),
        )
        self.frames: deque[dict[str, Any]] = deque(maxlen=FRAME_HISTORY)
        self._listeners: list[CALLBACK_TYPE] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []
        # The limit last written to each connector's number entity, to notice drift.
        self._written_limit: dict[int, float] = {}
        self._reasserted_at: dict[int, float] = {}
        self._available: dict[int, frozenset[str]] = {}
        # Wh of each connector's last session, shown between sessions (the energy dashboard
        # and its validation want a value, not "unknown", while no car charges).
        self.last_session_wh: dict[int, float] = {}
        self._firmware_heartbeat: CALLBACK_TYPE | None = None
        # Set once the first connection attempt has an outcome (booting, or an error).
        self._first_outcome = asyncio.Event()
        # Until setup has seen the first outcome, a 401 fails the setup (ConfigEntryAuthFailed)
        # instead of raising a repair issue for an entry that is not loaded.
        self.setup_done = False
        self._certificate_checks: CALLBACK_TYPE | None = None
        # UpdateFirmware on a charger HA drives: offered to automations (firmware_install.py).
        self.firmware_install = FirmwareInstallWait(hass, entry.entry_id, self.charge_point_id)
        # Connectors mapped to the companion firmware are updated over the air; any other
        # charger gets the event for automations (firmware_install).
        self.companion_update = CompanionFirmwareUpdate(hass)
        self.site_guard: SiteGuard | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def charge_point_id(self) -> str:
        return str(self.entry.data[CONF_CHARGE_POINT_ID])

    @property
    def default_id_tag(self) -> str:
        return str(self.entry.options.get(OPT_DEFAULT_ID_TAG) or DEFAULT_ID_TAG)

    async def async_start(self) -> None:
        if (options := guard_options(self.entry.options)) is not None:
            # The site fuse guard: its fallback is in force before a restored session resumes.
            try:
                self.site_guard = SiteGuard(self, options)
            except SettingsError:
                await self.engine.stop()  # built, never started: its journal thread goes too
                raise
            self.site_guard.prime()
        await self.engine.start()
        self._watch_mapping()
        self._certificate_checks = async_track_time_interval(
            self.hass, self._check_certificates, CHECK_INTERVAL, name=f"{DOMAIN} certificates"
        )
        self._check_certificates()
        if self.site_guard is not None:
            self.site_guard.start()

    def _watch_mapping(self) -> None:
        watched = [
            entity for mapping in self.mapping.values() for entity in self._entities(mapping)
        ]
        if watched:
            self._unsubscribe.append(
                async_track_state_change_event(self.hass, watched, self._on_state_change)
            )
        for connector_id in self.mapping:
            self._push_all(connector_id)
        self._check_missing_entities()
        self._start_firmware_heartbeat()

    async def async_first_outcome(self, within: float) -> ConnectErrorKind | None:
        """The first connection attempt's error (None: it connected, or is still trying after
        ``within`` s: an unreachable CSMS is no setup failure, the engine keeps trying)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._first_outcome.wait()
        return self.engine.last_error_kind if self._first_outcome.is_set() else None

    def apply_options(self) -> None:
        """The options (mapping, pinned intervals, behaviour) changed: apply them to the
        running charge point; its OCPP session and transactions go on. ValueError when the
        change needs a new engine (the caller reloads), or switches the site guard (and its
        sensor) on or off."""
        guard = guard_options(self.entry.options)
        if (self.site_guard is None) != (guard is None):
            raise ValueError("the site guard was switched on or off")
        self.engine.update_settings(settings_from_entry(self.entry, frozenset()))
        self._stop_firmware_heartbeat()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.mapping = {
            int(k): dict(v) for k, v in self.entry.options.get(CONF_MAPPING, {}).items()
        }
        self._watch_mapping()
        if self.site_guard is not None and guard is not None and self.site_guard.options != guard:
            self.site_guard.stop()  # new settings: from the fallback again
            self.site_guard = SiteGuard(self, guard)
            self.site_guard.start()
        self.notify_entities()

    @callback
    def _check_certificates(self, _now: Any = None) -> None:
        """Repair issues for certificates that expire within 30 days (certificate_repairs)."""
        self.entry.async_create_background_task(
            self.hass,
            async_check_certificates(
                self.hass, self.entry.entry_id, self.charge_point_id, self.engine
            ),
            f"{DOMAIN} certificate expiry",
        )

    async def async_stop(self) -> None:
        if self._certificate_checks is not None:
            self._certificate_checks()
            self._certificate_checks = None
        if self.site_guard is not None:
            self.site_guard.stop()
        self._stop_firmware_heartbeat()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await self.engine.stop()

    @staticmethod
    def _entities(mapping: dict[str, Any]) -> list[str]:
        return [
            value
            for key, value in mapping.items()
            if isinstance(value, str) and "." in value and key not in NOT_ENTITIES
        ]

    # -- companion firmware heartbeat -------------------------------------------------------
    # A connector mapped to the companion firmware (firmware/micropython) has its MQTT base
    # topic in the mapping. The firmware falls back to a safe current when Home Assistant goes
    # quiet: tell it every FIRMWARE_HEARTBEAT_INTERVAL, and once at start, that HA is here.

    def firmware_topics(self) -> list[str]:
        """The MQTT base topics of the companion firmware devices the connectors map to."""
        topics = {
            topic
            for mapping in self.mapping.values()
            if isinstance(topic := mapping.get(MAP_FIRMWARE_TOPIC), str) and topic
        }
        return sorted(topics)

    def firmware_heartbeat_topics(self) -> list[str]:
        return [f"{topic}{HEARTBEAT_SUFFIX}" for topic in self.firmware_topics()]

    @callback
    def _start_firmware_heartbeat(self) -> None:
        if not self.firmware_heartbeat_topics():
            return
        self._firmware_heartbeat = async_track_time_interval(
            self.hass,
            self._async_firmware_heartbeat,
            FIRMWARE_HEARTBEAT_INTERVAL,
            name=f"{DOMAIN} firmware heartbeat",
        )
        self.entry.async_create_background_task(
            self.hass, self._async_firmware_heartbeat(), f"{DOMAIN} firmware heartbeat"
        )

    @callback
    def _stop_firmware_heartbeat(self) -> None:
        if self._firmware_heartbeat is not None:
            self._firmware_heartbeat()
            self._firmware_heartbeat = None

    async def _async_firmware_heartbeat(self, now: datetime | None = None) -> None:
        if not self.hass.config_entries.async_loaded_entries("mqtt"):
            return  # no MQTT integration (yet): the firmware's own timeout applies
        from homeassistant.components import mqtt

        for topic in self.firmware_heartbeat_topics():
            try:
                await mqtt.async_publish(self.hass, topic, "1", qos=0, retain=False)
            except HomeAssistantError as err:
                _LOGGER.debug("Firmware heartbeat on %s not sent: %s", topic, err)

    # -- listeners for entities -------------------------------------------------------------

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        self._listeners.append(update)

        def remove() -> None:
            self._listeners.remove(update)

        return remove

    @callback
    def notify_entities(self) -> None:
        for update in list(self._listeners):
            update()

    # -- HA -> engine -----------------------------------------------------------------------

    @callback
    def _on_state_change(self, event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]
        pushed = False
        for connector_id, mapping in self.mapping.items():
            if entity_id in self._entities(mapping):
                self._push_all(connector_id)
                pushed = True
            if entity_id == mapping.get(MAP_CURRENT_NUMBER):
                self._check_limit_drift(connector_id, event.data["new_state"])
        if event.data["new_state"] is None or event.data["old_state"] is None:
            self._check_missing_entities()
        if pushed:
            self.notify_entities()  # session energy and duration follow the meter

    @callback
    def _check_limit_drift(self, connector_id: int, state: State | None) -> None:
        """Someone (a user, another integration, the charger itself) changed the limit
        number while a session may draw current: write the limit in force back."""
        written = self._written_limit.get(connector_id)
        value = state_number(state)
        if written is None or value is None or abs(value - written) < LIMIT_TOLERANCE_A:
            return
        engine = self.engine
        if engine.limit_amps(engine.connectors[connector_id]) <= 0:
            return  # nothing is permitted now; the next permission writes the limit anyway
        now = time.monotonic()
        if now - self._reasserted_at.get(connector_id, -DRIFT_GUARD_S) < DRIFT_GUARD_S:
            return  # never fight a device that keeps changing it back
        self._reasserted_at[connector_id] = now
        _LOGGER.info(
            "%s drifted to %s A from the limit in force %s A; writing it back",
            state.entity_id if state else "",
            value,
            written,
        )
        engine.reassert_outputs(connector_id)

    @callback
    def _push_all(self, connector_id: int) -> None:
        """Feed the engine everything this connector's entities say now."""
        mapping = self.mapping[connector_id]
        states = self.hass.states
        engine = self.engine
        phases = int(mapping.get(MAP_PHASES, DEFAULT_PHASES))
        available: set[str] = set()
        for source in SOURCES:
            entity_id = mapping.get(source.key)
            if entity_id:
                value = self._reading(states.get(entity_id), source.quantity)
                if source.key == MAP_SOC and not self._soc_allowed(mapping):
                    value = None
                engine.set_reading(connector_id, source.measurand, value, source.phase)
                if value is not None:
                    available.add(source.measurand)
        single_phase = {MAP_CURRENT: ("Current.Import", "L1", "current")}
        single_phase[MAP_VOLTAGE] = ("Voltage", "L1-N", "voltage")
        for key, (measurand, phase, quantity) in single_phase.items():
            entity_id = mapping.get(key)
            if not entity_id:
                continue
            value = self._reading(states.get(entity_id), quantity)
            engine.set_reading(connector_id, measurand, value, phase if phases == 1 else None)
            if value is not None:
                available.add(measurand)
                if phases == 1 and measurand == "Current.Import":
                    # evcc needs three Current.Import rows: L2/L3 of a single-phase charger are 0
                    engine.set_reading(connector_id, measurand, 0.0, "L2")
                    engine.set_reading(connector_id, measurand, 0.0, "L3")
        self._available[connector_id] = frozenset(available)
        engine.set_available_measurands(frozenset().union(*self._available.values()))
        # plug first: a restored transaction must not see a moment of "unplugged"
        self._push_plug_and_status(connector_id, mapping)
        engine.set_hardware_max(connector_id, self._hardware_max(mapping))
        engine.set_hardware_min(connector_id, self._hardware_min(mapping))

    def _hardware_min(self, mapping: dict[str, Any]) -> float | None:
        """The limit number's own minimum: below it the charger cannot follow, so it pauses."""
        number = mapping.get(MAP_CURRENT_NUMBER)
        state = self.hass.states.get(number) if number else None
        low = state.attributes.get("min") if state is not None else None
        return float(low) if isinstance(low, int | float) else None

    def _hardware_max(self, mapping: dict[str, Any]) -> float | None:
        """The max-current entity if mapped, else the limit number's own maximum."""
        source = mapping.get(MAP_MAX_CURRENT)
        if source:
            return self._reading(self.hass.states.get(source), "current")
        number = mapping.get(MAP_CURRENT_NUMBER)
        state = self.hass.states.get(number) if number else None
        high = state.attributes.get("max") if state is not None else None
        return float(high) if isinstance(high, int | float) else None

    def _reading(self, state: State | None, quantity: str) -> float | None:
        value = state_number(state)
        if value is None or state is None:
            return None
        converted = to_canonical(quantity, value, state.attributes.get(ATTR_UNIT_OF_MEASUREMENT))
        if converted is None:
            _LOGGER.warning(
                "%s: unit %s cannot be used as %s",
                state.entity_id,
                state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
                quantity,
            )
        return converted

    def _soc_allowed(self, mapping: dict[str, Any]) -> bool:
        gate = mapping.get(MAP_SOC_GATE)
        if not gate:
            return True
        state = self.hass.states.get(gate)
        return state is not None and state.state in (STATE_ON, "home")

    def _push_plug_and_status(self, connector_id: int, mapping: dict[str, Any]) -> None:
        engine = self.engine
        status = self._status_text(mapping)
        plug_entity = mapping.get(MAP_PLUG)
        plugged: bool | None = None
        if plug_entity:
            plug_state = self.hass.states.get(plug_entity)
            if plug_state is not None and plug_state.state in (STATE_ON, "off"):
                plugged = plug_state.state == STATE_ON
        if status is not None:
            if status in ("Faulted", "Unavailable"):
                engine.set_fault(connector_id, "OtherError", f"charger reports {status}")
            elif engine.connectors[connector_id].fault.error_code == "OtherError":
                engine.clear_fault(connector_id)
            if plugged is None:
                plugged = status not in ("Available", "Reserved", "Faulted", "Unavailable")
        if plugged is not None:
            engine.set_plugged(connector_id, plugged)
        if status == "Charging":
            engine.set_ev_state(connector_id, EvState.CHARGING)
        elif status == "SuspendedEV":
            engine.set_ev_state(connector_id, EvState.SUSPENDED)
        elif status in ("Preparing", "Finishing"):
            engine.set_ev_state(connector_id, EvState.IDLE)
        elif status is None and mapping.get(MAP_POWER):
            power = engine.readings[connector_id].get("Power.Active.Import")
            drawing = power is not None and power > DRAWING_THRESHOLD_W
            engine.set_ev_state(connector_id, EvState.CHARGING if drawing else EvState.SUSPENDED)

    def _status_text(self, mapping: dict[str, Any]) -> str | None:
        entity_id = mapping.get(MAP_STATUS)
        if not entity_id:
            return None
        state = self.hass.states.get(entity_id)
        if state is None or state.state in ("unavailable", "unknown"):
            return None
        text = state.state.strip()
        custom = {k.strip().lower(): v for k, v in (mapping.get(MAP_STATUS_MAPPING) or {}).items()}
        key = text.lower()
        return custom.get(key) or DEFAULT_STATUS_WORDS.get(key.replace(" ", ""))

    # -- engine -> HA (ChargerHardware) -----------------------------------------------------

    async def set_charging_permitted(self, connector_id: int, permitted: bool) -> None:
        mapping = self.mapping.get(connector_id, {})
        entity_id = mapping.get(MAP_CHARGE_SWITCH)
        if not entity_id:
            return
        domain = entity_id.split(".", 1)[0]
        switch_on = permitted != bool(mapping.get(MAP_CHARGE_SWITCH_INVERTED))  # a pause switch
        await self.hass.services.async_call(
            domain,
            "turn_on" if switch_on else "turn_off",
            {ATTR_ENTITY_ID: entity_id},
            blocking=True,
        )

    async def set_charging_limit(self, connector_id: int, limit: ChargingLimit) -> None:
        entity_id = self.mapping.get(connector_id, {}).get(MAP_CURRENT_NUMBER)
        if not entity_id or limit.amps is None:
            return
        state = self.hass.states.get(entity_id)
        amps = limit.amps
        if state is not None:
            low = state.attributes.get("min")
            high = state.attributes.get("max")
            if isinstance(high, int | float):
                amps = min(amps, float(high))
            if isinstance(low, int | float):
                amps = max(amps, float(low))
        self._written_limit[connector_id] = amps
        domain = entity_id.split(".", 1)[0]
        await self.hass.services.async_call(
            domain, "set_value", {ATTR_ENTITY_ID: entity_id, "value": amps}, blocking=True
        )

    async def unlock_connector(self, connector_id: int) -> UnlockOutcome:
        # Only an automation can unlock; say Unlocked only if one listens for the request.
        listening = self.hass.bus.async_listeners().get(EVENT_CSMS_REQUEST, 0) > 0
        return UnlockOutcome.UNLOCKED if listening else UnlockOutcome.NOT_SUPPORTED

    async def reset(self, kind: ResetKind) -> None:
        return None  # the request already went out as an event; the engine reboots itself

    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> DataTransferReply:
        return DataTransferReply()

    async def install_firmware(self, path: str, sha256: str) -> bool:
        if topics := self.firmware_topics():
            return await self.companion_update.install(topics, path, sha256)
        job = self.engine.services.firmware.job or {}
        location = safe_location(str(job.get("location", "")))
        return await self.firmware_install.install(path, sha256, location)

    async def diagnostics_files(self) -> dict[str, bytes]:
        """HA's own diagnostics of this entry (secrets redacted there), for GetDiagnostics."""
        from .diagnostics import (
            async_get_config_entry_diagnostics,  # here: diagnostics imports bridge
        )

        data = await async_get_config_entry_diagnostics(self.hass, self.entry)
        return {"home_assistant_diagnostics.json": json.dumps(data, indent=2, default=str).encode()}

    @callback
    def _on_engine_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "frame":
            self.frames.append({"at": time.time(), **data})
            return
        if kind == "security_event":  # logged durably before this event is emitted
            self.hass.bus.async_fire(
                EVENT_SECURITY_EVENT,
                {"entry_id": self.entry.entry_id, "charge_point_id": self.charge_point_id, **data},
            )
            return
        if kind == "csms_request":
            self.hass.bus.async_fire(
                EVENT_CSMS_REQUEST,
                {"entry_id": self.entry.entry_id, "charge_point_id": self.charge_point_id, **data},
            )
            return  # a request alone changes no entity; its effects arrive as their own events
        if kind == "limit":
            self.hass.bus.async_fire(
                EVENT_CSMS_REQUEST,
                {
                    "entry_id": self.entry.entry_id,
                    "charge_point_id": self.charge_point_id,
                    "kind": "limit_changed",
                    **data,
                },
            )
        elif kind == "transaction":
            if self.site_guard is not None:
                self.site_guard.evaluate()  # the headroom is shared anew
            connector_id = data["connector_id"]
            if data.get("change") == "stopped" and "meter_start" in data:
                self.last_session_wh[connector_id] = max(
                    0.0, float(data["meter_stop"]) - float(data["meter_start"])
                )
        elif kind == "state":
            if data.get("state") != ConnectionState.CONNECTING:
                self._first_outcome.set()
            if self.setup_done:
                self.update_connection_issues()
        elif kind in ("security_changed", "certificates"):
            self._check_certificates()
        elif kind == "storage_error":
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"queue_storage_{self.entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="queue_storage",
                translation_placeholders={
                    "charge_point_id": self.charge_point_id,
                    "error": str(data.get("message", "")),
                },
            )
        elif kind == "queue_thinned":
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"queue_thinned_{self.entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="queue_thinned",
                translation_placeholders={
                    "charge_point_id": self.charge_point_id,
                    "dropped": str(data.get("total", 0)),
                },
            )
        self.notify_entities()

    # -- repairs ----------------------------------------------------------------------------

    def update_connection_issues(self) -> None:
        issue_base = self.entry.entry_id
        if self.engine.state == ConnectionState.REJECTED:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"boot_rejected_{issue_base}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="boot_rejected",
                translation_placeholders={"charge_point_id": self.charge_point_id},
            )
        elif self.engine.state == ConnectionState.ACCEPTED:
            ir.async_delete_issue(self.hass, DOMAIN, f"boot_rejected_{issue_base}")
            ir.async_delete_issue(self.hass, DOMAIN, f"auth_failed_{issue_base}")
        if self.engine.last_error_kind == ConnectErrorKind.UNAUTHORIZED:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"auth_failed_{issue_base}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="auth_failed",
                translation_placeholders={"charge_point_id": self.charge_point_id},
            )
            self.entry.async_start_reauth(self.hass)

    def _check_missing_entities(self) -> None:
        for connector_id, mapping in self.mapping.items():
            for key, entity_id in mapping.items():
                if key in NOT_ENTITIES or not isinstance(entity_id, str) or "." not in entity_id:
                    continue
                issue_id = f"missing_entity_{self.entry.entry_id}_{connector_id}_{key}"
                if self.hass.states.get(entity_id) is None:
                    ir.async_create_issue(
                        self.hass,
                        DOMAIN,
                        issue_id,
                        is_fixable=False,
                        severity=ir.IssueSeverity.WARNING,
                        translation_key="missing_entity",
                        translation_placeholders={
                            "entity_id": entity_id,
                            "connector": str(connector_id),
                            "charge_point_id": self.charge_point_id,
                        },
                    )
                else:
                    ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    # -- services ---------------------------------------------------------------------------

    def set_local_limit(
        self,
        connector_id: int,
        amps: float | None,
        watts: float | None,
        duration: float | None,
    ) -> None:
        self.engine.set_local_limit(connector_id, amps, watts, duration=duration)

    def set_local_schedule(self, connector_id: int, periods: list[LocalPeriod]) -> None:
        self.engine.set_local_schedule(connector_id, periods)

    def clear_local_limit(self, connector_id: int) -> None:
        self.engine.clear_local_limit(connector_id)

    # -- values for entities ----------------------------------------------------------------

    def session_energy_wh(self, connector_id: int) -> float | None:
        """This session's energy, or the last session's while none runs."""
        tx = self.engine.connectors[connector_id].transaction
        if tx is None:
            return self.last_session_wh.get(connector_id)
        energy = self.engine.readings[connector_id].energy_wh()
        return None if energy is None else max(0.0, energy - tx.meter_start)

    def session_duration_s(self, connector_id: int) -> float | None:
        """From the transaction's own start time (the journal's), so it survives restarts."""
        tx = self.engine.connectors[connector_id].transaction
        if tx is None:
            return None
        started = datetime.fromisoformat(tx.started_at.replace("Z", "+00:00"))
        return max(0, round(time.time() - started.timestamp()))

    def lifetime_energy_wh(self, connector_id: int) -> float | None:
        """The mapped energy register itself (the energy dashboard's meter)."""
        return self.engine.readings[connector_id].energy_wh()

    def _limit_summary(self, connector_id: int) -> dict[str, Any] | None:
        if connector_id == 0:
            return None
        limit = self.engine.limit_in_force(connector_id)
        return {
            "amps": limit.amps,
            "source": limit.source.kind,
            "profile_id": limit.source.profile_id,
            "next_change": limit.next_change.isoformat() if limit.next_change else None,
        }

    def diagnostics(self) -> dict[str, Any]:
        engine = self.engine
        known, _ = engine.config.read(None)
        return {
            "connection": {
                "state": engine.state,
                "last_error": engine.last_error,
                "last_error_kind": engine.last_error_kind,
                "last_heartbeat": engine.last_heartbeat,
                "csms_time_offset": engine.csms_time_offset,
            },
            "configuration": {entry["key"]: entry.get("value") for entry in known},
            "connectors": {
                str(c.connector_id): {
                    "status": c.status(),
                    "error_code": c.error_code,
                    "plugged": c.plugged,
                    "ev_state": c.ev_state,
                    "operative": c.operative,
                    "transaction": c.transaction.to_dict() if c.transaction else None,
                    "limit_amps": engine.limit_amps(c),
                    "limit_in_force": self._limit_summary(c.connector_id),
                }
                for c in engine.connectors.values()
            },
            "charging_profiles": engine.profiles.to_dict(),
            **({"site_guard": self.site_guard.diagnostics()} if self.site_guard else {}),
            **(
                {"companion_firmware_update": self.companion_update.diagnostics()}
                if self.companion_update.progress
                else {}
            ),
            "frames": list(self.frames),
        }
