"""Services for automations and optimisers (EMHASS, evcc, solar surplus)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType

from .const import DOMAIN
from .engine import LocalPeriod

if TYPE_CHECKING:
    from .bridge import OcppCpBridge

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_CONNECTOR = "connector"
ATTR_ID_TAG = "id_tag"
ATTR_REASON = "reason"
ATTR_CURRENT = "current"
ATTR_POWER = "power"
ATTR_DURATION = "duration"
ATTR_SCHEDULE = "schedule"
ATTR_START = "start"
ATTR_UNIT = "unit"
# service option -> OCPP chargingRateUnit
RATE_UNITS = {"current": "A", "power": "W"}
# An optimiser's plan: 5-minute steps for 48 h is the finest EMHASS produces.
MAX_SCHEDULE_PERIODS = 576

SERVICE_START_TRANSACTION = "start_transaction"
SERVICE_STOP_TRANSACTION = "stop_transaction"
SERVICE_SET_LIMIT = "set_limit"
SERVICE_SET_SCHEDULE = "set_schedule"
SERVICE_CLEAR_LIMIT = "clear_limit"
SERVICE_GET_COMPOSITE_SCHEDULE = "get_composite_schedule"
SERVICE_REPORT_FIRMWARE_INSTALLED = "report_firmware_installed"
ATTR_SUCCESS = "success"

# service option -> OCPP StopTransaction reason
STOP_REASONS = {
    "local": "Local",
    "emergency_stop": "EmergencyStop",
    "ev_disconnected": "EVDisconnected",
    "other": "Other",
    "power_loss": "PowerLoss",
    "de_authorized": "DeAuthorized",
}

_BASE: dict[vol.Marker, object] = {vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string}

START_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CONNECTOR, default=1): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional(ATTR_ID_TAG): vol.All(cv.string, vol.Length(min=1, max=20)),
    }
)
STOP_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CONNECTOR, default=1): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional(ATTR_REASON, default="local"): vol.In(STOP_REASONS),
    }
)
LIMIT_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CONNECTOR, default=1): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Optional(ATTR_CURRENT): vol.All(vol.Coerce(float), vol.Range(min=0, max=1000)),
        vol.Optional(ATTR_POWER): vol.All(vol.Coerce(float), vol.Range(min=0, max=1_000_000)),
        vol.Optional(ATTR_DURATION): vol.All(vol.Coerce(float), vol.Range(min=1, max=7 * 86400)),
    }
)

PERIOD_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_START): cv.datetime,
        vol.Optional(ATTR_CURRENT): vol.Any(
            None, vol.All(vol.Coerce(float), vol.Range(min=0, max=1000))
        ),
        vol.Optional(ATTR_POWER): vol.Any(
            None, vol.All(vol.Coerce(float), vol.Range(min=0, max=1_000_000))
        ),
    }
)
SCHEDULE_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CONNECTOR, default=1): vol.All(vol.Coerce(int), vol.Range(min=0)),
        # Checked period by period in the handler, so an error can name the period.
        vol.Required(ATTR_SCHEDULE): vol.All(cv.ensure_list, [dict]),
    }
)
CLEAR_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CONNECTOR, default=0): vol.All(vol.Coerce(int), vol.Range(min=0)),
    }
)
COMPOSITE_SCHEMA = vol.Schema(
    {
        **_BASE,
        vol.Optional(ATTR_CONNECTOR, default=1): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Optional(ATTR_DURATION, default=86400): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=7 * 86400)
        ),
        vol.Optional(ATTR_UNIT): vol.In(RATE_UNITS),
    }
)

REPORT_FIRMWARE_SCHEMA = vol.Schema({**_BASE, vol.Required(ATTR_SUCCESS): cv.boolean})


def _bridge(hass: HomeAssistant, call: ServiceCall) -> OcppCpBridge:
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    bridge: OcppCpBridge = entry.runtime_data
    return bridge


def _connector(bridge: OcppCpBridge, call: ServiceCall, *, allow_zero: bool = False) -> int:
    connector_id: int = call.data[ATTR_CONNECTOR]
    count = bridge.engine.settings.number_of_connectors
    if connector_id > count or (connector_id == 0 and not allow_zero):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_connector",
            translation_placeholders={"connector": str(connector_id), "count": str(count)},
        )
    return connector_id


async def _start_transaction(call: ServiceCall) -> None:
    bridge = _bridge(call.hass, call)
    connector_id = _connector(bridge, call)
    id_tag = call.data.get(ATTR_ID_TAG) or bridge.default_id_tag
    outcome = await bridge.engine.start_transaction(connector_id, id_tag)
    if outcome == "busy":
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="connector_busy",
            translation_placeholders={"connector": str(connector_id)},
        )
    if outcome == "rejected":
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="authorization_rejected",
            translation_placeholders={"id_tag": id_tag},
        )


async def _stop_transaction(call: ServiceCall) -> None:
    bridge = _bridge(call.hass, call)
    connector_id = _connector(bridge, call)
    if not bridge.engine.stop_transaction(connector_id, STOP_REASONS[call.data[ATTR_REASON]]):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_transaction",
            translation_placeholders={"connector": str(connector_id)},
        )


async def _set_limit(call: ServiceCall) -> None:
    bridge = _bridge(call.hass, call)
    connector_id = _connector(bridge, call, allow_zero=True)
    amps = call.data.get(ATTR_CURRENT)
    watts = call.data.get(ATTR_POWER)
    if amps is None and watts is None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="limit_required")
    bridge.set_local_limit(connector_id, amps, watts, call.data.get(ATTR_DURATION))


def _schedule_periods(call: ServiceCall) -> list[LocalPeriod]:
    raw: list[dict[str, Any]] = call.data[ATTR_SCHEDULE]
    if not raw or len(raw) > MAX_SCHEDULE_PERIODS:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="schedule_length",
            translation_placeholders={"count": str(len(raw)), "max": str(MAX_SCHEDULE_PERIODS)},
        )
    periods: list[LocalPeriod] = []
    previous: datetime | None = None
    for number, item in enumerate(raw, start=1):
        try:
            period = PERIOD_SCHEMA(item)
        except vol.Invalid as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="schedule_period_invalid",
                translation_placeholders={"number": str(number), "error": str(err)},
            ) from err
        start: datetime = period[ATTR_START]
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt_util.get_default_time_zone())
        if previous is not None and start <= previous:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="schedule_not_increasing",
                translation_placeholders={"number": str(number)},
            )
        previous = start
        periods.append(
            LocalPeriod(
                start=dt_util.as_utc(start),
                amps=period.get(ATTR_CURRENT),
                watts=period.get(ATTR_POWER),
            )
        )
    return periods


async def _set_schedule(call: ServiceCall) -> None:
    bridge = _bridge(call.hass, call)
    connector_id = _connector(bridge, call, allow_zero=True)
    bridge.set_local_schedule(connector_id, _schedule_periods(call))


async def _clear_limit(call: ServiceCall) -> None:
    bridge = _bridge(call.hass, call)
    bridge.clear_local_limit(_connector(bridge, call, allow_zero=True))


async def _get_composite_schedule(call: ServiceCall) -> ServiceResponse:
    bridge = _bridge(call.hass, call)
    connector_id = _connector(bridge, call, allow_zero=True)
    duration: int = call.data[ATTR_DURATION]
    engine = bridge.engine
    voltage = engine.settings.nominal_voltage * engine.settings.phases
    periods: list[JsonValueType] = [
        {
            "start": segment.start.isoformat(),
            "end": segment.end.isoformat(),
            "current": round(segment.amps, 1),
            "power": round(segment.amps * voltage),
            "source": segment.source.kind,
            "profile_id": segment.source.profile_id,
        }
        for segment in engine.limit_schedule(connector_id, duration)
    ]
    return {
        "connector": connector_id,
        "periods": periods,
        "ocpp": engine.composite_schedule(
            connector_id, duration, RATE_UNITS[call.data.get(ATTR_UNIT, "current")]
        ),
    }


async def _report_firmware_installed(call: ServiceCall) -> None:
    """An automation installed (or failed to install) the firmware of the downloaded event."""
    bridge = _bridge(call.hass, call)
    if not bridge.firmware_install.report(call.data[ATTR_SUCCESS]):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_firmware_installation"
        )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN, SERVICE_START_TRANSACTION, _start_transaction, schema=START_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, SERVICE_STOP_TRANSACTION, _stop_transaction, schema=STOP_SCHEMA
    )
    hass.services.async_register(DOMAIN, SERVICE_SET_LIMIT, _set_limit, schema=LIMIT_SCHEMA)
    hass.services.async_register(
        DOMAIN, SERVICE_SET_SCHEDULE, _set_schedule, schema=SCHEDULE_SCHEMA
    )
    hass.services.async_register(DOMAIN, SERVICE_CLEAR_LIMIT, _clear_limit, schema=CLEAR_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_COMPOSITE_SCHEDULE,
        _get_composite_schedule,
        schema=COMPOSITE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_REPORT_FIRMWARE_INSTALLED,
        _report_firmware_installed,
        schema=REPORT_FIRMWARE_SCHEMA,
    )
