"""Config flow for the OCPP charge point integration."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    DeviceFilterSelectorConfig,
    DeviceSelector,
    DeviceSelectorConfig,
    EntityFilterSelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .charger_presets import PRESETS, async_charger_devices, async_resolve_charger
from .const import (
    CONF_AUTHORIZATION_KEY,
    CONF_CA_FILE,
    CONF_CHARGE_POINT_ID,
    CONF_CHARGER_DEVICE,
    CONF_CLIENT_CERT,
    CONF_CLIENT_KEY,
    CONF_CONNECTORS,
    CONF_CSMS_URL,
    CONF_FIRMWARE,
    CONF_FIRMWARE_DEVICE,
    CONF_MAPPING,
    CONF_MODEL,
    CONF_SECURITY_PROFILE,
    CONF_SERIAL,
    CONF_TLS_ALLOW_V1_CA,
    CONF_TLS_SERVER_NAME,
    CONF_VENDOR,
    DEFAULT_ID_TAG,
    DEFAULT_MODEL,
    DEFAULT_NOMINAL_VOLTAGE,
    DEFAULT_PHASES,
    DEFAULT_VENDOR,
    DOMAIN,
    GUARD_ENABLED,
    GUARD_FALLBACK,
    GUARD_FUSE,
    GUARD_GRID_L1,
    GUARD_GRID_L2,
    GUARD_GRID_L3,
    GUARD_GRID_POWER,
    GUARD_GRID_VOLTAGE,
    GUARD_INCREASE_INTERVAL,
    GUARD_MARGIN,
    GUARD_REACTION,
    GUARD_STALE,
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
    OCPP_STATUSES,
    OPT_DEFAULT_ID_TAG,
    OPT_FREEZE_CURRENT_OFFERED,
    OPT_HEARTBEAT_INTERVAL,
    OPT_METER_INTERVAL,
    OPT_SITE_GUARD,
)
from .engine import (
    ConnectErrorKind,
    EngineSettings,
    ProbeOutcome,
    SecurityProfile,
    SettingsError,
    probe_csms,
)
from .firmware_device import (
    FIRMWARE_MANUFACTURER,
    FIRMWARE_MODEL,
    MQTT_DOMAIN,
    async_device_of_entity,
    async_firmware_devices,
    async_resolve,
    async_topic_for_switch,
)
from .site_guard import (
    PROBLEM_CURRENTS_AND_POWER,
    PROBLEM_FALLBACK,
    PROBLEM_MARGIN,
    PROBLEM_NO_SENSOR,
    PROBLEM_SAME_SENSOR,
    guard_from_input,
    guard_suggestions,
)

_LOGGER = logging.getLogger(__name__)

# How long the probe waits for the BootNotification answer; tests shorten it.
PROBE_ANSWER_TIMEOUT = 10.0

# Options-flow field that picks the connector whose mapping is edited.
CONF_CONNECTOR = "connector"

MAX_CONNECTORS = 16
MAX_INTERVAL = 86400
MAX_ID_TAG_LENGTH = 20

FILE_KEYS = (CONF_CA_FILE, CONF_CLIENT_CERT, CONF_CLIENT_KEY)
OPTIONAL_TEXT_KEYS = (CONF_SERIAL, CONF_FIRMWARE)

DEFAULT_BEHAVIOUR: dict[str, Any] = {
    OPT_HEARTBEAT_INTERVAL: None,
    OPT_METER_INTERVAL: None,
    OPT_FREEZE_CURRENT_OFFERED: False,
    OPT_DEFAULT_ID_TAG: DEFAULT_ID_TAG,
}

# Where each connection failure is shown in the form, and with which translation key.
CONNECT_ERRORS: dict[ConnectErrorKind, tuple[str, str]] = {
    ConnectErrorKind.INVALID_URL: (CONF_CSMS_URL, "invalid_url"),
    ConnectErrorKind.DNS: (CONF_CSMS_URL, "cannot_resolve"),
    ConnectErrorKind.REFUSED: ("base", "cannot_connect"),
    ConnectErrorKind.TIMEOUT: ("base", "cannot_connect"),
    ConnectErrorKind.HTTP: ("base", "cannot_connect"),
    ConnectErrorKind.OTHER: ("base", "cannot_connect"),
    ConnectErrorKind.UNAUTHORIZED: (CONF_AUTHORIZATION_KEY, "invalid_auth"),
    ConnectErrorKind.NOT_FOUND: ("base", "unknown_charge_point"),
    ConnectErrorKind.TLS: ("base", "tls_error"),
    ConnectErrorKind.SUBPROTOCOL: ("base", "not_ocpp"),
}


# -- connection ---------------------------------------------------------------------------------


def normalize_csms_url(url: str) -> str:
    """Trim a trailing "/" and lower-case the scheme and host of a CSMS URL."""
    parts = urlsplit(url.strip())
    userinfo, at, hostport = parts.netloc.rpartition("@")
    return urlunsplit(
        (
            parts.scheme.lower(),
            f"{userinfo}{at}{hostport.lower()}",
            parts.path.rstrip("/"),
            parts.query,
            parts.fragment,
        )
    )


def connection_unique_id(data: Mapping[str, Any]) -> str:
    """Unique id of an entry: the normalised CSMS URL and the charge point id."""
    return f"{normalize_csms_url(data[CONF_CSMS_URL])}|{data[CONF_CHARGE_POINT_ID]}"


def _text(value: Any) -> str | None:
    """A stripped string, or None when empty."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def connection_schema() -> vol.Schema:
    """The connection form shared by the user and reconfigure steps."""
    text = TextSelector()
    return vol.Schema(
        {
            vol.Required(CONF_CSMS_URL): TextSelector(
                TextSelectorConfig(type=TextSelectorType.URL)
            ),
            vol.Required(CONF_CHARGE_POINT_ID): text,
            vol.Required(CONF_SECURITY_PROFILE, default=str(int(SecurityProfile.UNSECURED))): (
                SelectSelector(
                    SelectSelectorConfig(
                        options=[str(int(profile)) for profile in SecurityProfile],
                        mode=SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_SECURITY_PROFILE,
                    )
                )
            ),
            vol.Optional(CONF_AUTHORIZATION_KEY): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
            vol.Optional(CONF_CA_FILE): text,
            vol.Optional(CONF_CLIENT_CERT): text,
            vol.Optional(CONF_CLIENT_KEY): text,
            vol.Optional(CONF_TLS_SERVER_NAME): text,
            vol.Required(CONF_TLS_ALLOW_V1_CA, default=False): BooleanSelector(),
            vol.Required(CONF_VENDOR, default=DEFAULT_VENDOR): text,
            vol.Required(CONF_MODEL, default=DEFAULT_MODEL): text,
            vol.Optional(CONF_SERIAL): text,
            vol.Optional(CONF_FIRMWARE): text,
            vol.Required(CONF_CONNECTORS, default=1): NumberSelector(
                NumberSelectorConfig(min=1, max=MAX_CONNECTORS, step=1, mode=NumberSelectorMode.BOX)
            ),
        }
    )


def connection_suggestions(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data (or form input) as values for the connection form."""
    values = {key: value for key, value in data.items() if value is not None}
    if CONF_SECURITY_PROFILE in values:
        values[CONF_SECURITY_PROFILE] = str(int(values[CONF_SECURITY_PROFILE]))
    return values


def connection_data(hass: HomeAssistant, user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data from form input: stripped texts, numbers as int, file paths made absolute."""
    data: dict[str, Any] = {
        CONF_CSMS_URL: str(user_input[CONF_CSMS_URL]).strip(),
        CONF_CHARGE_POINT_ID: str(user_input[CONF_CHARGE_POINT_ID]).strip(),
        CONF_SECURITY_PROFILE: int(user_input.get(CONF_SECURITY_PROFILE, 0)),
        CONF_AUTHORIZATION_KEY: user_input.get(CONF_AUTHORIZATION_KEY) or None,
        CONF_VENDOR: _text(user_input.get(CONF_VENDOR)) or DEFAULT_VENDOR,
        CONF_MODEL: _text(user_input.get(CONF_MODEL)) or DEFAULT_MODEL,
        CONF_CONNECTORS: int(user_input.get(CONF_CONNECTORS, 1)),
        CONF_TLS_ALLOW_V1_CA: bool(user_input.get(CONF_TLS_ALLOW_V1_CA, False)),
        CONF_TLS_SERVER_NAME: _text(user_input.get(CONF_TLS_SERVER_NAME)),
    }
    for key in OPTIONAL_TEXT_KEYS:
        data[key] = _text(user_input.get(key))
    for key in FILE_KEYS:
        path = _text(user_input.get(key))
        if path is not None:
            expanded = Path(path).expanduser()
            path = str(expanded) if expanded.is_absolute() else hass.config.path(path)
        data[key] = path
    return data


def engine_settings(data: Mapping[str, Any]) -> EngineSettings:
    """EngineSettings for entry data; raises SettingsError."""
    return EngineSettings(
        csms_url=data[CONF_CSMS_URL],
        charge_point_id=data[CONF_CHARGE_POINT_ID],
        security_profile=SecurityProfile(int(data[CONF_SECURITY_PROFILE])),
        authorization_key=data.get(CONF_AUTHORIZATION_KEY),
        ca_file=data.get(CONF_CA_FILE),
        client_cert_file=data.get(CONF_CLIENT_CERT),
        client_key_file=data.get(CONF_CLIENT_KEY),
        vendor=data[CONF_VENDOR],
        model=data[CONF_MODEL],
        serial_number=data.get(CONF_SERIAL),
        firmware_version=data.get(CONF_FIRMWARE),
        number_of_connectors=data[CONF_CONNECTORS],
        tls_allow_v1_ca=bool(data.get(CONF_TLS_ALLOW_V1_CA, False)),
        tls_server_name=data.get(CONF_TLS_SERVER_NAME),
    )


def settings_error(err: SettingsError, data: Mapping[str, Any]) -> dict[str, str]:
    """The form error for a SettingsError."""
    if err.key == CONF_CSMS_URL:
        parts = urlsplit(data[CONF_CSMS_URL])
        if parts.scheme in ("ws", "wss") and parts.hostname:
            return {CONF_CSMS_URL: "wss_required"}
        return {CONF_CSMS_URL: "invalid_url"}
    if err.key == CONF_AUTHORIZATION_KEY:
        return {CONF_AUTHORIZATION_KEY: "missing_key"}
    if err.key == CONF_CLIENT_CERT:
        return {CONF_CLIENT_CERT: "missing_client_cert"}
    if err.key == CONF_CHARGE_POINT_ID:
        return {CONF_CHARGE_POINT_ID: "invalid_charge_point_id"}
    if err.key == CONF_CA_FILE:
        return {CONF_CA_FILE: "v1_ca_needs_file"}
    _LOGGER.error("Unexpected setting error for %s: %s", err.key, err)
    return {"base": "unknown"}


def missing_files(data: Mapping[str, Any]) -> list[str]:
    """Keys of the configured files that do not exist (blocking: run in the executor)."""
    return [key for key in FILE_KEYS if data.get(key) and not Path(data[key]).is_file()]


# -- mapping ------------------------------------------------------------------------------------

ENTITY_KEYS = (
    MAP_CHARGE_SWITCH,
    MAP_CURRENT_NUMBER,
    MAP_PLUG,
    MAP_STATUS,
    MAP_POWER,
    MAP_ENERGY,
    MAP_VOLTAGE,
    MAP_VOLTAGE_L1,
    MAP_VOLTAGE_L2,
    MAP_VOLTAGE_L3,
    MAP_CURRENT,
    MAP_CURRENT_L1,
    MAP_CURRENT_L2,
    MAP_CURRENT_L3,
    MAP_CURRENT_OFFERED,
    MAP_TEMPERATURE,
    MAP_SOC,
    MAP_SOC_GATE,
    MAP_FREQUENCY,
    MAP_POWER_FACTOR,
    MAP_MAX_CURRENT,
)


def _entity(domain: str | list[str], device_class: str | None = None) -> EntitySelector:
    entity_filter = EntityFilterSelectorConfig(domain=domain)
    if device_class is not None:
        entity_filter["device_class"] = device_class
    return EntitySelector(EntitySelectorConfig(filter=entity_filter))


def mapping_schema() -> vol.Schema:
    """The per-connector mapping form."""
    schema: dict[vol.Marker, Any] = {
        vol.Required(MAP_CHARGE_SWITCH): _entity(["switch", "input_boolean"]),
        vol.Optional(MAP_CHARGE_SWITCH_INVERTED, default=False): BooleanSelector(),
        vol.Optional(MAP_CURRENT_NUMBER): _entity(["number", "input_number"]),
        vol.Optional(MAP_PLUG): _entity("binary_sensor"),
        vol.Optional(MAP_STATUS): _entity("sensor"),
        vol.Optional(MAP_STATUS_MAPPING): TextSelector(TextSelectorConfig(multiline=True)),
        vol.Optional(MAP_POWER): _entity("sensor", "power"),
        vol.Optional(MAP_ENERGY): _entity("sensor", "energy"),
    }
    for key in (MAP_VOLTAGE, MAP_VOLTAGE_L1, MAP_VOLTAGE_L2, MAP_VOLTAGE_L3):
        schema[vol.Optional(key)] = _entity("sensor", "voltage")
    for key in (MAP_CURRENT, MAP_CURRENT_L1, MAP_CURRENT_L2, MAP_CURRENT_L3, MAP_CURRENT_OFFERED):
        schema[vol.Optional(key)] = _entity("sensor", "current")
    schema.update(
        {
            vol.Optional(MAP_TEMPERATURE): _entity("sensor", "temperature"),
            vol.Optional(MAP_SOC): _entity("sensor"),
            vol.Optional(MAP_SOC_GATE): _entity(["binary_sensor", "device_tracker"]),
            vol.Optional(MAP_FREQUENCY): _entity("sensor", "frequency"),
            vol.Optional(MAP_POWER_FACTOR): _entity("sensor", "power_factor"),
            vol.Optional(MAP_MAX_CURRENT): _entity(["sensor", "number", "input_number"]),
            vol.Required(MAP_PHASES, default=str(DEFAULT_PHASES)): SelectSelector(
                SelectSelectorConfig(
                    options=["1", "3"],
                    mode=SelectSelectorMode.LIST,
                    translation_key=MAP_PHASES,
                )
            ),
            vol.Required(MAP_NOMINAL_VOLTAGE, default=DEFAULT_NOMINAL_VOLTAGE): NumberSelector(
                NumberSelectorConfig(
                    min=50,
                    max=500,
                    step=1,
                    mode=NumberSelectorMode.BOX,
                    unit_of_measurement="V",
                )
            ),
        }
    )
    return vol.Schema(schema)


def parse_status_mapping(text: str) -> dict[str, str]:
    """Parse "text=Status" lines; raises ValueError on a line that does not name a status."""
    statuses = {status.lower(): status for status in OCPP_STATUSES}
    result: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        source, separator, target = line.rpartition("=")
        source, target = source.strip(), target.strip()
        if not separator or not source or target.lower() not in statuses:
            raise ValueError(line)
        result[source] = statuses[target.lower()]
    return result


def format_status_mapping(mapping: Mapping[str, str]) -> str:
    """The text form of a stored status mapping."""
    return "\n".join(f"{source}={status}" for source, status in mapping.items())


def mapping_from_input(user_input: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored mapping of one connector and the form errors."""
    errors: dict[str, str] = {}
    mapping: dict[str, Any] = {}
    for key in ENTITY_KEYS:
        if value := user_input.get(key):
            mapping[key] = value
    if user_input.get(MAP_CHARGE_SWITCH_INVERTED):
        mapping[MAP_CHARGE_SWITCH_INVERTED] = True
    if text := str(user_input.get(MAP_STATUS_MAPPING) or "").strip():
        try:
            mapping[MAP_STATUS_MAPPING] = parse_status_mapping(text)
        except ValueError:
            errors[MAP_STATUS_MAPPING] = "invalid_status_mapping"
    mapping[MAP_PHASES] = int(user_input.get(MAP_PHASES, DEFAULT_PHASES))
    mapping[MAP_NOMINAL_VOLTAGE] = int(user_input.get(MAP_NOMINAL_VOLTAGE, DEFAULT_NOMINAL_VOLTAGE))
    if not mapping.get(MAP_PLUG) and not mapping.get(MAP_STATUS):
        errors["base"] = "plug_or_status_required"
    return mapping, errors


def mapping_suggestions(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A stored mapping as values for the mapping form."""
    values = dict(mapping)
    if isinstance(values.get(MAP_STATUS_MAPPING), Mapping):
        values[MAP_STATUS_MAPPING] = format_status_mapping(values[MAP_STATUS_MAPPING])
    if MAP_PHASES in values:
        values[MAP_PHASES] = str(values[MAP_PHASES])
    return values


# -- site fuse guard ------------------------------------------------------------------------------

# What guard_from_input finds wrong -> (form field, translation key).
SITE_GUARD_ERRORS: dict[str, tuple[str, str]] = {
    PROBLEM_NO_SENSOR: ("base", "guard_no_grid_sensor"),
    PROBLEM_CURRENTS_AND_POWER: ("base", "guard_currents_or_power"),
    PROBLEM_SAME_SENSOR: ("base", "guard_same_sensor"),
    PROBLEM_MARGIN: (GUARD_MARGIN, "guard_margin_too_large"),
    PROBLEM_FALLBACK: (GUARD_FALLBACK, "guard_fallback_above_fuse"),
}


def _box(low: float, high: float, unit: str, step: float = 1) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=low, max=high, step=step, mode=NumberSelectorMode.BOX, unit_of_measurement=unit
        )
    )


def site_guard_schema() -> vol.Schema:
    """The site fuse guard form (logic and defaults in site_guard.py)."""
    schema: dict[vol.Marker, Any] = {vol.Required(GUARD_ENABLED): BooleanSelector()}
    for key in (GUARD_GRID_L1, GUARD_GRID_L2, GUARD_GRID_L3):
        schema[vol.Optional(key)] = _entity("sensor", "current")
    schema[vol.Optional(GUARD_GRID_POWER)] = _entity("sensor", "power")
    schema.update(
        {
            vol.Required(GUARD_GRID_VOLTAGE): _box(50, 500, "V"),
            vol.Required(GUARD_FUSE): _box(6, 1000, "A"),
            vol.Required(GUARD_MARGIN): _box(0, 100, "A", 0.5),
            vol.Required(GUARD_REACTION): _box(0.5, 60, "s", 0.5),
            vol.Required(GUARD_INCREASE_INTERVAL): _box(1, 3600, "s"),
            vol.Required(GUARD_FALLBACK): _box(0, 1000, "A"),
            vol.Required(GUARD_STALE): _box(2, 3600, "s"),
        }
    )
    return vol.Schema(schema)


# -- firmware device ------------------------------------------------------------------------------

# What a mapping keeps when a firmware device fills in the rest (the firmware has none of these).
KEPT_WITH_FIRMWARE = (
    MAP_SOC,
    MAP_SOC_GATE,
    MAP_FREQUENCY,
    MAP_POWER_FACTOR,
    MAP_MAX_CURRENT,
    MAP_NOMINAL_VOLTAGE,
)


def firmware_schema(hass: HomeAssistant) -> vol.Schema:
    """The optional pick of a companion firmware device or of a charger of a supported
    integration (charger_presets.py), shown before a mapping form: a picker for each kind
    Home Assistant has a device of."""
    schema: dict[vol.Marker, Any] = {}
    if async_firmware_devices(hass):
        schema[vol.Optional(CONF_FIRMWARE_DEVICE)] = DeviceSelector(
            DeviceSelectorConfig(
                filter=DeviceFilterSelectorConfig(
                    integration=MQTT_DOMAIN,
                    manufacturer=FIRMWARE_MANUFACTURER,
                    model=FIRMWARE_MODEL,
                )
            )
        )
    if async_charger_devices(hass):
        schema[vol.Optional(CONF_CHARGER_DEVICE)] = DeviceSelector(
            DeviceSelectorConfig(
                filter=[DeviceFilterSelectorConfig(integration=name) for name in PRESETS]
            )
        )
    return vol.Schema(schema)


def devices_to_offer(hass: HomeAssistant) -> bool:
    """A firmware device or a supported charger exists: offer the device step."""
    return bool(async_firmware_devices(hass) or async_charger_devices(hass))


def firmware_suggestions(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Mapping form values from the firmware or charger device picked (None: none), or errors."""
    device_id = user_input.get(CONF_FIRMWARE_DEVICE)
    charger_id = user_input.get(CONF_CHARGER_DEVICE)
    if device_id and charger_id:
        return None, {"base": "one_device_only"}
    if charger_id:
        charger = async_resolve_charger(hass, str(charger_id))
        if charger is None or not charger.usable:
            return None, {CONF_CHARGER_DEVICE: "charger_unusable"}
        return mapping_suggestions(charger.mapping()), {}
    if not device_id:
        return None, {}
    firmware = async_resolve(hass, str(device_id))
    if firmware is None or not firmware.usable:
        return None, {CONF_FIRMWARE_DEVICE: "firmware_unusable"}
    return mapping_suggestions(firmware.mapping()), {}


def add_firmware_topic(hass: HomeAssistant, mapping: dict[str, Any]) -> dict[str, Any]:
    """Record the firmware's MQTT base topic when the charge switch is a firmware's."""
    if topic := async_topic_for_switch(hass, mapping.get(MAP_CHARGE_SWITCH)):
        mapping[MAP_FIRMWARE_TOPIC] = topic
    return mapping


def mapping_placeholders(connector: int, connectors: int) -> dict[str, str]:
    """Description placeholders of the mapping form."""
    return {
        "connector": str(connector),
        "connectors": str(connectors),
        "statuses": ", ".join(OCPP_STATUSES),
    }


# -- flows --------------------------------------------------------------------------------------


class OcppCpConfigFlow(ConfigFlow, domain=DOMAIN):
    """Handle an OCPP charge point config flow."""

    VERSION = 1
    # 2: entity unique ids and device identifiers are based on the entry id (see __init__).
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        self._mapping: dict[str, dict[str, Any]] = {}
        self._to_map: list[int] = []
        # The connector the firmware step was shown for, and what it suggests for its mapping.
        self._firmware_asked: int | None = None
        self._suggested: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OcppCpOptionsFlow:
        """Create the options flow."""
        return OcppCpOptionsFlow()

    def _validate(
        self, user_input: Mapping[str, Any]
    ) -> tuple[dict[str, Any], EngineSettings | None, dict[str, str]]:
        """Entry data and engine settings from connection input, or the form errors."""
        data = connection_data(self.hass, user_input)
        try:
            return data, engine_settings(data), {}
        except SettingsError as err:
            return data, None, settings_error(err, data)

    async def _async_verify(
        self, data: Mapping[str, Any], settings: EngineSettings, placeholders: dict[str, str]
    ) -> tuple[dict[str, str], bool]:
        """Check the files exist, then probe the CSMS: (errors, pending)."""
        if missing := await self.hass.async_add_executor_job(missing_files, data):
            return dict.fromkeys(missing, "file_not_found"), False
        return await self._async_probe(settings, placeholders)

    async def _async_probe(
        self, settings: EngineSettings, placeholders: dict[str, str]
    ) -> tuple[dict[str, str], bool]:
        """Connect, send one BootNotification: (errors, pending)."""
        try:
            result = await probe_csms(settings, answer_timeout=PROBE_ANSWER_TIMEOUT)
        except Exception:
            _LOGGER.exception("Unexpected error while trying the CSMS")
            return {"base": "unknown"}, False
        _LOGGER.debug("Probe of %s: %s", settings.connection_url, result)
        placeholders["error_detail"] = result.message
        if result.outcome == ProbeOutcome.CONNECT_FAILED:
            field, key = CONNECT_ERRORS[result.error_kind or ConnectErrorKind.OTHER]
            return {field: key}, False
        if result.outcome == ProbeOutcome.REJECTED:
            return {"base": "boot_rejected"}, False
        if result.outcome == ProbeOutcome.NO_ANSWER:
            return {"base": "no_answer"}, False
        return {}, result.outcome == ProbeOutcome.PENDING

    def _show_connection_form(
        self,
        step_id: str,
        suggestions: Mapping[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                connection_schema(), connection_suggestions(suggestions)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the CSMS connection and the charge point identity."""
        errors: dict[str, str] = {}
        placeholders = {"error_detail": ""}
        if user_input is not None:
            data, settings, errors = self._validate(user_input)
            if settings is not None:
                await self.async_set_unique_id(connection_unique_id(data))
                self._abort_if_unique_id_configured()
                errors, pending = await self._async_verify(data, settings, placeholders)
                if not errors:
                    self._data = data
                    return await self._async_connected(pending)
        return self._show_connection_form("user", user_input or {}, errors, placeholders)

    async def _async_connected(self, pending: bool) -> ConfigFlowResult:
        """The probe passed: say so first when the CSMS put the charge point on hold."""
        if pending:
            return await self.async_step_pending()
        return await self._async_after_connection()

    async def async_step_pending(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Explain that the CSMS holds the charge point until an operator accepts it."""
        if user_input is not None:
            return await self._async_after_connection()
        return self.async_show_form(
            step_id="pending",
            data_schema=vol.Schema({}),
            description_placeholders={
                CONF_CHARGE_POINT_ID: self._data[CONF_CHARGE_POINT_ID],
                CONF_CSMS_URL: self._data[CONF_CSMS_URL],
            },
        )

    async def _async_after_connection(self) -> ConfigFlowResult:
        """Continue once the connection works."""
        if self.source == SOURCE_REAUTH:
            return self._async_finish(self._get_reauth_entry(), data=self._data)
        if self.source == SOURCE_RECONFIGURE:
            mapped = self._get_reconfigure_entry().options.get(CONF_MAPPING, {})
            self._to_map = [
                connector
                for connector in range(1, self._data[CONF_CONNECTORS] + 1)
                if str(connector) not in mapped
            ]
        else:
            self._to_map = list(range(1, self._data[CONF_CONNECTORS] + 1))
        if self._to_map:
            return await self.async_step_mapping()
        return self._async_finish_reconfigure()

    async def async_step_mapping(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Map the entities of one connector; repeated for each connector."""
        connector = self._to_map[0]
        if user_input is None and self._firmware_asked != connector and devices_to_offer(self.hass):
            return await self.async_step_firmware()
        errors: dict[str, str] = {}
        if user_input is not None:
            mapping, errors = mapping_from_input(user_input)
            if not errors:
                self._mapping[str(connector)] = add_firmware_topic(self.hass, mapping)
                self._suggested = {}
                self._to_map.pop(0)
                if self._to_map:
                    return await self.async_step_mapping()
                if self.source == SOURCE_RECONFIGURE:
                    return self._async_finish_reconfigure()
                return self.async_create_entry(
                    title=self._data[CONF_CHARGE_POINT_ID],
                    data=self._data,
                    options={CONF_MAPPING: self._mapping, **DEFAULT_BEHAVIOUR},
                )
        return self.async_show_form(
            step_id="mapping",
            data_schema=self.add_suggested_values_to_schema(
                mapping_schema(), user_input or self._suggested
            ),
            errors=errors,
            description_placeholders=mapping_placeholders(connector, self._data[CONF_CONNECTORS]),
        )

    async def async_step_firmware(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer a companion firmware device to fill in the mapping of one connector."""
        connector = self._to_map[0]
        self._firmware_asked = connector
        errors: dict[str, str] = {}
        if user_input is not None:
            suggested, errors = firmware_suggestions(self.hass, user_input)
            if not errors:
                self._suggested = suggested or {}
                return await self.async_step_mapping()
        return self.async_show_form(
            step_id="firmware",
            data_schema=self.add_suggested_values_to_schema(
                firmware_schema(self.hass), user_input or {}
            ),
            errors=errors,
            description_placeholders=mapping_placeholders(connector, self._data[CONF_CONNECTORS]),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the connection of an existing entry."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders = {"error_detail": ""}
        if user_input is not None:
            data, settings, errors = self._validate(user_input)
            if settings is not None:
                unique_id = connection_unique_id(data)
                if any(
                    other.unique_id == unique_id and other.entry_id != entry.entry_id
                    for other in self._async_current_entries(include_ignore=True)
                ):
                    return self.async_abort(reason="unique_id_in_use")
                errors, pending = await self._async_verify(data, settings, placeholders)
                if not errors:
                    self._data = data
                    return await self._async_connected(pending)
        return self._show_connection_form(
            "reconfigure", user_input or entry.data, errors, placeholders
        )

    def _async_finish_reconfigure(self) -> ConfigFlowResult:
        """Store the new connection (and the mapping of any added connector)."""
        entry = self._get_reconfigure_entry()
        connectors = self._data[CONF_CONNECTORS]
        mapping = {
            key: value
            for key, value in entry.options.get(CONF_MAPPING, {}).items()
            if int(key) <= connectors
        }
        mapping.update(self._mapping)
        changes: dict[str, Any] = {
            "unique_id": connection_unique_id(self._data),
            "data": self._data,
            "options": {**entry.options, CONF_MAPPING: mapping},
        }
        if entry.title == entry.data.get(CONF_CHARGE_POINT_ID):
            changes["title"] = self._data[CONF_CHARGE_POINT_ID]
        return self._async_finish(entry, **changes)

    def _async_finish(self, entry: ConfigEntry, **changes: Any) -> ConfigFlowResult:
        """Update the entry and reload it exactly once.

        A loaded entry reloads through its update listener (set up in __init__.py, which the
        options flow relies on too); one that is not loaded is reloaded here.
        """
        self.hass.config_entries.async_update_entry(entry, **changes)
        if entry.state is not ConfigEntryState.LOADED:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        reason = "reauth_successful"
        if self.source == SOURCE_RECONFIGURE:
            reason = "reconfigure_successful"
        return self.async_abort(reason=reason)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The CSMS refused the credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new authorization key."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        placeholders = {
            "error_detail": "",
            CONF_CHARGE_POINT_ID: entry.data[CONF_CHARGE_POINT_ID],
            CONF_CSMS_URL: entry.data[CONF_CSMS_URL],
        }
        if user_input is not None:
            data, settings, errors = self._validate(
                {**entry.data, CONF_AUTHORIZATION_KEY: user_input[CONF_AUTHORIZATION_KEY]}
            )
            pending = False
            if settings is not None:
                errors, pending = await self._async_verify(data, settings, placeholders)
            # Only the key is on this form: show every other problem at the top.
            errors = {
                (field if field == CONF_AUTHORIZATION_KEY else "base"): key
                for field, key in errors.items()
            }
            if not errors:
                self._data = data
                return await self._async_connected(pending)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_AUTHORIZATION_KEY): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.PASSWORD)
                    )
                }
            ),
            errors=errors,
            description_placeholders=placeholders,
        )


class OcppCpOptionsFlow(OptionsFlow):
    """Edit the entity mapping and the behaviour of a charge point."""

    def __init__(self) -> None:
        """Start without a connector chosen."""
        self._connector: int | None = None
        self._firmware_asked = False
        self._suggested: dict[str, Any] = {}

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to edit."""
        return self.async_show_menu(
            step_id="init", menu_options=["mapping", "behaviour", "site_guard"]
        )

    async def async_step_connector(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose the connector whose mapping is edited."""
        if user_input is not None:
            self._connector = int(user_input[CONF_CONNECTOR])
            return await self.async_step_mapping()
        connectors = int(self.config_entry.data[CONF_CONNECTORS])
        return self.async_show_form(
            step_id="connector",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_CONNECTOR, default="1"): SelectSelector(
                        SelectSelectorConfig(
                            options=[str(c) for c in range(1, connectors + 1)],
                            mode=SelectSelectorMode.DROPDOWN,
                        )
                    )
                }
            ),
        )

    async def async_step_mapping(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the mapping of one connector."""
        connectors = int(self.config_entry.data[CONF_CONNECTORS])
        if self._connector is None:
            if connectors > 1:
                return await self.async_step_connector()
            self._connector = 1
        if user_input is None and not self._firmware_asked and devices_to_offer(self.hass):
            return await self.async_step_firmware()
        current: dict[str, dict[str, Any]] = dict(self.config_entry.options.get(CONF_MAPPING, {}))
        errors: dict[str, str] = {}
        if user_input is not None:
            mapping, errors = mapping_from_input(user_input)
            if not errors:
                current[str(self._connector)] = add_firmware_topic(self.hass, mapping)
                return self.async_create_entry(
                    data={**self.config_entry.options, CONF_MAPPING: current}
                )
        suggestions = (
            user_input
            or self._suggested
            or mapping_suggestions(current.get(str(self._connector), {}))
        )
        return self.async_show_form(
            step_id="mapping",
            data_schema=self.add_suggested_values_to_schema(mapping_schema(), suggestions),
            errors=errors,
            description_placeholders=mapping_placeholders(self._connector, connectors),
        )

    async def async_step_firmware(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer a companion firmware device to fill in the mapping of the connector."""
        self._firmware_asked = True
        connector = self._connector or 1
        connectors = int(self.config_entry.data[CONF_CONNECTORS])
        current: dict[str, Any] = dict(
            self.config_entry.options.get(CONF_MAPPING, {}).get(str(connector), {})
        )
        errors: dict[str, str] = {}
        if user_input is not None:
            suggested, errors = firmware_suggestions(self.hass, user_input)
            if not errors:
                if suggested is not None:
                    kept = {key: current[key] for key in KEPT_WITH_FIRMWARE if key in current}
                    self._suggested = {**mapping_suggestions(kept), **suggested}
                return await self.async_step_mapping()
        suggestions: dict[str, Any] = dict(user_input or {})
        if user_input is None and (
            device_id := async_device_of_entity(self.hass, current.get(MAP_CHARGE_SWITCH))
        ):
            suggestions[CONF_FIRMWARE_DEVICE] = device_id
        return self.async_show_form(
            step_id="firmware",
            data_schema=self.add_suggested_values_to_schema(
                firmware_schema(self.hass), suggestions
            ),
            errors=errors,
            description_placeholders=mapping_placeholders(connector, connectors),
        )

    async def async_step_behaviour(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit pinned intervals, Current.Offered freezing and the default idTag."""
        errors: dict[str, str] = {}
        if user_input is not None:
            id_tag = str(user_input.get(OPT_DEFAULT_ID_TAG, "")).strip()
            if not 1 <= len(id_tag) <= MAX_ID_TAG_LENGTH:
                errors[OPT_DEFAULT_ID_TAG] = "invalid_id_tag"
            else:
                behaviour: dict[str, Any] = {
                    OPT_FREEZE_CURRENT_OFFERED: bool(user_input.get(OPT_FREEZE_CURRENT_OFFERED)),
                    OPT_DEFAULT_ID_TAG: id_tag,
                }
                for key in (OPT_HEARTBEAT_INTERVAL, OPT_METER_INTERVAL):
                    value = user_input.get(key)
                    behaviour[key] = None if value is None else int(value)
                return self.async_create_entry(data={**self.config_entry.options, **behaviour})
        interval = NumberSelector(
            NumberSelectorConfig(
                min=0,
                max=MAX_INTERVAL,
                step=1,
                mode=NumberSelectorMode.BOX,
                unit_of_measurement="s",
            )
        )
        schema = vol.Schema(
            {
                vol.Optional(OPT_HEARTBEAT_INTERVAL): interval,
                vol.Optional(OPT_METER_INTERVAL): interval,
                vol.Required(OPT_FREEZE_CURRENT_OFFERED, default=False): BooleanSelector(),
                vol.Required(OPT_DEFAULT_ID_TAG, default=DEFAULT_ID_TAG): TextSelector(),
            }
        )
        suggestions = user_input or {
            key: value
            for key, value in self.config_entry.options.items()
            if key in DEFAULT_BEHAVIOUR and value is not None
        }
        return self.async_show_form(
            step_id="behaviour",
            data_schema=self.add_suggested_values_to_schema(schema, suggestions),
            errors=errors,
        )

    async def async_step_site_guard(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Edit the site fuse guard: grid sensors, fuse rating and how fast it reacts."""
        errors: dict[str, str] = {}
        if user_input is not None:
            guard, problems = guard_from_input(user_input)
            for problem in problems:
                field, key = SITE_GUARD_ERRORS[problem]
                errors[field] = key
            if not errors:
                return self.async_create_entry(
                    data={**self.config_entry.options, OPT_SITE_GUARD: guard}
                )
        return self.async_show_form(
            step_id="site_guard",
            data_schema=self.add_suggested_values_to_schema(
                site_guard_schema(),
                user_input or guard_suggestions(self.config_entry.options.get(OPT_SITE_GUARD)),
            ),
            errors=errors,
        )
