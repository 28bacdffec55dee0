"""Security whitepaper: GetLog and ExtendedTriggerMessage (the security log's messages)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import Action

from ...services.registry import Services
from ..frames import OcppCallError
from ..rpc import NotConnectedError, Reply

FIRMWARE_STATUS = "FirmwareStatusNotification"
# Answered by the core's TriggerMessage follow-ups (same names in both enums).
CORE_TRIGGERS = ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification")


async def get_log(services: Services, payload: dict[str, Any]) -> Reply:
    return services.logs.get_log(payload)


async def extended_trigger_message(services: Services, payload: dict[str, Any]) -> Reply:
    """Same rules as TriggerMessage: Rejected for a connector we do not have, the message
    itself once Accepted is on the wire."""
    requested: str = payload["requestedMessage"]
    connector_id = payload.get("connectorId")
    ctx = services.ctx
    if connector_id is not None and connector_id not in ctx.connectors:
        return Reply({"status": "Rejected"})
    followup: Callable[[], Awaitable[None]] | None = None
    if requested in CORE_TRIGGERS:
        followup = services.remote.trigger(requested, connector_id)
    elif requested == "LogStatusNotification":
        followup = services.logs.send_status
    elif requested == FIRMWARE_STATUS:
        # As libocpp: the security extension's form, SignedFirmwareStatusNotification (with
        # the requestId of the update under way; Idle when none runs).
        followup = services.firmware.trigger_signed()
    elif requested == "SignChargePointCertificate":
        request_signing = services.certificates.request_signing

        async def sign() -> None:
            with contextlib.suppress(TimeoutError, OcppCallError, NotConnectedError):
                await request_signing()  # a new key and CSR: SignCertificate.req

        followup = sign
    if followup is None:
        return Reply({"status": "NotImplemented"})
    ctx.emit(
        "csms_request",
        kind="extended_trigger_message",
        message=requested,
        connector_id=connector_id,
    )
    return Reply({"status": "Accepted"}, followup)


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[Reply]]] = {
    Action.get_log: get_log,
    Action.extended_trigger_message: extended_trigger_message,
}
