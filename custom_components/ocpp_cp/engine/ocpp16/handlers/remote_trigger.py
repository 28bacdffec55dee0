"""RemoteTrigger profile: TriggerMessage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.v16.enums import Action, MessageTrigger

from ...services.registry import Services
from ..rpc import Reply


async def trigger_message(services: Services, payload: dict[str, Any]) -> Reply:
    requested = payload["requestedMessage"]
    connector_id = payload.get("connectorId")
    if connector_id is not None and connector_id not in services.ctx.connectors:
        return Reply({"status": "Rejected"})
    services.ctx.emit(
        "csms_request", kind="trigger_message", message=requested, connector_id=connector_id
    )
    followup: Callable[[], Awaitable[None]] | None
    if requested == MessageTrigger.diagnostics_status_notification:
        followup = services.diagnostics.trigger()
    elif requested == MessageTrigger.firmware_status_notification:
        followup = services.firmware.trigger()
    else:
        followup = services.remote.trigger(requested, connector_id)
    if followup is None:
        return Reply({"status": "NotImplemented"})
    return Reply({"status": "Accepted"}, followup)


HANDLERS: dict[str, Callable[[Services, dict[str, Any]], Awaitable[Reply]]] = {
    Action.trigger_message: trigger_message,
}
