"""SmartCharging profile messages from the CSMS."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import Action

from ...services.registry import Services

_LOGGER = logging.getLogger(__name__)


async def set_charging_profile(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id: int = payload["connectorId"]
    data: dict[str, Any] = payload["csChargingProfiles"]
    request = {
        "kind": "set_charging_profile",
        "connector_id": connector_id,
        "profile_id": data["chargingProfileId"],
        "purpose": data["chargingProfilePurpose"],
        "stack_level": data["stackLevel"],
    }
    refused = await services.limits.set_profile(connector_id, data)
    if refused is not None:
        _LOGGER.info("SetChargingProfile %s rejected: %s", data["chargingProfileId"], refused)
        services.ctx.emit("csms_request", **request, accepted=False, reason=refused)
        return {"status": "Rejected"}
    services.ctx.emit("csms_request", **request, accepted=True)
    return {"status": "Accepted"}


async def clear_charging_profile(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    removed = await services.limits.clear_profiles(
        payload.get("id"),
        payload.get("connectorId"),
        payload.get("chargingProfilePurpose"),
        payload.get("stackLevel"),
    )
    services.ctx.emit(
        "csms_request",
        kind="clear_charging_profile",
        profile_id=payload.get("id"),
        connector_id=payload.get("connectorId"),
        purpose=payload.get("chargingProfilePurpose"),
        stack_level=payload.get("stackLevel"),
        removed=removed,
    )
    return {"status": "Accepted" if removed else "Unknown"}


async def get_composite_schedule(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    connector_id = payload["connectorId"]
    duration = payload["duration"]
    if connector_id not in services.ctx.connectors or duration < 0:
        return {"status": "Rejected"}
    # Bounded: at most 2 days computed, at most ChargingScheduleMaxPeriods periods.
    start, schedule = services.limits.composite(
        connector_id, duration, payload.get("chargingRateUnit")
    )
    return {
        "status": "Accepted",
        "connectorId": connector_id,
        "scheduleStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "chargingSchedule": schedule,
    }


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    Action.set_charging_profile: set_charging_profile,
    Action.clear_charging_profile: clear_charging_profile,
    Action.get_composite_schedule: get_composite_schedule,
}
